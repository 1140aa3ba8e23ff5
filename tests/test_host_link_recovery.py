"""Nothing lost on the link (issue 16): the numbered token read (TOKEN_ACK, TOKEN_COUNT,
TOKEN_WINDOW) lets a generation survive a lost answer, a dead port and a new session (new
SerialTransport, new random seq) without losing or doubling a token; the host never holds the
device's output FIFO fuller than it is, and a device that was reset meanwhile is refused.

Register-level fakes (tests/host_fakes.py: FakeCore's TokenRing, FakeBridge); the RTL version is
tests/test_host_e2e_uart.py (a port closed and reopened mid-generation against Verilator)."""
from __future__ import annotations

import pytest

from host import registers as R
from host.device import Device, TokenSequenceError
from host.errors import DeviceError
from host.serial_transport import T_READ, SerialTransport
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeBridge, FakeCore, FakeSerial, FakeTransport

K_MAX = 8
PROMPT, N, KW = [1, 5, 9], 12, {"temperature": 3.0, "top_k": 5, "seed": 11}


@pytest.fixture(scope="module")
def model():
    return random_int_model(5)


@pytest.fixture(scope="module")
def want(model):
    return list(GoldenModel(model, k_max=K_MAX).generate(PROMPT, N, **KW))


def is_window_read(addr: int) -> bool:
    return R.TOKEN_WINDOW <= addr < R.TOKEN_WINDOW + 4 * R.WINDOW_WORDS


class LossyTransport(FakeTransport):
    """FakeTransport whose link dies at the given window reads (counted over every transport
    on the same core): the device executes the read, its answer is lost, and every later
    access fails (a pulled cable)."""

    def __init__(self, core, fail_at=(), token_burst: int = 4):
        super().__init__(core, token_burst=token_burst)
        if fail_at:
            core.fail_at = set(fail_at)
        self.dead = False

    def _check(self):
        if self.dead:
            raise DeviceError("fake: the port is gone (cannot read from the serial port)")

    def read(self, addr):
        self._check()
        return super().read(addr)

    def write(self, addr, value):
        self._check()
        super().write(addr, value)

    def read_many(self, addr, count, increment=False):
        self._check()
        words = super().read_many(addr, count, increment)
        if is_window_read(addr):
            self.core.window_reads = getattr(self.core, "window_reads", 0) + 1
            if self.core.window_reads in getattr(self.core, "fail_at", ()):
                self.dead = True            # executed, answer lost, link gone
                self._check()
        return words


@pytest.mark.parametrize("fail_at", [(1,), (2,), (2, 3), (1, 3, 5)])
def test_generation_survives_a_dead_link_by_reopening(model, want, fail_at):
    core = FakeCore(model, k_max=K_MAX, out_depth=4)
    opened = []

    def reopen():
        opened.append(LossyTransport(core))
        return opened[-1]

    dev = Device(LossyTransport(core, fail_at), reopen=reopen)
    toks = list(dev.generate(PROMPT, N, **KW))
    assert [t.id for t in toks] == want                        # none lost, none twice
    assert [t.index for t in toks] == list(range(N))
    assert dev.last_run.reconnects == len(fail_at) == len(opened)
    assert dev.last_run.stopped_by == "max_new_tokens"
    assert len(core.out) == 0                                   # everything acknowledged at the end


def test_without_reopen_the_run_is_kept_for_resume(model, want):
    core = FakeCore(model, k_max=K_MAX, out_depth=4)
    dev = Device(LossyTransport(core, fail_at=(2,)))
    got = []
    with pytest.raises(DeviceError, match=r"dev.reconnect\(\) then dev.resume\(\)"):
        for t in dev.generate(PROMPT, N, **KW):
            got.append(t)
    assert dev.last_run.stopped_by == "link"
    assert (R.CONTROL, R.CTRL_ABORT) not in core.writes        # the device keeps generating
    with pytest.raises(DeviceError, match="cannot reopen its link by itself"):
        dev.reconnect()
    dev.reconnect(LossyTransport(core))
    got += list(dev.resume())
    assert [t.id for t in got] == want and [t.index for t in got] == list(range(N))
    with pytest.raises(DeviceError, match="no interrupted generation to resume"):
        dev.resume()


