"""The golden model: the bit-exact specification of the hardware.

It runs an IntModel token by token with an int8 KV cache using only the
integer primitives of hw/numerics.py, in the same order as the RTL. Every
RTL block and the whole accelerator are compared with it value by value.
`forward()` reads like llama2.c's: one comment per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from hw import numerics as nx
from hw.architecture import LAYER_MATRICES
from hw.errors import HardwireError
from hw.intmodel import IntModel

LORA_TARGETS = LAYER_MATRICES       # every projection of a layer (hw/architecture.py)
RESIDUAL_TARGETS = ("wo", "w2")     # their output is added to the int16 residual
LOGIT_BITS = 24                     # logits saturate to signed 24 bits
RESIDUAL_BITS = 16


QK_BITS = (8, 16)                   # widths of q, k and the key cache (knobs["qk_bits"]; 8 when absent)


def qk_bits(model: IntModel) -> int:
    """The width of the model's queries, keys and key cache."""
    bits = int(model.knobs.get("qk_bits", 8))
    if bits not in QK_BITS:
        raise HardwireError(f"qk_bits {bits}: the datapath takes q and k of {' or '.join(map(str, QK_BITS))} bits")
    return bits


class ContextFullError(HardwireError):
    """A prompt or generation that would run past the context length."""


class LoraShapeError(HardwireError):
    """A LoRA adapter whose shape or target does not fit the model."""


@dataclass(frozen=True)
class LoraInt:
    """One integer LoRA adapter on one projection of one layer.

    u = sat8(rq(a @ x, m_a, sh_a))   a: (rank, in) int8
    d = rq(b @ u, m_b, sh_b)         b: (out, rank) int8, d in the projection's output units
    The projection's output becomes sat(rq(W x) + d) instead of sat(rq(W x)).
    """
    a: np.ndarray
    b: np.ndarray
    m_a: int
    sh_a: int
    m_b: int
    sh_b: int

    def delta(self, x: np.ndarray) -> np.ndarray:
        u = nx.sat(nx.rq(nx.matvec(self.a, x), self.m_a, self.sh_a), 8)
        return nx.rq(nx.matvec(self.b, u), self.m_b, self.sh_b)


