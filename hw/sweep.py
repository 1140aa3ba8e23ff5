"""`hardwire sweep`: a grid of builds run as tasks on Dask distributed, with results that survive.

A sweep takes lists of knobs (boards, weight bits, lanes, values per lane,
attention engines, place-and-route seeds) and runs each point of their product
through the chosen stages:

    estimate  fit check and cycle/resource estimate (hw/boards.py, hw/rtlgen/estimate.py): milliseconds
    sim       cycles/token measured in Verilator, tokens checked against the golden model (hw/bench.py)
    synth     Yosys synthesis for the point's board (hw/flows/open_flow.py)
    pnr       nextpnr place and route with the point's seed: Fmax and utilisation (no bitstream is packed)

Each point is one Dask task (a LocalCluster by default, an existing scheduler with
--scheduler tcp://host:port), retried on a crash or an unexpected exception
(`retries=`); a bad input (a knob the model refuses, a design that is not
bit-exact) is recorded as the point's error and not retried. The driver writes
OUT/points/<id>.json as each point finishes, so a crashed driver loses only the
points still running, and a second run over the same folder runs only the stages
that a point lacks. Stages past `estimate` run only on points that fit their
board (--force: on all). The stages are hw/sweep_stages.py, the table and the
Pareto plots hw/sweep_report.py; docs/sweep.md says what each stage costs.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import os
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from hw.errors import HardwireError

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("estimate", "sim", "synth", "pnr")
FORMAT = "hardwire-sweep-point"
PROGRESS_TOPIC = "hardwire-sweep-progress"      # Dask event topic: the stage (and nextpnr's progress) of a point
FAIL_ONCE_ENV = "HARDWIRE_SWEEP_FAIL_ONCE"      # tests: a folder of <point id> files, each fails its task once


class SweepError(HardwireError):
    """A sweep cannot run as asked (the message says what to change)."""


@dataclass(frozen=True)
class Point:
    board: str
    bits: str | None        # weight bits for a float checkpoint (hardwire quantize --bits), None: as given
    lanes: int
    vpl: int
    engines: int            # attention engines (0: one per kv head)
    seed: int               # nextpnr placement seed (pnr stage)
    chips: int = 1          # the model split over a chain of this many chips (docs/chain.md)

    def label(self) -> str:
        bits = f" bits {self.bits}" if self.bits else ""
        chips = f" over {self.chips} chips" if self.chips > 1 else ""
        return f"{self.board} {self.lanes}x{self.vpl} e{self.engines} seed {self.seed}{bits}{chips}"


@dataclass(frozen=True)
class Sweep:
    model: str              # the model path as given
    model_digest: str       # sha256 of its bytes: a changed model is a new set of points
    points: tuple[Point, ...]
    knobs: object           # hw.rtlgen.knobs.Knobs: the knobs that are not swept
    stages: tuple[str, ...]
    sim_tokens: int         # 0: the whole context
    router: str
    force: bool = False     # run the costly stages also on points that do not fit

    def point_id(self, p: Point) -> str:
        """What a point's design depends on, hashed; stages add up under one id, each stage's own
        settings (settings()) are kept in its result."""
        point = asdict(p)
        if p.chips == 1:
            del point["chips"]          # the ids of sweeps before the chips knob stay
        doc = {"model": self.model_digest, "point": point, "knobs": self.knobs.to_json()}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]

    def settings(self) -> dict[str, dict]:
        """The settings of each stage: a stage run with others runs again."""
        return {"sim": {"tokens": self.sim_tokens}, "pnr": {"router": self.router}}


# ---------------------------------------------------------------- the grid

def parse_ints(text: str, what: str, low: int = 0) -> list[int]:
    try:
        vals = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise SweepError(f"--{what} {text!r}: give a comma-separated list of integers, e.g. 4,8,16") from None
    if not vals or min(vals) < low:
        raise SweepError(f"--{what} {text!r}: give integers >= {low}, e.g. --{what} 4,8")
    return sorted(set(vals))


def parse_stages(text: str) -> tuple[str, ...]:
    """'sim,pnr' -> ('estimate', 'sim', 'synth', 'pnr'): estimate always, synth under pnr."""
    asked = {s.strip() for s in text.split(",") if s.strip()}
    bad = asked - set(STAGES)
    if bad:
        raise SweepError(f"--stages: unknown stage(s) {', '.join(sorted(bad))}; choose from {', '.join(STAGES)}")
    asked |= {"estimate"} | ({"synth"} if "pnr" in asked else set())
    return tuple(s for s in STAGES if s in asked)


def model_digest(path: Path) -> str:
    """sha256 of a model file, or of a model folder's files (name and bytes)."""
    if not path.exists():
        raise SweepError(f"{path}: no such model; pass --model CHECKPOINT.bin | MODEL.npz | HF_FOLDER")
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f"\0{f.relative_to(path) if path.is_dir() else f.name}\0".encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def make_sweep(model: Path, boards: list[str], lanes: list[int], vpl: list[int], engines: list[int],
               seeds: list[int], bits: list[str] | None, knobs, stages: tuple[str, ...], sim_tokens: int = 0,
               router: str | None = None, force: bool = False, chips: list[int] = (1,)) -> Sweep:
    """The grid, checked before any task starts."""
    from hw.boards import get_board
    from hw.flows.open_flow import DEFAULT_ROUTER

    for name in boards:
        board = get_board(name)
        if {"synth", "pnr"} & set(stages) and not board.open_flow:
            raise SweepError(f"--boards {name}: {board.family} is built by Vivado, which a sweep does not run; "
                             "drop the synth/pnr stages for it or sweep it with --stages estimate,sim")
    if len(seeds) > 1 and "pnr" not in stages:
        raise SweepError(f"--seeds {','.join(map(str, seeds))}: seeds only change place and route; add pnr to "
                         "--stages or give one seed")
    if bits and Path(model).suffix == ".npz":
        raise SweepError(f"--bits: {model} is already quantized; --bits applies to a float checkpoint "
                         "(pass the checkpoint, or drop --bits)")
    if sim_tokens < 0:
        raise SweepError(f"--sim-tokens {sim_tokens}: give a token count >= 1, or 0 for the whole context")
    points = tuple(Point(b, q, ln, v, e, s, c) for b, q, ln, v, e, s, c
                   in itertools.product(boards, bits or [None], lanes, vpl, engines, seeds, chips))
    for p in points:        # the knob ranges (not the model's limits: those are checked per point)
        replace(knobs, lanes=p.lanes, values_per_lane=p.vpl, attention_engines=p.engines)
    return Sweep(str(model), model_digest(Path(model)), points, knobs, stages, sim_tokens,
                 router or DEFAULT_ROUTER, force)


