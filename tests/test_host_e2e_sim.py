"""The sim: transport end to end: open_device("sim:<build>") on hw/sim's Verilator harness of
the generated design; the same plan as the board transports, and `hardwire run --device sim:`."""
from __future__ import annotations

import dataclasses
import json

import pytest

from host.device import open_device
from host.metadata import IdentityMismatch, Metadata
from hw.cli import main
from hw.golden import GoldenModel
from testbench.host_e2e import run_plan
from tests.host_e2e_build import CONTEXT, K_MAX, accelerator, check_results, write_plan


@pytest.mark.sim
@pytest.mark.slow
def test_sim_transport_on_the_rtl(tmp_path, capsys):
    model, out, _ = accelerator()
    plan = json.loads(write_plan(tmp_path).read_text())
    res = {}
    stale = Metadata.load(out / "hardwire.json")
    stale.identity = dataclasses.replace(stale.identity, fingerprint="f" * 64)
    with pytest.raises(IdentityMismatch) as exc:
        open_device(f"sim:{out}", metadata=stale)
    res["stale"] = {"error": type(exc.value).__name__, "message": str(exc.value)}
    with open_device(f"sim:{out}") as dev:          # metadata: the build folder's hardwire.json
        assert dev.metadata is not None and dev.info().fingerprint == model.fingerprint
        res.update(run_plan(dev, plan))
    check_results(plan, res)
    # the command line on the same simulation
    assert main(["run", "--device", f"sim:{out}", "--prompt-ids", "1 5 9 2", "--steps", "6",
                 "--stop-token", "-1"]) == 0
    got = [int(t) for t in capsys.readouterr().out.split()]
    assert got == list(GoldenModel(model, context=CONTEXT, k_max=K_MAX).generate([1, 5, 9, 2], 6))
