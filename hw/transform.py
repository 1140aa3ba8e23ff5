"""Float-model rewrites that compute the same function with easier activations.

They change only the float weights the quantizer reads, so the integer
datapath (hw/golden.py, the RTL) is untouched: the quantized model is an
ordinary IntModel and stays bit-exact with the RTL by construction.

fold_norms   every RMSNorm gain goes into the matrices that read the norm's
             output (wq wk wv <- rms_att, w1 w3 <- rms_ffn, wcls <- rms_final);
             the norms keep unit gains.
rotate       (QuaRot/SpinQuant's idea) with the gains folded, RMSNorm commutes
             with an orthogonal R of the residual stream (rms(Rx) = rms(x)),
             so the residual can live in rotated coordinates: the embedding
             and the matrices writing the residual (wo, w2) are multiplied by
             R on the left, the matrices reading it (wq wk wv w1 w3 wcls) by
             R^T on the right. A Hadamard R spreads an outlier channel over
             all D channels, so the static per-tensor int8 scales of the norm
             outputs xa, xf, xc are no longer set by a few channels.
rotate_values  an orthogonal R_h per KV head applied to the value projection's
             rows and undone in wo's columns (attention mixes values of one
             head linearly, so R_h passes through): spreads outliers of v and
             of the attention output. RoPE forbids the same for q and k.
balance_qk   the score q.k is unchanged when RoPE pair i of a key head is
             scaled by c_i and the same pair of every query head reading it by
             1/c_i (a scalar on a pair commutes with RoPE's 2-D rotation).
             Keys have a few pairs far larger than the rest, which then set the
             layer's one static int8 key scale and crush the others; with
             c_i = sqrt(max|q_i| / max|k_i|) (pair norms over calibration text)
             query and key pairs get equal ranges (SmoothQuant's migration,
             alpha 1/2). Measured on stories260K it is the largest single
             activation lever (docs/quantization_report.md).

The embedding and classifier are separate arrays in the IntModel, so a
tied classifier is simply untied (it would need rms_final folded in and R on
the other side): the result has shared_classifier=False.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from hw.errors import HardwireError
from hw.model import FloatModel

ROTATIONS = ("hadamard", "random", "none")
ROTATION_SEED = 0           # fixed: a quantized model must be reproducible


class TransformError(HardwireError):
    """A rewrite that cannot be applied to this model."""


def hadamard(n: int) -> np.ndarray:
    """Normalised Sylvester Hadamard matrix (n a power of two): orthogonal, entries +-1/sqrt(n)."""
    if n < 1 or n & (n - 1):
        raise TransformError(f"a Hadamard matrix needs a power-of-two size, not {n}; use --rotate random")
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


def random_orthogonal(n: int, seed: int = ROTATION_SEED) -> np.ndarray:
    """Haar-random orthogonal matrix (QR of a Gaussian, signs fixed), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def rotation(n: int, kind: str, seed: int = ROTATION_SEED) -> np.ndarray:
    """Orthogonal n x n matrix of `kind`: 'hadamard' (random signs times a Hadamard, QuaRot's choice;
    a random orthogonal one when n is not a power of two) or 'random'."""
    if kind == "hadamard":
        if n & (n - 1):
            return random_orthogonal(n, seed)
        signs = np.where(np.random.default_rng(seed).random(n) < 0.5, -1.0, 1.0)
        return hadamard(n) * signs[None, :]
    if kind == "random":
        return random_orthogonal(n, seed)
    raise TransformError(f"unknown rotation {kind!r}; choose from {', '.join(ROTATIONS)}")


def _untied(model: FloatModel, weights: dict) -> FloatModel:
    cfg = dataclasses.replace(model.config, shared_classifier=False)
    return FloatModel(cfg, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()})


