"""Register access on the Verilator simulation of a generated build (hw/sim/).

The compiled harness and its Python driver, hw/sim/session.py (SimSession),
belong to the compiler; they are imported only when a sim: device is opened,
so the host package installs and imports on a board without hw/. The
simulated clock only runs when told to: `pause()` (the driver's "nothing new
yet") runs it until a token is available or the core is idle, so polling
costs no wall time.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from host.errors import DeviceError, DeviceTimeout
from host.transport import Transport, check_u32
from host.transports import Opened, typed_options


class SimTransport(Transport):
    """Control-interface accesses on a simulated build folder (hw/sim/session.py).

    timeout: seconds the harness may take to start and to answer each batch of accesses
    (None: the session's default, 120 s); past it the harness is stopped and DeviceTimeout
    raised, so a simulation that never answers cannot hang the driver. Every failure of the
    simulation is a DeviceError, like a board's."""

    token_burst = 1

    RUN_CYCLES = 1 << 20        # clock cycles per pause() at most (the harness stops earlier)
    IDLE_CYCLES = 256           # clock cycles a pause() of an idle device runs (a chain's links still work)

    def __init__(self, build_dir, session=None, timeout=None):
        self.build_dir = Path(build_dir)
        self.name = f"sim:{self.build_dir}"
        self._sim_errors = _sim_error_types()
        if session is None:
            if not self.build_dir.is_dir():
                raise DeviceError(f"{self.build_dir}: no such build folder; make one with "
                                  "`hardwire compile MODEL --out DIR`")
            try:
                mod = importlib.import_module("hw.sim.session")
            except ImportError as exc:
                raise DeviceError("the sim: transport needs the compiler's simulation harness "
                                  f"(hw/sim, part of the full hardwire install): {exc}") from exc
            kw = {} if timeout is None else {"timeout": float(timeout)}
            try:
                session = mod.SimSession(self.build_dir, **kw)
            except Exception as exc:  # SimError, SimBuildError (HardwireError): report as a device error
                kind = DeviceTimeout if isinstance(exc, TimeoutError) else DeviceError
                raise kind(f"{self.name}: cannot start the simulation ({exc})") from exc
        self.session = session

    def _call(self, fn, *args):
        """fn(*args), with the simulation's errors as DeviceError (DeviceTimeout for its watchdog)."""
        try:
            return fn(*args)
        except DeviceError:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                raise DeviceTimeout(f"{self.name}: {exc}") from exc
            if isinstance(exc, self._sim_errors):
                raise DeviceError(f"{self.name}: {exc}") from exc
            raise

    def read(self, addr: int) -> int:
        return int(self._call(self.session.read, addr // 4)) & 0xFFFFFFFF

    def write(self, addr: int, value: int) -> None:
        value = check_u32(value)
        self._call(self.session.write, addr // 4, value)

    def read_many(self, addr: int, count: int, increment: bool = False):
        words = [addr // 4 + (i if increment else 0) for i in range(count)]
        return [int(v) & 0xFFFFFFFF for v in self._call(self.session.reads, words)]

    def write_many(self, addr: int, values, increment: bool = False) -> None:
        lines = [f"W {addr // 4 + (i if increment else 0)} {check_u32(v)}" for i, v in enumerate(values)]
        if lines:
            self._call(self.session.commands, lines)

    def pause(self) -> None:
        ran = self._call(self.session.run, self.RUN_CYCLES)
        tick = getattr(self.session, "tick", None)
        if tick is not None and isinstance(ran, tuple) and ran[0] < self.IDLE_CYCLES:
            self._call(tick, self.IDLE_CYCLES)

    def close(self) -> None:
        close = getattr(self.session, "close", None)
        if close is not None:
            self._call(close)


def _sim_error_types() -> tuple:
    """The errors the simulation raises (hw's HardwireError), when hw is installed."""
    try:
        return (importlib.import_module("hw.errors").HardwireError,)
    except ImportError:
        return ()


def open_uri(target: str, options, timeout: float, metadata_for) -> Opened:
    """sim:<build folder>[?timeout=S] (host/transports.py); the metadata is looked for in the folder."""
    o = typed_options(options, {"timeout": float})
    return Opened(SimTransport(target, timeout=o.get("timeout")), metadata=lambda: metadata_for(target))
