"""Soak of the UART link model: SerialTransport + framing against the Python bridge stand-in
(tests/host_fakes.py FakeBridge over FakeCore) through an 8N1 line with bit errors (UartLine:
every bit, start, stop and idle bits included, flipped with probability BER, received by
hw_uart_rx.v's logic), generating tokens with the Device API and comparing them with
GoldenModel.generate.

On top of the noise, about one generation in CUT_EVERY has its cable pulled right after the
bridge executed a token read: that answer is lost, the port is dead, and the driver opens a new
session (a new SerialTransport: new port, new random seq, so the bridge's replay cache cannot
help) and continues at its own count (host/device.py, the numbered token read).

It reports, and asserts:
  * corrupt frames accepted: 0 (every response the transport returned is byte for byte the
    one the bridge built for that request);
  * wrong tokens: 0 (every completed generation equals the golden one), tokens lost: 0 (golden
    tokens a generation did not deliver), tokens doubled: 0;
  * requests unrecovered: 0 (requests that failed after all retries and whose generation did not
    complete through a new session); requests failed after all retries, and cable pulls, are counted;
  * resends made while a valid answer already waited unread ("wasted"): 0;
and prints the retry histogram (resends per request) and the line's figures.

The bridge answers in-process, at once: everything it sends in answer to a write is in the
port before the transport looks, so this measures what the transport makes of the bytes
(which frames it takes, when it resends), not timing; tests/test_host_serial.py covers the
deadlines, and a real pseudo-terminal.

`make soak` runs the long version (10^6 frames, marked slow); the normal suite runs a short one.
"""
from __future__ import annotations

import os

import random
import time

import pytest

from host import registers as R
from host.device import Device
from host.errors import DeviceError
from host.framing import cobs_decode
from host.serial_transport import SerialTransport
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model
from host.framing import decode_frame
from host.serial_transport import T_READ
from tests.host_fakes import FakeBridge, FakeCore, NoisySerial, request_frame

K_MAX = 8
BER = 1e-4
CUT_EVERY = 10          # about one generation in this many has its cable pulled


class CheckedTransport(SerialTransport):
    """SerialTransport that checks each response it takes against the one the bridge built
    for that request frame (the bridge logs (seq, request CRC) -> response payload); the halves
    of a split read are frames of their own, each checked."""

    def __init__(self, port, bridge: FakeBridge, **kw):
        self.bridge = bridge
        self.corrupt_accepted = 0
        super().__init__(port, **kw)

    def _exchange(self, kind, body, expect, *args, **kw):
        answer, failed = super()._exchange(kind, body, expect, *args, **kw)
        if answer is not None:
            raw = cobs_decode(request_frame(self._last_wire))
            want = self.bridge.log.get((raw[0], raw[-4:]))
            if want is None or want[1] != expect or want[2:] != answer:
                self.corrupt_accepted += 1
        return answer, failed

    def _send(self, wire, *args):
        self._last_wire = wire
        super()._send(wire, *args)

    def stream_frames(self, wait):
        # the port pulls its cable after a pushed frame only while the driver reads the stream
        # (inside a generation's token phase, where it reopens the link); a pull during the
        # request's setup would fail that request for the caller, as it does without the stream
        self._ser.reading_stream = True
        try:
            return super().stream_frames(wait)
        finally:
            self._ser.reading_stream = False


class PullableSerial(NoisySerial):
    """NoisySerial whose cable can be pulled: once `cut_after` more token reads (TOKEN_WINDOW)
    were executed by the bridge, that read's answer is lost and the port raises from then on."""

    cut_after = None
    gone = False
    streaming = False       # the bridge pushes tokens: they cross the line too, and a cut counts them
    reading_stream = False  # set by CheckedTransport while the driver reads the stream

    @property
    def in_waiting(self):
        if self.gone:
            raise OSError(5, "Input/output error (cable pulled)")
        if not self.streaming:
            return len(self.rx)
        before = self.bridge.stream_frames
        n = NoisySerial.in_waiting.fget(self)
        if self.cut_after is not None and self.reading_stream and self.bridge.stream_frames != before:
            self.cut_after -= 1
            if self.cut_after == 0:
                self.rx.clear()                     # pushed tokens are lost with the cable
                self.gone = True
                raise OSError(5, "Input/output error (cable pulled)")
        return n

    def write(self, data):
        if self.gone:
            raise OSError(5, "Input/output error (cable pulled)")
        n = super().write(data)
        if self.cut_after is not None:
            try:
                f = decode_frame(request_frame(data))
            except DeviceError:
                return n
            if f.type == T_READ and 4 * f.payload[0] >= R.TOKEN_WINDOW:
                self.cut_after -= 1
                if self.cut_after == 0:
                    self.rx.clear()                 # the answer is lost with the cable
                    self.gone = True
        return n


