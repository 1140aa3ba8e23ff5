"""host/serial_transport.py against a Python stand-in of the UART bridge: bursts, retries on
damaged frames without doubled side effects, DeviceTimeout on silence, and a real pty."""
from __future__ import annotations

import time

import pytest

from host import registers as R
from host.device import open_device
from host.errors import DeviceError, DeviceTimeout
from host.serial_transport import T_READ, SerialTransport
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeBridge, FakeCore, FakeSerial, PtyBridge

K_MAX = 8


@pytest.fixture(scope="module")
def model():
    return random_int_model(6)


def link(model, **kw):
    core = FakeCore(model, k_max=K_MAX)
    bridge = FakeBridge(core)
    return core, bridge, SerialTransport(FakeSerial(bridge), **{"timeout": 0.05, **kw})


def test_reads_writes_and_chunked_bursts(model):
    core, bridge, t = link(model)
    assert t.read(R.MAGIC) == R.MAGIC_VALUE
    t.write(0x40, 0xDEADBEEF)
    assert core.lora_ptr == 0xDEADBEEF
    core.writes.clear()
    vals = list(range(70))                          # 3 frames: 32 + 32 + 6
    before = bridge.executed
    t.write_many(R.PROMPT_PUSH, vals)
    assert [v for a, v in core.writes] == vals and bridge.executed - before == 3
    ident = t.read_many(R.FINGERPRINT, R.IDENTITY_WORDS, increment=True)
    assert R.unpack_identity({R.GEN_VERSION: 7, **dict(zip(R.identity_addresses(), ident))}) == core.ident
    with pytest.raises(ValueError, match="runs past register 0x3FC"):
        t.read_many(0x3F0, 8, increment=True)


def test_damaged_responses_are_retried_without_doubling(model):
    core, bridge, t = link(model)
    core.out.extend([11, 12, 13])
    bridge.corrupt_responses = 2                    # the answer to the pop is damaged twice
    got = t.read_many(R.TOKEN_POP, 3)
    assert [v & R.TOKEN_MASK for v in got] == [11, 12, 13]   # popped once, not three times
    assert t.stats()["resends"] == 2 and t.stats()["bad_frames"] == 2
    core.writes.clear()
    bridge.drop_requests = 1                        # the device NACKs a damaged request
    t.write_many(R.PROMPT_PUSH, [5, 6])
    assert core.writes == [(R.PROMPT_PUSH, 5), (R.PROMPT_PUSH, 6)]
    # the NACK carries the seq as the bridge decoded it (ours, or 0 when the damage hit the
    # first COBS block): either way it is the refusal of this request, resent once
    assert t.stats()["resends"] == 3 and t.stats()["nacks"] == 1 and t.stats()["timeouts"] == 0


def test_silent_device_raises_device_timeout(model):
    core, bridge, t = link(model, retries=3)
    bridge.silent = True
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no valid answer after 4 attempts"):
        t.read(R.STATUS)
    assert time.monotonic() - t0 < 3
    with pytest.raises(DeviceTimeout):
        SerialTransport(FakeSerial(bridge), timeout=0.02, retries=1)   # the opening PING


def test_persistent_noise_is_a_device_error(model):
    core, bridge, t = link(model, retries=2)
    bridge.drop_requests = 10
    # the third attempt carries the frame twice (ESCALATE_AFTER): both copies are refused too
    with pytest.raises(DeviceError, match=r"refused 4 times in 3 attempts \((malformed frame|bad CRC)"):
        t.write(R.SEED, 1)
    assert (R.SEED, 1) not in core.writes


def test_generate_over_a_real_pty(model):
    """pyserial on a pseudo-terminal, the bridge stand-in on the other end."""
    core = FakeCore(model, k_max=K_MAX)
    pty = PtyBridge(FakeBridge(core))
    try:
        with open_device(f"serial:{pty.slave_path}?baud=115200", timeout=5.0) as dev:
            assert dev.info() == core.ident
            for kw in ({}, {"temperature": 4.0, "top_k": 6, "seed": 9}):
                got = dev.generate_ids([1, 8, 3], 10, **kw)
                assert got == list(GoldenModel(model, k_max=K_MAX).generate([1, 8, 3], 10, **kw))
    finally:
        pty.close()


