"""The stages of one sweep point, run as a Dask task on a worker (hw/sweep.py submits them).

run_point(task, model) runs the stages a point lacks, in order (estimate, sim,
synth, pnr), and returns the point's record; the driver writes it. A
HardwireError (a knob the model refuses, a design that is not bit-exact, a tool
that fails) ends the point with `error` set; any other exception propagates, so
that Dask retries the task. tell() sends what a point does to the driver's
progress display as a Dask event.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hw.errors import HardwireError
from hw.sweep import FAIL_ONCE_ENV, FORMAT, PROGRESS_TOPIC, Point


def load_model(path: str, bits: str | None):
    """The IntModel of one bits setting (quantized here for a float checkpoint)."""
    from hw.flows.board_build import load_int_model

    return load_int_model(Path(path), None, bits)[0]


def run_point(task: dict, model) -> dict:
    """Run the stages a point lacks; returns its record (the prior one with the new stages added).

    A HardwireError (bad knob, refused design, tool error) ends the point with `error` set; any
    other exception propagates, so that Dask retries the task."""
    import time

    _fail_once(task["id"])
    rec = dict(task["prior"] or {})
    rec.update({"format": FORMAT, "id": task["id"], "point": task["point"], "model": task["model"],
                "knobs": task["knobs"]})
    rec.setdefault("stages", {})
    rec.pop("error", None)
    p = Point(**task["point"])
    for stage in task["todo"]:
        t0 = time.monotonic()
        tell(task["id"], stage)
        try:
            result = _STAGE_FUNCS[stage](task, p, model, rec)
        except HardwireError as exc:
            rec["error"] = {"stage": stage, "message": str(exc)}
            break
        result["seconds"] = round(time.monotonic() - t0, 2)
        result["settings"] = task["settings"].get(stage, {})
        rec["stages"][stage] = result
    rec["worker"] = os.uname().nodename
    return rec


def tell(point_id: str, stage: str, detail: str = "") -> None:
    """Send what a point is doing to the driver's progress display (a Dask event; nothing off a worker)."""
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return
    worker.log_event(PROGRESS_TOPIC, {"id": point_id, "stage": stage, "detail": detail})


def _fail_once(point_id: str) -> None:
    """Tests inject a crash: a file named after the point in $HARDWIRE_SWEEP_FAIL_ONCE fails it once."""
    folder = os.environ.get(FAIL_ONCE_ENV)
    if folder:
        flag = Path(folder) / point_id
        try:
            flag.unlink()
        except FileNotFoundError:
            return
        raise RuntimeError(f"injected failure of point {point_id} ({FAIL_ONCE_ENV})")


def _knobs(task: dict, p: Point, model):
    from hw.rtlgen.knobs import Knobs

    k = dict(task["knobs"], lanes=p.lanes, values_per_lane=p.vpl, attention_engines=p.engines)
    k["lora_targets"] = tuple(k["lora_targets"])
    knobs = Knobs(**k).resolved(model["rope_cos"].shape[0])
    knobs.engines(model.config.n_kv_heads, model.config.n_heads)       # a refused engine count ends the point
    return knobs


def _stage_estimate(task: dict, p: Point, model, rec: dict) -> dict:
    from hw.boards import fit_report, get_board
    from hw.flows.open_flow import speed
    from hw.rtlgen.estimate import estimate
    from hw.rtlgen.layout import rom_layout

    board = get_board(p.board)
    knobs = _knobs(task, p, model)
    if p.chips > 1:
        return _chain_estimate(p, model, knobs, board)
    fit = fit_report(model, knobs, board)
    est = estimate(model, rom_layout(model, knobs.lanes, knobs.values_per_lane), knobs)
    return {"fits": fit.fits, "needs": {n.resource: {"need": n.need, "limit": n.limit, "have": n.have}
                                        for n in fit.needs},
            "suggestions": fit.suggestions, "bram_kbits": board.resources.bram_kbits,
            "clock_mhz": board.clock_mhz, "context": knobs.context,
            "attention_engines": est.attention_engines, "macs_per_cycle": knobs.lanes * knobs.values_per_lane,
            "speed": speed(est, knobs.context, board.clock_mhz), "weight_rom_bits": est.weight_rom_bits,
            "rom_bits": est.weight_rom_bits + est.scale_rom_bits + est.table_bits,
            "mac_multipliers": est.mac_multipliers, "model_fingerprint": model.fingerprint}


