"""Calibration: how large does each activation of the float model get?

The quantizer needs one number per activation point (and layer): the largest
magnitude it must represent. We run the float reference over calibration
token sequences, record every intermediate vector, and reduce each point to
max |value| (or a high percentile of |value|, see `PERCENTILES`).

Calibration text is selectable; a source is one of these names or several
joined by "+" ("generate+sample"):
  "generate" - the float model's own greedy text from BOS (256 tokens); works
               for any model, no corpus needed.
  "sample"   - the float model's own text sampled at temperature 1 from BOS
               (SAMPLE_SEEDS sequences of 256 tokens, fixed seeds): more
               varied than the greedy text, still no corpus needed.
  "corpus"   - a text file (the default model's corpus_sample.txt: one story
               per line), each line encoded with the model's tokenizer after
               a BOS.

Points (per layer unless noted):
  residual   every residual state: embeddings, after each attention add,
             after each MLP add, the final one (one number for all layers:
             the residual stream has one int16 scale)
  xa, xf     rmsnorm outputs before attention / MLP
  q, k       projections, max over before and after RoPE (same int8 scale)
  v, att     value projection, attention output (softmax-weighted values)
  h1, h3, g  MLP: w1 x, w3 x, silu(h1) * h3
  xc         final rmsnorm output (one number)
  logits     classifier output (one number)

Besides the maxima we keep, per projection input, the second-moment matrix
E[x x^T] over calibration tokens: the quantizer's clipping search weights
each weight's rounding error by how strongly its input is driven.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.errors import HardwireError
from hw.model import FloatModel

BOS = 1
LAYER_POINTS = ("xa", "q", "k", "v", "att", "xf", "h1", "h3", "g")
GLOBAL_POINTS = ("residual", "xc", "logits")
# Projection inputs whose second moments E[x x^T] we keep (plus "xc" for the classifier).
MOMENT_POINTS = ("xa", "att", "xf", "g")

# Percentile of |value| used per point (100 = max). Measured on stories260K
# (docs/quantization_report.md): 99.99 for the SwiGLU values h1, h3, g (a
# few outliers waste their int8 range) lowers the 4-bit perplexity cost;
# for the other int8 points it changed nothing beyond noise, and the
# residual and logits saturate hard (int16 / int24), so they keep the max.
PERCENTILES = {
    "residual": 100.0, "logits": 100.0, "xc": 100.0,
    "xa": 100.0, "xf": 100.0, "q": 100.0, "k": 100.0, "v": 100.0,
    "att": 100.0, "h1": 99.99, "h3": 99.99, "g": 99.99,
}
SOURCES = ("generate", "sample", "corpus")
# act_clip "mse": each int8 point's clip, as a fraction of its max, minimising the squared int8
# rounding + clipping error over the calibration values (the residual and logits keep the max)
ACT_CLIPS = ("max", "mse")
MSE_CLIP_RATIOS = np.linspace(0.30, 1.0, 36)
INT8_POINTS = LAYER_POINTS + ("xc",)
SAMPLE_SEEDS = tuple(range(1, 13))   # 12 x 256 tokens: GPTQ fits 4 sequences' moments too closely


class CalibrationError(HardwireError):
    """Calibration settings or text that cannot be used."""


@dataclass
class Calibration:
    """Per-point magnitudes of a float model's activations.

    maxima: {"residual": float, "xc": float, "logits": float,
             "xa": [L floats], "q": [L floats], ...}  (after the percentile)
    true_max: the same points with the plain maximum (for the report)
    moments: {("xa", l): (D, D) E[x x^T], ("att", l), ("xf", l), ("g", l): (H, H),
              ("xc", None): (D, D)}
    settings: how it was made (source, token count, percentiles)
    """
    maxima: dict
    true_max: dict
    moments: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


# ---------------------------------------------------------------- text sources

def greedy_sequence(float_model: FloatModel, n_tokens: int = 256) -> list[int]:
    """BOS followed by the float model's greedy continuation (n_tokens in all)."""
    from hw.float_model import FloatRunner

    n = min(n_tokens, float_model.config.seq_len)
    runner = FloatRunner(float_model)
    seq = [BOS]
    for pos in range(n - 1):
        logits = runner.forward(seq[-1], pos)
        seq.append(int(np.argmax(logits)))
    return seq


