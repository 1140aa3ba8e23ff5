"""`hardwire bench` (hw/bench.py): the ideal bound, the ratio and the report.

The arithmetic is checked without a simulator; one small Verilator run (the
tiny random model with the knobs of tests/test_rtl_core.py, so the build is
shared through the content-hashed cache) checks the whole code path.
"""
from __future__ import annotations

import json

import pytest

from hw import bench
from hw.rtlgen.estimate import estimate
from hw.rtlgen.fixture import random_int_model, tiny_knobs
from hw.rtlgen.knobs import Knobs
from hw.rtlgen.layout import rom_layout

FIELDS = {"model", "lanes", "vpl", "macs_per_cycle", "context", "weight_macs", "ideal_matrix_cycles",
          "attention_per_pos", "tokens_per_s_verilator", "tokens", "mean_cycles", "mean_ideal",
          "mean_ratio", "total_ratio", "max_ratio", "mean_estimate", "tokens_per_s_sim", "selected",
          "per_position", "matches_golden", "windows", "attention_engines", "macs", "fit"}


def tiny_estimate(lanes=5, vpl=4):
    m = random_int_model(seed=1)
    k = Knobs(lanes=lanes, values_per_lane=vpl).resolved(m["rope_cos"].shape[0])
    return m, estimate(m, rom_layout(m, lanes, vpl), k)


def test_each_setting_says_whether_the_board_holds_it():
    """A setting the board cannot hold is marked with what it is over, so a simulated bound is not
    read as a board's figure."""
    m = random_int_model(seed=1)
    seq = m["rope_cos"].shape[0]
    small = bench.board_fit(m, Knobs(lanes=2, values_per_lane=2).resolved(seq))
    assert small == {"board": bench.FIT_BOARD, "fits": True, "over": []}
    assert bench.fit_cell(small) == "yes"
    huge = bench.board_fit(m, Knobs(lanes=64, values_per_lane=64, macs="dsp").resolved(seq))
    assert not huge["fits"] and any(o.startswith("dsps ") for o in huge["over"])
    assert bench.fit_cell(huge).startswith("no: ") and "dsps" in bench.fit_cell(huge)
    assert bench.fit_cell(None) == "-"      # a result stored before the column


