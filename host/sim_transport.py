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

from host.errors import DeviceError
from host.transport import Transport, check_u32


class SimTransport(Transport):
    """Control-interface accesses on a simulated build folder (hw/sim/session.py)."""

    token_burst = 1

    RUN_CYCLES = 1 << 20        # clock cycles per pause() at most (the harness stops earlier)

    def __init__(self, build_dir, session=None):
        self.build_dir = Path(build_dir)
        self.name = f"sim:{self.build_dir}"
        if session is None:
            if not self.build_dir.is_dir():
                raise DeviceError(f"{self.build_dir}: no such build folder; make one with "
                                  "`hardwire compile MODEL --out DIR`")
            try:
                mod = importlib.import_module("hw.sim.session")
            except ImportError as exc:
                raise DeviceError("the sim: transport needs the compiler's simulation harness "
                                  f"(hw/sim, part of the full hardwire install): {exc}") from exc
            try:
                session = mod.SimSession(self.build_dir)
            except Exception as exc:  # SimError, SimBuildError (HardwireError): report as a device error
                raise DeviceError(f"{self.name}: cannot start the simulation ({exc})") from exc
        self.session = session

    def read(self, addr: int) -> int:
        return int(self.session.read(addr // 4)) & 0xFFFFFFFF

    def write(self, addr: int, value: int) -> None:
        self.session.write(addr // 4, check_u32(value))

    def read_many(self, addr: int, count: int, increment: bool = False):
        words = [addr // 4 + (i if increment else 0) for i in range(count)]
        return [int(v) & 0xFFFFFFFF for v in self.session.reads(words)]

    def write_many(self, addr: int, values, increment: bool = False) -> None:
        lines = [f"W {addr // 4 + (i if increment else 0)} {check_u32(v)}" for i, v in enumerate(values)]
        if lines:
            self.session.commands(lines)

    def pause(self) -> None:
        self.session.run(self.RUN_CYCLES)

    def close(self) -> None:
        close = getattr(self.session, "close", None)
        if close is not None:
            close()
