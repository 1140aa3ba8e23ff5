"""The command line of hw/train/qat.py, kept apart so that `hardwire --help` builds
its parser without numpy (hw/cli.py imports this at start-up)."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULTS = {"steps": 600, "batch_size": 8, "seq_len": 256, "lr": 1e-3, "warmup": 30,
            "n_stories": 6000, "seed": 4242, "eval_every": 50, "activations": "int8",
            "text": "corpus", "n_generated": 256, "windows": "mixed", "qk_bits": 8}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("checkpoint", type=Path, help="float checkpoint (llama2.c .bin or Hugging Face folder)")
    ap.add_argument("--tokenizer", type=Path, help="its tokenizer.bin (default: beside the checkpoint)")
    ap.add_argument("--bits", default="attention=4,mlp=4",
                    help="widths to train for, as `hardwire quantize --bits` (default attention=4,mlp=4)")
    ap.add_argument("--out", type=Path, required=True, help="the new float checkpoint (.bin) to write")
    ap.add_argument("--text", choices=("corpus", "generate"), default=DEFAULTS["text"],
                    help="corpus: hw.train.corpus training stories (--n-stories); generate: the model's own "
                         "text sampled from BOS (--n-generated sequences of --seq-len), no data set needed "
                         "(default corpus)")
    ap.add_argument("--windows", choices=("bos", "mixed"), default=DEFAULTS["windows"],
                    help="bos: every training sequence starts at a story's BOS; mixed: half of them start "
                         "anywhere in the text, as a window cut from a long stream does (default mixed)")
    for k in ("steps", "batch_size", "seq_len", "n_stories", "n_generated", "seed", "warmup", "eval_every"):
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=DEFAULTS[k], help=f"default {DEFAULTS[k]}")
    ap.add_argument("--activations", choices=("int8", "float"), default=DEFAULTS["activations"],
                    help="int8: the student's activations rounded at the datapath's int8 points with static "
                         "scales, as the hardware does; float: weights only (default int8)")
    ap.add_argument("--qk-bits", type=int, choices=(8, 16), default=DEFAULTS["qk_bits"],
                    help="the width of the queries and keys the student is trained for: 16 for a model "
                         "quantized with `hardwire quantize --qk-bits 16` (default 8)")
    ap.add_argument("--lr", type=float, default=DEFAULTS["lr"], help=f"peak AdamW rate (default {DEFAULTS['lr']}, for 3- and 4-bit "
                    "classes; for 8 bits 1e-4 keeps a grid that already fits: docs/quantization_report.md)")