# ---------------------------------------------------------------- the driver

def points_dir(out: Path) -> Path:
    return Path(out) / "points"


def read_point(out: Path, point_id: str) -> dict | None:
    path = points_dir(out) / f"{point_id}.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None                 # a torn write of a crashed driver: the point runs again
    return doc if doc.get("format") == FORMAT and doc.get("id") == point_id else None


def write_point(out: Path, rec: dict) -> Path:
    """OUT/points/<id>.json, written whole (a temporary file renamed over it)."""
    folder = points_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rec['id']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def missing_stages(rec: dict | None, sweep: Sweep) -> list[str]:
    """The stages of the sweep that the record lacks, or ran with other settings."""
    done, settings = (rec or {}).get("stages", {}), sweep.settings()
    return [s for s in sweep.stages if s not in done or done[s].get("settings", {}) != settings.get(s, {})]


@contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A Client of the scheduler at `scheduler`, or of a LocalCluster with `workers` processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"--scheduler {scheduler}: no Dask scheduler answers there ({exc}); start one "
                             "(`dask scheduler`, then `dask worker ADDRESS` on each machine) or leave "
                             "--scheduler out for a local cluster") from None
        with client:
            yield client
        return
    n = workers or max(1, os.cpu_count() or 1)
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        yield client


def run_sweep(sweep: Sweep, out: Path, scheduler: str | None = None, workers: int | None = None,
              retries: int = 2, log=print, interactive: bool | None = None) -> dict:
    """Run the points that lack a stage; write each as it finishes, then the table and the plots.

    Returns {"records": [...] in grid order, "ran": ids run now, "reused": ids already done,
    "failed": ids with an error, "files": the table and plot paths}."""
    from hw.progress import CountProgress
    from hw.sweep_report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = [sweep.point_id(p) for p in sweep.points]
    prior = {i: read_point(out, i) for i in ids}
    todo = [(i, p) for i, p in zip(ids, sweep.points) if missing_stages(prior[i], sweep)]
    (out / "sweep.json").write_text(json.dumps(
        {"model": sweep.model, "model_digest": sweep.model_digest, "knobs": sweep.knobs.to_json(),
         "stages": list(sweep.stages), "sim_tokens": sweep.sim_tokens, "router": sweep.router,
         "points": [dict(asdict(p), id=i) for i, p in zip(ids, sweep.points)]}, indent=1) + "\n")
    records = {i: r for i, r in prior.items() if r is not None}
    failed = []
    with CountProgress(len(ids), "sweep", log=log, interactive=interactive) as prog:
        ran = {i for i, _ in todo}
        for i, p in zip(ids, sweep.points):
            if i not in ran:
                prog.done(f"{p.label()}: reused ({summary(records[i])})")
        if todo:
            with dask_client(scheduler, workers) as client:
                _submit_and_collect(client, sweep, out, todo, prior, records, failed, retries, prog)
    # the table covers every point of the folder: a later sweep over part of the grid adds to it
    others = sorted(f.stem for f in points_dir(out).glob("*.json") if f.stem not in records)
    extra = [r for r in (read_point(out, i) for i in others) if r is not None]
    files = write_report([records[i] for i in ids if i in records] + extra, out)
    ran = [i for i, _ in todo]
    return {"records": [records.get(i) for i in ids], "ran": ran, "reused": [i for i in ids if i not in ran],
            "failed": failed, "files": files}