def sampled_sequence(float_model: FloatModel, seed: int, n_tokens: int = 256) -> list[int]:
    """BOS followed by the float model's text sampled at temperature 1 (numpy seed `seed`)."""
    from hw.float_model import FloatRunner

    rng = np.random.default_rng(seed)
    n = min(n_tokens, float_model.config.seq_len)
    runner = FloatRunner(float_model)
    seq = [BOS]
    for pos in range(n - 1):
        logits = runner.forward(seq[-1], pos).astype(np.float64)
        p = np.exp(logits - logits.max())
        seq.append(int(rng.choice(len(p), p=p / p.sum())))
    return seq


def text_sequences(lines: list[str], tokenizer, seq_len: int, max_tokens: int = 4096) -> list[list[int]]:
    """One BOS-led token sequence per non-empty line, cut at seq_len; max_tokens in all."""
    seqs, total = [], 0
    for line in (x.strip() for x in lines):
        if not line or total >= max_tokens:
            continue
        ids = tokenizer.encode(line, bos=True, eos=False)[:min(seq_len, max_tokens - total)]
        seqs.append(ids)
        total += len(ids)
    return seqs


def calibration_sequences(float_model: FloatModel, source: str = "generate",
                          corpus: str | Path | None = None, tokenizer=None,
                          n_generate: int = 256, max_tokens: int = 4096) -> list[list[int]]:
    """Token sequences for `source` (see the module docstring)."""
    parts = source.split("+")
    for part in parts:
        if part not in SOURCES:
            raise CalibrationError(f"unknown calibration source {part!r}; use one of "
                                   f"{', '.join(SOURCES)} or several joined by '+'")
    seqs: list[list[int]] = []
    if "generate" in parts:
        seqs.append(greedy_sequence(float_model, n_generate))
    if "sample" in parts:
        seqs.extend(sampled_sequence(float_model, seed, n_generate) for seed in SAMPLE_SEEDS)
    if "corpus" in parts:
        if corpus is None or tokenizer is None:
            raise CalibrationError(
                "calibration source 'corpus' needs a text file and a tokenizer; "
                "pass --calibration-text FILE (and --tokenizer FILE), or use --calibration generate")
        path = Path(corpus)
        if not path.is_file():
            raise CalibrationError(f"{path}: calibration text file not found; pass an existing text file")
        text = path.read_text(encoding="utf-8", errors="replace")
        seqs.extend(text_sequences(text.splitlines(), tokenizer, float_model.config.seq_len, max_tokens))
    if not any(len(s) > 1 for s in seqs):
        raise CalibrationError(f"calibration source {source!r} gave no tokens; give a longer text")
    return seqs


# ---------------------------------------------------------------- statistics

def _record_sequence(float_model: FloatModel, seq: list[int], sink: dict) -> None:
    """Run one sequence through the float model and append |value| vectors to sink."""
    from hw.float_model import FloatRunner

    cfg, w = float_model.config, float_model.weights
    runner = FloatRunner(float_model)
    for pos, tok in enumerate(seq[:cfg.seq_len]):
        rec: dict = {}
        runner.forward(tok, pos, record=rec)
        for l in range(cfg.n_layers + 1):     # embedding, each layer's output, the final state
            sink.setdefault("residual", []).append(np.abs(rec[("res_in", l)]))
        for l in range(cfg.n_layers):
            get = {name: np.asarray(rec[(name, l)], dtype=np.float64)
                   for name in ("res_in", "xa", "q_pre", "k_pre", "q", "k", "v", "att", "xf", "h1", "h3", "g")}
            # the state between the attention add and the MLP add is not recorded
            mid = get["res_in"] + w["wo"][l].astype(np.float64) @ get["att"]
            sink["residual"].append(np.abs(mid))
            for name in ("xa", "v", "att", "xf", "h1", "h3", "g"):
                sink.setdefault((name, l), []).append(np.abs(get[name]))
            sink.setdefault(("q", l), []).append(np.abs(np.concatenate([get["q_pre"], get["q"]])))
            sink.setdefault(("k", l), []).append(np.abs(np.concatenate([get["k_pre"], get["k"]])))
            for name in MOMENT_POINTS:  # running sums, not per-token matrices
                x = get[name]
                key = ("moment", name, l)
                sink[key] = sink.get(key, 0.0) + np.outer(x, x)
        xc = np.asarray(rec[("xc", None)], dtype=np.float64)
        sink.setdefault("xc", []).append(np.abs(xc))
        sink[("moment", "xc", None)] = sink.get(("moment", "xc", None), 0.0) + np.outer(xc, xc)
        sink.setdefault("logits", []).append(np.abs(np.asarray(rec[("logits", None)], dtype=np.float64)))


