"""`hardwire respin`: a new model of the same shape into a finished bitstream, in seconds.

    base .bit + manifest.json (beside it)
      -> the new model checked against the manifest (shape, weight bits, context, tokenizer
         size: the first difference is named and nothing is written)
      -> quantized as the build did (the manifest's bits) and its ROM images generated
         (hw.rtlgen.generate, the manifest's knobs)
      -> ecpunpack: the base bitstream as a textual config
      -> the ROM-to-block map: the manifest's `bram_map` (written by `hardwire build`), or found
         again from the base model's own ROM images (hw/flows/bram_map.py)
      -> every placed block RAM rewritten with the new images; ecppack --compress
      -> <board>.bit, manifest.json and <board>.hardwire.json (the new fingerprint) in --out

No synthesis and no place and route: the logic, placement and routing are the base
bitstream's, only block-RAM contents change, which is possible because every
model-specific value of the core is a ROM in block RAM (docs/respin.md). ECP5 only:
iCE40 and Zynq builds are refused with the reason and the manual path.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import time
from pathlib import Path

from hw.backends import FAMILIES
from hw.errors import HardwireError
from hw.flows import bram_map as bm

REPO_ROOT = Path(__file__).resolve().parents[2]
SHAPE_FIELDS = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size")


class RespinError(HardwireError):
    """The respin cannot be done (the message says what differs and what to do instead)."""


# ---------------------------------------------------------------- inputs

def read_manifest(bitstream: Path, manifest: Path | None = None, purpose: str = "a respin") -> dict:
    """The manifest of `bitstream` (manifest.json beside it unless given), checked to be its own;
    `purpose` names the command in the refusals."""
    bitstream = Path(bitstream)
    if not bitstream.is_file():
        raise RespinError(f"{bitstream}: no such bitstream; pass --bitstream bitstreams/BOARD/BOARD.bit")
    manifest = Path(manifest) if manifest else bitstream.with_name("manifest.json")
    if _vivado_folder(bitstream) and purpose == "a respin":
        raise RespinError(FAMILIES["zynq7"].respin_refusal(bitstream))
    if _vivado_folder(bitstream):
        raise RespinError(f"{bitstream} is a Vivado (Zynq) bitstream: {purpose} takes ECP5 bitstreams only; "
                          "rebuild with `hardwire build`")
    if not manifest.is_file():
        raise RespinError(f"{bitstream} has no manifest.json beside it: {purpose} needs the manifest that "
                          "`hardwire build` wrote with the bitstream (or pass --manifest)")
    try:
        doc = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise RespinError(f"{manifest} is not a readable manifest: {exc}") from None
    if doc.get("format") != "hardwire-bitstream-manifest":
        raise RespinError(f"{manifest} is not a hardwire bitstream manifest")
    sha = hashlib.sha256(bitstream.read_bytes()).hexdigest()
    if doc.get("bitstream", {}).get("sha256") != sha:
        raise RespinError(f"{manifest} describes another bitstream (SHA-256 {doc.get('bitstream', {}).get('sha256')}"
                          f", {bitstream.name} is {sha}): pass the manifest written with this bitstream")
    return doc


def _vivado_folder(bitstream: Path) -> bool:
    return bitstream.suffix == ".bit" and (bitstream.with_name("hardwire.hwh").is_file()
                                           or bitstream.with_name("build.tcl").is_file())


def check_respinnable(bitstream: Path, doc: dict) -> None:
    family = doc.get("family")
    backend = FAMILIES.get(family) if isinstance(family, str) else None
    if backend is None:
        raise RespinError(f"{bitstream}: family {family!r} cannot be respun (ECP5 only)")
    refusal = backend.respin_refusal(bitstream)
    if refusal:
        raise RespinError(refusal)


def check_same_build(doc: dict, im, tokenizer_vocab: int | None) -> None:
    """Refuse, naming the first difference, a model that the bitstream's logic cannot run."""
    base_cfg, base_bits = doc["model"]["config"], doc["model"]["bits"]
    cfg = im.config.to_json()
    for key in SHAPE_FIELDS:
        if cfg.get(key) != base_cfg.get(key):
            raise RespinError(f"the new model's {key} is {cfg.get(key)}, the bitstream's {base_cfg.get(key)}: "
                              "a respin needs the same shape; build this model in full (hardwire build)")
    bits = {k: int(v) for k, v in im.knobs.get("bits", {}).items()}
    for cls in sorted(base_bits):
        if bits.get(cls) != int(base_bits[cls]):
            raise RespinError(f"the new model's {cls} weights are {bits.get(cls)}-bit, the bitstream's "
                              f"{base_bits[cls]}-bit: quantize it with --bits "
                              + ",".join(f"{k}={v}" for k, v in sorted(base_bits.items()))
                              + " (a float checkpoint is quantized so by respin itself)")
    ctx, rows = int(doc["knobs"]["context"]), int(im["rope_cos"].shape[0])
    if rows < ctx:
        raise RespinError(f"the bitstream's context is {ctx} positions, the new model has {rows}: "
                          "build this model in full with --context")
    if tokenizer_vocab is not None and tokenizer_vocab != base_cfg["vocab_size"]:
        raise RespinError(f"the tokenizer has {tokenizer_vocab} tokens, the bitstream's vocabulary "
                          f"{base_cfg['vocab_size']}: pass the model's own --tokenizer")