class ReplayCore(FakeCore):
    """FakeCore whose generations come from a cache of GoldenModel runs keyed by everything the
    registers set (prompt, max_new, temperature, top_k, seed, stop token): the link is under
    test, not the model, and a soak repeats a few dozen prompts. A prompt the link garbled
    (a doubled or lost PROMPT_PUSH word) is simply another key: its tokens differ."""

    def __init__(self, model, cache: dict, **kw):
        super().__init__(model, **kw)
        self.cache = cache

    def _generate(self, golden, prompt):
        r = self.regs
        key = (tuple(prompt),) + tuple(r.get(a // 4, 0) for a in (R.MAX_NEW, R.INV_TEMP_Q8, R.TOP_K, R.SEED,
                                                                    R.STOP_TOKEN))
        if self.golden.pos == 0 and key in self.cache:
            yield from self.cache[key]          # (POSITION is not tracked on a replay)
            return
        fresh, out = self.golden.pos == 0, []
        for tok in super()._generate(golden, prompt):
            out.append(tok)
            yield tok
        if fresh:
            self.cache[key] = out



def session_totals(sessions) -> tuple[dict, dict]:
    """The transport statistics and the retry histogram of a soak, summed over its (port, transport)
    sessions (a pulled cable opens a new one)."""
    st = {k: sum(t.stats()[k] for _, t in sessions) for k in sessions[0][1].stats()}
    hist: dict = {}
    for _, t in sessions:
        for k, v in t.retry_histogram().items():
            hist[k] = hist.get(k, 0) + v
    return st, hist

def run_soak(frames: int, ber: float = BER, seed: int = 1, retries: int = 4, stream: bool = False) -> dict:
    """Generate until the transport has sent `frames` requests; return the figures. `stream`: the
    bridge pushes the tokens (docs/uart_protocol.md, "Streaming"; the cable is then pulled after
    a pushed frame), else the host reads them by request/response."""
    model = random_int_model(6)
    golden = GoldenModel(model, k_max=K_MAX)
    core = ReplayCore(model, {}, k_max=K_MAX)
    bridge = FakeBridge(core)
    bridge.log = {}
    rng = random.Random(seed)
    t0 = time.monotonic()
    sessions = []                       # (port, transport) of every session, the first included

    def open_session():
        # a fast line (deadlines scale with the transfer time) and a short response timeout: the
        # in-process bridge answers at once, so only lost answers wait for the deadline
        port = PullableSerial(bridge, ber, seed=seed * 1000 + len(sessions))
        port.streaming = stream
        transport = CheckedTransport(port, bridge, baudrate=10_000_000, timeout=0.002, retries=retries,
                                     settle=0.001)
        port.transport = transport
        sessions.append((port, transport))
        return transport

    def total(key):
        return sum(t.stats()[key] for _, t in sessions)

    dev = Device(open_session(), timeout=5.0, reopen=open_session, reconnects=3, stream=stream,
                 stream_wait=0.005)
    runs = wrong = aborted = lost = doubled = cuts = tokens = 0
    scenarios = []                      # a few dozen generations, repeated
    for _ in range(24):
        prompt = [1] + [rng.randrange(2, 37) for _ in range(rng.randrange(1, 5))]
        kw = rng.choice([{}, {"temperature": 4.0, "top_k": 6, "seed": rng.randrange(1 << 16)}])
        n = rng.randrange(1, 12)
        golden.reset()
        scenarios.append((prompt, n, kw, list(golden.generate(prompt, n, **kw))))
    while total("requests") < frames:
        prompt, n, kw, want = rng.choice(scenarios)
        if rng.randrange(CUT_EVERY) == 0:
            sessions[-1][0].cut_after = rng.randrange(1, 4)
            cuts += 1
        try:
            got = dev.generate_ids(prompt, n, **kw)
        except DeviceError:
            aborted += 1
            continue
        finally:
            sessions[-1][0].cut_after = None    # a cut the run ended before is not made
        runs += 1
        tokens += len(got)
        if got != want:
            wrong += 1
            lost += max(0, len(want) - len(got))
            doubled += max(0, len(got) - len(want))
        if len(bridge.log) > 4096:
            bridge.log.clear()
    st, hist = session_totals(sessions)
    ports = [p for p, _ in sessions]
    return {
        "frames": st["requests"], "runs": runs, "aborted_runs": aborted, "wrong_tokens": wrong,
        "tokens_lost": lost, "tokens_doubled": doubled, "cable_pulls": sum(p.gone for p in ports),
        "cuts_planned": cuts, "sessions": len(sessions), "unrecovered": aborted,
        "corrupt_accepted": sum(t.corrupt_accepted for _, t in sessions), "failed": st["failed"],
        "resends": st["resends"], "wasted_resends": sum(p.wasted_resends for p in ports),
        "histogram": {k: hist[k] for k in sorted(hist, key=lambda k: (isinstance(k, str), k))},
        "stats": st, "line_flips": sum(p.to_device.flips + p.to_host.flips for p in ports),
        "damaged_bursts": sum(p.to_device.damaged + p.to_host.damaged for p in ports),
        "replayed": bridge.replayed, "seconds": round(time.monotonic() - t0, 1),
        "stream_frames_sent": bridge.stream_frames, "stream_frames_taken": st["stream_frames"],
        "tokens": tokens,
    }


