"""Gate-level check (hw/gate.py): the netlist Yosys synthesizes, simulated with Yosys's cell
models, against the golden model.

- in every run (sim): the comparison itself, on the RTL simulation of test_rtl_core's tiny
  design (same build, cached): equal over 10 positions, and a golden model of another model
  is caught at the first group the forward pass produces (layer 0's K cache);
- `make gate` (marker gate, ~10-30 min on 2 cores): synth_ecp5 and synth_ice40 of a tiny
  random model, netlists simulated over a 2-token prompt + 8 generated tokens, every group
  (KV cache, vectors, logits, token) equal at every position.
"""
from __future__ import annotations

import os

import pytest

from hw.gate import GateError, cell_models, compare_with_golden, gate_session
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model, tiny_knobs
from hw.rtlgen.generate import generate
from hw.rtlgen.knobs import Knobs
from hw.sim.session import SimSession

PROMPT = [1, 5]
STEPS = 8


def test_unknown_family_is_refused():
    with pytest.raises(GateError, match="no cell models for the FPGA family 'xilinx'; use ecp5 or ice40"):
        cell_models("xilinx")


def test_cell_models_ship_with_yosys():
    for family in ("ecp5", "ice40"):
        models, include = cell_models(family)
        assert all(p.is_file() for p in models) and include.is_dir()


@pytest.mark.sim
def test_comparison_on_the_rtl_and_first_differing_group(tmp_path):
    model = random_int_model(seed=1)    # test_rtl_core's tiny design: its build is reused
    generate(model, tmp_path, tiny_knobs())
    with SimSession(tmp_path) as sim:
        report = compare_with_golden(sim, GoldenModel(model), PROMPT, STEPS)
        assert report.ok, report.mismatch
        assert len(report.tokens) == len(PROMPT) + STEPS - 1
        other = GoldenModel(random_int_model(seed=2))
        bad = compare_with_golden(sim, other, PROMPT, STEPS)
        assert not bad.ok and bad.mismatch.startswith("position 0: K cache of layer 0 differs"), bad.mismatch


@pytest.mark.gate
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("HARDWIRE_GATE") != "1",
                    reason="the netlist simulations (Yosys + a Verilator build per family) run with `make gate`")
@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_netlist_matches_golden(tmp_path_factory, family):
    model = random_int_model(seed=1)
    out = tmp_path_factory.mktemp(f"gate-{family}")
    generate(model, out, Knobs(lanes=5, values_per_lane=4))
    with gate_session(out, family) as sim:
        report = compare_with_golden(sim, GoldenModel(model), PROMPT, STEPS)
    assert report.ok, f"{family} netlist: {report.mismatch}"
    assert len(report.tokens) >= STEPS


@pytest.mark.parametrize("cell", ["MULT18X18D", "DP16KD"])
def test_cell_model_lint_clean(cell):
    from hw.gate import REPO_ROOT
    from hw.tools import verilator_lint
    verilator_lint([REPO_ROOT / "testbench" / "gate" / f"{cell}.v"], cell, args=["-Wall"])