# ---------------------------------------------------------------- issue 16 B: buffered answers, deadlines

class TamperSerial(FakeSerial):
    """FakeSerial whose next requests / responses go through one-shot functions first."""

    def __init__(self, bridge):
        super().__init__(bridge)
        self.requests, self.responses = [], []     # callables bytes -> bytes, used once each
        self.written = []

    def write(self, data):
        data = bytes(data)
        self.written.append(data)
        sent = self.requests.pop(0)(data) if self.requests else data
        before = len(self.bridge.pending)
        self.bridge.receive(sent)
        if self.responses and len(self.bridge.pending) > before:
            out = self.responses.pop(0)(bytes(self.bridge.pending[before:]))
            self.bridge.pending[before:] = out
        return len(data)


def damaged(out: bytes) -> bytes:
    """What the bridge sent, its first frame hit by a bit error (a byte changed, never to 0x00)."""
    return out[:5] + bytes([out[5] ^ 0x10 or 0x20]) + out[6:]


def tampered(model, **kw):
    core = FakeCore(model, k_max=K_MAX)
    bridge = FakeBridge(core)
    port = TamperSerial(bridge)
    return core, port, SerialTransport(port, **{"timeout": 0.3, "settle": 0.005, **kw})


def test_good_answer_behind_a_damaged_fragment_is_taken_without_a_resend(model):
    core, port, t = tampered(model)
    core.out.extend([21, 22])
    # line noise ahead of the answer: a fragment that is no frame, then the good answer
    port.responses.append(lambda out: b"\x00\x13\x37\x00" + out)
    before = t.stats()
    got = t.read_many(R.TOKEN_POP, 2)
    assert [v & R.TOKEN_MASK for v in got] == [21, 22]
    st = t.stats()
    assert st["resends"] == before["resends"]          # was: resent at the damaged fragment
    assert st["bad_frames"] == before["bad_frames"] + 1 and st["late_answers"] == 1
    assert t.retry_histogram() == {0: 2}               # the PING and the pop, both first time


def test_tail_of_a_split_response_does_not_cost_a_second_resend(model):
    core, port, t = tampered(model)
    core.out.extend([5])
    # a bit error turns a byte of the answer into 0x00: two damaged fragments, one resend
    port.responses.append(lambda out: out[:6] + b"\x00" + out[7:])
    got = t.read_many(R.TOKEN_POP, 1)
    assert [v & R.TOKEN_MASK for v in got] == [5]
    assert t.stats()["resends"] == 1 and t.stats()["bad_frames"] == 2


def test_nack_with_a_damaged_seq_is_resent_at_once(model):
    core, port, t = tampered(model)
    # the request's first COBS block arrives damaged: the bridge NACKs it with seq 0
    port.requests.append(lambda req: b"\x00\x01\x05\x00")
    t0 = time.monotonic()
    t.write(R.SEED, 3)
    assert time.monotonic() - t0 < 0.2                 # was: the whole 0.3 s deadline, then a resend
    assert (R.SEED, 3) in core.writes
    st = t.stats()
    assert st["nacks"] == 1 and st["resends"] == 1 and st["timeouts"] == 0


def test_answer_with_a_damaged_closing_delimiter_is_salvaged(model):
    core, port, t = tampered(model)
    core.out.extend([9])
    port.responses.append(lambda out: out[:-1] + b"\x40")     # its 0x00 arrived as 0x40
    t0 = time.monotonic()
    got = t.read_many(R.TOKEN_POP, 1)
    assert [v & R.TOKEN_MASK for v in got] == [9]
    assert time.monotonic() - t0 < 0.2
    st = t.stats()
    assert st["salvaged"] == 1 and st["resends"] == 0 and st["timeouts"] == 0


def test_leftovers_of_an_earlier_exchange_are_not_taken_as_this_ones_failure(model):
    core, port, t = tampered(model)
    t.write(R.SEED, 1)
    port.bridge.pending += b"\x00\x13\x37"              # noise after the last answer, no 0x00 yet
    t.write(R.SEED, 2)
    assert t.stats()["resends"] == 0 and core.writes[-1] == (R.SEED, 2)


