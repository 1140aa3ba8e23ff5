"""UART framing: COBS-encoded frames with a sequence number, a type and a CRC32.

One frame on the wire:

    COBS( seq u8 | type u8 | payload (0..max_payload bytes) | crc32 u32 LE ) 0x00

- crc32 is the IEEE 802.3 CRC (zlib.crc32: reflected polynomial 0xEDB88320,
  initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF) over seq, type and payload,
  sent least significant byte first.
- COBS (Consistent Overhead Byte Stuffing) removes every 0x00 from the frame
  at a cost of one byte per 254, so 0x00 only ever marks a frame's end. A
  receiver that joins mid-stream, or loses or gains bytes, is back in step at
  the next 0x00. Empty frames (0x00 0x00) are idle fill and are skipped, so a
  sender may put a 0x00 first to end any garbage the receiver holds.
- A decoded frame shorter than 6 bytes, with bad COBS, longer than
  max_payload, or with a CRC that does not match, raises a FrameError
  subclass; it is never returned as data.

Meaning of `type` and `seq` belongs to the protocol above this module.
"""
from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass
from typing import Deque, Optional, Union

from host.errors import FrameCRCError, FrameEncodingError, FrameError, FrameTooLong, FrameTooShort

DELIMITER = 0x00
HEADER_BYTES = 2          # seq, type
CRC_BYTES = 4
MIN_FRAME = HEADER_BYTES + CRC_BYTES
MAX_PAYLOAD = 1024        # default cap on payload bytes; bounds the receiver's buffer


@dataclass(frozen=True)
class Frame:
    seq: int       # 0..255, chosen by the sender
    type: int      # 0..255, meaning defined by the protocol layer
    payload: bytes

    def encode(self, max_payload: int = MAX_PAYLOAD) -> bytes:
        return encode_frame(self.seq, self.type, self.payload, max_payload)


# ---------------------------------------------------------------- COBS

