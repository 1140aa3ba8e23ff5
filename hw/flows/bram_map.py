"""Where each ROM image sits in the block RAMs of an ECP5 textual config, and how to rewrite it.

An ECP5 config (nextpnr --textcfg, or ecpunpack of a .bit) holds each DP16KD's
contents as `.bram_init N`: 2048 words of 9 bits. In a mode of width W the
block is D = 16384 / W words (W = 1, 2, 4: 8 bits of each 9-bit word are used)
or 18432 / W words (W = 9, 18, 36), and word a, bit b is bit a * W + b of the
block's bit stream (the convention of Project Trellis' ecpbram).

Synthesis maps a ROM of depth d and width w onto blocks that each hold its
bits [b0, b0 + W) of words [512 c0, 512 c0 + D) (memory_libmap splits by width
and by depth, in order). `find_map` finds, for every block, the (ROM, W, b0,
c0) whose image explains *every* bit of the block, from the base model's ROM
images: a block is looked up by its 512-word bit slices and then checked
whole, so contents that repeat (padding, a zero column) cannot place a block
wrongly. ecpbram does the same replacement but needs every 512-word slice of
its image to be unique and cannot tell two ROMs apart, which weight ROMs do
not guarantee; this module checks instead, and refuses what it cannot place.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.errors import HardwireError

MODES = (1, 2, 4, 9, 18, 36)
CHUNK = 512                              # words of one slice (the depth of the widest mode)
BLOCK_WORDS = 2048                       # 9-bit words of one .bram_init
_BRAM = re.compile(r"^\.bram_init (\d+)\n((?:[0-9a-fA-F]{3}[ \n])+)", re.M)


class BramMapError(HardwireError):
    """A ROM that is not (or not findably) in block RAM, or a config that is not what was expected."""


# ---------------------------------------------------------------- config text

def read_brams(text: str) -> dict[int, np.ndarray]:
    """{block index: (2048,) int array of 9-bit words} of every `.bram_init` in a config."""
    out = {}
    for m in _BRAM.finditer(text):
        words = np.array([int(t, 16) for t in m.group(2).split()], dtype=np.int64)
        if words.size != BLOCK_WORDS:
            raise BramMapError(f".bram_init {m.group(1)} has {words.size} words, not {BLOCK_WORDS}")
        out[int(m.group(1))] = words
    return out


def write_brams(text: str, brams: dict[int, np.ndarray]) -> str:
    """`text` with the `.bram_init` sections of the blocks in `brams` replaced (the rest untouched)."""
    def sub(m):
        idx = int(m.group(1))
        if idx not in brams:
            return m.group(0)
        w = brams[idx]
        lines = [" ".join(f"{int(v):03x}" for v in w[i:i + 8]) for i in range(0, BLOCK_WORDS, 8)]
        return f".bram_init {idx}\n" + "\n".join(lines) + "\n"
    return _BRAM.sub(sub, text)


def strip_brams(text: str) -> str:
    """The config without its block-RAM contents (what must not change in a respin)."""
    return _BRAM.sub(lambda m: f".bram_init {m.group(1)}\n", text)


# ---------------------------------------------------------------- bits of a block

def _bits(words: np.ndarray, mode: int) -> np.ndarray:
    """The block's bit stream in `mode` (9 or 8 bits of each word)."""
    per = 9 if mode >= 9 else 8
    return ((words[:, None] >> np.arange(per)) & 1).astype(np.uint8).reshape(-1)


def _words(bits: np.ndarray, per: int) -> np.ndarray:
    b = bits.reshape(BLOCK_WORDS, per).astype(np.int64)
    return (b << np.arange(per)).sum(axis=1)


def block_matrix(words: np.ndarray, mode: int) -> np.ndarray:
    """(D, W) bits of a block in mode W: row a is word a."""
    bits = _bits(words, mode)
    depth = bits.size // mode
    return bits[:depth * mode].reshape(depth, mode)


def set_block_matrix(words: np.ndarray, mode: int, mat: np.ndarray) -> np.ndarray:
    """The block's words with its mode-W contents replaced by `mat` (D, W); other bits kept."""
    per = 9 if mode >= 9 else 8
    bits = _bits(words, mode)
    bits[:mat.size] = mat.reshape(-1)
    out = _words(bits, per)
    if per == 8:                          # the 9th bit of each word is not part of these modes
        out |= words & 0x100
    return out


