"""Train hardwire's default model: corpus -> BPE tokenizer -> llama weights.

    python -m hw.train.train --out models/default

runs the whole pipeline on one CPU core with numpy only: it generates the
stories (hw/train/corpus.py), learns the tokenizer (hw/train/bpe.py), trains
a llama-architecture model with a hand-written forward and backward pass
(the same arithmetic as llama2.c's run.c, checked against finite differences
in tests/test_default_model.py) and AdamW, then writes model.bin,
tokenizer.bin, corpus_sample.txt and README.md into --out.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # the machine is shared: one core
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hw.architecture import LAYER_MATRICES, layer_shapes
from hw.model import FloatModel, ModelConfig
from hw.train import bpe, corpus

DEFAULT_CONFIG = ModelConfig(dim=64, hidden_dim=176, n_layers=4, n_heads=4, n_kv_heads=2,
                             vocab_size=512, seq_len=256)
MATRICES = LAYER_MATRICES
NORMS = ("rms_att", "rms_ffn", "rms_final")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 1337
    n_stories: int = 40000          # training stories generated (~8.5M tokens)
    bpe_stories: int = 5000         # stories the tokenizer is learned on
    batch_size: int = 16            # sequences per step
    seq_len: int = 256              # tokens per sequence (all start at a story's BOS)
    steps: int = 3000
    lr: float = 4e-3
    min_lr: float = 4e-4
    warmup: int = 100
    weight_decay: float = 0.1       # matrices and embedding only
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 250


# ---------------------------------------------------------------- parameters

def init_params(cfg: ModelConfig, rng: np.random.Generator, dtype=np.float32) -> dict[str, np.ndarray]:
    """Weights in FloatModel's names and shapes; residual projections scaled
    down by sqrt(2 L) as in llama2.c's model.py."""
    L, D, H, KVD, V = cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.kv_dim, cfg.vocab_size
    std, res_std = 0.02, 0.02 / math.sqrt(2 * L)
    shapes = {name: (L, *rc) for name, rc in layer_shapes(cfg).items()}
    p = {"token_embedding": rng.normal(0.0, std, (V, D))}
    for name, shape in shapes.items():
        p[name] = rng.normal(0.0, res_std if name in ("wo", "w2") else std, shape)
    p["rms_att"], p["rms_ffn"], p["rms_final"] = np.ones((L, D)), np.ones((L, D)), np.ones(D)
    return {k: v.astype(dtype) for k, v in p.items()}


def to_float_model(cfg: ModelConfig, params: dict[str, np.ndarray]) -> FloatModel:
    w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
    w["wcls"] = w["token_embedding"]            # shared classifier
    return FloatModel(cfg, w)


def n_params(cfg: ModelConfig) -> int:
    """Distinct trained parameters (the shared classifier counted once)."""
    L, D, H, KVD, V = cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.kv_dim, cfg.vocab_size
    return V * D + L * (2 * D * D + 2 * KVD * D + 3 * H * D + 2 * D) + D


# ---------------------------------------------------------------- forward / backward

def rope_tables(cfg: ModelConfig, T: int) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin (T, hd/2): llama2.c's freq = theta ** -(2i / head_dim) per pair (2i, 2i+1)."""
    hd = cfg.head_dim
    freq = 1.0 / cfg.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(T, dtype=np.float64)[:, None] * freq[None, :]
    return np.cos(ang), np.sin(ang)


def _rope(u, cos, sin):
    # u (B, T, nh, hd); rotate adjacent pairs by the position's angle
    u0, u1 = u[..., 0::2], u[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = np.empty_like(u)
    out[..., 0::2] = u0 * c - u1 * s
    out[..., 1::2] = u0 * s + u1 * c
    return out


def _rope_back(du, cos, sin):
    # the transpose of the rotation: rotate by minus the angle
    d0, d1 = du[..., 0::2], du[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = np.empty_like(du)
    out[..., 0::2] = d0 * c + d1 * s
    out[..., 1::2] = -d0 * s + d1 * c
    return out


def _rmsnorm(x, g, eps):
    r = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)   # (B, T, 1)
    xhat = x * r
    return xhat * g, (xhat, r)


def _rmsnorm_back(dy, g, cache):
    xhat, r = cache
    dg = np.sum(dy * xhat, axis=(0, 1))
    dxhat = dy * g
    dx = r * (dxhat - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True))
    return dx, dg