def _reduce(values: list[np.ndarray], percentile: float, mse: bool = False) -> tuple[float, float]:
    """(the magnitude the int8 scale is set for, the true max) of a point's |values|."""
    flat = np.concatenate([np.ravel(v) for v in values])
    top = float(flat.max())
    if mse and top > 0:
        return _mse_clip(flat, top), top
    if percentile >= 100.0:
        return top, top
    return float(np.percentile(flat, percentile)), top


def _mse_clip(flat: np.ndarray, top: float) -> float:
    """The clip c (a MSE_CLIP_RATIOS fraction of top) whose int8 codes (scale c / 127) lose least:
    sum of (v - clip(round(v / s)) s)^2 over the values; the first minimum wins."""
    errs = []
    for c in MSE_CLIP_RATIOS * top:
        s = c / 127.0
        errs.append(float(np.sum((flat - np.minimum(np.round(flat / s), 127.0) * s) ** 2)))
    return float(MSE_CLIP_RATIOS[int(np.argmin(errs))] * top)


def calibrate(float_model: FloatModel, sequences: list[list[int]],
              percentiles: dict | None = None, source: str = "custom", act_clip: str = "max") -> Calibration:
    """Run `sequences` through the float model and reduce each point to one magnitude.

    act_clip: "max" (the PERCENTILES, overridable by `percentiles`) or "mse" (every int8 point's
    MSE-optimal clip; `percentiles` then applies to the residual and logits only)."""
    if act_clip not in ACT_CLIPS:
        raise CalibrationError(f"act_clip must be one of {', '.join(ACT_CLIPS)}, got {act_clip!r}")
    pct = dict(PERCENTILES)
    for name, p in (percentiles or {}).items():
        if name not in pct:
            raise CalibrationError(f"unknown calibration point {name!r}; choose from {', '.join(pct)}")
        if not 50.0 <= float(p) <= 100.0:
            raise CalibrationError(f"percentile for {name} must lie in [50, 100], got {p}")
        pct[name] = float(p)
    seqs = [list(s) for s in sequences if len(s) > 0]
    if not seqs:
        raise CalibrationError("no calibration tokens given")
    sink: dict = {}
    for seq in seqs:
        _record_sequence(float_model, seq, sink)

    cfg = float_model.config
    maxima: dict = {}
    true_max: dict = {}
    mse = act_clip == "mse"
    for name in GLOBAL_POINTS:
        maxima[name], true_max[name] = _reduce(sink[name], pct[name], mse and name in INT8_POINTS)
    for name in LAYER_POINTS:
        pairs = [_reduce(sink[(name, l)], pct[name], mse) for l in range(cfg.n_layers)]
        maxima[name] = [p[0] for p in pairs]
        true_max[name] = [p[1] for p in pairs]
    moments = {}
    n_tok = sum(min(len(s), cfg.seq_len) for s in seqs)
    for name in MOMENT_POINTS:
        for l in range(cfg.n_layers):
            moments[(name, l)] = sink[("moment", name, l)] / n_tok  # (in, in)
    moments[("xc", None)] = sink[("moment", "xc", None)] / n_tok        # (D, D)
    settings = {"source": source, "sequences": len(seqs), "tokens": n_tok,
                "percentiles": {k: pct[k] for k in sorted(pct)}}
    if mse:     # recorded only when used: the default flow's models keep their fingerprints
        settings["act_clip"] = act_clip
    return Calibration(maxima, true_max, moments, settings)


def calibrate_model(float_model: FloatModel, source: str = "generate", corpus=None, tokenizer=None,
                    percentiles: dict | None = None, n_generate: int = 256,
                    max_tokens: int = 4096) -> Calibration:
    """calibration_sequences + calibrate in one call."""
    seqs = calibration_sequences(float_model, source, corpus, tokenizer, n_generate, max_tokens)
    calib = calibrate(float_model, seqs, percentiles, source)
    if "corpus" in source.split("+"):
        calib.settings["text"] = Path(corpus).name       # the name only: no machine paths in the model
    return calib
