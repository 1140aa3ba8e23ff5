"""hw_exp2: e equals numerics.exp2_neg(z) for every z, LATENCY = 2.

The table comes from exp2.hex (hw/rtl_tables.py exp2_hex, written by the
pytest wrapper). Build parameter in the environment: EXP2_ZW.
"""
from __future__ import annotations

import os
import random

import cocotb

from hw import numerics as nx
from testbench.units.common import cases, check, start, stream

ZW = int(os.environ.get("EXP2_ZW", "32"))
LATENCY = 2
TOP = (1 << ZW) - 1


def expect(z: int) -> int:
    return int(nx.exp2_neg(z))


def drive(dut, z: int) -> None:
    dut.z.value = z


def read(dut) -> int:
    return dut.e.value.to_unsigned()


def junk(rng: random.Random) -> int:
    return rng.randint(0, TOP)


@cocotb.test()
async def run_test_all_small(dut):
    """Every z in 0 .. 16*256 + 255: the whole table at every shift, and past the cut-off."""
    await start(dut)
    rng = random.Random(301)
    items = list(range(min(TOP, 17 * 256) + 1))
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk, gap=0.05)
    check(pairs, expect, f"hw_exp2 ZW={ZW} 0..{items[-1]}")


@cocotb.test()
async def run_test_large(dut):
    """z >= 16*256 gives 0: random large values, every bit length, the maximum."""
    await start(dut)
    rng = random.Random(302)
    items = [TOP, TOP - 255, 4096, 4095, 4096 + 255]
    items += [rng.randint(0, TOP) for _ in range(cases(300))]
    items += [rng.randint(1 << (b - 1), (1 << b) - 1) for b in range(1, ZW + 1) for _ in range(4)]
    items += [(1 << b) for b in range(ZW)] + [(1 << b) - 1 for b in range(1, ZW + 1)]
    items = [v for v in items if 0 <= v <= TOP]
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk)
    check(pairs, expect, f"hw_exp2 ZW={ZW} large")
