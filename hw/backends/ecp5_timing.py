"""Long paths of a synthesized ECP5 netlist in seconds, before place and route.

nextpnr reports one critical path per clock after an hour of placing and
routing; this ranks every register-to-register path of `synth.json` (Yosys
JSON, as `hardwire build` writes it) with rough ECP5 -6 delays, so the next
few paths to pipeline are known from a ten-minute synthesis. The delays are
estimates (a net costs 0.55 ns plus a fanout term, 3 ns more to or from a block
RAM or multiplier, no placement): on the routed 16 x 8 + LoRA core of generator
1.4 its worst path read 26.7 ns where nextpnr routed the same path in 25.1.
Use the ranking and the logic depth more than the absolute value.

    python -m hw.backends.ecp5_timing build/ulx3s-85f/synth.json --top 20
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------- delay model (ns)
CLK_TO_Q = {"TRELLIS_FF": 0.5, "DP16KD": 5.8, "TRELLIS_DPR16X4": 0.8}   # launch: clock to output
SETUP = 0.2
COMB = {"LUT4": 0.45, "PFUMX": 0.3, "L6MUX21": 0.3, "MULT18X18D": 3.8}   # input to output
LUTRAM_READ = 0.6            # TRELLIS_DPR16X4 RAD -> DO
CARRY_IN_OUT = 0.06          # CCU2C CIN -> COUT (dedicated carry wire, no net)
CARRY_IN_SUM = 0.35          # CCU2C CIN -> S0/S1
CARRY_LUT = 0.5              # CCU2C A/B/C/D -> COUT or S
OTHER = 0.5                  # any other combinational cell
SEQUENTIAL = ("TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4")     # their data inputs end paths
LAUNCH_ONLY = ("TRELLIS_FF", "DP16KD", "EHXPLLL")           # their outputs start paths, nothing passes
# Block RAMs and multipliers sit in fixed rows, so a net to or from one crosses the fabric
# once placed: 3.8-6.4 ns on the routed 16x8 + LoRA core (seventeenth session's pnr.log), where
# a fabric net costs under 1. The dominant term of that build's critical path (BRAM -> LUT ->
# MULT18X18D -> adder, 25.1 ns), invisible without it.
HARD_BLOCKS = ("DP16KD", "MULT18X18D")
HARD_NET = 3.0


def net_delay(fanout: int) -> float:
    return 0.55 + 0.18 * math.log2(1 + fanout)


def base_type(cell_type: str) -> str:
    """`$paramod$<hash>\\DP16KD` -> `DP16KD`."""
    return cell_type.rsplit("\\", 1)[-1]


@dataclass(frozen=True)
class TimedPath:
    arrival_ns: float
    endpoint: str                # cell.port
    hops: tuple[tuple[float, str, str], ...]   # (arrival, cell type, net name), launch first


class Netlist:
    """Drivers, sinks and arrival times of one flattened module."""

    def __init__(self, doc: dict, top: str | None = None):
        modules = doc["modules"]
        if top is None:
            tops = [n for n, m in modules.items() if m.get("attributes", {}).get("top")]
            top = tops[0] if tops else max(modules, key=lambda n: len(modules[n].get("cells", {})))
        mod = modules[top]
        self.cells = mod["cells"]
        self.names: dict[int, str] = {}
        for name, info in mod.get("netnames", {}).items():
            for b in info["bits"]:
                if isinstance(b, int):
                    cur = self.names.get(b)
                    if cur is None or (cur.startswith("$"), len(cur)) > (name.startswith("$"), len(name)):
                        self.names[b] = name
        self.driver: dict[int, tuple[str, str]] = {}
        self.fanout: collections.Counter[int] = collections.Counter()
        for cname, cell in self.cells.items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                for b in bits:
                    if not isinstance(b, int):
                        continue
                    if dirs.get(port) == "output":
                        self.driver[b] = (cname, port)
                    elif dirs.get(port) == "input":
                        self.fanout[b] += 1
        self._arrival: dict[int, float] = {}
        self._from: dict[int, int | None] = {}
        self._open: set[int] = set()

    def inputs(self, cell: dict):
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if dirs.get(port) == "input":
                for b in bits:
                    if isinstance(b, int):
                        yield port, b

    def at_pin(self, bit: int, sink_kind: str = "") -> float:
        return self.arrival(bit) + self.wire(bit, sink_kind)

    def wire(self, bit: int, sink_kind: str) -> float:
        """The net from `bit`'s driver to one sink of kind `sink_kind`."""
        drv = self.driver.get(bit)
        hard = sink_kind in HARD_BLOCKS or (drv is not None and base_type(self.cells[drv[0]]["type"]) in HARD_BLOCKS)
        return net_delay(self.fanout[bit]) + (HARD_NET if hard else 0.0)

    def arrival(self, bit: int) -> float:
        """Latest arrival at the driver's output of `bit`. Depth first with an explicit stack,
        so deep logic cannot overflow Python's; an input met again while open (a loop) counts 0."""
        stack = [(bit, False)]
        while stack:
            b, fanin_done = stack.pop()
            if b in self._arrival:
                continue
            if fanin_done:
                self._settle(b)
                continue
            self._open.add(b)
            stack.append((b, True))
            stack.extend((i, False) for _, i in self._fanin(b) if i not in self._arrival and i not in self._open)
        return self._arrival[bit]

    def _fanin(self, bit: int) -> list[tuple[str, int]]:
        """(port, bit) of the driver's inputs that reach `bit` combinationally: none for a
        register or block RAM output (it launches), only the read address for LUT RAM."""
        drv = self.driver.get(bit)
        if drv is None:
            return []
        cell = self.cells[drv[0]]
        kind = base_type(cell["type"])
        if kind in LAUNCH_ONLY:
            return []
        if kind == "TRELLIS_DPR16X4":
            return [(p, b) for p, b in self.inputs(cell) if p == "RAD"]
        return list(self.inputs(cell))

    def _settle(self, bit: int) -> None:
        best, via = 0.0, None
        drv = self.driver.get(bit)
        if drv is not None:
            cname, out_port = drv
            kind = base_type(self.cells[cname]["type"])
            best = CLK_TO_Q.get(kind, 0.0)
            for port, b in self._fanin(bit):
                got = self._arrival.get(b)
                if got is None:                 # still open: a loop, no contribution
                    continue
                if kind == "TRELLIS_DPR16X4":
                    t = got + self.wire(b, kind) + LUTRAM_READ
                elif kind == "CCU2C":
                    if port == "CIN":
                        t = got + (CARRY_IN_OUT if out_port == "COUT" else CARRY_IN_SUM)
                    elif out_port == "S0" and port.endswith("1"):
                        continue                # the upper half does not reach S0
                    else:
                        t = got + self.wire(b, kind) + CARRY_LUT
                else:
                    t = got + self.wire(b, kind) + COMB.get(kind, OTHER)
                if t > best:
                    best, via = t, b
        self._arrival[bit] = best
        self._from[bit] = via

    def paths(self) -> list[TimedPath]:
        """Every sequential input (register D/CE/LSR, block RAM and LUT RAM write side), longest first."""
        found = []
        for cname, cell in self.cells.items():
            kind = base_type(cell["type"])
            if kind not in SEQUENTIAL:
                continue
            for port, b in self.inputs(cell):
                if port.startswith("CLK") or port == "WCK" or (kind == "TRELLIS_DPR16X4" and port == "RAD"):
                    continue
                found.append((self.at_pin(b, kind) + SETUP, f"{cname}.{port}", b))
        found.sort(key=lambda f: -f[0])
        return [TimedPath(t, end, self._hops(b)) for t, end, b in found]

    def _hops(self, bit: int) -> tuple[tuple[float, str, str], ...]:
        hops, b = [], bit
        while b is not None:
            drv = self.driver.get(b)
            kind = base_type(self.cells[drv[0]]["type"]) if drv else "port"
            hops.append((self._arrival.get(b) or 0.0, kind, self.names.get(b, str(b))))
            b = self._from.get(b)
        return tuple(reversed(hops))