def forward(params: dict[str, np.ndarray], cfg: ModelConfig, inp: np.ndarray, act=None):
    """llama2.c's forward() over all positions of inp (B, T) at once: logits
    (B, T, V) and the activations that the backward pass needs.

    act(point, layer, x) -> x, when given, sees (and may round) every value the
    integer datapath holds as int8 (hw/calibrate.py's points; q and k before and
    after RoPE); backward() then treats it as the identity (straight-through)."""
    act = act or _same
    B, T = inp.shape
    D, nh, nkv, hd = cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    rep, eps, dt = nh // nkv, cfg.norm_eps, params["wq"].dtype
    cos, sin = (a.astype(dt) for a in rope_tables(cfg, T))
    scale = dt.type(1.0 / math.sqrt(hd))
    mask = np.triu(np.full((T, T), -np.inf, dtype=dt), k=1)              # (T, T) causal

    x = params["token_embedding"][inp]                                   # (B, T, D)
    caches = []
    for l in range(cfg.n_layers):
        # attention: rmsnorm, q k v, RoPE, causal softmax(q k / sqrt(hd)) v, wo, residual
        xn, n1 = _rmsnorm(x, params["rms_att"][l], eps)
        xn = act("xa", l, xn)
        q = act("q", l, _rope(act("q", l, xn @ params["wq"][l].T).reshape(B, T, nh, hd), cos, sin))
        k = act("k", l, _rope(act("k", l, xn @ params["wk"][l].T).reshape(B, T, nkv, hd), cos, sin))
        v = act("v", l, xn @ params["wv"][l].T).reshape(B, T, nkv, hd)
        qh = q.transpose(0, 2, 1, 3)                                     # (B, nh, T, hd)
        kh = np.repeat(k.transpose(0, 2, 1, 3), rep, axis=1)             # query head h uses kv head h // rep
        vh = np.repeat(v.transpose(0, 2, 1, 3), rep, axis=1)
        s = qh @ kh.transpose(0, 1, 3, 2) * scale + mask                 # (B, nh, T, T)
        s -= s.max(axis=-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=-1, keepdims=True)
        o = act("att", l, (p @ vh).transpose(0, 2, 1, 3).reshape(B, T, D))   # (B, T, D)
        x = x + o @ params["wo"][l].T
        # MLP: rmsnorm, w2(silu(w1 x) * w3 x), residual
        xn2, n2 = _rmsnorm(x, params["rms_ffn"][l], eps)
        xn2 = act("xf", l, xn2)
        a = act("h1", l, xn2 @ params["w1"][l].T)                       # (B, T, H)
        b = act("h3", l, xn2 @ params["w3"][l].T)
        sig = 1.0 / (1.0 + np.exp(-a))
        m = act("g", l, a * sig * b)
        x = x + m @ params["w2"][l].T
        caches.append((xn, n1, qh, kh, vh, p, o, xn2, n2, a, b, sig, m))
    xf, nf = _rmsnorm(x, params["rms_final"], eps)
    xf = act("xc", None, xf)
    logits = xf @ classifier(params).T                                   # (B, T, V)
    return logits, (caches, xf, nf, cos, sin, scale)


def _same(point, layer, x):
    return x


def classifier(params: dict[str, np.ndarray]) -> np.ndarray:
    """The classifier: "wcls" where the caller gives one (hw.train.qat: a separately
    fake-quantized copy), else the shared token embedding as training uses."""
    return params["wcls"] if "wcls" in params else params["token_embedding"]