def make_task(sweep: Sweep, point_id: str, p: Point, prior: dict | None, out: Path) -> dict:
    """What a worker needs to run one point (hw/sweep_stages.run_point): plain JSON-able data."""
    return {"id": point_id, "point": asdict(p), "model": {"path": sweep.model, "digest": sweep.model_digest},
            "knobs": sweep.knobs.to_json(), "todo": missing_stages(prior, sweep), "prior": prior,
            "out": str(out.resolve()), "sim_tokens": sweep.sim_tokens, "router": sweep.router,
            "force": sweep.force, "settings": sweep.settings()}


def _submit_and_collect(client, sweep: Sweep, out: Path, todo, prior, records, failed, retries, prog) -> None:
    from dask.distributed import as_completed

    from hw.sweep_stages import load_model, run_point

    # keys unique to this run: a scheduler that still holds an earlier run's result of a key would
    # hand it back instead of running the task
    run = uuid.uuid4().hex[:8]
    models = {bits: client.submit(load_model, sweep.model, bits, key=f"model-{bits or 'as-given'}-{run}",
                                  retries=retries, pure=False)
              for bits in sorted({p.bits for _, p in todo}, key=str)}
    futures = {}
    for i, p in todo:
        task = make_task(sweep, i, p, prior[i], out)
        fut = client.submit(run_point, task, models[p.bits], key=f"point-{i}-{run}", retries=retries, pure=False)
        futures[fut] = (i, p, task)
    prog.running(len(futures))
    labels = {i: p.label() for _, (i, p, _) in futures.items()}

    def heard(event) -> None:               # runs on the client's event loop: just set the display's text
        msg = event[1]
        prog.note(f"{labels.get(msg['id'], msg['id'])}: {msg['stage']}"
                  + (f", {msg['detail']}" if msg["detail"] else ""))

    client.subscribe_topic(PROGRESS_TOPIC, heard)
    for fut in as_completed(list(futures)):
        i, p, task = futures.pop(fut)
        try:
            rec = fut.result()
        except Exception as exc:            # retries spent: the record says why; the next run tries again
            rec = dict(task["prior"] or {}, format=FORMAT, id=i, point=task["point"], model=task["model"],
                       knobs=task["knobs"], error={"stage": "task", "message": f"{type(exc).__name__}: {exc}"})
            rec.setdefault("stages", {})
        write_point(out, rec)
        records[i] = rec
        if rec.get("error"):
            failed.append(i)
        prog.running(len(futures))
        prog.done(f"{p.label()}: {summary(rec)}", failed=bool(rec.get("error")))


def summary(rec: dict) -> str:
    """One line per point for the progress display."""
    st = rec.get("stages", {})
    parts = []
    est = st.get("estimate")
    if est:
        parts.append(("fits" if est["fits"] else "does not fit")
                     + f", {est['speed']['cycles_mean']:,.0f} cycles/token (estimate)")
    sim = st.get("sim")
    if sim and "skipped" not in sim:
        parts.append(f"sim {sim['mean_cycles']:,.0f} cycles/token"
                     + ("" if sim["matches_golden"] else " NOT bit-exact"))
    if "synth" in st and "skipped" not in st["synth"]:
        parts.append("synthesized")
    pnr = st.get("pnr")
    if pnr and "skipped" not in pnr:
        parts.append(f"Fmax {pnr['fmax_mhz']:.1f} MHz")
    if rec.get("error"):
        parts.append(f"ERROR in {rec['error']['stage']}: {rec['error']['message'].splitlines()[0][:200]}")
    return "; ".join(parts) or "no results"


