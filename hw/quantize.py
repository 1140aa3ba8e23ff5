"""Quantizer: float model + calibration -> integer model (hw.intmodel.IntModel).

Weights: symmetric, one scale per output row, integers in [-qmax, qmax] with
qmax = 2**(bits-1) - 1. Each row's scale comes from a clipping search: for a
grid of ratios r, s = r * max|row| / qmax; keep the r with the smallest
squared output error e E[x x^T] e^T (e = row - s*q, E[x x^T] from
calibration), or plain squared weight error where no input statistics exist
(the embedding). At 4 bits and below, clipping the largest weights trades a
little error on them for much finer steps on all others. The integers come
from GPTQ-style error-compensating rounding (default) or round-to-nearest,
and each row's scale is then refit by least squares for its integers.
Measured on stories260K (docs/quantization_report.md): each step lowers
the 4-bit perplexity cost; none of them changes the numerics, only which
integers are chosen.

Activations: int8 codes with scale s = calibrated max / 127, one scale per
point and layer; the residual stream is int16 with one scale for all layers
s_res = max / 2**RESIDUAL_HEADROOM_BITS (2**14: a factor 2 of headroom under
the int16 limit for states the calibration text never reached); logits are
int24 with s_logit = max / 2**20.

Every scale ratio becomes an integer multiplier and shift through
numerics.quantize_multiplier; docs/numerics.md lists each one.
"""
from __future__ import annotations

import math

import numpy as np

from hw import numerics as nx
from hw.architecture import LAYER_MATRICES, MATRIX_CLASS
from hw.calibrate import Calibration
from hw.errors import HardwireError
from hw.golden import QK_BITS
from hw.intmodel import TENSOR_CLASSES, IntModel
from hw.model import FloatModel

DEFAULT_BITS = {"embedding": 8, "attention": 4, "mlp": 4, "classifier": 8}
SUPPORTED_BITS = (2, 3, 4, 5, 6, 7, 8)
RESIDUAL_HEADROOM_BITS = 14     # residual max -> 2**14 of the int16 range
LOGIT_CODE = 1 << 20            # logit max -> 2**20 of the int24 range
ACT_QMAX = 127                  # int8 activations
CLIP_RATIOS = np.linspace(0.30, 1.0, 36)   # clipping search grid, step 0.02
GPTQ_BLOCK = 32                 # GPTQ: columns per lazy update block
GPTQ_DAMP = 0.01                # GPTQ: diagonal damping, fraction of mean E[x_i^2]
GAIN_BITS = 15                  # rmsnorm gains are int16: max |gq| in [2**14, 2**15)

ATTENTION = tuple(n for n in LAYER_MATRICES if MATRIX_CLASS[n] == "attention")
MLP = tuple(n for n in LAYER_MATRICES if MATRIX_CLASS[n] == "mlp")
# projection -> (its input point, its output point)
PROJ_IO = {"wq": ("xa", "q"), "wk": ("xa", "k"), "wv": ("xa", "v"), "wo": ("att", "res"),
           "w1": ("xf", "h1"), "w3": ("xf", "h3"), "w2": ("g", "res")}


class QuantizeError(HardwireError):
    """Quantizer settings that cannot be honoured."""


def _version() -> str:
    """hardwire's version (hw.__version__, else the installed package's), for provenance."""
    try:
        from hw import __version__
        return str(__version__)
    except ImportError:
        pass
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("hardwire")
    except (ImportError, PackageNotFoundError):
        return "unknown"


def check_bits(bits: dict | None) -> dict:
    """Fill missing classes from DEFAULT_BITS and check each width."""
    out = dict(DEFAULT_BITS)
    for name, b in (bits or {}).items():
        if name not in TENSOR_CLASSES:
            raise QuantizeError(f"unknown tensor class {name!r} in bits; choose from {', '.join(TENSOR_CLASSES)}")
        if int(b) not in SUPPORTED_BITS:
            raise QuantizeError(f"{name} weights: {b} bits is not supported; choose from {SUPPORTED_BITS}")
        out[name] = int(b)
    return out


