"""hw_rq: every output equals numerics.sat(numerics.rq(x, m, sh), OW) (or the
unsaturated rq when OW = 0), exactly LATENCY = 3 cycles after its input.

Build parameters come from the pytest wrapper's environment: RQ_XW, RQ_OW.
"""
from __future__ import annotations

import os
import random

import cocotb

from hw import numerics as nx
from testbench.units.common import cases, check, start, stream

XW = int(os.environ.get("RQ_XW", "24"))
OW = int(os.environ.get("RQ_OW", "8"))
LATENCY = 3
XMIN, XMAX = -(1 << (XW - 1)), (1 << (XW - 1)) - 1
MMAX = (1 << nx.MULT_BITS) - 1


def expect(item: tuple[int, int, int]) -> int:
    x, m, sh = item
    y = nx.rq(x, m, sh)
    return nx.sat(y, OW) if OW else y


def drive(dut, item) -> None:
    dut.x.value, dut.m.value, dut.sh.value = item


def read(dut) -> int:
    return dut.y.value.to_signed()


def junk(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(XMIN, XMAX), rng.randint(0, MMAX), rng.randint(0, 63)


def random_items(rng: random.Random, n: int) -> list[tuple[int, int, int]]:
    """Mix: x over its full range or small; sh anywhere (mostly 0 or -1 results) or
    near the product's size (results near the saturation limits)."""
    items = []
    for _ in range(n):
        x = rng.randint(XMIN, XMAX) if rng.random() < 0.6 else rng.randint(-300, 300)
        m = rng.randint(0, MMAX) if rng.random() < 0.7 else rng.randint(1 << 14, MMAX)
        if rng.random() < 0.3:
            sh = rng.randint(1, 63)
        else:
            size = abs(x * m).bit_length()
            sh = min(63, max(1, size - (OW or XW + 8) + rng.randint(-3, 3)))
        items.append((x, m, sh))
    return items


@cocotb.test()
async def run_test_random(dut):
    await start(dut)
    rng = random.Random(101)
    pairs = await stream(dut, random_items(rng, cases(800)), LATENCY, drive, read, rng, junk)
    check(pairs, expect, f"hw_rq XW={XW} OW={OW} random")


@cocotb.test()
async def run_test_edges(dut):
    """Extreme x and m, rounding ties, shifts 1 .. 63 (past the product width)."""
    await start(dut)
    rng = random.Random(102)
    xs = [XMIN, XMAX, 0, 1, -1, 3, -3, XMIN + 1]
    ms = [0, 1, MMAX, 1 << 14, 3]
    items = [(x, m, sh) for x in xs for m in ms for sh in range(1, 64, 2)]
    items += [(x, MMAX, sh) for x in (XMIN, XMAX, -1) for sh in range(2, 64, 2)]
    # exact ties x*m = (2k+1) * 2**(sh-1): they round towards +infinity
    items += [(t, 1, 1) for t in (-5, -3, -1, 1, 3, 5)] + [(-(1 << 9) * 3, 1, 10), ((1 << 9) * 3, 1, 10)]
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk, gap=0.0)
    check(pairs, expect, f"hw_rq XW={XW} OW={OW} edges")


@cocotb.test()
async def run_test_reset_clears_valid(dut):
    """rst in flight: the items inside the pipeline never come out."""
    await start(dut)
    rng = random.Random(103)
    for _ in range(2):
        drive(dut, junk(rng))
        dut.in_valid.value = 1
        await cocotb.triggers.FallingEdge(dut.clk)
    dut.in_valid.value = 0
    dut.rst.value = 1
    await cocotb.triggers.FallingEdge(dut.clk)
    dut.rst.value = 0
    for _ in range(LATENCY + 2):
        assert int(dut.out_valid.value) == 0, "out_valid after rst"
        await cocotb.triggers.FallingEdge(dut.clk)