def test_after_a_failed_attempt_requests_end_in_two_delimiters(model):
    core, port, t = tampered(model)
    assert port.written[-1].endswith(b"\x00") and not port.written[-1].endswith(b"\x00\x00")
    port.responses.append(damaged)          # one damaged answer (not a constant: the seq starts at random)
    t.write(R.SEED, 1)
    assert port.written[-1].endswith(b"\x00\x00")      # the resend and later requests
    t.write(R.SEED, 2)
    assert port.written[-1].endswith(b"\x00\x00")
    assert [w for a, w in core.writes if a == R.SEED] == [1, 2]


class SlowPort:
    """pyserial-like port with pyserial's blocking: read waits `timeout` (None: for ever) for a
    byte that never comes; write blocks while flow control holds the line (up to
    `write_timeout`, then SerialTimeoutException; None: 'for ever', here 3 s); flush is
    tcdrain (3 s)."""

    name = "slow"

    def __init__(self, timeout, write_timeout=None, hold_writes=False):
        self.timeout, self.write_timeout, self.hold_writes = timeout, write_timeout, hold_writes
        self.baudrate = 115200

    @property
    def in_waiting(self):
        return 0

    def read(self, n=1):
        time.sleep(3.0 if self.timeout is None else min(self.timeout, 3.0))
        return b""

    def write(self, data):
        if self.hold_writes:
            if self.write_timeout is None:
                time.sleep(3.0)
            else:
                import serial
                time.sleep(self.write_timeout)
                raise serial.SerialTimeoutException("Write timeout")
        return len(data)

    def flush(self):
        time.sleep(3.0)

    def close(self):
        pass


def test_a_callers_port_with_a_long_read_timeout_still_meets_the_deadline():
    port = SlowPort(timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no valid answer after 2 attempts"):
        SerialTransport(port, timeout=0.05, retries=1)
    assert time.monotonic() - t0 < 1.0                 # was: 5 s per blocking read
    assert port.timeout <= 0.02


def test_a_callers_port_held_by_flow_control_times_out_on_write():
    port = SlowPort(timeout=1.0, hold_writes=True)      # write_timeout None: would block for ever
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="flow control"):
        SerialTransport(port, timeout=0.1, retries=3)
    assert time.monotonic() - t0 < 1.0
    assert port.write_timeout is not None and port.write_timeout < 0.5


def test_a_callers_port_sets_the_timing_baud_rate(model):
    core = FakeCore(model, k_max=K_MAX)
    port = FakeSerial(FakeBridge(core))
    port.baudrate = 9600
    t = SerialTransport(port, timeout=0.05)
    assert t.baudrate == 9600
    assert SerialTransport(FakeSerial(FakeBridge(core)), timeout=0.05).baudrate == 115200


def test_silent_pty_opened_by_the_caller_times_out():
    """Real pyserial on a pseudo-terminal nobody answers, opened with a 30 s read timeout."""
    import os
    import tty

    import serial
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), 115200, timeout=30)
    try:
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout):
            SerialTransport(port, timeout=0.05, retries=1)
        assert time.monotonic() - t0 < 1.5
    finally:
        port.close()
        os.close(master)
        os.close(slave)


class DripSerial(FakeSerial):
    """FakeSerial whose answers arrive late and in pieces, as from a slow link (a simulation,
    a network port, a USB adapter's latency timer): `split(out)` cuts each answer into chunks,
    chunk k is readable `gap` * k seconds after the write (plus `delay`)."""

    def __init__(self, bridge, gap, split=None, delay=0.0):
        super().__init__(bridge)
        self.timeout, self.gap, self.split, self.delay = 0.02, gap, split, delay
        self.queue, self.rx = [], bytearray()

    def write(self, data):
        before = len(self.bridge.pending)
        self.bridge.receive(bytes(data))
        out = bytes(self.bridge.pending[before:])
        del self.bridge.pending[before:]
        now = time.monotonic()
        for k, chunk in enumerate((self.split(out) if self.split else [out]) if out else []):
            self.queue.append((now + self.delay + k * self.gap, chunk))
        return len(data)

    def _due(self):
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now:
            self.rx += self.queue.pop(0)[1]

    @property
    def in_waiting(self):
        self._due()
        return len(self.rx)

    def read(self, n=1):
        self._due()
        if not self.rx:             # block like pyserial: until a byte or the port's timeout
            wait = self.timeout if not self.queue else min(self.timeout, self.queue[0][0] - time.monotonic())
            time.sleep(max(0.0, wait))
            self._due()
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out


