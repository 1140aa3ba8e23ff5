"""The hello testbench: clock, reset and one-pair-per-cycle driving of `hello`."""
from __future__ import annotations

import os

from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


class TB:
    def __init__(self, dut):
        self.dut = dut
        # WIDTH is a build-time parameter; the pytest wrapper passes it in the environment.
        self.width = int(os.environ["HELLO_WIDTH"])
        dut.in_valid.value = 0
        dut.a.value = 0
        dut.b.value = 0
        Clock(dut.clk, 10, unit="ns").start()

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def add(self, a: int, b: int) -> int:
        """Drive one pair for one cycle; return the registered sum."""
        self.dut.a.value = a
        self.dut.b.value = b
        self.dut.in_valid.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.in_valid.value = 0
        await ReadOnly()
        assert self.dut.out_valid.value == 1
        total = self.dut.sum.value.to_unsigned()
        await RisingEdge(self.dut.clk)
        return total
