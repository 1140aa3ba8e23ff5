"""hw_axil_bridge in Verilator against a register-file stub (cocotbext-axi master)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("cocotb")
from hw.tools import verilator_lint  # noqa: E402
from testbench.runner import build_once, run_cocotb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RTL = ROOT / "hw" / "rtl"


@pytest.mark.sim
def test_axil_bridge_is_lint_clean():
    for width in (10, 16, 32):
        verilator_lint([RTL / "hw_axil_bridge.v"], top="hw_axil_bridge",
                       args=["-Wall", f"-GADDR_WIDTH={width}"])


@pytest.mark.sim
def test_axil_bridge_against_stub():
    build = build_once("axil_stub_top", [RTL / "hw_axil_bridge.v", ROOT / "testbench" / "uart" / "regfile_stub.v",
                                         ROOT / "testbench" / "axil" / "axil_stub_top.v"],
                       "axil_stub_top", parameters={"ADDR_WIDTH": 16})
    run_cocotb(build, "testbench.axil.test_axil_bridge")
