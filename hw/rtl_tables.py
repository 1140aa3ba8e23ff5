"""Hex files for the lookup tables of the static RTL units ($readmemh format).

hw_exp2 reads exp2.hex (256 x 16 bits), hw_rsqrt reads rsqrt.hex (1024 x 16
bits), hw_silu_gate reads silu.hex (L*256 x 16 bits, address layer*256 +
h1 + 128). The values come from hw/numerics.py (and the IntModel's SiLU
tables), so RTL and golden model share one source. Each file starts with
`//` comment lines ($readmemh skips them) saying what it holds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hw import numerics as nx
from hw.errors import HardwireError

TABLE_BITS = 16      # every unit table word is 16 bits
SILU_ROWS = 256      # one SiLU entry per int8 code


class TableError(HardwireError):
    """A table value that does not fit its word, or a malformed table."""


def hex_text(values, width_bits: int, comment_lines: list[str] = ()) -> str:
    """The $readmemh text of `values` (1-D): `// ` comments, then one word per line.

    Values may be unsigned (< 2**width_bits) or negative (>= -2**(width_bits-1)),
    written in two's complement; ceil(width_bits / 4) hex digits per word.
    """
    if width_bits < 1:
        raise TableError(f"hex word width must be >= 1 bit, got {width_bits}")
    vals = [int(v) for v in np.ravel(np.asarray(values, dtype=object))]
    lo, hi = -(1 << (width_bits - 1)), (1 << width_bits) - 1
    bad = [(i, v) for i, v in enumerate(vals) if not lo <= v <= hi]
    if bad:
        i, v = bad[0]
        raise TableError(f"table value {v} at index {i} does not fit {width_bits} bits "
                         f"(allowed {lo}..{hi}); {len(bad)} value(s) out of range")
    digits = (width_bits + 3) // 4
    mask = (1 << width_bits) - 1
    lines = [f"// {c}" if c else "//" for c in comment_lines]
    lines += [f"{v & mask:0{digits}x}" for v in vals]
    return "\n".join(lines) + "\n"


def write_hex(path: str | Path, values, width_bits: int, comment_lines: list[str] = ()) -> Path:
    """Write `values` as a $readmemh file (see hex_text); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(hex_text(values, width_bits, comment_lines))
    return path


def exp2_hex(path: str | Path) -> Path:
    """exp2.hex for hw_exp2: numerics.EXP2, 256 words of 16 bits (unsigned Q15)."""
    t = nx.EXP2  # (256,) uint16 values
    return write_hex(path, t, TABLE_BITS, [
        "exp2.hex: EXP2[f] = round(2**15 * 2**(-f/256)), f = 0..255 (hw/numerics.py exp2_table)",
        f"shape (256,), {TABLE_BITS} bits unsigned, min {int(t.min())} max {int(t.max())}",
    ])


def rsqrt_hex(path: str | Path) -> Path:
    """rsqrt.hex for hw_rsqrt: numerics.RSQRT, 1024 words of 16 bits (unsigned)."""
    t = nx.RSQRT  # (1024,), entries below 256 are 0 (never addressed)
    return write_hex(path, t, TABLE_BITS, [
        "rsqrt.hex: RSQRT[i] = round(2**23 / sqrt((i + 0.5) * 64)), i = 256..1023; 0 below 256",
        f"shape (1024,), {TABLE_BITS} bits unsigned, min (i>=256) {int(t[256:].min())} max {int(t.max())}",
    ])


def silu_tables(int_model) -> np.ndarray:
    """(L, 256) int64 SiLU tables of an IntModel (or of an array given directly), checked."""
    t = np.asarray(int_model["silu"] if not isinstance(int_model, np.ndarray) else int_model)
    if t.ndim != 2 or t.shape[1] != SILU_ROWS or t.shape[0] < 1:
        raise TableError(f"SiLU tables must have shape (layers, {SILU_ROWS}), got {t.shape}; "
                         "re-run `hardwire quantize`")
    return t.astype(np.int64)


def silu_hex(path: str | Path, int_model) -> Path:
    """silu.hex for hw_silu_gate: the model's (L, 256) int16 SiLU tables, layer after
    layer, 16 bits two's complement; address layer*256 + (h1 + 128)."""
    t = silu_tables(int_model)
    return write_hex(path, t.reshape(-1), TABLE_BITS, [
        "silu.hex: SILU[l][c + 128] = round(act(c * s_h1) / s_h1 * 2**7), int8 code c (hw/numerics.py gate_table)",
        f"shape ({t.shape[0]}, 256) layer-major, address layer*256 + c + 128, "
        f"{TABLE_BITS} bits two's complement, min {int(t.min())} max {int(t.max())}",
    ])
