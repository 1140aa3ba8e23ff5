"""The integer primitives of hw/numerics.py against exact or float references."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hw import numerics as nx


# ---------------------------------------------------------------- rq, sat

def _rq_exact(x: int, m: int, sh: int) -> int:
    """floor(x * m / 2**sh + 1/2): round half towards +infinity."""
    return math.floor(Fraction(x * m, 1 << sh) + Fraction(1, 2))


def test_rq_rounding_small_cases():
    assert nx.rq(5, 1, 1) == 3          # 2.5 -> 3
    assert nx.rq(-5, 1, 1) == -2        # -2.5 -> -2 (ties towards +inf)
    assert nx.rq(-7, 1, 1) == -3        # -3.5 -> -3
    assert nx.rq(3, 1, 2) == 1          # 0.75 -> 1
    assert nx.rq(-3, 1, 2) == -1        # -0.75 -> -1
    assert nx.rq(1, 1, 2) == 0          # 0.25 -> 0
    assert nx.rq(-1, 1, 2) == 0         # -0.25 -> 0
    assert nx.rq(0, 12345, 10) == 0


def test_rq_matches_exact_rounding_scalar_and_array():
    rng = np.random.default_rng(1)
    x = rng.integers(-(1 << 31), 1 << 31, 2000)
    m = rng.integers(0, 1 << 15, 2000)
    sh = rng.integers(1, 31, 2000)
    got = nx.rq(x, m, sh)
    assert got.dtype == np.int64
    want = np.array([_rq_exact(int(a), int(b), int(c)) for a, b, c in zip(x, m, sh)])
    assert np.array_equal(got, want)
    for a, b, c in zip(x[:200], m[:200], sh[:200]):
        assert nx.rq(int(a), int(b), int(c)) == _rq_exact(int(a), int(b), int(c))


def test_rq_huge_values_use_python_ints():
    x = (1 << 70) + 12345
    assert nx.rq(x, (1 << 15) - 1, 62) == _rq_exact(x, (1 << 15) - 1, 62)
    assert nx.rq(-x, (1 << 15) - 1, 62) == _rq_exact(-x, (1 << 15) - 1, 62)
    # int64 path at the edge of its documented range (|x * m| < 2**62)
    big = np.array([(1 << 46) - 1, -(1 << 46)], dtype=np.int64)
    assert list(nx.rq(big, (1 << 15) - 1, 40)) == [_rq_exact(int(v), (1 << 15) - 1, 40) for v in big]


def test_sat():
    assert nx.sat(200, 8) == 127 and nx.sat(-200, 8) == -128 and nx.sat(5, 8) == 5
    a = np.array([-40000, -32768, 0, 32767, 40000])
    assert list(nx.sat(a, 16)) == [-32768, -32768, 0, 32767, 32767]
    assert list(nx.sat(np.array([1 << 30, -(1 << 30)]), 24)) == [(1 << 23) - 1, -(1 << 23)]


# ---------------------------------------------------------------- quantize_multiplier

def test_quantize_multiplier_accuracy_and_ranges():
    for real in np.geomspace(1e-9, 1.6e4, 3000):
        m, sh = nx.quantize_multiplier(float(real))
        assert (1 << 14) <= m < (1 << 15), (real, m)
        assert 1 <= sh <= nx.MAX_SHIFT
        assert abs(m / 2.0 ** sh - real) <= real * 2.0 ** -15, (real, m, sh)


def test_quantize_multiplier_exact_powers_and_rounding_overflow():
    assert nx.quantize_multiplier(1.0) == (1 << 14, 14)
    assert nx.quantize_multiplier(0.5) == (1 << 14, 15)
    m, sh = nx.quantize_multiplier(1.0 - 2.0 ** -20)   # mantissa rounds up to 2**15
    assert m < (1 << 15) and m / 2.0 ** sh == 1.0


def test_quantize_multiplier_tiny_zero_and_bad():
    m, sh = nx.quantize_multiplier(1e-17)               # below 2**14 / 2**62: smaller m at shift 62
    assert sh == nx.MAX_SHIFT and 0 < m < (1 << 14)
    assert abs(m / 2.0 ** 62 - 1e-17) <= 2.0 ** -63
    assert nx.quantize_multiplier(0.0) == (0, 1)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            nx.quantize_multiplier(bad)
    with pytest.raises(ValueError, match="too large"):
        nx.quantize_multiplier(2.0 ** 15)


def test_quantize_multipliers_vector_shape():
    m, sh = nx.quantize_multipliers(np.array([[0.25, 3.0], [1e-3, 0.0]]))
    assert m.shape == sh.shape == (2, 2)
    assert (m[0, 0], sh[0, 0]) == nx.quantize_multiplier(0.25)
    assert (m[1, 1], sh[1, 1]) == (0, 1)


# ---------------------------------------------------------------- tables and functions

def test_rsqrt_fixed_error_below_half_percent():
    values = sorted({int(v) for v in np.geomspace(1, 2.0 ** 50, 4000)} | set(range(1, 300)))
    worst = 0.0
    for ss in values:
        r, k = nx.rsqrt_fixed(ss)
        approx = r * 2.0 ** -(nx.RSQRT_FRAC + k)
        worst = max(worst, abs(approx * math.sqrt(ss) - 1.0))
    assert worst < 0.005, worst
    with pytest.raises(ValueError):
        nx.rsqrt_fixed(0)


def test_exp2_neg_against_float():
    z = np.arange(0, 20 * 256)
    got = nx.exp2_neg(z)
    want = (1 << 15) * np.exp2(-z / 256.0)
    live = z < 16 * 256
    assert np.all(np.abs(got[live] - want[live]) <= 1.0)
    assert np.all(got[~live] == 0)
    assert got[0] == 1 << 15 and np.all(np.diff(got) <= 0)   # exact at 0, never increasing


def test_rope_against_float():
    hd, pos = 8, 37
    cos_t, sin_t = nx.rope_tables(64, hd)
    assert cos_t.shape == (64, hd // 2) and np.abs(cos_t).max() <= 1 << 14
    rng = np.random.default_rng(3)
    x = rng.integers(-90, 91, 3 * hd)           # |a|, |b| <= 90: no saturation after rotation
    got = nx.rope(x, pos, cos_t, sin_t, hd)
    freq = 1.0 / (10000.0 ** (2.0 * np.arange(hd // 2) / hd))
    a, b = x.reshape(-1, hd // 2, 2)[..., 0], x.reshape(-1, hd // 2, 2)[..., 1]
    ang = pos * freq
    want = np.stack([a * np.cos(ang) - b * np.sin(ang), a * np.sin(ang) + b * np.cos(ang)], -1).reshape(-1)
    assert np.all(np.abs(got - want) <= 1.0)
    assert np.array_equal(nx.rope(x, 0, cos_t, sin_t, hd), x)   # position 0 is the identity


def test_silu_table():
    s = 0.05
    t = nx.gate_table(s)
    c = np.arange(-128, 128) * s
    want = c / (1 + np.exp(-c)) / s * 128
    assert t.shape == (256,) and np.all(np.abs(t - want) <= 0.5)
    assert t[128] == 0


def test_attention_head_against_float_softmax():
    rng = np.random.default_rng(4)
    hd, p = 8, 50
    s_q = s_k = 0.15
    s_v, s_att = 0.01, 0.01
    q = rng.integers(-127, 128, hd)
    keys, values = rng.integers(-127, 128, (p, hd)), rng.integers(-127, 128, (p, hd))
    m_att, sh_att = nx.quantize_multiplier(s_q * s_k / math.sqrt(hd) / math.log(2) * 256)
    m_o, sh_o = nx.quantize_multiplier(s_v / (s_att * 2.0 ** 24))
    got = nx.attention_head(q, keys, values, m_att, sh_att, m_o, sh_o)
    sc = keys @ q * s_q * s_k / math.sqrt(hd)
    pr = np.exp(sc - sc.max())
    want = (pr / pr.sum()) @ (values * s_v) / s_att
    assert np.all(np.abs(got - want) <= 2.0), (got, want)


# ---------------------------------------------------------------- sampler

def test_greedy_tie_goes_to_lowest_index():
    logits = np.array([3, 9, 1, 9, 9, -4])
    assert nx.argmax_first(logits) == 1
    tok, state = nx.sample(logits, 0, 0, 16, 1 << 14, 20, 1234)
    assert tok == 1 and state == 1234        # greedy leaves the state alone


def test_top_k_order():
    logits = np.array([5, 7, 7, -1, 9, 0, 7])
    assert list(nx.top_k_candidates(logits, 4)) == [4, 1, 2, 6]
    assert list(nx.top_k_candidates(logits, 7)) == [4, 1, 2, 6, 0, 5, 3]


def _logit_setup():
    nats = np.array([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, -3.0, -6.0])
    s_logit = 2.0 ** -16
    logits = np.round(nats / s_logit).astype(np.int64)
    m, sh = nx.quantize_multiplier(s_logit / math.log(2) * 256)
    return nats, logits, m, sh


def _draw(logits, m, sh, seed, n, inv_temp=256, top_k=0, k_max=8):
    state, out = seed, []
    for _ in range(n):
        tok, state = nx.sample(logits, inv_temp, top_k, k_max, m, sh, state)
        out.append(tok)
    return out


def test_seeded_sampling_is_deterministic_and_seeds_differ():
    _, logits, m, sh = _logit_setup()
    a = _draw(logits, m, sh, 0x1234, 200)
    assert a == _draw(logits, m, sh, 0x1234, 200)
    assert a != _draw(logits, m, sh, 0x4321, 200)
    assert nx.xorshift32(1) == 270369 and nx.xorshift32(0x1234) != 0x1234


def test_sampling_distribution_matches_softmax():
    nats, logits, m, sh = _logit_setup()
    n = 20000
    draws = np.bincount(_draw(logits, m, sh, 99, n), minlength=len(nats)) / n
    p = np.exp(nats - nats.max())
    p /= p.sum()
    assert np.all(np.abs(draws - p) < 0.015), (draws, p)


def test_temperature_and_top_k_shape_the_distribution():
    nats, logits, m, sh = _logit_setup()
    n = 4000
    hot = np.bincount(_draw(logits, m, sh, 5, n, inv_temp=nx.inv_temperature_q8(0.25)), minlength=8) / n
    p = np.exp(4 * (nats - nats.max()))
    assert abs(hot[0] - p[0] / p.sum()) < 0.03            # T = 0.25 sharpens: ~0.98 on token 0
    top2 = set(_draw(logits, m, sh, 6, 500, top_k=2))
    assert top2 == {0, 1}
    assert nx.inv_temperature_q8(0.0) == 0 and nx.inv_temperature_q8(1.0) == 256
    assert nx.inv_temperature_q8(1e-9) == 65535
