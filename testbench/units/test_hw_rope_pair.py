"""hw_rope_pair: (a_out, b_out) equals numerics.rope of the pair (a, b) with
cos c and sin s, LATENCY = 2. Inputs: real RoPE table values, random int16
(c, s) over the whole range, and every combination of extremes.
"""
from __future__ import annotations

import itertools
import random

import cocotb
import numpy as np

from hw import numerics as nx
from testbench.units.common import cases, check, start, stream

LATENCY = 2


def expect(item: tuple[int, int, int, int]) -> tuple[int, int]:
    a, b, c, s = item
    y = nx.rope(np.array([a, b]), 0, np.array([[c]]), np.array([[s]]), 2)
    return int(y[0]), int(y[1])


def drive(dut, item) -> None:
    dut.a.value, dut.b.value, dut.c.value, dut.s.value = item


def read(dut) -> tuple[int, int]:
    return dut.a_out.value.to_signed(), dut.b_out.value.to_signed()


def junk(rng: random.Random) -> tuple[int, int, int, int]:
    return (rng.randint(-128, 127), rng.randint(-128, 127),
            rng.randint(-32768, 32767), rng.randint(-32768, 32767))


@cocotb.test()
async def run_test_random(dut):
    await start(dut)
    rng = random.Random(401)
    cos_t, sin_t = nx.rope_tables(64, 16)           # (64, 8) each, Q2.14
    items = []
    for _ in range(400):                            # real table values
        p, i = rng.randrange(64), rng.randrange(8)
        items.append((rng.randint(-128, 127), rng.randint(-128, 127), int(cos_t[p, i]), int(sin_t[p, i])))
    items += [junk(rng) for _ in range(cases(400))]        # anything an int16 can hold
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk)
    check(pairs, expect, "hw_rope_pair random")


@cocotb.test()
async def run_test_edges(dut):
    """Every combination of extreme a, b, c, s (saturation both ways, rounding at 0)."""
    await start(dut)
    rng = random.Random(402)
    ab = (-128, 127, 0, -1, 1)
    cs = (-32768, 32767, 16384, -16384, 0, 1, 8192)
    items = list(itertools.product(ab, ab, cs, cs))
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk, gap=0.0)
    check(pairs, expect, "hw_rope_pair edges")
