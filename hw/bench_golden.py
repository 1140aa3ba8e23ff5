"""Golden-model speed: tokens/s of the numpy bit-exact model on this CPU.

The golden model is the specification, not a product path; its speed tells
how long golden comparisons in tests take and gives a floor that the
hardware must beat by orders of magnitude.

    python -m hw.bench_golden MODEL [--tokens 256] [--out docs/bench/golden.json]

MODEL is an integer model (.npz) or a float checkpoint (quantized here as
`hardwire sim` does).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from hw.errors import HardwireError
from hw.golden import GoldenModel
from hw.intmodel import IntModel

DEFAULT_OUT = Path("docs/bench/golden.json")
DEFAULT_MODEL = Path("models/default/model.bin")
BOS = 1


def load_int_model(path: Path, tokenizer: Path | None = None) -> IntModel:
    """An IntModel from an .npz, or a float checkpoint quantized with the defaults."""
    path = Path(path)
    if path.suffix == ".npz":
        return IntModel.load(path)
    if not path.exists():
        raise HardwireError(f"{path}: no such model; give an integer model (.npz) or a checkpoint")
    from hw.quantize import quantize_checkpoint
    return quantize_checkpoint(path, tokenizer)[0]


def bench(int_model: IntModel, n_tokens: int = 256, repeats: int = 3) -> dict:
    """Greedy generation of n_tokens from BOS; the best of `repeats` runs."""
    n = min(int(n_tokens), int_model.config.seq_len - 1)
    if n < 1:
        raise HardwireError(f"--tokens must be at least 1, got {n_tokens}")
    best = float("inf")
    tokens: list[int] = []
    for _ in range(max(1, repeats)):
        golden = GoldenModel(int_model)
        t0 = time.perf_counter()
        tokens = list(golden.generate([BOS], n))
        best = min(best, time.perf_counter() - t0)
    forwards = len(tokens)           # BOS plus n-1 fed-back tokens: one forward per token
    c = int_model.config
    return {
        "what": "golden model (numpy, bit-exact), greedy from BOS, one thread of Python",
        "model_fingerprint": int_model.fingerprint,
        "source": int_model.meta.get("source", ""),
        "bits": int_model.knobs.get("bits"),
        "config": {"dim": c.dim, "hidden_dim": c.hidden_dim, "n_layers": c.n_layers, "n_heads": c.n_heads,
                   "n_kv_heads": c.n_kv_heads, "vocab_size": c.vocab_size},
        "tokens": forwards,
        "seconds": round(best, 4),
        "tokens_per_s": round(forwards / best, 1),
        "repeats": repeats,
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()},
    }


def write(result: dict, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


def cli_bench(args: argparse.Namespace) -> dict:
    """`hardwire bench` (golden part): args.model, args.tokens, args.golden_out."""
    model = getattr(args, "model", None) or DEFAULT_MODEL
    result = bench(load_int_model(model), getattr(args, "tokens", 256) or 256)
    out = getattr(args, "golden_out", None) or DEFAULT_OUT
    write(result, out)
    print(f"golden model: {result['tokens']} tokens in {result['seconds']:.3f} s = "
          f"{result['tokens_per_s']:.0f} tokens/s ({model}); wrote {out}")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, nargs="?", default=DEFAULT_MODEL)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--out", dest="golden_out", type=Path, default=DEFAULT_OUT)
    cli_bench(ap.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
