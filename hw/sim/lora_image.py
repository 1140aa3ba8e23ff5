"""The LoRA memory image: integer adapters -> the 32-bit words written via LORA_DATA.

Layout (docs/register_map.md, hw/rtl/hw_lora.v): for each layer, for each
projection the hardware was built with a LoRA on (order wq wk wv wo w1 w3
w2), one block of
    word 0: m_a | sh_a << 16          word 1: m_b | sh_b << 16
    A: RANK rows of ceil(in / 4) words     (4 int8 per word, little-endian)
    B: out rows of ceil(RANK / 4) words
An adapter of a smaller rank is zero padded (a zero row of A gives u_j = 0, a
zero column of B adds nothing), a missing one is an all-zero block (delta 0).
"""
from __future__ import annotations

import numpy as np

from hw.architecture import layer_shapes
from hw.golden import LORA_TARGETS, LoraInt, LoraShapeError
from hw.model import ModelConfig


def target_dims(cfg: ModelConfig, target: str) -> tuple[int, int]:
    """(in, out) of a projection."""
    rows, cols = layer_shapes(cfg)[target]
    return cols, rows


def block_words(cfg: ModelConfig, rank: int, target: str) -> int:
    n_in, n_out = target_dims(cfg, target)
    return 2 + rank * -(-n_in // 4) + n_out * -(-rank // 4)


def image_words(cfg: ModelConfig, rank: int, mask: int) -> int:
    """Words of the LoRA memory of a build (the LORA_WORDS register)."""
    if rank <= 0 or mask == 0:
        return 0
    return cfg.n_layers * sum(block_words(cfg, rank, t) for i, t in enumerate(LORA_TARGETS) if mask >> i & 1)


def _pack_rows(rows: np.ndarray, words_per_row: int) -> list[int]:
    """int8 rows (n, c) -> n * words_per_row words, value j of a word at bits [8j +: 8]."""
    out = []
    for row in np.asarray(rows, dtype=np.int64):
        padded = np.zeros(words_per_row * 4, dtype=np.int64)
        padded[:len(row)] = row
        for w in range(words_per_row):
            out.append(sum((int(v) & 0xFF) << (8 * j) for j, v in enumerate(padded[4 * w:4 * w + 4])))
    return out


def _scale_word(m: int, sh: int, what: str) -> int:
    if not (0 <= m < 1 << 15 and 0 <= sh < 64):
        raise LoraShapeError(f"{what}: requant (m={m}, sh={sh}) does not fit 15 + 6 bits")
    return int(m) | int(sh) << 16


def lora_image(cfg: ModelConfig, rank: int, mask: int,
               adapters: dict[tuple[int, str], LoraInt]) -> list[int]:
    """The LoRA memory words for `adapters` {(layer, target): LoraInt} on a build with
    LoRA `rank` on the projections of `mask` (bit i = LORA_TARGETS[i])."""
    for (layer, target), ad in adapters.items():
        i = LORA_TARGETS.index(target) if target in LORA_TARGETS else -1
        if i < 0 or not mask >> i & 1 or not 0 <= layer < cfg.n_layers:
            raise LoraShapeError(f"the hardware has no LoRA on {target} of layer {layer} "
                                 f"(built with targets mask {mask:#09b}, {cfg.n_layers} layers)")
        n_in, n_out = target_dims(cfg, target)
        a, b = np.asarray(ad.a), np.asarray(ad.b)
        if a.shape[0] > rank or a.shape != (a.shape[0], n_in) or b.shape != (n_out, a.shape[0]):
            raise LoraShapeError(f"LoRA on {target} of layer {layer}: a {a.shape}, b {b.shape} do not fit "
                                 f"rank <= {rank}, in {n_in}, out {n_out}")
    words: list[int] = []
    for layer in range(cfg.n_layers):
        for i, target in enumerate(LORA_TARGETS):
            if not mask >> i & 1:
                continue
            n_in, n_out = target_dims(cfg, target)
            ad = adapters.get((layer, target))
            a = np.zeros((rank, n_in), dtype=np.int64)
            b = np.zeros((n_out, rank), dtype=np.int64)
            scales = [0, 0]
            if ad is not None:
                r = np.asarray(ad.a).shape[0]
                a[:r], b[:, :r] = ad.a, ad.b
                what = f"LoRA {target} layer {layer}"
                scales = [_scale_word(ad.m_a, ad.sh_a, what), _scale_word(ad.m_b, ad.sh_b, what)]
            words += scales + _pack_rows(a, -(-n_in // 4)) + _pack_rows(b, -(-rank // 4))
    assert len(words) == image_words(cfg, rank, mask)
    return words
