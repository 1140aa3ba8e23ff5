"""`hardwire`: the command line of the compiler.

    hardwire quantize CHECKPOINT --out model.npz     float checkpoint -> integer model
    hardwire compile model.npz --out build/          integer model -> Verilog + ROM files
    hardwire sim | run | serve | build | sweep | bench | info | train | finetune

One small function per subcommand; each imports its backend only when run,
so `hardwire --help` works without the heavy tools. Exit status: 0 done,
1 bad input or a failed step (the message says what to change), 2 usage
error (argparse).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from hw.errors import HardwireError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PIPE = 141          # 128 + SIGPIPE, as a shell reports a writer whose reader closed the pipe


# ---------------------------------------------------------------- subcommands

def cmd_quantize(args: argparse.Namespace) -> None:
    """Float checkpoint -> calibrated integer model (.npz); --report compares bit widths."""
    from hw import frontend
    from hw.quantize import parse_bits, quantize
    from hw.transform import calibrate_prepared

    for flag, value in (("--heldout", args.heldout), ("--report-bits", args.report_bits),
                        ("--reference", args.reference)):
        if value is not None and not (args.report or args.report_md):
            raise HardwireError(f"{flag} {value} is read only by --report / --report-md; add one "
                                f"of them or drop {flag}")
    report_settings = _report_settings(args.report_bits)
    ckpt = frontend.load(args.checkpoint, args.tokenizer)
    # a model folder may carry its tokenizer and calibration text (models/default/)
    model, tok, folder, tok_path = ckpt.model, ckpt.tokenizer, ckpt.folder, ckpt.tokenizer_file
    # --report's float reference: the checkpoint itself, or the original that a fine-tuned
    # checkpoint (hw/train/qat.py) must still answer as (checked before the long steps)
    reference = model
    if args.reference is not None:
        from hw.report import load_reference
        reference = load_reference(args.reference, model.config, args.checkpoint)
    text = args.calibration_text
    if text is not None:
        _check_calibration_text(text, args.calibration, tok)
    elif (folder / "corpus_sample.txt").is_file() and tok is not None:
        text = folder / "corpus_sample.txt"
    source = args.calibration
    if source == "auto":
        source = "corpus+generate" if text is not None and tok is not None else "generate+sample"
    auto = (args.bits or "").strip().lower() == "auto"
    if args.rom_budget is not None and not auto:
        raise HardwireError(f"--rom-budget {args.rom_budget} is read only by --bits auto; add --bits auto or "
                            "drop --rom-budget")
    bits = parse_bits(args.bits) if args.bits and not auto else None
    if auto:
        from hw import auto_bits
        budget_bits = auto_bits.parse_budget(args.rom_budget) if args.rom_budget is not None else None
    transform = {"rotate": args.rotate, "rotate_v": args.rotate_v == "on", "balance_qk": args.balance_qk == "on"}
    prepared, calib = calibrate_prepared(model, transform, source, text, tok, act_clip=args.act_clip)
    opts = {"clip_search": args.clip_search, "rounding": args.rounding, "transform": transform,
            "qk_bits": args.qk_bits}
    if auto:
        bits = _auto_bits(model, prepared, calib, budget_bits, opts)
    int_model = quantize(prepared, calib, bits, source=str(args.checkpoint), tokenizer=tok, **opts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    int_model.save(args.out)
    print(f"wrote {args.out}: bits {int_model.knobs.get('bits')}, calibration {source}, "
          f"fingerprint {int_model.fingerprint[:16]}")
    if args.report or args.report_md:
        from hw import report
        if tok is None:
            raise HardwireError("--report needs the tokenizer (--tokenizer FILE) to encode the held-out text")
        lines = (args.heldout.read_text(encoding="utf-8").splitlines() if args.heldout
                 else report.default_heldout_lines())
        rows = report.run_report(reference, calib, lines, tok, quantize_opts=opts, prepared=prepared,
                                 **({"settings": report_settings} if report_settings else {}))
        print(report.format_table(rows))
        if args.report_md:
            command = " ".join(["hardwire quantize", str(args.checkpoint), "--out", str(args.out)]
                               + ([f"--tokenizer {tok_path}"] if tok_path else [])
                               + ([f"--bits {args.bits}"] if args.bits else [])
                               + ([f"--rom-budget {args.rom_budget}"] if args.rom_budget else [])
                               + [f"--calibration {source}"]
                               + [f"--{k.replace('_', '-')} {v}" for k, v in _lever_args(args).items()]
                               + ([f"--calibration-text {text}"] if text else [])
                               + ([f"--heldout {args.heldout}"] if args.heldout else [])
                               + ([f"--reference {args.reference}"] if args.reference else [])
                               + ([f"--report-bits '{args.report_bits}'"] if args.report_bits else [])
                               + [f"--report-md {args.report_md}"])
            report.write_markdown(rows, args.report_md, f"{args.checkpoint.name} (calibration {source})",
                                  command, notes=rows[0]["protocol"][0].upper() + rows[0]["protocol"][1:] + ".")
            print(f"wrote {args.report_md}")


def _auto_bits(model, prepared, calib, budget_bits: int | None, opts: dict) -> dict:
    """--bits auto: the widths hw/auto_bits.py picks within --rom-budget (default: the ROM of the default widths)."""
    from hw import auto_bits

    within, name = auto_bits.rom_budget(budget_bits)
    return auto_bits.choose_bits(model, prepared, calib, within, name, opts).bits


def _report_settings(text: str | None) -> list | None:
    """--report-bits '8;4;3' or 'embedding=8,attention=4,mlp=4,classifier=8;...' -> report rows (label, bits)."""
    from hw.quantize import parse_bits

    if text is None:
        return None
    rows = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        bits = parse_bits(part)
        rows.append((f"{bits['embedding']}/{bits['attention']}/{bits['mlp']}/{bits['classifier']}", bits))
    if not rows:
        raise HardwireError(f"--report-bits {text!r} names no setting; write e.g. '8;4;3' (attention and MLP "
                            "widths) or full settings separated by ';'")
    return rows


def _lever_args(args: argparse.Namespace) -> dict:
    """The fidelity options that differ from their defaults (for the report's command line)."""
    from hw.transform import DEFAULTS
    given = {"rotate": args.rotate, "rotate_v": args.rotate_v, "balance_qk": args.balance_qk,
             "act_clip": args.act_clip, "qk_bits": args.qk_bits}
    defaults = {"rotate": DEFAULTS["rotate"], "rotate_v": "on" if DEFAULTS["rotate_v"] else "off",
                "balance_qk": "on" if DEFAULTS["balance_qk"] else "off", "act_clip": "max", "qk_bits": 8}
    return {k: v for k, v in given.items() if v != defaults[k]}


def _check_calibration_text(text: Path, source: str, tok) -> None:
    """Refuse a --calibration-text that the calibration would not read (it used to be dropped silently)."""
    if source != "auto" and "corpus" not in source.split("+"):
        raise HardwireError(f"--calibration {source} does not read text, so --calibration-text {text} would be "
                            f"ignored: add the corpus source (--calibration corpus+{source}) or drop "
                            "--calibration-text")
    if tok is None:
        raise HardwireError(f"--calibration-text {text} needs a tokenizer to encode it: pass --tokenizer FILE "
                            "(a llama2.c tokenizer.bin), or drop --calibration-text")


def _tokenizer_beside(model) -> Path | None:
    """The tokenizer the integer model was quantized with, when it still lies beside its source."""
    from hw.frontend import find_tokenizer
    src = model.meta.get("source")
    if not src or not model.meta.get("tokenizer_fingerprint"):
        return None
    folder = Path(src) if Path(src).is_dir() else Path(src).parent
    tok = find_tokenizer(folder, model.config.vocab_size)
    if tok is None or tok.fingerprint() != model.meta["tokenizer_fingerprint"]:
        return None
    return Path(tok.source)


def _check_compile_tokenizer(path: Path, model, model_path: Path) -> None:
    """Refuse a --tokenizer that does not belong to the model, before anything is written."""
    from hw.errors import TokenizerError
    from hw.tokenizer import Tokenizer, check_tokenizer_matches

    tok = Tokenizer.load(path)             # all of it: a size mismatch is reported as such below
    check_tokenizer_matches(model, tok)
    want = model.meta.get("tokenizer_fingerprint")
    if want and tok.fingerprint() != want:
        raise TokenizerError(f"{path} is not the tokenizer {model_path} was quantized with "
                             f"(fingerprint {tok.fingerprint()[:16]}, the model's {want[:16]}); pass that "
                             "tokenizer, or leave --tokenizer out to use the one recorded with the model")


def cmd_compile(args: argparse.Namespace) -> None:
    """Integer model -> per-model Verilog, ROM hex files and build.json."""
    from hw.intmodel import IntModel
    from hw.rtlgen.estimate import format_estimate
    from hw.rtlgen.generate import generate

    knobs = _knobs_from_args(args)
    model = IntModel.load(args.model)
    if args.tokenizer is not None:
        _check_compile_tokenizer(args.tokenizer, model, args.model)
    if args.chips > 1:
        _compile_chain(model, args, knobs)
        return
    info = generate(model, args.out, knobs)
    print(f"wrote {info.top}, {len(info.rom_files)} ROM files and build.json under {info.out_dir} "
          f"(model {info.fingerprint[:16]})")
    tok_path = args.tokenizer or model.save_tokenizer(info.out_dir) or _tokenizer_beside(model)
    if tok_path is not None:
        from host.metadata import metadata_for_build
        meta = metadata_for_build(info.out_dir, tok_path)
        print(f"wrote {meta.path} (host metadata: fingerprint, knobs, tokenizer {tok_path})")
    print(format_estimate(info.estimate, info.knobs.context))


def _compile_chain(model, args: argparse.Namespace, knobs) -> None:
    """`hardwire compile --chips N`: the model split over N chips (hw/rtlgen/chain.py)."""
    from hw.rtlgen.chain import generate_chain
    from hw.rtlgen.estimate import format_estimate

    chain = generate_chain(model, args.out, knobs, args.chips)
    print(f"wrote a chain of {args.chips} chips under {chain.out_dir} (model {chain.fingerprint[:16]}): "
          f"{chain.top} simulates the chain, chip<k>/ is each chip's own build")
    tok_path = args.tokenizer or model.save_tokenizer(chain.out_dir) or _tokenizer_beside(model)
    for k, (r, info) in enumerate(zip(chain.ranges, chain.chips)):
        print(f"chip {k}: layers {r.start}..{r.stop - 1}" + (", embedding" if k == 0 else "")
              + (", classifier and sampler" if k == args.chips - 1 else ""))
        print("    " + format_estimate(info.estimate, info.knobs.context).replace("\n", "\n    "))
    if tok_path is not None:
        from host.metadata import metadata_for_build
        meta = metadata_for_build(chain.out_dir, tok_path)
        print(f"wrote {meta.path} (host metadata: fingerprint, knobs, tokenizer {tok_path})")


def cmd_sim(args: argparse.Namespace) -> None:
    """Prompt -> tokens on the Verilator simulation of the generated design."""
    from hw.sim.run import run_sim
    run_sim(args)


class DeviceCommandError(HardwireError):
    """`hardwire run` / `info --device`: the device, its link or the request failed."""


def _open_device_from_args(args: argparse.Namespace):
    """host.open_device with the CLI's --metadata / --tokenizer / --timeout; errors become HardwireError."""
    from host.device import open_device

    metadata = False if args.metadata == "none" else (Path(args.metadata) if args.metadata else None)
    return open_device(args.device, tokenizer=args.tokenizer, metadata=metadata, timeout=args.timeout)


class _LiveText:
    """Streams generated text to stdout with a live tokens/s figure on the terminal.

    On a terminal the figure trails the text (saved/restored cursor, erased before
    the next text); with stdout redirected it goes to stderr alone; with neither a
    terminal, only the text is written, so pipes and files get clean output.
    """

    def __init__(self, out=None, err=None):
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.err_tty = self.err.isatty()
        self.same = self.err_tty and self.out.isatty()

    def token(self, text: str, n: int, seconds: float) -> None:
        figure = f"  [{n} tok, {n / seconds if seconds > 0 else 0.0:.1f} tok/s]"
        if self.same:
            self.out.write("\x1b[K" + text + "\x1b[s\x1b[2m" + figure + "\x1b[0m\x1b[u")
        else:
            self.out.write(text)
            if self.err_tty:
                self.err.write("\r\x1b[K" + figure.strip())
                self.err.flush()
        self.out.flush()

    def end(self) -> None:
        if self.same:
            self.out.write("\x1b[K")
        elif self.err_tty:
            self.err.write("\r\x1b[K")
        self.out.write("\n")
        self.out.flush()


def cmd_run(args: argparse.Namespace) -> None:
    """Prompt -> tokens streamed from a device (sim:, serial: or pynq: URI)."""
    import time

    from host.errors import DeviceError

    try:
        with _open_device_from_args(args) as dev:
            prompt = ([int(t) for t in args.prompt_ids.replace(",", " ").split()] if args.prompt_ids
                      else args.prompt)
            if dev.tokenizer is None and not args.prompt_ids:
                raise DeviceCommandError("no tokenizer: pass --tokenizer tok.bin (or metadata that names "
                                         "one), or give the prompt as token ids with --prompt-ids")
            stop = None if args.stop_token < 0 else args.stop_token
            if args.lora is not None:
                dev.load_lora(args.lora, model=args.model)
            # generate() checks the prompt (length, ids) before it touches the device: echo only then
            gen = dev.generate(prompt, args.steps, temperature=args.temp, top_k=args.top_k,
                               seed=args.seed, stop_token=stop)
            live = _LiveText()
            if dev.tokenizer is not None and isinstance(prompt, str):
                live.out.write(prompt)
            start = time.monotonic()
            try:
                for tok in gen:
                    text = tok.text if dev.tokenizer is not None else f"{tok.id} "
                    live.token(text, tok.index + 1, time.monotonic() - start)
            finally:
                gen.close()
                live.end()
            st = dev.last_run
            cycles = f", {st.cycles_last_token} cycles for the last token" if st.cycles_last_token else ""
            print(f"{st.tokens} tokens in {st.seconds:.3f} s: {st.tokens_per_second:.1f} tok/s "
                  f"(first after {1000 * st.first_token_seconds:.1f} ms, prompt {st.prompt_tokens} tokens, "
                  f"stopped by {st.stopped_by}{cycles})", file=sys.stderr)
    except (DeviceError, ValueError, OSError) as exc:
        raise DeviceCommandError(str(exc)) from exc


def cmd_serve(args: argparse.Namespace) -> None:
    """OpenAI-compatible HTTP server for one device (host/server.py; docs/serving.md)."""
    from host.errors import DeviceError

    try:
        from host.server import serve
    except ImportError as exc:
        raise DeviceCommandError(f"`hardwire serve` needs fastapi and uvicorn ({exc}); pip install -r "
                                 "requirements.txt") from exc
    try:
        with _open_device_from_args(args) as dev:
            adapters = {}
            for spec in args.lora:
                name, sep, path = spec.partition("=")
                if not sep or not name or not path:
                    raise DeviceCommandError(f"--lora {spec!r}: give NAME=PATH (a PEFT folder or an .npz of "
                                             "hw.lora.save_adapters); NAME is the model name clients ask for")
                if name in adapters:
                    raise DeviceCommandError(f"--lora: the adapter name {name!r} is given twice")
                adapters[name] = dev.read_adapters(path, model=args.model)
            name = args.name or (dev.metadata.model if dev.metadata and dev.metadata.model else "hardwire")
            print(f"serving {name}" + (f" and adapters {', '.join(adapters)}" if adapters else "")
                  + f" from {dev.transport.name} on http://{args.host}:{args.port}/v1", file=sys.stderr)
            serve(dev, host=args.host, port=args.port, adapters=adapters, model_name=name,
                  max_queue=args.max_queue)
    except (DeviceError, ValueError, OSError) as exc:
        raise DeviceCommandError(str(exc)) from exc


# the matrix-engine options `build --fastest` chooses (given away from their defaults: refused, not
# overridden); the attention schedule's are hw/rtlgen/attention.py's SEARCHED_OPTIONS
FASTEST_CHOOSES = ("lanes", "vpl", "dsp_values", "norm_width")


def cmd_build(args: argparse.Namespace) -> None:
    """Model -> fit check -> bitstream + manifest for one board (Zynq: the Vivado project)."""
    from hw.boards import BOARDS
    from hw.flows.board_build import run_build
    from hw.links import build_options

    if args.list_boards:
        for b in BOARDS.values():
            r = b.resources
            print(f"{b.name:11s} {b.part:22s} {b.family:6s} {b.transport:4s} {r.luts:>7,} LUT {r.brams:>4} x "
                  f"{r.bram_kbits}-kbit BRAM {r.dsps:>5,} DSP  {b.title}")
        return
    knobs = _knobs_from_args(args)
    if args.fastest is not None:
        from hw.flows.board_build import BuildError

        from hw.rtlgen import attention

        defaults = build_parser().parse_args(["build"])
        chosen = [f"--{n.replace('_', '-')} {getattr(args, n)}"
                  for n in FASTEST_CHOOSES + attention.SEARCHED_OPTIONS if getattr(args, n) != getattr(defaults, n)]
        if chosen:
            raise BuildError(f"--fastest chooses {', '.join(chosen)} itself; drop "
                             f"{'it' if len(chosen) == 1 else 'them'}, or drop --fastest to build that setting")
    run_build(args.board, args.model, knobs, out=args.out, build_dir=args.build_dir, tokenizer=args.tokenizer,
              freq_mhz=args.freq, check_only=args.check, force=args.force, measure=args.measure,
              router=args.router, seed=args.seed, bits=args.bits, clock_mhz=args.clock, chips=args.chips,
              chip=args.chip, fastest=args.fastest,
              **{opt.name: getattr(args, opt.name) for opt in build_options()})


def cmd_sweep(args: argparse.Namespace) -> None:
    """A grid of knobs (boards, bits, lanes, values per lane, attention engines, seeds) through the
    chosen stages (estimate, sim, synth, pnr) as Dask tasks; a table and Pareto plots (docs/sweep.md)."""
    from hw.sweep import cli_sweep

    cli_sweep(args)


def cmd_respin(args: argparse.Namespace) -> None:
    """A new model of the same shape into a finished ECP5 bitstream: block-RAM contents only,
    no synthesis, no place and route (docs/respin.md)."""
    from hw.flows.respin import respin

    respin(args.bitstream, args.model, tokenizer=args.tokenizer, out=args.out, manifest=args.manifest,
           base_model=args.base_model)


def cmd_reclock(args: argparse.Namespace) -> None:
    """A finished ECP5 bitstream at another PLL clock up to its routed Fmax: the EHXPLLL's words
    only, no synthesis, no place and route (docs/respin.md "Reclock")."""
    from hw.flows.reclock import reclock

    reclock(args.bitstream, args.clock, out=args.out, manifest=args.manifest, metadata=args.metadata)


def cmd_bench(args: argparse.Namespace) -> None:
    """Measure cycles/token in the Verilator simulation (or the golden model's tokens/s); write JSON."""
    if args.golden is not None:
        from hw.bench_golden import cli_bench
        cli_bench(argparse.Namespace(model=args.golden, tokens=args.tokens or 256, golden_out=args.golden_out))
        return
    from hw.bench import TOKENS, cli_bench as rtl_bench
    rtl_bench(argparse.Namespace(models=args.models, settings=args.settings, tokens=args.tokens or TOKENS,
                                 clock_mhz=args.clock_mhz, out=args.out, table=args.table, merge=args.merge,
                                 bits=args.bits, lora_rank=args.lora_rank, lora_targets=args.lora_targets))


def cmd_info(args: argparse.Namespace) -> None:
    """Describe a checkpoint, an integer model, a build folder, or a device (--device URI)."""
    if args.device:
        from host.errors import DeviceError
        try:
            with _open_device_from_args(args) as dev:
                print(f"device {dev.transport.name}\n{dev.info().describe()}")
                print(f"  fingerprint {dev.info().fingerprint}")
                meta = dev.metadata
                print(f"  metadata {Path(meta.path).resolve() if meta and meta.path else 'none'}"
                      + (" (identity matches)" if meta else ""))
                if dev.tokenizer is not None:
                    print(f"  tokenizer {getattr(dev.tokenizer, 'source', '')} ({dev.tokenizer.vocab_size} tokens)")
                from host.registers import status_text
                c = dev.counters()
                print(f"  status {status_text(dev.status())}, position {c['position']}, "
                      f"tokens done {c['tokens_done']}, cycles last token {c['cycles_last_token']}")
        except (DeviceError, ValueError, OSError) as exc:
            raise DeviceCommandError(str(exc)) from exc
        return
    if args.path is None:
        raise DeviceCommandError("give a PATH (checkpoint, integer model, build folder) or --device URI")
    path: Path = args.path
    if path.is_dir() and (path / "build.json").is_file():
        from host.metadata import read_build_json
        from hw.errors import BuildFolderError
        build = read_build_json(path / "build.json", BuildFolderError)
        print(json.dumps({k: build[k] for k in ("model", "knobs", "estimate") if k in build}, indent=1))
        return
    if path.suffix == ".npz":
        from hw.intmodel import IntModel
        m = IntModel.load(path)
        print(f"integer model {path}\n  config {m.config}\n  bits {m.knobs.get('bits')}\n"
              f"  fingerprint {m.fingerprint}")
        return
    from hw import frontend
    model = frontend.load(path, with_tokenizer=False).model
    n = sum(int(w.size) for name, w in model.weights.items()
            if not (name == "wcls" and model.config.shared_classifier))
    print(f"float checkpoint {path}\n  config {model.config}\n  parameters {n:,}")


def cmd_train(args: argparse.Namespace) -> None:
    """Train the project's default model (arguments go to hw.train.train)."""
    from hw.train.train import main as train_main
    train_main(args.train_args)


def cmd_finetune(args: argparse.Namespace) -> None:
    """Float checkpoint -> a float checkpoint whose weights quantize well (distilled from the original)."""
    from hw.train.qat import run
    run(args, lambda m: print(m, flush=True))


# ---------------------------------------------------------------- parser

def _add_knob_args(p: argparse.ArgumentParser, debug_vectors: str = "on", macs: str = "dsp") -> None:
    """The generator's build knobs (hw/rtlgen/knobs.py), shared by compile and build."""
    from hw.rtlgen import attention

    p.add_argument("--debug-vectors", choices=("on", "off"), default=debug_vectors,
                   help="debug window reads of the vector buffers (hidden states; tests use them); "
                        f"off costs nothing else and eases routing on a board (default {debug_vectors})")
    p.add_argument("--lanes", type=int, default=16, help="matrix rows computed in parallel")
    p.add_argument("--vpl", type=int, default=4, help="values per lane per cycle")
    p.add_argument("--context", type=int, help="KV cache positions (default: the model's)")
    p.add_argument("--k-max", type=int, default=16, help="top-k sampler capacity")
    p.add_argument("--macs", choices=("dsp", "lut"), default=macs,
                   help="lane multiply-accumulates from DSP multipliers or from LUT adders (no multiplier: "
                        f"more lanes fit where the DSPs run out; default {macs})")
    p.add_argument("--dsp-values", type=int, default=0,
                   help="with --macs lut: each lane's last N of its --vpl values on DSP multipliers instead of "
                        "LUT adders, two lanes' products packed into one multiplier when every weight class "
                        "is 4 bits or fewer: more MACs per cycle from the multipliers LUT MACs leave free "
                        "(default 0)")
    attention.add_arguments(p)          # the attention schedule's options (hw/rtlgen/attention.py)
    p.add_argument("--norm-width", type=int, default=0, choices=(0, 1, 2, 4, 8, 16),
                   help="rmsnorm elements per cycle, 3 multipliers each (default 0: 2 with DSP MACs, "
                        "up to 8 and at most --vpl with LUT MACs)")
    p.add_argument("--rope-width", type=int, default=0, choices=(0, 1, 2),
                   help="RoPE pairs per cycle, 4 multipliers each (default 0: 2 where head dim, dim and "
                        "kv dim are multiples of 4, else 1)")
    p.add_argument("--lora-rank", type=int, default=0)
    p.add_argument("--lora-targets", help="comma-separated projections, e.g. wq,wv")
    p.add_argument("--streams", type=int, default=1,
                   help="sequences the device holds at once (several users): a KV cache slot and a "
                        "position each; the host runs them in turns (default 1)")
    p.add_argument("--contexts", type=int, default=1, choices=(1, 2, 4),
                   help="sequencer contexts sharing the matrix engine (dividing --streams): streams on "
                        "different contexts run at once, one's matrices filling the engine while another "
                        "computes attention and vector steps; each context costs the core's logic but the "
                        "matrix engine and its weight ROMs again (default 1)")


def _add_chips_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chips", type=int, default=1,
                   help="split the layers over a chain of N chips joined by hw_chip_link (docs/chain.md); "
                        "the build folder then simulates the chain and holds each chip's build (default 1)")


