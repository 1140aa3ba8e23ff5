"""`make fuzz`: a coverage-guided campaign (atheris, i.e. libFuzzer over Python bytecode
coverage of hw/ and host/) with the structure-aware mutators of mutators.py, over every
target of targets.py.

    python -m testbench.fuzz.campaign all --cases 1000000 --max-time 3600   # the campaign
    python -m testbench.fuzz.campaign one TARGET [libFuzzer args...]        # one target (internal)

`all` runs one libFuzzer process per target in turn (cases split evenly); a case over 5 s of
CPU is a hang and fails the campaign (targets.run_case; libFuzzer's wall-clock -timeout=60
catches a case that never returns), starting from the committed
corpus tests/fuzz_corpus/<target>/ and the valid seed files. An escape (an error other
than the loader's own) or a memory blow-up is a crash: libFuzzer stops and leaves the input
in build/fuzz/<target>/. libFuzzer keeps the inputs that add coverage in build/fuzz/<target>/corpus/;
`--update-corpus` copies the smallest of them into tests/fuzz_corpus/.
Results: build/fuzz/results.json and the table printed (docs/fuzz.md keeps the figures).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WORK = REPO_ROOT / "build" / "fuzz"
WATCHDOG_S = 60           # wall seconds before libFuzzer stops a case (a loop that never ends);
                          # the 5 s limit itself is CPU time, checked per case in targets.run_case
CORPUS_KEEP = 48          # committed inputs per format at most (the smallest that add coverage)
CORPUS_MAX_LEN = 8192     # bytes per committed input


def one(target_name: str, libfuzzer_args: list[str]) -> None:
    """Fuzz one target in this process (never returns: libFuzzer exits)."""
    import atheris
    with atheris.instrument_imports(include=["hw", "host"]):
        from testbench.fuzz import mutators, targets
    target = targets.TARGETS[target_name]
    fmt = targets.CORPUS_OF.get(target_name, target_name)
    shutil.rmtree(WORK / target_name / "workspace", ignore_errors=True)
    ws = targets.Workspace.create(WORK / target_name / "workspace")
    targets.ensure_tracing()

    def test_one(data: bytes) -> None:
        targets.run_case(ws, target, data)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        return mutators.mutate(fmt, data, max_size, seed, atheris.Mutate)

    atheris.Setup([sys.argv[0], *libfuzzer_args], test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()


def _prepare(target_name: str) -> tuple[Path, Path, Path]:
    """(working corpus, seed folder, artifact folder) of a target, seeds written."""
    from testbench.fuzz import targets
    base = WORK / target_name
    corpus, seeds, artifacts = base / "corpus", base / "seeds", base / "artifacts"
    for d in (corpus, seeds, artifacts):
        d.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(base / "workspace", ignore_errors=True)
    fmt = targets.CORPUS_OF.get(target_name, target_name)
    ws = targets.Workspace.create(base / "workspace")
    for data in ws.seeds()[fmt]:
        (seeds / ("seed-" + hashlib.sha1(data).hexdigest())).write_bytes(data)
    committed = targets.corpus_dir(target_name)
    if committed.is_dir():
        for f in committed.iterdir():
            shutil.copy(f, seeds / f.name)
    shutil.rmtree(base / "workspace", ignore_errors=True)
    return corpus, seeds, artifacts


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT = re.compile(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED).*?cov: (\d+)(?: ft: (\d+))?")


def run_target(target_name: str, runs: int, max_time: int, log: Path) -> dict:
    corpus, seeds, artifacts = _prepare(target_name)
    cmd = [sys.executable, "-m", "testbench.fuzz.campaign", "one", target_name,
           f"-runs={runs}", f"-max_total_time={max_time}", f"-timeout={WATCHDOG_S}",
           "-rss_limit_mb=4096", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
           f"-max_len={CORPUS_MAX_LEN * 4}", str(corpus), str(seeds)]
    t0 = time.monotonic()
    with open(log, "w") as f:
        res = subprocess.run(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT,
                             env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    wall = time.monotonic() - t0
    text = log.read_text(errors="replace")
    done = _DONE.findall(text)
    stats = _STAT.findall(text)
    cases = int(done[-1][0]) if done else (int(stats[-1][0]) if stats else 0)
    # crash-, timeout-, oom- files are failures; slow-unit- files (over 10 s of wall time, which a
    # starved process on a loaded machine reaches) are not: run_case's CPU limit judges those
    crashes = sorted(p.name for p in artifacts.iterdir() if not p.name.startswith("slow-unit-"))
    slow = sorted(p.name for p in artifacts.iterdir() if p.name.startswith("slow-unit-"))
    return {"target": target_name, "cases": cases, "wall_s": round(wall, 1),
            "cases_per_s": round(cases / wall, 1) if wall else 0.0,
            "coverage": int(stats[-1][1]) if stats else 0, "corpus": len(list(corpus.iterdir())),
            "rc": res.returncode, "artifacts": crashes, "slow_wall": slow,
            "hang": any(a.startswith("timeout-") for a in crashes) or "LoaderHang" in text,
            "escape": "LoaderEscape" in text, "memory": "MemoryBlowup" in text, "log": str(log)}


def update_corpus(target_name: str) -> int:
    """Copy the smallest inputs of the working corpus (each one added coverage when libFuzzer
    kept it) into tests/fuzz_corpus/<format>/, CORPUS_KEEP at most, none over CORPUS_MAX_LEN."""
    from testbench.fuzz import targets
    if target_name in targets.CORPUS_OF:
        return 0
    found = [p for p in (WORK / target_name / "corpus").iterdir() if p.stat().st_size <= CORPUS_MAX_LEN]
    keep = sorted(found, key=lambda p: (p.stat().st_size, p.name))[:CORPUS_KEEP]
    out = targets.corpus_dir(target_name)
    out.mkdir(parents=True, exist_ok=True)
    for p in keep:
        shutil.copy(p, out / hashlib.sha1(p.read_bytes()).hexdigest()[:16])
    return len(keep)


def campaign(cases: int, max_time: int, names: list[str], update: bool, jobs: int = 1,
             split: str = "cases") -> int:
    """split "cases": each target gets an equal share of `cases` (and of the time); "time": each
    target fuzzes for its share of the time, as many cases as it can (the loaders' rates differ
    ~10x, so equal shares leave the fast ones idle), and the total is compared with `cases`."""
    from testbench.fuzz import targets
    WORK.mkdir(parents=True, exist_ok=True)
    names = names or list(targets.TARGETS)
    per = -(-cases // len(names)) if split == "cases" else -1      # -runs=-1: until the time is up
    per_time = max(1, max_time * jobs // len(names))

    def fuzz(name: str) -> dict:
        return run_target(name, per, per_time, WORK / f"{name}.log")

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:    # one libFuzzer process per worker
        results = list(pool.map(fuzz, names))
    wall = time.monotonic() - t0
    for r in results:
        name = r["target"]
        print(f"{name:20s} {r['cases']:>9,} cases {r['wall_s']:>7.0f} s {r['cases_per_s']:>8.0f}/s "
              f"cov {r['coverage']:>5} corpus {r['corpus']:>5} rc {r['rc']} "
              f"{'HANG ' if r['hang'] else ''}{'ESCAPE ' if r['escape'] else ''}"
              f"{'MEMORY ' if r['memory'] else ''}{' '.join(r['artifacts'])}", flush=True)
        if update:
            update_corpus(name)
    total = sum(r["cases"] for r in results)
    bad = [r for r in results if r["rc"] != 0 or r["artifacts"]]
    summary = {"cases": total, "wall_s": round(wall, 1), "cases_per_s": round(total / max(wall, 1e-9), 1),
               "requested": cases, "split": split, "jobs": jobs, "failures": len(bad), "targets": results}
    (WORK / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"fuzz: {total:,} cases in {wall:.0f} s ({summary['cases_per_s']:.0f}/s), "
          f"{len(bad)} target(s) with an escape, hang or memory blow-up; details {WORK / 'results.json'}")
    if total < cases:
        print(f"fuzz: {total:,} of the {cases:,} cases asked for ran in --max-time {max_time} s; "
              f"give it more time (FUZZ_TIME) or jobs (FUZZ_JOBS)")
    return 1 if bad or total < cases else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["one"] and len(argv) >= 2:
        one(argv[1], argv[2:])
    ap = argparse.ArgumentParser(prog="python -m testbench.fuzz.campaign")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("all", help="the campaign over every target")
    a.add_argument("--cases", type=int, default=1_000_000, help="cases over all targets (default 10^6)")
    a.add_argument("--max-time", type=int, default=3600, help="seconds over all targets (default 3600)")
    a.add_argument("--target", action="append", default=[], help="only these targets")
    a.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once (default 1)")
    a.add_argument("--update-corpus", action="store_true", help="refresh tests/fuzz_corpus/")
    a.add_argument("--split", choices=("cases", "time"), default="cases",
                   help="cases: an equal share of --cases per target; time: an equal share of --max-time, "
                        "as many cases as each target runs in it (default cases)")
    args = ap.parse_args(argv)
    return campaign(args.cases, args.max_time, args.target, args.update_corpus, args.jobs, args.split)


if __name__ == "__main__":
    sys.exit(main())
