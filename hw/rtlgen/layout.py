"""The lane ROM layout: which weight sits in which lane's ROM at which word.

One function (`rom_layout`) decides it; the hex writer, the RTL parameters, the
estimate and the tests all read the same Layout, so they cannot disagree.

Rules (docs in notes/rtl.md): matrices in token order (per layer wq, wk, wv,
wo, w1, w3, w2; then wcls). Row r of a matrix goes to lane r % LANES in pass
r // LANES. Each pass is ceil(C / VPL) words of VPL weights, zero padded at the
end of a row and for a lane without a row in the last pass.

Weights are stored at their class's own width: each distinct width is one ROM
group (group 0 the width of the first matrix walked, then in order of first
use), and a lane has one ROM per group, VPL x that width bits a word. A
matrix's words sit in its group's ROM in walk order, so one address counter
per group walks each ROM from 0 to its end once per token (hw_matvec), and
the scale ROM holds each lane's (m, sh) per pass of every matrix in walk order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.architecture import CLASSIFIER, LAYER_MATRICES, MATRIX_CLASS
from hw.errors import HardwireError
from hw.numerics import MULT_BITS

SH_BITS = 6                              # requant shift field of a scale word
SCALE_BITS = MULT_BITS + SH_BITS         # {sh[5:0], m[14:0]}
ACT_BITS = 8                             # int8 activations


class LayoutError(HardwireError):
    """A model that the lane layout cannot hold (bad widths or shapes)."""


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def clog2(n: int) -> int:
    """Bits to count 0..n-1 (Verilog's $clog2), at least 1."""
    return max(1, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class MatrixSlot:
    """One matrix of the token's walk."""
    name: str            # "wq" .. "w2", "wcls"
    layer: int | None    # None for wcls
    rows: int            # R
    cols: int            # C
    bits: int            # weight class bits = its ROM group's width
    passes: int          # ceil(R / LANES)
    words: int           # words per row = ceil(C / VPL)
    word_base: int       # address of pass 0, word 0 in its group's ROM
    pass_base: int       # scale ROM address of pass 0
    group: int = 0       # ROM group (Layout.groups) holding its words

    @property
    def label(self) -> str:
        return self.name if self.layer is None else f"{self.name}[{self.layer}]"

    def address(self, pass_: int, word: int) -> int:
        """Word address of (pass, word) of this matrix in its group's ROM, the same in every lane."""
        return self.word_base + pass_ * self.words + word


@dataclass(frozen=True)
class RomGroup:
    """The lane ROM of one weight width: `depth` words of VPL x `bits` bits in every lane."""
    bits: int
    depth: int


@dataclass(frozen=True)
class Layout:
    lanes: int
    vpl: int
    wb: int                      # the widest class's bits: the lane MACs' weight width
    slots: tuple[MatrixSlot, ...]
    depth: int                   # words per lane over all its weight ROMs
    scale_depth: int             # passes per token = words of the scale ROM (scale.hex)
    acc_bits: int                # accumulator width
    rows_w: int                  # bits of a row count (max R, inclusive)
    cols_w: int                  # bits of a column count (max C, inclusive)
    groups: tuple[RomGroup, ...] = ()   # the weight ROMs of a lane, one per width

    @property
    def word_bits(self) -> int:
        """Bits of the widest ROM word (VPL weights of the widest class)."""
        return self.vpl * self.wb

    @property
    def lane_rom_bits(self) -> int:
        """Weight ROM bits of one lane, every group at its own width."""
        return sum(g.depth * self.vpl * g.bits for g in self.groups)

    def group_word_bits(self, group: int) -> int:
        """Bits of a word of ROM group `group`."""
        return self.vpl * self.groups[group].bits

    @property
    def rq_bits(self) -> int:
        """Output bits of a lane: acc * m (m zero-extended to 16 bits) at full width."""
        return self.acc_bits + MULT_BITS + 1

    @property
    def rq_share(self) -> int:
        """Lanes per requantizer (hw_matvec RQ_SHARE, hw_lane_rq): two lanes take turns on one
        when a lane's row sums come at least two cycles apart, i.e. every row is >= 2 words."""
        return 2 if self.lanes > 1 and min(s.words for s in self.slots) >= 2 else 1

    @property
    def requantizers(self) -> int:
        return -(-self.lanes // self.rq_share)

    @property
    def weight_macs(self) -> int:
        return sum(s.rows * s.cols for s in self.slots)

    def slot(self, name: str, layer: int | None = None) -> MatrixSlot:
        for s in self.slots:
            if s.name == name and s.layer == layer:
                return s
        raise KeyError((name, layer))


def weight_bits(model) -> dict[str, int]:
    """Bits per class from the model's knobs, checked against the integer values."""
    bits = dict(model.knobs.get("bits", {}))
    for name, cls in MATRIX_CLASS.items():
        if cls not in bits:
            raise LayoutError(f"integer model knobs have no weight bits for class {cls!r}; re-run `hardwire quantize`")
        b = int(bits[cls])
        if not 2 <= b <= 16:
            raise LayoutError(f"{cls} weights: {b} bits is outside 2..16")
        qmax = (1 << (b - 1)) - 1
        w = np.asarray(model[name])
        if w.size and np.abs(w).max() > qmax:
            raise LayoutError(f"{name} holds |w| = {int(np.abs(w).max())}, more than {cls}'s {b} bits allow "
                              f"(qmax {qmax}); the integer model is corrupt, re-run `hardwire quantize`")
    return {k: int(v) for k, v in bits.items()}


def holds_classifier(model) -> bool:
    """The model is a whole model or the last chip of a chain (hw/rtlgen/chain.py chip_model): the
    chips before it never run the classifier, so their lane ROMs leave its rows out."""
    c = getattr(model, "meta", {}).get("chain") or {}
    return int(c.get("index", 0)) == int(c.get("chips", 1)) - 1


def matrix_order(model) -> list[tuple[str, int | None, np.ndarray]]:
    """(name, layer, W (R, C)) in the token order of the walk."""
    out = [(n, l, model[n][l]) for l in range(model.config.n_layers) for n in LAYER_MATRICES]
    if holds_classifier(model):
        out.append((CLASSIFIER.name, None, model[CLASSIFIER.name]))
    return out


def rom_layout(model, lanes: int, vpl: int) -> Layout:
    """The lane ROM layout of `model` (an IntModel) for LANES x VPL."""
    if lanes < 1 or vpl < 1:
        raise LayoutError(f"lanes and values per lane must be >= 1, got {lanes} and {vpl}")
    bits = weight_bits(model)
    wb = max(bits[MATRIX_CLASS[n]] for n in MATRIX_CLASS)
    slots, pas = [], 0
    widths: list[int] = []               # group -> bits, in order of first use
    depth: list[int] = []                # group -> words so far
    for name, layer, w in matrix_order(model):
        r, c = w.shape
        p, k = cdiv(r, lanes), cdiv(c, vpl)
        b = bits[MATRIX_CLASS[name]]
        if b not in widths:
            widths.append(b)
            depth.append(0)
        g = widths.index(b)
        slots.append(MatrixSlot(name, layer, r, c, b, p, k, depth[g], pas, g))
        depth[g] += p * k
        pas += p
    # the counters are as wide as the classifier needs on every chip (the RTL sizes them for it)
    cls_r, cls_c = np.shape(model[CLASSIFIER.name])
    max_c = max(max(s.cols for s in slots), cls_c)
    max_r = max(max(s.rows for s in slots), cls_r)
    # |x| <= 128, |w| <= 2**(WB-1) - 1: |sum| < C * 2**(WB+6), plus a sign bit;
    # hw_mac_lane needs room for one product and a spare bit (ACC_W >= WB + 9)
    acc = max(clog2(max_c) + wb + 7, wb + 9)
    return Layout(lanes, vpl, wb, tuple(slots), sum(depth), pas, acc,
                  (max_r).bit_length(), (max_c).bit_length(),
                  tuple(RomGroup(b, d) for b, d in zip(widths, depth)))


# ---------------------------------------------------------------- lane contents

def lane_words(model, layout: Layout, lane: int, group: int = 0) -> np.ndarray:
    """Weights of one lane's ROM of `group`: (its depth, VPL) int64, zero padded."""
    out = np.zeros((layout.groups[group].depth, layout.vpl), dtype=np.int64)
    for s, (_, _, w) in zip(layout.slots, matrix_order(model)):
        if s.group != group:
            continue
        w = np.asarray(w, dtype=np.int64)
        for p in range(s.passes):
            r = p * layout.lanes + lane
            if r >= s.rows:
                continue                                   # no row here: stays zero
            row = np.zeros(s.words * layout.vpl, dtype=np.int64)
            row[:s.cols] = w[r]
            out[s.address(p, 0):s.address(p, s.words)] = row.reshape(s.words, layout.vpl)
    return out


def lane_scales(model, layout: Layout, lane: int) -> np.ndarray:
    """(m, sh) per pass of one lane: (scale_depth, 2) int64; (0, 1) where the lane has no row."""
    out = np.tile(np.array([0, 1], dtype=np.int64), (layout.scale_depth, 1))
    for s in layout.slots:
        key = s.name
        m = model[key + "_m"] if s.layer is None else model[key + "_m"][s.layer]
        sh = model[key + "_sh"] if s.layer is None else model[key + "_sh"][s.layer]
        for p in range(s.passes):
            r = p * layout.lanes + lane
            if r < s.rows:
                if not (0 <= m[r] < 1 << MULT_BITS and 1 <= sh[r] < 1 << SH_BITS):
                    raise LayoutError(f"{s.label} row {r}: requant (m={m[r]}, sh={sh[r]}) does not fit "
                                      f"{MULT_BITS}+{SH_BITS} bits; the integer model is corrupt")
                out[s.pass_base + p] = (m[r], sh[r])
    return out


def pack_word(values: np.ndarray, bits: int) -> int:
    """VPL signed values -> one integer, value j at bits [j*bits +: bits] (two's complement)."""
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (j * bits) for j, v in enumerate(values))


def unpack_word(word: int, n: int, bits: int) -> np.ndarray:
    """Inverse of pack_word."""
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    vals = [(word >> (j * bits)) & mask for j in range(n)]
    return np.array([v - (1 << bits) if v & sign else v for v in vals], dtype=np.int64)
