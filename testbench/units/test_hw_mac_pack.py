"""hw_mac_pack: sum_a = sum_j x_j * a_j and sum_b = sum_j x_j * b_j, exactly, for two lanes'
weights sharing the multipliers (PACK: WB <= 4) or one multiplier a product (wider weights).
Weights at S1 (registered in the unit), x a cycle later (S2), the products registered the cycle
after (S3), the sums the cycle after that (S4).
Cases: every (a, b) weight pair in every value slot against the extreme and small x values,
then random words; items back to back, so each cycle's products belong to another item.
"""
from __future__ import annotations

import itertools
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from testbench.units.common import cases

N = int(os.environ["PACK_N"])
WB = int(os.environ["PACK_WB"])
LO, HI = -(1 << (WB - 1)), (1 << (WB - 1)) - 1
X_EDGES = (-128, 127, -1, 0, 1, -127)


def word(values: list[int], bits: int) -> int:
    return sum((v & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(values))


def items(rng: random.Random) -> list[tuple[list[int], list[int], list[int]]]:
    out = []
    for a, b in itertools.product(range(LO, HI + 1), repeat=2):
        if WB > 4 and rng.random() > 0.02:          # 8-bit weights: a sample of the 65,536 pairs
            continue
        for x in X_EDGES:
            slot = rng.randrange(N)
            xs = [rng.choice(X_EDGES) for _ in range(N)]
            av = [rng.randint(LO, HI) for _ in range(N)]
            bv = [rng.randint(LO, HI) for _ in range(N)]
            xs[slot], av[slot], bv[slot] = x, a, b
            out.append((xs, av, bv))
        out.append(([-128] * N, [a] * N, [b] * N))  # every product at its widest at once
        out.append(([127] * N, [a] * N, [b] * N))
    for _ in range(cases(2000)):
        out.append(([rng.randint(-128, 127) for _ in range(N)], [rng.randint(LO, HI) for _ in range(N)],
                    [rng.randint(LO, HI) for _ in range(N)]))
    return out


@cocotb.test()
async def run_test_sums(dut):
    Clock(dut.clk, 10, unit="ns").start()
    rng = random.Random(611)
    todo = items(rng)
    dut.a_next.value = dut.b_next.value = dut.x.value = 0
    await FallingEdge(dut.clk)
    # cycle c: weights of item c, x of item c - 1; after its rising edge, the sums of item c - 2
    for c in range(len(todo) + 2):
        if c < len(todo):
            dut.a_next.value = word(todo[c][1], WB)
            dut.b_next.value = word(todo[c][2], WB)
        if 1 <= c <= len(todo):
            dut.x.value = word(todo[c - 1][0], 8)
        await FallingEdge(dut.clk)
        if c >= 2:
            xs, av, bv = todo[c - 2]
            want = (sum(x * a for x, a in zip(xs, av)), sum(x * b for x, b in zip(xs, bv)))
            got = (dut.sum_a.value.to_signed(), dut.sum_b.value.to_signed())
            assert got == want, f"x {xs}, a {av}, b {bv}: got {got}, want {want}"
    dut._log.info(f"{len(todo)} cases, N {N}, WB {WB}")
