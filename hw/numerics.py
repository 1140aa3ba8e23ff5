"""Integer primitives of hardwire: the arithmetic that the RTL implements.

Every function here is exact integer arithmetic on numpy int64 arrays (or
Python ints). The golden model composes them; each RTL block is tested
against the function of the same name. docs/numerics.md states the widths,
rounding and saturation of each one in prose.

Conventions
- `rq(x, m, sh)`: requantize = (x * m + 2**(sh-1)) >> sh, an arithmetic
  (floor) shift, so ties round towards +infinity. m is an unsigned multiplier
  below 2**15 (MULT_BITS), sh a shift in [1, MAX_SHIFT].
- `sat(x, bits)`: clamp to the signed range of `bits` bits.
"""
from __future__ import annotations

import math

import numpy as np

from hw.activations import DEFAULT as DEFAULT_ACT, activation

MULT_BITS = 15          # requant multipliers are unsigned and < 2**15
MAX_SHIFT = 62          # requant shifts are in [1, 62]
EXP_FRAC_BITS = 8       # exp2 argument: 8 fractional bits
EXP_ONE = 1 << 15       # exp2 table value for 2**0
EXP_MAX_INT = 16        # 2**-16 and below counts as 0
RSQRT_INDEX_SHIFT = 6   # rsqrt table index = mantissa >> 6
RSQRT_FRAC = 23         # rsqrt table holds 2**23 / sqrt(mantissa)
ROPE_FRAC = 14          # cos/sin tables in Q2.14
SILU_FRAC = 7           # SiLU table output in units of s_h1 / 2**7
RECIP_BITS = 40         # softmax reciprocal = floor(2**40 / sum)
ATT_SHIFT = 16          # (o * recip) >> 16 before the output requant
LFSR_DEFAULT_SEED = 0x2545F491


# ---------------------------------------------------------------- basics