def test_ideal_bound_and_ratio():
    m, est = tiny_estimate()
    cfg = m.config
    assert est.ideal_matrix_cycles == -(-est.weight_macs // 20)
    # one engine (the tiny model has one kv head): the first head's keys, then every head's values
    assert est.attention_per_pos == cfg.n_layers * (cfg.n_heads + 1)
    assert bench.ideal_cycles(est, 0) == est.ideal_matrix_cycles + cfg.n_layers * (cfg.n_heads + 1)
    cycles = [2 * bench.ideal_cycles(est, 0), bench.ideal_cycles(est, 1) + 10, bench.ideal_cycles(est, 2)]
    s = bench.summarize(est, cycles, [0, 1, 2], clock_mhz=100.0)
    rows = s["per_position"]
    assert [r["ideal"] for r in rows] == [bench.ideal_cycles(est, p) for p in range(3)]
    assert rows[0]["ratio"] == 2.0 and rows[2]["ratio"] == 1.0
    assert rows[1]["ratio"] == round(cycles[1] / rows[1]["ideal"], 4)
    assert s["mean_ratio"] == round(sum(r["ratio"] for r in rows) / 3, 4)
    assert s["max_ratio"] == 2.0
    assert s["mean_cycles"] == round(sum(cycles) / 3, 1)
    assert s["tokens_per_s_sim"] == round(100e6 / (sum(cycles) / 3), 1)
    assert [r["estimate"] for r in rows] == [est.cycles(p) for p in range(3)]
    assert [r["position"] for r in s["selected"]] == [0, 1, 2]
    assert s["windows"] == {}                       # shorter than the first window (64 tokens)


def test_windows_average_the_first_tokens():
    _, est = tiny_estimate()
    cycles = [1000 + 10 * p for p in range(100)]
    s = bench.summarize(est, cycles, list(range(100)), clock_mhz=40.0)
    assert set(s["windows"]) == {"64"}
    assert s["windows"]["64"]["mean_cycles"] == round(sum(cycles[:64]) / 64, 1)
    assert s["windows"]["64"]["tokens_per_s"] == round(40e6 * 64 / sum(cycles[:64]), 1)
    assert s["tokens_per_s_sim"] == round(40e6 / (sum(cycles) / 100), 1)


def test_settings_parse():
    assert bench.parse_settings("8x4, 16x4,32X2,16x16q,16x16p4,16x16qp2,16x12d4,16x12p2d4,16x16d6n4") == [
        (8, 4, 0, 1, 0, 0), (16, 4, 0, 1, 0, 0), (32, 2, 0, 1, 0, 0), (16, 16, bench.PER_QUERY_HEAD, 1, 0, 0),
        (16, 16, 0, 4, 0, 0), (16, 16, bench.PER_QUERY_HEAD, 2, 0, 0), (16, 12, 0, 1, 4, 0), (16, 12, 0, 2, 4, 0),
        (16, 16, 0, 1, 6, 4)]
    assert [bench.setting_name(*s) for s in bench.parse_settings("16x16qp2,8x4,16x12p2d4,16x16d6n4")] == [
        "16x16qp2", "8x4", "16x12p2d4", "16x16d6n4"]
    for bad in ("16", "16x16pq", "16x16p", "16x12d", "16x12d4p2", "16x16n4d6"):
        with pytest.raises(bench.BenchError, match="LANESxVPL"):
            bench.parse_settings(bad)
    with pytest.raises(bench.BenchError, match="no lane setting"):
        bench.parse_settings("")


@pytest.mark.sim
def test_bench_runs_the_simulation_and_writes_the_report(tmp_path):
    m = random_int_model(seed=1)
    # the knobs of test_rtl_core.py's tiny design: the same Verilog, one cached build
    knobs = tiny_knobs()
    r = bench.bench_setting(m, "tiny", 5, 4, tokens=6, build_root=tmp_path / "build", knobs=knobs)
    assert FIELDS <= set(r)
    assert r["matches_golden"] and len(r["generated"]) == 6
    assert [row["position"] for row in r["per_position"]] == list(range(6))
    for row in r["per_position"]:
        assert row["cycles"] > 0 and row["ratio"] == round(row["cycles"] / row["ideal"], 4)
        rows = -(-(row["position"] + 1) // r["attention_positions"])     # P positions per cycle
        assert row["ideal"] == r["ideal_matrix_cycles"] + r["attention_per_pos"] * rows
        # the cycle model follows the core within 10 %
        assert abs(row["estimate"] - row["cycles"]) <= 0.1 * row["cycles"]
    # every token of a run costs at least the ideal bound
    assert min(row["ratio"] for row in r["per_position"]) >= 1.0
    rep = bench.report([r], 6, 100.0)
    assert "greedy generation of 6 tokens from BOS" in rep["what"]
    out, table = tmp_path / "results.json", tmp_path / "bench.md"
    bench.write(rep, out, table)
    back = json.loads(out.read_text())
    assert back["results"][0]["mean_ratio"] == r["mean_ratio"]
    assert "| tiny | 5x4 |" in table.read_text()
    # each row says which generator measured it (rows of older generators stay in a merged report)
    from hw.rtlgen import version_text

    assert r["generator"] == version_text() and f"| {version_text()} |" in table.read_text()


def test_merge_replaces_measured_settings_and_reclocks_the_rest():
    """--merge: a setting measured now replaces the stored one; the others keep their cycles and
    are restated at the new clock; runs over different token counts are refused."""
    def result(model, setting, cycles):
        return {"model": model, "setting": setting, "lanes": 16, "vpl": 16, "mean_cycles": cycles,
                "tokens_per_s_sim": 40e6 / cycles, "windows": {"64": {"mean_cycles": cycles, "tokens_per_s": 1.0}}}
    old = {"tokens": 0, "clock_mhz": 40.0, "results": [result("a", "16x16", 1000.0), result("a", "16x16q", 900.0)]}
    new = {"tokens": 0, "clock_mhz": 30.0, "results": [result("a", "16x16q", 800.0)]}
    m = bench.merged(old, new)
    assert [(r["setting"], r["mean_cycles"]) for r in m["results"]] == [("16x16", 1000.0), ("16x16q", 800.0)]
    assert m["results"][0]["tokens_per_s_sim"] == 30_000.0
    assert m["results"][0]["windows"]["64"]["tokens_per_s"] == 30_000.0
    with pytest.raises(bench.BenchError, match="--tokens 64"):
        bench.merged({**old, "tokens": 64}, new)


def test_notes_beside_the_results_follow_the_tables(tmp_path):
    """docs/bench/notes.md (prose about the figures) is appended to the generated table, so a
    rerun of the benchmark keeps it; without it the table ends with the selected positions."""
    _, est = tiny_estimate()
    r = bench.summarize(est, [est.cycles(p) for p in range(3)], [0, 1, 2], 40.0)
    rep = {"what": "x", "clock_mhz": 40.0, "tokens": 3,
           "results": [{"model": "tiny", "lanes": 5, "vpl": 4, "macs_per_cycle": 20,
                        "ideal_matrix_cycles": est.ideal_matrix_cycles, "tokens_per_s_verilator": 1.0, **r}]}
    out, table = tmp_path / "r" / "results.json", tmp_path / "bench.md"
    bench.write(rep, out, table)
    assert table.read_text().rstrip().endswith("|")
    (out.parent / bench.NOTES_NAME).write_text("## Overhead cut\n\nprose\n")
    bench.write(rep, out, table)
    assert table.read_text().endswith("|\n\n## Overhead cut\n\nprose\n")
