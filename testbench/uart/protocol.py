"""A reference codec of the UART frame protocol, independent of host/, for the RTL tests.

payload = seq u8 | type u8 | body | crc32 u32 LE (zlib CRC-32 of seq|type|body);
on the wire: 0x00 COBS(payload) 0x00. Written from the protocol description in
hw/rtl/hw_uart_bridge.v (not from host/framing.py), so that a misunderstanding
on one side shows up as a failing test rather than cancelling out.
"""
from __future__ import annotations

import struct
import zlib

WRITE, READ, RESP, ACK, NACK, PING = 1, 2, 3, 4, 5, 6
R_CRC, R_MALFORMED, R_REQUEST, R_UART = 1, 2, 3, 4
INCREMENT = 1


def cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    return bytes(out + bytes([len(block) + 1]) + block)


def cobs_decode(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise ValueError(f"bad COBS code {code} at {i} in {data.hex()}")
        out += data[i + 1:i + code]
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def payload(seq: int, kind: int, body: bytes = b"") -> bytes:
    raw = bytes([seq & 0xFF, kind]) + body
    return raw + struct.pack("<I", zlib.crc32(raw))


def frame(seq: int, kind: int, body: bytes = b"") -> bytes:
    return b"\x00" + cobs_encode(payload(seq, kind, body)) + b"\x00"


def write(seq: int, addr_word: int, values: list[int], increment: bool = False) -> bytes:
    body = bytes([addr_word, INCREMENT if increment else 0]) + b"".join(
        struct.pack("<I", v & 0xFFFFFFFF) for v in values)
    return frame(seq, WRITE, body)


def read(seq: int, addr_word: int, count: int, increment: bool = False) -> bytes:
    return frame(seq, READ, bytes([addr_word, INCREMENT if increment else 0, count]))


def parse(wire: bytes) -> list[tuple[int, int, bytes]]:
    """Every complete frame in `wire` as (seq, type, body); raises on a bad one."""
    frames = []
    for chunk in wire.split(b"\x00")[:-1]:
        if not chunk:
            continue
        data = cobs_decode(chunk)
        assert len(data) >= 6, f"short response {data.hex()}"
        assert zlib.crc32(data[:-4]) == struct.unpack("<I", data[-4:])[0], f"bad CRC {data.hex()}"
        frames.append((data[0], data[1], data[2:-4]))
    return frames


def words(body: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(body) // 4}I", body))