def load_new_model(model: Path, tokenizer: Path | None, doc: dict):
    """(IntModel, tokenizer path | None): a checkpoint quantized with the manifest's bits."""
    from hw.flows.board_build import load_int_model

    bits = None if Path(model).suffix == ".npz" else ",".join(f"{k}={v}" for k, v in doc["model"]["bits"].items())
    return load_int_model(Path(model), tokenizer, bits)


def knobs_of(doc: dict):
    from hw.rtlgen.knobs import Knobs

    k = dict(doc["knobs"])
    k.setdefault("embedding_width", 1)     # builds from before the knob read one element per cycle
    k.setdefault("rope_width", 1)          # and one RoPE pair per cycle
    k["lora_targets"] = tuple(k.get("lora_targets", ()))
    return Knobs(**k)


# ---------------------------------------------------------------- the map

def base_map(doc: dict, brams: dict, work: Path, base_model: Path | None, log) -> bm.BramMap:
    """The manifest's ROM-to-block map, or one found from the base model's regenerated ROM images;
    checked to read back the base images from this bitstream."""
    if (doc.get("bram_map") or {}).get("version") == 2:     # version 1 (a first draft) is found again
        bmap = bm.BramMap.from_json(doc["bram_map"])
        back = {n: bm.image(n, w, bmap.images[n]["width"]) for n, w in bm.read_back(brams, bmap).items()}
        for name, img in back.items():
            if name not in bmap.not_in_bram and img.sha256() != bmap.images[name]["sha256"]:
                raise RespinError(f"the bitstream's block RAMs do not hold {name} of the base model where its "
                                  "manifest's bram_map says: the manifest is not this bitstream's")
        return bmap
    from hw.rtlgen.generate import generate

    src = Path(base_model) if base_model else Path(doc["model"].get("source") or "")
    if not base_model and not src.is_absolute():
        src = REPO_ROOT / src
    if not src.is_file() and not src.is_dir():
        raise RespinError(f"the manifest has no bram_map (a bitstream from before `hardwire respin`) and its model "
                          f"{doc['model'].get('source')} is not here: pass --base-model with the model it was "
                          "built from")
    log(f"no bram_map in the manifest: finding the block RAMs from the base model's ROM images ({src})")
    im, _ = load_new_model(src, None, doc)
    if not base_model:
        im.meta["source"] = doc["model"].get("source")     # the fingerprint covers the source as the build named it
    if im.fingerprint != doc["model"]["fingerprint"]:
        raise RespinError(f"{src} quantizes to model {im.fingerprint[:16]}, the bitstream holds "
                          f"{doc['model']['fingerprint'][:16]}: pass --base-model with the model it was built from")
    generate(im, work / "base", knobs_of(doc))
    return bm.find_map(brams, bm.rom_images(work / "base" / "rom"))