def loss_and_grads(params: dict[str, np.ndarray], cfg: ModelConfig, tokens: np.ndarray,
                   need_grads: bool = True):
    """Mean next-token cross-entropy of tokens (B, T+1) and its gradient per
    parameter (None when need_grads is False)."""
    inp, tgt = tokens[:, :-1], tokens[:, 1:]
    B, T = inp.shape
    logits, cache = forward(params, cfg, inp)
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    z = e.sum(axis=-1, keepdims=True)
    logp_t = np.take_along_axis(logits, tgt[..., None], axis=-1)[..., 0] - np.log(z[..., 0])
    loss = float(-logp_t.mean())
    if not need_grads:
        return loss, None

    dlogits = e / z                                                      # softmax
    np.put_along_axis(dlogits, tgt[..., None],
                      np.take_along_axis(dlogits, tgt[..., None], axis=-1) - 1, axis=-1)
    dlogits /= B * T
    return loss, backward(params, cfg, inp, cache, dlogits)


def backward(params: dict[str, np.ndarray], cfg: ModelConfig, inp: np.ndarray, cache,
             dlogits: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient of every parameter from dloss/dlogits (B, T, V), given
    forward(params, cfg, inp)'s cache; any loss on the logits can use it."""
    B, T = inp.shape
    D, nh, nkv, hd = cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    rep = nh // nkv
    caches, xf, nf, cos, sin, scale = cache
    g = {k: np.zeros_like(v) for k, v in params.items()}
    cls = "wcls" if "wcls" in params else "token_embedding"
    g[cls] += dlogits.reshape(-1, dlogits.shape[-1]).T @ xf.reshape(-1, D)
    dx, g["rms_final"] = _rmsnorm_back(dlogits @ params[cls], params["rms_final"], nf)
    for l in reversed(range(cfg.n_layers)):
        xn, n1, qh, kh, vh, p, o, xn2, n2, a, b, sig, m = caches[l]
        # MLP
        g["w2"][l] = dx.reshape(-1, D).T @ m.reshape(-1, m.shape[-1])
        dm = dx @ params["w2"][l]                                        # (B, T, H)
        db = dm * a * sig
        da = dm * b * sig * (1.0 + a * (1.0 - sig))
        g["w1"][l] = da.reshape(-1, da.shape[-1]).T @ xn2.reshape(-1, D)
        g["w3"][l] = db.reshape(-1, db.shape[-1]).T @ xn2.reshape(-1, D)
        dxn2 = da @ params["w1"][l] + db @ params["w3"][l]
        ddx, g["rms_ffn"][l] = _rmsnorm_back(dxn2, params["rms_ffn"][l], n2)
        dx = dx + ddx
        # attention
        g["wo"][l] = dx.reshape(-1, D).T @ o.reshape(-1, D)
        do = (dx @ params["wo"][l]).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)  # (B, nh, T, hd)
        dp = do @ vh.transpose(0, 1, 3, 2)                               # (B, nh, T, T)
        dvh = p.transpose(0, 1, 3, 2) @ do
        ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True)) * scale
        dqh = ds @ kh
        dkh = ds.transpose(0, 1, 3, 2) @ qh
        dq = _rope_back(dqh.transpose(0, 2, 1, 3), cos, sin).reshape(B, T, D)
        dk = dkh.reshape(B, nkv, rep, T, hd).sum(axis=2).transpose(0, 2, 1, 3)
        dk = _rope_back(dk, cos, sin).reshape(B, T, -1)
        dv = dvh.reshape(B, nkv, rep, T, hd).sum(axis=2).transpose(0, 2, 1, 3).reshape(B, T, -1)
        flat = xn.reshape(-1, D)
        g["wq"][l] = dq.reshape(-1, D).T @ flat
        g["wk"][l] = dk.reshape(-1, dk.shape[-1]).T @ flat
        g["wv"][l] = dv.reshape(-1, dv.shape[-1]).T @ flat
        dxn = dq @ params["wq"][l] + dk @ params["wk"][l] + dv @ params["wv"][l]
        ddx, g["rms_att"][l] = _rmsnorm_back(dxn, params["rms_att"][l], n1)
        dx = dx + ddx
    np.add.at(g["token_embedding"], inp.reshape(-1), dx.reshape(-1, D))
    return g