def fold_norms(model: FloatModel) -> FloatModel:
    """Move every RMSNorm gain into the matrices reading the norm; the gains become 1."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in model.weights.items()}
    ga, gf = w["rms_att"][:, None, :], w["rms_ffn"][:, None, :]       # (L, 1, D)
    out = dict(w)
    for name in ("wq", "wk", "wv"):
        out[name] = w[name] * ga
    for name in ("w1", "w3"):
        out[name] = w[name] * gf
    out["wcls"] = w["wcls"] * w["rms_final"][None, :]
    out["token_embedding"] = w["token_embedding"].copy()
    for name in ("rms_att", "rms_ffn", "rms_final"):
        out[name] = np.ones_like(w[name])
    return _untied(model, out)


def rotate_residual(model: FloatModel, r: np.ndarray) -> FloatModel:
    """Residual x -> r x. Needs unit norm gains (fold_norms first)."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in model.weights.items()}
    for name in ("rms_att", "rms_ffn", "rms_final"):
        if not np.all(w[name] == 1.0):
            raise TransformError("rotating the residual needs unit RMSNorm gains; fold_norms first")
    out = dict(w)
    out["token_embedding"] = w["token_embedding"] @ r.T                 # rows are residual vectors
    for name in ("wo", "w2"):                                            # writers: r @ W
        out[name] = np.einsum("ij,ljk->lik", r, w[name])
    for name in ("wq", "wk", "wv", "w1", "w3"):                          # readers: W @ r^T
        out[name] = w[name] @ r.T
    out["wcls"] = w["wcls"] @ r.T
    return _untied(model, out)


