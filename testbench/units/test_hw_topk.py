"""hw_topk: after every pair, the kept list equals numerics.top_k_candidates of
the values so far (indices fed in ascending order): same indices, same values,
same order, count = min(n, K_MAX). Build parameters in the environment:
TOPK_K, TOPK_VW, TOPK_IW.
"""
from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw import numerics as nx
from testbench.units.common import start

K = int(os.environ.get("TOPK_K", "16"))
VW = int(os.environ.get("TOPK_VW", "24"))
IW = int(os.environ.get("TOPK_IW", "16"))
VMIN, VMAX = -(1 << (VW - 1)), (1 << (VW - 1)) - 1


def read_list(dut) -> list[tuple[int, int]]:
    """The valid entries as (value, index), entry 0 first."""
    n = dut.count.value.to_unsigned()
    vals, idxs = dut.out_values.value.to_unsigned(), dut.out_indices.value.to_unsigned()
    out = []
    for j in range(n):
        v = (vals >> (j * VW)) & ((1 << VW) - 1)
        out.append((v - (1 << VW) if v >> (VW - 1) else v, (idxs >> (j * IW)) & ((1 << IW) - 1)))
    return out


def expect_list(values: list[int], base: int) -> list[tuple[int, int]]:
    cand = nx.top_k_candidates(np.array(values, dtype=np.int64), min(K, len(values)))
    return [(values[c], base + int(c)) for c in cand]


async def clear(dut) -> None:
    dut.clear.value = 1
    dut.in_valid.value = 1                  # clear wins over a pair in the same cycle
    await FallingEdge(dut.clk)
    dut.clear.value = 0
    dut.in_valid.value = 0
    assert dut.count.value.to_unsigned() == 0, "clear did not empty the list"


async def feed(dut, values: list[int], rng: random.Random, what: str) -> None:
    """Clear, then feed values with ascending indices, checking the list after each."""
    await clear(dut)
    base = rng.randint(0, (1 << IW) - 1 - len(values))
    for n, v in enumerate(values):
        while rng.random() < 0.2:           # idle cycle: junk inputs change nothing
            before = read_list(dut)
            dut.in_value.value = rng.randint(VMIN, VMAX)
            dut.in_index.value = rng.randint(0, (1 << IW) - 1)
            await FallingEdge(dut.clk)
            assert read_list(dut) == before, f"{what}: list changed without in_valid"
        dut.in_valid.value = 1
        dut.in_value.value = v
        dut.in_index.value = base + n
        await FallingEdge(dut.clk)
        dut.in_valid.value = 0
        got, want = read_list(dut), expect_list(values[:n + 1], base)
        assert got == want, f"{what}: after {n + 1} pairs {values[:n + 1]}: rtl {got}, numerics {want}"


@cocotb.test()
async def run_test_streams(dut):
    await start(dut, ("in_valid", "clear", "in_value", "in_index"))
    rng = random.Random(801)
    cases = {
        "random": [rng.randint(VMIN, VMAX) for _ in range(3 * K + 5)],
        "ties": [rng.randint(-3, 3) for _ in range(3 * K)],
        "all equal": [5] * (2 * K + 3),
        "ascending": list(range(-K, 2 * K)),
        "descending": list(range(2 * K, -K, -1)),
        "extremes": [rng.choice((VMIN, VMAX, 0, -1)) for _ in range(2 * K + 1)],
        "short": [rng.randint(-9, 9) for _ in range(max(1, K // 2))],
        "one": [VMIN],
    }
    for _ in range(12):
        cases[f"random {len(cases)}"] = [rng.randint(-50, 50) for _ in range(rng.randint(1, 3 * K))]
    for what, values in cases.items():
        await feed(dut, values, rng, what)


@cocotb.test()
async def run_test_reset_empties(dut):
    await start(dut, ("in_valid", "clear", "in_value", "in_index"))
    rng = random.Random(802)
    await feed(dut, [3, 1, 2], rng, "before rst")
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    assert dut.count.value.to_unsigned() == 0, "rst did not empty the list"
    await feed(dut, [7, 7, 9], rng, "after rst")
