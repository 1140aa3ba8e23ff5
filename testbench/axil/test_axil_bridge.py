"""hw_axil_bridge against regfile_stub: AXI4-Lite reads and writes reach the control
interface exactly once, in order, with and without back-pressure; bad accesses
get SLVERR and never touch the registers."""
from __future__ import annotations

import itertools
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster
from cocotbext.axi.constants import AxiResp

MAGIC = 0x48574952
POP = 0x14      # TOKEN_POP: the stub counts reads there


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.accesses: list[tuple[str, int, int]] = []
        Clock(dut.clk, 10, unit="ns").start()
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
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

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        self.accesses.clear()

    def backpressure(self, on: bool) -> None:
        rng = random.Random(5)

        def pauses():
            while True:
                yield rng.random() < 0.5

        for ch in (self.axil.write_if.aw_channel, self.axil.write_if.w_channel,
                   self.axil.write_if.b_channel, self.axil.read_if.ar_channel,
                   self.axil.read_if.r_channel):
            ch.set_pause_generator(pauses() if on else None)


async def _exercise(tb: TB, seed: int) -> None:
    rng = random.Random(seed)
    assert await tb.axil.read_dword(0x00) == MAGIC
    expected, order = {}, []
    while len(order) < 80:
        word = rng.randrange(8, 256)
        if word == POP // 4:
            continue
        value = rng.getrandbits(32)
        await tb.axil.write_dword(4 * word, value)
        expected[word] = value
        order.append(("W", word, value))
    for word, value in expected.items():
        assert await tb.axil.read_dword(4 * word) == value, f"word {word}"
    assert tb.accesses == [("R", 0, 0)] + order + [("R", w, 0) for w in expected]


@cocotb.test()
async def run_test_read_write(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    await tb.axil.write_dword(0x40, 0x01020304)
    assert await tb.axil.read_dword(0x40) == 0x01020304
    assert tb.accesses == [("W", 0x10, 0x01020304), ("R", 0x10, 0)]
    for bp in (False, True):
        tb.backpressure(bp)
        tb.accesses.clear()
        await _exercise(tb, seed=11 if bp else 12)


@cocotb.test()
async def run_test_concurrent_reads_and_writes(dut):
    """Reads and writes issued together: each reaches the registers once, values right."""
    tb = TB(dut)
    await tb.cycle_reset()
    tb.backpressure(True)
    rng = random.Random(3)
    vals = {w: rng.getrandbits(32) for w in range(0x40, 0x60)}
    await cocotb.triggers.Combine(*[cocotb.start_soon(tb.axil.write_dword(4 * w, v)) for w, v in vals.items()])
    reads = [cocotb.start_soon(tb.axil.read_dword(4 * w)) for w in vals]
    writes = [cocotb.start_soon(tb.axil.write_dword(4 * w, v ^ 0xFFFF)) for w, v in
              itertools.islice(vals.items(), 8)]
    got = [await r for r in reads]
    for w in writes:
        await w
    # a word may be read before or after its second write, never anything else
    for (w, v), g in zip(vals.items(), got):
        assert g in (v, v ^ 0xFFFF), f"word {w:#x}: {g:#x}"
    assert sum(1 for a in tb.accesses if a[0] == "W") == len(vals) + 8
    assert sum(1 for a in tb.accesses if a[0] == "R") == len(vals)


@cocotb.test()
async def run_test_token_pop_reads_once(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    tb.backpressure(True)
    got = [await tb.axil.read_dword(POP) for _ in range(20)]
    assert got == [0x80000000 | i for i in range(20)]
    assert tb.accesses == [("R", POP // 4, 0)] * 20


@cocotb.test()
async def run_test_bad_accesses_get_slverr(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    # a partial write (WSTRB != 0xF)
    resp = await tb.axil.write(0x40, b"\xAA\xBB")
    assert resp.resp == AxiResp.SLVERR
    # an address outside the 1 KiB register window
    resp = await tb.axil.write(0x400 + 0x40, b"\x01\x02\x03\x04")
    assert resp.resp == AxiResp.SLVERR
    resp = await tb.axil.read(0x800 + POP, 4)
    assert resp.resp == AxiResp.SLVERR and resp.data == bytes(4)
    assert tb.accesses == []
    # the bridge still works and TOKEN_POP was not popped by the bad read
    assert await tb.axil.read_dword(POP) == 0x80000000