def test_a_slow_link_delivering_an_answer_in_pieces_costs_no_resend(model):
    core = FakeCore(model, k_max=K_MAX)
    # each answer arrives in three pieces 60 ms apart: longer than `settle`, far shorter
    # than the response timeout
    port = DripSerial(FakeBridge(core), gap=0.06, split=lambda out: [out[:5], out[5:9], out[9:]])
    t = SerialTransport(port, timeout=0.5)
    core.out.extend([7, 8])
    assert [v & R.TOKEN_MASK for v in t.read_many(R.TOKEN_POP, 2)] == [7, 8]
    st = t.stats()
    assert st["resends"] == 0 and st["bad_frames"] == 0 and st["timeouts"] == 0


def test_good_answer_arriving_within_settle_after_a_damaged_fragment_is_taken(model):
    core = FakeCore(model, k_max=K_MAX)
    bridge = FakeBridge(core)
    port = DripSerial(bridge, gap=0.008)
    t = SerialTransport(port, timeout=0.5)
    # noise on the line, then 8 ms later the good answer (the settle time is 20 ms)
    port.split = lambda out: [b"\x00\x13\x37\x00", out]
    t.write(R.SEED, 5)
    st = t.stats()
    assert st["resends"] == 0 and st["late_answers"] == 1 and core.writes[-1] == (R.SEED, 5)


# ---------------------------------------------------------------- issue 16: retries that get sturdier

def requests_sent(port) -> list:
    """(type, body, copies) of each attempt the host wrote after the opening PING."""
    from host.framing import decode_frame
    from tests.host_fakes import request_frame
    out = []
    for wire in port.written[1:]:
        frame = request_frame(wire)
        f = decode_frame(frame)
        out.append((f.type, f.payload, wire.count(frame)))
    return out


def reads_sent(port) -> list:
    """(first word, words, copies) of each READ attempt."""
    return [(body[0], body[2], copies) for kind, body, copies in requests_sent(port) if kind == T_READ]


@pytest.mark.parametrize("addr, count", [(R.FINGERPRINT, 24), (R.TOKEN_WINDOW, 16)])
def test_a_read_that_fails_twice_is_finished_by_reads_of_its_halves(model, addr, count):
    core, port, t = tampered(model)
    core.out.extend(range(2, 2 + count))           # tokens in the window
    want = t.read_many(addr, count, increment=True)   # the same read on a clean line
    assert want[:2] != [0, 0] and len(set(want)) > 1
    port.written[1:] = []
    port.responses += [damaged, damaged]           # both attempts of the whole read fail
    assert t.read_many(addr, count, increment=True) == want
    w, half = addr // 4, count // 2
    # twice the whole read, then each half (sent twice back to back), each taken at once
    assert reads_sent(port) == [(w, count, 1), (w, count, 1), (w, half, 2), (w + half, half, 2)]
    st = t.stats()
    assert st["split_reads"] == 1 and st["resends"] == 3 and st["doubled"] == 2 and st["failed"] == 0
    assert t.retry_histogram() == {0: 2, 2: 1}     # PING and the clean read; this read: 2 resends
    assert len(core.out) == count                  # reading the window took no token


