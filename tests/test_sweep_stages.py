"""hw/sweep_stages.run_point in this process (tests/test_sweep.py runs it on Dask workers, where
coverage does not see it): the estimate stage's record, a refused knob ends the point, a point that
does not fit its board skips the costly stages with the reason, the sim/synth/pnr stages turn the
tools' results into the record (the tools replaced here by stand-ins), an injected crash fails once."""
from __future__ import annotations

import json

import pytest

from hw import sweep_stages as st
from hw.boards import fit_report, get_board
from hw.flows.open_flow import speed
from hw.golden import LORA_TARGETS
from hw.rtlgen.estimate import estimate
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.knobs import Knobs
from hw.rtlgen.layout import rom_layout
from hw.sweep import FAIL_ONCE_ENV, FORMAT, SweepError, make_sweep, make_task, parse_stages

KNOBS = Knobs(lora_rank=3, lora_targets=LORA_TARGETS)
MODEL = random_int_model(seed=1)


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    MODEL.save(path)
    return path


def tasks(npz, out, board, stages, engines=(0,), prior=None, **kw):
    sweep = make_sweep(npz, [board], [5], [4], list(engines), [1], None, KNOBS, parse_stages(stages), **kw)
    return [make_task(sweep, sweep.point_id(p), p, prior, out) for p in sweep.points]


def test_load_model_reads_the_integer_model(npz):
    assert st.load_model(str(npz), None).fingerprint == MODEL.fingerprint


def test_estimate_stage_record(npz, tmp_path):
    task = tasks(npz, tmp_path, "ulx3s-85f", "estimate")[0]
    rec = st.run_point(task, MODEL)
    assert (rec["format"], rec["id"], rec["point"], rec["knobs"]) == (FORMAT, task["id"], task["point"], task["knobs"])
    assert "error" not in rec and list(rec["stages"]) == ["estimate"] and rec["worker"]
    est = rec["stages"]["estimate"]
    board = get_board("ulx3s-85f")
    knobs = Knobs(lora_rank=3, lora_targets=LORA_TARGETS, lanes=5, values_per_lane=4).resolved(16)
    fit = fit_report(MODEL, knobs, board)
    e = estimate(MODEL, rom_layout(MODEL, 5, 4), knobs)
    assert est["fits"] is True and est["speed"] == speed(e, knobs.context, board.clock_mhz)
    assert est["macs_per_cycle"] == 20 and est["model_fingerprint"] == MODEL.fingerprint
    assert est["rom_bits"] == e.weight_rom_bits + e.scale_rom_bits + e.table_bits
    assert est["needs"] == {n.resource: {"need": n.need, "limit": n.limit, "have": n.have} for n in fit.needs}
    assert est["settings"] == {} and est["seconds"] >= 0


def test_a_refused_knob_ends_the_point_and_a_prior_error_is_cleared(npz, tmp_path):
    good, bad = tasks(npz, tmp_path, "ulx3s-85f", "estimate,sim", engines=(0, 2))
    rec = st.run_point(bad, MODEL)
    assert rec["error"]["stage"] == "estimate" and "attention engines (2) must divide" in rec["error"]["message"]
    assert rec["stages"] == {}                      # sim never ran
    prior = {"stages": {"estimate": {"fits": True}}, "error": {"stage": "sim", "message": "old"}}
    t = dict(good, prior=prior, todo=[])
    again = st.run_point(t, MODEL)
    assert "error" not in again and again["stages"] == {"estimate": {"fits": True}}


def test_a_point_that_does_not_fit_skips_the_costly_stages(npz, tmp_path, monkeypatch):
    def never(*a, **kw):
        raise AssertionError("a tool ran for a point that does not fit")

    monkeypatch.setattr("hw.bench.bench_setting", never)
    monkeypatch.setattr("hw.flows.open_flow.synth", never)
    monkeypatch.setattr("hw.flows.open_flow.pnr", never)
    task = tasks(npz, tmp_path, "ulx3s-45f", "estimate,sim,synth,pnr")[0]
    rec = st.run_point(task, MODEL)
    why = "does not fit ulx3s-45f (dsps 82 > 72); --force runs it anyway"   # 6 of them the LoRA unit's; 5 lanes, 3 requantizers
    assert rec["stages"]["estimate"]["fits"] is False
    assert [rec["stages"][s]["skipped"] for s in ("sim", "synth", "pnr")] == [why] * 3
    assert rec["stages"]["pnr"]["settings"] == {"router": task["router"]}


