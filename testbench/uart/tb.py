"""The UART bridge testbench: clock, reset, a UART source/sink on the pins, a log of
every register access on the control interface."""
from __future__ import annotations

import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer
from cocotbext.uart import UartSink, UartSource

from testbench.uart import protocol as p

CLK_NS = 10                 # default; UART_CLK_NS sets another (tests of the baud tolerance)


class TB:
    def __init__(self, dut):
        self.dut = dut
        # CLKS_PER_BIT is a build-time parameter; the pytest wrapper passes it in the environment.
        self.clks_per_bit = int(os.environ.get("UART_CLKS_PER_BIT", "10"))
        clk_ns = int(os.environ.get("UART_CLK_NS", CLK_NS))
        # the host side's bit time: the bridge's, or UART_HOST_BIT_NS for a host adapter whose rate
        # differs from what the bridge's divider makes (3 Mbaud against 13 clocks at 40 MHz)
        self.bit_ns = int(os.environ.get("UART_HOST_BIT_NS", self.clks_per_bit * clk_ns))
        baud = 10 ** 9 // self.bit_ns
        self.source = UartSource(dut.uart_rxd, baud=baud, bits=8, stop_bits=1)
        self.sink = UartSink(dut.uart_txd, baud=baud, bits=8, stop_bits=1)
        self.accesses: list[tuple[str, int, int]] = []   # ("W", word, value) / ("R", word, 0)
        self.frame_errors = 0
        self.rx = bytearray()
        Clock(dut.clk, clk_ns, unit="ns").start()
        cocotb.start_soon(self._monitor())

    async def _monitor(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            if self.dut.rst.value == 1:
                continue
            if self.dut.reg_wr.value == 1:
                self.accesses.append(("W", int(self.dut.reg_addr.value), int(self.dut.reg_wdata.value)))
            if self.dut.reg_rd.value == 1:
                self.accesses.append(("R", int(self.dut.reg_addr.value), 0))
            if self.dut.frame_error.value == 1:
                self.frame_errors += 1

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        self.accesses.clear()

    async def send(self, wire: bytes) -> None:
        await self.source.write(wire)
        await self.source.wait()

    async def receive(self, frames: int = 1, timeout_bytes: int = 64) -> list[tuple[int, int, bytes]]:
        """Collect response frames until `frames` have arrived, or until the line was
        quiet for `timeout_bytes` byte times (frames=0: just wait and return what came)."""
        idle = 0
        while True:
            got = p.parse(bytes(self.rx))
            if frames and len(got) >= frames:
                cut = len(self.rx) - bytes(self.rx)[::-1].index(0)  # consume up to the last delimiter
                del self.rx[:cut]
                return got
            if not self.sink.empty():
                self.rx += self.sink.read_nowait()
                idle = 0
                continue
            if idle >= timeout_bytes:
                self.rx.clear()
                return got
            await Timer(10 * self.bit_ns, unit="ns")
            idle += 1

    async def transact(self, wire: bytes, frames: int = 1) -> list[tuple[int, int, bytes]]:
        await self.send(wire)
        return await self.receive(frames)

    async def send_bad_stop_bit(self, byte: int) -> None:
        """One 8N1 character whose stop bit is 0 (a framing error), driven by hand."""
        await self.source.wait()
        bits = [0] + [(byte >> i) & 1 for i in range(8)] + [0]
        for b in bits:
            self.dut.uart_rxd.value = b
            await Timer(self.bit_ns, unit="ns")
        self.dut.uart_rxd.value = 1
        await Timer(2 * self.bit_ns, unit="ns")
