"""The chip-to-chip link's frame format in Python (hw/rtl/hw_chip_link.v, docs/chip_link.md).

Not a host link (it joins two boards, not a board and a PC), so it is not in hw/links LINKS. The
reference of the wire format, independent of the RTL: tests/test_rtl_chip_link.py states the
frames and CRCs it expects with it and replays the beats a receiver saw through `receive`, which
sorts them into frames as hw_chip_link's receiver must, to count the bad ones.

    frame  = header | DIM payload words (DATA only) | crc low word | crc high word
    header = type[15:12] | credit[11:8] | seq[7:0]
    crc    = zlib.crc32 of the header and payload words as little-endian bytes
    beats  = each word in 16 / W beats of W bits, low bits first; sof is high in a frame's first beat
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

T_DATA, T_ACK, T_NACK, T_POLL = 0x1, 0x2, 0x3, 0x4
TYPES = {T_DATA: "DATA", T_ACK: "ACK", T_NACK: "NACK", T_POLL: "POLL"}
CRC_RESIDUE = 0xDEBB20E3        # the CRC register (not inverted) after a good frame's CRC words


def header(kind: int, seq: int, credit: int = 0) -> int:
    """The header word of a frame."""
    assert kind in TYPES and 0 <= seq < 256 and 0 <= credit < 16
    return kind << 12 | credit << 8 | seq


def crc32_words(words: list[int]) -> int:
    """zlib's CRC-32 of 16-bit words sent low byte first."""
    return zlib.crc32(struct.pack(f"<{len(words)}H", *words))


def frame(kind: int, seq: int, payload: list[int] = (), credit: int = 0) -> list[int]:
    """A frame's words: header, payload, then its CRC-32 low word first."""
    words = [header(kind, seq, credit), *payload]
    crc = crc32_words(words)
    return [*words, crc & 0xFFFF, crc >> 16]


def frame_ok(words: list[int]) -> bool:
    """Whether a frame's CRC words match the rest (what the RTL's residue check decides)."""
    return len(words) >= 3 and crc32_words(words[:-2]) == (words[-2] | words[-1] << 16)


def beats(words: list[int], w: int = 8) -> list[tuple[int, int]]:
    """(sof, data) of each beat of one frame."""
    per = 16 // w
    out = []
    for i, word in enumerate(words):
        for k in range(per):
            out.append((int(i == 0 and k == 0), word >> (w * k) & ((1 << w) - 1)))
    return out


@dataclass
class Received:
    """What a receiver made of a beat stream: frames whose CRC checked ((type, seq, credit,
    payload)), and how many frames were bad (CRC, cut short by the next sof, unknown type):
    hw_chip_link's cnt_crc_errors. A frame still arriving at the end is in neither."""
    good: list[tuple[int, int, int, list[int]]]
    bad: int


def receive(stream: list[tuple[int, int]], dim: int, w: int = 8) -> Received:
    """Sort beats as a receiver sees them into frames: a sof beat starts a word and a frame
    afresh, words are 16 / w beats, the header's type gives the frame's length (DATA: dim + 3
    words, the others 3); an unknown type is bad at once, a frame cut short by the next sof bad."""
    per = 16 // w
    good: list[tuple[int, int, int, list[int]]] = []
    bad = 0
    words: list[int] | None = None      # the frame so far; None between frames
    length = 0
    acc, n, first = 0, 0, False         # the word being gathered
    for sof, data in stream:
        if sof:
            acc, n, first = 0, 0, True
        acc |= data << (w * n)
        n += 1
        if n < per:
            continue
        word, word_sof = acc, first
        acc, n, first = 0, 0, False
        if word_sof:
            if words is not None:
                bad += 1                # cut short
            words = None
            if word >> 12 in TYPES:
                words = [word]
                length = dim + 3 if word >> 12 == T_DATA else 3
            else:
                bad += 1
        elif words is not None:
            words.append(word)
            if len(words) == length:
                if frame_ok(words):
                    good.append((words[0] >> 12, words[0] & 0xFF, words[0] >> 8 & 0xF, words[1:-2]))
                else:
                    bad += 1
                words = None
    return Received(good, bad)


def frame_beats(dim: int, w: int = 8) -> int:
    """Beats of one DATA frame of dim words."""
    return (dim + 3) * 16 // w


def frame_cycles(dim: int, w: int = 8, beat_clks: int = 4) -> int:
    """clk cycles of one DATA frame on the pins, back to back with the next."""
    return frame_beats(dim, w) * beat_clks


def words_per_second(clock_hz: float, dim: int, w: int = 8, beat_clks: int = 4) -> float:
    """Payload words a second one direction carries with frames back to back and no errors."""
    return clock_hz / frame_cycles(dim, w, beat_clks) * dim


HOP_OVERHEAD = 6    # output register, the receiver's synchronizer and CRC check (simulated, DIM 16)


def hop_cycles(dim: int, w: int = 8, beat_clks: int = 4) -> int:
    """clk cycles a chip boundary adds to a token: the vector written into the transmit buffer
    (a word a cycle; a frame leaves only when complete), the frame on the pins, the overhead, and
    the vector read out on the far side (a word a cycle)."""
    return dim + frame_cycles(dim, w, beat_clks) + HOP_OVERHEAD + dim
