"""Float emulation of activation-quantization modes the hardware does not have (yet).

NOT a specification: hw/golden.py is. This runs the float forward pass
(hw/float_model.py's steps, float64) with the integer model's dequantized
weights (integer x row scale) and rounds chosen activation points to int8:

  static    with the integer model's calibrated scale (what the hardware does;
            the emulation leaves out the int16 residual, the fixed-point
            softmax, RMSNorm, RoPE and SiLU, so it is a little optimistic)
  dynamic   with a scale computed per vector, or per group of `group`
            values, as max|x| / 127 (what runq.c does, and what an on-chip
            max-abs unit before each int8 point would do)

Points left out of `points` stay float: that emulates a wider format there
(e.g. int16 q and k). `--weight-group G` emulates finer weight scales too:
the attention and MLP matrices requantized at their class width with one
scale per row and group of G input columns (a scale word per group in the
lane's scale ROM, each group's partial sum rescaled), or, with `--pow2`, the
row's scale divided by 2^e, e in 0..3 per group (a 2-bit shift per group:
the partial sums shifted before they are added, no multiplier). docs/quantization_report.md uses it to say what each
datapath change would buy before anyone writes RTL for it:

    python -m hw.fakequant CHECKPOINT --tokenizer TOK [--bits 8]
"""
from __future__ import annotations

import numpy as np

from hw.activations import activation
from hw.architecture import LAYER_MATRICES
from hw.float_model import apply_rope, rmsnorm, rope_cos_sin

POINTS = ("xa", "q", "k", "v", "att", "xf", "h1", "h3", "g", "xc")
MODES = ("static", "dynamic")


POW2_STEPS = 4          # --pow2: a group's scale is the row's / 2^e, e in 0..POW2_STEPS-1


def group_scales(w: np.ndarray, bits: int, group: int, pow2: bool = False) -> np.ndarray:
    """(R, C) scale of each weight of w (R, C) at `bits`, one per row and group of `group` columns
    (the last group may be shorter), each the clip with the least squared error under nearest
    rounding. pow2: one scale per row, each group's the row's / 2^e with the e of least error."""
    from hw.quantize import quantize_rows

    r, c = w.shape
    pad = -c % group                # a last, shorter group: zero columns change no scale or error
    wp = np.pad(np.asarray(w, np.float64), ((0, 0), (0, pad)))
    ng = (c + pad) // group
    if not pow2:
        _, sc = quantize_rows(wp.reshape(-1, group), bits, None, metric="weight", refit=False)
        return np.repeat(sc.reshape(r, ng), group, axis=1)[:, :c]
    qmax = (1 << (bits - 1)) - 1
    _, row_s = quantize_rows(wp, bits, None, metric="weight", refit=False)
    wg = wp.reshape(r, ng, group)
    best, err = np.zeros((r, ng)), np.full((r, ng), np.inf)
    for e in range(POW2_STEPS):
        s = (row_s / 2 ** e)[:, None]
        safe = np.where(s > 0, s, 1.0)[:, :, None]
        er = ((wg - np.clip(np.round(wg / safe), -qmax, qmax) * safe) ** 2).sum(axis=2)
        take = er < err
        best = np.where(take, np.broadcast_to(s, take.shape), best)
        err = np.where(take, er, err)
    return np.repeat(best, group, axis=1)[:, :c]


def group_quantized(w: np.ndarray, bits: int, group: int, pow2: bool = False,
                    moment: np.ndarray | None = None) -> np.ndarray:
    """w (R, C) on group_scales' grid, dequantized: nearest rounding, or GPTQ's with the input's
    second moments E[x x^T] (C, C) as the default flow rounds (so the comparison is fair)."""
    from hw.quantize import _round_gptq

    s = group_scales(w, bits, group, pow2)
    safe = np.where(s > 0, s, 1.0)           # all-zero groups: any scale, integers 0
    qmax = (1 << (bits - 1)) - 1
    if moment is None:
        return np.clip(np.round(w / safe), -qmax, qmax) * s
    return _round_gptq(np.asarray(w, np.float64), safe, qmax, moment) * s


