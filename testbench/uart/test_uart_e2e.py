"""The host driver over a real pseudo-terminal to the RTL: pyserial -> pty -> UART pins of
hw_uart_bridge + hardwire_top (Verilator), with bytes corrupted and dropped on the way.

The host runs in its own process (testbench/uart/host_client.py); this test
moves bytes between the pty's master side and the UART pins until that
process ends. E2E_DIR holds plan.json (from pytest) and gets result.json.
Faults: each byte towards the device gets a bit flipped with probability
FAULT_RATE, and each byte towards the host is dropped with that probability
(a seeded generator); the driver must retry its way to exactly the golden
tokens.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import tty
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer
from cocotbext.uart import UartSink, UartSource

CLK_NS = 10
REPO = Path(__file__).resolve().parents[2]


@cocotb.test()
async def run_test_host_over_pty(dut):
    e2e = Path(os.environ["E2E_DIR"])
    clks_per_bit = int(os.environ["UART_CLKS_PER_BIT"])
    fault_rate = float(os.environ.get("FAULT_RATE", "0"))
    rng = random.Random(int(os.environ.get("FAULT_SEED", "1")))
    wall_limit = float(os.environ.get("E2E_WALL_LIMIT", "200"))
    Clock(dut.clk, CLK_NS, unit="ns").start()
    baud = 10 ** 9 // (clks_per_bit * CLK_NS)
    source = UartSource(dut.uart_rxd, baud=baud, bits=8, stop_bits=1)
    sink = UartSink(dut.uart_txd, baud=baud, bits=8, stop_bits=1)
    dut.rst_btn.value = 1                   # hw_board_uart built with RST_ACTIVE_LOW = 0
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst_btn.value = 0
    for _ in range(24):                     # the board's reset synchroniser and 16-cycle stretch
        await RisingEdge(dut.clk)

    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    mute = e2e / "mute"
    mute.unlink(missing_ok=True)
    log = open(e2e / "host_client.log", "w")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "testbench.uart.host_client", os.ttyname(slave),
                             str(e2e / "plan.json"), str(e2e / "result.json"), str(mute)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    sent = received = flipped = dropped = 0
    t0 = time.monotonic()
    try:
        while proc.poll() is None:
            await Timer(50 * clks_per_bit * CLK_NS, unit="ns")   # ~5 byte times
            silent = mute.exists()
            try:
                data = bytearray(os.read(master, 4096))
            except (BlockingIOError, OSError):
                data = bytearray()
            if data and not silent:
                for i in range(len(data)):
                    sent += 1
                    if rng.random() < fault_rate:
                        data[i] ^= 1 << rng.randrange(8)
                        flipped += 1
                source.write_nowait(bytes(data))
            if not sink.empty():
                out = bytearray()
                for b in sink.read_nowait():
                    received += 1
                    if rng.random() < fault_rate:
                        dropped += 1
                        continue
                    out.append(b)
                if out and not silent:
                    os.write(master, bytes(out))
            assert time.monotonic() - t0 < wall_limit, "the host process did not finish in time"
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        os.close(master)
        os.close(slave)
    (e2e / "faults.txt").write_text(f"flipped {flipped} of {sent}, dropped {dropped} of {received}\n")
    assert proc.returncode == 0, (e2e / "host_client.log").read_text()[-3000:]
