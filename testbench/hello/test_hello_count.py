"""hello: the accepted-pair counter counts valid cycles only and clears on reset."""
from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from testbench.hello.tb import TB


@cocotb.test()
async def run_test_count(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    for n in range(1, 6):
        await tb.add(n, n)
        await RisingEdge(dut.clk)  # an idle cycle must not count
    await ReadOnly()
    assert dut.count.value.to_unsigned() == 5
    await RisingEdge(dut.clk)
    await tb.cycle_reset()
    await ReadOnly()
    assert dut.count.value.to_unsigned() == 0