def earlier_rom_images(new: dict, names: set[str], doc: dict) -> dict:
    """`new` (this generator's ROM images) in the ROM files of a bitstream built before generator 1.14,
    whose map names them (`names`): a scale ROM a lane (scale_NNN.hex, lane l's {sh, m} of each word of
    scale.hex) and three rmsnorm gain ROMs (norm_att.hex, norm_ffn.hex: L x D gains; norm_final.hex: D;
    norm.hex holds each norm's row padded to whole words of the rmsnorm's width). The words are the same
    values; only the files that hold them differ."""
    from hw.numerics import MULT_BITS
    from hw.rtlgen.generate import norm_rows
    from hw.rtlgen.lanes import SCALE_FILE, lane_scale
    from hw.rtlgen.layout import SCALE_BITS

    out = dict(new)
    if "scale_000.hex" in names and SCALE_FILE in out:
        words = out.pop(SCALE_FILE).words()
        for lane in range(doc["knobs"]["lanes"]):
            fields = [(sh << MULT_BITS) | m for m, sh in (lane_scale(w, lane) for w in words)]
            # a hex file's image is as wide as its digits (read_hex_image): 21 bits in 6 digits
            out[f"scale_{lane:03d}.hex"] = bm.image(f"scale_{lane:03d}.hex", fields, -(-SCALE_BITS // 4) * 4)
    if "norm_att.hex" in names and "norm.hex" in out:
        cfg = doc["model"]["config"]
        d, layers = cfg["dim"], cfg["n_layers"]
        img = out.pop("norm.hex")
        rows = norm_rows(img.words(), d, img.width // 16)
        for name, part in (("norm_att.hex", rows[:layers]), ("norm_ffn.hex", rows[layers:2 * layers]),
                           ("norm_final.hex", rows[2 * layers:])):
            out[name] = bm.image(name, [g for row in part for g in row], 16)
    return out


def check_map(bmap: bm.BramMap) -> None:
    if bmap.not_in_bram:
        name = sorted(bmap.not_in_bram)[0]
        raise RespinError(f"{name} of the base model is not in block RAM in this bitstream (in logic: a core "
                          "from before every model ROM was in block RAM); build the new model in full "
                          "(hardwire build)")
    if bmap.unexplained:
        raise RespinError(f"{len(bmap.unexplained)} block RAM(s) (first: {bmap.unexplained[0]}) hold contents "
                          "that no ROM image of the base model explains: this bitstream's core keeps ROMs "
                          "another way (an older core?); build the new model in full (hardwire build)")


# ---------------------------------------------------------------- the respin

def respin(bitstream: Path, model: Path, tokenizer: Path | None = None, out: Path | None = None,
           manifest: Path | None = None, base_model: Path | None = None, log=print) -> dict:
    """The body of `hardwire respin`; returns {'bitstream', 'manifest', 'metadata', 'seconds', 'doc'}."""
    from host.metadata import metadata_for_build
    from hw.flows.board_build import write_host_metadata
    from hw.rtlgen.generate import generate
    from hw.tools import run_yowasp, tool_path

    t0 = time.monotonic()
    cpu0 = _cpu()
    seconds = {}
    bitstream = Path(bitstream)
    doc = read_manifest(bitstream, manifest)
    check_respinnable(bitstream, doc)
    im, tok = load_new_model(Path(model), tokenizer, doc)
    tok_vocab = None
    if tokenizer is not None or tok is not None:
        from hw.tokenizer import Tokenizer
        tok_vocab = Tokenizer.load(tokenizer or tok).vocab_size
    check_same_build(doc, im, tok_vocab)
    seconds["model"] = round(time.monotonic() - t0, 2)
    log(f"model {im.fingerprint[:16]} fits the bitstream of {doc['model']['fingerprint'][:16]} "
        f"({doc['board']}, lanes {doc['knobs']['lanes']} x {doc['knobs']['values_per_lane']}, "
        f"context {doc['knobs']['context']})")

    work = REPO_ROOT / "build" / "respin" / f"{doc['board']}-{im.fingerprint[:8]}"   # not /tmp: YoWASP
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t = time.monotonic()
    generate(im, work, knobs_of(doc))
    new = bm.rom_images(work / "rom")
    seconds["generate"] = round(time.monotonic() - t, 2)

    t = time.monotonic()
    run_yowasp("ecpunpack", [tool_path(bitstream, work), "base.config"], cwd=work)
    text = (work / "base.config").read_text()
    brams = bm.read_brams(text)
    seconds["unpack"] = round(time.monotonic() - t, 2)

    t = time.monotonic()
    bmap = base_map(doc, brams, work, base_model, log)
    check_map(bmap)
    earlier = earlier_rom_images(new, set(bmap.images), doc)
    if earlier.keys() != new.keys():            # the ROM folder as this bitstream holds it
        from hw.rtl_tables import write_hex

        for name in new.keys() - earlier.keys():
            (work / "rom" / name).unlink()
        for name in earlier.keys() - new.keys():
            write_hex(work / "rom" / name, earlier[name].words(), earlier[name].width,
                      [f"{name}: as generator 1.13 and before held it (hw/flows/respin.py earlier_rom_images)"])
        new = earlier
    try:
        bm.check_new_images(bmap, new)
    except bm.BramMapError as exc:
        raise RespinError(str(exc)) from None
    changed = bm.rewrite(brams, bmap, new)
    (work / "respin.config").write_text(bm.write_brams(text, changed))
    seconds["rewrite"] = round(time.monotonic() - t, 2)

    t = time.monotonic()
    name = Path(doc["bitstream"]["file"]).name
    run_yowasp("ecppack", ["--compress", "--input", "respin.config", "--bit", name], cwd=work)
    seconds["pack"] = round(time.monotonic() - t, 2)

    new_doc = respun_manifest(doc, im, work / name, bmap, new, len(changed), seconds, t0)
    extra = {"board": doc["board"], "clock_hz": int(doc["clock_mhz"] * 1e6)}
    if doc.get("uart_baud"):
        extra["uart_baud"] = doc["uart_baud"]
    # --tokenizer, else the one the model carries, else one found beside it (as hardwire build does)
    tok = Path(tokenizer) if tokenizer is not None else (im.save_tokenizer(work) or tok)
    metadata_for_build(work, tok, **extra)

    dest = Path(out) if out else work / "out"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / name, dest / name)
    new_doc["seconds"]["respin_total"] = round(time.monotonic() - t0, 2)
    new_doc["seconds"]["respin_cpu"] = round(_cpu() - cpu0, 2)      # wall time depends on the machine's load
    (dest / "manifest.json").write_text(json.dumps(new_doc, indent=1) + "\n")
    meta = write_host_metadata(work, dest, Path(name).stem)
    log(f"wrote {dest / name} ({len(changed)} block RAMs rewritten), its manifest and {meta.name} in "
        f"{new_doc['seconds']['respin_total']:.1f} s ({new_doc['seconds']['respin_cpu']:.1f} s of CPU; no synthesis, "
        "no place and route)")
    return {"bitstream": dest / name, "manifest": dest / "manifest.json", "metadata": meta,
            "seconds": new_doc["seconds"], "doc": new_doc, "work": work}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the YoWASP tools)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def respun_manifest(doc: dict, im, bit: Path, bmap: bm.BramMap, new: dict, blocks: int, seconds: dict,
                    t0: float) -> dict:
    """The base manifest with the new model, bitstream and map; what the respin did in `respin`."""
    d = json.loads(json.dumps(doc))
    base = {"model": doc["model"]["fingerprint"], "bitstream_sha256": doc["bitstream"]["sha256"],
            "built": doc.get("built")}
    d["built"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    d["model"] = {"fingerprint": im.fingerprint, "source": im.meta.get("source"),
                  "config": im.config.to_json(), "bits": im.knobs["bits"]}
    d["bitstream"] = {"file": bit.name, "bytes": bit.stat().st_size,
                      "sha256": hashlib.sha256(bit.read_bytes()).hexdigest()}
    d["bram_map"] = bm.BramMap(bmap.placements, bmap.ambiguous, bmap.unexplained,
                               {n: {"depth": i.depth, "width": i.width, "sha256": i.sha256()}
                                for n, i in new.items()}, bmap.not_in_bram, bmap.fixed).to_json()
    d["respin"] = {"base": base, "block_rams_rewritten": blocks}
    if d.get("measured"):
        # cycles per token do not depend on the weights: the same logic runs the same schedule
        d["measured"]["model"] = doc["model"]["fingerprint"]
    d["seconds"] = {**{k: v for k, v in doc.get("seconds", {}).items()}, "respin": seconds}
    return d
