"""The float32 reference forward pass, with llama2.c run.c's semantics.

It is the yardstick the quantised model is measured against and the source of
calibration statistics (`forward(..., record={})`). Every step follows run.c's
forward() in float32 (same RoPE angles, score scaling, softmax, SiLU);
only the summation order of the matrix products differs (BLAS), so logits
agree with run.c to float32 rounding and greedy tokens agree exactly on the
reference runs.
"""
from __future__ import annotations

import numpy as np

from hw.activations import activation
from hw.frontend.checks import check_model
from hw.errors import ConfigError, InputError
from hw.model import FloatModel

F32 = np.float32
BOS = 1


def rmsnorm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """run.c rmsnorm: weight * (x / sqrt(mean(x^2) + eps)), in float32."""
    ss = F32(np.dot(x, x)) / F32(x.shape[0]) + F32(eps)
    return weight * (x * (F32(1.0) / np.sqrt(ss)))


def rope_cos_sin(head_dim: int, n_pos: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin (n_pos, head_dim/2) of run.c's angles pos * theta^(-2i/head_dim), float32."""
    exponent = np.arange(0, head_dim, 2, dtype=F32) / F32(head_dim)      # (hd/2,)
    freq = (F32(1.0) / np.power(F32(theta), exponent)).astype(F32)       # (hd/2,)
    angle = (np.arange(n_pos, dtype=F32)[:, None] * freq[None, :]).astype(F32)
    # evaluated in float64 and rounded once, like a correctly rounded cosf/sinf
    return (np.cos(angle.astype(np.float64)).astype(F32),
            np.sin(angle.astype(np.float64)).astype(F32))


def apply_rope(vec: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate adjacent pairs (2i, 2i+1) of each head. vec (n, hd); cos, sin (hd/2,)."""
    pairs = vec.reshape(vec.shape[0], -1, 2)           # (n, hd/2, 2)
    v0, v1 = pairs[..., 0], pairs[..., 1]
    out = np.empty_like(pairs)
    out[..., 0] = v0 * cos - v1 * sin
    out[..., 1] = v0 * sin + v1 * cos
    return out.reshape(vec.shape)


class FloatRunner:
    """Runs a FloatModel one token at a time with its own KV cache (like run.c)."""

    def __init__(self, model: FloatModel, max_seq_len: int | None = None):
        check_model(model)
        cfg = self.config = model.config
        self.max_seq_len = cfg.seq_len if max_seq_len is None else int(max_seq_len)
        if not 1 <= self.max_seq_len <= cfg.seq_len:
            raise ConfigError(f"max_seq_len {max_seq_len} must be 1..{cfg.seq_len}, "
                              "the context the model was trained for")
        self.w = {k: np.ascontiguousarray(v, dtype=F32) for k, v in model.weights.items()}
        self.kv_mul = cfg.n_heads // cfg.n_kv_heads   # query heads per KV head
        shape = (cfg.n_layers, cfg.n_kv_heads, self.max_seq_len, cfg.head_dim)
        self.key_cache = np.zeros(shape, F32)          # (L, n_kv, T, hd)
        self.value_cache = np.zeros(shape, F32)        # (L, n_kv, T, hd)
        self.cos, self.sin = rope_cos_sin(cfg.head_dim, self.max_seq_len, cfg.rope_theta)
        self.sqrt_hd = F32(np.sqrt(F32(cfg.head_dim)))  # run.c divides by sqrtf(head_size)
        self._filled = 0  # positions 0.._filled-1 of the cache hold valid keys/values

    def reset(self) -> None:
        """Forget the context (the cache is overwritten as positions are run again)."""
        self._filled = 0

    def forward(self, token: int, pos: int, record: dict | None = None) -> np.ndarray:
        """Logits (V,) float32 for `token` at position `pos`.

        Positions must run in order (pos <= the number already run; running an
        earlier position again restarts the context there). With `record`, the
        float activations are stored as record[(name, layer)] (layer None for
        "xc" and "logits"; "res_in" also at layer n_layers, the residual
        entering the final norm): res_in, res_mid (residual after the
        attention add), xa (attention norm output),
        q_pre/k_pre (before RoPE), q/k (after RoPE), v, att (attention output,
        input of wo), xf (FFN norm output), h1 (w1), h3 (w3), g (act(h1)*h3),
        xc (final norm output), logits. Arrays are copies, shape (D,), (KVD,) or (H,).
        """
        cfg, w = self.config, self.w
        if not 0 <= token < cfg.vocab_size:
            raise InputError(f"token id {token} is outside the vocabulary "
                             f"0..{cfg.vocab_size - 1}")
        if not 0 <= pos < self.max_seq_len:
            raise InputError(f"position {pos} is past the context of "
                             f"{self.max_seq_len} tokens; shorten the prompt or "
                             "generate fewer tokens")
        if pos > self._filled:
            raise InputError(f"position {pos} skips positions {self._filled}..{pos - 1}"
                             "; run positions in order from 0")
        self._filled = pos + 1

        def rec(layer: int | None, **values: np.ndarray) -> None:
            if record is not None:
                for name, value in values.items():
                    record[(name, layer)] = value.copy()

        hd, eps = cfg.head_dim, cfg.norm_eps
        act = activation(cfg.hidden_act).fn
        cos, sin = self.cos[pos], self.sin[pos]          # (hd/2,)
        x = w["token_embedding"][token].copy()           # (D,)
        for l in range(cfg.n_layers):
            rec(l, res_in=x)
            # attention: rmsnorm, q/k/v projections, RoPE, cache
            xa = rmsnorm(x, w["rms_att"][l], eps)         # (D,)
            q = w["wq"][l] @ xa                           # (D,)
            k = w["wk"][l] @ xa                           # (KVD,)
            v = w["wv"][l] @ xa                           # (KVD,)
            rec(l, xa=xa, q_pre=q, k_pre=k, v=v)
            q = apply_rope(q.reshape(cfg.n_heads, hd), cos, sin)       # (nh, hd)
            k = apply_rope(k.reshape(cfg.n_kv_heads, hd), cos, sin)    # (nkv, hd)
            rec(l, q=q.reshape(-1), k=k.reshape(-1))
            self.key_cache[l, :, pos] = k
            self.value_cache[l, :, pos] = v.reshape(cfg.n_kv_heads, hd)
            # multi-head attention over positions 0..pos; head h reads KV head h // kv_mul
            keys = self.key_cache[l, :, :pos + 1]                      # (nkv, t, hd)
            values = self.value_cache[l, :, :pos + 1]                  # (nkv, t, hd)
            qg = q.reshape(cfg.n_kv_heads, self.kv_mul, hd)            # (nkv, mul, hd)
            scores = (qg @ keys.transpose(0, 2, 1)) / self.sqrt_hd    # (nkv, mul, t)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = scores / scores.sum(axis=-1, keepdims=True)
            att = (probs @ values).reshape(cfg.dim)                    # (D,)
            rec(l, att=att)
            x = x + w["wo"][l] @ att
            rec(l, res_mid=x)
            # feed-forward: rmsnorm, SwiGLU
            xf = rmsnorm(x, w["rms_ffn"][l], eps)         # (D,)
            h1 = w["w1"][l] @ xf                          # (H,)
            h3 = w["w3"][l] @ xf                          # (H,)
            g = act(h1) * h3
            rec(l, xf=xf, h1=h1, h3=h3, g=g)
            x = x + w["w2"][l] @ g
        rec(cfg.n_layers, res_in=x)
        xc = rmsnorm(x, w["rms_final"], eps)
        logits = w["wcls"] @ xc                           # (V,)
        rec(None, xc=xc, logits=logits)
        return logits

    def generate_greedy(self, prompt_ids: list[int], steps: int) -> list[int]:
        """run.c's generation loop at temperature 0.

        `steps` positions are run (run.c's -n); while inside the prompt the next
        token is the next prompt token, afterwards the argmax. Returns the
        `next` token of every step, stopping before a BOS (1) as run.c does.
        """
        prompt = [int(t) for t in prompt_ids]
        if not prompt:
            raise InputError("the prompt is empty; it needs at least the BOS token")
        if not 1 <= steps <= self.max_seq_len:
            raise InputError(f"steps {steps} must be 1..{self.max_seq_len} (the "
                             "context length)")
        self.reset()
        out: list[int] = []
        token = prompt[0]
        for pos in range(steps):
            logits = self.forward(token, pos)
            nxt = prompt[pos + 1] if pos < len(prompt) - 1 else int(np.argmax(logits))
            if nxt == BOS:
                break
            out.append(nxt)
            token = nxt
        return out
