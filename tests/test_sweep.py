"""`hardwire sweep` on a local Dask cluster: points as tasks, retries, results that survive, reuse,
the table and the Pareto plot; the sim stage on the tiny design of tests/test_rtl_core.py (whose
Verilator build the cache usually holds already)."""
from __future__ import annotations

import csv
import json
import logging
import os
import time
from dataclasses import replace

import pytest

from hw.boards import fit_report, get_board
from hw.golden import LORA_TARGETS
from hw.rtlgen.fixture import random_int_model
from hw.progress import CountProgress
from hw.rtlgen.knobs import Knobs
from hw.sweep import FAIL_ONCE_ENV, SweepError, make_sweep, parse_stages, run_sweep

BOARDS = ["ulx3s-85f", "ulx3s-45f"]
# tests/test_rtl_core.py's tiny design: random_int_model(seed=1), 5 x 4 lanes, LoRA rank 3 on every target
TINY_KNOBS = Knobs(lora_rank=3, lora_targets=LORA_TARGETS)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One LocalCluster (2 worker processes) for the module, reached by its address as --scheduler
    reaches a cluster; its workers see $HARDWIRE_SWEEP_FAIL_ONCE (the failure injection folder)."""
    from dask.distributed import LocalCluster

    fail_dir = tmp_path_factory.mktemp("fail-once")
    old = os.environ.get(FAIL_ONCE_ENV)
    os.environ[FAIL_ONCE_ENV] = str(fail_dir)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.CRITICAL) as c:
            yield c.scheduler_address, fail_dir
    finally:
        if old is None:
            os.environ.pop(FAIL_ONCE_ENV, None)
        else:
            os.environ[FAIL_ONCE_ENV] = old


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    random_int_model(seed=1).save(path)
    return path


def _estimate_mean(model, knobs, lanes, vpl):
    """The estimate's mean cycles per token over the context, computed here."""
    from hw.rtlgen.estimate import estimate
    from hw.rtlgen.layout import rom_layout

    k = replace(knobs, lanes=lanes, values_per_lane=vpl).resolved(model["rope_cos"].shape[0])
    est = estimate(model, rom_layout(model, lanes, vpl), k)
    return (est.cycles(0) + est.cycles(k.context - 1)) / 2


def test_sweep_retries_reuses_and_measures(cluster, tiny_npz, tmp_path, monkeypatch):
    """Six points (2 boards x 3 lane counts) through the estimate stage, one of them crashing once and
    retried; the table and the plot; a second run runs no task, a third only the points whose JSON a
    crashed driver did not write whole; then the sim stage on the two 5 x 4 points, bit-exact with the
    golden model, reusing their estimates."""
    address, fail_dir = cluster
    out = tmp_path / "sweep"
    lines = []
    sweep = make_sweep(tiny_npz, BOARDS, [2, 3, 5], [4], [0], [1], None, TINY_KNOBS, parse_stages("estimate"))
    assert len(sweep.points) == 6
    victim = sweep.point_id(sweep.points[1])
    (fail_dir / victim).touch()

    res = run_sweep(sweep, out, scheduler=address, retries=2, log=lines.append, interactive=False)
    assert not (fail_dir / victim).exists()             # its first attempt ran and failed ...
    assert res["failed"] == [] and len(res["ran"]) == 6 and res["reused"] == []
    recs = {r["id"]: r for r in res["records"]}
    assert "estimate" in recs[victim]["stages"]         # ... and the retry finished it
    assert sorted(p.name for p in (out / "points").iterdir()) == sorted(f"{i}.json" for i in recs)
    model = random_int_model(seed=1)
    for p, rec in zip(sweep.points, res["records"]):
        est = rec["stages"]["estimate"]
        assert est["speed"]["cycles_mean"] == _estimate_mean(model, TINY_KNOBS, p.lanes, p.vpl)
        fit = fit_report(model, replace(TINY_KNOBS, lanes=p.lanes, values_per_lane=p.vpl).resolved(16),
                         get_board(p.board))
        assert est["fits"] == fit.fits and est["model_fingerprint"] == model.fingerprint
        assert est["needs"] == {n.resource: {"need": n.need, "limit": n.limit, "have": n.have} for n in fit.needs}
    # 45F 5 x 4: DSPs (3 x 4 fits since two lanes share a requantizer)
    assert [r["stages"]["estimate"]["fits"] for r in res["records"]] == [True] * 5 + [False]
    assert sum(1 for ln in lines if ln.startswith("[")) == 6      # quiet output: a line per point

    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 6 and {r["board"] for r in rows} == set(BOARDS)
    assert all(float(r["tokens_per_s"]) > 0 and r["speed_from"] == "estimate at design clock" for r in rows)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| Pareto |" in (out / "results.md").read_text()

    # a second run reuses every point: no task runs (a fail-once flag stays untouched)
    (fail_dir / victim).touch()
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    res2 = run_sweep(sweep, out, scheduler=address, log=lines.append, interactive=False)
    assert res2["ran"] == [] and len(res2["reused"]) == 6 and (fail_dir / victim).exists()
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    (fail_dir / victim).unlink()

    # a driver that crashed before writing one point and while writing another: only those two run again
    ids = [sweep.point_id(p) for p in sweep.points]
    (out / "points" / f"{ids[0]}.json").unlink()
    torn = out / "points" / f"{ids[4]}.json"
    torn.write_text(torn.read_text()[:100])
    res2 = run_sweep(sweep, out, scheduler=address, log=lines.append, interactive=False)
    assert sorted(res2["ran"]) == sorted([ids[0], ids[4]]) and res2["failed"] == []
    assert [r["stages"]["estimate"]["speed"] for r in res2["records"]] == \
        [r["stages"]["estimate"]["speed"] for r in res["records"]]

    # the sim stage on the two 5 x 4 points: only sim runs, the estimates are the first run's; the 45F
    # point does not fit its board, so it is skipped with the reason
    sim = make_sweep(tiny_npz, BOARDS, [5], [4], [0], [1], None, TINY_KNOBS, parse_stages("sim"), sim_tokens=8)
    notes = []
    monkeypatch.setattr(CountProgress, "note", lambda self, text: notes.append(text))
    res3 = run_sweep(sim, out, scheduler=address, log=lines.append, interactive=False)
    for _ in range(50):                     # the workers' stage events reach the display's note()
        if "ulx3s-85f 5x4 e0 seed 1: sim" in notes:
            break
        time.sleep(0.1)
    assert "ulx3s-85f 5x4 e0 seed 1: sim" in notes and "ulx3s-45f 5x4 e0 seed 1: sim" in notes
    assert res3["failed"] == [] and len(res3["ran"]) == 2
    fits, over = res3["records"]
    for rec in res3["records"]:
        assert rec["stages"]["estimate"] == recs[rec["id"]]["stages"]["estimate"]
    s = fits["stages"]["sim"]
    assert s["matches_golden"] is True and s["tokens"] == 8
    assert 0.8 < s["mean_cycles"] / s["mean_estimate"] < 1.25
    assert over["stages"]["sim"]["skipped"] == "does not fit ulx3s-45f (dsps 82 > 72); --force runs it anyway"
    rows = {r["id"]: r for r in csv.DictReader(open(out / "results.csv"))}
    assert len(rows) == 6                   # the table covers every point of the folder
    assert rows[fits["id"]]["cycles_from"] == "sim (8 tokens)" and rows[over["id"]]["cycles_from"] == "estimate"
    assert float(rows[fits["id"]]["tokens_per_s"]) == round(25e6 / s["mean_cycles"], 1)