# ---------------------------------------------------------------- optimiser

class AdamW:
    def __init__(self, params: dict[str, np.ndarray], tc: TrainConfig):
        self.tc, self.t = tc, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params, grads, lr: float) -> float:
        """One update in place; returns the gradient norm before clipping."""
        tc = self.tc
        norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
        clip = min(1.0, tc.grad_clip / (norm + 1e-6))
        self.t += 1
        c1, c2 = 1 - tc.beta1 ** self.t, 1 - tc.beta2 ** self.t
        for k, p in params.items():
            gk = grads[k] * clip
            self.m[k] = tc.beta1 * self.m[k] + (1 - tc.beta1) * gk
            self.v[k] = tc.beta2 * self.v[k] + (1 - tc.beta2) * gk * gk
            if k not in NORMS:
                p -= lr * tc.weight_decay * p
            p -= lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + 1e-8)
        return norm


def lr_at(step: int, tc: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from lr to min_lr."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    frac = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1 + math.cos(math.pi * min(1.0, frac)))


# ---------------------------------------------------------------- data

def token_stream(vocab: bpe.BPEVocab, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All stories as one int32 stream, each starting with BOS (which also
    ends the previous one, as in llama2.c's training data); and the start
    offset of every story."""
    ids = [vocab.encode(t, bos=True) for t in texts]
    starts = np.cumsum([0] + [len(i) for i in ids[:-1]])
    return np.concatenate([np.asarray(i, dtype=np.int32) for i in ids]), starts


def batches(stream: np.ndarray, starts: np.ndarray, tc: TrainConfig, rng: np.random.Generator):
    """Endless (B, T+1) batches, each sequence starting at a story's BOS so
    that positions match inference (which always starts at BOS, position 0)."""
    ok = starts[starts + tc.seq_len + 1 <= len(stream)]
    while True:
        s = rng.choice(ok, size=tc.batch_size)
        yield np.stack([stream[i:i + tc.seq_len + 1] for i in s])


def eval_loss(params, cfg: ModelConfig, stream: np.ndarray, starts: np.ndarray, T: int) -> float:
    """Mean loss over held-out sequences starting at every story's BOS."""
    ok = starts[starts + T + 1 <= len(stream)]
    seqs = np.stack([stream[i:i + T + 1] for i in ok])
    losses = [loss_and_grads(params, cfg, seqs[i:i + 16], need_grads=False)[0]
              for i in range(0, len(seqs), 16)]
    return float(np.mean(losses))


# ---------------------------------------------------------------- the pipeline

SAMPLE_PROMPT = "Once upon a time"
SAMPLE_STORIES = 32          # held-out stories written to corpus_sample.txt


def train(cfg: ModelConfig, tc: TrainConfig, log=print):
    """Corpus -> tokenizer -> trained parameters. Returns (params, vocab, stats)."""
    t0 = time.time()
    texts = corpus.training_stories(tc.seed, tc.n_stories)
    held = corpus.heldout_stories()
    vocab = bpe.train_bpe(texts[:tc.bpe_stories], cfg.vocab_size)
    stream, starts = token_stream(vocab, texts)
    hstream, hstarts = token_stream(vocab, held)
    log(f"corpus: {len(texts)} stories, {len(stream)} tokens "
        f"({len(''.join(texts)) / len(stream):.2f} chars/token); held-out {len(hstream)} tokens; "
        f"tokenizer {vocab.vocab_size} pieces; model {n_params(cfg)} parameters "
        f"({time.time() - t0:.1f} s)")
    rng = np.random.default_rng(tc.seed)
    params = init_params(cfg, rng)
    opt = AdamW(params, tc)
    data = batches(stream, starts, tc, rng)
    recent: list[float] = []
    stats = {"eval": []}
    t_train = time.time()
    for step in range(tc.steps):
        lr = lr_at(step, tc)
        loss, grads = loss_and_grads(params, cfg, next(data))
        norm = opt.step(params, grads, lr)
        recent = (recent + [loss])[-50:]
        if step % 25 == 0 or step == tc.steps - 1:
            el = time.time() - t_train
            log(f"step {step:5d}  loss {loss:.4f}  avg50 {np.mean(recent):.4f}  lr {lr:.2e}  "
                f"|g| {norm:.3f}  {el:7.1f} s  {(step + 1) * tc.batch_size * tc.seq_len / el:6.0f} tok/s")
        if (step + 1) % tc.eval_every == 0 or step == tc.steps - 1:
            ev = eval_loss(params, cfg, hstream, hstarts, tc.seq_len)
            stats["eval"].append((step + 1, ev))
            log(f"eval  step {step + 1}: held-out loss {ev:.4f} (perplexity {math.exp(ev):.2f})")
    stats.update(train_loss=float(np.mean(recent)), heldout_loss=stats["eval"][-1][1],
                 train_seconds=time.time() - t_train, tokens=len(stream),
                 heldout_loss_full=eval_loss(params, cfg, hstream, hstarts, cfg.seq_len))
    return params, vocab, stats


def export(out: Path, cfg: ModelConfig, tc: TrainConfig, params, vocab: bpe.BPEVocab,
           stats: dict, command: str, log=print) -> str:
    """Write model.bin, tokenizer.bin, corpus_sample.txt and README.md; return
    the float reference's greedy sample."""
    from hw.frontend.llama2c import load_llama2c, save_llama2c
    from hw.float_model import FloatRunner
    from hw.tokenizer import Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    save_llama2c(to_float_model(cfg, params), out / "model.bin")
    tok = Tokenizer(vocab.pieces, vocab.scores)
    tok.save(out / "tokenizer.bin")
    sample_text = "\n".join(corpus.heldout_stories()[:SAMPLE_STORIES]) + "\n"
    (out / "corpus_sample.txt").write_text(sample_text, encoding="utf-8")
    # the sample comes from the exported file through the project's float reference
    model = load_llama2c(out / "model.bin")
    # 160 positions, or the whole context of a smaller model (generate_greedy refuses more)
    ids = FloatRunner(model).generate_greedy(tok.encode(SAMPLE_PROMPT), min(160, cfg.seq_len))
    sample = tok.decode_all(ids)
    log(f"greedy sample: {sample}")
    (out / "README.md").write_text(_readme(cfg, tc, stats, sample, command), encoding="utf-8")
    return sample


def _readme(cfg: ModelConfig, tc: TrainConfig, stats: dict, sample: str, command: str) -> str:
    evals = ", ".join(f"{s}: {l:.3f}" for s, l in stats["eval"])
    full_row = "" if tc.seq_len == cfg.seq_len else (
        f"| held-out loss, first {cfg.seq_len} tokens of each story | "
        f"{stats['heldout_loss_full']:.3f} (perplexity {math.exp(stats['heldout_loss_full']):.2f}) |\n")
    return f"""# hardwire's default model

A llama-architecture language model of {n_params(cfg):,} parameters, trained by
this repository on text this repository generates, so that the default path
(`make`, the tests, the simulation) needs no download and no training.

## Reproduce

```
{command}
```

(`make train` runs the same.) The script generates the corpus
(`hw/train/corpus.py`, seed {tc.seed}), learns the byte-fallback BPE tokenizer
(`hw/train/bpe.py`), trains with numpy on one CPU core (no GPU, no torch) and
writes the four files of this folder. On the same numpy/OpenBLAS build the
result is identical; another BLAS may differ in the last bits of the weights.
Training took {stats['train_seconds'] / 60:.1f} minutes.

## Files

| file | what |
| --- | --- |
| model.bin | llama2.c legacy (version 0) float32 checkpoint; llama2.c's `run.c` reads it |
| tokenizer.bin | llama2.c tokenizer: `<unk>`, `<s>`, `</s>`, 256 byte tokens `<0x00>`..`<0xFF>`, merges (score -rank), single characters |
| corpus_sample.txt | {SAMPLE_STORIES} held-out stories, one per line (never trained on): calibration and perplexity text |

## Model

| dim | hidden_dim | n_layers | n_heads | n_kv_heads | head_dim | vocab_size | seq_len |
| --- | --- | --- | --- | --- | --- | --- | --- |
| {cfg.dim} | {cfg.hidden_dim} | {cfg.n_layers} | {cfg.n_heads} | {cfg.n_kv_heads} | {cfg.head_dim} | {cfg.vocab_size} | {cfg.seq_len} |

RMSNorm (eps {cfg.norm_eps}), RoPE on adjacent pairs (theta {cfg.rope_theta:g}),
grouped-query attention, SwiGLU MLP, classifier shared with the token
embedding. hidden_dim {cfg.hidden_dim} is deliberately not a multiple of 64.

## Training

{tc.steps} steps of {tc.batch_size} sequences x {tc.seq_len} tokens (each starting at a
story's BOS), AdamW (betas {tc.beta1}/{tc.beta2}, weight decay {tc.weight_decay} on
matrices), learning rate {tc.lr:g} with {tc.warmup} warm-up steps and cosine decay to
{tc.min_lr:g}, gradient clipping {tc.grad_clip}; corpus of {tc.n_stories:,} stories
({stats['tokens']:,} tokens).

| measure | value |
| --- | --- |
| training loss (mean of the last 50 steps) | {stats['train_loss']:.3f} |
| held-out loss, first {tc.seq_len} tokens of each story | {stats['heldout_loss']:.3f} (perplexity {math.exp(stats['heldout_loss']):.2f}) |
{full_row}
Held-out loss during training (step: loss): {evals}.

## Sample

Greedy (temperature 0) from "{SAMPLE_PROMPT}", 160 steps, float reference
(`hw/float_model.py`, the same arithmetic as llama2.c's `run.c`):

```
{sample}
```

## Licence

The corpus, the tokenizer and the weights are produced entirely by this
repository's own code from its own word lists and templates: no third-party
text, data set or weights went into them. They are distributed under the same
licence as the rest of the hardwire repository.
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the model files")
    d = TrainConfig()
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--batch-size", type=int, default=d.batch_size)
    ap.add_argument("--seq-len", type=int, default=d.seq_len, help="training sequence length")
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--n-stories", type=int, default=d.n_stories)
    a = ap.parse_args(argv)
    tc = TrainConfig(seed=a.seed, steps=a.steps, batch_size=a.batch_size, seq_len=a.seq_len,
                     lr=a.lr, min_lr=a.lr / 10, n_stories=a.n_stories,
                     eval_every=min(d.eval_every, a.steps))
    cfg = DEFAULT_CONFIG
    if tc.seq_len > cfg.seq_len:
        raise SystemExit(f"--seq-len {tc.seq_len} exceeds the model's context {cfg.seq_len}")
    changed = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in asdict(tc).items()
                       if k in ("steps", "seed", "batch_size", "seq_len", "lr", "n_stories")
                       and v != getattr(d, k))
    command = f"python -m hw.train.train --out {a.out} {changed}".strip()

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"config {cfg}\ntrain {tc}")
    params, vocab, stats = train(cfg, tc, log)
    export(a.out, cfg, tc, params, vocab, stats, command, log)
    log(f"wrote {a.out}/model.bin, tokenizer.bin, corpus_sample.txt, README.md")


if __name__ == "__main__":
    main()
