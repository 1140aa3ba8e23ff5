"""Quantization-aware fine-tuning by distillation: a float checkpoint -> a float
checkpoint whose weights quantize well and that keeps the original's answers.

    python -m hw.train.qat CHECKPOINT --tokenizer TOK --bits attention=4,mlp=4 \\
        --steps 600 --out NEW.bin            (also `hardwire finetune ...`)

The student starts as a copy of the checkpoint. Its forward pass uses every
quantized class's weights fake-quantized exactly as the quantizer's grid
(hw.quantize.quantize_rows: per-row symmetric at the class's width, the clip
ratio with the least squared weight error, round to nearest); the backward
pass is the straight-through estimator (the gradient passes to the float
weights, except those the clip cut off). With --activations int8 (the
default) the student's activations are rounded too, at the datapath's int8
points with static scales measured as hw.calibrate does (ActQuant), so it
also learns to live with the int8 activations; the int16 residual and the
fixed-point softmax, norms, RoPE and SiLU stay float. The loss is the
distillation KL(teacher || student) of the next-token distributions, the
teacher being the original float model on the same batches, so the student
learns to answer as the original, not as the training text says.

Text (--text): hw.train.corpus.training_stories (its own seed), which never
holds the held-out stories that the report measures on and that the default
model's calibration text (corpus_sample.txt) is cut from; or `generate`, the
original model's own sampled text (no data set needed). With --windows
mixed (the default) half the training windows start anywhere in the text,
not at a BOS: a long stream cut into context windows (the report's
protocol) starts mid-story, and a student trained on BOS starts only was
measured to drift there (docs/quantization_report.md).

The new checkpoint holds the student's weights snapped to their grid, so
`hardwire quantize` finds them exactly (the clip ratio 1.0 gives zero error)
and the integer model's weights are the ones trained. Hardware cost: none,
same config, only weights change. Settings and losses go to NEW.bin.json.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # the machine is shared: one core
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hw.calibrate import PERCENTILES
from hw.errors import ConfigError, HardwireError
from hw.model import FloatModel, ModelConfig
from hw.quantize import ATTENTION, CLIP_RATIOS, MLP, parse_bits, quantize_rows
from hw.train import corpus
from hw.train import train as tr
from hw.train.qat_args import DEFAULTS, add_arguments

GENERATE_SEED0 = 1000          # --text generate: sampling seeds from here (calibration uses 1..12)
ACT_CALIBRATE_EVERY = 10      # steps between the int8 activation scales' re-measurements
CLASS_OF = {**{m: "attention" for m in ATTENTION}, **{m: "mlp" for m in MLP}}


# ---------------------------------------------------------------- fake quantization

def fake_quant(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """w (..., C) on the quantizer's per-row grid, and the straight-through mask.

    Rows are the last axis; each row's scale is the one hw.quantize.quantize_rows
    picks without input statistics (clip ratio with the least squared weight
    error, nearest rounding, no refit). The mask is 0 where the clip cut a weight
    off (its gradient is truly 0) and 1 elsewhere (the STE's identity)."""
    rows = np.asarray(w, dtype=np.float64).reshape(-1, w.shape[-1])
    q, s = quantize_rows(rows, bits, None, CLIP_RATIOS, "nearest", "weight", refit=False)
    qmax = (1 << (bits - 1)) - 1
    deq = (q * s[:, None]).reshape(w.shape).astype(w.dtype)
    mask = (np.abs(rows) <= s[:, None] * (qmax + 0.5)).reshape(w.shape)
    return deq, mask


def student_weights(params: dict[str, np.ndarray], bits: dict, shared: bool):
    """The weights the student's forward pass uses, and the STE masks.

    Every matrix at its class's width; the classifier as its own key "wcls"
    (the shared embedding fake-quantized at the classifier's width)."""
    qp, masks = dict(params), {}
    for name in ATTENTION + MLP:
        qp[name], masks[name] = fake_quant(params[name], bits[CLASS_OF[name]])
    qp["token_embedding"], masks["token_embedding"] = fake_quant(params["token_embedding"], bits["embedding"])
    cls = params["token_embedding"] if shared else params["wcls"]
    qp["wcls"], masks["wcls"] = fake_quant(cls, bits["classifier"])
    return qp, masks


class ActQuant:
    """Static int8 rounding at the datapath's int8 points (train.forward's `act`),
    one scale per point and layer measured as hw.calibrate measures it: max |x|
    (99.99th percentile for h1 h3 g) with float activations, / 127. The
    scales are re-measured on a training batch every ACT_CALIBRATE_EVERY steps
    and held in between, so, as in the hardware, a batch may exceed them."""

    def __init__(self, qk_bits: int = 8):
        self.scales: dict = {}
        self.qk_bits = qk_bits          # 16: q and k on the int8 scale's 2^8-times finer grid (numerics 6a)

    def calibrate(self, weights, cfg: ModelConfig, inp: np.ndarray) -> None:
        self.scales = {}
        tr.forward(weights, cfg, inp, act=self._record)

    def _record(self, point, layer, x):
        v = np.abs(x)
        top = float(v.max()) if PERCENTILES[point] >= 100 else float(np.percentile(v, PERCENTILES[point]))
        self.scales[point, layer] = max(self.scales.get((point, layer), 0.0), top)   # q, k: both sides of RoPE
        return x

    def __call__(self, point, layer, x):
        s = (self.scales[point, layer] or 1.0) / 127
        lo, hi = -127, 127
        if point in ("q", "k") and self.qk_bits > 8:      # as hw.quantize scales them (numerics 6a)
            s, lo, hi = s / 2 ** (self.qk_bits - 8), -(1 << (self.qk_bits - 1)), (1 << (self.qk_bits - 1)) - 1
        return (np.clip(np.round(x / s), lo, hi) * s).astype(x.dtype)


# ---------------------------------------------------------------- the distillation loss

def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def distill_loss_and_grads(params, cfg: ModelConfig, inp: np.ndarray, teacher_logp: np.ndarray,
                           need_grads: bool = True, act=None):
    """Mean KL(teacher || student) over the positions of inp (B, T) and its
    gradient per parameter of params (the student's forward weights); act as train.forward's."""
    logits, cache = tr.forward(params, cfg, inp, act)
    ls = log_softmax(logits)
    pt = np.exp(teacher_logp)
    n = inp.shape[0] * inp.shape[1]
    loss = float(np.sum(pt * (teacher_logp - ls)) / n)
    if not need_grads:
        return loss, None
    dlogits = (np.exp(ls) - pt) / n               # d KL / d student logits
    return loss, tr.backward(params, cfg, inp, cache, dlogits.astype(logits.dtype))


def teacher_logp(teacher, cfg: ModelConfig, inp: np.ndarray) -> np.ndarray:
    return log_softmax(tr.forward(teacher, cfg, inp)[0])


def qat_loss_and_grads(params, cfg: ModelConfig, bits: dict, inp, t_logp, need_grads: bool = True,
                       act: ActQuant | None = None):
    """The distillation loss of the fake-quantized student (int8 activations too when act
    is given) and the STE gradient of the float weights in params (the classifier's folded
    into the embedding when shared)."""
    qp, masks = student_weights(params, bits, "wcls" not in params)
    loss, g = distill_loss_and_grads(qp, cfg, inp, t_logp, need_grads, act)
    if g is None:
        return loss, None
    for name, m in masks.items():
        g[name] *= m
    if "wcls" not in params:
        g["token_embedding"] += g.pop("wcls")
    return loss, g


# ---------------------------------------------------------------- data and model

def token_stream(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The stories as one stream with BOS before each (as train.token_stream), and their starts."""
    ids = [tokenizer.encode(t, bos=True, eos=False) for t in texts]
    starts = np.cumsum([0] + [len(i) for i in ids[:-1]])
    return np.concatenate([np.asarray(i, dtype=np.int32) for i in ids]), starts


def params_of(model: FloatModel) -> dict[str, np.ndarray]:
    """Trainable float32 copies in train.py's names (wcls only when not shared)."""
    names = ("token_embedding", "rms_att", "rms_ffn", "rms_final") + ATTENTION + MLP
    p = {k: np.array(model.weights[k], dtype=np.float32) for k in names}
    if not model.config.shared_classifier:
        p["wcls"] = np.array(model.weights["wcls"], dtype=np.float32)
    return p


def snapped_model(cfg: ModelConfig, params, bits: dict) -> FloatModel:
    """The student as the quantizer will see it: each quantized tensor on its grid.
    A shared embedding stays float when the embedding and classifier widths differ
    (one array cannot sit on two grids); at equal widths both grids are the same."""
    qp, _ = student_weights(params, bits, cfg.shared_classifier)
    w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in qp.items()}
    if cfg.shared_classifier:
        if bits["embedding"] != bits["classifier"]:
            w["token_embedding"] = np.array(params["token_embedding"], dtype=np.float32)
        w["wcls"] = w["token_embedding"]
    return FloatModel(cfg, w)


def check_settings(cfg: ModelConfig, a) -> None:
    for flag, v in (("--steps", a.steps), ("--batch-size", a.batch_size), ("--seq-len", a.seq_len),
                    ("--n-stories", a.n_stories), ("--n-generated", a.n_generated)):
        if v < 1:
            raise ConfigError(f"{flag} {v}: must be at least 1")
    if a.seq_len > cfg.seq_len:
        raise ConfigError(f"--seq-len {a.seq_len} exceeds the model's context {cfg.seq_len}; "
                          f"pass --seq-len {cfg.seq_len} or less")
    if a.qk_bits != 8 and a.activations == "float":
        raise ConfigError(f"--qk-bits {a.qk_bits} sets the width the student's q and k are rounded to, and "
                          "--activations float rounds nothing: drop --qk-bits or train with --activations int8")
    if not a.lr > 0:
        raise ConfigError(f"--lr {a.lr}: must be positive, e.g. 1e-3")
    if cfg.hidden_act != "silu":    # the trainer's forward and backward are written out for SwiGLU
        raise ConfigError(f"the model's MLP activation is {cfg.hidden_act!r}; finetune trains silu (SwiGLU) "
                          "models only: quantize this one without fine-tuning (hardwire quantize)")


def training_text(model: FloatModel, tokenizer, a) -> tuple[np.ndarray, np.ndarray, str]:
    """(token stream, sequence starts, description) of the fine-tuning text.

    corpus: hw.train.corpus.training_stories, BOS before each story.
    generate: the original model's own text, sampled at temperature 1 from BOS
    (as LLM-QAT does: no data set needed, the model's own distribution), one
    --seq-len sequence per seed; the seeds stay clear of the calibration's 1..12."""
    if a.text == "corpus":
        stream, starts = token_stream(tokenizer, corpus.training_stories(a.seed, a.n_stories))
        return stream, starts, f"{a.n_stories} corpus stories (seed {a.seed})"
    from hw.calibrate import sampled_sequence

    first = GENERATE_SEED0 + a.seed * a.n_generated
    seqs = [sampled_sequence(model, first + i, a.seq_len) for i in range(a.n_generated)]
    stream = np.concatenate([np.asarray(q, dtype=np.int32) for q in seqs])
    return (stream, np.arange(0, len(stream), a.seq_len),
            f"{a.n_generated} texts the model sampled (seeds {first}..{first + a.n_generated - 1})")


# ---------------------------------------------------------------- the run

def finetune(model: FloatModel, tokenizer, bits: dict, a, log=print):
    """Distil model into its fake-quantized self; returns (params, stats)."""
    cfg = model.config
    check_settings(cfg, a)
    t0 = time.time()
    stream, starts, what = training_text(model, tokenizer, a)
    tc = tr.TrainConfig(seed=a.seed, batch_size=a.batch_size, seq_len=a.seq_len, steps=a.steps,
                        lr=a.lr, min_lr=a.lr / 10, warmup=min(a.warmup, a.steps), weight_decay=0.0,
                        eval_every=a.eval_every)
    ok = starts[starts + tc.seq_len + 1 <= len(stream)]
    if len(ok) < 2:
        raise ConfigError(f"{what} make {len(stream)} tokens, too few for sequences of "
                          f"{tc.seq_len}: raise --n-stories / --n-generated or lower --seq-len")
    rng = np.random.default_rng(a.seed)
    # a fixed check batch from the end of the stream: the log's before/after figure
    val_starts = ok[-min(len(ok) // 2, 2 * tc.batch_size):]
    val = np.stack([stream[i:i + tc.seq_len] for i in val_starts])
    train_starts = starts[starts < val_starts[0] - tc.seq_len]
    if a.windows == "mixed" and val_starts[0] > tc.seq_len + 1:
        # as many windows starting anywhere as at a BOS: inference after a context cut (and the
        # report's one-stream windows) starts mid-story, and the student must match the teacher there too
        anywhere = rng.integers(0, val_starts[0] - tc.seq_len - 1, max(1, len(train_starts)))
        train_starts = np.concatenate([train_starts, anywhere])
    data = tr.batches(stream[:val_starts[0]], train_starts if len(train_starts) else starts[:1], tc, rng)
    log(f"text: {what}, {len(stream):,} tokens "
        f"({time.time() - t0:.1f} s); bits {bits}; activations {a.activations}, q and k {a.qk_bits}-bit")

    teacher = params_of(model)
    params = params_of(model)
    act = ActQuant(a.qk_bits) if a.activations == "int8" else None
    if act:
        act.calibrate(student_weights(params, bits, cfg.shared_classifier)[0], cfg, next(data)[:, :-1])
    val_t = teacher_logp(teacher, cfg, val)
    start_kl = qat_loss_and_grads(params, cfg, bits, val, val_t, need_grads=False, act=act)[0]
    log(f"check batch: KL(float || fake-quantized) before {start_kl:.4f}")
    opt = tr.AdamW(params, tc)
    stats = {"check_kl": [(0, start_kl)]}
    recent: list[float] = []
    t_train = time.time()
    for step in range(tc.steps):
        batch = next(data)[:, :-1]
        if act and step % ACT_CALIBRATE_EVERY == 0:
            act.calibrate(student_weights(params, bits, cfg.shared_classifier)[0], cfg, batch)
        loss, g = qat_loss_and_grads(params, cfg, bits, batch, teacher_logp(teacher, cfg, batch), act=act)
        norm = opt.step(params, g, tr.lr_at(step, tc))
        recent = (recent + [loss])[-20:]
        if (step + 1) % tc.eval_every == 0 or step == tc.steps - 1:
            kl = qat_loss_and_grads(params, cfg, bits, val, val_t, need_grads=False, act=act)[0]
            stats["check_kl"].append((step + 1, kl))
            log(f"step {step + 1:5d}  KL {loss:.4f}  avg20 {np.mean(recent):.4f}  check {kl:.4f}  "
                f"lr {tr.lr_at(step, tc):.2e}  |g| {norm:.3f}  {time.time() - t_train:7.1f} s")
    stats.update(train_kl=float(np.mean(recent)), seconds=time.time() - t_train,
                 tokens=int(len(stream)), text=what, windows=a.windows, train=asdict(tc),
                 activations=a.activations, qk_bits=a.qk_bits)
    return params, stats


def write(out: Path, model: FloatModel, params, bits: dict, stats: dict, source: str, command: str) -> Path:
    """The snapped checkpoint (llama2.c format, the original config) and its JSON sidecar."""
    from hw.frontend.llama2c import save_llama2c

    out.parent.mkdir(parents=True, exist_ok=True)
    save_llama2c(snapped_model(model.config, params, bits), out)
    side = out.with_name(out.name + ".json")
    side.write_text(json.dumps({
        "what": "quantization-aware fine-tuning by distillation (hw/train/qat.py)",
        "source": source, "command": command, "bits": bits, "config": model.config.to_json(),
        "loss": "mean KL(source float || fake-quantized student), next-token distributions",
        **stats}, indent=1) + "\n", encoding="utf-8")
    return side


def run(a: argparse.Namespace, log=print) -> None:
    from hw import frontend

    bits = parse_bits(a.bits)
    ckpt = frontend.load(a.checkpoint, a.tokenizer)
    if ckpt.tokenizer is None and a.text == "corpus":
        raise HardwireError(f"{a.checkpoint}: no tokenizer found beside it, and the corpus text must be encoded: "
                            "pass --tokenizer FILE (the checkpoint's llama2.c tokenizer.bin), or --text generate")
    if a.out.resolve() == Path(a.checkpoint).resolve():
        raise HardwireError(f"--out {a.out} is the checkpoint itself; write the fine-tuned model elsewhere")
    tok_file = ckpt.tokenizer_file or a.tokenizer
    command = " ".join(["python -m hw.train.qat", str(a.checkpoint)]
                       + (["--tokenizer", str(tok_file)] if tok_file else [])
                       + ["--bits", a.bits, "--out", str(a.out)]
                       + [f"--{k.replace('_', '-')} {getattr(a, k)}" for k in DEFAULTS
                          if getattr(a, k) != DEFAULTS[k]])
    log(f"config {ckpt.model.config}")
    params, stats = finetune(ckpt.model, ckpt.tokenizer, bits, a, log)
    side = write(a.out, ckpt.model, params, bits, stats, str(a.checkpoint), command)
    log(f"wrote {a.out} and {side} ({stats['seconds'] / 60:.1f} min of fine-tuning)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.train.qat", description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    a = ap.parse_args(argv)
    try:
        run(a, lambda m: print(m, flush=True))
    except HardwireError as exc:
        print(f"hw.train.qat: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
