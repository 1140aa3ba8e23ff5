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

@dataclass(frozen=True)
class Placement:
    """Block `block` in mode `mode` holds bits [bit0, bit0 + mode) of words [512 chunk0, ...) of `rom`."""
    block: int
    mode: int
    rom: str
    bit0: int
    chunk0: int

    def to_json(self) -> dict:
        return {"block": self.block, "mode": self.mode, "rom": self.rom, "bit0": self.bit0, "chunk0": self.chunk0}


def predicted(img: Image, mode: int, bit0: int, chunk0: int) -> np.ndarray:
    """(D, W) contents of a block in `mode` holding `img` from (bit0, chunk0); zero beyond the image."""
    depth = (16384 if mode < 9 else 18432) // mode
    out = np.zeros((depth, mode), dtype=np.uint8)
    for c in range(depth // CHUNK):
        for b in range(mode):
            out[c * CHUNK:(c + 1) * CHUNK, b] = img.slice(bit0 + b, chunk0 + c)
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


def place_block(idx: int, words: np.ndarray, images: dict[str, Image], index) -> list[Placement]:
    """Every (ROM, mode, bit0, chunk0) that explains all of block `idx`'s bits ([] if none)."""
    found = []
    for mode in MODES:
        mat = block_matrix(words, mode)
        hyps = None                       # placements consistent with every non-zero slice so far
        for c in range(mat.shape[0] // CHUNK):
            for b in range(mode):
                s = mat[c * CHUNK:(c + 1) * CHUNK, b]
                if s.any():
                    cand = {(rom, rb - b, rc - c) for rom, rb, rc in index.get(np.packbits(s).tobytes(), ())}
                    hyps = cand if hyps is None else hyps & cand
                    if not hyps:
                        break
            if hyps is not None and not hyps:
                break
        for rom, b0, c0 in sorted(hyps or ()):
            if np.array_equal(predicted(images[rom], mode, b0, c0), mat):
                found.append(Placement(idx, mode, rom, b0, c0))
    return found


@dataclass
class BramMap:
    placements: list[Placement]              # one per block (the first of equivalent ones)
    ambiguous: dict[int, list[Placement]]    # blocks that several placements explain
    unexplained: list[int]                   # blocks with contents no image explains
    images: dict[str, dict]                  # name -> depth, width, sha256 of the base image
    not_in_bram: dict[str, list[int]]        # ROMs with non-zero bits no block holds: first [bit, chunk]

    def to_json(self) -> dict:
        return {"format": "hardwire-bram-map", "version": 1, "family": "ecp5",
                "roms": self.images, "blocks": [p.to_json() for p in self.placements],
                "ambiguous": {str(k): [p.to_json() for p in v] for k, v in self.ambiguous.items()},
                "unexplained": self.unexplained, "not_in_bram": self.not_in_bram}

    @classmethod
    def from_json(cls, doc: dict) -> "BramMap":
        if doc.get("format") != "hardwire-bram-map" or doc.get("family") != "ecp5":
            raise BramMapError("the manifest's bram_map is not an ECP5 hardwire-bram-map")
        pl = lambda d: Placement(int(d["block"]), int(d["mode"]), d["rom"], int(d["bit0"]), int(d["chunk0"]))
        return cls([pl(d) for d in doc["blocks"]],
                   {int(k): [pl(d) for d in v] for k, v in doc.get("ambiguous", {}).items()},
                   list(doc.get("unexplained", [])), dict(doc["roms"]), dict(doc.get("not_in_bram", {})))


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
        if len({(p.rom, p.mode, p.bit0, p.chunk0) for p in found}) > 1:
            ambiguous[idx] = found
    bmap = BramMap(placements, ambiguous, unexplained,
                   {n: {"depth": i.depth, "width": i.width, "sha256": i.sha256()} for n, i in images.items()}, {})
    cov = _covered(bmap)
    for name, img in sorted(images.items()):
        miss = [[b, c] for c in range(img.chunks) for b in range(img.width)
                if (b, c) not in cov.get(name, ()) and img.slice(b, c).any()]
        if miss:
            bmap.not_in_bram[name] = miss[0]
    return bmap


# ---------------------------------------------------------------- checks and rewrite

def _covered(bmap: BramMap) -> dict[str, set[tuple[int, int]]]:
    """(bit, chunk) slices of each ROM that some block holds."""
    cov: dict[str, set[tuple[int, int]]] = {}
    for p in bmap.placements + [q for v in bmap.ambiguous.values() for q in v]:
        depth = (16384 if p.mode < 9 else 18432) // p.mode
        for c in range(depth // CHUNK):
            for b in range(p.mode):
                cov.setdefault(p.rom, set()).add((p.bit0 + b, p.chunk0 + c))
    return cov


def check_new_images(bmap: BramMap, new: dict[str, Image]) -> None:
    """Refuse (naming the first) a new image that the map cannot write whole: a ROM or a slice
    of one that no block holds (trimmed as constant by synthesis, or in logic) where the new
    contents differ from zero, or a block that several placements explain with different new
    contents. The new images must have the base images' names and shapes."""
    if set(new) != set(bmap.images):
        missing, extra = sorted(set(bmap.images) - set(new)), sorted(set(new) - set(bmap.images))
        raise BramMapError(f"the new model's ROM files differ from the bitstream's (missing {missing}, "
                           f"extra {extra}): same shape, knobs and generator needed")
    for name, img in new.items():
        base = bmap.images[name]
        if (img.depth, img.width) != (base["depth"], base["width"]):
            raise BramMapError(f"{name}: the new image is {img.depth} x {img.width} bits, the bitstream's "
                               f"{base['depth']} x {base['width']}")
    cov = _covered(bmap)
    for name, img in sorted(new.items()):
        for c in range(img.chunks):
            for b in range(img.width):
                if (b, c) not in cov.get(name, ()) and img.slice(b, c).any():
                    where = ("is in no block RAM of this bitstream (in logic, or never read)"
                             if name not in cov else
                             f"bit {b} of words {c * CHUNK}..{min(img.depth, (c + 1) * CHUNK) - 1} is in no block "
                             "RAM (all zero in the base model: synthesis trimmed it as a constant)")
                    raise BramMapError(f"{name} {where}; the new model needs it non-zero, so a respin "
                                       "cannot write it: build this model in full (hardwire build)")
    for idx, options in bmap.ambiguous.items():
        first = predicted(new[options[0].rom], options[0].mode, options[0].bit0, options[0].chunk0)
        for p in options[1:]:
            if not np.array_equal(predicted(new[p.rom], p.mode, p.bit0, p.chunk0), first):
                raise BramMapError(f"block RAM {idx} held the same bits in {options[0].rom} and {p.rom} of the "
                                   "base model, and the new model gives them different contents: "
                                   "build this model in full (hardwire build)")


def rewrite(brams: dict[int, np.ndarray], bmap: BramMap, new: dict[str, Image]) -> dict[int, np.ndarray]:
    """{block: new words} for every placed block (check_new_images first)."""
    out = {}
    for p in bmap.placements:
        out[p.block] = set_block_matrix(brams[p.block], p.mode, predicted(new[p.rom], p.mode, p.bit0, p.chunk0))
    return out


def read_back(brams: dict[int, np.ndarray], bmap: BramMap) -> dict[str, list[int]]:
    """Each ROM's words as the placed blocks hold them (slices no block holds read as zero)."""
    mats = {n: np.zeros((-(-d["depth"] // CHUNK) * CHUNK, d["width"]), dtype=np.uint8)
            for n, d in bmap.images.items()}
    for p in bmap.placements:
        mat = block_matrix(brams[p.block], p.mode)
        dst = mats[p.rom]
        for c in range(mat.shape[0] // CHUNK):
            rc = p.chunk0 + c
            if not 0 <= rc < dst.shape[0] // CHUNK:
                continue
            for b in range(p.mode):
                rb = p.bit0 + b
                if 0 <= rb < dst.shape[1]:
                    dst[rc * CHUNK:(rc + 1) * CHUNK, rb] = mat[c * CHUNK:(c + 1) * CHUNK, b]
    return {n: Image(n, bmap.images[n]["depth"], bmap.images[n]["width"], m).words() for n, m in mats.items()}
