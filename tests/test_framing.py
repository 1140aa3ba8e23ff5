"""host/framing.py: COBS + CRC32 frames survive any split and never pass corrupted data.

Every corruption test asserts the same thing: whatever the decoder returns
is a frame that was really sent (unchanged), and each frame that was touched
is missing from the output rather than delivered altered.
"""
from __future__ import annotations

import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.errors import (DeviceError, FrameCRCError, FrameEncodingError, FrameError, FrameTooLong,
                         FrameTooShort)
from host.framing import (MAX_PAYLOAD, Frame, FrameDecoder, cobs_decode, cobs_encode, decode_frame,
                          decode_stream, encode_frame, max_encoded_size)

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

payloads = st.binary(min_size=0, max_size=600)
frames_st = st.builds(Frame, st.integers(0, 255), st.integers(0, 255), payloads)


# ---------------------------------------------------------------- COBS

@pytest.mark.parametrize("data, wire", [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),          # 254 non-zero bytes
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),      # 255 non-zero bytes
])
def test_cobs_known_vectors(data, wire):
    # vectors from Cheshire & Baker's COBS paper / the Wikipedia article
    assert cobs_encode(data) == wire
    assert cobs_decode(wire) == data


@SETTINGS
@given(st.binary(max_size=2000))
def test_cobs_round_trip_has_no_zero_and_bounded_overhead(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(enc) == data


def test_cobs_decode_rejects_block_past_the_end():
    with pytest.raises(FrameEncodingError, match="claims 4 bytes"):
        cobs_decode(b"\x05\x11\x22")


# ---------------------------------------------------------------- one frame

def test_frame_layout_is_seq_type_payload_crc_le():
    wire = encode_frame(7, 0x42, b"\x00hi")
    assert wire[-1] == 0 and 0 not in wire[:-1]
    raw = cobs_decode(wire[:-1])
    body = b"\x07\x42\x00hi"
    assert raw == body + zlib.crc32(body).to_bytes(4, "little")
    assert decode_frame(wire) == Frame(7, 0x42, b"\x00hi")


@SETTINGS
@given(frames_st)
def test_frame_round_trip(frame):
    wire = frame.encode()
    assert len(wire) <= max_encoded_size(len(frame.payload)) + 1
    assert decode_frame(wire) == frame


def test_bad_crc_is_rejected():
    raw = bytearray(cobs_decode(encode_frame(1, 2, b"abc")[:-1]))
    raw[-1] ^= 0x80
    with pytest.raises(FrameCRCError, match="CRC32"):
        decode_frame(cobs_encode(bytes(raw)))


@pytest.mark.parametrize("raw_len", [0, 1, 5])
def test_short_frame_is_rejected(raw_len):
    with pytest.raises(FrameTooShort, match="need 6"):
        decode_frame(cobs_encode(bytes(range(1, raw_len + 1))))


def test_payload_limits():
    with pytest.raises(ValueError, match="limit is 16"):
        encode_frame(0, 0, bytes(17), max_payload=16)
    wire = encode_frame(0, 0, bytes(17), max_payload=17)
    with pytest.raises(FrameTooLong):
        decode_frame(wire, max_payload=16)
    with pytest.raises(ValueError, match="seq"):
        encode_frame(256, 0)
    with pytest.raises(ValueError, match="type"):
        encode_frame(0, -1)


def test_error_classes_share_a_base():
    for cls in (FrameCRCError, FrameTooShort, FrameTooLong, FrameEncodingError):
        assert issubclass(cls, FrameError) and issubclass(cls, DeviceError)


# ---------------------------------------------------------------- streams

@SETTINGS
@given(st.lists(frames_st, max_size=6), st.data())
def test_stream_survives_any_split(frames, data):
    wire = b"".join(f.encode() for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    dec, got = FrameDecoder(), []
    for a, b in zip([0] + cuts, cuts + [len(wire)]):
        dec.feed(wire[a:b])
        while (frame := dec.next_frame()) is not None:
            got.append(frame)
    assert got == frames
    assert dec.buffered == 0


def test_idle_delimiters_and_leading_garbage_are_skipped():
    good = encode_frame(3, 4, b"payload")
    frames, errors = decode_stream(b"\x00\x00garbage\x00\x00" + good + b"\x00")
    assert frames == [Frame(3, 4, b"payload")]
    assert len(errors) == 1 and isinstance(errors[0], FrameError)


def test_overlong_run_is_dropped_and_the_next_frame_decodes():
    dec = FrameDecoder(max_payload=32)
    dec.feed(b"\x55" * 500)              # no delimiter, far past the longest legal frame
    assert dec.buffered <= max_encoded_size(32)
    dec.feed(b"\x55" * 500 + b"\x00" + encode_frame(9, 9, b"ok"))
    with pytest.raises(FrameTooLong, match="without a 0x00"):
        dec.next_frame()
    assert dec.next_frame() == Frame(9, 9, b"ok")
    assert dec.next_frame() is None


def _only_sent_frames(sent: list[Frame], wire: bytes) -> list[Frame]:
    """Decode `wire`; assert every frame it yields is one of `sent`, in order, unaltered."""
    frames, _ = decode_stream(wire)
    it = iter(sent)
    for f in frames:
        assert f in it, f"decoder delivered {f!r}, which was never sent (or out of order)"
    return frames


# Exhaustive for fixed frames: every single bit flip and every single dropped
# byte of the middle frame is detected; its neighbours still decode.
FIXED = [Frame(1, 0x10, b""), Frame(2, 0x11, bytes(range(256)) + b"\x00" * 3 + b"tail"),
         Frame(3, 0x12, b"\x00")]


@pytest.mark.parametrize("middle", [1, 2])
def test_every_single_bit_flip_is_detected(middle):
    parts = [f.encode() for f in FIXED]
    start = sum(len(p) for p in parts[:middle])
    wire = b"".join(parts)
    for pos in range(start, start + len(parts[middle])):
        for bit in range(8):
            bad = bytearray(wire)
            bad[pos] ^= 1 << bit
            got = _only_sent_frames(FIXED, bytes(bad))
            assert FIXED[middle] not in got, (pos, bit)
            assert FIXED[0] in got  # the frame before is untouched


@pytest.mark.parametrize("middle", [1, 2])
def test_every_single_dropped_byte_is_detected(middle):
    parts = [f.encode() for f in FIXED]
    start = sum(len(p) for p in parts[:middle])
    wire = b"".join(parts)
    for pos in range(start, start + len(parts[middle])):
        bad = wire[:pos] + wire[pos + 1:]
        got = _only_sent_frames(FIXED, bad)
        # (dropping the delimiter merges two frames: both are lost, neither is altered)
        assert FIXED[middle] not in got, pos
        assert FIXED[0] in got


@SETTINGS
@given(st.lists(frames_st, min_size=1, max_size=4), st.data())
def test_random_bit_flips_never_deliver_altered_frames(frames, data):
    wire = bytearray(b"".join(f.encode() for f in frames))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(wire) - 1), st.integers(0, 7)),
                               min_size=1, max_size=6))
    for pos, bit in flips:
        wire[pos] ^= 1 << bit
    _only_sent_frames(frames, bytes(wire))


@SETTINGS
@given(st.lists(frames_st, min_size=1, max_size=4), st.data())
def test_dropped_and_inserted_bytes_never_deliver_altered_frames(frames, data):
    wire = bytearray(b"".join(f.encode() for f in frames))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(wire) - 1))
        if data.draw(st.booleans()):
            del wire[pos]
        else:
            wire.insert(pos, data.draw(st.integers(0, 255)))
        if not wire:
            break
    _only_sent_frames(frames, bytes(wire))


def test_default_limit_is_documented_value():
    assert MAX_PAYLOAD == 1024