def test_a_read_with_a_side_effect_is_resent_whole_never_split(model):
    core, port, t = tampered(model)
    core.out.extend(range(3, 11))
    port.responses += [damaged, damaged, damaged]  # the third attempt's first copy fails as well
    got = t.read_many(R.TOKEN_POP, 8)
    assert [v & R.TOKEN_MASK for v in got] == list(range(3, 11))
    assert len(core.out) == 0                      # each token popped once, by the first attempt
    pop = R.TOKEN_POP // 4
    assert reads_sent(port) == [(pop, 8, 1), (pop, 8, 1), (pop, 8, 2)]   # whole: replayed, not split
    assert t.stats()["split_reads"] == 0 and t.retry_histogram()[2] == 1
    # an incrementing read that covers TOKEN_POP is not split either
    core.out.extend([30, 31])
    port.written[1:] = []
    port.responses += [damaged, damaged]
    words = t.read_many(R.MAGIC, 16, increment=True)
    assert words[0] == R.MAGIC_VALUE and words[pop] & R.TOKEN_MASK == 30 and list(core.out.tokens.values()) == [31]
    assert [n for _, n, _ in reads_sent(port)] == [16, 16, 16]


def test_a_split_read_keeps_the_deadline_and_the_attempt_count_of_one_request(model):
    core, port, t = tampered(model, timeout=0.05, retries=4)
    port.bridge.silent = True
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no valid answer after 5 attempts"):
        t.read_many(R.FINGERPRINT, 24, increment=True)
    elapsed = time.monotonic() - t0
    w = R.FINGERPRINT // 4
    # the halves inherit the failures of the whole: 5 attempts in all, as for a frame never split
    assert reads_sent(port) == [(w, 24, 1), (w, 24, 1), (w, 12, 2), (w, 6, 2), (w, 6, 2)]
    assert elapsed < 5 * t._longest_wait() + 0.2
    assert t.stats()["failed"] == 1 and t.retry_histogram()["failed"] == 1


def test_a_refused_write_goes_out_twice_and_is_executed_once(model):
    core, port, t = tampered(model)
    core.writes.clear()
    port.bridge.drop_requests = 3                  # 2 attempts, then the first copy of the third
    t.write_many(R.PROMPT_PUSH, [4, 5, 6])
    assert core.writes == [(R.PROMPT_PUSH, 4), (R.PROMPT_PUSH, 5), (R.PROMPT_PUSH, 6)]
    assert [copies for _, _, copies in requests_sent(port)] == [1, 1, 2]
    st = t.stats()
    assert st["nacks"] == 3 and st["resends"] == 2 and st["doubled"] == 1
    core.writes.clear()
    before = port.bridge.replayed
    port.bridge.drop_requests = 2                  # both copies of the third attempt arrive
    t.write_many(R.PROMPT_PUSH, [7, 8])
    assert core.writes == [(R.PROMPT_PUSH, 7), (R.PROMPT_PUSH, 8)]   # the copy was answered from the cache
    assert port.bridge.replayed == before + 1


class CopyRefusedSerial(DripSerial):
    """DripSerial whose doubled attempts arrive with their second copy damaged (the bridge NACKs
    it), each frame the bridge sends readable `gap` after the one before."""

    def write(self, data):
        data = bytes(data)
        frames = [c for c in data.split(b"\x00") if c]
        if len(frames) == 2 and frames[0] == frames[1]:
            cut = data.rindex(frames[1]) + 3
            data = data[:cut] + data[cut + 1:]
        return super().write(data)


def test_the_copys_late_nack_is_not_taken_as_the_next_requests_refusal(model):
    core = FakeCore(model, k_max=K_MAX)
    bridge = FakeBridge(core)
    port = CopyRefusedSerial(bridge, gap=0.01, split=lambda out: [b"\x00" + c + b"\x00"
                                                                  for c in out.split(b"\x00") if c])
    t = SerialTransport(port, timeout=0.3)
    bridge.drop_requests = 2
    t.write(R.SEED, 9)                             # third attempt: ACK, then the copy's NACK 10 ms later
    assert (R.SEED, 9) in core.writes and t.stats()["doubled"] == 1
    before = t.stats()
    assert t.read(R.SEED) == 9
    st = t.stats()
    assert st["nacks"] == before["nacks"] and st["resends"] == before["resends"]
    assert st["late_answers"] == before["late_answers"]
