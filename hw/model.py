"""The float model: a llama-architecture config and its weights as numpy arrays.

Every loader (llama2.c .bin, Hugging Face safetensors) returns a FloatModel;
the float reference, the calibrator and the quantizer read it. Matrices are
stored [out_features, in_features] (y = W @ x), RoPE in llama2.c's convention
(adjacent pairs (2i, 2i+1) within each head).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw.activations import DEFAULT as DEFAULT_ACT


@dataclass(frozen=True)
class ModelConfig:
    dim: int            # D, residual width
    hidden_dim: int     # H, MLP width
    n_layers: int       # L
    n_heads: int        # query heads
    n_kv_heads: int     # key/value heads (grouped-query attention when < n_heads)
    vocab_size: int     # V
    seq_len: int        # longest context the model was trained for
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    shared_classifier: bool = True  # classifier reuses the token embedding
    hidden_act: str = DEFAULT_ACT   # the gated MLP's activation (hw/activations.py)

    def to_json(self) -> dict:
        """The fields as written into files (int model header and fingerprint, build.json,
        manifests): hidden_act only when it is not the default (silu), so every file written before the
        field existed reads, fingerprints and compares the same."""
        d = dict(self.__dict__)
        if d["hidden_act"] == DEFAULT_ACT:
            del d["hidden_act"]
        return d

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim


@dataclass
class FloatModel:
    config: ModelConfig
    # Shapes (float32):
    #   token_embedding (V, D)
    #   rms_att (L, D), rms_ffn (L, D), rms_final (D,)
    #   wq (L, D, D), wk (L, KVD, D), wv (L, KVD, D), wo (L, D, D)
    #   w1 (L, H, D), w3 (L, H, D), w2 (L, D, H)
    #   wcls (V, D)  (the same array as token_embedding when shared)
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.weights[name]