def group_key(endpoint: str) -> str:
    """One key per register bus or RAM: `...x_reg_TRELLIS_FF_Q_12.DI` and `..._Q_3.DI` group together."""
    key = re.sub(r"_TRELLIS_FF_Q.*|\.mem\..*|\.\w+$", "", endpoint)
    return re.sub(r"\[\d+\]", "[]", key)


def report(paths: list[TimedPath], top: int, prefix: str = "") -> str:
    """The `top` longest path groups (one path each), then a histogram of all endpoints."""
    lines, seen = [], set()
    hist = collections.Counter(int(p.arrival_ns) for p in paths)
    lines.append("endpoints per ns (rough ECP5 -6 delays; the worst read 26.7 where nextpnr routed 25.1):")
    lines.append("  " + ", ".join(f"{ns}: {n}" for ns, n in sorted(hist.items(), reverse=True)[:12]))
    for p in paths:
        key = group_key(p.endpoint)
        if key in seen:
            continue
        seen.add(key)
        members = sum(1 for q in paths if group_key(q.endpoint) == key) if len(seen) <= top else 0
        lines.append(f"\n{p.arrival_ns:5.1f} ns, {len(p.hops) - 1} cells: {key.removeprefix(prefix)} "
                     f"({members} endpoints)")
        for t, kind, name in p.hops:
            lines.append(f"    {t:5.1f}  {kind:15} {name.removeprefix(prefix)[:110]}")
        if len(seen) >= top:
            break
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("netlist", type=Path, help="synth.json of a synth_ecp5 run")
    ap.add_argument("--top", type=int, default=15, help="path groups to show")
    ap.add_argument("--prefix", default="board.accel.core.", help="dropped from names when printed")
    args = ap.parse_args(argv)
    try:
        doc = json.loads(args.netlist.read_text())
    except (OSError, ValueError) as exc:
        print(f"ecp5_timing: cannot read {args.netlist}: {exc}", file=sys.stderr)
        return 2
    print(report(Netlist(doc).paths(), args.top, args.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