def report(fig: dict) -> str:
    return (f"soak: {fig['frames']} frames at BER {BER:g} in {fig['seconds']} s, {fig['runs']} generations "
            f"({fig['aborted_runs']} aborted); corrupt accepted {fig['corrupt_accepted']}, wrong tokens "
            f"{fig['wrong_tokens']}, tokens lost {fig['tokens_lost']}, tokens doubled {fig['tokens_doubled']}; "
            f"{fig['cable_pulls']} cable pulls, {fig['sessions']} sessions; failed requests {fig['failed']}, "
            f"unrecovered {fig['unrecovered']}; resends {fig['resends']} "
            f"(wasted: {fig['wasted_resends']}); retry histogram {fig['histogram']}; "
            f"{fig['damaged_bursts']} damaged bursts, {fig['line_flips']} flipped bits; "
            f"answered from the bridge's cache {fig['replayed']}; stats {fig['stats']}")


def test_soak_short():
    fig = run_soak(10_000, seed=1)
    print(report(fig))
    assert fig["stream_frames_sent"] == 0       # request/response only
    assert fig["corrupt_accepted"] == 0
    assert fig["wrong_tokens"] == 0 and fig["tokens_lost"] == 0 and fig["tokens_doubled"] == 0
    assert fig["failed"] == 0 and fig["unrecovered"] == 0
    assert fig["wasted_resends"] == 0             # a valid answer waiting is taken, not resent
    assert fig["damaged_bursts"] > 200            # the line really was noisy (~3.6% of bursts)
    assert fig["cable_pulls"] > 20 and fig["sessions"] == fig["cable_pulls"] + 1   # each one a new session


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("HARDWIRE_SOAK") != "1",
                    reason="the 10^6-frame soak (~2-3 min) runs with `make soak`; the suite runs the 10^4 one")
def test_soak_million_frames():
    """`make soak` (HARDWIRE_SOAK_SEED=N for another line; default 7). Measured with the escalating
    retries (docs/uart_protocol.md, "Noise"), seed 7: 1,000,002 frames, 5,196 cable pulls (new
    sessions), no corrupt frame accepted, no wrong, lost or doubled token, no failed or unrecovered
    request, 27,832 resends, none wasted, histogram {0: 967958, 1: 26028, 2: 818, 3: 2} (seed 11:
    {0: 968078, 1: 25681, 2: 809, 3: 1}; before: up to 4 resends, 0-4 requests a run). From the
    third attempt on a frame goes out twice, so a further failure needs both exchanges to fail:
    a fourth resend is expected in about one run in 250."""
    fig = run_soak(1_000_000, seed=int(os.environ.get("HARDWIRE_SOAK_SEED", "7")))
    print(report(fig))
    assert fig["corrupt_accepted"] == 0
    assert fig["wrong_tokens"] == 0 and fig["tokens_lost"] == 0 and fig["tokens_doubled"] == 0
    assert fig["unrecovered"] == 0 and fig["failed"] == 0
    assert fig["wasted_resends"] == 0
    assert max(k for k in fig["histogram"] if isinstance(k, int)) <= 3     # the aim: 3 resends at most


def test_soak_streaming_short():
    """The same soak with the bridge pushing the tokens: stream frames cross the noisy line (a
    damaged one is dropped by its CRC, a lost one shows as a gap in the numbers, and the host
    reads those tokens by number), the cable is pulled right after a pushed frame (lost with
    it), and every generation still equals the golden one: nothing lost, doubled or reordered."""
    fig = run_soak(3_000, seed=2, stream=True)
    print(report(fig) + f"; stream frames sent {fig['stream_frames_sent']}, taken {fig['stream_frames_taken']}, "
          f"tokens {fig['tokens']}")
    assert fig["corrupt_accepted"] == 0
    assert fig["wrong_tokens"] == 0 and fig["tokens_lost"] == 0 and fig["tokens_doubled"] == 0
    assert fig["failed"] == 0 and fig["unrecovered"] == 0
    assert fig["stream_frames_sent"] > 500 and fig["stream_frames_taken"] > 0.8 * fig["stream_frames_sent"]
    assert fig["cable_pulls"] > 5 and fig["sessions"] == fig["cable_pulls"] + 1
