"""The host driver's PYNQ transport on the RTL: Overlay + MMIO (cocotbpynq) -> AXI4-Lite ->
hw_axil_bridge + hardwire_top. Runs testbench/host_e2e.run_plan; pytest checks the results.

E2E_DIR holds plan.json (and stale.hardwire.json); this test writes result.json.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotbpynq

from host.device import Device
from host.metadata import Metadata
from host.pynq_transport import PynqTransport
from testbench.axil.pynq_sim import pynq_module
from testbench.host_e2e import _attempt, run_plan


def main(dut=None):
    e2e = Path(os.environ["E2E_DIR"])
    plan = json.loads((e2e / "plan.json").read_text())
    # exactly the calls a board makes: Overlay(bitfile) -> ip_dict -> MMIO(base, range)
    t = PynqTransport(os.environ["PYNQ_BITFILE"], pynq_module=pynq_module(), poll_interval=0)
    res = {"stale": _attempt(lambda: Device(t, metadata=Metadata.load(plan["stale_metadata"])))}
    dev = Device(t, metadata=Metadata.load(plan["metadata"]), timeout=120)
    res.update(run_plan(dev, plan))
    (e2e / "result.json").write_text(json.dumps(res, indent=1))


main = cocotbpynq.synctest(main)
