"""hello: registered sums match Python's, edge values and random pairs."""
from __future__ import annotations

import os
import random

import cocotb

from testbench.hello.tb import TB


@cocotb.test()
async def run_test_sums(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    top = (1 << tb.width) - 1
    rng = random.Random(1234)
    pairs = [(0, 0), (top, top), (top, 1), (1, top)]
    pairs += [(rng.randint(0, top), rng.randint(0, top)) for _ in range(200)]
    for a, b in pairs:
        got = await tb.add(a, b)
        assert got == a + b, f"{a} + {b}: hello gave {got}"


# Never passes: the pytest wrapper selects it to prove that a failing test is reported.
@cocotb.test(skip=os.environ.get("HELLO_FAIL_DEMO") != "1")
async def fails_on_purpose(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    got = await tb.add(2, 2)
    assert got == 5, "2 + 2 is 4 (this test is meant to fail)"