def _chain_estimate(p: Point, model, knobs, board) -> dict:
    """The estimate stage of a chain: the split, each chip's fit (the record's needs: the largest chip's),
    the chain's cycles per token (hw/rtlgen/chain.py) at the board clock, ROM summed over the chips."""
    from hw.boards import fit_report
    from hw.flows.open_flow import speed
    from hw.rtlgen.chain import chain_estimate, chip_model, split_layers
    from hw.rtlgen.estimate import estimate
    from hw.rtlgen.layout import rom_layout

    chain_est = chain_estimate(model, knobs, p.chips)
    ranges = split_layers(model, knobs, p.chips, chain_est)
    parts = [chip_model(model, ranges, k) for k in range(p.chips)]
    fits = [fit_report(part, knobs, board) for part in parts]
    ests = [estimate(part, rom_layout(part, knobs.lanes, knobs.values_per_lane), knobs) for part in parts]
    needs = {}
    for fit in fits:
        for n in fit.needs:
            if n.resource not in needs or n.need > needs[n.resource]["need"]:
                needs[n.resource] = {"need": n.need, "limit": n.limit, "have": n.have}
    return {"fits": all(f.fits for f in fits), "needs": needs, "chips": p.chips,
            "layers": [[r.start, r.stop] for r in ranges],
            "suggestions": sorted({s for f in fits for s in f.suggestions}), "bram_kbits": board.resources.bram_kbits,
            "clock_mhz": board.clock_mhz, "context": knobs.context, "attention_engines": ests[0].attention_engines,
            "macs_per_cycle": knobs.lanes * knobs.values_per_lane,
            "speed": speed(chain_est, knobs.context, board.clock_mhz),
            "weight_rom_bits": sum(e.weight_rom_bits for e in ests),
            "rom_bits": sum(e.weight_rom_bits + e.scale_rom_bits + e.table_bits for e in ests),
            "mac_multipliers": sum(e.mac_multipliers for e in ests), "model_fingerprint": model.fingerprint}


def _skip(task: dict, rec: dict) -> str | None:
    """Why a costly stage does not run on this point (it does not fit its board), or None."""
    est = rec["stages"]["estimate"]
    if est["fits"] or task["force"]:
        return None
    over = ", ".join(f"{r} {n['need']:,} > {n['limit']:,}" for r, n in est["needs"].items() if n["need"] > n["limit"])
    return f"does not fit {task['point']['board']} ({over}); --force runs it anyway"


def _design_dir(task: dict, p: Point, *parts: str) -> Path:
    """OUT/designs/<design>: one generated design per model and knobs, shared by the boards' points."""
    doc = {"model": task["model"]["digest"], "bits": p.bits, "knobs": task["knobs"], "lanes": p.lanes,
           "vpl": p.vpl, "engines": p.engines, **({"chips": p.chips} if p.chips > 1 else {})}
    key = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
    return Path(task["out"], "designs", key, *parts)


def _stage_sim(task: dict, p: Point, model, rec: dict) -> dict:
    from hw.bench import bench_setting
    from hw.tools import file_lock

    why = _skip(task, rec)
    if why:
        return {"skipped": why}
    knobs = _knobs(task, p, model)
    root = _design_dir(task, p)
    est = rec["stages"]["estimate"]
    if p.chips > 1:
        from hw.bench import bench_chain
        with file_lock(root / "sim.lock"):
            r = bench_chain(model, knobs, p.chips, task["sim_tokens"], est["clock_mhz"], root)
        return {k: r[k] for k in ("chips", "tokens", "mean_cycles", "mean_estimate", "matches_golden",
                                  "tokens_per_s_sim", "tokens_per_s_verilator", "build_seconds")}
    with file_lock(root / "sim.lock"):        # the points of other boards share this design
        r = bench_setting(model, "sim", knobs.lanes, knobs.values_per_lane, task["sim_tokens"] or knobs.context,
                          est["clock_mhz"], root, check=True, knobs=knobs)
    keep = ("tokens", "mean_cycles", "mean_estimate", "total_ratio", "matches_golden", "tokens_per_s_sim",
            "tokens_per_s_verilator", "build_seconds")
    return {k: r[k] for k in keep}


