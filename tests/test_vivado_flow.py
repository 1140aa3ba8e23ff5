"""The Vivado flow (hw/flows/vivado.py), without Vivado.

- static checks of the Tcl: balanced braces, brackets and quotes; every command
  is a Tcl built-in or a known Vivado command; the part, the IP name the host
  driver looks for, the address window, the .bit/.hwh copies, the files named;
- a dry run: build.tcl executed by a real Tcl interpreter (tkinter) with every
  Vivado command stubbed, so that syntax, variables, `source`, `glob` and the
  final copies really run, and the block design's connections can be checked;
- the AXI4-Lite wrapper is lint-clean with the generated design (Verilator);
- Yosys synth_xilinx on a tiny model (synth).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hw.flows import vivado
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.generate import generate
from hw.rtlgen.knobs import Knobs

REPO = Path(__file__).resolve().parents[1]
BOARDS = {"pynq-z2": ("xc7z020clg400-1", 100.0), "kv260": ("xck26-sfvc784-2LV-c", 100.0)}

TCL_BUILTINS = {"set", "if", "elseif", "else", "foreach", "file", "glob", "list", "concat", "lindex", "llength",
                "error", "puts", "package", "proc", "source", "expr", "string", "return", "info"}
VIVADO_COMMANDS = {
    "version", "create_project", "current_project", "get_board_parts", "set_property", "get_property",
    "add_files", "get_files", "get_filesets", "update_compile_order", "set_msg_config",
    "create_bd_design", "create_bd_cell", "apply_bd_automation", "get_bd_cells", "get_bd_pins",
    "get_bd_intf_pins", "connect_bd_net", "connect_bd_intf_net", "assign_bd_address", "get_bd_addr_spaces",
    "get_bd_addr_segs", "validate_bd_design", "save_bd_design", "generate_target", "make_wrapper",
    "launch_runs", "wait_on_run", "get_runs", "open_run", "report_utilization", "report_timing_summary",
}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    """One tiny generated design per Zynq board, with its Vivado flow written."""
    out = {}
    im = random_int_model(seed=5)
    for board, (part, mhz) in BOARDS.items():
        d = tmp_path_factory.mktemp(board)
        generate(im, d, Knobs(lanes=2, values_per_lane=2))
        from host.metadata import metadata_for_build
        metadata_for_build(d, board=board, clock_hz=int(mhz * 1e6))
        files = vivado.write_vivado_flow(d, board, part, mhz)
        assert files[0] == d / "build.tcl" and all(f.is_file() for f in files)
        out[board] = d
    return out


# ---------------------------------------------------------------- a small Tcl parser

def tcl_commands(text: str) -> list[list[str]]:
    """The commands of a Tcl script as word lists, recursing into [command substitutions] and into the
    bodies of proc / if / foreach; raises ValueError on unbalanced braces, brackets or quotes."""
    cmds: list[list[str]] = []

    def words_of(src: str, i: int, end_char: str | None) -> int:
        """Parse commands from src[i:] until end_char (']' or None = end); return the index after it."""
        words: list[str] = []
        while i < len(src):
            c = src[i]
            if c == end_char:
                _flush(words)
                return i + 1
            if c in "]}":
                raise ValueError(f"unbalanced: a stray {c!r} at offset {i}")
            if c in "\n;":
                _flush(words)
                words = []
                i += 1
            elif c in " \t":
                i += 1
            elif c == "\\" and src[i + 1:i + 2] == "\n":
                i += 2
            elif c == "#" and not words:
                while i < len(src) and src[i] != "\n":
                    i += 1
            else:
                i, word = one_word(src, i)
                words.append(word)
        if end_char is not None:
            raise ValueError(f"unbalanced: no closing {end_char!r}")
        _flush(words)
        return i

    def one_word(src: str, i: int) -> tuple[int, str]:
        start = i
        if src[i] == "{":
            depth = 0
            while i < len(src):
                if src[i] == "\\":
                    i += 2
                    continue
                depth += {"{": 1, "}": -1}.get(src[i], 0)
                i += 1
                if depth == 0:
                    return i, src[start:i]
            raise ValueError(f"unbalanced braces from offset {start}: {src[start:start + 60]!r}")
        quoted = src[i] == '"'
        if quoted:
            i += 1
        while i < len(src):
            c = src[i]
            if c == "\\":
                i += 2
            elif c == "[":
                i = words_of(src, i + 1, "]")
            elif quoted and c == '"':
                return i + 1, src[start:i + 1]
            elif not quoted and (c in " \t\n;" or c == "]"):
                return i, src[start:i]
            else:
                i += 1
        if quoted:
            raise ValueError(f"unterminated quote from offset {start}")
        return i, src[start:]

    def _flush(words: list[str]) -> None:
        if not words:
            return
        cmds.append(list(words))
        body_args = {"proc": [3], "foreach": [-1]}.get(words[0], [])
        if words[0] == "if":        # if {cond} {body} elseif {cond} {body} else {body}
            for k, w in enumerate(words[1:], 1):
                if not w.startswith("{"):
                    continue
                if words[k - 1] in ("if", "elseif"):
                    substitutions(w[1:-1])          # an expression: only its [commands] run
                else:
                    body_args.append(k)
        for k in body_args:
            w = words[k]
            if w.startswith("{"):
                words_of(w[1:-1], 0, None)

    def substitutions(src: str) -> None:
        i = 0
        while i < len(src):
            if src[i] == "\\":
                i += 2
            elif src[i] == "[":
                i = words_of(src, i + 1, "]")
            else:
                i += 1

    words_of(text, 0, None)
    return cmds


def test_tcl_parser_finds_nested_commands_and_unbalanced_text():
    cmds = tcl_commands('set a [get_x [get_y b]]\nif {[llength $a]} {\n  foo "q [bar]"\n} else { baz }\n')
    names = [c[0] for c in cmds]
    assert {"set", "get_x", "get_y", "if", "llength", "foo", "bar", "baz"} <= set(names)
    for bad in ("set a {b", "set a [b", 'puts "x', "proc p {} { foo [bar }", "foo ]", "if {1} {a} }"):
        with pytest.raises(ValueError):
            tcl_commands(bad)


# ---------------------------------------------------------------- static checks

@pytest.mark.parametrize("board", BOARDS)
def test_tcl_is_balanced_and_uses_known_commands(builds, board):
    scripts = {name: tcl_commands((builds[board] / name).read_text())
               for name in ("build.tcl", "vivado/hardwire_bd.tcl")}
    procs = {c[1] for cmds in scripts.values() for c in cmds if c[0] == "proc"}
    assert procs == {"create_hardwire_bd"}
    for name, cmds in scripts.items():
        names = {c[0] for c in cmds}
        unknown = names - TCL_BUILTINS - VIVADO_COMMANDS - procs
        assert not unknown, f"{name}: commands outside the allowlist: {sorted(unknown)}"
        assert names & VIVADO_COMMANDS


@pytest.mark.parametrize("board", BOARDS)
def test_tcl_targets_the_part_the_ip_and_the_outputs(builds, board):
    part, mhz = BOARDS[board]
    build = (builds[board] / "build.tcl").read_text()
    bd = (builds[board] / "vivado" / "hardwire_bd.tcl").read_text()
    assert re.search(rf"^set part\s+{re.escape(part)}$", build, re.M)
    assert re.search(rf"^set fclk_mhz\s+{mhz:g}$", build, re.M)
    assert "create_project -force hardwire $proj_dir -part $part" in build
    # the driver finds the IP whose name or type says "hardwire" (host/pynq_transport.py)
    assert f"create_bd_cell -type module -reference hardwire_axil {vivado.IP_INSTANCE}" in bd
    assert "hardwire" in vivado.IP_INSTANCE
    assert f"[get_bd_addr_segs {vivado.IP_INSTANCE}/s_axi/reg0]" in bd
    ps = vivado.PS[vivado.family_of(part)]
    assert f"xilinx.com:ip:{ps.ip} {ps.cell}" in bd and f"{ps.cell}/{ps.master}" in bd
    assert f"-offset 0x{ps.base:08X} -range 64K" in bd
    assert "axi_dma" not in bd          # the driver uses MMIO only
    # the bitstream and its hardware handoff side by side, same stem (pynq.Overlay)
    assert "file copy -force $bit [file join $here hardwire.bit]" in build
    assert "file copy -force [lindex $hwh 0] [file join $here hardwire.hwh]" in build
    assert "set_property CONFIG.ROM_DIR $rom_dir $hw" in bd and "set rom_dir  [file join $here rom]" in build
    if board == "pynq-z2":
        assert "CONFIG.PCW_USE_M_AXI_GP0 {1}" in bd and "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz" in bd
        assert 'make_external "FIXED_IO, DDR"' in bd
    else:
        assert "CONFIG.PSU__USE__M_AXI_GP0 {1}" in bd and "CONFIG.PSU__FPGA_PL0_ENABLE {1}" in bd
        assert "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $fclk_mhz" in bd


@pytest.mark.parametrize("board", BOARDS)
def test_files_named_by_the_tcl_exist_in_the_build_folder(builds, board):
    d = builds[board]
    text = (d / "build.tcl").read_text()
    named = set(re.findall(r"\[file join \$here ([^\]]+)\]", text))
    outputs = {"vivado hardwire", "vivado reports", "vivado reports utilization.rpt", "vivado reports timing.rpt",
               "hardwire.bit", "hardwire.hwh", "$f"}        # written by the run ($f: the checked list below)
    inputs = named - outputs
    assert {"hardwire_axil.v", "rtl hardwire_top.v", "vivado rtl *.v", "vivado rtl *.vh", "vivado rtl", "rom *.hex",
            "rom", "vivado hardwire_bd.tcl"} == inputs
    for name in inputs:
        assert list(d.glob(name.replace(" ", "/"))), f"build.tcl names $here/{name}, absent from {d}"
    listed = re.search(r"foreach f \[list ([^\]]+)\]", text).group(1).split()
    assert all((d / f).is_file() for f in listed)
    # the folder is self-contained: every static source is copied, none is named outside it
    doc = json.loads((d / "build.json").read_text())
    copied = {p.name for p in (d / "vivado" / "rtl").glob("*.v")}
    assert {Path(p).name for p in doc["static_rtl"]} | {"hw_axil_bridge.v"} == copied
    # with the headers hw_core.v includes (the register map), on the project's include path
    assert {p.name for p in (d / "vivado" / "rtl").glob("*.vh")} == {"hardwire_regs.vh", "hardwire_arch.vh"}
    assert "set_property include_dirs [list [file join $here vivado rtl]] [get_filesets sources_1]" in text
    assert str(REPO) not in text


def test_wrapper_ports_follow_vivado_axi4lite_naming(builds):
    text = (builds["pynq-z2"] / "hardwire_axil.v").read_text()
    ports = re.findall(r"^\s+(?:input|output)\s+wire\s+(?:\[[^\]]+\]\s+)?(\w+),?$", text, re.M)
    axil = ["awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
            "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready"]
    assert ports == ["s_axi_aclk", "s_axi_aresetn", *(f"s_axi_{s}" for s in axil)]
    assert 'parameter ROM_DIR            = "rom"' in text and "hardwire_top #(.ROM_DIR(ROM_DIR))" in text


@pytest.mark.sim
def test_wrapper_is_lint_clean_with_the_generated_design(builds):
    from hw.tools import verilator_lint

    d = builds["pynq-z2"]
    srcs = [*sorted((d / "vivado" / "rtl").glob("*.v")), d / "rtl" / "hardwire_top.v", d / "hardwire_axil.v"]
    verilator_lint(srcs, top="hardwire_axil", args=["-Wall", "-Wno-UNUSEDSIGNAL"])


def test_metadata_beside_the_bitstream_names_the_ip(builds):
    from host.metadata import Metadata, find_metadata

    d = builds["kv260"]
    meta = find_metadata(d / "hardwire.bit")
    assert meta is not None and meta.pynq_ip == vivado.IP_INSTANCE
    assert meta.fingerprint == Metadata.load(d / "hardwire.json").fingerprint
    assert meta.board == "kv260"


def test_metadata_takes_its_tokenizer_along(builds, tmp_path):
    """The tokenizer the build's metadata names is copied beside the bitstream-to-be, so the four
    files (.bit, .hwh, .hardwire.json, tokenizer.bin) travel to the board as they are."""
    from host.metadata import Metadata, find_metadata

    d = builds["pynq-z2"]
    tok = tmp_path / "tok37.bin"
    tok.write_bytes(b"not parsed here")
    meta = Metadata.load(d / "hardwire.json")
    meta.tokenizer = str(Path("..") / Path(tok).relative_to(d.parent))   # relative, as compile writes it
    meta.save(d / "hardwire.json")
    vivado.write_vivado_flow(d, "pynq-z2", *BOARDS["pynq-z2"])
    beside = find_metadata(d / "hardwire.bit")
    assert beside.tokenizer == "tokenizer.bin" and beside.tokenizer_path() == d / "tokenizer.bin"
    assert (d / "tokenizer.bin").read_bytes() == b"not parsed here"


def test_the_driver_finds_the_ip_the_block_design_creates():
    """An ip_dict as pynq builds it from this design's .hwh: the driver must pick hardwire_0 alone."""
    from host.pynq_transport import REGISTER_SPAN, _find_ip

    ip_dict = {vivado.IP_INSTANCE: {"type": f"xilinx.com:module_ref:{vivado.WRAPPER}:1.0",
                                    "phys_addr": vivado.PS["zynq7"].base, "addr_range": 65536},
               "processing_system7_0": {"type": "xilinx.com:ip:processing_system7:5.5", "phys_addr": 0}}
    name, ip = _find_ip(ip_dict, None, Path("hardwire.bit"))
    assert name == vivado.IP_INSTANCE and ip["addr_range"] >= REGISTER_SPAN == 0x400
    assert 1 << vivado.AXI_ADDR_WIDTH == 65536


