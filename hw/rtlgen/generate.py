"""Generate one accelerator: an IntModel + knobs -> out_dir/{rtl, rom, build.json}.

    out_dir/rtl/hardwire_top.v   hw_core with this model's parameters (hw/rtlgen/top.py)
    out_dir/rom/*.hex            lane weights and scales, embedding, norms, rope,
                                 per-layer constants, exp2/rsqrt/SiLU tables
    out_dir/build.json           knobs, layout, estimate, fingerprint, static RTL sources

Everything is deterministic: the same model and knobs give byte-identical files.
The static library (hw/rtl/*.v) is not copied; build.json names the files the
top needs, relative to the repository root. hw_core.v includes hw/rtl/hardwire_regs.vh,
the register map generated from host/regmap.py (hw/rtlgen/regmap.py); a build
refuses a header that differs from the table.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw import rtl_tables
from hw.errors import HardwireError
from hw.intmodel import IntModel
from hw.numerics import MULT_BITS
from hw.rtlgen import version_text
from hw.rtlgen.estimate import Estimate, estimate, positions
from hw.rtlgen.knobs import Knobs
from hw.rtlgen.lanes import write_lanes
from hw.rtlgen.layout import SCALE_BITS, SH_BITS, Layout, pack_word, rom_layout
from hw.rtlgen.top import TOP_MODULE, device_fingerprint, emit_top

STATIC_RTL = Path(__file__).resolve().parents[1] / "rtl"      # hw/rtl
REPO_ROOT = STATIC_RTL.parents[1]
CORE_MODULE = "hw_core"
LAYER_WORD_BITS = 96
LAYER_FIELD_MASK = (1 << 75) - 1       # the fields of a layer.hex word (bits 75..95 are unused)


class GenerateError(HardwireError):
    """A model or output folder the generator cannot use."""


@dataclass(frozen=True)
class BuildInfo:
    out_dir: Path
    top: Path                          # out_dir/rtl/hardwire_top.v
    rom_files: tuple[Path, ...]        # every hex file written, sorted
    static_sources: tuple[Path, ...]   # hw/rtl files the top needs (absolute), sorted
    layout: Layout
    knobs: Knobs                       # resolved (context filled in)
    estimate: Estimate
    fingerprint: str

    @property
    def sources(self) -> list[Path]:
        """Every Verilog file of the design: the static library files, then the top."""
        return [*self.static_sources, self.top]


# ---------------------------------------------------------------- static sources

def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


def static_sources(top_module: str = CORE_MODULE, rtl_dir: Path = STATIC_RTL) -> list[Path]:
    """hw/rtl files of `top_module` and every hw/rtl module it instantiates (transitively)."""
    files = {p.stem: p for p in sorted(rtl_dir.glob("*.v"))}
    if top_module not in files:
        return []
    seen, todo = set(), [top_module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        words = set(re.findall(r"\b(hw_\w+)\b", _strip_comments(files[name].read_text())))
        todo += sorted(w for w in words if w in files and w not in seen)
    return [files[n] for n in sorted(seen)]


def check_register_header() -> None:
    """GenerateError unless hw/rtl/hardwire_regs.vh is what host/regmap.py's table gives, and
    hw/rtl/hardwire_arch.vh what hw/architecture.py gives."""
    from hw.rtlgen import arch_header
    from hw.rtlgen.regmap import HEADER, verilog_header

    if not HEADER.is_file() or HEADER.read_text() != verilog_header():
        raise GenerateError(f"{HEADER} differs from the register table host/regmap.py (edited by hand, or the "
                            "table changed since); run `make regmap` (python -m hw.rtlgen.regmap)")
    if arch_header.stale():
        raise GenerateError(f"{arch_header.HEADER} differs from the matrix table hw/architecture.py (edited by "
                            "hand, or the table changed since); run `make regmap` (python -m hw.rtlgen.arch_header)")


# ---------------------------------------------------------------- table ROMs

def _check(values: np.ndarray, lo: int, hi: int, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < lo or v.max() > hi):
        raise GenerateError(f"{what} holds values in {int(v.min())}..{int(v.max())}, outside {lo}..{hi} "
                            "that its ROM field allows; the integer model is corrupt, re-run `hardwire quantize`")
    return v


def _scale_words(m: np.ndarray, sh: np.ndarray, what: str) -> list[int]:
    m = _check(m, 0, (1 << MULT_BITS) - 1, f"{what} multipliers")
    sh = _check(sh, 1, (1 << SH_BITS) - 1, f"{what} shifts")
    return [(int(s) << MULT_BITS) | int(x) for x, s in zip(m.ravel(), sh.ravel())]


def _info(name: str, a: np.ndarray, bits: int, layout: str, fp: str) -> list[str]:
    a = np.asarray(a)
    return [f"{name}: {layout}",
            f"shape {a.shape}, {bits} bits, min {int(a.min())} max {int(a.max())}",
            f"model fingerprint {fp}"]


def layer_words(model: IntModel) -> list[int]:
    """One 96-bit word per layer: att_gshift[5:0] ffn_gshift[11:6] (signed), att_m[26:12]
    att_sh[32:27] attout_m[47:33] attout_sh[53:48] g_m[68:54] g_sh[74:69]."""
    a, L = model.arrays, model.config.n_layers
    fields = [("att_gshift", 6, -32, 31), ("ffn_gshift", 6, -32, 31),
              ("att_m", 15, 0, (1 << 15) - 1), ("att_sh", 6, 1, 63),
              ("attout_m", 15, 0, (1 << 15) - 1), ("attout_sh", 6, 1, 63),
              ("g_m", 15, 0, (1 << 15) - 1), ("g_sh", 6, 1, 63)]
    words = [0] * L
    pos = 0
    for name, width, lo, hi in fields:
        vals = _check(a[name], lo, hi, name)
        if vals.shape != (L,):
            raise GenerateError(f"{name} has shape {vals.shape}, expected ({L},); re-run `hardwire quantize`")
        for l in range(L):
            words[l] |= (int(vals[l]) & ((1 << width) - 1)) << pos
        pos += width
    return words


MODEL_WORDS = 16                   # model.hex depth (hw_core model_rom)


def model_words(model: IntModel) -> list[int]:
    """model.hex: the fingerprint in words 0-7 (most significant first), then the global
    constants the core loads into registers after reset: 8 eps_q, 9 final_gshift (6-bit
    two's complement), 10 logit_m, 11 logit_sh; the rest zero."""
    a, fp = model.arrays, device_fingerprint(model)
    if len(fp) != 64:
        raise GenerateError(f"model fingerprint {fp!r} is not a sha256 hex digest")
    eps = int(_check(a["eps_q"], 1, (1 << 31) - 1, "eps_q")[0])
    gshift = int(_check(a["final_gshift"], -32, 31, "final_gshift")[0])
    logit_m = int(_check(a["logit_m"], 0, (1 << MULT_BITS) - 1, "logit_m")[0])
    logit_sh = int(_check(a["logit_sh"], 0, (1 << SH_BITS) - 1, "logit_sh")[0])
    words = [int(fp[8 * i:8 * i + 8], 16) for i in range(8)] + [eps, gshift & 0x3F, logit_m, logit_sh]
    return words + [0] * (MODEL_WORDS - len(words))


NORM_GAIN_KEYS = ("att_gq", "ffn_gq", "final_gq")     # hw_rmsnorm sel 0, 1, 2


def norm_row_words(dim: int, nw: int) -> int:
    """norm.hex words of one layer's gains: hw_rmsnorm reads nw gains a cycle, one word."""
    return -(-dim // nw)


def norm_words(gains: list, nw: int) -> list[int]:
    """norm.hex: each gain row (attention layers, ffn layers, the final norm) padded to whole words
    of nw int16 gains."""
    out = []
    for rows in gains:
        for row in rows:
            padded = np.zeros(norm_row_words(len(row), nw) * nw, dtype=np.int64)
            padded[:len(row)] = row
            out += [pack_word(group, 16) for group in padded.reshape(-1, nw)]
    return out


def norm_rows(words: list[int], dim: int, nw: int) -> list[list[int]]:
    """The inverse of norm_words: each row's dim gains (16-bit two's-complement fields) of norm.hex's words."""
    per_row = norm_row_words(dim, nw)
    return [[(w >> (16 * j)) & 0xFFFF for w in words[r:r + per_row] for j in range(nw)][:dim]
            for r in range(0, len(words), per_row)]


def write_tables(model: IntModel, knobs: Knobs, rom: Path) -> list[Path]:
    """Every ROM except the lanes: embedding, norms, rope, layer constants, unit tables."""
    cfg, a, fp = model.config, model.arrays, model.fingerprint
    D, L, hd, ctx = cfg.dim, cfg.n_layers, cfg.head_dim, knobs.context
    eb = int(model.knobs["bits"]["embedding"])
    q = (1 << (eb - 1)) - 1
    out = []
    emb = _check(a["emb"], -q, q, f"emb ({eb}-bit embedding)")                   # (V, D)
    ew = knobs.emb_lanes(D)
    out.append(rtl_tables.write_hex(rom / "emb.hex", [pack_word(group, eb) for group in emb.reshape(-1, ew)], ew * eb,
                                    _info("emb.hex", emb, eb, f"embedding rows, {ew} elements a word (element "
                                          f"i at bits [{eb}*(i % {ew}) +: {eb}]), address (token*D + i) / {ew}",
                                          fp)))
    out.append(rtl_tables.write_hex(rom / "emb_scale.hex", _scale_words(a["emb_m"], a["emb_sh"], "emb"),
                                    SCALE_BITS, ["emb_scale.hex: {sh[5:0], m[14:0]} per token, "
                                                 "residual = sat16(rq(emb[t, i], m, sh))", f"model fingerprint {fp}"]))
    nw = knobs.norm_lanes(D)
    gains = [_check(a[key], -(1 << 15), (1 << 15) - 1, key).reshape(-1, D) for key in NORM_GAIN_KEYS]
    out.append(rtl_tables.write_hex(rom / "norm.hex", norm_words(gains, nw), 16 * nw, _info(
        "norm.hex", np.concatenate(gains), 16,
        f"int16 rmsnorm gains, {nw} a word (element i at bits [16*(i % {nw}) +: 16], each layer's row zero "
        f"padded to {norm_row_words(D, nw)} words): the attention norms' layers, the ffn norms', the final "
        f"norm; address (norm * {cfg.n_layers} + layer) * {norm_row_words(D, nw)} + i / {nw}", fp)))
    cos, sin = a["rope_cos"][:ctx], a["rope_sin"][:ctx]                          # (ctx, hd/2)
    _check(cos, -(1 << 15), (1 << 15) - 1, "rope_cos"), _check(sin, -(1 << 15), (1 << 15) - 1, "rope_sin")
    rope = [((int(s) & 0xFFFF) << 16) | (int(c) & 0xFFFF) for c, s in zip(cos.ravel(), sin.ravel())]
    out.append(rtl_tables.write_hex(rom / "rope.hex", rope, 32, [
        f"rope.hex: {{sin[15:0], cos[15:0]}} Q2.14, address pos*{hd // 2} + i, positions 0..{ctx - 1}",
        f"cos min {int(cos.min())} max {int(cos.max())}, sin min {int(sin.min())} max {int(sin.max())}",
        f"model fingerprint {fp}"]))
    words = layer_words(model)
    out.append(rtl_tables.write_hex(rom / "layer.hex", words + [~words[0] & LAYER_FIELD_MASK], LAYER_WORD_BITS, [
        "layer.hex: one word per layer, fields lsb first: att_gshift[5:0] ffn_gshift[11:6] (signed),",
        "att_m[26:12] att_sh[32:27] attout_m[47:33] attout_sh[53:48] g_m[68:54] g_sh[74:69];",
        "then the complement of word 0 (never read: no field bit is constant, so none becomes logic)",
        f"model fingerprint {fp}"]))
    out.append(rtl_tables.write_hex(rom / "model.hex", model_words(model), 32, [
        "model.hex: words 0-7 the model fingerprint (most significant first), 8 eps_q,",
        "9 final_gshift (6-bit signed), 10 logit_m, 11 logit_sh",
        f"model fingerprint {fp}"]))
    out.append(rtl_tables.silu_hex(rom / "silu.hex", model))
    out.append(rtl_tables.exp2_hex(rom / "exp2.hex"))
    out.append(rtl_tables.rsqrt_hex(rom / "rsqrt.hex"))
    return out


# ---------------------------------------------------------------- build

def build_json(model: IntModel, layout: Layout, knobs: Knobs, est: Estimate,
               rom_files: list[Path], static: list[Path]) -> dict:
    rel = lambda p: p.resolve().relative_to(REPO_ROOT).as_posix()
    return {
        "generator_version": version_text(),
        "top_module": TOP_MODULE,
        "top": f"rtl/{TOP_MODULE}.v",
        "rom_dir": "rom",
        "rom_files": sorted(p.name for p in rom_files),
        "static_rtl": [rel(p) for p in static],
        "model": {"fingerprint": device_fingerprint(model), "config": model.config.to_json(),
                  "bits": model.knobs["bits"], "source": model.meta.get("source"),
                  **({"chain": {**model.meta["chain"], "chip_fingerprint": model.fingerprint}}
                     if model.meta.get("chain") else {})},
        "knobs": knobs.to_json(),
        "layout": {"lanes": layout.lanes, "values_per_lane": layout.vpl, "weight_bits": layout.wb,
                   "rom_depth": layout.depth, "scale_depth": layout.scale_depth,
                   "rom_groups": [{"bits": g.bits, "depth": g.depth} for g in layout.groups],
                   "acc_bits": layout.acc_bits, "rows_w": layout.rows_w, "cols_w": layout.cols_w,
                   "matrices": [{"name": s.name, "layer": s.layer, "rows": s.rows, "cols": s.cols,
                                 "bits": s.bits, "passes": s.passes, "words": s.words,
                                 "group": s.group, "word_base": s.word_base, "pass_base": s.pass_base}
                                for s in layout.slots]},
        "estimate": est.to_json(positions(knobs.context)),
    }


def generate(int_model: IntModel, out_dir: str | Path, knobs: Knobs) -> BuildInfo:
    """Write rtl/hardwire_top.v, rom/*.hex and build.json for `int_model` under `out_dir`."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} exists and is not a folder; choose another --out")
    check_register_header()
    knobs = knobs.resolved(int_model["rope_cos"].shape[0])
    layout = rom_layout(int_model, knobs.lanes, knobs.values_per_lane)
    est = estimate(int_model, layout, knobs)
    rtl_dir, rom = out / "rtl", out / "rom"
    rtl_dir.mkdir(parents=True, exist_ok=True)
    rom.mkdir(parents=True, exist_ok=True)

    top = rtl_dir / f"{TOP_MODULE}.v"
    top.write_text(emit_top(int_model, layout, knobs))
    rom_files = write_lanes(int_model, layout, rom) + write_tables(int_model, knobs, rom)
    # rom/ belongs to the generator: drop hex files of an earlier build (e.g. more lanes)
    names = {p.name for p in rom_files}
    for stale in rom.glob("*.hex"):
        if stale.name not in names:
            stale.unlink()
    static = static_sources()
    if int_model.meta.get("chain"):
        # a chip of a chain: its links and its bus
        static = sorted(set(static) | set(static_sources("hw_chain_ends")) | set(static_sources("hw_chain_bus")))
    if knobs.contexts > 1:
        # sequencer contexts around a shared matrix engine
        static = sorted(set(static) | set(static_sources("hw_mv_share")))
    info = build_json(int_model, layout, knobs, est, rom_files, static)
    (out / "build.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return BuildInfo(out, top, tuple(sorted(rom_files)), tuple(static), layout, knobs, est,
                     int_model.fingerprint)