def _point_build(task: dict, p: Point, model) -> tuple[list[Path], object]:
    """The point's build folders (each with its board top and tool outputs), with the design generated:
    one, or for a chain one per chip (chip<k>/ of the chain folder, the chain's board top)."""
    from hw.boards import get_board
    from hw.flows.open_flow import write_board_top
    from hw.rtlgen.generate import generate

    root = Path(task["out"], "builds", task["id"])
    board = get_board(p.board)
    dirs = [root / f"chip{k}" for k in range(p.chips)] if p.chips > 1 else [root]
    if not all((d / "board_top.v").is_file() for d in dirs):
        if p.chips > 1:
            from hw.rtlgen.chain import generate_chain
            generate_chain(model, root, _knobs(task, p, model), p.chips)
        else:
            generate(model, root, _knobs(task, p, model))
        for d in dirs:
            write_board_top(d, board)
    return dirs, board


def _largest(per_chip: list[dict]) -> dict:
    """Per key, the largest chip's value (a chain's chips are separate boards: each must fit one)."""
    return {k: max(c.get(k, 0) for c in per_chip) for k in per_chip[0]}


def _stage_synth(task: dict, p: Point, model, rec: dict) -> dict:
    from hw.flows.open_flow import synth

    why = _skip(task, rec)
    if why:
        return {"skipped": why}
    dirs, board = _point_build(task, p, model)
    cells = [synth(d, board) for d in dirs]
    if p.chips == 1:
        return {"cells": cells[0], "log": str(dirs[0] / "synth.log")}
    return {"cells": _largest(cells), "chips": [{"cells": c, "log": str(d / "synth.log")} for c, d in zip(cells, dirs)]}


def _stage_pnr(task: dict, p: Point, model, rec: dict) -> dict:
    from hw.flows.open_flow import fmax_mhz, pnr, synth, utilisation

    why = _skip(task, rec)
    if why:
        return {"skipped": why}
    dirs, board = _point_build(task, p, model)
    from hw.progress import pnr_progress

    chips = []
    for k, d in enumerate(dirs):
        if not (d / "synth.json").is_file():         # synthesized on another machine of the cluster
            synth(d, board)
        said = []
        where = f"chip {k}: " if p.chips > 1 else ""

        def on_log(text: str) -> None:          # nextpnr's progress to the driver's display
            now = getattr(pnr_progress(text), "text", None)
            if now and now not in said[-1:]:
                said.append(now)
                tell(task["id"], "pnr", where + now)

        # one seed per point: the sweep's seeds are the knob, a stalled router2 is this point's result
        report = pnr(d, board, seed=p.seed, router=task["router"], tries=1, log=lambda s: None, on_log=on_log)
        fmax = fmax_mhz(report)
        chips.append({"fmax_mhz": round(fmax, 2), "timing_met": fmax >= board.clock_mhz,
                      "utilisation": utilisation(report, board), "log": str(d / "pnr.log")})
    if p.chips == 1:
        return chips[0]
    # the chain runs at its slowest chip's clock; each chip is its own board: the largest chip's use
    util = {k: {"used": max(c["utilisation"][k]["used"] for c in chips),
                "available": chips[0]["utilisation"][k]["available"]} for k in chips[0]["utilisation"]}
    return {"fmax_mhz": min(c["fmax_mhz"] for c in chips), "timing_met": all(c["timing_met"] for c in chips),
            "utilisation": util, "chips": chips}


_STAGE_FUNCS = {"estimate": _stage_estimate, "sim": _stage_sim, "synth": _stage_synth, "pnr": _stage_pnr}
