"""`hardwire sim`: prompt -> text streamed from the Verilator simulation.

The model may be a build folder (from `hardwire compile`), an integer model
(.npz) or a float checkpoint (llama2.c .bin or a Hugging Face folder; it is
quantized first). Missing steps run on the fly into a build folder; the
Verilator build is cached (hw/sim/build.py), so a second run starts at once.
Text streams as llama2.c's run.c prints it (prompt first, generation stops at
BOS); the cycles each token took in the simulated hardware give the speed
the design would have at a stated clock.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from hw.errors import HardwireError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO_ROOT / "models" / "default" / "model.bin"


class SimRunError(HardwireError):
    """`hardwire sim` could not find or prepare what it needs."""


def _metadata_tokenizer(build_dir: Path, vocab_size: int):
    """The tokenizer the build's host metadata (hardwire.json, from `hardwire compile`) names, or None."""
    from host.metadata import BUILD_FILE, Metadata, MetadataError
    from hw.tokenizer import Tokenizer

    if not (build_dir / BUILD_FILE).is_file():
        return None
    try:
        path = Metadata.load(build_dir / BUILD_FILE).tokenizer_path()
    except MetadataError as exc:
        raise SimRunError(f"{exc}; re-run `hardwire compile`") from exc
    return Tokenizer.load(path, vocab_size=vocab_size) if path is not None else None


def build_info(build_dir: Path) -> dict:
    """What `hardwire sim` uses of a build folder's build.json, each field type-checked:
    {"source": str | None, "vocab_size", "seq_len", "context"}; SimRunError when malformed."""
    from host.jsonfile import check_int_range, check_path, check_type
    from host.metadata import read_build_json

    where, hint = Path(build_dir) / "build.json", "re-run `hardwire compile`"
    doc = read_build_json(where, SimRunError, hint)
    model = check_type(doc.get("model"), "object", f"{where}: model", SimRunError, hint=hint)
    config = check_type(model.get("config"), "object", f"{where}: model.config", SimRunError, hint=hint)
    knobs = check_type(doc.get("knobs"), "object", f"{where}: knobs", SimRunError, hint=hint)
    source = check_type(model.get("source"), "str", f"{where}: model.source", SimRunError, optional=True,
                        hint=hint)
    if source:
        check_path(source, SimRunError, f"model named by {where}")
    return {"source": source,
            "vocab_size": check_int_range(config.get("vocab_size"), 1, 1 << 21, f"{where}: model.config.vocab_size",
                                          SimRunError, hint=hint),
            "seq_len": check_int_range(config.get("seq_len"), 1, 1 << 20, f"{where}: model.config.seq_len",
                                       SimRunError, hint=hint),
            "context": check_int_range(knobs.get("context"), 1, 1 << 20, f"{where}: knobs.context",
                                       SimRunError, hint=hint)}


def resolve_build(model: Path | None, out: Path | None, knobs, tokenizer_path: Path | None = None,
                  chips: int = 1):
    """(build folder, Tokenizer | None) for a build folder, an .npz or a checkpoint; chips > 1 splits
    the model over a chain of that many chips (hw/rtlgen/chain.py), simulated as one device."""
    from hw.frontend import find_tokenizer
    from hw.intmodel import IntModel
    from hw.quantize import quantize_checkpoint
    from hw.rtlgen.generate import generate

    model = Path(model) if model is not None else DEFAULT_MODEL
    if not model.exists():
        raise SimRunError(f"{model}: no such model, integer model or build folder")
    if model.is_dir() and (model / "build.json").is_file():
        if chips > 1:
            raise SimRunError(f"{model} is a build folder, already split or not: --chips applies to a model; "
                              "pass the .npz or checkpoint, or `hardwire compile --chips N` it")
        info = build_info(model)
        src, vocab = info["source"], info["vocab_size"]
        tok = _metadata_tokenizer(model, vocab) if tokenizer_path is None else None
        if tok is None and (tokenizer_path is not None or src):
            folder = Path(src).parent if src and not Path(src).is_dir() else Path(src or ".")
            tok = find_tokenizer(folder, vocab, tokenizer_path)
        return model, tok
    if model.suffix == ".npz":
        im = IntModel.load(model)
        src = im.meta.get("source")
        tok = im.tokenizer(str(model)) if tokenizer_path is None else None
        if tok is None:
            tok = find_tokenizer(Path(src).parent if src else model.parent, im.config.vocab_size, tokenizer_path)
    else:
        im, tok = quantize_checkpoint(model, tokenizer_path)
    if tok is not None and im.meta.get("tokenizer_fingerprint") not in (None, tok.fingerprint()):
        raise SimRunError(f"the tokenizer does not belong to {model} (fingerprint differs); pass --tokenizer")
    k = knobs.resolved(im["rope_cos"].shape[0])
    name = model.stem if model.is_file() else model.name
    out = out or REPO_ROOT / "build" / "sim" / (f"{name}-{im.fingerprint[:8]}-l{k.lanes}v{k.values_per_lane}"
                                                f"c{k.context}" + (f"-chips{chips}" if chips > 1 else ""))
    if chips > 1:
        from hw.rtlgen.chain import generate_chain
        generate_chain(im, out, knobs, chips)
    else:
        generate(im, out, knobs)
    return out, tok


