"""hw_xorshift32: the state follows numerics.xorshift32 step by step; load wins
over step; seed 0 and rst give numerics.LFSR_DEFAULT_SEED; no step holds.
"""
from __future__ import annotations

import random

import cocotb
from cocotb.triggers import FallingEdge

from hw import numerics as nx
from testbench.units.common import start


def state(dut) -> int:
    return dut.state.value.to_unsigned()


async def cycle(dut, load: int = 0, seed: int = 0, step: int = 0) -> int:
    dut.load.value, dut.seed.value, dut.step.value = load, seed, step
    await FallingEdge(dut.clk)
    return state(dut)


@cocotb.test()
async def run_test_sequences(dut):
    await start(dut, ("load", "seed", "step"))
    assert state(dut) == nx.LFSR_DEFAULT_SEED, "rst must load the default seed"
    rng = random.Random(701)
    seeds = [1, 0xFFFFFFFF, 0x80000000, nx.LFSR_DEFAULT_SEED] + [rng.getrandbits(32) for _ in range(20)]
    for seed in seeds:
        want = seed
        assert await cycle(dut, load=1, seed=seed, step=rng.randint(0, 1)) == want, "load (wins over step)"
        for n in range(40):
            if rng.random() < 0.25:
                assert await cycle(dut, seed=rng.getrandbits(32)) == want, "state moved without step"
            want = nx.xorshift32(want)
            got = await cycle(dut, step=1, seed=rng.getrandbits(32))
            assert got == want, f"seed {seed:#x} step {n}: rtl {got:#x}, numerics {want:#x}"


@cocotb.test()
async def run_test_default_seed(dut):
    await start(dut, ("load", "seed", "step"))
    await cycle(dut, step=1)
    assert await cycle(dut, load=1, seed=0) == nx.LFSR_DEFAULT_SEED, "seed 0 must load the default seed"
    assert await cycle(dut, step=1) == nx.xorshift32(nx.LFSR_DEFAULT_SEED)
    dut.rst.value = 1
    await cycle(dut, step=1)
    dut.rst.value = 0
    assert state(dut) == nx.LFSR_DEFAULT_SEED, "rst must win over step"
