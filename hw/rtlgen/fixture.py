"""A small random but well-formed IntModel, for generator and RTL tests.

It needs no float model or quantizer: every array has the shape and range the
quantizer produces (weights within their class bits, m < 2**15, sh in 1..62,
RoPE tables from numerics), so the golden model and the RTL can run it. The
default dims are awkward on purpose: rows not a multiple of common lane
counts, columns not a multiple of common values-per-lane.
"""
from __future__ import annotations

import numpy as np

from hw import numerics as nx
from hw.architecture import MATRIX_CLASS, layer_shapes
from hw.intmodel import IntModel
from hw.model import ModelConfig

TINY_STREAMS = 3
TINY_LORA_RANK = 3


def tiny_knobs():
    """The knobs of the tests' tiny design (random_int_model(seed=1)): awkward lane counts, LoRA on
    every projection, attention two positions per cycle (odd position counts leave a masked one),
    three streams (a KV cache slot count that is not a power of two).
    One definition, so the tests that build it share one cached Verilator model."""
    from hw.golden import LORA_TARGETS
    from hw.rtlgen.knobs import Knobs

    return Knobs(lanes=5, values_per_lane=4, lora_rank=TINY_LORA_RANK, lora_targets=LORA_TARGETS,
                 attention_positions=2, streams=TINY_STREAMS)


def random_int_model(seed: int = 0, dim: int = 24, hidden: int = 44, n_layers: int = 2,
                     n_heads: int = 3, n_kv_heads: int = 1, vocab: int = 37, seq_len: int = 16,
                     bits: dict | None = None) -> IntModel:
    cfg = ModelConfig(dim=dim, hidden_dim=hidden, n_layers=n_layers, n_heads=n_heads,
                      n_kv_heads=n_kv_heads, vocab_size=vocab, seq_len=seq_len)
    bits = {"embedding": 8, "attention": 4, "mlp": 5, "classifier": 8, **(bits or {})}
    rng = np.random.default_rng(seed)
    L, D, H, V, KVD = n_layers, dim, hidden, vocab, cfg.kv_dim

    def weights(b: int, *shape: int) -> np.ndarray:
        q = (1 << (b - 1)) - 1
        return rng.integers(-q, q + 1, size=shape)

    def requant(*shape: int, lo: int = 8, hi: int = 20) -> tuple[np.ndarray, np.ndarray]:
        m = rng.integers(1 << 14, 1 << 15, size=shape)
        sh = rng.integers(lo, hi + 1, size=shape)
        return m, sh

    a = {}
    a["emb"] = weights(bits["embedding"], V, D)
    a["emb_m"], a["emb_sh"] = requant(V, lo=4, hi=10)
    for name, (r, c) in layer_shapes(cfg).items():
        a[name] = weights(bits[MATRIX_CLASS[name]], L, r, c)
        a[name + "_m"], a[name + "_sh"] = requant(L, r)
    a["wcls"] = weights(bits["classifier"], V, D)
    a["wcls_m"], a["wcls_sh"] = requant(V)
    # the extremes of the requant range, so hardware tests see them
    a["wq_m"][0, 0], a["wq_sh"][0, 0] = (1 << 15) - 1, 1
    a["wq_m"][0, 1], a["wq_sh"][0, 1] = (1 << 15) - 1, nx.MAX_SHIFT
    a["wk_m"][0, 0] = 0
    for key in ("att", "ffn"):
        a[key + "_gq"] = rng.integers(1 << 13, (1 << 15) - 1, size=(L, D))
        a[key + "_gshift"] = rng.integers(8, 12, size=L)
    a["final_gq"] = rng.integers(1 << 13, (1 << 15) - 1, size=D)
    a["final_gshift"] = np.array([10])
    a["att_m"], a["att_sh"] = requant(L, lo=10, hi=16)
    a["attout_m"], a["attout_sh"] = requant(L, lo=30, hi=34)
    a["g_m"], a["g_sh"] = requant(L, lo=14, hi=18)
    a["silu"] = np.stack([nx.gate_table(s) for s in np.linspace(0.02, 0.08, L)])
    a["logit_m"], a["logit_sh"] = requant(1, lo=16, hi=20)
    a["eps_q"] = np.array([3])
    a["rope_cos"], a["rope_sin"] = nx.rope_tables(seq_len, cfg.head_dim)
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in a.items()}
    return IntModel(cfg, arrays, {"bits": bits}, {}, {"source": f"hw.rtlgen.fixture seed {seed}"})


def random_adapters(cfg, targets, rank: int, seed: int, layers=None) -> dict:
    """Random integer adapters (golden.LoraInt) of rank 1..rank with moderate scales, on `targets` of
    every layer (or `layers`): for models without float scales, such as random_int_model's."""
    from hw.golden import LoraInt
    from hw.sim.lora_image import target_dims

    rng = np.random.default_rng(seed)
    out = {}
    for layer in (range(cfg.n_layers) if layers is None else layers):
        for t in targets:
            n_in, n_out = target_dims(cfg, t)
            r = int(rng.integers(1, rank + 1))
            out[(layer, t)] = LoraInt(rng.integers(-127, 128, (r, n_in)), rng.integers(-127, 128, (n_out, r)),
                                      int(rng.integers(1 << 14, 1 << 15)), int(rng.integers(14, 19)),
                                      int(rng.integers(1 << 14, 1 << 15)), int(rng.integers(16, 22)))
    return out