# ---------------------------------------------------------------- command line

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="checkpoint (quantized per --bits) or integer model .npz "
                                              "(default: models/default/model.bin)")
    p.add_argument("--out", type=Path, help="the sweep's folder (default build/sweep/); a second run "
                                            "over it reuses the finished points")
    p.add_argument("--boards", default="ulx3s-85f", help="comma-separated boards (default ulx3s-85f)")
    p.add_argument("--bits", action="append", metavar="BITS",
                   help="weight bits of a float checkpoint as `hardwire quantize --bits` takes them; "
                        "repeat for several (default: the checkpoint's default quantization)")
    p.add_argument("--lanes", default="16", help="comma-separated lane counts (default 16)")
    p.add_argument("--vpl", default="4", help="comma-separated values per lane (default 4)")
    p.add_argument("--attention-engines", default="0", help="comma-separated attention engine counts "
                                                            "(default 0: one per kv head)")
    p.add_argument("--seeds", default="1", help="comma-separated nextpnr seeds (pnr stage; default 1)")
    p.add_argument("--chips", default="1", help="comma-separated chip counts: the model split over a chain "
                                                "(docs/chain.md; estimate and sim stages; default 1)")
    p.add_argument("--stages", default="estimate",
                   help=f"comma-separated, from {', '.join(STAGES)} (default estimate; estimate always runs, "
                        "pnr brings synth)")
    p.add_argument("--sim-tokens", type=int, default=16,
                   help="tokens generated from BOS in the sim stage (default 16; 0: the whole context)")
    p.add_argument("--router", choices=("router1", "router2"), help="nextpnr router (default router1)")
    p.add_argument("--force", action="store_true", help="run sim/synth/pnr also on points that do not fit")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="an existing Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local cluster worker processes (default: the CPU count)")
    p.add_argument("--retries", type=int, default=2, help="reruns of a crashed task (default 2)")
    # the knobs that are not swept, with `hardwire build`'s defaults
    p.add_argument("--context", type=int, help="KV cache positions (default: the model's)")
    p.add_argument("--k-max", type=int, default=16, help="top-k sampler capacity")
    p.add_argument("--macs", choices=("dsp", "lut"), default="lut", help="lane MACs (default lut, as build)")
    p.add_argument("--norm-width", type=int, default=0, choices=(0, 1, 2, 4, 8, 16))
    p.add_argument("--lora-rank", type=int, default=0)
    p.add_argument("--lora-targets", help="comma-separated projections, e.g. wq,wv")
    p.add_argument("--debug-vectors", choices=("on", "off"), default="off",
                   help="debug window reads of the vector buffers (default off, as build)")


def cli_sweep(args: argparse.Namespace, log=print) -> dict:
    from hw.flows.board_build import default_model
    from hw.rtlgen.knobs import Knobs

    if args.retries < 0:
        raise SweepError(f"--retries {args.retries}: give 0 or more")
    if args.workers is not None and args.workers < 1:
        raise SweepError(f"--workers {args.workers}: give 1 or more")
    if args.workers is not None and args.scheduler:
        raise SweepError("--workers sizes the local cluster; with --scheduler the cluster's own workers run "
                         "the points: drop one of them")
    targets = tuple(t.strip() for t in (args.lora_targets or "").split(",") if t.strip())
    knobs = Knobs(context=args.context, k_max=args.k_max, lora_rank=args.lora_rank, lora_targets=targets,
                  debug_vectors=args.debug_vectors == "on", macs=args.macs, norm_width=args.norm_width)
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    if not boards:
        raise SweepError("--boards: name at least one board (hardwire build --list-boards)")
    sweep = make_sweep(args.model or default_model(), boards, parse_ints(args.lanes, "lanes", 1),
                       parse_ints(args.vpl, "vpl", 1), parse_ints(args.attention_engines, "attention-engines"),
                       parse_ints(args.seeds, "seeds", 1), args.bits, knobs, parse_stages(args.stages),
                       args.sim_tokens, args.router, args.force, parse_ints(args.chips, "chips", 1))
    out = args.out or REPO_ROOT / "build" / "sweep"
    res = run_sweep(sweep, out, args.scheduler, args.workers, args.retries, log=log)
    log(f"{len(res['ran'])} point(s) run, {len(res['reused'])} reused, {len(res['failed'])} with an error; "
        + ", ".join(str(f) for f in res["files"]))
    if res["failed"]:
        raise SweepError(f"{len(res['failed'])} point(s) ended with an error (their JSON in {points_dir(out)} "
                         "says why); run the sweep again to retry them")
    return res