class GoldenModel:
    """Integer inference with a KV cache of `context` positions."""

    def __init__(self, model: IntModel, context: int | None = None, k_max: int = 16):
        cfg = model.config
        self.model, self.cfg = model, cfg
        self.context = int(context or cfg.seq_len)
        if not 1 <= self.context <= model["rope_cos"].shape[0]:
            raise ContextFullError(
                f"context {self.context} is outside 1..{model['rope_cos'].shape[0]} (the model's RoPE table length)"
            )
        self.k_max = k_max
        self.qk_bits = qk_bits(model)
        self.lora: dict[tuple[int, str], LoraInt] = {}
        self.reset()

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        """Empty the KV cache and go back to position 0 (LoRA adapters stay)."""
        cfg = self.cfg
        self.pos = 0
        self.key_cache = np.zeros((cfg.n_layers, self.context, cfg.n_kv_heads, cfg.head_dim), dtype=np.int64)
        self.value_cache = np.zeros_like(self.key_cache)

    def set_lora(self, layer: int, target: str, adapter: LoraInt) -> None:
        w = self._weight_shape(target)
        if not 0 <= layer < self.cfg.n_layers:
            raise LoraShapeError(f"LoRA layer {layer} is outside 0..{self.cfg.n_layers - 1}")
        a, b = np.asarray(adapter.a), np.asarray(adapter.b)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != w[1] or b.shape[0] != w[0] or b.shape[1] != a.shape[0]:
            raise LoraShapeError(
                f"LoRA on {target} of layer {layer} needs a (rank, {w[1]}) and b ({w[0]}, rank); "
                f"got a {a.shape} and b {b.shape}"
            )
        if np.abs(a).max(initial=0) > 127 or np.abs(b).max(initial=0) > 127:
            raise LoraShapeError("LoRA a and b must be int8 values in [-127, 127]")
        self.lora[(layer, target)] = adapter

    def clear_lora(self) -> None:
        self.lora.clear()

    def _weight_shape(self, target: str) -> tuple[int, int]:
        if target not in LORA_TARGETS:
            raise LoraShapeError(f"unknown LoRA target {target!r}; choose from {', '.join(LORA_TARGETS)}")
        return tuple(self.model[target].shape[1:])

    # ------------------------------------------------------------ blocks
    def _project(self, name: str, layer: int, x: np.ndarray) -> np.ndarray:
        """rq(W x) per row (+ the LoRA delta), not yet saturated."""
        m = self.model
        acc = nx.matvec(m[name][layer], x)
        y = nx.rq(acc, m[name + "_m"][layer], m[name + "_sh"][layer])
        adapter = self.lora.get((layer, name))
        if adapter is not None:
            y = y + adapter.delta(x)
        return y

    def forward(self, token: int, trace: dict | None = None) -> np.ndarray:
        """Run one token at the current position; returns int24 logits (V,).

        With a `trace` dict, every intermediate vector is stored under
        (name, layer) so block testbenches can compare against it.
        """
        cfg, m = self.cfg, self.model
        if not 0 <= token < cfg.vocab_size:
            raise HardwireError(f"token id {token} is outside the vocabulary 0..{cfg.vocab_size - 1}")
        if self.pos >= self.context:
            raise ContextFullError(f"the context of {self.context} positions is full; reset() to start again")
        pos, hd = self.pos, cfg.head_dim
        rec = trace if trace is not None else {}
        eps = int(m["eps_q"][0])

        # embedding row -> int16 residual stream
        res = nx.sat(nx.rq(m["emb"][token], m["emb_m"][token], m["emb_sh"][token]), RESIDUAL_BITS)
        rec[("emb", None)] = res

        for l in range(cfg.n_layers):
            # attention rmsnorm
            xa = nx.rmsnorm(res, m["att_gq"][l], int(m["att_gshift"][l]), eps)
            # q, k, v projections (+ LoRA): q and k int8 (int16 with qk_bits 16), v int8
            qkb = self.qk_bits
            q = nx.sat(self._project("wq", l, xa), qkb)
            k = nx.sat(self._project("wk", l, xa), qkb)
            v = nx.sat(self._project("wv", l, xa), 8)
            rec.update({("xa", l): xa, ("q_pre", l): q, ("k_pre", l): k, ("v", l): v})
            # RoPE on q and k
            q = nx.rope(q, pos, m["rope_cos"], m["rope_sin"], hd, qkb)
            k = nx.rope(k, pos, m["rope_cos"], m["rope_sin"], hd, qkb)
            rec.update({("q", l): q, ("k", l): k})
            # write this position into the KV cache
            self.key_cache[l, pos] = k.reshape(cfg.n_kv_heads, hd)
            self.value_cache[l, pos] = v.reshape(cfg.n_kv_heads, hd)
            # multi-head attention over positions 0..pos
            group = cfg.n_heads // cfg.n_kv_heads
            att = np.concatenate([
                nx.attention_head(
                    q[h * hd:(h + 1) * hd],
                    self.key_cache[l, :pos + 1, h // group],
                    self.value_cache[l, :pos + 1, h // group],
                    int(m["att_m"][l]), int(m["att_sh"][l]),
                    int(m["attout_m"][l]), int(m["attout_sh"][l]), qkb,
                )
                for h in range(cfg.n_heads)
            ])
            rec[("att", l)] = att
            # output projection, residual add
            res = nx.sat(res + self._project("wo", l, att), RESIDUAL_BITS)
            rec[("res_att", l)] = res
            # ffn rmsnorm
            xf = nx.rmsnorm(res, m["ffn_gq"][l], int(m["ffn_gshift"][l]), eps)
            # w1, w3 projections, SiLU gate
            h1 = nx.sat(self._project("w1", l, xf), 8)
            h3 = nx.sat(self._project("w3", l, xf), 8)
            g = nx.silu_gate(h1, h3, m["silu"][l], int(m["g_m"][l]), int(m["g_sh"][l]))
            rec.update({("xf", l): xf, ("h1", l): h1, ("h3", l): h3, ("g", l): g})
            # w2 projection, residual add
            res = nx.sat(res + self._project("w2", l, g), RESIDUAL_BITS)
            rec[("res", l)] = res

        # final rmsnorm and classifier
        xc = nx.rmsnorm(res, m["final_gq"], int(m["final_gshift"][0]), eps)
        logits = nx.sat(nx.rq(nx.matvec(m["wcls"], xc), m["wcls_m"], m["wcls_sh"]), LOGIT_BITS)
        rec.update({("xc", None): xc, ("logits", None): logits})
        self.pos += 1
        return logits

    # ------------------------------------------------------------ generation
    def sample(self, logits: np.ndarray, inv_temp_q8: int, top_k: int, state: int) -> tuple[int, int]:
        m = self.model
        return nx.sample(logits, inv_temp_q8, top_k, self.k_max,
                         int(m["logit_m"][0]), int(m["logit_sh"][0]), state)

    def generate(self, prompt: list[int], max_new_tokens: int, temperature: float = 0.0,
                 top_k: int = 0, seed: int = 0, stop_token: int | None = None) -> Iterator[int]:
        """Feed `prompt` from the current position, then yield up to
        max_new_tokens sampled tokens, each fed back in. Stops early at
        `stop_token` (yielded) or when the context is full."""
        if not prompt:
            raise HardwireError("the prompt must hold at least one token (BOS)")
        if self.pos + len(prompt) > self.context:
            raise ContextFullError(
                f"prompt of {len(prompt)} tokens does not fit: {self.context - self.pos} of "
                f"{self.context} context positions are left"
            )
        inv_temp = nx.inv_temperature_q8(temperature)
        state = seed & 0xFFFFFFFF or nx.LFSR_DEFAULT_SEED
        for tok in prompt:
            logits = self.forward(tok)
        for i in range(max_new_tokens):
            tok, state = self.sample(logits, inv_temp, top_k, state)
            yield tok
            if tok == stop_token or self.pos >= self.context or i == max_new_tokens - 1:
                return
            logits = self.forward(tok)
