"""`hardwire bench`: cycles per token of the generated hardware, measured in Verilator.

For each model and lane setting: generate the design (LUT MACs and one
attention engine per kv head, as `hardwire build` makes it), build its
Verilator simulation once (hw/sim/build.py caches it), run a greedy generation
from BOS over the whole context (or --tokens) and read CYCLES_LAST_TOKEN after
every token (docs/register_map.md). Each position is compared with

    ideal(p) = ceil(weight MACs / (LANES * VPL)) + L * (NH / E + 1) * ceil((p + 1) / P)

the matrix work at LANES*VPL MACs per cycle plus the attention work of E
engines, each with a score stage and a value stage that do P positions' full
head_dim-wide dot products per cycle (the keys of the first head, then each
head's values while the next head's keys stream: NH / E + 1 passes of
ceil((p + 1) / P) cycles per layer), and with hw/rtlgen/estimate.py's cycle model. The
report (JSON) holds, per setting, every position's cycles, ideal, ratio and
estimate, the means over the first 64 and 256 tokens and over all of them,
the tokens/s at the clock of the committed routed bitstream (or --clock-mhz)
and the Verilator wall-clock tokens/s.

    python -m hw.bench [--models default,stories260K] [--settings 8x4,16x4,32x4,16x16q,16x16qp4]
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path
from typing import NamedTuple

from hw.errors import HardwireError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "docs" / "bench" / "results.json"
DEFAULT_TABLE = REPO_ROOT / "docs" / "bench.md"
NOTES_NAME = "notes.md"     # beside the results: appended to the table (docs/bench/notes.md)
BUILD_ROOT = REPO_ROOT / "build" / "bench"
SHARED_MODELS = REPO_ROOT.parent / "shared" / "models"
MODELS = {"default": REPO_ROOT / "models" / "default" / "model.bin",
          "stories260K": SHARED_MODELS / "stories260K.bin"}
FIT_BOARD = "ulx3s-85f"   # each setting's fit is checked on the board of the committed bitstream
PER_QUERY_HEAD = -1     # a setting's engines: one per query head (the engines of a kv head share its bank)


class Setting(NamedTuple):
    """One lane setting of the bench (its name: setting_name)."""
    lanes: int
    vpl: int
    engines: int = 0            # 0: one per kv head; PER_QUERY_HEAD: one per query head
    positions: int = 1          # KV cache positions per cycle of each engine
    dsp_values: int = 0         # values a lane on DSP multipliers (--dsp-values)
    norm_width: int = 0         # rmsnorm elements per cycle (--norm-width; 0: automatic)


SETTINGS = (Setting(16, 4), Setting(16, 8), Setting(16, 16), Setting(16, 16, positions=2),
            Setting(16, 16, positions=4), Setting(16, 16, PER_QUERY_HEAD), Setting(16, 16, PER_QUERY_HEAD, 4))
SETTING_RE = re.compile(r"(\d+)x(\d+)(q?)(?:p(\d+))?(?:d(\d+))?(?:n(\d+))?")
BOS = 1
TOKENS = 0              # 0: the whole context of each model
WINDOWS = (64, 256)     # mean cycles over the first N tokens, besides the mean over all
COMMITTED_MANIFEST = REPO_ROOT / "bitstreams" / "ulx3s-85f" / "manifest.json"
FALLBACK_CLOCK_MHZ = 40.0


def routed_clock_mhz() -> float:
    """The design clock of the committed ECP5 bitstream (routed, timing met), else 40 MHz."""
    try:
        return float(json.loads(COMMITTED_MANIFEST.read_text())["clock_mhz"])
    except (OSError, ValueError, KeyError, TypeError):
        return FALLBACK_CLOCK_MHZ


class BenchError(HardwireError):
    """The benchmark could not run (a missing model, a bad setting, a failed simulation)."""


def parse_settings(text: str) -> list[Setting]:
    """'8x4,16x16qp4,16x16d6n4' -> [Setting(8, 4), Setting(16, 16, PER_QUERY_HEAD, 4), Setting(16, 16,
    dsp_values=6, norm_width=4)]: lanes x values per lane, the attention engines (0: one per kv head; a q:
    one per query head), the KV cache positions each engine takes per cycle (pN, default 1), the values
    of each lane on DSP multipliers (dN, --dsp-values, default 0) and the rmsnorm's elements per cycle
    (nN, --norm-width, default automatic)."""
    out = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        m = SETTING_RE.fullmatch(part.lower())
        if not m:
            raise BenchError(f"lane setting {part!r} is not LANESxVPL (e.g. 16x4), with an optional q (one "
                             "attention engine per query head), pN (N KV cache positions per cycle), dN "
                             "(N values a lane on DSP multipliers) and nN (rmsnorm width), e.g. 16x16qp4 or "
                             "16x16d6n4")
        lanes, vpl, q, pos, dsp, norm = m.groups()
        out.append(Setting(int(lanes), int(vpl), PER_QUERY_HEAD if q else 0, int(pos or 1), int(dsp or 0),
                           int(norm or 0)))
    if not out:
        raise BenchError("no lane setting given; pass e.g. --settings 8x4,16x4,32x4")
    return out


def setting_name(lanes: int, vpl: int, engines: int = 0, positions: int = 1, dsp_values: int = 0,
                 norm_width: int = 0) -> str:
    return (f"{lanes}x{vpl}" + ("q" if engines == PER_QUERY_HEAD else "")
            + (f"p{positions}" if positions > 1 else "") + (f"d{dsp_values}" if dsp_values else "")
            + (f"n{norm_width}" if norm_width else ""))


def ideal_cycles(est, pos: int) -> int:
    """The ideal bound at position `pos` (0-based): matrix work + P positions' head-wide dot
    products per cycle."""
    return est.ideal_matrix_cycles + est.attention_per_pos * est.attention_rows(pos)


def summarize(est, cycles: list[int], positions: list[int], clock_mhz: float) -> dict:
    """Per-position rows and their summary for one setting (no simulation here, easy to test)."""
    rows = []
    for pos, c in zip(positions, cycles):
        ideal = ideal_cycles(est, pos)
        rows.append({"position": pos, "cycles": int(c), "ideal": ideal, "ratio": round(c / ideal, 4),
                     "estimate": est.cycles(pos)})
    mean_cycles = sum(cycles) / len(cycles)
    mean_ideal = sum(r["ideal"] for r in rows) / len(rows)
    windows = {str(n): {"mean_cycles": round(sum(cycles[:n]) / n, 1),
                        "tokens_per_s": round(clock_mhz * 1e6 * n / sum(cycles[:n]), 1)}
               for n in WINDOWS if n <= len(cycles)}
    pick = sorted({positions[0], positions[len(positions) // 2], positions[-1]})
    by_pos = {r["position"]: r for r in rows}
    return {
        "tokens": len(rows),
        "mean_cycles": round(mean_cycles, 1),
        "mean_ideal": round(mean_ideal, 1),
        "mean_ratio": round(sum(r["ratio"] for r in rows) / len(rows), 4),
        "total_ratio": round(mean_cycles / mean_ideal, 4),
        "max_ratio": max(r["ratio"] for r in rows),
        "mean_estimate": round(sum(r["estimate"] for r in rows) / len(rows), 1),
        "tokens_per_s_sim": round(clock_mhz * 1e6 / mean_cycles, 1),
        "windows": windows,
        "selected": [by_pos[p] for p in pick],
        "per_position": rows,
    }


def bench_setting(int_model, name: str, lanes: int, vpl: int, tokens: int = TOKENS,
                  clock_mhz: float = FALLBACK_CLOCK_MHZ, build_root: Path = BUILD_ROOT, check: bool = True,
                  knobs=None) -> dict:
    """Build (or reuse) the simulation of one setting, generate `tokens` greedily from BOS, measure.

    knobs: the build knobs (default: lanes x vpl, context = tokens, no LoRA); check: the tokens
    must equal the golden model's."""
    from hw.rtlgen.generate import generate
    from hw.rtlgen.knobs import Knobs

    seq_len = int_model["rope_cos"].shape[0]
    tokens = tokens or seq_len
    if knobs is None:       # positions 0 .. tokens-1, the board build's MACs and engines
        knobs = Knobs(lanes=lanes, values_per_lane=vpl, context=tokens, macs="lut")
    knobs = knobs.resolved(seq_len)
    lanes, vpl, context = knobs.lanes, knobs.values_per_lane, knobs.context
    if tokens > context:
        raise BenchError(f"{name}: {tokens} tokens need a context of {tokens}, the model has "
                         f"{seq_len} positions (build context {context}); pass --tokens with fewer")
    out = Path(build_root) / f"{name}-{int_model.fingerprint[:8]}-l{lanes}v{vpl}c{context}"
    info = generate(int_model, out, knobs)
    build_s, events, wall = _generate_from_bos(out, tokens)
    if len(events) != tokens:
        raise BenchError(f"{name} {lanes}x{vpl}: the simulation gave {len(events)} of {tokens} tokens")
    from hw.golden import GoldenModel

    want = list(GoldenModel(int_model, context=context).generate([BOS], tokens))
    got = [ev.token for ev in events]
    if check and got != want:
        first = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        raise BenchError(f"{name} {lanes}x{vpl}: the simulation's token {first} is {got[first]}, the golden "
                         f"model's is {want[first]}: the design is not bit-exact (run tests/test_rtl_core.py)")
    positions = [ev.position - 1 for ev in events]      # POSITION counts the token just processed
    res = summarize(info.estimate, [ev.cycles for ev in events], positions, clock_mhz)
    est = info.estimate
    from hw.rtlgen import version_text

    return {"model": name, "lanes": lanes, "vpl": vpl, "macs_per_cycle": lanes * vpl, "context": context,
            "generator": version_text(), "fit": board_fit(int_model, knobs),
            "weight_macs": est.weight_macs, "ideal_matrix_cycles": est.ideal_matrix_cycles,
            "attention_per_pos": est.attention_per_pos, "attention_engines": est.attention_engines,
            "attention_positions": est.attention_positions,
            "macs": knobs.macs,
            "tokens_per_s_verilator": round(len(events) / wall, 1), "verilator_seconds": round(wall, 3),
            "build_seconds": round(build_s, 1), "matches_golden": got == want, "generated": got, **res}