def _knobs_from_args(args: argparse.Namespace):
    from hw.rtlgen import attention
    from hw.rtlgen.knobs import Knobs

    targets = tuple(t.strip() for t in (args.lora_targets or "").split(",") if t.strip())
    return Knobs(lanes=args.lanes, values_per_lane=args.vpl, context=args.context, k_max=args.k_max,
                 lora_rank=args.lora_rank, lora_targets=targets, debug_vectors=args.debug_vectors == "on",
                 macs=args.macs, dsp_values=args.dsp_values, norm_width=args.norm_width, rope_width=args.rope_width, streams=args.streams,
                 contexts=args.contexts, **attention.knob_values(args))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hardwire", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=func.__doc__)
        p.set_defaults(func=func)
        return p

    p = add("quantize", cmd_quantize, "float checkpoint -> integer model (.npz)")
    p.add_argument("checkpoint", type=Path, help="llama2.c .bin or Hugging Face folder")
    p.add_argument("--tokenizer", type=Path, help="llama2.c tokenizer.bin (needed for corpus calibration)")
    p.add_argument("--bits", help="weight bits, e.g. 4 or 'embedding=8,attention=4,mlp=4,classifier=8', or "
                                  "auto: the widths per class that fit --rom-budget and lose least (measured; "
                                  "docs/quantization_report.md)")
    p.add_argument("--rom-budget", metavar="KBIT",
                   help="with --bits auto: the weights' storage in kbit (embedding, attention, MLP and classifier "
                        "together; default: what the default widths take)")
    p.add_argument("--calibration", default="auto",
                   help="calibration source: generate, sample, corpus or several joined by '+' (default auto: "
                        "corpus+generate when a text is given or lies beside the model, else generate+sample)")
    p.add_argument("--calibration-text", type=Path, help="text file for corpus calibration (one story per line)")
    p.add_argument("--rounding", choices=("gptq", "nearest"), default="gptq")
    p.add_argument("--clip-search", choices=("output", "weight", "none"), default="output")
    from hw.transform import DEFAULTS as TRANSFORM, ROTATIONS
    onoff = lambda flag: "on" if flag else "off"     # noqa: E731
    p.add_argument("--rotate", choices=ROTATIONS, default=TRANSFORM["rotate"],
                   help="rotate the residual stream (norm gains folded into the matrices; the integer "
                        "datapath is unchanged): hadamard (random signs; a random orthogonal matrix when dim "
                        f"is not a power of two), random, none (default {TRANSFORM['rotate']})")
    p.add_argument("--rotate-v", choices=("on", "off"), default=onoff(TRANSFORM["rotate_v"]),
                   help="rotate each value head (undone in wo) "
                        f"(default {onoff(TRANSFORM['rotate_v'])})")
    p.add_argument("--balance-qk", choices=("on", "off"), default=onoff(TRANSFORM["balance_qk"]),
                   help="balance the ranges of query and key RoPE pairs (scores unchanged) "
                        f"(default {onoff(TRANSFORM['balance_qk'])})")
    p.add_argument("--act-clip", choices=("max", "mse"), default="max",
                   help="int8 activation scales from the calibrated max (99.99th percentile for the MLP "
                        "values) or from the clip with the least squared error (default max)")
    p.add_argument("--qk-bits", type=int, choices=(8, 16), default=8,
                   help="width of the queries, keys and key cache: 16 keeps the attention scores' resolution "
                        "(twice the key cache's block RAM; docs/numerics.md) (default 8)")
    p.add_argument("--report", action="store_true", help="compare float and integer models for several bit widths")
    p.add_argument("--report-md", type=Path, help="also write the report table as markdown here")
    p.add_argument("--heldout", type=Path, help="held-out text for --report (default: the corpus held-out stories)")
    p.add_argument("--reference", type=Path, metavar="ORIGINAL",
                   help="--report's float reference instead of the checkpoint itself: the original model a "
                        "fine-tuned checkpoint (`hardwire finetune`) came from; same config required")
    p.add_argument("--report-bits", help="the report's rows instead of its seven default settings, separated "
                                         "by ';', each as --bits takes it, e.g. '8;4;3'")
    p.add_argument("--out", type=Path, required=True, help="integer model file to write (.npz)")

    p = add("compile", cmd_compile, "integer model -> Verilog + ROM files")
    p.add_argument("model", type=Path, help="integer model (.npz) from `hardwire quantize`")
    p.add_argument("--out", type=Path, required=True, help="build folder to write")
    _add_knob_args(p)
    _add_chips_arg(p)
    p.add_argument("--tokenizer", type=Path,
                   help="tokenizer.bin recorded in the host metadata hardwire.json (default: the one the "
                        "model was quantized with, which the .npz carries; copied into the build folder)")

    p = add("sim", cmd_sim, "generate tokens on the Verilator simulation")
    p.add_argument("--model", type=Path,
                   help="checkpoint, integer model (.npz) or build folder (default: models/default/model.bin)")
    p.add_argument("-z", "--tokenizer", type=Path, help="tokenizer.bin (default: beside the model)")
    p.add_argument("-i", "--prompt", default="", help="text prompt (BOS is added)")
    p.add_argument("--prompt-ids", help="the prompt as token ids instead, e.g. '1 403 407'")
    p.add_argument("-n", "--steps", type=int, default=32, help="tokens to generate at most")
    p.add_argument("-t", "--temp", type=float, default=0.0, help="temperature (0 = greedy)")
    p.add_argument("-k", "--top-k", type=int, default=0, help="sample among the k best (0 = K_MAX)")
    p.add_argument("-s", "--seed", type=int, default=0, help="sampler seed (0 = the default seed)")
    p.add_argument("--stop-token", type=int, default=1, help="stop at this token (default 1 = BOS; -1 = never)")
    p.add_argument("--lanes", type=int, default=16, help="matrix lanes (when the design is generated here)")
    p.add_argument("--vpl", type=int, default=4, help="values per lane per cycle (idem)")
    p.add_argument("--context", type=int, help="KV cache positions (idem; default: the model's)")
    p.add_argument("--k-max", type=int, default=16, help="top-k sampler capacity (idem)")
    _add_chips_arg(p)
    p.add_argument("--out", type=Path, help="build folder to generate into (default build/sim/NAME-...)")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock for the tokens/s figure (default 100)")
    p.add_argument("--trace", action="store_true", help="write a waveform into the build folder")

    def device_args(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--device", required=required, metavar="URI",
                       help="sim:BUILD_DIR | serial:/dev/ttyUSB0[?baud=115200] | pynq:hardwire.bit[?ip=NAME]")
        p.add_argument("--metadata", help="the build's metadata (default: beside the build/bitstream; "
                                          "'none' skips the identity check)")
        p.add_argument("--tokenizer", type=Path, help="tokenizer.bin (default: the one the metadata names)")
        p.add_argument("--timeout", type=float, default=10.0,
                       help="seconds the device may stay silent before giving up (default 10)")

    p = add("run", cmd_run, "generate tokens on a device (board or simulation)")
    device_args(p, required=True)
    p.add_argument("--prompt", default="", help="text prompt (BOS is added)")
    p.add_argument("--prompt-ids", help="the prompt as token ids instead, e.g. '1 403 407'")
    p.add_argument("--steps", type=int, default=32, help="tokens to generate at most")
    p.add_argument("--temp", type=float, default=0.0, help="temperature (0 = greedy)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k best (0 = the device's K_MAX)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (0 = the default seed)")
    p.add_argument("--stop-token", type=int, default=1,
                   help="stop after this token (default 1 = BOS, as llama2.c's run.c; -1 = never)")

    p.add_argument("--lora", type=Path, metavar="PATH",
                   help="load a LoRA adapter first: a PEFT folder (needs --model) or an .npz of hw.lora")
    p.add_argument("--model", type=Path, metavar="MODEL.npz",
                   help="the device's integer model, to convert a PEFT adapter's float weights")

    p = add("serve", cmd_serve, "OpenAI-compatible HTTP server for a device (board or simulation)")
    device_args(p, required=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--name", help="the base model's name for clients (default: the metadata's model name)")
    p.add_argument("--lora", action="append", default=[], metavar="NAME=PATH",
                   help="an adapter clients select as model NAME: a PEFT folder (needs --model) or an .npz "
                        "of hw.lora; repeatable")
    p.add_argument("--model", type=Path, metavar="MODEL.npz",
                   help="the device's integer model, to convert PEFT adapters' float weights")
    p.add_argument("--max-queue", type=int, default=64,
                   help="requests that may wait for the device before 429 (default 64)")

    p = add("info", cmd_info, "describe a checkpoint, integer model, build folder or device")
    p.add_argument("path", type=Path, nargs="?")
    device_args(p, required=False)

    p = add("build", cmd_build, "model -> fit check -> bitstream + manifest for one board")
    p.add_argument("--board", default="ulx3s-85f", help="board name (--list-boards; default ulx3s-85f)")
    p.add_argument("--model", type=Path,
                   help="checkpoint (quantized as `hardwire sim` does) or integer model .npz "
                        "(default: models/default/model.bin)")
    p.add_argument("--bits", help="weight bits when --model is a float checkpoint, as `hardwire quantize "
                                  "--bits` takes them; each class is stored at its own width, and the widest "
                                  "sets the lane MACs' width, e.g. 'embedding=4,attention=4,mlp=4,classifier=4'")
    _add_knob_args(p, debug_vectors="off", macs="lut")
    _add_chips_arg(p)
    p.add_argument("--chip", type=int, metavar="K",
                   help="with --chips N: run the open flow for chip K only (0..N-1), e.g. one chip per "
                        "machine or several at once; the fit check still covers every chip")
    p.add_argument("--tokenizer", type=Path, help="tokenizer.bin for the host metadata (default: beside the model)")
    p.add_argument("--out", type=Path, help="where the bitstream, manifest and metadata go "
                                           "(default bitstreams/BOARD/)")
    p.add_argument("--build-dir", type=Path, help="working folder (default build/boards/BOARD-FP-lLvVcC/)")
    p.add_argument("--clock", type=float, metavar="MHZ",
                   help="design clock in MHz (default: the board's): ECP5 boards put a PLL after the "
                        "oscillator (e.g. --clock 40 on the ULX3S), Zynq boards take it as FCLK0; "
                        "the manifest's Fmax says what the routed design can take")
    from hw.links import build_options
    for opt in build_options():         # each link's own options (hw/links), e.g. --baud for UART boards
        p.add_argument(f"--{opt.name}", type=opt.type, help=opt.help)
    p.add_argument("--freq", type=float, help="nextpnr target clock in MHz (default: the design clock)")
    p.add_argument("--router", choices=("router1", "router2"), help="nextpnr router (default: router1; router2 is faster when it converges, and a stalled router2 run is placed again with the next seed)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1; the manifest records it): "
                                                       "another seed is another placement when routing stalls")
    p.add_argument("--check", action="store_true", help="run the fit check only")
    p.add_argument("--fastest", type=float, nargs="?", const=0.75, metavar="LUT_SHARE",
                   help="choose --lanes, --vpl, --dsp-values, --norm-width and the attention's KV positions a "
                        "cycle: the setting the board holds with "
                        "the fewest estimated cycles a token over the context, using at most LUT_SHARE of its "
                        "LUTs (default 0.75; hw/fastest.py); with --check, only the choice")
    p.add_argument("--force", action="store_true", help="build even when the fit check refuses")
    p.add_argument("--measure", type=int, default=0, metavar="N",
                   help="also measure cycles/token on the Verilator simulation over N tokens (manifest 'measured')")
    p.add_argument("--list-boards", action="store_true", help="list the boards and their resources")

    from hw.sweep import add_arguments as sweep_arguments     # argparse only: Dask loads when a sweep runs
    sweep_arguments(add("sweep", cmd_sweep, "a grid of builds on Dask: results table and Pareto plots"))

    p = add("respin", cmd_respin, "new weights into a finished bitstream (same shape): seconds, not a build")
    p.add_argument("--bitstream", type=Path, required=True, help="the base bitstream (its manifest.json beside it)")
    p.add_argument("--model", type=Path, required=True,
                   help="the new model: a checkpoint (quantized with the manifest's bits) or an integer model .npz")
    p.add_argument("--tokenizer", type=Path, help="tokenizer.bin for the host metadata (default: beside the model)")
    p.add_argument("--out", type=Path, help="where the new bitstream, manifest and metadata go "
                                           "(default build/respin/BOARD-FP/out/)")
    p.add_argument("--manifest", type=Path, help="the base bitstream's manifest (default: manifest.json beside it)")
    p.add_argument("--base-model", type=Path,
                   help="the model the base bitstream was built from, when its manifest has no bram_map and "
                        "names a model that is not here")

    p = add("reclock", cmd_reclock, "a finished bitstream at another clock up to its routed Fmax: seconds, not a build")
    p.add_argument("--bitstream", type=Path, required=True,
                   help="the routed bitstream (its manifest.json and host metadata beside it; a build folder "
                        "whose timing was not met will do)")
    p.add_argument("--clock", type=float, required=True, metavar="MHZ", help="the new design clock")
    p.add_argument("--out", type=Path, help="where the new bitstream, manifest and metadata go "
                                           "(default build/reclock/BOARD-MHZ/out/)")
    p.add_argument("--manifest", type=Path, help="the bitstream's manifest (default: manifest.json beside it)")
    p.add_argument("--metadata", type=Path, help="the bitstream's host metadata (default: BOARD.hardwire.json "
                                                "or hardwire.json beside it)")

    p = add("bench", cmd_bench, "cycles/token of the simulated hardware per lane setting; write a JSON report")
    from hw.bench import add_arguments as add_bench_arguments
    add_bench_arguments(p)
    p.add_argument("--golden", type=Path, metavar="MODEL",
                   help="time the golden model on MODEL (.npz or .bin) instead (--tokens: default 256)")
    p.add_argument("--golden-out", type=Path, default=Path("docs/bench/golden.json"))

    p = add("finetune", cmd_finetune, "quantization-aware fine-tuning by distillation (see hw/train/qat.py)")
    from hw.train.qat_args import add_arguments as finetune_arguments
    finetune_arguments(p)

    p = add("train", cmd_train, "train the default model (see hw/train/train.py)")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="arguments for hw.train.train")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
        sys.stdout.flush()                  # a closed pipe shows here, not in Python's exit handler
    except BrokenPipeError:
        # the reader went away (`hardwire ... | head`): stop quietly with a shell's SIGPIPE status
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except HardwireError as exc:
        print(f"hardwire {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