# ---------------------------------------------------------------- ROM images

@dataclass(frozen=True)
class Image:
    """One ROM's contents as a bit matrix: (depth rounded up to 512, width), row a = word a."""
    name: str
    depth: int
    width: int
    bits: np.ndarray

    @property
    def chunks(self) -> int:
        return self.bits.shape[0] // CHUNK

    def slice(self, bit: int, chunk: int) -> np.ndarray:
        """Bit `bit` of words [512 chunk, 512 chunk + 512); zero outside the image."""
        if 0 <= bit < self.width and 0 <= chunk < self.chunks:
            return self.bits[chunk * CHUNK:(chunk + 1) * CHUNK, bit]
        return np.zeros(CHUNK, dtype=np.uint8)

    def words(self) -> list[int]:
        out = [0] * self.depth
        for lo in range(0, self.width, 32):
            n = min(32, self.width - lo)
            part = (self.bits[:self.depth, lo:lo + n].astype(np.int64) << np.arange(n)).sum(axis=1)
            out = [o | (int(v) << lo) for o, v in zip(out, part)]
        return out

    def sha256(self) -> str:
        return hashlib.sha256(np.packbits(self.bits[:self.depth]).tobytes()
                              + f"{self.depth}x{self.width}".encode()).hexdigest()


def image(name: str, words: list[int], width: int) -> Image:
    depth = len(words)
    rows = -(-depth // CHUNK) * CHUNK
    bits = np.zeros((rows, width), dtype=np.uint8)
    for lo in range(0, width, 32):                 # 32 bits at a time: words may be wider than 64
        part = np.array([(int(w) >> lo) & 0xFFFFFFFF for w in words], dtype=np.int64)
        n = min(32, width - lo)
        bits[:depth, lo:lo + n] = (part[:, None] >> np.arange(n)) & 1
    return Image(name, depth, width, bits)


def read_hex_image(path: Path) -> Image:
    """A $readmemh file as the generator writes it (hw/rtl_tables.py): comments, one word a line;
    the width is the digits' (the RTL's is at most that, the extra top bits are zero)."""
    words, digits = [], 0
    for line in Path(path).read_text().splitlines():
        line = line.split("//")[0].strip()
        if line:
            words.append(int(line, 16))
            digits = max(digits, len(line))
    return image(Path(path).name, words, 4 * digits)


def rom_images(rom_dir: Path) -> dict[str, Image]:
    return {p.name: read_hex_image(p) for p in sorted(Path(rom_dir).glob("*.hex"))}


# ---------------------------------------------------------------- the map

def _depth(mode: int) -> int:
    return (16384 if mode < 9 else 18432) // mode


@dataclass(frozen=True)
class Placement:
    """Block `block` in mode `mode` holds part of `rom`: port bit p holds, for each 512-word chunk
    c of the block, the ROM's bit columns[p][0] of chunk columns[p][1] + c (None: nothing of it).

    Yosys packs a deep ROM into blocks as one wide word per block address (the address's high
    bits become data bits, then the wide word is cut into block widths), and trims columns that
    are constant, so a block's ports hold ROM columns in increasing order of (address fold, bit)
    but not always contiguous ones."""
    block: int
    mode: int
    rom: str
    columns: tuple

    def to_json(self) -> dict:
        return {"block": self.block, "mode": self.mode, "rom": self.rom,
                "columns": [list(c) if c is not None else None for c in self.columns]}

    @classmethod
    def from_json(cls, d: dict) -> "Placement":
        return cls(int(d["block"]), int(d["mode"]), d["rom"],
                   tuple(tuple(int(v) for v in c) if c is not None else None for c in d["columns"]))


def predicted(img: Image, p: Placement) -> np.ndarray:
    """(D, W) contents of block p holding `img` as p says; zero where it holds nothing."""
    out = np.zeros((_depth(p.mode), p.mode), dtype=np.uint8)
    for port, col in enumerate(p.columns):
        if col is not None:
            for c in range(out.shape[0] // CHUNK):
                out[c * CHUNK:(c + 1) * CHUNK, port] = img.slice(col[0], col[1] + c)
    return out


def _slice_index(images: dict[str, Image]) -> dict[bytes, list[tuple[str, int, int]]]:
    index: dict[bytes, list[tuple[str, int, int]]] = {}
    for img in images.values():
        for c in range(img.chunks):
            for b in range(img.width):
                s = img.bits[c * CHUNK:(c + 1) * CHUNK, b]
                if s.any():
                    index.setdefault(np.packbits(s).tobytes(), []).append((img.name, b, c))
    return index


def constant(img: Image, bit: int, chunk: int) -> int | None:
    """0 or 1 when bit `bit` of the ROM's words in `chunk` is that for every word of the ROM in
    it (a column synthesis may trim), else None."""
    lo, hi = chunk * CHUNK, min(img.depth, (chunk + 1) * CHUNK)
    if not (0 <= bit < img.width and lo < hi):
        return 0
    col = img.bits[lo:hi, bit]
    return int(col[0]) if (col == col[0]).all() else None


def _column_candidates(mat: np.ndarray, port: int, img: Image, index,
                       taken: set | None = None) -> list[tuple[int, int]] | None:
    """(bit, chunk offset) of `img` whose every chunk equals block column `port`, leaving out the
    columns in `taken` (held by other blocks); None: all zero."""
    nch = mat.shape[0] // CHUNK
    cand = None
    for c in range(nch):
        s = mat[c * CHUNK:(c + 1) * CHUNK, port]
        if s.any():
            got = {(rb, rc - c) for r, rb, rc in index.get(np.packbits(s).tobytes(), ()) if r == img.name}
            cand = got if cand is None else cand & got
            if not cand:
                return []
    if cand is None:
        return None
    return sorted(k for k in cand
                  if not (taken and k in taken)
                  and all(np.array_equal(img.slice(k[0], k[1] + c), mat[c * CHUNK:(c + 1) * CHUNK, port])
                          for c in range(nch)))


def _order_key(img: Image, col: tuple[int, int], nch: int) -> int:
    """Position of a ROM column in Yosys' wide word: address fold first, then bit."""
    return (col[1] // nch) * img.width + col[0] if col[1] % nch == 0 else -1


def _assign(img: Image, cands: list, nch: int) -> list[tuple] | None:
    """The increasing assignment of ROM columns to the block's non-zero ports that skips only
    columns constant in the base (trimmed by synthesis) and leaves the fewest gaps; None when
    there is none or several equally good (the block cannot be placed safely)."""
    ports = [p for p, c in enumerate(cands) if c]
    best: dict = {}                       # (port index, column) -> (cost, paths, previous)
    for i, p in enumerate(ports):
        for col in cands[p]:
            k = _order_key(img, col, nch)
            if k < 0:
                continue
            if i == 0:
                best[(i, col)] = (0, 1, None)
                continue
            opts = []
            for prev in cands[ports[i - 1]]:
                if (i - 1, prev) not in best:
                    continue
                kp = _order_key(img, prev, nch)
                if kp >= k:
                    continue
                gap = [(q % img.width, (q // img.width) * nch) for q in range(kp + 1, k)]
                # the ports between hold zero: the skipped columns must be constant (or zero) in the base
                if all(constant(img, b, c) is not None for b, c in gap):
                    opts.append((best[(i - 1, prev)][0] + len(gap), best[(i - 1, prev)][1], prev))
            if opts:
                cost = min(o[0] for o in opts)
                tied = [o for o in opts if o[0] == cost]
                best[(i, col)] = (cost, sum(o[1] for o in tied), tied[0][2])
    last = [(v[0], v[1], col) for (i, col), v in best.items() if i == len(ports) - 1]
    if not ports or not last:
        return None
    cost = min(v[0] for v in last)
    tied = [v for v in last if v[0] == cost]
    if len(tied) > 1 or tied[0][1] > 1:
        return None
    out = [None] * len(cands)
    col, i = tied[0][2], len(ports) - 1
    while i >= 0:
        out[ports[i]] = col
        col = best[(i, col)][2]
        i -= 1
    return out


def place_block(idx: int, words: np.ndarray, images: dict[str, Image], index,
                taken: dict[str, set] | None = None) -> list[Placement]:
    """Every placement that explains all of block `idx`'s bits ([] if none), on columns that are
    not in `taken` (ROM name -> (bit, chunk) held by other blocks)."""
    found = []
    for mode in MODES:
        mat = block_matrix(words, mode)
        nch = mat.shape[0] // CHUNK
        first = next(((c, p) for p in range(mode) for c in range(nch)
                      if mat[c * CHUNK:(c + 1) * CHUNK, p].any()), None)
        if first is None:
            continue
        c, p = first
        roms = {r for r, _, _ in index.get(np.packbits(mat[c * CHUNK:(c + 1) * CHUNK, p]).tobytes(), ())}
        for rom in sorted(roms):
            img = images[rom]
            cands = [_column_candidates(mat, q, img, index, (taken or {}).get(rom)) for q in range(mode)]
            if any(cd == [] for cd in cands):
                continue
            cols = _assign(img, cands, nch)
            if cols is None:
                continue
            pl = Placement(idx, mode, rom, tuple(cols))
            if np.array_equal(predicted(img, pl), mat):
                found.append(pl)
    return found


@dataclass
class BramMap:
    placements: list[Placement]              # one per placed block
    ambiguous: dict[int, list[Placement]]    # blocks that several ROMs explain
    unexplained: list[int]                   # non-empty blocks no placement explains
    images: dict[str, dict]                  # name -> depth, width, sha256 of the base image
    not_in_bram: dict[str, list[int]]        # ROMs with columns no block holds that are not constant
    fixed: dict[str, list[list[int]]] = None  # ROM -> [bit, chunk, value]: constant columns no block holds

    def to_json(self) -> dict:
        return {"format": "hardwire-bram-map", "version": 2, "family": "ecp5",
                "roms": self.images, "blocks": [p.to_json() for p in self.placements],
                "ambiguous": {str(k): [p.to_json() for p in v] for k, v in self.ambiguous.items()},
                "unexplained": self.unexplained, "not_in_bram": self.not_in_bram, "fixed": self.fixed or {}}

    @classmethod
    def from_json(cls, doc: dict) -> "BramMap":
        if doc.get("format") != "hardwire-bram-map" or doc.get("family") != "ecp5" or doc.get("version") != 2:
            raise BramMapError("the manifest's bram_map is not an ECP5 hardwire-bram-map version 2")
        pl = Placement.from_json
        return cls([pl(d) for d in doc["blocks"]],
                   {int(k): [pl(d) for d in v] for k, v in doc.get("ambiguous", {}).items()},
                   list(doc.get("unexplained", [])), dict(doc["roms"]), dict(doc.get("not_in_bram", {})),
                   dict(doc.get("fixed", {})))


def _covered(bmap: BramMap) -> dict[str, set[tuple[int, int]]]:
    """(bit, chunk) slices of each ROM that some block holds."""
    cov: dict[str, set[tuple[int, int]]] = {}
    for p in bmap.placements + [q for v in bmap.ambiguous.values() for q in v]:
        for col in p.columns:
            if col is not None:
                for c in range(_depth(p.mode) // CHUNK):
                    cov.setdefault(p.rom, set()).add((col[0], col[1] + c))
    return cov


def find_map(brams: dict[int, np.ndarray], images: dict[str, Image]) -> BramMap:
    """Place every non-empty block of a config on the base model's ROM images."""
    index = _slice_index(images)
    placements, ambiguous, unexplained = [], {}, []
    for idx in sorted(brams):
        words = brams[idx]
        if not words.any():
            continue                      # RAMs (KV cache, FIFOs) and empty blocks
        found = place_block(idx, words, images, index)
        if not found:
            unexplained.append(idx)
            continue
        placements.append(found[0])
        if len({(p.rom, p.mode, p.columns) for p in found}) > 1:
            ambiguous[idx] = found
    bmap = BramMap(placements, ambiguous, unexplained,
                   {n: {"depth": i.depth, "width": i.width, "sha256": i.sha256()} for n, i in images.items()},
                   {}, {})
    # A block whose few distinct columns fit several places of a small ROM (a 5-word layer ROM has
    # many bits with the same pattern) is placed again among the columns no other block holds: each
    # column is in one block, so the one place left, when it is one, is the block's.
    for idx in list(bmap.unexplained):
        found = place_block(idx, brams[idx], images, index, _covered(bmap))
        if len({(p.rom, p.mode, p.columns) for p in found}) == 1:
            bmap.placements.append(found[0])
            bmap.unexplained.remove(idx)
    cov = _covered(bmap)
    for name, img in sorted(images.items()):
        for c in range(img.chunks):
            for b in range(img.width):
                if (b, c) in cov.get(name, ()):
                    continue
                v = constant(img, b, c)
                if v is None:
                    bmap.not_in_bram.setdefault(name, [b, c])
                elif v:
                    bmap.fixed.setdefault(name, []).append([b, c, v])
    return bmap


# ---------------------------------------------------------------- checks and rewrite

def check_new_images(bmap: BramMap, new: dict[str, Image]) -> None:
    """Refuse (naming the first) new images the map cannot write whole: a ROM whose columns are
    partly in no block RAM (in logic) that changes, a column synthesis trimmed as constant that
    the new model does not keep at that constant, or a block that several ROMs explain given
    different contents. The new images must have the base images' names and shapes."""
    if set(new) != set(bmap.images):
        missing, extra = sorted(set(bmap.images) - set(new)), sorted(set(new) - set(bmap.images))
        raise BramMapError(f"the new model's ROM files differ from the bitstream's (missing {missing}, "
                           f"extra {extra}): same shape, knobs and generator needed")
    for name, img in new.items():
        base = bmap.images[name]
        if (img.depth, img.width) != (base["depth"], base["width"]):
            raise BramMapError(f"{name}: the new image is {img.depth} x {img.width} bits, the bitstream's "
                               f"{base['depth']} x {base['width']}")
    changed = {n for n, img in new.items() if img.sha256() != bmap.images[n]["sha256"]}
    for name in sorted(set(bmap.not_in_bram) & changed):
        b, c = bmap.not_in_bram[name]
        raise BramMapError(f"{name}: bit {b} of words {c * CHUNK}.. is in no block RAM of this bitstream that "
                           "could be found (in logic, or in blocks its contents do not identify), and the new "
                           "model changes it: a respin cannot write it; build this model in full (hardwire build)")
    cov = _covered(bmap)
    fixed = {(n, b, c): v for n, rows in (bmap.fixed or {}).items() for b, c, v in rows}
    for name in sorted(changed - set(bmap.not_in_bram)):
        img = new[name]
        for c in range(img.chunks):
            for b in range(img.width):
                if (b, c) in cov.get(name, ()):
                    continue
                want = fixed.get((name, b, c), 0)
                if constant(img, b, c) != want:
                    raise BramMapError(
                        f"{name}: bit {b} of words {c * CHUNK}..{min(img.depth, (c + 1) * CHUNK) - 1} is {want} in "
                        "every word of the base model, so synthesis made it a constant in logic (no block RAM "
                        "holds it), and the new model changes it: build this model in full (hardwire build)")
    for idx, options in bmap.ambiguous.items():
        first = predicted(new[options[0].rom], options[0])
        for p in options[1:]:
            if not np.array_equal(predicted(new[p.rom], p), first):
                raise BramMapError(f"block RAM {idx} held the same bits in {options[0].rom} and {p.rom} of the "
                                   "base model, and the new model gives them different contents: "
                                   "build this model in full (hardwire build)")


def rewrite(brams: dict[int, np.ndarray], bmap: BramMap, new: dict[str, Image]) -> dict[int, np.ndarray]:
    """{block: new words} for every placed block (check_new_images first)."""
    return {p.block: set_block_matrix(brams[p.block], p.mode, predicted(new[p.rom], p)) for p in bmap.placements}


def read_back(brams: dict[int, np.ndarray], bmap: BramMap) -> dict[str, list[int]]:
    """Each ROM's words as the placed blocks hold them; columns no block holds read as the
    constant the map records for them (zero when none)."""
    mats = {n: np.zeros((-(-d["depth"] // CHUNK) * CHUNK, d["width"]), dtype=np.uint8)
            for n, d in bmap.images.items()}
    for name, rows in (bmap.fixed or {}).items():
        for b, c, v in rows:
            hi = min(bmap.images[name]["depth"], (c + 1) * CHUNK)
            mats[name][c * CHUNK:hi, b] = v
    for p in bmap.placements:
        mat = block_matrix(brams[p.block], p.mode)
        dst = mats[p.rom]
        for port, col in enumerate(p.columns):
            if col is None:
                continue
            for c in range(mat.shape[0] // CHUNK):
                rb, rc = col[0], col[1] + c
                if 0 <= rb < dst.shape[1] and 0 <= rc < dst.shape[0] // CHUNK:
                    dst[rc * CHUNK:(rc + 1) * CHUNK, rb] = mat[c * CHUNK:(c + 1) * CHUNK, port]
    return {n: Image(n, bmap.images[n]["depth"], bmap.images[n]["width"], m).words() for n, m in mats.items()}
