"""Quality report: how much does quantization cost, per weight bit width?

For each bit-width setting the model is quantized (with one shared
calibration) and the golden model is compared with the float reference:

  greedy     greedy steps from BOS over the whole context, integer vs float:
             the fraction of positions where the two tokens are equal, and the
             length of the identical prefix. Once the two texts part (at a
             near-tie of the float logits) they rarely meet again.
  forced     the float greedy text fed to the integer model: the fraction of
             its steps where the integer argmax is the float's choice
             (greedy agreement without the compounding).
  top-1      teacher-forced on held-out text: fraction of predicted positions
             where the integer argmax equals the float argmax.
  ppl        perplexity of the held-out text under the float model and under
             the integer model (int logits * s_logit, softmax in float).
  kl         mean KL(float || integer) of the next-token distributions.

Held-out text: a file with one story per line, or by default the project's
own corpus held-out stories that the default model's corpus_sample.txt (and
so its calibration) does not contain: hw.train.corpus.heldout_stories()[32:].
It is measured as llama2.c trains: every story encoded with a leading BOS,
all of them joined into ONE token stream, cut into windows of the model's
context length, each window run from position 0 (the last one may be
shorter). Every position but a window's last predicts the next token, so
the long-context positions are measured too, not only story beginnings.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.calibrate import BOS, Calibration
from hw.golden import GoldenModel
from hw.model import FloatModel
from hw.quantize import check_bits, quantize

# (label, bits) rows of the report; the third one is the default of `hardwire quantize`.
SETTINGS = (
    ("all 8", {"embedding": 8, "attention": 8, "mlp": 8, "classifier": 8}),
    ("att/mlp 6", {"embedding": 8, "attention": 6, "mlp": 6, "classifier": 8}),
    ("att/mlp 4 (default)", {"embedding": 8, "attention": 4, "mlp": 4, "classifier": 8}),
    ("att 4, mlp 8", {"embedding": 8, "attention": 4, "mlp": 8, "classifier": 8}),
    ("att 8, mlp 4", {"embedding": 8, "attention": 8, "mlp": 4, "classifier": 8}),
    ("all 4", {"embedding": 4, "attention": 4, "mlp": 4, "classifier": 4}),
    ("att/mlp 3", {"embedding": 8, "attention": 3, "mlp": 3, "classifier": 8}),
)
HELDOUT_SKIP = 32          # corpus_sample.txt holds heldout_stories()[:32]
HELDOUT_STORIES = 16


@dataclass
class Reference:
    """What the float model does, computed once for all settings."""
    greedy: list[int]               # the float's greedy tokens after BOS, the whole context
    heldout: list[list[int]]        # context-length windows of the held-out stream
    logits: list[np.ndarray]        # per window (T, V) float64 float logits


def default_heldout_lines() -> list[str]:
    from hw.train.corpus import heldout_stories
    return heldout_stories()[HELDOUT_SKIP:HELDOUT_SKIP + HELDOUT_STORIES]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def heldout_sums(ref, runner, to_float=np.asarray) -> tuple[float, float, float, int, int]:
    """Teacher-forced sums over the held-out windows of `ref`: the float and the runner's negative
    log-likelihood, KL(float || runner), top-1 agreements and predictions. `runner` has reset() and
    forward(token); `to_float` turns its logits into float logits."""
    nll_f = nll_i = kl = 0.0
    top = n = 0
    for seq, lf in zip(ref.heldout, ref.logits):
        runner.reset()
        li = np.array([to_float(runner.forward(t)) for t in seq], dtype=np.float64)   # (T, V)
        nxt = np.asarray(seq[1:])
        pf, pi = _log_softmax(lf[:-1]), _log_softmax(li[:-1])
        rows = np.arange(len(nxt))
        nll_f -= pf[rows, nxt].sum()
        nll_i -= pi[rows, nxt].sum()
        kl += float(np.sum(np.exp(pf) * (pf - pi)))
        top += int(np.sum(np.argmax(lf[:-1], axis=1) == np.argmax(li[:-1], axis=1)))
        n += len(nxt)
    return nll_f, nll_i, kl, top, n


def heldout_windows(lines: list[str], tokenizer, seq_len: int) -> list[list[int]]:
    """The stories as one stream (BOS before each), cut into windows of seq_len tokens."""
    stream: list[int] = []
    for line in (x.strip() for x in lines):
        if line:
            stream.extend(tokenizer.encode(line, bos=True, eos=False))
    windows = [stream[i:i + seq_len] for i in range(0, len(stream), seq_len)]
    return [w for w in windows if len(w) > 1]


def describe_protocol(ref: "Reference", seq_len: int) -> str:
    """One line saying how the report measured (printed with the table)."""
    n = sum(len(w) for w in ref.heldout)
    return (f"held-out text: {n:,} tokens as one stream (BOS before each story) in {len(ref.heldout)} "
            f"windows of up to {seq_len} (the context), {n - len(ref.heldout):,} predictions; "
            f"greedy: {len(ref.greedy)} steps from BOS (the whole context)")


def float_reference(float_model: FloatModel, heldout: list[list[int]],
                    steps: int | None = None) -> Reference:
    """Float greedy text (steps, default the whole context) and the float logits of every window."""
    from hw.float_model import FloatRunner

    runner = FloatRunner(float_model)
    greedy, tok = [], BOS
    for pos in range(min(steps or float_model.config.seq_len, float_model.config.seq_len)):
        tok = int(np.argmax(runner.forward(tok, pos)))
        greedy.append(tok)
    logits = []
    for seq in heldout:
        runner.reset()
        logits.append(np.array([runner.forward(t, p) for p, t in enumerate(seq)], dtype=np.float64))
    return Reference(greedy, heldout, logits)


def load_reference(path, config, checkpoint) -> FloatModel:
    """The float model at `path` as the report's reference for `checkpoint` (config `config`):
    a fine-tuned checkpoint is judged against its original, whose config must be the same."""
    from hw import frontend
    from hw.errors import ConfigError

    ref = frontend.load(path, with_tokenizer=False).model
    if ref.config != config:
        diff = ", ".join(f"{k} {v} vs {getattr(config, k)}" for k, v in ref.config.__dict__.items()
                         if v != getattr(config, k))
        raise ConfigError(f"--reference {path} does not have the config of {checkpoint} ({diff}): the reference "
                          f"must be the float model {checkpoint} was fine-tuned from; pass that one")
    return ref


def compare(int_model, ref: Reference) -> dict:
    """Greedy agreement, teacher-forced top-1, perplexities and KL of one integer model."""
    golden = GoldenModel(int_model)
    out = list(golden.generate([BOS], len(ref.greedy)))
    same = [a == b for a, b in zip(out, ref.greedy)]
    prefix = same.index(False) if False in same else len(same)
    golden.reset()
    forced = 0
    for tok, want in zip([BOS] + ref.greedy[:-1], ref.greedy):
        forced += int(np.argmax(golden.forward(tok)) == want)
    s_logit = float(int_model.scales["s_logit"])
    nll_f, nll_i, kl, top, n = heldout_sums(ref, golden, lambda lg: np.asarray(lg, dtype=np.float64) * s_logit)
    return {
        "greedy_agree": sum(same) / max(1, len(same)), "greedy_prefix": prefix,
        "greedy_steps": len(ref.greedy), "greedy_forced": forced / max(1, len(ref.greedy)),
        "top1": top / n, "ppl_float": math.exp(nll_f / n), "ppl_int": math.exp(nll_i / n),
        "kl": kl / n, "heldout_tokens": sum(len(s) for s in ref.heldout), "predictions": n,
    }


def run_report(float_model: FloatModel, calib: Calibration, heldout_lines: list[str], tokenizer,
               settings=SETTINGS, quantize_opts: dict | None = None, log=print,
               prepared: FloatModel | None = None) -> list[dict]:
    """Quantize with each setting and compare; returns one row dict per setting.

    float_model is the reference; prepared (default float_model) is what the quantizer reads:
    the same function rewritten by hw.transform.prepare, calibrated as `calib`."""
    seq_len = float_model.config.seq_len
    ref = float_reference(float_model, heldout_windows(heldout_lines, tokenizer, seq_len))
    protocol = describe_protocol(ref, seq_len)
    if log:
        log(protocol)
    rows = []
    for label, bits in settings:
        t0 = time.time()
        im = quantize(prepared or float_model, calib, check_bits(bits), **(quantize_opts or {}))
        row = {"label": label, "bits": im.knobs["bits"], **compare(im, ref)}
        row["seconds"] = time.time() - t0
        row["protocol"] = protocol
        rows.append(row)
        if log:
            log(format_row(row))
    return rows


# ---------------------------------------------------------------- formatting

HEADER = ("setting", "emb/att/mlp/cls", "greedy agree", "same prefix", "forced greedy", "top-1",
          "ppl float", "ppl int", "ppl ratio", "KL")


def _cells(row: dict) -> list[str]:
    b = row["bits"]
    return [row["label"], f"{b['embedding']}/{b['attention']}/{b['mlp']}/{b['classifier']}",
            f"{100 * row['greedy_agree']:.1f}%", f"{row['greedy_prefix']}/{row['greedy_steps']}",
            f"{100 * row['greedy_forced']:.1f}%", f"{100 * row['top1']:.1f}%",
            f"{row['ppl_float']:.3f}", f"{row['ppl_int']:.3f}",
            f"{row['ppl_int'] / row['ppl_float']:.3f}", f"{row['kl']:.4f}"]


def format_row(row: dict) -> str:
    cells = _cells(row)
    return f"{cells[0]:<20}  " + "  ".join(f"{c:>{len(h)}}" for c, h in zip(cells[1:], HEADER[1:]))


def format_table(rows: list[dict]) -> str:
    widths = [max(len(h), *(len(_cells(r)[i]) for r in rows)) for i, h in enumerate(HEADER)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(_cells(r), widths)) for r in rows]
    return "\n".join(lines)


def format_markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def write_markdown(rows: list[dict], path: str | Path, title: str, command: str, notes: str = "") -> None:
    text = f"## {title}\n\nCommand: `{command}`\n\n{format_markdown(rows)}\n"
    if notes:
        text += f"\n{notes}\n"
    Path(path).write_text(text, encoding="utf-8")