def parse_bits(text: str) -> dict:
    """'attention=4,mlp=4' or a single number '4' (attention and mlp) -> bits dict."""
    text = text.strip()
    if text.lower() == "auto":
        raise QuantizeError("--bits auto measures the model: run `hardwire quantize CHECKPOINT --bits auto "
                            "[--rom-budget KBIT] --out model.npz`, then pass the .npz")
    if text.isdigit():
        return check_bits({"attention": int(text), "mlp": int(text)})
    bits = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, val = part.partition("=")
        if not sep or not val.strip().isdigit():
            raise QuantizeError(f"bad bits setting {part!r}; write e.g. 'embedding=8,attention=4,mlp=4,classifier=8'")
        bits[name.strip()] = int(val)
    return check_bits(bits)


# ---------------------------------------------------------------- weights

def _round_nearest(w: np.ndarray, s: np.ndarray, qmax: int) -> np.ndarray:
    """q = clip(round(w / s), -qmax, qmax) per row; w (R, C), s (R,)."""
    return np.clip(np.round(w / s[:, None]), -qmax, qmax)


def _round_gptq(w: np.ndarray, s: np.ndarray, qmax: int, moment: np.ndarray) -> np.ndarray:
    """Error-compensating rounding (GPTQ, Frantar et al. 2022) for fixed row scales.

    Columns are rounded one at a time; each column's rounding error is pushed
    onto the not yet rounded columns in proportion to the inverse input
    second moments, so the output error (w - s q) E[x x^T] (w - s q)^T of
    every row shrinks. Rows are independent, so any number of candidate
    scales can be stacked as rows. w (R, C), s (R,), or (R, C) for a scale
    per weight (hw/fakequant.py's group scales), moment (C, C).
    """
    c = w.shape[1]
    h = np.array(moment, dtype=np.float64)
    order = np.argsort(-np.diag(h), kind="stable")  # strongest inputs first ("act order")
    h = h[np.ix_(order, order)]
    w = w[:, order].copy()
    sc = np.broadcast_to(s[:, None], w.shape) if s.ndim == 1 else s[:, order]
    dead = np.diag(h) <= 0                          # inputs that never move
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += GPTQ_DAMP * np.mean(np.diag(h)) * np.eye(c)
    u = np.linalg.cholesky(np.linalg.inv(h)).T     # upper Cholesky factor of H^-1
    q = np.zeros_like(w)
    for i1 in range(0, c, GPTQ_BLOCK):       # blocks: the rest is updated once per block
        i2 = min(i1 + GPTQ_BLOCK, c)
        blk = w[:, i1:i2].copy()
        errs = np.zeros_like(blk)
        for j in range(i2 - i1):
            i = i1 + j
            q[:, i] = np.clip(np.round(blk[:, j] / sc[:, i]), -qmax, qmax)
            errs[:, j] = (blk[:, j] - q[:, i] * sc[:, i]) / u[i, i]
            blk[:, j + 1:] -= np.outer(errs[:, j], u[i, i + 1:i2])
        w[:, i2:] -= errs @ u[i1:i2, i2:]
    out = np.empty_like(q)
    out[:, order] = q
    return out


def _refit_scales(w: np.ndarray, q: np.ndarray, s: np.ndarray, moment: np.ndarray | None) -> np.ndarray:
    """Least-squares row scales for fixed integers: s = (w M q^T) / (q M q^T), M = E[x x^T] or I."""
    mq = q if moment is None else q @ moment
    num = np.sum(w * mq, axis=1)
    den = np.sum(q * mq, axis=1)
    ok = (den > 0) & (num > 0)
    return np.where(ok, num / np.where(ok, den, 1.0), s)