def cobs_encode(data: bytes) -> bytes:
    """COBS-encode `data`; the result has no 0x00 and is len(data) + 1 + len(data) // 254 bytes at most."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:  # a full block: code 0xFF, no implied zero
                out.append(0xFF)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Undo cobs_encode; raise FrameEncodingError when `data` is not valid COBS."""
    if DELIMITER in data:
        raise FrameEncodingError(f"COBS data holds a 0x00 at offset {data.index(DELIMITER)}")
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        end = i + code
        if end > n:
            raise FrameEncodingError(f"COBS block at offset {i} claims {code - 1} bytes, "
                                     f"only {n - i - 1} follow")
        out += data[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def max_encoded_size(payload_bytes: int) -> int:
    """Longest COBS encoding (without the delimiter) of a frame with this much payload."""
    raw = MIN_FRAME + payload_bytes
    return raw + 1 + raw // 254


# ---------------------------------------------------------------- frames

def encode_frame(seq: int, type: int, payload: bytes = b"", max_payload: int = MAX_PAYLOAD) -> bytes:
    """The wire bytes of one frame, ending with its 0x00 delimiter."""
    if not 0 <= seq <= 255:
        raise ValueError(f"frame seq must be 0..255, got {seq}")
    if not 0 <= type <= 255:
        raise ValueError(f"frame type must be 0..255, got {type}")
    payload = bytes(payload)
    if len(payload) > max_payload:
        raise ValueError(f"frame payload is {len(payload)} bytes, the limit is {max_payload}; "
                         "split it into several frames")
    body = bytes((seq, type)) + payload
    raw = body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")
    return cobs_encode(raw) + bytes((DELIMITER,))


def decode_frame(wire: bytes, max_payload: int = MAX_PAYLOAD) -> Frame:
    """Decode one frame's wire bytes (the trailing 0x00 is optional); raise FrameError if damaged."""
    if wire[-1:] == bytes((DELIMITER,)):
        wire = wire[:-1]
    if len(wire) > max_encoded_size(max_payload):
        raise FrameTooLong(f"frame of {len(wire)} encoded bytes exceeds the "
                           f"{max_encoded_size(max_payload)} of a {max_payload}-byte payload")
    raw = cobs_decode(wire)
    if len(raw) < MIN_FRAME:
        raise FrameTooShort(f"frame decodes to {len(raw)} bytes; seq + type + CRC32 need {MIN_FRAME}")
    if len(raw) - MIN_FRAME > max_payload:
        raise FrameTooLong(f"frame payload is {len(raw) - MIN_FRAME} bytes, the limit is {max_payload}")
    body, crc = raw[:-CRC_BYTES], int.from_bytes(raw[-CRC_BYTES:], "little")
    want = zlib.crc32(body)
    if crc != want:
        raise FrameCRCError(f"frame CRC32 {crc:08x} != {want:08x} computed over its {len(body)} bytes")
    return Frame(body[0], body[1], bytes(body[HEADER_BYTES:]))


class FrameDecoder:
    """Cut a byte stream into frames at 0x00 and decode them, one at a time.

        dec.feed(port.read(n))
        while True:
            try:
                frame = dec.next_frame()   # None: no complete frame yet
            except FrameError:
                ...                        # a damaged frame was dropped; later ones still come
                continue
            if frame is None:
                break

    Memory is bounded: bytes without a 0x00 beyond the longest legal frame are
    dropped up to the next 0x00 and reported once as FrameTooLong.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._max_encoded = max_encoded_size(max_payload)
        self._buf = bytearray()                                   # bytes of the frame being received
        self._ready: Deque[Union[bytes, FrameError]] = deque()    # complete frames (encoded) or errors
        self._discarding = False                                  # inside an overlong run

    def feed(self, data: bytes) -> None:
        """Take received bytes (any amount, any split)."""
        start = 0
        while True:
            end = data.find(DELIMITER, start)
            part = data[start:] if end < 0 else data[start:end]
            if not self._discarding:
                self._buf += part
                if len(self._buf) > self._max_encoded:
                    self._ready.append(FrameTooLong(
                        f"over {self._max_encoded} bytes arrived without a 0x00 delimiter; "
                        "dropped them up to the next delimiter"))
                    self._buf.clear()
                    self._discarding = True
            if end < 0:
                return
            if self._discarding:
                self._discarding = False
            elif self._buf:
                self._ready.append(bytes(self._buf))
                self._buf.clear()
            start = end + 1

    def next_frame(self) -> Optional[Frame]:
        """The next good frame, None if no complete frame is waiting; raises FrameError for a bad one."""
        if not self._ready:
            return None
        item = self._ready.popleft()
        if isinstance(item, FrameError):
            raise item
        return decode_frame(item, self.max_payload)

    def salvage(self, max_drop: int = 1) -> Optional[Frame]:
        """The frame in progress, decoded as if its delimiter had arrived, or had arrived in
        place of one of its last `max_drop` bytes; None when that gives no valid frame.

        For a receiver that waited in vain for a delimiter: a bit error in a frame's closing
        0x00 turns it into another byte, and the frame would stay unfinished until the next
        0x00. Only a frame whose CRC checks is returned (its bytes are then consumed);
        otherwise nothing changes.
        """
        if self._discarding or self._ready:
            return None
        for drop in range(min(max_drop, len(self._buf)) + 1):
            part = bytes(self._buf[:len(self._buf) - drop])
            try:
                frame = decode_frame(part, self.max_payload)
            except FrameError:
                continue
            self._buf.clear()
            return frame
        return None

    def discard_partial(self) -> None:
        """Drop the frame in progress (bytes since the last 0x00); complete frames stay."""
        self._buf.clear()

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet end in a delimiter (a frame in flight)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget everything received so far (e.g. after reopening the port)."""
        self._buf.clear()
        self._ready.clear()
        self._discarding = False


def decode_stream(data: bytes, max_payload: int = MAX_PAYLOAD) -> tuple:
    """All frames in `data` (only complete ones): (list of Frame, list of FrameError)."""
    dec = FrameDecoder(max_payload)
    dec.feed(data)
    frames, errors = [], []
    while True:
        try:
            frame = dec.next_frame()
        except FrameError as exc:
            errors.append(exc)
            continue
        if frame is None:
            return frames, errors
        frames.append(frame)