def _generate_from_bos(build_dir: Path, tokens: int):
    """(Verilator build seconds, the TokenEvents of `tokens` greedy tokens from BOS, their wall seconds)."""
    from hw.sim.build import build_sim
    from hw.sim.session import SimSession

    t0 = time.monotonic()
    build_sim(build_dir)
    build_s = time.monotonic() - t0
    with SimSession(build_dir) as sim:
        sim.reset_state()
        t0 = time.perf_counter()
        events = list(sim.stream([BOS], tokens))
        wall = time.perf_counter() - t0
    return build_s, events, wall


def bench_chain(int_model, knobs, chips: int, tokens: int, clock_mhz: float, build_root: Path,
                check: bool = True) -> dict:
    """Build (or reuse) the simulation of the model split over `chips` chips (hw/rtlgen/chain.py), generate
    `tokens` greedily from BOS, measure: chip 0's cycles per token span the chain (its layers, the hops,
    the other chips' layers, the token's way back); the estimate is hw/rtlgen/chain.py's ChainEstimate."""
    from hw.golden import GoldenModel
    from hw.rtlgen.chain import chain_estimate, generate_chain

    knobs = knobs.resolved(int_model["rope_cos"].shape[0])
    tokens = tokens or knobs.context
    out = Path(build_root) / f"chain{chips}"
    generate_chain(int_model, out, knobs, chips)
    build_s, events, wall = _generate_from_bos(out, tokens)
    got = [ev.token for ev in events]
    want = list(GoldenModel(int_model, context=knobs.context).generate([BOS], tokens))
    if check and got != want:
        raise BenchError(f"a chain of {chips}: the simulation's tokens differ from the golden model's (first at "
                         f"{next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)}): not bit-exact "
                         "(run tests/test_chain.py)")
    cycles = [ev.cycles for ev in events]
    chain_est = chain_estimate(int_model, knobs, chips)
    est = [chain_est.cycles(ev.position - 1) for ev in events]
    mean = sum(cycles) / len(cycles)
    return {"chips": chips, "tokens": len(events), "mean_cycles": round(mean, 1),
            "mean_estimate": round(sum(est) / len(est), 1), "matches_golden": got == want,
            "tokens_per_s_sim": round(clock_mhz * 1e6 / mean, 1),
            "tokens_per_s_verilator": round(len(events) / wall, 1), "build_seconds": round(build_s, 1)}


