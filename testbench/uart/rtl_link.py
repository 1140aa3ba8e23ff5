"""The UART bridge's RTL behind a noisy bit-level line, as a byte pipe for the host's transport.

testbench/uart/soak_harness.cpp runs uart_soak_top (hw_uart_bridge + hw_uart_rx/tx in front of a
generated hardwire_top) in Verilator with an 8N1 line that inverts bit slots at a given BER in
both directions; `RtlLink` starts it as a child process in the design's build folder and speaks
its line protocol. `exchange(data)` sends the host's bytes and returns what the host's UART
received once the line and the bridge are quiet again; the simulation only runs while the host
sends or pauses, so a soak costs simulated cycles, not wall time.

The link also keeps what the host cannot see: the exact bytes the bridge transmitted (before the
noise) and the seq and CRC field of every frame it decided on. Pairing the two in order gives
`log`: (request seq, request CRC bytes) -> the response payload the bridge built for it (NACKs
excluded), which tests/test_serial_soak.py's CheckedTransport compares with every answer the
transport accepts.
"""
from __future__ import annotations

import subprocess
from collections import deque
from pathlib import Path

from host.errors import FrameError
from host.framing import decode_frame
from hw.errors import HardwireError
from hw.links.uart import BOARD_RTL, BRIDGE_RTL
from hw.sim.build import CFLAGS, VERILATOR_FLAGS, build_executable
from hw.tools import VERILATOR_COVERAGE_FLAGS, coverage_dir, coverage_plusarg

HERE = Path(__file__).resolve().parent
RTL = HERE.parents[1] / "hw" / "rtl"
HARNESS = HERE / "soak_harness.cpp"
TOP = "uart_soak_top"
# 3 Mbaud from 40 MHz (docs/uart_protocol.md "Baud rate"): the fewest clocks per bit a board uses,
# so the bridge's processing between bytes is as long, in bit times, as on the fastest board
CLKS_PER_BIT = 13
T_NACK = 0x05
T_STREAM = 0x07                 # pushed by the bridge unasked: answers no decision


class LinkError(HardwireError):
    """The soak harness failed or answered something unexpected."""


def build_soak_sim(core_sources: list[Path]) -> Path:
    """The harness executable for a generated hardwire_top (its Verilog sources), built once."""
    sources = [*map(Path, core_sources), *(RTL / n for n in BRIDGE_RTL), BOARD_RTL, HERE / "uart_soak_top.v"]
    flags = [*VERILATOR_FLAGS, f"-GCLKS_PER_BIT={CLKS_PER_BIT}",
             *(VERILATOR_COVERAGE_FLAGS if coverage_dir() is not None else [])]
    # the harness's bit timing must equal the top's parameter: one constant sets both
    return build_executable(sources, flags, "uart_soak", TOP, cflags=f"{CFLAGS} -DCLKS_PER_BIT={CLKS_PER_BIT}",
                            top=TOP, harness=HARNESS, exe_name="uart_soak_sim")


class RtlLink:
    """One running soak harness. `rom_folder`: the design's build folder (it holds rom/)."""

    def __init__(self, exe: Path, rom_folder: Path, ber: float, seed: int, idle_bits: int = 20,
                 init_seed: int = 1):
        args = [str(exe), "--ber", repr(float(ber)), "--seed", str(int(seed)), "--idle-bits", str(int(idle_bits)),
                "+verilator+rand+reset+2", f"+verilator+seed+{int(init_seed)}", *coverage_plusarg("uart_soak")]
        self._proc = subprocess.Popen(args, cwd=rom_folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1)
        if self._readline() != "READY":
            raise LinkError("the soak harness did not start")
        self.log: dict = {}                 # (seq, CRC bytes) -> response payload (no CRC), NACKs excluded
        self.answered: list = []            # keys of `log` the last exchange answered
        self.bridge_bad_frames = 0          # frames the bridge transmitted that do not decode: a bridge bug
        self.nacks = 0                      # NACKs the bridge sent
        self.exchanges = 0
        self.stream_frames = 0              # stream frames the bridge sent (tokens pushed)
        self._checks: deque = deque()       # decisions whose response has not been seen whole yet
        self._sent = bytearray()            # the bridge's clean bytes not yet paired

    def exchange(self, data: bytes) -> bytes:
        """Send `data` from the host; the bytes the host's UART received until the line was quiet."""
        return self._run(f"X {bytes(data).hex()}")

    def idle(self, cycles: int) -> bytes:
        """Let the device run `cycles` clock cycles with the line idle (noise still applies)."""
        return self._run(f"I {int(cycles)}")

    def stats(self) -> dict:
        self._send("S")
        parts = self._readline().split()
        if len(parts) != 5 or parts[0] != "STATS":
            raise LinkError(f"the soak harness answered {' '.join(parts)!r} to S")
        cycles, slots, to_device, to_host = map(int, parts[1:])
        return {"cycles": cycles, "bit_slots": slots, "flips_to_device": to_device, "flips_to_host": to_host}

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._send("Q")
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()

    # ------------------------------------------------------------ protocol
    def _run(self, command: str) -> bytes:
        self._send(command)
        parts = self._readline().split()
        if len(parts) != 4 or parts[0] != "OK":
            raise LinkError(f"the soak harness answered {' '.join(parts)!r}")
        received, sent, checks = (b"" if p == "-" else p for p in parts[1:])
        self.exchanges += 1
        self.answered = []
        for item in (checks.split(",") if checks else []):
            seq, crc = item.split("/")
            # h_tail shifts each byte in from the top: its little-endian bytes are the frame's last four
            self._checks.append((int(seq, 16), int(crc, 16).to_bytes(4, "little")))
        self._sent += bytes.fromhex(sent) if sent else b""
        self._pair()
        return bytes.fromhex(received) if received else b""

    def _pair(self) -> None:
        """Match each complete frame the bridge sent with the decision it answers (in order)."""
        while True:
            start = next((i for i, b in enumerate(self._sent) if b), None)
            if start is None:
                return
            end = self._sent.find(0, start)
            if end < 0:
                return
            wire = bytes(self._sent[start:end])
            del self._sent[:end]
            try:
                pushed = decode_frame(wire, max_payload=1024).type == T_STREAM
            except FrameError:
                pushed = False
            if pushed:
                self.stream_frames += 1
                continue
            if not self._checks:
                self.bridge_bad_frames += 1     # a frame that answers no decision
                continue
            key = self._checks.popleft()
            try:
                frame = decode_frame(wire, max_payload=1024)
            except FrameError:
                self.bridge_bad_frames += 1
                continue
            if frame.type == T_NACK:
                self.nacks += 1
                continue
            self.log[key] = bytes([frame.seq, frame.type]) + frame.payload
            self.answered.append(key)

    def _send(self, line: str) -> None:
        if self._proc.poll() is not None:
            raise LinkError(f"the soak harness exited ({self._proc.returncode})")
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def _readline(self) -> str:
        line = self._proc.stdout.readline()
        if not line:
            raise LinkError(f"the soak harness ended (exit {self._proc.poll()})")
        return line.strip()
