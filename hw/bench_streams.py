"""Streams benchmark: aggregate and per-stream tokens/s for N users at once, on one sequencer
context and on several sharing the matrix engine (--contexts).

    python -m hw.bench_streams [--model default] [--tokens 64] [--chunk 16]   (make bench runs it)

Verilator builds of the model with --streams 4 (the committed board's lane setting, 16 x 8 LUT
MACs) and --contexts 1, 2 and 4. For N = 1, 2 and 4 users, each stream generates `tokens` greedy
tokens from BOS in chunks of `chunk` tokens as host/streams.py runs them (one START per chunk, the
chunk's last token fed back as the next one's prompt): stream s on context s % C, a context's
streams taking turns, every context running at once. Every stream's tokens are checked against
the golden model. The cycles are the simulated clock's from the first START to the last token
(the host polls every POLL cycles, so a context may wait up to that long between its chunks), and
tokens/s are at the clock of the committed bitstream. Writes docs/bench/streams.json and
docs/bench/streams.md.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hw.bench import BOS, BUILD_ROOT, REPO_ROOT, BenchError, load_model, routed_clock_mhz

STREAMS = (1, 2, 4)
CONTEXTS = (1, 2, 4)
POLL = 256              # cycles between the host's looks at the contexts
OUT_JSON = REPO_ROOT / "docs" / "bench" / "streams.json"
OUT_TABLE = REPO_ROOT / "docs" / "bench" / "streams.md"


def run_users(sim, users: int, tokens: int, chunk: int) -> tuple[dict, int, int]:
    """Streams 0..users-1 each generate `tokens` greedy tokens from BOS, chunk by chunk, every
    context busy while one of its streams has tokens to go: ({stream: tokens}, cycles, STARTs)."""
    contexts = max(1, sim.ident["contexts"])
    got = {s: [] for s in range(users)}
    for s in range(users):
        sim.select_stream(s)
        sim.reset_state()
    turn = {c: [s for s in range(users) if s % contexts == c] for c in range(contexts)}
    running: dict[int, int] = {}            # context -> the stream whose chunk it runs
    starts, first = 0, sim.cycle_count()
    while True:
        for c, queue in turn.items():
            if c in running:
                continue
            todo = [s for s in queue if len(got[s]) < tokens]
            if not todo:
                continue
            s = todo[0]
            queue.remove(s)
            queue.append(s)                 # the context's streams take turns
            sim.select_stream(s)
            sim.start([BOS] if not got[s] else [got[s][-1]], min(chunk, tokens - len(got[s])))
            running[c], starts = s, starts + 1
        if not running:
            return got, sim.cycle_count() - first, starts
        sim.tick(POLL)
        for c, s in list(running.items()):
            new, busy = sim.take_tokens(s)
            got[s] += new
            if not busy:
                del running[c]


def measure(model_name: str = "default", tokens: int = 64, chunk: int = 16, lanes: int = 16, vpl: int = 8,
            clock_mhz: float | None = None, build_root: Path = BUILD_ROOT,
            contexts: tuple[int, ...] = CONTEXTS) -> dict:
    from hw.golden import GoldenModel
    from hw.rtlgen.estimate import estimate
    from hw.rtlgen.generate import generate
    from hw.rtlgen.knobs import Knobs
    from hw.rtlgen.layout import rom_layout
    from hw.sim.session import SimSession

    clock_mhz = clock_mhz or routed_clock_mhz()
    im = load_model(model_name)
    rows = []
    for ctxs in contexts:
        knobs = Knobs(lanes=lanes, values_per_lane=vpl, macs="lut", streams=max(STREAMS),
                      contexts=ctxs).resolved(im["rope_cos"].shape[0])
        out = (Path(build_root) / f"streams-{model_name}-{im.fingerprint[:8]}-l{lanes}v{vpl}s{knobs.streams}"
               f"{f'c{ctxs}' if ctxs > 1 else ''}")
        generate(im, out, knobs)
        want = list(GoldenModel(im, context=knobs.context).generate([BOS], tokens))
        # the engine's bound: C streams at once take at least the matrix walk per token, and at least
        # one stream's cycles per token / C
        walk = estimate(im, rom_layout(im, lanes, vpl), knobs).matrix_cycles
        alone = None
        with SimSession(out) as sim:
            for n in STREAMS:
                got, cycles, starts = run_users(sim, n, tokens, chunk)
                bad = [s for s, g in got.items() if g != want]
                if bad:
                    raise BenchError(f"{model_name} with {n} streams on {ctxs} context(s): stream(s) {bad} "
                                     "differ from the golden model")
                total = n * tokens
                alone = alone or cycles / total
                bound = max(walk, alone / min(n, ctxs))
                agg = clock_mhz * 1e6 * total / cycles
                rows.append({"contexts": ctxs, "streams": n, "tokens_per_stream": tokens, "chunk": chunk,
                             "starts": starts, "cycles": cycles, "cycles_per_token": round(cycles / total, 1),
                             "bound_cycles_per_token": round(bound, 1),
                             "aggregate_tokens_per_s": round(agg), "per_stream_tokens_per_s": round(agg / n),
                             "matches_golden": True})
    return {"model": model_name, "lanes": lanes, "vpl": vpl, "context": knobs.context, "clock_mhz": clock_mhz,
            "build_streams": knobs.streams, "poll_cycles": POLL, "rows": rows}


def markdown(rep: dict) -> str:
    lines = [f"# Streams: {rep['model']}, {rep['lanes']} x {rep['vpl']} LUT MACs, --streams "
             f"{rep['build_streams']} builds on 1, 2 and 4 sequencer contexts, at {rep['clock_mhz']:g} MHz",
             "",
             "Generated by `python -m hw.bench_streams` (`make bench`; hw/bench_streams.py says how). "
             f"Each stream: {rep['rows'][0]['tokens_per_stream']} greedy tokens from BOS in chunks of "
             f"{rep['rows'][0]['chunk']}, stream s on context s % C, a context's streams in turns, the contexts "
             "at once; every stream equals the golden model. Cycles: the simulated clock from the first START "
             f"to the last token (the host looks every {rep['poll_cycles']} cycles).",
             "",
             "| contexts | streams | STARTs | cycles/token | bound (ratio) | aggregate tok/s | per-stream tok/s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rep["rows"]:
        b = r["bound_cycles_per_token"]
        lines.append(f"| {r['contexts']} | {r['streams']} | {r['starts']} | {r['cycles_per_token']:,.1f} | "
                     f"{b:,.1f} ({r['cycles_per_token'] / b:.3f}) | "
                     f"{r['aggregate_tokens_per_s']:,} | {r['per_stream_tokens_per_s']:,} |")
    lines += ["", "One context computes one stream at a time: its aggregate is the single stream's rate and each "
              "of N busy users gets 1/N of it. With C contexts, C streams run at once, one's matrices on the "
              "shared engine while the others compute attention and vector steps (docs/core.md, \"Contexts\"; "
              "what each context costs: docs/core.md). The bound: the users served at once (at most C) "
              "need at least the engine's walk per token (the estimate's matrix cycles) and at least one "
              "stream's cycles per token divided among them.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--tokens", type=int, default=64, help="tokens per stream")
    ap.add_argument("--chunk", type=int, default=16, help="tokens per turn (host/streams.py DEFAULT_CHUNK)")
    ap.add_argument("--clock-mhz", type=float, default=None,
                    help="clock for tokens/s (default: the committed ECP5 bitstream's design clock)")
    ap.add_argument("--out", type=Path, default=OUT_JSON)
    ap.add_argument("--table", type=Path, default=OUT_TABLE)
    args = ap.parse_args(argv)
    rep = measure(args.model, args.tokens, args.chunk, clock_mhz=args.clock_mhz)
    args.out.write_text(json.dumps(rep, indent=1) + "\n")
    args.table.write_text(markdown(rep))
    for r in rep["rows"]:
        print(f"{r['streams']} stream(s): {r['cycles_per_token']:,.1f} cycles/token, "
              f"{r['aggregate_tokens_per_s']:,} tok/s aggregate, {r['per_stream_tokens_per_s']:,} per stream")
    print(f"wrote {args.out} and {args.table}")


if __name__ == "__main__":
    main()
