"""hw/coverage_report.py on hand-made Verilator .dat files and a coverage.py JSON report."""
from __future__ import annotations

import json

import pytest

from hw.coverage_report import (RTL_DIR, CoverageError, main, markdown, merge_dat, python_coverage,
                                read_dat, rtl_coverage)


def point(file: str, line: int, kind: str, span: str = "", hier: str = "top", comment: str = "block") -> str:
    fields = {"f": str(RTL_DIR / file), "l": str(line), "n": "5", "t": kind.split("_")[1],
              "page": f"{kind}/m", "o": comment, "h": hier}
    if span:
        fields["S"] = span
    return "".join(f"\x01{k}\x02{v}" for k, v in fields.items())


def write(path, counts: dict[str, int]):
    path.write_text("# SystemC::Coverage-3\n" + "".join(f"C '{k}' {v}\n" for k, v in counts.items()))
    return path


def test_merge_adds_runs_and_instances(tmp_path):
    a = write(tmp_path / "a.dat", {point("hw_rq.v", 10, "v_line", "10-12"): 0,
                                   point("hw_rq.v", 20, "v_branch", "20", comment="if"): 3,
                                   point("hw_rq.v", 30, "v_toggle", comment="x[0]:0->1"): 0})
    b = write(tmp_path / "b.dat", {point("hw_rq.v", 10, "v_line", "10-12", hier="top.u2"): 2,
                                   point("hw_rq.v", 21, "v_branch", "21", comment="else"): 0,
                                   point("hw_rq.v", 30, "v_toggle", comment="x[0]:0->1"): 1})
    (tmp_path / "killed.dat").write_text("")       # a run that was stopped writes nothing
    counts = merge_dat([a, b, tmp_path / "killed.dat"])
    assert counts[point("hw_rq.v", 30, "v_toggle", comment="x[0]:0->1")] == 1
    mods = {m.name: m for m in rtl_coverage(counts)}
    rq = mods["hw_rq.v"]
    # lines 10-12 hit in the second instance; 20 hit; 21 (the else) never
    assert (rq.lines_hit, rq.lines_total, rq.missed_lines) == (4, 5, [21])
    assert (rq.toggles_hit, rq.toggles_total) == (1, 1)
    assert mods["hw_core.v"].lines_total == 0                  # every hw/rtl file is listed
    text = markdown(list(mods.values()), [])
    assert "| hw_rq.v | 4/5 | 80.0 | 1/1 | 100.0 | 21 |" in text
    assert "| hw_core.v | not simulated | 0 |" in text


def test_line_hit_only_when_every_point_on_it_was(tmp_path):
    counts = merge_dat([write(tmp_path / "a.dat", {point("hw_rq.v", 5, "v_line", "5-6"): 4,
                                                   point("hw_rq.v", 6, "v_branch", "6", comment="if"): 0})])
    rq = {m.name: m for m in rtl_coverage(counts)}["hw_rq.v"]
    assert (rq.lines_hit, rq.lines_total, rq.missed_lines) == (1, 2, [6])


def test_bad_dat_line_is_named(tmp_path):
    p = tmp_path / "x.dat"
    p.write_text("C 'abc' notanumber\n")
    with pytest.raises(CoverageError, match=r"x.dat:1: not a Verilator coverage line"):
        read_dat(p)


def test_python_report_and_cli(tmp_path, capsys):
    report = tmp_path / "py.json"
    report.write_text(json.dumps({"files": {
        "hw/golden.py": {"summary": {"covered_lines": 90, "num_statements": 100}},
        "host/device.py": {"summary": {"covered_lines": 5, "num_statements": 10}},
        "tests/x.py": {"summary": {"covered_lines": 1, "num_statements": 1}}}}))
    pk = {p.name: p for p in python_coverage(report)}
    assert (pk["hw"].covered, pk["hw"].statements, pk["host"].pct) == (90, 100, 50.0)
    write(tmp_path / "a.dat", {point("hw_rq.v", 10, "v_line", "10"): 1})
    out = tmp_path / "coverage.md"
    assert main(["--rtl-dir", str(tmp_path), "--python-json", str(report), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hw/rtl lines 1/1 = 100.0 %" in printed and "Python host/ lines 5/10 = 50.0 %" in printed
    assert "| host/device.py | 5/10 | 50.0 |" in out.read_text()
    (tmp_path / "bad.json").write_text("[]")
    assert main(["--rtl-dir", str(tmp_path), "--python-json", str(tmp_path / "bad.json")]) == 2
    assert main(["--rtl-dir", str(tmp_path / "none"), "--python-json", str(report)]) == 2
    assert "no Verilator coverage files" in capsys.readouterr().err


def test_keep_rtl_replaces_only_the_python_section(tmp_path, capsys):
    report = tmp_path / "py.json"
    report.write_text(json.dumps({"files": {
        "hw/golden.py": {"summary": {"covered_lines": 9, "num_statements": 10}},
        "host/device.py": {"summary": {"covered_lines": 3, "num_statements": 10}}}}))
    write(tmp_path / "a.dat", {point("hw_rq.v", 10, "v_line", "10"): 1})
    out = tmp_path / "coverage.md"
    assert main(["--rtl-dir", str(tmp_path), "--out", str(out), "--note", "RTL run"]) == 0
    before = out.read_text()
    assert "Not measured in this run." in before
    capsys.readouterr()
    assert main(["--keep-rtl", "--python-json", str(report), "--out", str(out), "--note", "py run"]) == 0
    after = out.read_text()
    rtl = before[:before.index("## Python line coverage")]
    assert after.startswith(rtl)                    # note and RTL table untouched
    py = after[len(rtl):]
    assert py.startswith("## Python line coverage (target >= 90 %)\n\npy run\n\n| package |")
    assert "| hw/ | 9/10 | **90.0** |" in py and "| host/device.py | 3/10 | 30.0 |" in py
    assert "Not measured" not in py and "hw/golden.py" not in py   # 90 % is not below 80 %
    assert capsys.readouterr().out.splitlines() == ["coverage: Python hw/ lines 9/10 = 90.0 %",
                                                   "coverage: Python host/ lines 3/10 = 30.0 %"]
    (tmp_path / "other.md").write_text("# no sections\n")
    assert main(["--keep-rtl", "--python-json", str(report), "--out", str(tmp_path / "other.md")]) == 2
    assert "no '## Python line coverage' section" in capsys.readouterr().err
    with pytest.raises(SystemExit):                 # --keep-rtl rebuilds nothing without a report
        main(["--keep-rtl", "--out", str(out)])
    with pytest.raises(SystemExit):                 # one source of the RTL table, not both
        main(["--keep-rtl", "--rtl-dir", str(tmp_path), "--python-json", str(report), "--out", str(out)])
