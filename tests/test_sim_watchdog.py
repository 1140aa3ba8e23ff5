"""Issue 16 D: the simulation transport never hangs on a harness that does not answer.

A fake "Verilator harness" (a Python script) stands in for hw/sim/harness.cpp: one never
prints anything, one starts (READY, the session's own reads) and then stops answering.
Each must end in the project's own error within the deadline, and the process is stopped.
"""
from __future__ import annotations

import stat
import sys
import time

import pytest

from host import registers as R
from host.device import Device, open_device
from host.errors import DeviceError, DeviceTimeout
from host.sim_transport import SimTransport
from hw.sim import regs
from hw.sim import session as sim_session
from hw.sim.session import SimError, SimSession, SimTimeout

DEADLINE = 0.5


def fake_harness(tmp_path, answers: int, name: str = "harness") -> str:
    """An executable that prints READY (when answers >= 0) and answers `answers` commands
    (MAGIC for R 0, 0 for other reads, OK otherwise), then reads on without answering."""
    path = tmp_path / name
    path.write_text(f"""#!{sys.executable}
import sys, time
if {answers} < 0:
    time.sleep(20)
    sys.exit(0)
print("READY", flush=True)
left = {answers}
for line in sys.stdin:
    if left <= 0:
        time.sleep(20)
        sys.exit(0)
    left -= 1
    parts = line.split()
    if parts[:1] == ["R"]:
        print({regs.MAGIC_VALUE} if parts[1] == "{regs.MAGIC}" else 0, flush=True)
    else:
        print("OK", flush=True)
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# the commands SimSession sends while it opens: MAGIC, then the identity block
OPEN_COMMANDS = 1 + len(regs.IDENTITY) + 8


def test_a_harness_that_never_starts_is_stopped_after_the_deadline(tmp_path):
    exe = fake_harness(tmp_path, answers=-1)
    t0 = time.monotonic()
    with pytest.raises(SimTimeout, match=r"did not answer within 0.5 s and was stopped \(during its start\)"):
        SimSession(tmp_path, exe=exe, timeout=DEADLINE)
    assert time.monotonic() - t0 < 5                  # was: blocked on the READY line
    assert issubclass(SimTimeout, SimError) and issubclass(SimTimeout, TimeoutError)


def test_sim_transport_reports_a_dead_harness_as_device_timeout(tmp_path, monkeypatch):
    exe = fake_harness(tmp_path, answers=-1)
    monkeypatch.setattr(sim_session, "build_sim", lambda build_dir: exe)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="cannot start the simulation"):
        SimTransport(tmp_path, timeout=DEADLINE)
    with pytest.raises(DeviceTimeout):
        open_device(f"sim:{tmp_path}?timeout={DEADLINE}", metadata=False)
    assert time.monotonic() - t0 < 10


def test_first_read_of_a_harness_that_stops_answering_is_a_device_timeout(tmp_path):
    exe = fake_harness(tmp_path, answers=OPEN_COMMANDS)
    session = SimSession(tmp_path, exe=exe, timeout=DEADLINE)
    proc = session._proc
    transport = SimTransport(tmp_path, session=session)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="did not answer within"):
        Device(transport)                               # its first read: MAGIC
    assert time.monotonic() - t0 < 5                  # was: SimError, not a DeviceError
    assert proc.wait(timeout=5) is not None            # the watchdog stopped it
    with pytest.raises(DeviceError):                   # and the link stays an error, not a hang
        transport.read(R.STATUS)
    transport.close()


def test_a_harness_that_says_something_else_is_stopped(tmp_path, monkeypatch):
    path = tmp_path / "chatty"
    path.write_text(f"#!{sys.executable}\nimport time\nprint('hello', flush=True)\ntime.sleep(20)\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    spawned = []
    real_popen = sim_session.subprocess.Popen

    def popen(*a, **kw):
        spawned.append(real_popen(*a, **kw))
        return spawned[-1]

    monkeypatch.setattr(sim_session.subprocess, "Popen", popen)
    with pytest.raises(SimError, match="did not start \\('hello'\\)"):
        SimSession(tmp_path, exe=str(path), timeout=DEADLINE)
    assert spawned[0].poll() is not None                # not left running