def test_sim_stage_keeps_the_measurements(npz, tmp_path, monkeypatch):
    seen = {}

    def bench_setting(model, name, lanes, vpl, tokens, clock_mhz, root, check, knobs):
        seen.update(lanes=lanes, vpl=vpl, tokens=tokens, clock=clock_mhz, root=root, check=check)
        return {"tokens": tokens, "mean_cycles": 100.0, "mean_estimate": 98.0, "total_ratio": 1.02,
                "matches_golden": True, "tokens_per_s_sim": 1.5, "tokens_per_s_verilator": 2.0,
                "build_seconds": 3.0, "other": "dropped"}

    monkeypatch.setattr("hw.bench.bench_setting", bench_setting)
    for sim_tokens, want in ((0, 16), (8, 8)):          # 0: the whole context
        task = tasks(npz, tmp_path, "ulx3s-85f", "estimate,sim", sim_tokens=sim_tokens)[0]
        rec = st.run_point(task, MODEL)
        sim = rec["stages"]["sim"]
        assert sim["tokens"] == want and seen["tokens"] == want and "other" not in sim
        assert sim["settings"] == {"tokens": sim_tokens} and seen["check"] is True
        assert (seen["lanes"], seen["vpl"], seen["clock"]) == (5, 4, 25.0)
        assert seen["root"].parent == tmp_path.resolve() / "designs"
    # the design folder depends on the design only: the same for every board
    a = st._design_dir(tasks(npz, tmp_path, "ulx3s-85f", "sim")[0], st.Point(**task["point"]))
    other = tasks(npz, tmp_path, "ulx3s-45f", "sim")[0]
    assert a == st._design_dir(other, st.Point(**other["point"]))


def test_synth_and_pnr_stages_record_the_tools_results(npz, tmp_path, monkeypatch):
    calls, told = [], []
    board = get_board("ulx3s-85f")
    report = {"fmax": {"clk": {"achieved": 31.25}, "clk2": {"achieved": 27.5}},
              "utilization": {v: {"used": 10, "available": 100} for v in board.backend.utilisation_cells.values()}}

    def synth(bdir, b):
        calls.append(("synth", bdir))
        (bdir / "synth.json").write_text("{}")
        return {"LUT4": 1234}

    def pnr(bdir, b, seed, router, tries, log, on_log):
        calls.append(("pnr", seed, router, tries))
        on_log("Info: Packing IOs..\n")
        on_log("Info: Packing IOs..\n")                 # the same progress twice: told once
        on_log("Info: Packing IOs..\nInfo: Program finished normally.\n")
        return report

    monkeypatch.setattr("hw.flows.open_flow.synth", synth)
    monkeypatch.setattr("hw.flows.open_flow.pnr", pnr)
    monkeypatch.setattr(st, "tell", lambda pid, stage, detail="": told.append((stage, detail)))
    task = tasks(npz, tmp_path, "ulx3s-85f", "estimate,pnr", router="router2")[0]
    assert task["todo"] == ["estimate", "synth", "pnr"]
    rec = st.run_point(task, MODEL)
    bdir = tmp_path / "builds" / task["id"]
    assert json.loads((bdir / "build.json").read_text())["knobs"]["lanes"] == 5   # the point's design
    assert [c[0] for c in calls] == ["synth", "pnr"] and calls[1][1:] == (1, "router2", 1)
    assert rec["stages"]["synth"]["cells"] == {"LUT4": 1234}
    pr = rec["stages"]["pnr"]
    assert pr["fmax_mhz"] == 27.5 and pr["timing_met"] is True and pr["log"] == str(bdir / "pnr.log")
    assert pr["utilisation"]["dsps"] == {"used": 10, "available": 100}
    assert pr["settings"] == {"router": "router2"}
    assert told == [("estimate", ""), ("synth", ""), ("pnr", ""), ("pnr", "packing"), ("pnr", "finished")]
    assert tasks(npz, tmp_path, "ulx3s-85f", "estimate,pnr", router="router2", prior=rec)[0]["todo"] == []

    # pnr alone on a point synthesized elsewhere (no synth.json here): synth runs first; the build
    # folder is reused (generate does not run again); the prior stages stay
    (bdir / "synth.json").unlink()
    mtime = (bdir / "build.json").stat().st_mtime_ns
    report["fmax"] = {"clk": {"achieved": 20.0}}
    task = dict(task, prior=rec, todo=["pnr"])
    rec2 = st.run_point(task, MODEL)
    assert [c[0] for c in calls] == ["synth", "pnr", "synth", "pnr"]
    assert (bdir / "build.json").stat().st_mtime_ns == mtime
    assert rec2["stages"]["pnr"]["timing_met"] is False                 # below the 25 MHz clock
    assert rec2["stages"]["synth"] == rec["stages"]["synth"]


