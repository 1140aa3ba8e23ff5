"""host/registers.py: the identity block round-trips, temperature matches numerics, LoRA layout."""
from __future__ import annotations

import random

import pytest

from host import registers as R
from hw import numerics as nx

IDENT = R.Identity(fingerprint="0123456789abcdef" * 4, gen_version=3, dim=64, hidden=172, layers=5,
                   heads=8, kv_heads=4, vocab=512, context=256, lanes=16, vpl=4,
                   bits={"embedding": 8, "attention": 4, "mlp": 3, "classifier": 6},
                   lora_rank=4, lora_targets=("wq", "wv"), k_max=16)


def test_identity_round_trip_and_register_values():
    words = R.pack_identity(IDENT)
    assert words[R.MAGIC] == R.MAGIC_VALUE == int.from_bytes(b"HWIR", "big")
    assert words[R.FINGERPRINT] == 0x01234567 and words[R.FINGERPRINT + 4] == 0x89ABCDEF
    assert words[R.BITS] == 8 | 4 << 8 | 3 << 16 | 6 << 24
    assert words[R.LORA_TARGETS] == 0b101
    assert words[R.DIM] == 64 and words[R.K_MAX] == 16 and words[R.CONTEXT] == 256
    assert R.unpack_identity(words) == IDENT
    assert R.identity_addresses()[0] == 0x80 and R.identity_addresses()[-1] == 0xD0


def test_addresses_match_the_register_map():
    assert (R.CONTROL, R.STATUS, R.PROMPT_PUSH, R.TOKEN_POP) == (0x08, 0x0C, 0x10, 0x14)
    # PROMPT_LEN..STOP_TOKEN are consecutive: the driver writes them as one burst
    assert [R.PROMPT_LEN, R.MAX_NEW, R.INV_TEMP_Q8, R.TOP_K, R.SEED, R.STOP_TOKEN] == list(range(0x18, 0x30, 4))
    assert R.word_index(R.TOKEN_POP) == 5
    for bad in (2, -4, 1024):
        with pytest.raises(ValueError, match="word-aligned"):
            R.word_index(bad)


def test_inv_temperature_equals_numerics():
    rng = random.Random(0)
    temps = [0.0, -1.0, 1e-9, 0.003, 0.5, 1.0, 1.7, 255.9, 256.0, 1000.0] + [rng.uniform(0, 4) for _ in range(300)]
    for t in temps:
        assert R.inv_temperature_q8(t) == nx.inv_temperature_q8(t), t


def test_lora_layout_sizes_and_packing():
    blocks = R.lora_blocks(IDENT)
    assert [(l, t) for l, t, _ in blocks] == [(l, t) for l in range(5) for t in ("wq", "wv")]
    # wq: 2 + 4 rows * 16 words + 64 rows * 1 word; wv: 2 + 4 * 16 + 32 * 1
    assert R.lora_block_words(IDENT, "wq") == 130 and R.lora_block_words(IDENT, "wv") == 98
    assert blocks[1][2] == 130 and blocks[2][2] == 228

    class A:
        a = [[1, -1, 2] + [0] * 61] * 4
        b = [[-128 + 1, 0, 0, 5]] * 32
        m_a, sh_a, m_b, sh_b = 20000, 9, 123, 62

    words = R.pack_lora_block(IDENT, "wv", A)
    assert len(words) == 98
    assert words[0] == 9 << 16 | 20000 and words[1] == 62 << 16 | 123
    assert words[2] == 0x00_02_FF_01                   # 1, -1, 2, 0 little endian
    assert words[-1] == 0x05_00_00_81                  # -127, 0, 0, 5
    zero = R.pack_lora_block(IDENT, "wv", None)
    assert zero[:2] == [1 << 16, 1 << 16] and not any(zero[2:])
    # a rank-2 adapter on a rank-4 device: zero rows of a, zero columns of b
    A.a, A.b = A.a[:2], [row[:2] for row in A.b]
    low = R.pack_lora_block(IDENT, "wv", A)
    assert low[:2 + 2 * 16] == words[:2 + 2 * 16] and not any(low[2 + 2 * 16:2 + 4 * 16])
    assert low[-1] == 0x00_00_00_81
    A.b = [[1, 2, 3, 4, 5]] * 32
    with pytest.raises(ValueError, match=r"b \(32, 4\)"):
        R.pack_lora_block(IDENT, "wv", A)
