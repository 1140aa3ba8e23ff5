"""hw_silu_gate: g equals numerics.silu_gate(h1, h3, SILU[layer], m, sh) for
every item, LATENCY = 6. The tables are common.silu_test_tables(), written to
silu.hex by the pytest wrapper (hw/rtl_tables.py silu_hex); LAYERS = 3.
"""
from __future__ import annotations

import random

import cocotb
import numpy as np

from hw import numerics as nx
from testbench.units.common import SILU_LAYERS, cases, check, silu_test_tables, start, stream

LATENCY = 6                     # hw_silu_gate.v LATENCY: the table read, its register, the product, hw_rq (3)
TABLES = silu_test_tables()     # (SILU_LAYERS, 256)


def expect(item: tuple[int, int, int, int, int]) -> int:
    h1, h3, layer, m, sh = item
    return int(nx.silu_gate(np.array([h1]), np.array([h3]), TABLES[layer], m, sh)[0])


def drive(dut, item) -> None:
    dut.h1.value, dut.h3.value, dut.layer.value, dut.m.value, dut.sh.value = item


def read(dut) -> int:
    return dut.g.value.to_signed()


def junk(rng: random.Random) -> tuple[int, int, int, int, int]:
    return (rng.randint(-128, 127), rng.randint(-128, 127), rng.randrange(SILU_LAYERS),
            rng.randint(0, 32767), rng.randint(1, 63))


@cocotb.test()
async def run_test_random(dut):
    """Random codes and layers; sh mostly near the product's size (results span int8)."""
    await start(dut)
    rng = random.Random(501)
    items = []
    for _ in range(cases(800)):
        h1, h3, layer = rng.randint(-128, 127), rng.randint(-128, 127), rng.randrange(SILU_LAYERS)
        m = rng.randint(1 << 14, 32767)
        size = abs(int(TABLES[layer, h1 + 128]) * h3 * m).bit_length()
        sh = rng.randint(1, 63) if rng.random() < 0.2 else min(63, max(1, size - 8 + rng.randint(-2, 2)))
        items.append((h1, h3, layer, m, sh))
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk)
    check(pairs, expect, "hw_silu_gate random")


@cocotb.test()
async def run_test_every_entry(dut):
    """Every table entry of every layer, with extreme h3, m and sh."""
    await start(dut)
    rng = random.Random(502)
    items = []
    for layer in range(SILU_LAYERS):
        for h1 in range(-128, 128):
            h3 = rng.choice((-128, 127, 1, -1, 0))
            m, sh = rng.choice(((32767, 1), (32767, 63), (16384, 16), (1, 1), (0, 1), (20000, 22)))
            items.append((h1, h3, layer, m, sh))
    pairs = await stream(dut, items, LATENCY, drive, read, rng, junk, gap=0.0)
    check(pairs, expect, "hw_silu_gate every entry")
