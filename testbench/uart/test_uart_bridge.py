"""hw_uart_bridge against regfile_stub: requests execute exactly once, bad frames never
reach the registers.

Every test compares the log of control-interface accesses with the exact list
the request implies, so a frame that is executed twice, partly, or when it
should have been refused fails the test.
"""
from __future__ import annotations

import random
import cocotb

from testbench.uart import protocol as p
from testbench.uart.tb import TB

MAGIC = 0x48574952
POP = 5          # TOKEN_POP word: the stub counts reads there


def _ack(frames, seq):
    assert frames == [(seq, p.ACK, b"")], f"expected ACK for seq {seq}, got {frames}"


def _resp(frames, seq) -> list[int]:
    assert len(frames) == 1 and frames[0][:2] == (seq, p.RESP), f"expected RESP {seq}, got {frames}"
    return p.words(frames[0][2])


def _nack(frames, seq, reason):
    assert frames == [(seq, p.NACK, bytes([reason]))], \
        f"expected NACK seq {seq} reason {reason}, got {frames}"


@cocotb.test()
async def run_test_read_write(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    _ack(await tb.transact(p.frame(1, p.PING)), 1)
    assert tb.accesses == []
    assert _resp(await tb.transact(p.read(2, 0, 1)), 2) == [MAGIC]
    # one write, read back
    _ack(await tb.transact(p.write(3, 0x20, [0xDEADBEEF])), 3)
    assert _resp(await tb.transact(p.read(4, 0x20, 1)), 4) == [0xDEADBEEF]
    assert tb.accesses == [("R", 0, 0), ("W", 0x20, 0xDEADBEEF), ("R", 0x20, 0)]
    # a burst to incrementing addresses (values with zero bytes exercise COBS)
    vals = [0, 0x01000000, 0xFFFFFFFF, 0x00FF00FF] + [0x11111111 * i for i in range(1, 13)]
    tb.accesses.clear()
    _ack(await tb.transact(p.write(5, 0x30, vals, increment=True)), 5)
    assert tb.accesses == [("W", 0x30 + i, v) for i, v in enumerate(vals)]
    assert _resp(await tb.transact(p.read(6, 0x30, len(vals), increment=True)), 6) == vals
    # a FIFO-style burst: every word to one address, in order
    tb.accesses.clear()
    fifo = list(range(100, 132))
    _ack(await tb.transact(p.write(7, 0x04, fifo)), 7)
    assert tb.accesses == [("W", 4, v) for v in fifo]
    # 32 reads of TOKEN_POP pop 32 distinct tokens in order
    tb.accesses.clear()
    got = _resp(await tb.transact(p.read(8, POP, 32)), 8)
    assert got == [0x80000000 | i for i in range(32)]
    assert tb.accesses == [("R", POP, 0)] * 32
    assert tb.frame_errors == 0


@cocotb.test()
async def run_test_retry_is_not_executed_twice(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    req = p.read(9, POP, 4)
    first = await tb.transact(req)
    again = await tb.transact(req)                  # same seq + CRC: a retry
    assert first == again and _resp(first, 9) == [0x80000000 | i for i in range(4)]
    assert tb.accesses == [("R", POP, 0)] * 4       # popped once
    w = p.write(10, 0x04, [7, 8])
    _ack(await tb.transact(w), 10)
    _ack(await tb.transact(w), 10)
    assert tb.accesses[4:] == [("W", 4, 7), ("W", 4, 8)]
    # the same seq with other content is a new request
    tb.accesses.clear()
    assert _resp(await tb.transact(p.read(10, POP, 1)), 10) == [0x80000004]
    assert tb.accesses == [("R", POP, 0)]
    # a NACKed frame in between does not evict the cached response
    bad = bytearray(p.read(11, POP, 2))
    bad[3] ^= 0x10
    await tb.transact(bytes(bad))
    assert _resp(await tb.transact(p.read(10, POP, 1)), 10) == [0x80000004]
    assert tb.accesses == [("R", POP, 0)]


@cocotb.test()
async def run_test_doubled_attempt_is_executed_once(dut):
    """host/serial_transport.py's escalated attempt: the same frame twice, each with a second
    closing 0x00, 12 idle 0x00s apart (COPY_GAP: the bridge drops what arrives while it still
    executes the first copy). The copy arrives while the first answer goes out, waits for it and
    is answered from the cache: two equal answers, one execution. With either copy damaged: a
    NACK for it, in its place, and one execution."""
    tb = TB(dut)
    await tb.cycle_reset()

    def twice(first: bytes, second: bytes) -> bytes:
        return first + b"\x00" + bytes(12) + second + b"\x00"

    req = p.read(40, POP, 4)                        # a short copy, longer answers
    frames = await tb.transact(twice(req, req), frames=2)
    assert frames[0] == frames[1] and _resp(frames[:1], 40) == [0x80000000 | i for i in range(4)]
    assert tb.accesses == [("R", POP, 0)] * 4
    tb.accesses.clear()
    w = p.write(41, 0x04, list(range(200, 232)))    # a long copy, a short answer
    assert await tb.transact(twice(w, w), frames=2) == [(41, p.ACK, b"")] * 2
    assert tb.accesses == [("W", 4, v) for v in range(200, 232)]
    tb.accesses.clear()
    long_read = p.read(42, POP, 32)                 # the copy arrives while 138 bytes go out
    frames = await tb.transact(twice(long_read, long_read), frames=2)
    assert frames[0] == frames[1] and _resp(frames[:1], 42) == [0x80000000 | i for i in range(4, 36)]
    assert tb.accesses == [("R", POP, 0)] * 32
    for damaged in (0, 1):
        tb.accesses.clear()
        req = p.read(43 + damaged, POP, 2)
        bad = bytearray(req)
        bad[3] ^= 0x10                              # the type byte: a bad CRC
        copies = [req, req]
        copies[damaged] = bytes(bad)
        frames = await tb.transact(twice(*copies), frames=2)
        want = [p.NACK, p.RESP] if damaged == 0 else [p.RESP, p.NACK]
        assert [f[1] for f in frames] == want, frames
        assert tb.accesses == [("R", POP, 0)] * 2, f"copy {damaged} damaged: {tb.accesses}"


@cocotb.test()
async def run_test_bit_errors_are_nacked(dut):
    """A flipped bit anywhere in a frame: NACK (or silence), never a register access."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(20240611)
    for i in range(60):
        seq = 0x40 + i
        good = p.write(seq, 0x40 + (i % 8), [rng.getrandbits(32) for _ in range(rng.randint(1, 6))],
                       increment=bool(i & 1)) if i % 3 else p.read(seq, POP, rng.randint(1, 8))
        bad = bytearray(good)
        pos = rng.randrange(1, len(bad) - 1)          # inside the frame, not the delimiters
        bad[pos] ^= 1 << rng.randrange(8)
        frames = await tb.transact(bytes(bad), frames=1)
        # a bit error may turn a byte into a delimiter: then two NACKed fragments,
        # or one fragment too short to hold a seq. Anything but NACK is a failure.
        frames += await tb.receive(frames=0, timeout_bytes=4)
        assert frames, f"case {i}: no answer to a corrupted frame"
        for f in frames:
            assert f[1] == p.NACK and f[2][0] in (p.R_CRC, p.R_MALFORMED), f"case {i}: {f}"
        assert tb.accesses == [], f"case {i}: a corrupted frame reached the registers: {tb.accesses}"
    assert tb.frame_errors >= 60
    # the bridge still works
    assert _resp(await tb.transact(p.read(1, 0, 1)), 1) == [MAGIC]


@cocotb.test()
async def run_test_dropped_bytes(dut):
    """A dropped byte: NACK or silence and no access; the host's retry executes once."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(77)
    for i in range(40):
        seq = 0x80 + i
        vals = [rng.getrandbits(32) for _ in range(rng.randint(1, 4))]
        good = p.write(seq, 0x50, vals, increment=True)
        pos = rng.randrange(1, len(good)) if i else len(good) - 1   # case 0: the end delimiter
        frames = await tb.transact(good[:pos] + good[pos + 1:], frames=1)
        assert all(f[1] == p.NACK for f in frames), f"case {i}: {frames}"
        assert tb.accesses == [], f"case {i}: a damaged frame reached the registers: {tb.accesses}"
        # the retry (same seq and content) is executed exactly once. Without its end
        # delimiter the first copy was intact: the retry's leading 0x00 completes it,
        # it executes, and the retry itself is answered from the cache.
        frames = await tb.transact(good, frames=1)
        frames += await tb.receive(frames=0, timeout_bytes=4)
        assert (seq, p.ACK, b"") in frames, f"case {i}: {frames}"
        assert all(f[1] == p.NACK or f == (seq, p.ACK, b"") for f in frames), f"case {i}: {frames}"
        assert tb.accesses == [("W", 0x50 + j, v) for j, v in enumerate(vals)], f"case {i}: {tb.accesses}"
        tb.accesses.clear()


@cocotb.test()
async def run_test_malformed_requests(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    cases = [
        (p.frame(1, 0x7E, b""), p.R_REQUEST),                       # unknown type
        (p.frame(2, p.READ, bytes([0, 0, 0])), p.R_REQUEST),        # count 0
        (p.frame(3, p.READ, bytes([0, 0, 33])), p.R_REQUEST),       # count > 32
        (p.frame(4, p.READ, bytes([0, 0])), p.R_REQUEST),           # body too short
        (p.frame(5, p.WRITE, bytes([0x20, 0])), p.R_REQUEST),       # no data words
        (p.frame(6, p.WRITE, bytes([0x20, 0, 1, 2, 3])), p.R_REQUEST),  # partial word
        (p.write(7, 0x20, list(range(33))), p.R_REQUEST),           # 33 words
        (p.frame(8, p.WRITE, bytes([0x20, 2, 1, 2, 3, 4])), p.R_REQUEST),  # reserved flag
        (p.frame(9, p.PING, b"\x01"), p.R_REQUEST),                 # PING with a body
        (b"\x00" + p.cobs_encode(bytes([10, p.PING, 1, 2])) + b"\x00", p.R_MALFORMED),  # < 6 bytes
        (b"\x00" + p.cobs_encode(p.payload(11, p.PING, bytes(300))) + b"\x00", p.R_MALFORMED),  # > 256
        (b"\x00\x05\x0c\x06\x00", p.R_MALFORMED),                    # COBS block cut by the delimiter
    ]
    for i, (wire, reason) in enumerate(cases):
        frames = await tb.transact(wire)
        seq = wire[2] if wire[1] > 1 else 0   # first payload byte (COBS keeps it in place)
        assert len(frames) == 1 and frames[0][1] == p.NACK and frames[0][2] == bytes([reason]), \
            f"case {i}: {frames}"
        assert frames[0][0] == seq, f"case {i}: NACK carries seq {frames[0][0]}, sent {seq}"
    assert tb.accesses == []
    # empty frames (delimiters only) are ignored
    assert await tb.transact(b"\x00\x00\x00", frames=0) == []
    assert _resp(await tb.transact(p.read(12, 0, 1)), 12) == [MAGIC]


@cocotb.test()
async def run_test_uart_stop_bit_error(dut):
    tb = TB(dut)
    await tb.cycle_reset()
    wire = p.write(21, 0x20, [0x12345678])
    await tb.send(wire[:5])
    await tb.send_bad_stop_bit(wire[5])
    frames = await tb.transact(wire[6:])
    assert frames == [(21, p.NACK, bytes([p.R_UART]))], frames
    assert tb.accesses == []
    _ack(await tb.transact(wire), 21)
    assert tb.accesses == [("W", 0x20, 0x12345678)]


@cocotb.test()
async def run_test_long_zero_runs(dut):
    """Payloads with long non-zero runs (COBS 0xFF blocks) and all-zero words."""
    tb = TB(dut)
    await tb.cycle_reset()
    vals = [0xFFFFFFFF] * 32
    _ack(await tb.transact(p.write(30, 0x60, vals, increment=True)), 30)
    assert _resp(await tb.transact(p.read(31, 0x60, 32, increment=True)), 31) == vals
    zeros = [0] * 32
    _ack(await tb.transact(p.write(32, 0x60, zeros, increment=True)), 32)
    assert _resp(await tb.transact(p.read(33, 0x60, 32, increment=True)), 33) == zeros
