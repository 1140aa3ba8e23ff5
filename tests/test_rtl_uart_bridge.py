"""hw_uart_bridge (with hw_uart_rx/tx) in Verilator against a register-file stub.

One build; testbench/uart/test_uart_bridge.py sends good, corrupted, truncated
and malformed frames through a cocotbext-uart source and checks both the
response frames and the exact log of register accesses.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("cocotb")
from hw.tools import verilator_lint  # noqa: E402
from testbench.runner import build_once, run_cocotb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RTL = ROOT / "hw" / "rtl"
TB = ROOT / "testbench" / "uart"
BRIDGE = [RTL / "hw_uart_rx.v", RTL / "hw_uart_tx.v", RTL / "hw_uart_bridge.v"]
CLKS_PER_BIT = 10


@pytest.mark.sim
def test_uart_rtl_is_lint_clean():
    for cpb in (CLKS_PER_BIT, 868):     # the simulation's and 100 MHz / 115200
        args = ["-Wall", f"-GCLKS_PER_BIT={cpb}"]
        verilator_lint(BRIDGE, top="hw_uart_bridge", args=args)
        verilator_lint([RTL / "hw_uart_rx.v"], top="hw_uart_rx", args=args)
        verilator_lint([RTL / "hw_uart_tx.v"], top="hw_uart_tx", args=args)


@pytest.mark.sim
def test_uart_bridge_against_stub():
    build = build_once("uart_stub_top", [*BRIDGE, TB / "regfile_stub.v", TB / "uart_stub_top.v"],
                       "uart_stub_top", parameters={"CLKS_PER_BIT": CLKS_PER_BIT})
    run_cocotb(build, "testbench.uart.test_uart_bridge",
               extra_env={"UART_CLKS_PER_BIT": str(CLKS_PER_BIT)})
