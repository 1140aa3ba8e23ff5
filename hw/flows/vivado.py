"""The Vivado flow for the Zynq boards (PYNQ-Z2, KV260), and a Yosys resource estimate for them.

Vivado does not run here: `write_vivado_flow` writes a self-contained Vivado
project script into a `hardwire compile` build folder, to be run on a machine
with Vivado (2020.2 or later), and `xilinx_estimate` gives the resources with
Yosys `synth_xilinx` meanwhile.

    build_dir/rtl/hardwire_top.v, rom/, build.json   hardwire compile (hw/rtlgen)
    build_dir/hardwire_axil.v        hardwire_top behind hw_axil_bridge, AXI4-Lite slave `s_axi`
    build_dir/vivado/rtl/*.v, *.vh   copies of the static library and its headers (the folder travels alone)
    build_dir/vivado/hardwire_bd.tcl the block design: PS, AXI interconnect, reset, hardwire_0
    build_dir/build.tcl              project, sources, block design, bitstream, .bit + .hwh copies
    build_dir/run_vivado.sh          vivado -mode batch -source build.tcl
    build_dir/hardwire.hardwire.json host metadata beside the bitstream-to-be (pynq_ip set),
    build_dir/tokenizer.bin          with the tokenizer it names
    -> after Vivado: build_dir/hardwire.bit, build_dir/hardwire.hwh (side by side for pynq.Overlay)

The block design is what host/pynq_transport.py expects: one AXI4-Lite slave
named `hardwire_0` (its name and its module type both say "hardwire"), a 64 KiB
window (the register map needs 0x400 bytes), no DMA and no interrupt: the driver
polls STATUS over MMIO. The PS drives the design clock (FCLK0 / pl_clk0) at the
board clock; PYNQ sets that clock from the .hwh when it loads the overlay.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from hw.errors import HardwireError
from hw.links.axi import BRIDGE_RTL
from hw.tools import verilog_includes

REPO_ROOT = Path(__file__).resolve().parents[2]
WRAPPER = "hardwire_axil"           # module (and file) name of the AXI4-Lite wrapper
IP_INSTANCE = "hardwire_0"          # the cell in the block design: PYNQ's ip_dict key
BD_NAME = "hardwire_bd"
PROJECT = "hardwire"
OUTPUT = "hardwire"                 # build_dir/hardwire.bit + hardwire.hwh
AXI_ADDR_WIDTH = 16                 # 64 KiB window; hw_axil_bridge answers SLVERR above 0x3FF
AXI_RANGE = "64K"
MIN_VIVADO = "2020.2"               # .gen/ folder, assign_bd_address -offset/-range


class VivadoFlowError(HardwireError):
    """The Vivado project cannot be written or estimated for this build folder."""


@dataclass(frozen=True)
class ZynqPS:
    family: str         # zynq7 | zynqmp
    yosys_family: str   # synth_xilinx -family
    ip: str             # processing system IP name (version left to Vivado: the latest installed)
    cell: str
    master: str         # the PS master interface the accelerator hangs on
    master_clock: str   # that interface's clock pin
    clock: str          # fabric clock out
    reset: str          # fabric reset out (active low)
    base: int           # where the 64 KiB window goes in the PS address map


PS = {
    "zynq7": ZynqPS("zynq7", "xc7", "processing_system7", "processing_system7_0", "M_AXI_GP0",
                    "M_AXI_GP0_ACLK", "FCLK_CLK0", "FCLK_RESET0_N", 0x43C0_0000),
    "zynqmp": ZynqPS("zynqmp", "xcup", "zynq_ultra_ps_e", "zynq_ultra_ps_e_0", "M_AXI_HPM0_FPD",
                     "maxihpm0_fpd_aclk", "pl_clk0", "pl_resetn0", 0xA000_0000),
}
# board files (get_board_parts patterns) whose PS preset is applied when Vivado has them installed
BOARD_FILES = {"pynq-z2": "*:pynq-z2:*", "pynq-z1": "*:pynq-z1:*", "kv260": "*:kv260_som:*"}


def family_of(part: str) -> str:
    """zynq7 for xc7z*, zynqmp for xczu* / xck26 / xck24; VivadoFlowError otherwise."""
    p = part.lower()
    if p.startswith("xc7z"):
        return "zynq7"
    if p.startswith(("xczu", "xck26", "xck24")):
        return "zynqmp"
    raise VivadoFlowError(f"part {part!r} is not a Zynq-7000 (xc7z...) or Zynq UltraScale+ (xczu..., xck26...) "
                          "part; the Vivado flow builds for the Zynq boards only (hw/boards.py)")


def design_sources(build_dir: Path) -> list[Path]:
    """The static library files named in build.json, the AXI bridge and the generated top."""
    doc = _build_json(build_dir)
    static = [REPO_ROOT / p for p in doc["static_rtl"]]
    bridge = REPO_ROOT / "hw" / "rtl" / BRIDGE_RTL
    if bridge not in static:
        static.append(bridge)
    return [*static, build_dir / doc["top"]]


def _build_json(build_dir: Path) -> dict:
    path = Path(build_dir) / "build.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VivadoFlowError(f"{path}: not readable ({exc}); run `hardwire compile MODEL --out "
                              f"{build_dir}` first") from exc


# ---------------------------------------------------------------- the AXI4-Lite wrapper

# the AXI4-Lite slave's channels: (direction, width, signal), in IP integrator's order
AXI_PORTS = (
    ("input", "A", "AWADDR"), ("input", 1, "AWVALID"), ("output", 1, "AWREADY"),
    ("input", 32, "WDATA"), ("input", 4, "WSTRB"), ("input", 1, "WVALID"), ("output", 1, "WREADY"),
    ("output", 2, "BRESP"), ("output", 1, "BVALID"), ("input", 1, "BREADY"),
    ("input", "A", "ARADDR"), ("input", 1, "ARVALID"), ("output", 1, "ARREADY"),
    ("output", 32, "RDATA"), ("output", 2, "RRESP"), ("output", 1, "RVALID"), ("input", 1, "RREADY"),
)


def _axi_ports(addr_width: int) -> str:
    """The s_axi_* port declarations, each with its X_INTERFACE_INFO (the address ports carry the
    interface's X_INTERFACE_PARAMETER as well); the last one without a comma."""
    lines = []
    for n, (direction, width, sig) in enumerate(AXI_PORTS):
        lines.append(f'    (* X_INTERFACE_INFO = "xilinx.com:interface:aximm:1.0 s_axi {sig}" *)')
        if sig == "AWADDR":
            lines.append('    (* X_INTERFACE_PARAMETER = "PROTOCOL AXI4LITE, DATA_WIDTH 32, '
                         f'ADDR_WIDTH {addr_width}" *)')
        rng = "[C_S_AXI_ADDR_WIDTH-1:0]" if width == "A" else "" if width == 1 else f"[{width - 1}:0]"
        comma = "," if n < len(AXI_PORTS) - 1 else ""
        lines.append(f"    {direction + ' ':7s}wire {rng:24s} s_axi_{sig.lower()}{comma}".rstrip())
    return "\n".join(lines)


def wrapper_text(board: str, part: str) -> str:
    """hardwire_axil.v: ports named as Vivado's IP integrator infers an AXI4-Lite slave `s_axi`
    (s_axi_aclk / s_axi_aresetn its clock and active-low reset), stated by X_INTERFACE attributes too."""
    a = AXI_ADDR_WIDTH
    return f"""// Generated by hw/flows/vivado.py for {board} ({part}): do not edit.
`resetall
`timescale 1ns / 1ps
`default_nettype none

// {WRAPPER}: the generated hardwire_top behind hw_axil_bridge, as one AXI4-Lite slave
// (s_axi) for the Zynq block design (a module reference, hw/flows/vivado.py). The
// register map is the first 0x400 bytes of the window (docs/register_map.md).
module {WRAPPER} #(
    parameter ROM_DIR            = "rom",   // folder of the hex files (build.tcl sets the absolute path)
    parameter C_S_AXI_ADDR_WIDTH = {a}      // {1 << a >> 10} KiB window
) (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 s_axi_aclk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axi, ASSOCIATED_RESET s_axi_aresetn" *)
    input  wire                          s_axi_aclk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 s_axi_aresetn RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input  wire                          s_axi_aresetn,
{_axi_ports(a)}
);

    wire        rst = !s_axi_aresetn;   // proc_sys_reset's output is synchronous to s_axi_aclk
    wire        reg_wr, reg_rd;
    wire [7:0]  reg_addr;
    wire [31:0] reg_wdata, reg_rdata;
    wire        busy, token_avail;      // STATUS bits, also readable over the bus

    hw_axil_bridge #(.ADDR_WIDTH(C_S_AXI_ADDR_WIDTH)) bridge (
        .clk(s_axi_aclk), .rst(rst),
        .s_axil_awaddr(s_axi_awaddr), .s_axil_awvalid(s_axi_awvalid), .s_axil_awready(s_axi_awready),
        .s_axil_wdata(s_axi_wdata), .s_axil_wstrb(s_axi_wstrb), .s_axil_wvalid(s_axi_wvalid),
        .s_axil_wready(s_axi_wready), .s_axil_bresp(s_axi_bresp), .s_axil_bvalid(s_axi_bvalid),
        .s_axil_bready(s_axi_bready), .s_axil_araddr(s_axi_araddr), .s_axil_arvalid(s_axi_arvalid),
        .s_axil_arready(s_axi_arready), .s_axil_rdata(s_axi_rdata), .s_axil_rresp(s_axi_rresp),
        .s_axil_rvalid(s_axi_rvalid), .s_axil_rready(s_axi_rready),
        .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata));

    hardwire_top #(.ROM_DIR(ROM_DIR)) accel (
        .clk(s_axi_aclk), .rst(rst), .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata), .busy(busy), .token_avail(token_avail));

endmodule

`resetall
"""


def write_wrapper(build_dir: Path, board: str = "zynq", part: str = "") -> Path:
    path = Path(build_dir) / f"{WRAPPER}.v"
    path.write_text(wrapper_text(board, part or "any Xilinx part"))
    return path


# ---------------------------------------------------------------- Tcl

def _tcl_list(items: list[str], indent: str = "    ") -> str:
    return " \\\n".join(f"{indent}{i}" for i in items)


def bd_tcl(ps: ZynqPS, clock_mhz: float) -> str:
    """hardwire_bd.tcl: `proc create_hardwire_bd {rom_dir}` builds the block design in the open project."""
    if ps.family == "zynq7":
        ps_config = f"""    # PS7: the board preset when the PYNQ-Z2 board files are installed, else a minimal PS
    # (PYNQ's boot image configured DDR and MIO; the PL bitstream only needs GP0, FCLK0, its reset)
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \\
        -config [list make_external "FIXED_IO, DDR" apply_board_preset $preset Master Disable Slave Disable] $ps
    set_property -dict [list \\
        CONFIG.PCW_USE_M_AXI_GP0 {{1}} \\
        CONFIG.PCW_EN_CLK0_PORT {{1}} \\
        CONFIG.PCW_EN_RST0_PORT {{1}} \\
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz \\
    ] $ps"""
    else:
        ps_config = f"""    # PS8: the board preset when the KV260 board files are installed; then only HPM0_FPD
    # (32 bits wide: no width converter for a 32-bit slave), pl_clk0 and its reset
    if {{$preset}} {{
        apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {{apply_board_preset "1"}} $ps
    }}
    set_property -dict [list \\
        CONFIG.PSU__USE__M_AXI_GP0 {{1}} \\
        CONFIG.PSU__USE__M_AXI_GP1 {{0}} \\
        CONFIG.PSU__USE__M_AXI_GP2 {{0}} \\
        CONFIG.PSU__MAXIGP0__DATA_WIDTH {{32}} \\
        CONFIG.PSU__FPGA_PL0_ENABLE {{1}} \\
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $fclk_mhz \\
    ] $ps"""
    return f"""# Generated by hw/flows/vivado.py: the hardwire block design ({ps.family}). Sourced by build.tcl.
#
#   {ps.cell}  {ps.master}  ->  axi_interconnect_0  ->  {IP_INSTANCE}/s_axi  ({WRAPPER}, module reference)
#   {ps.cell}  {ps.clock} (fclk_mhz) clocks everything; proc_sys_reset_0 makes the resets.
#
# {IP_INSTANCE} is what the host driver looks for in pynq's ip_dict (host/pynq_transport.py):
# the only IP whose name and type say "hardwire", at {ps.base:#010x}, {AXI_RANGE}. No DMA, no interrupt.

proc create_hardwire_bd {{bd_name rom_dir fclk_mhz preset}} {{
    create_bd_design $bd_name

    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:{ps.ip} {ps.cell}]
{ps_config}

    set ic [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect axi_interconnect_0]
    set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{1}}] $ic
    set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset proc_sys_reset_0]

    # the accelerator: hardwire_axil.v as an RTL module reference; its ROMs are read from rom_dir
    set hw [create_bd_cell -type module -reference {WRAPPER} {IP_INSTANCE}]
    set_property CONFIG.ROM_DIR $rom_dir $hw

    connect_bd_intf_net [get_bd_intf_pins {ps.cell}/{ps.master}] [get_bd_intf_pins axi_interconnect_0/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins axi_interconnect_0/M00_AXI] [get_bd_intf_pins {IP_INSTANCE}/s_axi]

    connect_bd_net [get_bd_pins {ps.cell}/{ps.clock}] \\
{_tcl_list([f"[get_bd_pins {p}]" for p in (f"{ps.cell}/{ps.master_clock}", "axi_interconnect_0/ACLK",
                                             "axi_interconnect_0/S00_ACLK", "axi_interconnect_0/M00_ACLK",
                                             "proc_sys_reset_0/slowest_sync_clk", f"{IP_INSTANCE}/s_axi_aclk")],
           "        ")}
    connect_bd_net [get_bd_pins {ps.cell}/{ps.reset}] [get_bd_pins proc_sys_reset_0/ext_reset_in]
    connect_bd_net [get_bd_pins proc_sys_reset_0/interconnect_aresetn] [get_bd_pins axi_interconnect_0/ARESETN]
    connect_bd_net [get_bd_pins proc_sys_reset_0/peripheral_aresetn] \\
{_tcl_list([f"[get_bd_pins {p}]" for p in ("axi_interconnect_0/S00_ARESETN", "axi_interconnect_0/M00_ARESETN",
                                             f"{IP_INSTANCE}/s_axi_aresetn")], "        ")}

    assign_bd_address -offset 0x{ps.base:08X} -range {AXI_RANGE} \\
        -target_address_space [get_bd_addr_spaces {ps.cell}/Data] [get_bd_addr_segs {IP_INSTANCE}/s_axi/reg0]

    validate_bd_design
    save_bd_design
}}
"""


def build_tcl(board: str, part: str, ps: ZynqPS, clock_mhz: float) -> str:
    """build.tcl: the whole Vivado run, from an empty folder to hardwire.bit + hardwire.hwh."""
    pattern = BOARD_FILES.get(board)
    board_parts = (f"set boards [get_board_parts -quiet -latest_file_version {{{pattern}}}]" if pattern else
                   f"set boards {{}}   ;# no board files known for {board}: minimal PS configuration")
    return f"""# Generated by hw/flows/vivado.py for {board} ({part}): the Vivado build of this folder.
#
#   vivado -mode batch -source build.tcl        (or ./run_vivado.sh; Vivado {MIN_VIVADO} or later)
#
# creates the project in vivado/{PROJECT}/, the block design of vivado/hardwire_bd.tcl, runs
# synthesis, implementation and write_bitstream, and copies the bitstream and its hardware
# handoff side by side as {OUTPUT}.bit and {OUTPUT}.hwh (what pynq.Overlay loads).
# Lower fclk_mhz below if timing is not met (PYNQ sets FCLK0 from the .hwh).

set part     {part}
set fclk_mhz {clock_mhz:g}
set jobs     4

set here     [file normalize [file dirname [info script]]]
set proj_dir [file join $here vivado {PROJECT}]
set rom_dir  [file join $here rom]

if {{[package vcompare [version -short] {MIN_VIVADO}] < 0}} {{
    error "hardwire: Vivado [version -short] is too old for this script; use {MIN_VIVADO} or later"
}}
foreach f [list {WRAPPER}.v rtl/hardwire_top.v rom/lane_000.hex vivado/hardwire_bd.tcl] {{
    if {{![file exists [file join $here $f]]}} {{
        error "hardwire: $here/$f is missing; re-run `hardwire build` (or `hardwire compile`) for this folder"
    }}
}}

create_project -force {PROJECT} $proj_dir -part $part
set preset 0
{board_parts}
if {{[llength $boards] > 0}} {{
    set_property board_part [lindex $boards 0] [current_project]
    set preset 1
}}

# sources: the wrapper, the generated top, the static library and the headers it includes
# (hardwire_regs.vh: hw_core's register map); ROM contents are $readmemh files
add_files -norecurse [concat \\
    [list [file join $here {WRAPPER}.v] [file join $here rtl hardwire_top.v]] \\
    [glob [file join $here vivado rtl *.v]] [glob -nocomplain [file join $here vivado rtl *.vh]]]
set_property include_dirs [list [file join $here vivado rtl]] [get_filesets sources_1]
add_files -norecurse [glob [file join $here rom *.hex]]
set_property file_type {{Memory Initialization Files}} [get_files -of_objects [get_filesets sources_1] *.hex]
update_compile_order -fileset sources_1
# a $readmemh file that cannot be opened would leave a ROM empty: stop instead of building it
set_msg_config -id {{Synth 8-4445}} -new_severity ERROR

source [file join $here vivado hardwire_bd.tcl]
create_hardwire_bd {BD_NAME} $rom_dir $fclk_mhz $preset
set bd_file [get_files {BD_NAME}.bd]
set_property synth_checkpoint_mode None $bd_file
generate_target all $bd_file
set wrapper [make_wrapper -files $bd_file -top]
add_files -norecurse $wrapper
set_property top {BD_NAME}_wrapper [get_filesets sources_1]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] ne "100%"}} {{
    error "hardwire: implementation did not finish ([get_property STATUS [get_runs impl_1]]); see $proj_dir/{PROJECT}.runs"
}}

open_run impl_1
file mkdir [file join $here vivado reports]
report_utilization -file [file join $here vivado reports utilization.rpt]
report_timing_summary -file [file join $here vivado reports timing.rpt]
set wns [get_property STATS.WNS [get_runs impl_1]]
if {{$wns < 0}} {{
    error "hardwire: timing not met at $fclk_mhz MHz (WNS $wns ns); lower fclk_mhz in build.tcl, or build with fewer lanes"
}}

set bit [file join [get_property DIRECTORY [get_runs impl_1]] {BD_NAME}_wrapper.bit]
set hwh [glob -nocomplain \\
    [file join $proj_dir {PROJECT}.gen sources_1 bd {BD_NAME} hw_handoff {BD_NAME}.hwh] \\
    [file join $proj_dir {PROJECT}.srcs sources_1 bd {BD_NAME} hw_handoff {BD_NAME}.hwh]]
if {{![file exists $bit] || [llength $hwh] == 0}} {{
    error "hardwire: $bit or the block design's .hwh was not written; see $proj_dir"
}}
file copy -force $bit [file join $here {OUTPUT}.bit]
file copy -force [lindex $hwh 0] [file join $here {OUTPUT}.hwh]
puts "hardwire: wrote $here/{OUTPUT}.bit and $here/{OUTPUT}.hwh (WNS $wns ns at $fclk_mhz MHz);"
puts "hardwire: copy them with {OUTPUT}.hardwire.json to the board and open pynq:{OUTPUT}.bit"
"""


RUN_SH = f"""#!/bin/sh
# Generated by hw/flows/vivado.py: build {OUTPUT}.bit and {OUTPUT}.hwh in this folder with Vivado.
set -e
cd "$(dirname "$0")"
mkdir -p vivado
exec vivado -mode batch -nojournal -log vivado/vivado.log -source build.tcl
"""


def write_vivado_flow(build_dir: Path, board: str, part: str, clock_mhz: float) -> list[Path]:
    """Write the Vivado project for a `hardwire compile` build folder; return the files (build.tcl first).

    The folder is self-contained (the static RTL is copied in), so it can be copied to
    the machine that has Vivado and built there with `vivado -mode batch -source build.tcl`.
    """
    build_dir = Path(build_dir)
    ps = PS[family_of(part)]
    if not clock_mhz or not 10 <= float(clock_mhz) <= 250:
        raise VivadoFlowError(f"clock {clock_mhz!r} MHz is outside what the PS fabric clock gives (10..250 MHz)")
    sources = design_sources(build_dir)
    missing = [str(p) for p in sources if not p.is_file()]
    if missing or not (build_dir / "rom").is_dir():
        raise VivadoFlowError(f"{build_dir}: {', '.join(missing) or 'rom/'} missing; run `hardwire compile` "
                              "for this folder first")
    vdir = build_dir / "vivado"
    lib = vdir / "rtl"
    if lib.is_dir():
        shutil.rmtree(lib)          # a library file dropped since the last build must not linger
    lib.mkdir(parents=True)
    for src in [*sources[:-1], *verilog_includes(sources)]:      # the library and the headers it includes
        shutil.copy2(src, lib / src.name)

    files = [build_dir / "build.tcl", vdir / "hardwire_bd.tcl", write_wrapper(build_dir, board, part),
             build_dir / "run_vivado.sh"]
    files[0].write_text(build_tcl(board, part, ps, clock_mhz))
    files[1].write_text(bd_tcl(ps, clock_mhz))
    files[3].write_text(RUN_SH)
    files[3].chmod(0o755)
    meta = _write_metadata(build_dir)
    if meta is not None:
        files.append(meta)
    return files


def _write_metadata(build_dir: Path) -> Path | None:
    """build_dir/hardwire.hardwire.json: the build's host metadata, named for hardwire.bit, with pynq_ip.

    The tokenizer it names is copied beside it (tokenizer.bin), so that the .bit, .hwh,
    metadata and tokenizer can be copied to the board as they are."""
    from host.metadata import BUILD_FILE, Metadata, metadata_path

    src = build_dir / BUILD_FILE
    if not src.is_file():
        return None
    meta = Metadata.load(src)
    meta.pynq_ip = IP_INSTANCE
    tok = meta.tokenizer_path()
    if tok is not None and tok.is_file():
        local = build_dir / "tokenizer.bin"
        if tok.resolve() != local.resolve():
            shutil.copy2(tok, local)
        meta.tokenizer = local.name
    dest = metadata_path(build_dir / f"{OUTPUT}.bit")
    meta.save(dest)
    return dest


# ---------------------------------------------------------------- Yosys estimate

# Yosys synth_xilinx cells -> LUTs they occupy (LUT-as-logic and LUT-as-memory, as Vivado counts them)
LUT_CELLS = {**{f"LUT{i}": 1 for i in range(1, 7)}, "INV": 1,
             "SRL16E": 1, "SRLC32E": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM32X1D": 2, "RAM64X1D": 2,
             "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM256X1D": 8, "RAM512X1S": 8,
             "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8}
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
DSP_CELLS = ("DSP48E1", "DSP48E2")
CARRY_CELLS = ("CARRY4", "CARRY8")


def parse_stat(log: str, top: str = WRAPPER) -> dict[str, int]:
    """Cell counts of the last `stat` report of `top` in a Yosys log."""
    start = log.rfind(f"=== {top} ===")
    if start < 0:
        raise VivadoFlowError(f"no statistics for {top} in the Yosys log")
    return {m.group(2): int(m.group(1)) for m in
            re.finditer(r"^\s+(\d+)\s+(?:[\d.]+\s+)?([A-Za-z_$][\w$]*)\s*$", log[start:], re.M)}


def summarize(cells: dict[str, int]) -> dict[str, int]:
    """LUTs (logic + memory), FFs, block RAM (RAMB36 and RAMB18, in 18-kbit units as hw/boards.py
    counts them), DSPs and carry chains from synth_xilinx cell counts."""
    ramb36 = sum(n for c, n in cells.items() if c.startswith("RAMB36"))
    ramb18 = sum(n for c, n in cells.items() if c.startswith("RAMB18"))
    return {
        "luts": sum(LUT_CELLS[c] * n for c, n in cells.items() if c in LUT_CELLS),
        "lut_ram": sum(LUT_CELLS[c] * n for c, n in cells.items() if c.startswith(("RAM", "SRL")) and c in LUT_CELLS),
        "ffs": sum(cells.get(c, 0) for c in FF_CELLS),
        "ramb36": ramb36, "ramb18": ramb18, "brams": 2 * ramb36 + ramb18,
        "dsps": sum(cells.get(c, 0) for c in DSP_CELLS),
        "carry": sum(cells.get(c, 0) for c in CARRY_CELLS),
    }


def xilinx_estimate(build_dir: Path, family: str, timeout: float = 3 * 3600) -> dict:
    """Resources of the AXI4-Lite wrapper around the generated design, by Yosys `synth_xilinx`.

    As the block design sees it: flattened, no I/O buffers and no clock buffer (the PS's
    FCLK already runs on a BUFG). The PS, interconnect and reset IP are not counted.

    `family`: a synth_xilinx family (xc7 for the Zynq-7020, xcup for the K26) or a board family
    (zynq7, zynqmp). Runs in build_dir (the ROM hex files are read as rom/*.hex); keeps the log
    in build_dir/synth_<family>.log. Returns the summary (luts, ffs, brams in 18-kbit units,
    ramb36, ramb18, dsps, ...), the raw cell counts and the seconds Yosys took.
    """
    from hw.tools import run_yosys, tool_path

    fam = PS[family].yosys_family if family in PS else family
    if fam not in ("xc7", "xcu", "xcup"):
        raise VivadoFlowError(f"family {family!r}: use xc7 (Zynq-7000), xcup (Zynq UltraScale+) or xcu")
    build_dir = Path(build_dir)
    srcs = design_sources(build_dir)
    wrapper = build_dir / f"{WRAPPER}.v"
    if not wrapper.is_file():
        write_wrapper(build_dir)
    names = " ".join(tool_path(p, build_dir) for p in [*srcs, wrapper])
    log_name = f"synth_{fam}.log"
    t = time.monotonic()
    synth = f"synth_xilinx -family {fam} -top {WRAPPER} -flatten -noiopad -noclkbuf"
    log = run_yosys(f"read_verilog -defer {names}; {synth}; stat", cwd=build_dir, log=log_name, timeout=timeout)
    seconds = round(time.monotonic() - t, 1)
    cells = parse_stat(log)
    return {"family": fam, "top": WRAPPER, **summarize(cells), "cells": cells, "seconds": seconds,
            "log": str(build_dir / log_name)}


def main(argv: list[str] | None = None) -> int:
    """python -m hw.flows.vivado estimate BUILD_DIR [xc7|xcup|xcu]: synth_xilinx figures of a build folder
    (also written to BUILD_DIR/estimate_<family>.json)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m hw.flows.vivado",
                                 description="Yosys synth_xilinx figures of a build folder (no Vivado needed)")
    sub = ap.add_subparsers(dest="command", required=True)
    est = sub.add_parser("estimate", help="LUT, FF, block RAM and DSP of BUILD_DIR's design")
    est.add_argument("build_dir", metavar="BUILD_DIR", help="a `hardwire compile` / `build` folder")
    est.add_argument("family", nargs="?", default="xc7", help="xc7 (Zynq-7000, default), xcup or xcu")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    build_dir = Path(args.build_dir)
    try:
        res = xilinx_estimate(build_dir, args.family)
    except VivadoFlowError as exc:
        print(f"python -m hw.flows.vivado: error: {exc}", file=sys.stderr)
        return 2
    (build_dir / f"estimate_{res['family']}.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"{res['family']}: {res['luts']:,} LUT ({res['lut_ram']:,} as memory), {res['ffs']:,} FF, "
          f"{res['brams']} RAMB18 ({res['ramb36']} RAMB36 + {res['ramb18']} RAMB18), {res['dsps']} DSP; "
          f"synth_xilinx {res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
