"""The token stream over the UART (docs/uart_protocol.md, "Streaming") against the Python stand-in of
the bridge (tests/host_fakes.py FakeBridge): pushed tokens equal the golden ones; damaged, lost,
repeated, stale and foreign stream frames change nothing (the host reads by number what it misses);
a host with the stream off, and a bridge without it (LINK_CAPS bit0 clear), read by request/response;
a device that stops answering mid-stream is a clear error. The RTL bridge's stream:
tests/test_rtl_uart_soak.py."""
from __future__ import annotations

import struct
import zlib

import pytest

from host import registers as R
from host.device import Device
from host.errors import DeviceError, DeviceTimeout
from host.framing import cobs_decode, cobs_encode, decode_stream
from host.serial_transport import T_READ, T_STREAM, T_WRITE, SerialTransport
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeBridge, FakeCore, FakeSerial, NoisySerial

K_MAX = 8


@pytest.fixture(scope="module")
def model():
    return random_int_model(6)


class LoggingSerial(FakeSerial):
    """FakeSerial that keeps what the host wrote (to count requests by kind)."""

    def __init__(self, bridge):
        super().__init__(bridge)
        self.sent = bytearray()

    def write(self, data):
        self.sent += bytes(data)
        return super().write(data)

    def requests(self):
        return decode_stream(bytes(self.sent), max_payload=1024)[0]

    def window_reads(self):
        return [f for f in self.requests() if f.type == T_READ and 4 * f.payload[0] >= R.TOKEN_WINDOW]

    def stream_writes(self):
        return [f for f in self.requests() if f.type == T_WRITE and 4 * f.payload[0] == R.STREAM_CTRL]


def setup(model, port_cls=LoggingSerial, out_depth=64, stream=True, bridge_streams=True, retries=4, **port_kw):
    core = FakeCore(model, k_max=K_MAX, out_depth=out_depth)
    bridge = FakeBridge(core)
    bridge.streams = bridge_streams
    port = port_cls(bridge, **port_kw)
    dev = Device(SerialTransport(port, timeout=0.05, retries=retries), stream=stream, stream_wait=0.01)
    return core, bridge, port, dev


def golden(model, prompt, n, **kw):
    g = GoldenModel(model, None, K_MAX)
    return [int(t) for t in g.generate(prompt, n, **kw)]


CASES = [([1, 5, 7], 13, {}), ([1, 9], 14, {"temperature": 2.0, "top_k": 5, "seed": 3}), ([1], 3, {})]


@pytest.mark.parametrize("out_depth", [64, 4])
def test_pushed_tokens_equal_the_golden_ones(model, out_depth):
    core, bridge, port, dev = setup(model, out_depth=out_depth)
    for prompt, n, kw in CASES:
        assert dev.generate_ids(prompt, n, **kw) == golden(model, prompt, n, **kw)
    # the tokens came pushed: no read by number, one STREAM_CTRL write on and one off per run
    assert bridge.stream_frames >= len(CASES) and dev.transport.stats()["stream_frames"] == bridge.stream_frames
    assert port.window_reads() == [] and len(port.stream_writes()) == 2 * len(CASES)
    assert not bridge.stream_on                     # turned off at the end of each run
    # a run the full context ends early: the stream goes quiet, STATUS says DONE
    assert dev.generate_ids([1, 5], 40) == golden(model, [1, 5], 40)


def test_damaged_and_lost_stream_frames_are_read_by_number(model):
    core, bridge, port, dev = setup(model, out_depth=8)
    for prompt, n, kw in CASES:
        bridge.corrupt_stream, bridge.drop_stream = 2, 2
        assert dev.generate_ids(prompt, n, **kw) == golden(model, prompt, n, **kw)
    assert port.window_reads()                      # the fallback ran ...
    assert dev.transport.stats()["bad_frames"] >= 2  # ... for the damaged frames (dropped by their CRC)


def test_repeated_stale_and_foreign_frames_are_not_taken(model):
    """Each stream frame arrives twice, behind a frame of the previous run (an old id, numbers from
    0 again) and a frame claiming the next numbers with tokens out of the vocabulary under another
    id: the host takes each token once, in order, and only from this run's stream."""
    core, bridge, port, dev = setup(model)
    old = []

    def fault(wire: bytes) -> bytes:
        raw = cobs_decode(wire.strip(b"\x00"))
        seq, first = raw[0], struct.unpack_from("<I", raw, 2)[0]
        bogus = bytes([seq ^ 0x55, T_STREAM]) + struct.pack("<IHH", first, 0xFFFF, 0xFFFF)
        bogus_wire = b"\x00" + cobs_encode(bogus + zlib.crc32(bogus).to_bytes(4, "little")) + b"\x00"
        out = b"".join(old[:1]) + bogus_wire + wire + wire
        old.append(wire)
        return out

    prompt, n, kw = CASES[0]
    assert dev.generate_ids(prompt, n, **kw) == golden(model, prompt, n, **kw)
    bridge.stream_fault = fault
    for prompt, n, kw in CASES[1:] + CASES[:1]:
        assert dev.generate_ids(prompt, n, **kw) == golden(model, prompt, n, **kw)
    assert old and port.window_reads() == []