def board_fit(int_model, knobs, board: str = FIT_BOARD) -> dict:
    """Whether a setting fits `board` by the fit check (hw/boards.py), and what it is over: a
    simulated setting that no board holds is a bound, not a product figure."""
    from hw.boards import get_board, needs

    over = [f"{n.resource} {n.need:,} > {n.limit:,}" for n in needs(int_model, knobs, get_board(board)) if not n.fits]
    return {"board": board, "fits": not over, "over": over}


def load_model(name: str, bits: dict | None = None):
    """The IntModel of a bench model name (default, stories260K) or a path, quantized as `hardwire` does
    (with `bits` when given)."""
    from hw.bench_golden import load_int_model
    from hw.quantize import quantize_checkpoint

    path = MODELS.get(name, Path(name))
    if not path.exists():
        raise BenchError(f"model {name}: {path} does not exist")
    if bits is None:
        return load_int_model(path)
    if path.suffix == ".npz":
        raise BenchError(f"model {name}: --bits needs a float checkpoint; {path} is already quantized")
    return quantize_checkpoint(path, bits=bits)[0]


def available_models() -> list[str]:
    return [n for n, p in MODELS.items() if p.is_file()]


def run(models: list[str], settings: list[Setting], tokens: int = TOKENS,
        clock_mhz: float | None = None, build_root: Path = BUILD_ROOT, log=print, on_result=None,
        bits: dict | None = None, lora: tuple[int, tuple[str, ...]] = (0, ())) -> dict:
    """Measure every (model, setting); on_result(report so far) after each one (a long run that
    stops keeps what it measured). bits: the weight widths to quantize with (None: the quantizer's
    defaults); lora: (rank, targets) of the LoRA hardware built in (no adapter is loaded: it costs
    board resources, not cycles)."""
    from hw.rtlgen.knobs import Knobs

    clock_mhz = clock_mhz or routed_clock_mhz()
    results = []
    for name in models:
        im = load_model(name, bits)
        for st in settings:
            knobs = Knobs(lanes=st.lanes, values_per_lane=st.vpl, context=tokens or None, macs="lut",
                          attention_engines=im.config.n_heads if st.engines == PER_QUERY_HEAD else 0,
                          attention_positions=st.positions, dsp_values=st.dsp_values, norm_width=st.norm_width,
                          lora_rank=lora[0], lora_targets=lora[1])
            r = bench_setting(im, Path(name).stem if name not in MODELS else name, st.lanes, st.vpl, tokens,
                              clock_mhz, build_root, knobs=knobs)
            r["setting"] = setting_name(*st)
            r["bits"] = dict(im.knobs["bits"])
            log(f"{r['model']} {r['setting']}: {r['mean_cycles']:,.0f} cycles/token (ideal {r['mean_ideal']:,.0f}, "
                f"mean ratio {r['mean_ratio']:.3f}), {r['tokens_per_s_sim']:,.0f} tok/s at {clock_mhz:g} MHz, "
                f"Verilator {r['tokens_per_s_verilator']:,.0f} tok/s")
            results.append(r)
            if on_result is not None:
                on_result(report(results, tokens, clock_mhz))
    return report(results, tokens, clock_mhz)