def quantize_rows(w: np.ndarray, bits: int, moment: np.ndarray | None = None,
                  ratios: np.ndarray = CLIP_RATIOS, rounding: str = "nearest",
                  metric: str = "output", refit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric quantization with a clipping search.

    w (R, C) float; moment (C, C) E[x x^T] of the input or None.
    Every candidate ratio r gives scales s = r * max|row| / qmax; each row
    keeps the candidate with the smallest error: the output error
    e E[x x^T] e^T (metric "output") or the plain squared weight error e e^T
    (metric "weight", or when there is no moment). rounding: "nearest" or
    "gptq" (needs the moment). refit: after rounding, replace each candidate's
    scale by the least-squares scale for its integers (same error measure).
    Returns q (R, C) int64 in [-qmax, qmax] and s (R,) float64 (0 for all-zero rows).
    """
    w = np.asarray(w, dtype=np.float64)
    rows = w.shape[0]
    qmax = (1 << (bits - 1)) - 1
    amax = np.abs(w).max(axis=1)                                   # (R,)
    safe = np.where(amax > 0, amax, 1.0)
    ratios = np.asarray(ratios, dtype=np.float64)
    s_all = (ratios[:, None] * safe[None, :] / qmax).reshape(-1)   # (nr * R,) candidate scales
    w_all = np.tile(w, (len(ratios), 1))                           # (nr * R, C)
    if rounding == "gptq" and moment is not None:
        q_all = _round_gptq(w_all, s_all, qmax, moment)
    else:
        q_all = _round_nearest(w_all, s_all, qmax)
    metric_m = moment if metric == "output" else None
    if refit:
        s_all = _refit_scales(w_all, q_all, s_all, metric_m)
    e = w_all - q_all * s_all[:, None]
    if metric_m is not None:
        err = np.sum((e @ metric_m) * e, axis=1)
    else:
        err = np.sum(e * e, axis=1)
    # first (smallest-ratio) minimum per row; deterministic
    best = np.argmin(err.reshape(len(ratios), rows), axis=0)      # (R,)
    pick = best * rows + np.arange(rows)
    q = q_all[pick].astype(np.int64)
    s = np.where(amax > 0, s_all[pick], 0.0)
    q[amax == 0] = 0
    return q, s


def _requant(reals, what: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return nx.quantize_multipliers(np.asarray(reals, dtype=np.float64))
    except ValueError as exc:
        raise QuantizeError(f"requant factor of {what} cannot be represented: {exc}") from exc


def _gains(g: np.ndarray, dim: int, s_out: float) -> tuple[np.ndarray, int]:
    """int16 rmsnorm gains gq = round(g * sqrt(D) / s_out * 2**gshift), max |gq| in [2**14, 2**15)."""
    v = np.asarray(g, dtype=np.float64) * math.sqrt(dim) / s_out
    top = float(np.abs(v).max())
    if top == 0.0:
        return np.zeros(len(v), dtype=np.int64), 0
    gshift = (GAIN_BITS - 1) - math.floor(math.log2(top))
    if round(top * 2.0 ** gshift) >= 1 << GAIN_BITS:       # rounding reached 2**15
        gshift -= 1
    if nx.RSQRT_FRAC - 7 + gshift < 1:                    # rmsnorm shift 23 + k + gshift, k >= -7
        raise QuantizeError(f"rmsnorm gain {top:.3g} (in output units) is too large for the int16 gain "
                            "format; check the checkpoint's norm weights")
    return np.round(v * 2.0 ** gshift).astype(np.int64), int(gshift)


def _act_scale(maximum: float) -> float:
    """int8 scale for a calibrated magnitude; a point that never moved gets a harmless 1/127."""
    return (maximum if maximum > 0 else 1.0) / ACT_QMAX


# ---------------------------------------------------------------- the model

def quantize(float_model: FloatModel, calib: Calibration, bits: dict | None = None, *,
             clip_search: str = "output", rounding: str = "gptq", source: str = "",
             tokenizer=None, transform: dict | None = None, qk_bits: int = 8) -> IntModel:
    """Quantize `float_model` with calibration `calib` into an IntModel.

    bits: weight widths per class (embedding, attention, mlp, classifier).
    clip_search: "output" (error weighted by input second moments), "weight"
    (plain squared weight error) or "none" (scale = max|row| / qmax, no refit).
    rounding: "gptq" (error-compensating, uses E[x x^T]) or "nearest".
    tokenizer: a Tokenizer (its fingerprint goes into meta, the tokenizer itself travels
    with the model: IntModel.tokenizer_bin) or None.
    transform: the hw.transform settings float_model was prepared with (recorded in the knobs
    when they differ from the defaults; the rewrite itself is done before calibration).
    qk_bits: 8, or 16 for int16 queries, keys and key cache (recorded in the knobs when 16).
    """
    bits = check_bits(bits)
    if qk_bits not in QK_BITS:
        raise QuantizeError(f"qk_bits must be one of {', '.join(map(str, QK_BITS))}, got {qk_bits!r}")
    if clip_search not in ("output", "weight", "none"):
        raise QuantizeError(f"clip_search must be 'output', 'weight' or 'none', got {clip_search!r}")
    if rounding not in ("gptq", "nearest"):
        raise QuantizeError(f"rounding must be 'gptq' or 'nearest', got {rounding!r}")
    cfg, fw = float_model.config, float_model.weights
    L, D, hd = cfg.n_layers, cfg.dim, cfg.head_dim
    mx = calib.maxima
    ratios = np.array([1.0]) if clip_search == "none" else CLIP_RATIOS

    def moment(point, layer):
        return calib.moments.get((point, layer))

    def qrows(w, b, mom):
        return quantize_rows(w, b, mom, ratios, rounding, "output" if clip_search == "output" else "weight",
                             refit=clip_search != "none")   # "none": plain max scaling, a baseline

    # ---- activation scales
    res_max = max(float(mx["residual"]), float(np.abs(fw["token_embedding"]).max()))
    s_res = res_max / (1 << RESIDUAL_HEADROOM_BITS)
    sc = {name: [_act_scale(v) for v in mx[name]]
          for name in ("xa", "q", "k", "v", "att", "xf", "h1", "h3", "g")}
    # int16 q and k: the same calibrated range on 2**(qk_bits-8) times finer steps
    for name in ("q", "k"):
        sc[name] = [v / 2 ** (qk_bits - 8) for v in sc[name]]
    s_xc = _act_scale(float(mx["xc"]))
    s_logit = (float(mx["logits"]) or 1.0) / LOGIT_CODE
    out_scale = {"q": sc["q"], "k": sc["k"], "v": sc["v"], "h1": sc["h1"], "h3": sc["h3"], "res": [s_res] * L}

    arrays: dict[str, np.ndarray] = {}
    wscales: dict[str, list] = {}

    # ---- embedding -> int16 residual
    emb, s_e = qrows(fw["token_embedding"], bits["embedding"], None)
    arrays["emb"] = emb
    arrays["emb_m"], arrays["emb_sh"] = _requant(s_e / s_res, "emb")
    wscales["emb"] = s_e.tolist()

    # ---- per-layer projections
    for name in ATTENTION + MLP:
        b = bits["attention"] if name in ATTENTION else bits["mlp"]
        src, dst = PROJ_IO[name]
        qs, ms, shs, ss = [], [], [], []
        for l in range(L):
            q, s_w = qrows(fw[name][l], b, moment(src, l))
            m, sh = _requant(s_w * sc[src][l] / out_scale[dst][l], f"{name} layer {l}")
            qs.append(q), ms.append(m), shs.append(sh), ss.append(s_w.tolist())
        arrays[name] = np.stack(qs)                 # (L, out, in)
        arrays[name + "_m"] = np.stack(ms)          # (L, out)
        arrays[name + "_sh"] = np.stack(shs)
        wscales[name] = ss

    # ---- rmsnorm gains
    for key, fkey, point in (("att", "rms_att", "xa"), ("ffn", "rms_ffn", "xf")):
        gq, gsh = zip(*[_gains(fw[fkey][l], D, sc[point][l]) for l in range(L)])
        arrays[key + "_gq"] = np.stack(gq)          # (L, D)
        arrays[key + "_gshift"] = np.array(gsh, dtype=np.int64)
    gq, gsh = _gains(fw["rms_final"], D, s_xc)
    arrays["final_gq"], arrays["final_gshift"] = gq, np.array([gsh], dtype=np.int64)
    arrays["eps_q"] = np.array([max(1, round(D * cfg.norm_eps / s_res ** 2))], dtype=np.int64)

    # ---- attention, gate and sampler factors
    log2e = 1.0 / math.log(2.0)
    # the score is (q . k) >> score_shift: in the units of int8 q and k
    att = [sc["q"][l] * sc["k"][l] * 2.0 ** nx.score_shift(qk_bits) / math.sqrt(hd) * log2e * 256.0
           for l in range(L)]
    arrays["att_m"], arrays["att_sh"] = _requant(att, "softmax exponent")
    attout = [sc["v"][l] / (sc["att"][l] * 2.0 ** 24) for l in range(L)]
    arrays["attout_m"], arrays["attout_sh"] = _requant(attout, "attention output")
    gate = [sc["h1"][l] * 2.0 ** -nx.SILU_FRAC * sc["h3"][l] / sc["g"][l] for l in range(L)]
    arrays["g_m"], arrays["g_sh"] = _requant(gate, "SiLU gate")
    arrays["silu"] = np.stack([nx.gate_table(sc["h1"][l], cfg.hidden_act) for l in range(L)])   # (L, 256)

    # ---- classifier -> int24 logits
    wcls, s_c = qrows(fw["wcls"], bits["classifier"], moment("xc", None))
    arrays["wcls"] = wcls
    arrays["wcls_m"], arrays["wcls_sh"] = _requant(s_c * s_xc / s_logit, "classifier")
    wscales["wcls"] = s_c.tolist()
    arrays["logit_m"], arrays["logit_sh"] = _requant([s_logit * log2e * 256.0], "sampler exponent")

    # ---- RoPE
    arrays["rope_cos"], arrays["rope_sin"] = nx.rope_tables(cfg.seq_len, hd, cfg.rope_theta)

    scales = {"s_res": s_res, "s_xc": s_xc, "s_logit": s_logit,
              **{"s_" + k: v for k, v in sc.items()}, "weights": wscales}
    knobs = {"bits": bits, "clip_search": clip_search, "rounding": rounding,
             "residual_headroom_bits": RESIDUAL_HEADROOM_BITS, "logit_code": LOGIT_CODE,
             "calibration": calib.settings}
    if qk_bits != 8:
        knobs["qk_bits"] = qk_bits
    from hw.transform import non_default
    if non_default(transform or {}):
        knobs["transform"] = non_default(transform)
    meta = {"source": str(source), "hardwire_version": _version(),
            "tokenizer_fingerprint": tokenizer.fingerprint() if tokenizer is not None else None}
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in arrays.items()}
    return IntModel(cfg, arrays, knobs, scales, meta,
                    tokenizer_bin=tokenizer.to_bin() if tokenizer is not None else None)


def quantize_checkpoint(path, tokenizer_path=None, bits: dict | None = None, choose=None):
    """(IntModel, Tokenizer | None) from a float checkpoint, calibrated as `hardwire quantize` does by default
    (on the corpus_sample.txt beside it when there is one and a tokenizer to encode it).

    bits: weight widths per class (parse_bits); None = the quantizer's defaults. choose: instead of
    bits, choose(float_model, prepared, calib, quantize_opts) -> bits (`--bits auto`, hw/auto_bits.py)."""
    from hw import frontend
    from hw.transform import DEFAULTS, calibrate_prepared

    ckpt = frontend.load(path, tokenizer_path)
    tok, text = ckpt.tokenizer, ckpt.folder / "corpus_sample.txt"
    use_text = text.is_file() and tok is not None
    prepared, calib = calibrate_prepared(ckpt.model, DEFAULTS, "corpus+generate" if use_text else "generate+sample",
                                         corpus=text if use_text else None, tokenizer=tok)
    if choose is not None:
        bits = choose(ckpt.model, prepared, calib, {"transform": DEFAULTS})
    return quantize(prepared, calib, bits, source=str(path), tokenizer=tok, transform=DEFAULTS), tok