def test_a_point_with_a_refused_knob_records_its_error(cluster, tiny_npz, tmp_path):
    """A bad input is the point's result (not retried), and the other points go on."""
    address, _ = cluster
    sweep = make_sweep(tiny_npz, BOARDS[:1], [5], [4], [0, 2], [1], None, TINY_KNOBS, parse_stages("estimate"))
    res = run_sweep(sweep, tmp_path / "s", scheduler=address, retries=0, log=lambda s: None, interactive=False)
    bad = json.loads((tmp_path / "s" / "points" / f"{res['failed'][0]}.json").read_text())
    assert bad["point"]["engines"] == 2 and bad["error"]["stage"] == "estimate"
    assert "attention engines (2) must divide" in bad["error"]["message"]
    assert len([r for r in res["records"] if not r.get("error")]) == 1


def test_sweep_arguments_are_checked(tiny_npz):
    args = (tiny_npz, BOARDS, [4], [4], [0])
    with pytest.raises(SweepError, match="seeds only change place and route; add pnr"):
        make_sweep(*args, [1, 2], None, TINY_KNOBS, parse_stages("estimate,sim"))
    with pytest.raises(SweepError, match="already quantized; --bits applies to a float checkpoint"):
        make_sweep(*args, [1], ["4"], TINY_KNOBS, parse_stages("estimate"))
    with pytest.raises(SweepError, match="unknown stage.*bitstream.*choose from estimate, sim, synth, pnr"):
        parse_stages("sim,bitstream")
    assert parse_stages("pnr") == ("estimate", "synth", "pnr")
    with pytest.raises(SweepError, match="built by Vivado.*--stages estimate,sim"):
        make_sweep(tiny_npz, ["pynq-z2"], [4], [4], [0], [1], None, TINY_KNOBS, parse_stages("synth"))
    with pytest.raises(SweepError, match="no such model"):
        make_sweep(tiny_npz.parent / "missing.npz", BOARDS, [4], [4], [0], [1], None, TINY_KNOBS, ("estimate",))


def test_cli_sweep_starts_its_own_local_cluster(tiny_npz, tmp_path, capsys):
    """`hardwire sweep` without --scheduler: a LocalCluster of --workers processes; a line per point off
    a terminal; exit 1 with the reason for a refused option."""
    from hw.cli import main

    out = tmp_path / "c"
    args = ["sweep", "--model", str(tiny_npz), "--out", str(out), "--lanes", "2,3", "--vpl", "4", "--macs", "dsp"]
    assert main([*args, "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert text.count("fits, ") == 2 and "2 point(s) run, 0 reused, 0 with an error" in text
    assert (out / "pareto.png").is_file() and len((out / "results.csv").read_text().splitlines()) == 3
    assert main([*args, "--bits", "4"]) == 1
    assert "already quantized; --bits applies to a float checkpoint" in capsys.readouterr().err
    assert main([*args, "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert "--workers sizes the local cluster" in capsys.readouterr().err