def report(results: list[dict], tokens: int, clock_mhz: float) -> dict:
    """The JSON report around the per-setting results."""
    return {
        "what": ("Verilator simulation of the generated accelerator (LUT MACs, one attention engine per kv "
                 f"head; settings with q: one per query head, two sharing each kv head's bank; pN: N KV cache positions per cycle; dN: N of each lane's values on DSP multipliers; nN: an rmsnorm N elements wide): greedy generation of {f'{tokens} tokens' if tokens else 'the whole context'} "
                 "from BOS, CYCLES_LAST_TOKEN per position"),
        "ideal": "ceil(weight MACs / (LANES*VPL)) + n_layers * (n_heads / engines + 1) * ceil((p + 1) / P)",
        "ratio": "cycles / ideal at each position; mean_ratio averages it over the positions",
        "clock_mhz": clock_mhz,
        "tokens": tokens,
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        "results": results,
    }


def markdown(report: dict, notes: str = "") -> str:
    """docs/bench.md: one table of the settings, one of selected positions, then `notes` (prose kept
    beside the results, docs/bench/notes.md)."""
    clk = report["clock_mhz"]
    lines = [
        "# Benchmark: cycles per token in simulation",
        "",
        "Written by `make bench` (`hardwire bench`, hw/bench.py) from docs/bench/results.json.",
        f"{report['what']}. The ideal bound at position p is",
        "`ceil(weight MACs / (LANES*VPL)) + n_layers * (n_heads / E + 1) * ceil((p+1) / P)`: the matrix work at",
        "LANES*VPL multiply-accumulates per cycle plus attention on E engines, each a",
        "score stage and a value stage doing P positions' full head_dim-wide dot products per cycle (the",
        "first head's keys, then every head's values while the next head's keys stream). ratio = measured / ideal;",
        "the estimate is hw/rtlgen/estimate.py's cycle model (est. error: mean estimate / mean cycles - 1).",
        f"tok/s is the clock ({clk:g} MHz: the design clock of the committed, routed ECP5-85F bitstream)",
        "over the mean cycles of the first 64 tokens, the first 256 and the whole run; Verilator tok/s is",
        "this machine's simulation speed; generator: the RTL generator version the row was measured on.",
        "The last column is the fit check (hw/boards.py) of the setting,",
        f"with the model's default weight bits (or the run's --bits), on the {FIT_BOARD}: a setting that does not fit is a bound",
        "of the simulated core, not a figure a board reaches.",
        "",
        "| model | setting | MACs/cycle | E | P | ideal matrix | mean cycles | mean ratio | max ratio | "
        "mean estimate (error) | tok/s over 64 | over 256 | over all | Verilator tok/s | generator | fits the ECP5-85F |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        w = r.get("windows", {})
        cell = lambda n: f"{w[n]['tokens_per_s']:,.0f}" if n in w else "-"
        err = r["mean_estimate"] / r["mean_cycles"] - 1
        lines.append(f"| {r['model']} | {r.get('setting', str(r['lanes']) + 'x' + str(r['vpl']))} | "
                     f"{r['macs_per_cycle']} | "
                     f"{r.get('attention_engines', 1)} | {r.get('attention_positions', 1)} | "
                     f"{r['ideal_matrix_cycles']:,} | "
                     f"{r['mean_cycles']:,.0f} | {r['mean_ratio']:.3f} | "
                     f"{r['max_ratio']:.3f} | {r['mean_estimate']:,.0f} ({err:+.1%}) | {cell('64')} | "
                     f"{cell('256')} | {r['tokens_per_s_sim']:,.0f} ({r['tokens']}) | "
                     f"{r['tokens_per_s_verilator']:,.0f} | {r.get('generator', '-')} | {fit_cell(r.get('fit'))} |")
    lines += ["", "Selected positions (cycles / ideal = ratio; estimate):", "",
              "| model | lanes x vpl | position | cycles | ideal | ratio | estimate |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["results"]:
        for s in r["selected"]:
            lines.append(f"| {r['model']} | {r.get('setting', str(r['lanes']) + 'x' + str(r['vpl']))} | "
                         f"{s['position']} | {s['cycles']:,} | "
                         f"{s['ideal']:,} | {s['ratio']:.3f} | {s['estimate']:,} |")
    if notes.strip():
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def fit_cell(fit: dict | None) -> str:
    if not fit:
        return "-"
    return "yes" if fit["fits"] else "no: " + ", ".join(fit["over"])


def reclock(result: dict, clock_mhz: float) -> dict:
    """A stored result's tokens/s at another clock (its cycles stay as measured)."""
    r = dict(result)
    r["tokens_per_s_sim"] = round(clock_mhz * 1e6 / r["mean_cycles"], 1)
    r["windows"] = {n: {**w, "tokens_per_s": round(clock_mhz * 1e6 / w["mean_cycles"], 1)}
                    for n, w in r.get("windows", {}).items()}
    return r


def merged(old: dict, new: dict) -> dict:
    """`new`'s results over `old`'s: a (model, setting) measured now replaces the stored one, the
    others stay, all at `new`'s clock. The runs must cover the same tokens."""
    if old.get("tokens") != new["tokens"]:
        raise BenchError(f"--merge: the stored results cover {old.get('tokens')} tokens per setting (0 = the "
                         f"whole context), this run {new['tokens']}; run with --tokens {old.get('tokens')} "
                         "or without --merge")
    key = lambda r: (r["model"], r.get("setting", f"{r['lanes']}x{r['vpl']}"))
    fresh = {key(r) for r in new["results"]}
    keep = [reclock(r, new["clock_mhz"]) for r in old.get("results", []) if key(r) not in fresh]
    return {**new, "results": keep + new["results"]}


def write(report: dict, out: Path, table: Path | None) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    if table is not None:
        notes = out.parent / NOTES_NAME         # prose about the figures, kept across runs
        Path(table).write_text(markdown(report, notes.read_text() if notes.is_file() else ""))


def cli_bench(args) -> None:
    """The body of `hardwire bench` (arguments: see hw/cli.py and main() below)."""
    models = [m for m in args.models.split(",") if m] if args.models else available_models()
    missing = [m for m in models if m in MODELS and not MODELS[m].is_file()]
    if missing and args.models:
        raise BenchError(f"model(s) {', '.join(missing)} not found ({', '.join(str(MODELS[m]) for m in missing)})")
    models = [m for m in models if m not in missing]
    old = json.loads(Path(args.out).read_text()) if args.merge and Path(args.out).is_file() else None

    def save(rep: dict) -> None:
        write(merged(old, rep) if old is not None else rep, args.out, args.table)

    from hw.quantize import parse_bits

    targets = tuple(t.strip() for t in (args.lora_targets or "").split(",") if t.strip())
    final = run(models, parse_settings(args.settings), args.tokens, args.clock_mhz, on_result=save,
                bits=parse_bits(args.bits) if args.bits else None, lora=(args.lora_rank, targets))
    if not final["results"]:            # each measured setting was saved as it came
        save(final)
    print(f"wrote {args.out}" + (f" and {args.table}" if args.table else ""))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(ap)
    cli_bench(ap.parse_args(argv))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--models", default="", help="comma list: default, stories260K or checkpoint paths "
                    "(default: those present)")
    ap.add_argument("--settings", default=",".join(setting_name(*s) for s in SETTINGS),
                    help="lane settings LANESxVPL, comma-separated; q: one attention engine per query head "
                         "(default: one per kv head); pN: N KV cache positions per cycle; dN: N values a lane "
                         "on DSP multipliers (--dsp-values); nN: the rmsnorm's width, e.g. 16x16qp4, 16x16d6n4")
    ap.add_argument("--tokens", type=int, default=TOKENS,
                    help="tokens generated from BOS per setting (default 0: the whole context)")
    ap.add_argument("--clock-mhz", type=float, default=None,
                    help="clock for tokens/s (default: the committed ECP5 bitstream's design clock)")
    ap.add_argument("--bits", default="", help="weight bits to quantize with, as `hardwire quantize --bits` "
                    "takes them (default: the quantizer's defaults); e.g. the committed bitstream's "
                    "embedding=4,attention=4,mlp=4,classifier=4")
    ap.add_argument("--lora-rank", type=int, default=0, help="LoRA hardware built in (fit check only: no "
                    "adapter is loaded, so no cycles)")
    ap.add_argument("--lora-targets", default="", help="its projections, e.g. wq,wv")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other settings already in --out (their tokens/s restated at this clock)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--table", type=Path, default=DEFAULT_TABLE, help="markdown table (docs/bench.md)")


if __name__ == "__main__":
    main()