def test_refuses_non_zynq_parts_bad_clocks_and_missing_builds(builds, tmp_path):
    with pytest.raises(vivado.VivadoFlowError, match="Zynq"):
        vivado.write_vivado_flow(builds["pynq-z2"], "ulx3s-85f", "LFE5U-85F-6BG381C", 25.0)
    with pytest.raises(vivado.VivadoFlowError, match="MHz"):
        vivado.write_vivado_flow(builds["pynq-z2"], "pynq-z2", "xc7z020clg400-1", 1000.0)
    with pytest.raises(vivado.VivadoFlowError, match="hardwire compile"):
        vivado.write_vivado_flow(tmp_path, "pynq-z2", "xc7z020clg400-1", 100.0)


def test_estimate_command_line_usage(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        vivado.main(["estimate"])
    assert exit_info.value.code == 2 and "usage" in capsys.readouterr().err
    # a folder that is no build: a one-line error naming it and the fix, no traceback
    assert vivado.main(["estimate", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "nothing/build.json: not readable" in err and "hardwire compile" in err
    with pytest.raises(vivado.VivadoFlowError, match="family"):
        vivado.xilinx_estimate(REPO, "ecp5")


# ---------------------------------------------------------------- dry run in a real Tcl interpreter

STUBS = r"""
set ::calls {}
proc stub {name body} { proc $name args "lappend ::calls \[concat $name \$args\]; $body" }
foreach c {current_project get_filesets update_compile_order set_msg_config create_bd_design
           apply_bd_automation connect_bd_net connect_bd_intf_net assign_bd_address validate_bd_design
           save_bd_design generate_target wait_on_run open_run report_utilization report_timing_summary
           add_files set_property} { stub $c {return ""} }
foreach c {get_bd_cells get_bd_pins get_bd_intf_pins get_bd_addr_spaces get_bd_addr_segs get_runs} {
    stub $c {return [lindex $args end]}
}
stub version {return $::stub_version}
stub get_board_parts {return $::stub_boards}
stub create_project {set ::stub_proj [lindex $args 2]; file mkdir $::stub_proj; return ""}
stub create_bd_cell {return [lindex $args end]}
stub get_files {return [lindex $args end]}
stub make_wrapper {return $::stub_proj/hardwire_bd_wrapper.v}
stub get_property {
    switch -- [lindex $args 0] {
        PROGRESS {return 100%}
        STATUS {return "write_bitstream Complete!"}
        STATS.WNS {return $::stub_wns}
        DIRECTORY {return $::stub_proj/hardwire.runs/impl_1}
    }
    return ""
}
stub launch_runs {
    # where Vivado 2020.2+ leaves the bitstream and the block design's hardware handoff
    file mkdir $::stub_proj/hardwire.runs/impl_1 $::stub_proj/hardwire.gen/sources_1/bd/hardwire_bd/hw_handoff
    set f [open $::stub_proj/hardwire.runs/impl_1/hardwire_bd_wrapper.bit w]; puts $f BIT; close $f
    set f [open $::stub_proj/hardwire.gen/sources_1/bd/hardwire_bd/hw_handoff/hardwire_bd.hwh w]; puts $f HWH; close $f
    return ""
}
"""


def dry_run(build_dir: Path, wns: float = 0.25, boards: str = "", version: str = "2023.2"):
    """Source build.tcl in a Tcl interpreter with the Vivado commands stubbed; return the recorded calls."""
    tkinter = pytest.importorskip("tkinter")
    tcl = tkinter.Tcl()
    tcl.eval(STUBS)
    tcl.eval(f"set ::stub_wns {wns}; set ::stub_boards {{{boards}}}; set ::stub_version {version}")
    try:
        tcl.eval(f"source {{{build_dir / 'build.tcl'}}}")
    finally:
        calls = [list(tcl.splitlist(c)) for c in tcl.splitlist(tcl.eval("set ::calls"))]
    return calls


@pytest.mark.parametrize("board", BOARDS)
def test_dry_run_builds_the_block_design_and_copies_bit_and_hwh(builds, board):
    d = builds[board]
    for f in ("hardwire.bit", "hardwire.hwh"):
        (d / f).unlink(missing_ok=True)
    calls = dry_run(d)
    part = BOARDS[board][0]
    ps = vivado.PS[vivado.family_of(part)]
    assert ["create_project", "-force", "hardwire", str(d / "vivado" / "hardwire"), "-part", part] in calls
    assert (d / "hardwire.bit").read_text() == "BIT\n" and (d / "hardwire.hwh").read_text() == "HWH\n"

    cells = [c[-1] for c in calls if c[0] == "create_bd_cell"]
    assert cells == [ps.cell, "axi_interconnect_0", "proc_sys_reset_0", vivado.IP_INSTANCE]
    rom = [c for c in calls if c[:2] == ["set_property", "CONFIG.ROM_DIR"]]
    assert len(rom) == 1 and Path(rom[0][2]) == d / "rom" and (d / "rom" / "lane_000.hex").is_file()
    added = [p for c in calls if c[0] == "add_files" for w in c[2:] for p in w.split()]
    assert str(d / "hardwire_axil.v") in added and str(d / "rtl" / "hardwire_top.v") in added
    assert sum(p.endswith(".hex") for p in added) == len(list((d / "rom").glob("*.hex")))

    # every clock and reset pin of the accelerator, the interconnect and the PS master is driven
    nets = [c[1:] for c in calls if c[0] == "connect_bd_net"]
    clock = next(n for n in nets if n[0] == f"{ps.cell}/{ps.clock}")
    assert {f"{ps.cell}/{ps.master_clock}", f"{vivado.IP_INSTANCE}/s_axi_aclk", "axi_interconnect_0/ACLK",
            "axi_interconnect_0/S00_ACLK", "axi_interconnect_0/M00_ACLK",
            "proc_sys_reset_0/slowest_sync_clk"} == set(clock[1:])
    resets = {p for n in nets if n[0].startswith("proc_sys_reset_0/") for p in n[1:]}
    assert {f"{vivado.IP_INSTANCE}/s_axi_aresetn", "axi_interconnect_0/ARESETN", "axi_interconnect_0/S00_ARESETN",
            "axi_interconnect_0/M00_ARESETN"} == resets
    assert [f"{ps.cell}/{ps.reset}", "proc_sys_reset_0/ext_reset_in"] in nets
    intf = [c[1:] for c in calls if c[0] == "connect_bd_intf_net"]
    assert intf == [[f"{ps.cell}/{ps.master}", "axi_interconnect_0/S00_AXI"],
                    ["axi_interconnect_0/M00_AXI", f"{vivado.IP_INSTANCE}/s_axi"]]
    order = [c[0] for c in calls]
    assert order.index("validate_bd_design") < order.index("make_wrapper") < order.index("launch_runs")
    assert ["launch_runs", "impl_1", "-to_step", "write_bitstream", "-jobs", "4"] in calls


def test_dry_run_applies_the_board_preset_only_when_the_board_files_exist(builds):
    d = builds["pynq-z2"]
    calls = dry_run(d, boards="tul.com.tw:pynq-z2:part0:1.0")
    assert ["set_property", "board_part", "tul.com.tw:pynq-z2:part0:1.0", ""] in calls
    auto = next(c for c in calls if c[0] == "apply_bd_automation")
    assert "apply_board_preset 1" in " ".join(auto)
    calls = dry_run(d)
    auto = next(c for c in calls if c[0] == "apply_bd_automation")
    assert "apply_board_preset 0" in " ".join(auto)
    assert not any(c[:2] == ["set_property", "board_part"] for c in calls)
    calls = dry_run(builds["kv260"])
    assert not any(c[0] == "apply_bd_automation" for c in calls)       # no KV260 board files: minimal PS8


def test_dry_run_stops_on_failed_timing_and_old_vivado(builds):
    import tkinter

    d = builds["pynq-z2"]
    for f in ("hardwire.bit", "hardwire.hwh"):
        (d / f).unlink(missing_ok=True)
    with pytest.raises(tkinter.TclError, match="timing not met at 100 MHz"):
        dry_run(d, wns=-0.4)
    assert not (d / "hardwire.bit").exists()        # a bitstream that fails timing is never handed out
    with pytest.raises(tkinter.TclError, match="too old"):
        dry_run(d, version="2019.1")


# ---------------------------------------------------------------- Yosys estimate

@pytest.mark.synth
@pytest.mark.slow
def test_xilinx_estimate_of_a_tiny_model():
    work = REPO / "build" / "test_vivado"            # kept between runs for inspection
    info = generate(random_int_model(seed=5), work, Knobs(lanes=2, values_per_lane=2))
    res = vivado.xilinx_estimate(work, "zynq7")
    assert res["family"] == "xc7" and res["top"] == "hardwire_axil"
    cells = res["cells"]
    assert res["luts"] > 500 and res["ffs"] > 500 and res["luts"] >= cells.get("LUT6", 0)
    # each lane's weight ROM is a block RAM (rom_style "block"); multipliers land in DSP48E1s
    assert res["brams"] >= info.knobs.lanes and res["brams"] == 2 * res["ramb36"] + res["ramb18"]
    assert res["dsps"] >= info.estimate.mac_multipliers
    assert not [c for c in cells if c.startswith("$") and c != "$scopeinfo"], "cells synth_xilinx left unmapped"
    assert not {"IBUF", "OBUF", "BUFG"} & set(cells)     # a module reference: the block design owns I/O and clocks
    assert res["seconds"] > 0 and Path(res["log"]).is_file()
