"""host/transport.py's defaults (single accesses behind the bursts, read_block's runs, value checks)
and host/sim_transport.py's error mapping over a stand-in simulation session (the RTL session is
tests/test_host_e2e_sim.py's): its watchdog is a DeviceTimeout, its errors DeviceErrors, others
propagate; a missing or unusable build folder is refused with what to do."""
from __future__ import annotations

import time

import pytest

from host.errors import DeviceError, DeviceTimeout
from host.sim_transport import SimTransport
from host.transport import Transport, check_u32
from hw.errors import HardwireError


class Regs(Transport):
    """A register file: single accesses only, each logged."""

    name = "regs"

    def __init__(self):
        self.regs, self.log, self.closed = {}, [], False

    def read(self, addr):
        self.log.append(("r", addr))
        return self.regs.get(addr, addr * 10)

    def write(self, addr, value):
        self.log.append(("w", addr, value))
        self.regs[addr] = value

    def close(self):
        self.closed = True


def test_bursts_fall_back_to_single_accesses():
    t = Regs()
    t.write_many(0x40, [1, 2, 3])
    assert t.regs == {0x40: 3} and len(t.log) == 3               # one FIFO register
    t.write_many(0x10, [7, 8], increment=True)
    assert t.read_many(0x10, 3, increment=True) == [7, 8, 0x18 * 10]
    assert t.read_many(0x40, 2) == [3, 3]
    t.log.clear()
    assert t.read_block([0x0, 0x4, 0x8, 0x20, 0x28, 0x2C]) == {0x0: 0, 0x4: 40, 0x8: 80, 0x20: 320, 0x28: 400,
                                                             0x2C: 440}
    assert [a for _, a in t.log] == [0x0, 0x4, 0x8, 0x20, 0x28, 0x2C] and t.stats() == {}
    with t as same:
        assert same is t and repr(t) == "<Regs regs>"
    assert t.closed


def test_the_base_transport_has_no_access_and_pauses_by_its_interval():
    t = Transport()
    with pytest.raises(NotImplementedError):
        t.read(0)
    with pytest.raises(NotImplementedError):
        t.write(0, 1)
    t.close()                                                   # nothing to release
    t0 = time.monotonic()
    t.pause()
    assert time.monotonic() - t0 < 0.05                         # 0: no sleep
    t.poll_interval = 0.1
    t0 = time.monotonic()
    t.pause()
    assert time.monotonic() - t0 >= 0.09


def test_check_u32():
    assert check_u32(-1) == 0xFFFFFFFF and check_u32(0xFFFFFFFF) == 0xFFFFFFFF and check_u32(5) == 5
    with pytest.raises(ValueError, match="LORA_DATA 4294967296 does not fit in 32 bits"):
        check_u32(1 << 32, "LORA_DATA")
    with pytest.raises(ValueError, match="does not fit"):
        check_u32(-(1 << 31) - 1)


class Session:
    """What SimTransport calls on hw.sim.session.SimSession; `fail` makes every call raise it."""

    def __init__(self):
        self.mem, self.calls, self.fail = {}, [], None

    def _check(self, what):
        self.calls.append(what)
        if self.fail is not None:
            raise self.fail

    def read(self, word):
        self._check("read")
        return self.mem.get(word, -1)                           # -1: masked to 32 bits

    def write(self, word, value):
        self._check("write")
        self.mem[word] = value

    def reads(self, words):
        self._check("reads")
        return [self.mem.get(w, 0) for w in words]

    def commands(self, lines):
        self._check(("commands", tuple(lines)))

    def run(self, cycles):
        self._check(("run", cycles))

    def close(self):
        self._check("close")


def test_sim_transport_maps_the_session_and_its_errors(tmp_path):
    s = Session()
    t = SimTransport(tmp_path, session=s)
    assert t.name == f"sim:{tmp_path}"
    t.write(0x10, -2)
    assert s.mem == {4: 0xFFFFFFFE} and t.read(0x10) == 0xFFFFFFFE and t.read(0x14) == 0xFFFFFFFF
    assert t.read_many(0x10, 2, increment=True) == [0xFFFFFFFE, 0] and t.read_many(0x10, 2) == [0xFFFFFFFE] * 2
    t.write_many(0x20, [1, 2], increment=True)
    t.write_many(0x20, [])                                      # nothing to send: no call
    t.pause()
    assert s.calls[-2:] == [("commands", ("W 8 1", "W 9 2")), ("run", SimTransport.RUN_CYCLES)]
    s.fail = TimeoutError("watchdog: 100 cycles without progress")
    with pytest.raises(DeviceTimeout, match=r"sim:.*: watchdog: 100 cycles"):
        t.read(0)
    s.fail = HardwireError("the simulation exited")
    with pytest.raises(DeviceError, match="the simulation exited") as exc:
        t.write(0, 1)
    assert type(exc.value) is DeviceError
    s.fail = DeviceTimeout("already a device error")
    with pytest.raises(DeviceTimeout, match="already a device error"):
        t.pause()
    s.fail = KeyError("a bug")
    with pytest.raises(KeyError):                               # not the simulation's: not hidden
        t.read_many(0, 1)
    s.fail = None
    t.close()
    assert s.calls[-1] == "close"


def test_sim_transport_refuses_a_missing_or_unusable_build_folder(tmp_path):
    with pytest.raises(DeviceError, match="no such build folder; make one with `hardwire compile MODEL --out DIR`"):
        SimTransport(tmp_path / "none")
    with pytest.raises(DeviceError, match=r"cannot start the simulation \("):
        SimTransport(tmp_path, timeout=1)                       # a folder without a design
