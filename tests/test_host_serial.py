"""host/serial_transport.py against a Python stand-in of the UART bridge: bursts, retries on
damaged frames without doubled side effects, DeviceTimeout on silence, and a real pty."""
from __future__ import annotations

import time

import pytest

from host import registers as R
from host.device import open_device
from host.errors import DeviceError, DeviceTimeout
from host.serial_transport import SerialTransport
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
    # the NACK carries our seq (then an immediate resend) or, when the damage hit the
    # COBS structure, seq 0 (ignored: the resend follows the deadline)
    assert t.stats()["resends"] == 3 and t.stats()["nacks"] + t.stats()["stale_frames"] == 1


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
    with pytest.raises(DeviceError, match=r"refused 3 of 3 times \((malformed frame|bad CRC)"):
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