def sat(x, bits: int):
    """Clamp to the signed `bits`-bit range."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(x, lo, hi) if isinstance(x, np.ndarray) else max(lo, min(hi, x))


def rq(x, m, sh):
    """Requantize: (x * m + 2**(sh-1)) >> sh with floor shift. Exact for int64
    arrays as long as |x * m| < 2**62; wider products use Python ints."""
    if isinstance(x, np.ndarray) or isinstance(m, np.ndarray) or isinstance(sh, np.ndarray):
        x = np.asarray(x, dtype=np.int64)
        m = np.asarray(m, dtype=np.int64)
        sh = np.asarray(sh, dtype=np.int64)
        return (x * m + (np.int64(1) << (sh - 1))) >> sh
    return (int(x) * int(m) + (1 << (int(sh) - 1))) >> int(sh)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Write a positive real factor as m / 2**sh with m in [2**14, 2**15) when
    possible. Factors too small for MAX_SHIFT round towards (0, MAX_SHIFT)."""
    if not (real > 0.0) or not math.isfinite(real):
        if real == 0.0:
            return 0, 1
        raise ValueError(f"requant factor must be a finite number >= 0, got {real}")
    mant, exp = math.frexp(real)            # real = mant * 2**exp, mant in [0.5, 1)
    sh = MULT_BITS - exp                    # m = mant * 2**15 in [2**14, 2**15)
    m = round(mant * (1 << MULT_BITS))
    if m == 1 << MULT_BITS:                 # rounding overflowed the mantissa
        m >>= 1
        sh -= 1
    if sh > MAX_SHIFT:
        m = round(real * (1 << MAX_SHIFT))
        sh = MAX_SHIFT
    if sh < 1:
        raise ValueError(f"requant factor {real} is too large (needs shift {sh} < 1)")
    return int(m), int(sh)


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of quantize_multiplier: (m int64 array, sh int64 array)."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(reals)]
    m = np.array([p[0] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    sh = np.array([p[1] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    return m, sh


# ---------------------------------------------------------------- tables

def exp2_table() -> np.ndarray:
    """EXP2[f] = round(2**15 * 2**(-f/256)), f in [0, 256); uint16 values."""
    f = np.arange(1 << EXP_FRAC_BITS, dtype=np.float64)
    return np.round(EXP_ONE * np.exp2(-f / (1 << EXP_FRAC_BITS))).astype(np.int64)


def rsqrt_table() -> np.ndarray:
    """RSQRT[i] = round(2**23 / sqrt((i + 0.5) * 2**6)) for i in [256, 1024);
    entries below 256 are never addressed and hold 0."""
    i = np.arange(1024, dtype=np.float64)
    t = np.round((1 << RSQRT_FRAC) / np.sqrt((i + 0.5) * (1 << RSQRT_INDEX_SHIFT)))
    t[:256] = 0
    return t.astype(np.int64)


def rope_tables(seq_len: int, head_dim: int, theta: float = 10000.0) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin (seq_len, head_dim/2) in Q2.14: round(cos(p * theta**(-2i/hd)) * 2**14)."""
    i = np.arange(head_dim // 2, dtype=np.float64)
    freq = 1.0 / (theta ** (2.0 * i / head_dim))
    ang = np.arange(seq_len, dtype=np.float64)[:, None] * freq[None, :]
    one = 1 << ROPE_FRAC
    return (np.round(np.cos(ang) * one).astype(np.int64),
            np.round(np.sin(ang) * one).astype(np.int64))


def gate_table(s_h1: float, act: str = DEFAULT_ACT) -> np.ndarray:
    """SILU[c + 128] = round(act(c * s_h1) / s_h1 * 2**7) for int8 codes c; int16 values.
    act: the MLP's activation (hw/activations.py; the table and the RTL are named after silu,
    the default, but hold whichever function the model uses)."""
    c = np.arange(-128, 128, dtype=np.float64) * s_h1
    y = activation(act).fn(c)
    return np.clip(np.round(y / s_h1 * (1 << SILU_FRAC)), -32768, 32767).astype(np.int64)


EXP2 = exp2_table()
RSQRT = rsqrt_table()


# ---------------------------------------------------------------- operations

def exp2_neg(z):
    """2**(-z / 256) in Q15 for z >= 0: EXP2[z & 255] >> (z >> 8), 0 once z >> 8 >= 16."""
    z = np.asarray(z, dtype=np.int64)
    ip = z >> EXP_FRAC_BITS
    val = EXP2[z & ((1 << EXP_FRAC_BITS) - 1)] >> np.minimum(ip, 63)
    return np.where(ip >= EXP_MAX_INT, 0, val)


def rsqrt_fixed(ss: int) -> tuple[int, int]:
    """1/sqrt(ss) ~= r * 2**-(23 + k) for a positive integer ss.

    k = (bitlen(ss) - 15) // 2 (floor, may be negative); the mantissa
    mt = ss >> 2k (or << -2k) lies in [2**14, 2**16); r = RSQRT[mt >> 6].
    """
    ss = int(ss)
    if ss <= 0:
        raise ValueError("rsqrt_fixed needs a positive integer")
    k = (ss.bit_length() - 15) // 2
    mt = ss >> (2 * k) if k >= 0 else ss << (-2 * k)
    return int(RSQRT[mt >> RSQRT_INDEX_SHIFT]), k


def rmsnorm(res: np.ndarray, gq: np.ndarray, g_shift: int, eps_q: int) -> np.ndarray:
    """int16 residual (D,) -> int8 normalized activation (D,).

    ss = sum(res**2) + eps_q;  r, k = rsqrt_fixed(ss)
    y_i = sat8(rq(res_i * gq_i, r, 23 + k + g_shift))
    gq are int16 gains: round(g_i * sqrt(D) / s_out * 2**g_shift).
    """
    res = np.asarray(res, dtype=np.int64)
    ss = int(np.sum(res * res)) + int(eps_q)
    r, k = rsqrt_fixed(ss)
    return sat(rq(res * np.asarray(gq, dtype=np.int64), r, RSQRT_FRAC + k + g_shift), 8)


def rope(x: np.ndarray, pos: int, cos_t: np.ndarray, sin_t: np.ndarray, head_dim: int,
         bits: int = 8) -> np.ndarray:
    """Rotate adjacent pairs (2i, 2i+1) of each head of an int`bits` vector at `pos`.

    a' = sat((a*c - b*s + 2**13) >> 14),  b' = sat((a*s + b*c + 2**13) >> 14), to `bits` bits
    """
    x = np.asarray(x, dtype=np.int64).reshape(-1, head_dim // 2, 2)
    a, b = x[..., 0], x[..., 1]
    c, s = cos_t[pos][None, :], sin_t[pos][None, :]
    half = 1 << (ROPE_FRAC - 1)
    a2 = sat((a * c - b * s + half) >> ROPE_FRAC, bits)
    b2 = sat((a * s + b * c + half) >> ROPE_FRAC, bits)
    return np.stack([a2, b2], axis=-1).reshape(-1)


def attention_head(q: np.ndarray, keys: np.ndarray, values: np.ndarray,
                   m_att: int, sh_att: int, m_out: int, sh_out: int, qk_bits: int = 8) -> np.ndarray:
    """One head over positions 0..p (keys (p+1, hd) int`qk_bits`, values int8) -> int8 (hd,).

    s_t = (q . k_t) >> 2*(qk_bits - 8)  (floor: the score in the units of int8 q and k)
    z_t = ((max_s - s_t) * m_att) >> sh_att  (floor)
    e_t = exp2_neg(z_t) (Q15);  E = sum e_t;  recip = floor(2**40 / E)
    o_i = sum_t e_t * v_t,i;  w_i = (o_i * recip + 2**15) >> 16
    out_i = sat8(rq(w_i, m_out, sh_out))
    """
    q = np.asarray(q, dtype=np.int64)
    s = (np.asarray(keys, dtype=np.int64) @ q) >> score_shift(qk_bits)
    z = ((int(s.max()) - s) * m_att) >> sh_att
    e = exp2_neg(z)
    total = int(e.sum())
    recip = (1 << RECIP_BITS) // total
    o = e @ np.asarray(values, dtype=np.int64)
    w = (o * recip + (1 << (ATT_SHIFT - 1))) >> ATT_SHIFT
    return sat(rq(w, m_out, sh_out), 8)


def score_shift(qk_bits: int) -> int:
    """Wider q and k (int16) keep their extra resolution in the dot product; the score then drops
    the extra bits of both so that the softmax exponent's datapath is that of int8 q and k."""
    return 2 * (qk_bits - 8)


def silu_gate(h1: np.ndarray, h3: np.ndarray, table: np.ndarray, m_g: int, sh_g: int) -> np.ndarray:
    """int8 h1, h3 (H,) -> int8 gated (H,): sat8(rq(SILU[h1 + 128] * h3, m_g, sh_g))."""
    sl = table[np.asarray(h1, dtype=np.int64) + 128]
    return sat(rq(sl * np.asarray(h3, dtype=np.int64), m_g, sh_g), 8)


def matvec(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int32 accumulators of an integer matrix (R, C) times an int8 vector (C,)."""
    return np.asarray(w, dtype=np.int64) @ np.asarray(x, dtype=np.int64)


# ---------------------------------------------------------------- sampler

def xorshift32(state: int) -> int:
    """One step of Marsaglia's xorshift32 (13, 17, 5) on a nonzero 32-bit state."""
    x = state & 0xFFFFFFFF
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def argmax_first(logits: np.ndarray) -> int:
    """Index of the largest value; the lowest index wins a tie."""
    return int(np.argmax(logits))


def top_k_candidates(logits: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest logits, largest first, ties by lower index."""
    order = np.lexsort((np.arange(len(logits)), -np.asarray(logits, dtype=np.int64)))
    return order[:k]


def sample(logits: np.ndarray, inv_temp_q8: int, top_k: int, k_max: int,
           m_logit: int, sh_logit: int, state: int) -> tuple[int, int]:
    """Pick the next token from int logits; returns (token, new_lfsr_state).

    inv_temp_q8 == 0 selects greedy (argmax, the state is unchanged).
    Otherwise: K = top_k if 1 <= top_k <= k_max else k_max; candidates c_j
    by value (ties: lower index first);
      z0_j = ((l_c0 - l_cj) * m_logit) >> sh_logit   (log2 units, 8 frac bits)
      z_j  = (z0_j * inv_temp_q8) >> 8
      e_j = exp2_neg(z_j); E = sum e_j
      state' = xorshift32(state); r = (state' * E) >> 32
      token = c_j for the smallest j with e_0 + ... + e_j > r.
    """
    if inv_temp_q8 == 0:
        return argmax_first(logits), state
    k = top_k if 1 <= top_k <= k_max else k_max
    cand = top_k_candidates(logits, min(k, len(logits)))
    lv = np.asarray(logits, dtype=np.int64)[cand]
    z0 = ((lv[0] - lv) * m_logit) >> sh_logit
    z = (z0 * inv_temp_q8) >> 8
    e = exp2_neg(z)
    cum = np.cumsum(e)
    state = xorshift32(state)
    r = (state * int(cum[-1])) >> 32
    j = int(np.argmax(cum > r))
    return int(cand[j]), state


def inv_temperature_q8(temperature: float) -> int:
    """Register value for a temperature: 0 (greedy) for T <= 0, else round(256 / T) in [1, 65535]."""
    if temperature <= 0.0:
        return 0
    return int(min(65535, max(1, round(256.0 / temperature))))
