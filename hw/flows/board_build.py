"""`hardwire build`: model -> fit check -> generated design -> bitstream + manifest for one board.

    model (.bin / HF folder: quantized as `hardwire sim` does; .npz: used as is)
      -> fit check against the board (hw/boards.py; refuses with the numbers)
      -> hw.rtlgen.generate into build/boards/<board>-<fp8>-l<L>v<V>c<C>/
      -> ECP5 / iCE40: hw/flows/open_flow.py (Yosys, nextpnr, pack), artefacts copied to --out
         Zynq: hw/flows/vivado.py writes the Vivado Tcl project; the user runs Vivado
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from hw.errors import HardwireError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO_ROOT / "models" / "default" / "model.bin"


class BuildError(HardwireError):
    """`hardwire build` cannot go on (the message says what to change)."""


def default_model() -> Path:
    """models/default/model.bin as `make bitstream` names it (relative, from the repository root).

    The model's fingerprint covers its source path as given, so `hardwire build` without
    --model must give the same path as `make bitstream` to build the same identity (an
    absolute path made a fingerprint that only one machine's checkout reproduces)."""
    try:
        return DEFAULT_MODEL.relative_to(Path.cwd().resolve())
    except ValueError:
        return DEFAULT_MODEL


def load_int_model(path: Path, tokenizer: Path | None = None, bits: str | None = None, board=None, knobs=None):
    """(IntModel, tokenizer path | None) from an .npz or a float checkpoint (quantized on the fly).

    bits: weight widths for a checkpoint, as `hardwire quantize --bits` takes them, or auto: the
    widths that fit `board` with `knobs` and lose least (hw/auto_bits.py)."""
    from hw.frontend import find_tokenizer
    from hw.intmodel import IntModel
    from hw.quantize import parse_bits, quantize_checkpoint

    path = Path(path)
    if not path.exists():
        raise BuildError(f"{path}: no such model; pass --model CHECKPOINT.bin | MODEL.npz | HF_FOLDER")
    if path.suffix == ".npz":
        if bits:
            raise BuildError(f"{path} is already quantized (bits {IntModel.load(path).knobs.get('bits')}); "
                             "--bits applies to a float checkpoint: pass the checkpoint, or drop --bits")
        im = IntModel.load(path)
        src = im.meta.get("source")
        folder = Path(src).parent if src and not Path(src).is_dir() else Path(src or path.parent)
        tok = find_tokenizer(folder, im.config.vocab_size, tokenizer)
    else:
        auto = (bits or "").strip().lower() == "auto"
        if auto and board is None:
            raise BuildError("--bits auto chooses the widths that fit a board: give --board")
        im, tok = quantize_checkpoint(path, tokenizer, parse_bits(bits) if bits and not auto else None,
                                      choose=_fit_chooser(board, knobs) if auto else None)
    if tok is not None and im.meta.get("tokenizer_fingerprint") not in (None, tok.fingerprint()):
        tok = None                      # a tokenizer that does not belong to the model is not recorded
    return im, (Path(tok.source) if tok is not None else None)


def measure_cycles(build_dir: Path, steps: int = 64, prompt: tuple[int, ...] = (1,), int_model=None,
                   context: int | None = None) -> dict:
    """Cycles per token measured on the Verilator simulation of the generated design (hw/sim).

    Greedy generation of `steps` tokens from BOS, never stopping early; returns the
    cycles of each token with its position, and their mean. With `int_model`, the tokens
    must be the golden model's (a design that is not bit-exact is not built).
    """
    from hw.sim.session import SimSession

    rows, tokens = [], []
    with SimSession(build_dir) as sim:
        for ev in sim.stream(list(prompt), steps, stop_token=None):
            rows.append((ev.position - 1, ev.cycles))
            tokens.append(ev.token)
    if int_model is not None:
        from hw.golden import GoldenModel

        want = list(GoldenModel(int_model, context=context).generate(list(prompt), steps, stop_token=None))
        if tokens != want:
            first = next(i for i, (a, b) in enumerate(zip(tokens, want + [None] * len(tokens))) if a != b)
            raise BuildError(f"the simulated design's token {first} is {tokens[first]}, the golden model's "
                             f"{want[first] if first < len(want) else 'none'}: the design is not bit-exact "
                             f"(build dir {build_dir}; run tests/test_rtl_core.py)")
    cyc = [c for _, c in rows]
    return {"source": "Verilator simulation (hw/sim), greedy from BOS, tokens equal to the golden model's",
            "tokens": len(rows),
            "first": {"position": rows[0][0], "cycles": rows[0][1]},
            "last": {"position": rows[-1][0], "cycles": rows[-1][1]},
            "cycles_mean": round(sum(cyc) / len(cyc), 1)}


def build_dir_for(board_name: str, im, knobs) -> Path:
    return (REPO_ROOT / "build" / "boards"
            / f"{board_name}-{im.fingerprint[:8]}-l{knobs.lanes}v{knobs.values_per_lane}c{knobs.context}")


def _fit_chooser(board, knobs):
    """quantize_checkpoint's `choose` for --bits auto: the widths that pass the fit check on `board`."""
    from hw.auto_bits import board_fit, choose_bits

    def choose(float_model, prepared, calib, opts):
        within, name = board_fit(board, knobs)
        return choose_bits(float_model, prepared, calib, within, name, opts).bits
    return choose


def run_build(board_name: str, model: Path | None, knobs, out: Path | None = None, build_dir: Path | None = None,
              tokenizer: Path | None = None, freq_mhz: float | None = None, check_only: bool = False,
              force: bool = False, measure: int = 0, router: str | None = None, seed: int = 1,
              bits: str | None = None, clock_mhz: float | None = None, chips: int = 1,
              chip: int | None = None, fastest: float | None = None, log=print, **link_options) -> dict:
    """The body of `hardwire build`; returns {'fit': FitReport, 'manifest': path | None, ...}.

    link_options: the build options of the board's link (hw/links, e.g. baud=3000000 for a UART);
    None is not given. fastest: choose the lanes, values per lane, DSP values, rmsnorm width and the
    attention's KV positions a cycle (hw/fastest.py) within this share of the board's LUTs."""
    from hw import links
    from hw.boards import fit_report, get_board, with_clock
    from hw.rtlgen.generate import generate

    if fastest is not None and chips > 1:
        raise BuildError("--fastest chooses one chip's setting; with --chips give --lanes and --vpl instead "
                         "(or run --fastest --check on the model's share of one chip)")
    if chip is not None and chips == 1:
        raise BuildError(f"--chip {chip} picks one chip of a chain, but --chips is 1: give --chips N as well")
    if chip is not None and not 0 <= chip < chips:
        raise BuildError(f"--chip {chip} names no chip of a chain of {chips}: pick one of 0..{chips - 1}")
    board = with_clock(get_board(board_name), clock_mhz)
    why = links.option_refusal(board, link_options)
    if why:
        raise BuildError(why)
    link_options = links.resolve(board, link_options)   # a value the link cannot make: refused before any work
    pll = board.pll
    if pll is not None:
        log(f"design clock {board.clock_mhz:.4g} MHz from the {board.osc_mhz:g} MHz oscillator by an EHXPLLL "
            f"(CLKI_DIV {pll.clki_div}, CLKFB_DIV {pll.clkfb_div}, CLKOP_DIV {pll.clkop_div}, "
            f"VCO {pll.vco_mhz:.4g} MHz)")
    im, tok = load_int_model(Path(model) if model else default_model(), tokenizer, bits, board, knobs)
    knobs = knobs.resolved(im["rope_cos"].shape[0])
    if fastest is not None:
        from hw.fastest import FastestError
        from hw.fastest import fastest as choose

        try:
            knobs = choose(im, knobs, board, fastest, log=log)
        except FastestError as exc:
            raise BuildError(str(exc)) from exc
    if chips > 1:
        return _run_chain_build(board, im, tok, knobs, chips, out, build_dir, tokenizer, freq_mhz, check_only,
                                force, measure, router, seed, log, link_options, only=chip)
    fit = fit_report(im, knobs, board)
    log(fit.format())
    if not fit.fits and not force:
        raise BuildError(fit.refusal())
    if check_only:
        return {"fit": fit, "manifest": None}
    bdir = Path(build_dir) if build_dir else build_dir_for(board.name, im, knobs)
    info = generate(im, bdir, knobs)
    log(f"generated {info.top} ({len(info.rom_files)} ROM files), model {info.fingerprint[:16]}")
    from host.metadata import metadata_for_build
    extra = {"board": board.name, "clock_hz": int(board.clock_mhz * 1e6),
             **links.link(board.transport).host_metadata(link_options)}
    # --tokenizer, else the one the model carries from quantize time, else one found beside its checkpoint
    tok = tok if tokenizer is not None else (im.save_tokenizer(bdir) or tok)
    metadata_for_build(bdir, tok, **extra)

    if not board.open_flow:
        return _vivado(board, bdir, fit, log)

    from hw.flows import open_flow
    measured = None
    if measure:
        log(f"measuring cycles/token on the Verilator simulation ({measure} tokens; the first run builds it)")
        measured = measure_cycles(bdir, measure, int_model=im, context=knobs.context)
    manifest = open_flow.build(info, board, fit=fit.to_json(), freq_mhz=freq_mhz, log=log,
                               router=router or open_flow.DEFAULT_ROUTER, seed=seed, measured=measured,
                               **link_options)
    doc = json.loads(manifest.read_text())
    dest = Path(out) if out else REPO_ROOT / "bitstreams" / board.name
    dest.mkdir(parents=True, exist_ok=True)
    bit = bdir / doc["bitstream"]["file"]
    shutil.copy2(bit, dest / bit.name)
    shutil.copy2(manifest, dest / "manifest.json")
    write_host_metadata(bdir, dest, bit.stem)
    log(summary(doc, dest / bit.name))
    return {"fit": fit, "manifest": dest / "manifest.json", "bitstream": dest / bit.name, "doc": doc}


def _run_chain_build(board, im, tok, knobs, chips, out, build_dir, tokenizer, freq_mhz, check_only, force,
                     measure, router, seed, log, link_options, only: int | None = None) -> dict:
    """`hardwire build --chips N`: the model split over N boards (docs/chain.md). Every chip passes the fit
    check on its own; the chain's folder simulates as one device (--measure: chip 0's cycles per token span
    the chain); each chip<k>/ (only chip `only` when given) goes through the open flow with the chain board top (link pins on the
    headers) and its bitstream, manifest and host metadata land in OUT (default: the build folder's
    bitstreams/, never the committed bitstreams/<board>/)."""
    from hw import links
    from hw.boards import fit_report
    from hw.rtlgen.chain import chain_estimate, chip_model, generate_chain, split_layers

    ranges = split_layers(im, knobs, chips)
    fits = [fit_report(chip_model(im, ranges, k), knobs, board) for k in range(chips)]
    for k, (r, fit) in enumerate(zip(ranges, fits)):
        log(f"chip {k} (layers {r.start}..{r.stop - 1}):\n{fit.format()}")
    bad = [k for k, fit in enumerate(fits) if not fit.fits]
    if bad and not force:
        raise BuildError(f"chip {bad[0]} of {chips} does not fit {board.name}: {fits[bad[0]].refusal()}; "
                         f"split over more chips (--chips {chips + 1})")
    if check_only:
        return {"fit": fits, "manifest": None}
    bdir = Path(build_dir) if build_dir else Path(f"{build_dir_for(board.name, im, knobs)}-chips{chips}")
    chain = generate_chain(im, bdir, knobs, chips)
    log(f"generated a chain of {chips} chips under {bdir}, model {chain.fingerprint[:16]}")
    from host.metadata import metadata_for_build
    extra = {"board": board.name, "clock_hz": int(board.clock_mhz * 1e6),
             **links.link(board.transport).host_metadata(link_options)}
    tok = tok if tokenizer is not None else (im.save_tokenizer(bdir) or tok)
    metadata_for_build(bdir, tok, **extra)
    measured = None
    if measure:
        log(f"measuring cycles/token on the Verilator simulation of the chain ({measure} tokens)")
        measured = measure_cycles(bdir, measure, int_model=im, context=knobs.context)
    from hw.flows import open_flow
    dest = Path(out) if out else bdir / "bitstreams"
    dest.mkdir(parents=True, exist_ok=True)
    results = []
    chain_est = chain_estimate(im, knobs, chips)
    for k, (info, fit) in enumerate(zip(chain.chips, fits)):
        if only is not None and k != only:
            continue
        log(f"chip {k} of {chips}: the open flow in {info.out_dir}")
        metadata_for_build(info.out_dir, tok, **extra)
        manifest = open_flow.build(info, board, fit=fit.to_json(), freq_mhz=freq_mhz, log=log,
                                   router=router or open_flow.DEFAULT_ROUTER, seed=seed, **link_options)
        doc = json.loads(manifest.read_text())
        doc["chain"] = {"chip": k, "chips": chips, "layers": [ranges[k].start, ranges[k].stop],
                        **({"measured": measured} if measured else {})}
        # a token passes every chip: the speed is the chain's (its estimate, at this chip's clock and
        # Fmax; the chain runs at its slowest chip's), not this chip's layers alone
        doc["speed_at_clock"] = open_flow.speed(chain_est, knobs.context, doc["clock_mhz"])
        doc["speed_at_fmax"] = open_flow.speed(chain_est, knobs.context, doc["fmax_mhz"])
        manifest.write_text(json.dumps(doc, indent=1) + "\n")
        bit = info.out_dir / doc["bitstream"]["file"]
        name = f"{bit.stem}-chip{k}"
        shutil.copy2(bit, dest / f"{name}{bit.suffix}")
        shutil.copy2(manifest, dest / f"manifest-chip{k}.json")
        # the host opened over chip 0's link sees the whole chain (its mailbox reaches the others):
        # chip 0's metadata is the chain's; another board opened alone is its own chip
        write_host_metadata(bdir if k == 0 else info.out_dir, dest, name)
        log(summary(doc, dest / f"{name}{bit.suffix}"))
        results.append({"manifest": dest / f"manifest-chip{k}.json", "bitstream": dest / f"{name}{bit.suffix}",
                        "doc": doc})
    return {"fit": fits, "chips": results, "measured": measured}


def write_host_metadata(bdir: Path, dest: Path, stem: str) -> Path:
    """bdir/hardwire.json copied to dest/<stem>.hardwire.json, its tokenizer path re-anchored there."""
    import os

    meta_doc = json.loads((bdir / "hardwire.json").read_text())
    if meta_doc.get("tokenizer"):       # relative to the metadata file: re-anchor beside the bitstream
        meta_doc["tokenizer"] = os.path.relpath((bdir / meta_doc["tokenizer"]).resolve(), dest.resolve())
    path = dest / f"{stem}.hardwire.json"
    path.write_text(json.dumps(meta_doc, indent=1) + "\n")
    return path


def summary(doc: dict, bit: Path) -> str:
    u = doc["utilisation"]
    parts = ", ".join(f"{k} {v['used']:,}/{v['available']:,}" for k, v in u.items() if k != "io")
    s = doc["speed_at_fmax"]
    c = doc["speed_at_clock"]
    return (f"wrote {bit} ({doc['bitstream']['bytes']:,} bytes) and its manifest\n"
            f"  Fmax {doc['fmax_mhz']:.1f} MHz (design clock {doc['clock_mhz']:g} MHz); {parts}\n"
            f"  {s['cycles_first']:,}..{s['cycles_last']:,} cycles/token (estimate): "
            f"{c['tokens_per_s_mean']:,.0f} tok/s at the design clock, "
            f"{s['tokens_per_s_mean']:,.0f} tok/s at Fmax (mean over the context)")


def _vivado(board, bdir: Path, fit, log) -> dict:
    try:
        from hw.flows.vivado import OUTPUT, write_vivado_flow
    except ImportError:
        raise BuildError(f"{board.name} is built with Vivado, and the Vivado flow (hw/flows/vivado.py) is "
                         "not in this checkout yet; the design is generated in " + str(bdir)) from None
    files = write_vivado_flow(bdir, board.name, board.part, board.clock_mhz)
    log("wrote the Vivado project:\n" + "\n".join(f"  {f}" for f in files))
    tcl = next((Path(f).name for f in files if Path(f).name == "build.tcl"), Path(files[0]).name)
    log(f"now run Vivado in {bdir}: `vivado -mode batch -source {tcl}` (it writes {OUTPUT}.bit and "
        f"{OUTPUT}.hwh there); then copy them with {OUTPUT}.hardwire.json and tokenizer.bin to the board and "
        f"open pynq:{OUTPUT}.bit (bitstreams/{board.name}/README.md, `make flash BOARD={board.name}`)")
    return {"fit": fit, "manifest": None, "vivado": files}


# ---------------------------------------------------------------- docs table

def manifest_table(paths: list[Path]) -> str:
    """A markdown table (one row per manifest.json): knobs, utilisation, Fmax, cycles and tokens/s."""
    head = ("| board | lanes x values | context | LUT4 | FF | BRAM | DSP | Fmax (MHz) | cycles/token "
            "(first..last, estimate) | tok/s at board clock | tok/s at Fmax | nextpnr time |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for p in paths:
        d = json.loads(Path(p).read_text())
        u, k, sc, sf = d["utilisation"], d["knobs"], d["speed_at_clock"], d["speed_at_fmax"]
        cell = lambda r: f"{u[r]['used']:,} / {u[r]['available']:,}" if r in u else "-"
        rows.append(f"| {d['board']} | {k['lanes']} x {k['values_per_lane']} | {k['context']} | {cell('luts')} | "
                    f"{cell('ffs')} | {cell('brams')} | {cell('dsps')} | {d['fmax_mhz']:.1f} | "
                    f"{sc['cycles_first']:,}..{sc['cycles_last']:,} | {sc['tokens_per_s_mean']:,.0f} | "
                    f"{sf['tokens_per_s_mean']:,.0f} | {d['seconds'].get('pnr', 0) / 60:.0f} min |")
    return "\n".join([head, *rows])


if __name__ == "__main__":
    import sys
    print(manifest_table([Path(a) for a in sys.argv[1:]]))
