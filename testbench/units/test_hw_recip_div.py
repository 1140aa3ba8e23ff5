"""hw_recip_div: q equals floor(2**40 / e) (numerics.attention_head's reciprocal)
for every e; done pulses once, DONE_AFTER cycles after start; start is ignored
while busy. Build parameters in the environment: RECIP_EW, RECIP_STEP (quotient
bits per cycle), RECIP_SKIP (leading quotient bits declared zero: only divisors
e > 2**(SKIP-1) are tried then, as hw_attention guarantees).
"""
from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import FallingEdge

from hw import numerics as nx
from testbench.units.common import cases, start

EW = int(os.environ.get("RECIP_EW", "32"))
TOP = (1 << EW) - 1
STEP = int(os.environ.get("RECIP_STEP", "1"))
SKIP = int(os.environ.get("RECIP_SKIP", "0"))
DONE_AFTER = -(-(41 - SKIP) // STEP) + 1    # start in cycle t -> done in cycle t + 42 (defaults)
MIN_E = 1 << (SKIP - 1) if SKIP else 0      # smallest divisor allowed


async def divide(dut, e: int, rng: random.Random, poke: bool = False) -> int:
    """Run one division; checks busy/done timing; with poke, pulses start with another
    divisor while busy (must be ignored). Returns q."""
    dut.e.value = e
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    for cycle in range(1, DONE_AFTER + 1):
        dut.e.value = rng.randint(0, TOP)                # e only matters with start
        assert int(dut.busy.value) == (cycle < DONE_AFTER), f"busy wrong at cycle {cycle} (e={e})"
        assert int(dut.done.value) == (cycle == DONE_AFTER), f"done wrong at cycle {cycle} (e={e})"
        if poke and cycle in (3, 20, DONE_AFTER - 1):
            dut.start.value = 1
        else:
            dut.start.value = 0
        if cycle < DONE_AFTER:
            await FallingEdge(dut.clk)
    q = dut.q.value.to_unsigned()
    dut.start.value = 0
    await FallingEdge(dut.clk)
    assert int(dut.done.value) == 0, "done longer than one cycle"
    assert dut.q.value.to_unsigned() == q, "q changed after done"
    return q


def expect(e: int) -> int:
    return (1 << nx.RECIP_BITS) // e if e else (1 << 41) - 1   # e = 0: all ones by design


@cocotb.test()
async def run_test_divisions(dut):
    await start(dut, ("start", "e"))
    rng = random.Random(601)
    es = [1, 2, 3, 32768, 32767, 32769, 1 << 27, (1 << 27) - 1, (1 << 27) + 1, TOP, TOP - 1, 1 << (EW - 1), 0,
          MIN_E + 1, MIN_E + 2]
    es += [rng.randint(32768, min(TOP, 32768 * 4096)) for _ in range(cases(200))]   # softmax sums
    es += [rng.randint(1, TOP) for _ in range(60)]
    es += [rng.randint(1 << (b - 1), (1 << b) - 1) for b in range(1, EW + 1)]
    es = [e for e in es if MIN_E < e <= TOP or (e == 0 and SKIP == 0)]
    bad = []
    for n, e in enumerate(es):
        q = await divide(dut, e, rng, poke=(n % 7 == 3))
        if rng.random() < 0.3:
            await FallingEdge(dut.clk)                   # an idle cycle between divisions
        if q != expect(e):
            bad.append((e, q, expect(e)))
    assert not bad, f"{len(bad)} of {len(es)} quotients wrong; first (e, rtl, numerics): {bad[:5]}"


@cocotb.test()
async def run_test_reset_aborts(dut):
    await start(dut, ("start", "e"))
    dut.e.value = 12345
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    for _ in range(5):
        await FallingEdge(dut.clk)
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    for _ in range(DONE_AFTER + 2):
        assert int(dut.busy.value) == 0 and int(dut.done.value) == 0, "busy/done after rst"
        await FallingEdge(dut.clk)
    e = max(777, MIN_E + 1)
    assert await divide(dut, e, random.Random(602)) == expect(e)