def check_prompt_fits(prompt: list[int], build_dir: Path) -> None:
    """Refuse, before anything is echoed or simulated, a prompt longer than the design's context
    (the core would stop at once with ERR_CONTEXT)."""
    info = build_info(Path(build_dir))
    context, seq_len = info["context"], info["seq_len"]
    if len(prompt) <= context:
        return
    grow = (f"or build with a larger --context (`hardwire sim --context N` or `hardwire compile --context N`, "
            f"N up to the model's {seq_len} positions)" if context < seq_len
            else f"the model itself has only {seq_len} positions")
    raise SimRunError(f"the prompt is {len(prompt)} tokens long (BOS included) but the design's context holds "
                      f"{context}: shorten the prompt to at most {context} tokens, {grow}")


def run_sim(args) -> None:
    """The body of `hardwire sim` (arguments: see hw/cli.py)."""
    from hw.rtlgen.knobs import Knobs
    from hw.sim.session import SimSession

    knobs = Knobs(lanes=args.lanes, values_per_lane=args.vpl, context=args.context, k_max=args.k_max)
    build_dir, tok = resolve_build(args.model, args.out, knobs, args.tokenizer, args.chips)
    if args.prompt_ids:
        prompt = [int(t) for t in args.prompt_ids.replace(",", " ").split()]
    elif tok is not None:
        prompt = tok.encode(args.prompt)
    else:
        raise SimRunError("no tokenizer beside the model: pass --tokenizer FILE or --prompt-ids '1 403'")
    check_prompt_fits(prompt, build_dir)
    trace = None
    if args.trace:
        from hw.sim.build import trace_format
        trace = Path(build_dir) / f"sim.{trace_format()}"
    print(f"simulating {build_dir} (first run builds the Verilator model, ~20-60 s)", file=sys.stderr)
    stop = None if args.stop_token < 0 else args.stop_token
    out = sys.stdout
    with SimSession(build_dir, trace=trace) as sim:
        prev = prompt[0]
        if tok is not None:
            # run.c prints each piece with safe_printf: decode_all does the same per token
            for t in prompt[1:]:
                out.write(tok.decode_all([t], prev_token=prev))
                prev = t
            out.flush()
        cycles, n, t0 = [], 0, time.monotonic()
        for ev in sim.stream(prompt, args.steps, temperature=args.temp, top_k=args.top_k, seed=args.seed,
                             stop_token=stop):
            n += 1
            cycles.append(ev.cycles)
            if ev.token == stop:
                break
            if tok is not None:
                out.write(tok.decode_all([ev.token], prev_token=prev))
                prev = ev.token
            else:
                out.write(f"{ev.token} ")
            out.flush()
        wall = time.monotonic() - t0
        out.write("\n")
        ident = sim.ident
    if not cycles:
        print("no token generated", file=sys.stderr)
        return
    per_tok = sum(cycles) / len(cycles)
    hz = args.clock_mhz * 1e6
    print(f"{n} tokens, {per_tok:.0f} cycles/token (last {cycles[-1]}, position {ev.position} of "
          f"{ident['context']}): {hz / per_tok:,.0f} tokens/s at {args.clock_mhz:g} MHz; "
          f"simulation {n / wall:.1f} tokens/s on this machine"
          + (f"; waveform {trace}" if trace else ""), file=sys.stderr)