class FakeQuantRunner:
    """forward(token) -> float logits, one position after another (reset() starts again)."""

    def __init__(self, float_model, int_model=None, points=POINTS, mode: str = "static", group: int = 0,
                 weight_group: int = 0, weight_bits: dict | None = None, pow2: bool = False,
                 moments: dict | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if mode == "static" and points and int_model is None:
            raise ValueError("static scales come from an integer model; pass int_model")
        self.cfg = cfg = float_model.config
        self.w = {k: np.asarray(v, np.float64) for k, v in float_model.weights.items()}
        if int_model is not None:                  # the integer model's weights, dequantized
            ws = int_model.scales["weights"]
            for name in LAYER_MATRICES:
                self.w[name] = np.stack([int_model[name][l] * np.asarray(ws[name][l])[:, None]
                                         for l in range(cfg.n_layers)])
            self.w["wcls"] = int_model["wcls"] * np.asarray(ws["wcls"])[:, None]
            self.w["token_embedding"] = int_model["emb"] * np.asarray(ws["emb"])[:, None]
        if weight_group:                           # finer weight scales for the attention and MLP classes
            from hw.quantize import ATTENTION, MLP, PROJ_IO

            for name in ATTENTION + MLP:
                b = weight_bits["attention" if name in ATTENTION else "mlp"]
                fw = np.asarray(float_model.weights[name], np.float64)
                src = PROJ_IO[name][0]
                self.w[name] = np.stack([group_quantized(fw[l], b, weight_group, pow2,
                                                         (moments or {}).get((src, l)))
                                         for l in range(cfg.n_layers)])
        bad = set(points) - set(POINTS)
        if bad:
            raise ValueError(f"unknown activation points {sorted(bad)}; choose from {POINTS}")
        self.im, self.points, self.mode, self.group = int_model, set(points), mode, group
        self.cos, self.sin = rope_cos_sin(cfg.head_dim, cfg.seq_len, cfg.rope_theta)
        self.reset()

    def reset(self) -> None:
        c = self.cfg
        self.kc = np.zeros((c.n_layers, c.n_kv_heads, c.seq_len, c.head_dim))
        self.vc = np.zeros_like(self.kc)
        self.pos = 0

    def _q(self, name: str, layer, x: np.ndarray) -> np.ndarray:
        if name not in self.points:
            return x
        if self.mode == "static":
            s = self.im.scales["s_" + name]
            s = s[layer] if isinstance(s, list) else s
            return np.clip(np.round(x / s), -127, 127) * s
        g = self.group if self.group and x.size % self.group == 0 else x.size
        xs = x.reshape(-1, g)
        s = np.abs(xs).max(axis=1, keepdims=True) / 127.0
        s[s == 0] = 1.0
        return (np.round(xs / s) * s).reshape(x.shape)

    def forward(self, token: int) -> np.ndarray:
        c, w, pos, hd, q_ = self.cfg, self.w, self.pos, self.cfg.head_dim, self._q
        cos, sin = self.cos[pos], self.sin[pos]
        x = w["token_embedding"][token].copy()
        act = activation(c.hidden_act).fn
        for l in range(c.n_layers):
            xa = q_("xa", l, rmsnorm(x, w["rms_att"][l], c.norm_eps))
            q, k, v = (q_(n, l, w[m][l] @ xa) for n, m in (("q", "wq"), ("k", "wk"), ("v", "wv")))
            q = q_("q", l, apply_rope(q.reshape(c.n_heads, hd), cos, sin).ravel())
            k = q_("k", l, apply_rope(k.reshape(c.n_kv_heads, hd), cos, sin).ravel())
            self.kc[l, :, pos] = k.reshape(c.n_kv_heads, hd)
            self.vc[l, :, pos] = v.reshape(c.n_kv_heads, hd)
            qg = q.reshape(c.n_kv_heads, c.n_heads // c.n_kv_heads, hd)
            sc = qg @ self.kc[l, :, :pos + 1].transpose(0, 2, 1) / np.sqrt(hd)
            p = np.exp(sc - sc.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            att = q_("att", l, (p @ self.vc[l, :, :pos + 1]).reshape(c.dim))
            x = x + w["wo"][l] @ att
            xf = q_("xf", l, rmsnorm(x, w["rms_ffn"][l], c.norm_eps))
            h1, h3 = q_("h1", l, w["w1"][l] @ xf), q_("h3", l, w["w3"][l] @ xf)
            g = q_("g", l, act(h1) * h3)
            x = x + w["w2"][l] @ g
        xc = q_("xc", None, rmsnorm(x, w["rms_final"], c.norm_eps))
        self.pos += 1
        return w["wcls"] @ xc


def compare(runner: FakeQuantRunner, ref) -> dict:
    """hw.report.compare's metrics for an emulation (float logits) against a hw.report.Reference."""
    from hw.report import heldout_sums

    runner.reset()
    out, tok = [], 1
    for _ in range(len(ref.greedy)):
        tok = int(np.argmax(runner.forward(tok)))
        out.append(tok)
    same = [a == b for a, b in zip(out, ref.greedy)]
    prefix = same.index(False) if False in same else len(same)
    nll_f, nll_i, kl, top, n = heldout_sums(ref, runner)
    return {"greedy_prefix": prefix, "greedy_steps": len(ref.greedy), "top1": top / n,
            "ppl_ratio": float(np.exp((nll_i - nll_f) / n)), "kl": kl / n}


MODES_TABLE = (   # (label, points, mode, group): the rows `python -m hw.fakequant` prints
    ("weights only (activations float)", (), "static", 0),
    ("int8 static everywhere (today's datapath)", POINTS, "static", 0),
    ("int8 static, q and k wide (int16)", tuple(p for p in POINTS if p not in ("q", "k")), "static", 0),
    ("int8 static, q, k and g wide", tuple(p for p in POINTS if p not in ("q", "k", "g")), "static", 0),
    ("int8 dynamic per vector", POINTS, "dynamic", 0),
    ("int8 dynamic per group of 4", POINTS, "dynamic", 4),
    ("int8 dynamic per group of 4, q and k wide", tuple(p for p in POINTS if p not in ("q", "k")), "dynamic", 4),
)


def main(argv=None) -> None:
    import argparse

    from hw import frontend
    from hw.quantize import parse_bits, quantize
    from hw.report import default_heldout_lines, describe_protocol, float_reference, heldout_windows
    from hw.transform import calibrate_prepared

    ap = argparse.ArgumentParser(prog="python -m hw.fakequant", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--bits", default="8", help="weight widths as `hardwire quantize --bits` takes them")
    ap.add_argument("--calibration", default="generate+sample")
    ap.add_argument("--weight-group", type=int, default=0,
                    help="also emulate attention/MLP weights with a scale per row and group of this many "
                         "input columns (the last group of a row may be shorter)")
    ap.add_argument("--pow2", action="store_true",
                    help="with --weight-group: the groups' scales are the row's / 2^e (a shift per group)")
    ap.add_argument("--rows", default="",
                    help="only the table rows whose label holds one of these comma-separated words")
    args = ap.parse_args(argv)
    if args.pow2 and not args.weight_group:
        ap.error("--pow2 sets how --weight-group's groups are scaled; pass --weight-group G too")
    ckpt = frontend.load(args.checkpoint, args.tokenizer)
    fm, tok = ckpt.model, ckpt.tokenizer
    ref = float_reference(fm, heldout_windows(default_heldout_lines(), tok, fm.config.seq_len))
    print(describe_protocol(ref, fm.config.seq_len))
    prepared, calib = calibrate_prepared(fm, None, args.calibration, tokenizer=tok)
    bits = parse_bits(args.bits)
    im = quantize(prepared, calib, bits)
    wg = f", weights per group of {args.weight_group}{' (2^-e scales)' if args.pow2 else ''}" \
        if args.weight_group else ""
    want = [w for w in args.rows.split(",") if w]
    for label, points, mode, group in MODES_TABLE:
        if want and not any(w in label for w in want):
            continue
        label += wg
        r = compare(FakeQuantRunner(prepared, im, points, mode, group, args.weight_group, bits, args.pow2,
                                    calib.moments), ref)
        print(f"{label:70s} prefix {r['greedy_prefix']}/{r['greedy_steps']}  top-1 {100 * r['top1']:.1f}%  "
              f"ppl ratio {r['ppl_ratio']:.4f}  KL {r['kl']:.4f}", flush=True)


if __name__ == "__main__":
    main()