def test_noisy_line_gives_the_golden_tokens(model):
    # 2e-3 of the bits flipped loses about a third of the exchanges; a response the loaded CI machine
    # is slow to hand over counts as lost too: 8 resends, so no request runs out of them (at 4, about
    # one in 250 did, which ends the generation with a clear error, never a wrong token)
    core, bridge, port, dev = setup(model, port_cls=NoisySerial, out_depth=16, ber=2e-3, seed=4, retries=8)
    for _ in range(3):
        for prompt, n, kw in CASES:
            assert dev.generate_ids(prompt, n, **kw) == golden(model, prompt, n, **kw)
    assert port.to_host.damaged > 0 and bridge.stream_frames > 0


def test_a_host_with_the_stream_off_reads_by_request(model):
    core, bridge, port, dev = setup(model, stream=False)
    for prompt, n, kw in CASES:
        assert dev.generate_ids(prompt, n, **kw) == golden(model, prompt, n, **kw)
    assert bridge.stream_frames == 0 and port.stream_writes() == [] and port.window_reads()


def test_a_bridge_without_the_stream_is_read_by_request(model):
    """A bitstream from before the stream: LINK_CAPS reads 0 (hw_core's answer), so the host never
    turns a stream on and reads by number as before."""
    core, bridge, port, dev = setup(model, bridge_streams=False)
    for prompt, n, kw in CASES:
        assert dev.generate_ids(prompt, n, **kw) == golden(model, prompt, n, **kw)
    assert bridge.stream_frames == 0 and port.stream_writes() == [] and port.window_reads()
    assert dev.transport.read(R.LINK_CAPS) == 0


def test_reset_ends_the_stream_and_a_new_run_gets_a_new_id(model):
    core, bridge, port, dev = setup(model)
    ids = []
    for prompt, n, kw in CASES[:2]:
        it = dev.generate(prompt, n, **kw)
        next(it)
        ids.append(bridge.stream_id)
        assert bridge.stream_on
        it.close()                                  # stopped early: the stream is turned off
        assert not bridge.stream_on
    assert ids[0] != ids[1]
    dev.transport.write(R.STREAM_CTRL, R.STREAM_ON | 7 << R.STREAM_ID_SHIFT)
    assert bridge.stream_on and dev.transport.read(R.STREAM_CTRL) == R.STREAM_ON | 7 << R.STREAM_ID_SHIFT
    dev.reset()                                     # RESET_STATE ends it
    assert not bridge.stream_on


def test_a_device_that_stops_mid_stream_is_a_clear_error(model):
    core, bridge, port, dev = setup(model)
    dev.timeout = 0.3
    it = dev.generate([1, 5], 40)
    next(it)
    core.hang = True                                # answers, but makes no token
    with pytest.raises(DeviceTimeout, match="no token for"):
        list(it)
    core.hang = False
    bridge.silent = True                            # answers nothing at all
    with pytest.raises(DeviceError):
        dev.generate_ids([1, 5], 40)


class PullableSerial(LoggingSerial):
    gone = False

    @property
    def in_waiting(self):
        if self.gone:
            raise OSError(5, "Input/output error (cable pulled)")
        return LoggingSerial.in_waiting.fget(self)

    def write(self, data):
        if self.gone:
            raise OSError(5, "Input/output error (cable pulled)")
        return super().write(data)


def test_a_new_session_resumes_the_stream_under_a_new_id(model):
    """The cable is pulled mid-stream (pushed frames lost with it): reconnect() and resume() turn
    the stream on again under a new id and deliver the rest, none lost or doubled."""
    core, bridge, port, dev = setup(model, port_cls=PullableSerial, out_depth=4)
    prompt, n, kw = CASES[1]
    it = dev.generate(prompt, n, **kw)
    got = [next(it).id for _ in range(3)]
    first_id = bridge.stream_id
    port.gone = True
    with pytest.raises(DeviceError, match="dev.reconnect"):
        for t in it:                                # a token already taken is yielded before the error
            got.append(t.id)
    bridge.stream_poll()                            # frames pushed into the void
    new_port = LoggingSerial(bridge)
    dev.reconnect(SerialTransport(new_port, timeout=0.05))
    got += [t.id for t in dev.resume()]
    assert got == golden(model, prompt, n, **kw)
    # the new session turned the stream on under another id (the bridge's id reads 0 once it is off,
    # so the ids are taken from the STREAM_CTRL writes the host sent)
    turned_on = [v for v in (struct.unpack_from("<I", f.payload, 2)[0] for f in new_port.stream_writes())
                 if v & R.STREAM_ON]
    assert turned_on and all(v >> R.STREAM_ID_SHIFT & 0xFF != first_id for v in turned_on)
    assert not bridge.stream_on
