"""The PYNQ transport end to end: pynq's Overlay/MMIO calls, as on a board, served by
cocotbpynq on the Verilator model of hardwire_top + hw_axil_bridge
(testbench/axil/test_pynq_e2e.py). Tokens equal GoldenModel.generate; LoRA upload and
clear, a stale fingerprint and a too-long prompt behave as documented."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("cocotbpynq")
from testbench.axil.pynq_sim import write_hwh  # noqa: E402
from testbench.runner import build_once, run_cocotb  # noqa: E402
from tests.host_e2e_build import RTL, ROOT, accelerator, check_results, write_plan  # noqa: E402

TOP = "axil_core_top"


@pytest.mark.sim
@pytest.mark.slow
def test_pynq_transport_on_the_rtl(tmp_path):
    model, out, sources = accelerator()
    build = build_once("host_e2e_axil", [*sources, RTL / "hw_axil_bridge.v", ROOT / "testbench" / "axil" / f"{TOP}.v"],
                       TOP, parameters={"ADDR_WIDTH": 16, "ROM_DIR": f'"{out / "rom"}"'},
                       build_args=["-Wno-fatal"])
    plan_path = write_plan(tmp_path)
    write_hwh(tmp_path / "hardwire.hwh", TOP)
    (tmp_path / "hardwire.bit").write_bytes(b"simulation stand-in: cocotbpynq reads only the .hwh")
    run_cocotb(build, "testbench.axil.test_pynq_e2e",
               extra_env={"E2E_DIR": str(tmp_path), "HWH_LOCATION_DIR": str(tmp_path),
                          "PYNQ_BITFILE": str(tmp_path / "hardwire.bit"), "COCOTB_SYS_ARGV": "cocotb"})
    res = json.loads((tmp_path / "result.json").read_text())
    check_results(json.loads(plan_path.read_text()), res)