def test_an_injected_failure_fails_the_point_once(npz, tmp_path, monkeypatch):
    task = tasks(npz, tmp_path, "ulx3s-85f", "estimate")[0]
    monkeypatch.setenv(FAIL_ONCE_ENV, str(tmp_path))
    (tmp_path / task["id"]).touch()
    with pytest.raises(RuntimeError, match=f"injected failure of point {task['id']}"):
        st.run_point(task, MODEL)
    assert not (tmp_path / task["id"]).exists()
    assert "estimate" in st.run_point(task, MODEL)["stages"]


def test_tell_off_a_worker_does_nothing():
    assert st.tell("x", "estimate") is None


def test_a_chain_point_estimates_and_simulates_the_split(npz, tmp_path):
    """--chips 2: the estimate stage splits the model (every chip's fit, the largest chip's needs, the
    chain's cycles), the sim stage runs the chain bit-exact (hw/bench.py bench_chain); synth and pnr
    are refused for chains before any task starts."""
    from hw.rtlgen.chain import chain_cycles

    plain = Knobs()
    sweep = make_sweep(npz, ["ulx3s-85f"], [5], [4], [0], [1], None, plain, parse_stages("sim"), sim_tokens=6,
                       chips=[1, 2])
    assert [p.chips for p in sweep.points] == [1, 2]
    one, two = sweep.points
    assert sweep.point_id(one) != sweep.point_id(two)
    task = make_task(sweep, sweep.point_id(two), two, None, tmp_path)
    rec = st.run_point(task, MODEL)
    assert "error" not in rec, rec.get("error")
    est, sim = rec["stages"]["estimate"], rec["stages"]["sim"]
    assert est["chips"] == 2 and est["layers"] == [[0, 1], [1, 2]] and est["fits"]
    knobs = st._knobs(task, two, MODEL)             # 5 x 4 lanes, the point's
    assert est["speed"]["cycles_first"] == chain_cycles(MODEL, knobs, 2, 0)
    assert sim["chips"] == 2 and sim["tokens"] == 6 and sim["matches_golden"]
    assert abs(sim["mean_cycles"] - sim["mean_estimate"]) <= 0.05 * sim["mean_estimate"]
    from hw.sweep_report import row
    r = row(rec)
    assert r["chips"] == 2 and r["resources_from"] == "estimate (largest of 2 chips)"


def test_a_chain_point_synthesizes_and_routes_every_chip(npz, tmp_path, monkeypatch):
    """--chips 2 through synth and pnr (the tools replaced by fakes): each chip's own build folder with
    the chain's board top (link pins), the record keeps every chip's result, and the row reports the
    largest chip's resources and the slowest chip's Fmax."""
    board = get_board("ulx3s-85f")
    seen = []

    def synth(bdir, b):
        seen.append(("synth", bdir.name, "hw_board_uart_chain" in (bdir / "board_top.v").read_text()))
        (bdir / "synth.json").write_text("{}")
        return {"LUT4": 1000 + 100 * int(bdir.name[-1])}

    def pnr(bdir, b, seed, router, tries, log, on_log):
        k = int(bdir.name[-1])
        seen.append(("pnr", bdir.name))
        return {"fmax": {"clk": {"achieved": 40.0 - 5 * k}},
                "utilization": {v: {"used": 10 + k, "available": 100} for v in board.backend.utilisation_cells.values()}}

    monkeypatch.setattr("hw.flows.open_flow.synth", synth)
    monkeypatch.setattr("hw.flows.open_flow.pnr", pnr)
    sweep = make_sweep(npz, ["ulx3s-85f"], [5], [4], [0], [1], None, Knobs(), parse_stages("pnr"), chips=[2])
    p = sweep.points[0]
    rec = st.run_point(make_task(sweep, sweep.point_id(p), p, None, tmp_path), MODEL)
    assert "error" not in rec, rec.get("error")
    assert seen == [("synth", "chip0", True), ("synth", "chip1", True), ("pnr", "chip0"), ("pnr", "chip1")]
    syn, pr = rec["stages"]["synth"], rec["stages"]["pnr"]
    assert syn["cells"] == {"LUT4": 1100} and [c["cells"]["LUT4"] for c in syn["chips"]] == [1000, 1100]
    assert pr["fmax_mhz"] == 35.0 and [c["fmax_mhz"] for c in pr["chips"]] == [40.0, 35.0]
    assert pr["utilisation"]["dsps"] == {"used": 11, "available": 100}
    from hw.sweep_report import row
    r = row(rec)
    assert r["fmax_mhz"] == 35.0 and r["dsps"] == 11 and r["resources_from"] == "place and route (largest of 2 chips)"
