"""hw_rsqrt: (r, k) equals numerics.rsqrt_fixed(ss) for every ss, LATENCY = 4.

The table comes from rsqrt.hex (hw/rtl_tables.py rsqrt_hex, written by the
pytest wrapper). Build parameter in the environment: RSQRT_SSW.
"""
from __future__ import annotations

import os
import random

import cocotb

from hw import numerics as nx
from testbench.units.common import cases, check, start, stream

SSW = int(os.environ.get("RSQRT_SSW", "40"))
LATENCY = 4
TOP = (1 << SSW) - 1


def expect(ss: int) -> tuple[int, int]:
    return nx.rsqrt_fixed(ss) if ss > 0 else (0, -8)   # ss = 0: r = 0 by design


def drive(dut, ss: int) -> None:
    dut.ss.value = ss


def read(dut) -> tuple[int, int]:
    return dut.r.value.to_unsigned(), dut.k.value.to_signed()


def junk(rng: random.Random) -> int:
    return rng.randint(0, TOP)


@cocotb.test()
async def run_test_random(dut):
    """ss log-uniform over 1 .. 2**SSW - 1 (every bit length, so every k)."""
    await start(dut)
    rng = random.Random(201)
    items = [rng.randint(1 << (b - 1), (1 << b) - 1) for b in (rng.randint(1, SSW) for _ in range(cases(800)))]
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk)
    check(pairs, expect, f"hw_rsqrt SSW={SSW} random")


@cocotb.test()
async def run_test_edges(dut):
    """ss = 0, 1, every power of two and its neighbours, the table boundaries, the maximum."""
    await start(dut)
    rng = random.Random(202)
    items = [0, 1, 2, 3, TOP, TOP - 1]
    for b in range(1, SSW):
        items += [(1 << b) - 1, 1 << b, (1 << b) + 1]
    # mantissas at every table-index boundary for one odd and one even bit length
    items += [i << 6 for i in range(256, 1024, 7)] + [(i << 6) - 1 for i in range(257, 1024, 7)]
    items += [(i << 6) << 20 for i in range(256, 1024, 13)] + [((i << 6) << 21) - 1 for i in range(257, 1024, 13)]
    items = [v for v in items if 0 <= v <= TOP]
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk, gap=0.0)
    check(pairs, expect, f"hw_rsqrt SSW={SSW} edges")