def rotate_values(model: FloatModel, kind: str, seed: int = ROTATION_SEED) -> FloatModel:
    """v -> R_h v per KV head (wv rows), undone in wo's columns of every query head reading it."""
    cfg = model.config
    hd, group = cfg.head_dim, cfg.n_heads // cfg.n_kv_heads
    rh = [rotation(hd, kind, seed + 1 + h) for h in range(cfg.n_kv_heads)]
    rv = np.zeros((cfg.kv_dim, cfg.kv_dim))
    ro = np.zeros((cfg.dim, cfg.dim))
    for h in range(cfg.n_kv_heads):
        rv[h * hd:(h + 1) * hd, h * hd:(h + 1) * hd] = rh[h]
    for h in range(cfg.n_heads):
        ro[h * hd:(h + 1) * hd, h * hd:(h + 1) * hd] = rh[h // group]
    w = {k: np.asarray(v, dtype=np.float64) for k, v in model.weights.items()}
    out = dict(w)
    out["wv"] = np.einsum("ij,ljk->lik", rv, w["wv"])
    out["wo"] = w["wo"] @ ro.T
    if cfg.shared_classifier:
        out["wcls"] = w["token_embedding"].copy()
    return _untied(model, out)


def qk_pair_maxima(model: FloatModel, sequences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Largest RoPE-pair norm of q (per KV head's group) and of k over `sequences`: two (L, KVH, hd/2)
    arrays. RoPE keeps pair norms, so the pre-RoPE projections are enough."""
    from hw.float_model import FloatRunner

    cfg = model.config
    hd, group, half = cfg.head_dim, cfg.n_heads // cfg.n_kv_heads, cfg.head_dim // 2
    mq = np.zeros((cfg.n_layers, cfg.n_kv_heads, half))
    mk = np.zeros_like(mq)
    runner = FloatRunner(model)
    for seq in sequences:
        runner.reset()
        for pos, tok in enumerate(seq[:cfg.seq_len]):
            rec: dict = {}
            runner.forward(tok, pos, record=rec)
            for l in range(cfg.n_layers):
                q = np.asarray(rec[("q_pre", l)], np.float64).reshape(cfg.n_kv_heads, group, half, 2)
                k = np.asarray(rec[("k_pre", l)], np.float64).reshape(cfg.n_kv_heads, half, 2)
                mq[l] = np.maximum(mq[l], np.sqrt((q * q).sum(-1)).max(axis=1))
                mk[l] = np.maximum(mk[l], np.sqrt((k * k).sum(-1)))
    return mq, mk


def balance_qk(model: FloatModel, mq: np.ndarray, mk: np.ndarray) -> FloatModel:
    """Scale key pair i by c_i = sqrt(mq_i / mk_i) and query pairs by 1/c_i (qk_pair_maxima's arrays)."""
    cfg = model.config
    group = cfg.n_heads // cfg.n_kv_heads
    ok = (mq > 0) & (mk > 0)
    c = np.where(ok, np.sqrt(np.where(ok, mq, 1.0) / np.where(ok, mk, 1.0)), 1.0)   # (L, KVH, hd/2)
    ck = np.repeat(c, 2, axis=-1).reshape(cfg.n_layers, cfg.kv_dim)                 # both values of a pair
    cq = np.repeat(np.repeat(c, 2, axis=-1)[:, :, None, :], group, axis=2).reshape(cfg.n_layers, cfg.dim)
    w = {k: np.asarray(v, dtype=np.float64) for k, v in model.weights.items()}
    out = dict(w)
    out["wk"] = w["wk"] * ck[:, :, None]
    out["wq"] = w["wq"] / cq[:, :, None]
    if cfg.shared_classifier:
        out["wcls"] = w["token_embedding"].copy()
    return _untied(model, out)


def prepare(model: FloatModel, rotate: str = "none", rotate_v: bool = False,
            fold: bool | None = None, qk_sequences: list[list[int]] | None = None) -> FloatModel:
    """The float model the quantizer should read for these settings.

    rotate: 'hadamard', 'random' or 'none' (the residual stream); rotate_v: per-head value rotation;
    fold: fold the norm gains (implied by a residual rotation; None = only when rotating);
    qk_sequences: calibration token sequences for balance_qk (None: no balancing).
    """
    if rotate not in ROTATIONS:
        raise TransformError(f"unknown rotation {rotate!r}; choose from {', '.join(ROTATIONS)}")
    if fold is False and rotate != "none":
        raise TransformError(f"rotate={rotate!r} needs the norm gains folded into the matrices "
                             "(fold=False was given); pass fold=None or rotate='none'")
    out = model
    if fold or rotate != "none":
        out = fold_norms(out)
    if rotate != "none":
        out = rotate_residual(out, rotation(model.config.dim, rotate))
    if rotate_v:
        out = rotate_values(out, "hadamard" if rotate == "none" else rotate)
    if qk_sequences is not None:
        out = balance_qk(out, *qk_pair_maxima(out, qk_sequences))
    return out


# ---------------------------------------------------------------- the quantize flow's settings

DEFAULTS = {"rotate": "none", "rotate_v": False, "balance_qk": False}


def check_settings(settings: dict | None) -> dict:
    """Fill missing transform settings from DEFAULTS and check each one."""
    out = dict(DEFAULTS)
    for name, value in (settings or {}).items():
        if name not in DEFAULTS:
            raise TransformError(f"unknown transform setting {name!r}; choose from {', '.join(DEFAULTS)}")
        out[name] = value
    if out["rotate"] not in ROTATIONS:
        raise TransformError(f"unknown rotation {out['rotate']!r}; choose from {', '.join(ROTATIONS)}")
    for name in ("rotate_v", "balance_qk"):
        if not isinstance(out[name], bool):
            raise TransformError(f"transform setting {name} must be true or false, not {out[name]!r}")
    return out


def non_default(settings: dict) -> dict:
    """The settings that differ from DEFAULTS (what an IntModel records: the default flow's models,
    and so their fingerprints, stay as they were before these rewrites existed)."""
    return {k: v for k, v in check_settings(settings).items() if v != DEFAULTS[k]}


def calibrate_prepared(model: FloatModel, settings: dict | None = None, source: str = "generate",
                       corpus=None, tokenizer=None, percentiles: dict | None = None, act_clip: str = "max"):
    """(prepared float model, its Calibration): one set of calibration sequences (from `model`) serves
    the q/k balance statistics and the calibration of the rewritten model."""
    from hw.calibrate import calibrate, calibration_sequences

    s = check_settings(settings)
    seqs = calibration_sequences(model, source, corpus, tokenizer)
    prepared = prepare(model, s["rotate"], s["rotate_v"], qk_sequences=seqs if s["balance_qk"] else None)
    calib = calibrate(prepared, seqs, percentiles, source, act_clip=act_clip)
    if "corpus" in source.split("+"):
        calib.settings["text"] = Path(corpus).name       # the name only: no machine paths in the model
    return prepared, calib