def test_a_device_reset_while_the_link_was_down_is_refused(model):
    core = FakeCore(model, k_max=K_MAX, out_depth=4)
    dev = Device(LossyTransport(core, fail_at=(2,)))
    gen = dev.generate(PROMPT, N, **KW)
    with pytest.raises(DeviceError):
        list(gen)
    core.write(R.CONTROL // 4, R.CTRL_RESET_STATE)               # someone else reset the board
    dev.reconnect(LossyTransport(core))
    with pytest.raises(TokenSequenceError, match="reset or reprogrammed"):
        list(dev.resume())


def test_another_board_on_the_port_is_refused(model):
    core = FakeCore(model, k_max=K_MAX)
    dev = Device(LossyTransport(core, fail_at=(1,)))
    with pytest.raises(DeviceError):
        list(dev.generate(PROMPT, N))
    other = FakeCore(random_int_model(1), k_max=K_MAX)
    with pytest.raises(DeviceError, match="not model .* it ran before; another board or bitstream"):
        dev.reconnect(FakeTransport(other))


class CountingCore(FakeCore):
    """Records the most tokens the output FIFO ever held."""
    most = 0

    def _step(self):
        super()._step()
        self.most = max(self.most, len(self.out))


@pytest.mark.parametrize("burst", [1, 3, 32])
def test_backpressure_never_drops_and_never_overfills(model, burst):
    core = CountingCore(model, k_max=K_MAX, out_depth=4)
    dev = Device(FakeTransport(core, token_burst=burst))
    got = dev.generate_ids([1], 14)
    assert got == list(GoldenModel(model, k_max=K_MAX).generate([1], 14))
    assert 2 <= core.most <= 4 and len(core.out) == 0


def test_token_pop_still_pops(model):
    core = FakeCore(model, k_max=K_MAX)
    core.out.extend([7, 8])
    t = FakeTransport(core)
    assert t.read(R.TOKEN_POP) == R.TOKEN_VALID | 7
    assert t.read_many(R.TOKEN_ACK, 2, increment=True) == [1, 2]
    assert t.read(R.TOKEN_POP) == R.TOKEN_VALID | 1 << R.TOKEN_NO_SHIFT | 8
    assert t.read(R.TOKEN_POP) == 0


def test_a_bitstream_without_the_numbered_read_is_read_by_popping(model):
    """Bitstreams built before the numbered read show no token in TOKEN_WINDOW: the host says so
    (a warning naming the rebuild) and pops their tokens, the same tokens, for this and later runs."""
    class OldCore(FakeCore):
        def read(self, word):
            if 4 * word in (R.TOKEN_ACK, R.TOKEN_COUNT) or 4 * word >= R.TOKEN_WINDOW:
                self._step()
                return 0
            return super().read(word)

    dev = Device(FakeTransport(OldCore(model, k_max=K_MAX)), timeout=5)
    want = list(GoldenModel(model, k_max=K_MAX).generate([1], 6))
    with pytest.warns(RuntimeWarning, match="predates the numbered token read.*Rebuild"):
        assert dev.generate_ids([1], 6) == want
    assert not dev.numbered_read
    assert dev.generate_ids([1], 6) == want       # the next run pops from the start


# ---------------------------------------------------------------- over the serial protocol

class CutSerial(FakeSerial):
    """A FakeSerial whose cable is pulled right after the bridge executed the `cut_at`-th READ
    of the token registers: that answer never arrives and the port raises from then on."""

    def __init__(self, bridge, cut_at=None, window=True):
        super().__init__(bridge)
        self.cut_at, self.window, self.reads, self.gone = cut_at, window, 0, False

    def write(self, data):
        if self.gone:
            raise OSError(5, "Input/output error")
        n = super().write(data)
        from host.framing import decode_frame
        try:
            f = decode_frame(bytes(data).strip(b"\x00"))
        except DeviceError:
            return n
        if f.type != T_READ:
            return n
        if is_window_read(4 * f.payload[0]) if self.window else 4 * f.payload[0] == R.TOKEN_POP:
            self.reads += 1
            if self.reads == self.cut_at:
                self.bridge.pending.clear()          # the answer is lost on the way
                self.gone = True
        return n

    @property
    def in_waiting(self):
        if self.gone:
            raise OSError(5, "Input/output error")
        return len(self.bridge.pending)


def serial(port) -> SerialTransport:
    return SerialTransport(port, baudrate=10_000_000, timeout=0.01, retries=1, settle=0.001)


@pytest.mark.parametrize("cut_at", [1, 2, 3])
def test_a_new_serial_session_after_a_pulled_cable_loses_nothing(model, want, cut_at):
    """The case TOKEN_POP could not survive: the last read's answer is lost and the next session
    starts from a new random seq, so the bridge's replay cache cannot answer it."""
    core = FakeCore(model, k_max=K_MAX, out_depth=8)
    bridge = FakeBridge(core)
    port = CutSerial(bridge, cut_at)
    dev = Device(serial(port), reopen=lambda: serial(FakeSerial(bridge)))
    assert dev.generate_ids(PROMPT, N, **KW) == want
    assert port.gone
    assert dev.last_run.reconnects == 1 and dev.transport.stats()["failed"] == 0


def test_token_pop_loses_the_answer_a_new_session_cannot_replay(model, want):
    """Why the window exists: popping through TOKEN_POP, the same cut loses tokens."""
    core = FakeCore(model, k_max=K_MAX, out_depth=16)
    bridge = FakeBridge(core)
    t = serial(CutSerial(bridge, cut_at=1, window=False))
    Device(t).generate  # the device opens fine
    t.write_many(R.PROMPT_LEN, [len(PROMPT), N, R.inv_temperature_q8(KW["temperature"]), KW["top_k"],
                                KW["seed"], R.STOP_NONE], increment=True)
    t.write_many(R.PROMPT_PUSH, PROMPT)
    t.write(R.CONTROL, R.CTRL_START)
    while core.busy:
        t.read(R.STATUS)
    with pytest.raises(DeviceError):
        t.read_many(R.TOKEN_POP, 4)                  # pops 4; the answer is lost with the cable
    t2 = serial(FakeSerial(bridge))
    got = [v & R.TOKEN_MASK for v in t2.read_many(R.TOKEN_POP, N) if v & R.TOKEN_VALID]
    assert got == want[4:]                           # the first four are gone
