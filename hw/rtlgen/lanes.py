"""Write each lane's weight ROM and the lanes' scale ROM as $readmemh hex files.

lane_NNN.hex: one word per line, VPL weights of B bits, value j at bits
[j*B +: B] (two's complement), for the matrices of ROM group 0 (the width of
the first matrix walked); lane_NNN_gG.hex the same for group G >= 1 (another
class width, layout.py). scale.hex: one word per pass holding every lane's
{sh[5:0], m[14:0]}, lane l at bits [21*l +: 21] (hw_matvec reads one word for
all lanes). Both start with `//` comment lines ($readmemh skips them) saying
which matrices, rows, bits and value ranges they hold.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hw.numerics import MULT_BITS
from hw.rtl_tables import write_hex
from hw.rtlgen.layout import SCALE_BITS, Layout, lane_scales, lane_words, pack_word, unpack_word


def lane_file(lane: int, group: int = 0) -> str:
    """The weight ROM file of `lane` for ROM `group`; hw_matvec forms the same names."""
    return f"lane_{lane:03d}.hex" if group == 0 else f"lane_{lane:03d}_g{group}.hex"


SCALE_FILE = "scale.hex"


def lane_scale(word: int, lane: int) -> tuple[int, int]:
    """(m, sh) of `lane` in a scale.hex word."""
    field = (word >> (SCALE_BITS * lane)) & ((1 << SCALE_BITS) - 1)
    return field & ((1 << MULT_BITS) - 1), field >> MULT_BITS


def _rows_text(lane: int, lanes: int, rows: int) -> str:
    """Rows this lane owns in a matrix of `rows` rows, e.g. '3..511 step 4 (128)'."""
    own = range(lane, rows, lanes)
    if len(own) == 0:
        return "none"
    if len(own) == 1:
        return f"{own[0]} (1)"
    return f"{own[0]}..{own[-1]} step {lanes} ({len(own)})"


def lane_header(model, layout: Layout, lane: int, words: np.ndarray, group: int = 0) -> list[str]:
    lay, g = layout, layout.groups[group]
    which = f"lane {lane} of {lay.lanes} (rows r with r % {lay.lanes} == {lane})"
    if len(lay.groups) > 1:
        which += f", ROM group {group} of {len(lay.groups)} ({g.bits}-bit classes)"
    head = [
        f"hardwire lane weight ROM: {which}",
        f"model fingerprint {model.fingerprint}",
        f"{g.depth} words of {lay.vpl} x {g.bits}-bit weights; value j at bits [{g.bits}*j +: {g.bits}], "
        "two's complement, zero padded",
        f"{'matrix':<9} {'addr':>7} {'passes':>6} {'words':>5} {'bits':>4} {'min':>5} {'max':>5}  rows",
    ]
    for s in (s for s in lay.slots if s.group == group):
        block = words[s.word_base:s.word_base + s.passes * s.words]
        lo, hi = (int(block.min()), int(block.max())) if block.size else (0, 0)
        head.append(f"{s.label:<9} {s.word_base:>7} {s.passes:>6} {s.words:>5} {s.bits:>4} {lo:>5} {hi:>5}  "
                    f"{_rows_text(lane, lay.lanes, s.rows)}")
    return head


def scale_header(model, layout: Layout, scales: list[np.ndarray]) -> list[str]:
    lay = layout
    head = [
        f"hardwire lane scale ROM: one word per pass, the {lay.lanes} lanes' scales",
        f"model fingerprint {model.fingerprint}",
        f"{lay.scale_depth} words, lane l's {{sh[5:0], m[{MULT_BITS - 1}:0]}} at bits [{SCALE_BITS}*l +: "
        f"{SCALE_BITS}]: y = (acc * m + 2**(sh-1)) >> sh; (0, 1) where the lane has no row",
        f"{'matrix':<9} {'addr':>5} {'passes':>6} {'m min':>6} {'m max':>6} {'sh min':>6} {'sh max':>6}",
    ]
    for s in lay.slots:
        own = [(lane, s.pass_base + p) for lane in range(lay.lanes) for p in range(s.passes)
               if p * lay.lanes + lane < s.rows]
        m = np.array([scales[lane][a, 0] for lane, a in own])
        sh = np.array([scales[lane][a, 1] for lane, a in own])
        rng = (f"{int(m.min()):>6} {int(m.max()):>6} {int(sh.min()):>6} {int(sh.max()):>6}"
               if own else f"{'-':>6} {'-':>6} {'-':>6} {'-':>6}")
        head.append(f"{s.label:<9} {s.pass_base:>5} {s.passes:>6} {rng}")
    return head


def write_lanes(model, layout: Layout, rom_dir: Path) -> list[Path]:
    """Write lane_NNN.hex for every lane and scale.hex; returns the paths."""
    rom_dir = Path(rom_dir)
    rom_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for lane in range(layout.lanes):
        for group, g in enumerate(layout.groups):
            words = lane_words(model, layout, lane, group)         # (group depth, VPL)
            path = rom_dir / lane_file(lane, group)
            write_hex(path, [pack_word(w, g.bits) for w in words], layout.group_word_bits(group),
                      lane_header(model, layout, lane, words, group))
            written.append(path)
    scales = [lane_scales(model, layout, lane) for lane in range(layout.lanes)]    # each (scale_depth, 2)
    words = [sum(((int(sc[a, 1]) << MULT_BITS) | int(sc[a, 0])) << (SCALE_BITS * lane)
                 for lane, sc in enumerate(scales)) for a in range(layout.scale_depth)]
    spath = rom_dir / SCALE_FILE
    write_hex(spath, words, SCALE_BITS * layout.lanes, scale_header(model, layout, scales))
    written.append(spath)
    return written


def read_hex(path: Path) -> list[int]:
    """Words of a hex file written by write_hex (comments and blank lines skipped)."""
    out = []
    for line in Path(path).read_text(encoding="ascii").splitlines():
        line = line.split("//", 1)[0].strip()
        if line:
            out.append(int(line, 16))
    return out


def decode_lanes(layout: Layout, rom_dir: Path) -> dict[tuple[str, int | None], np.ndarray]:
    """Rebuild every matrix (R, C) from the lane hex files (the inverse of write_lanes)."""
    roms = {(l, gi): np.array([unpack_word(w, layout.vpl, g.bits)
                               for w in read_hex(Path(rom_dir) / lane_file(l, gi))]).reshape(-1, layout.vpl)
            for l in range(layout.lanes) for gi, g in enumerate(layout.groups)}   # each (group depth, VPL)
    out = {}
    for s in layout.slots:
        w = np.zeros((s.rows, s.cols), dtype=np.int64)
        for r in range(s.rows):
            lane, p = r % layout.lanes, r // layout.lanes
            w[r] = roms[lane, s.group][s.address(p, 0):s.address(p, s.words)].reshape(-1)[:s.cols]
        out[(s.name, s.layer)] = w
    return out
