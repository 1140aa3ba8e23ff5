"""hw_matvec in Verilator (cocotb): lane ROMs of a tiny awkward model, two builds;
and in Yosys (synth_ecp5): the lane ROMs become the block RAMs the estimate counts.

Builds once per (LANES, VPL) (testbench/runner.py caches them), writes the lane
hex files the build reads at run time, then runs testbench/matvec/test_matvec.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hw.rtlgen.estimate import bram18_blocks
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.generate import static_sources
from hw.rtlgen.lanes import write_lanes
from hw.rtlgen.layout import SCALE_BITS, rom_layout
from hw.tools import run_yosys

pytest.importorskip("cocotb")
from testbench.runner import SIM_BUILD, build_once, run_cocotb  # noqa: E402

RTL = Path(__file__).resolve().parents[1] / "hw" / "rtl"
SEED = 3
SOURCES = tuple(p.name for p in static_sources("hw_matvec"))     # hw_matvec and what it instantiates


def _packed(values: list[int], width: int) -> str:
    """A sized Verilog literal of `values`, `width` bits each, values[0] lowest."""
    word = sum(v << (width * i) for i, v in enumerate(values))
    return f"{width * len(values)}'h{word:x}"


def matvec_parameters(layout, rom_dir: Path, mul_lut: int = 0, rq_share: int | None = None) -> dict:
    """hw_matvec parameters for a layout (the values hw/rtlgen/top.py passes to the core); the
    testbench tags matrix k of the walk with k, so tag k reads slot k's ROM group. rq_share:
    lanes per requantizer (default the layout's)."""
    assert len(layout.slots) <= 16
    return {"LANES": layout.lanes, "VPL": layout.vpl, "WB": layout.wb,
            "ROM_DEPTH": max(g.depth for g in layout.groups),
            "SCALE_DEPTH": layout.scale_depth, "ROWS_W": layout.rows_w, "COLS_W": layout.cols_w,
            "ACC_W": layout.acc_bits, "MUL_LUT": mul_lut, "TAG_W": 4, "ROM_DIR": f'"{rom_dir}"',
            "GROUPS": len(layout.groups), "GROUP_WB": _packed([g.bits for g in layout.groups], 8),
            "GROUP_DEPTH": _packed([g.depth for g in layout.groups], 32),
            "TAG_GROUP": _packed([s.group for s in layout.slots] + [0] * (16 - len(layout.slots)), 2),
            "RQ_SHARE": layout.rq_share if rq_share is None else rq_share}


# (5, 3): 37 vocab rows -> last pass of 2; 24 and 44 columns not multiples of 3 -> padding.
# (16, 8): more lanes than the 8 k/v rows; 44 columns -> 6 words with 4 padding values.
# (7, 5) with LUT MACs: bit-plane adder trees padded from 5 to 8 leaves (two values a leaf,
# the last one alone), 8-bit weights.
# Every build has three weight ROMs a lane (4-bit attention, 5-bit MLP, 8-bit classifier).
# Requantizers: (5, 3) one per lane; (16, 8) one per two lanes; (7, 5) the same, the last lane alone.
@pytest.mark.sim
@pytest.mark.parametrize("lanes,vpl,mul_lut,rq_share", [(5, 3, 0, 1), (16, 8, 0, 2), (7, 5, 1, 2)])
def test_matvec_matches_numerics(lanes, vpl, mul_lut, rq_share):
    model = random_int_model(SEED)
    layout = rom_layout(model, lanes, vpl)
    assert layout.rq_share == 2             # rows of 2 words or more: the generator would share
    rom_dir = SIM_BUILD / "roms" / f"matvec-s{SEED}-l{lanes}-v{vpl}"
    write_lanes(model, layout, rom_dir)
    build = build_once(f"hw_matvec-l{lanes}-v{vpl}-m{mul_lut}-r{rq_share}", [RTL / f for f in SOURCES],
                       "hw_matvec", parameters=matvec_parameters(layout, rom_dir, mul_lut, rq_share))
    run_cocotb(build, "testbench.matvec.test_matvec",
               extra_env={"MATVEC_SEED": str(SEED), "MATVEC_LANES": str(lanes), "MATVEC_VPL": str(vpl)})


@pytest.mark.synth
def test_matvec_synthesizes_to_block_rom():
    """synth_ecp5 of a 4 x 4 hw_matvec (cwd holds rom/, the default ROM_DIR): each lane's
    weight ROMs and the lanes' one scale ROM are block RAM (the scale ROM too, so that `hardwire
    respin` can rewrite it), as many DP16KD as the estimate says, nothing left unmapped."""
    model = random_int_model(SEED)
    layout = rom_layout(model, 4, 4)
    work = SIM_BUILD / "synth_matvec"
    write_lanes(model, layout, work / "rom")
    params = {k: v for k, v in matvec_parameters(layout, "rom").items() if k != "ROM_DIR"}
    srcs = " ".join(str(RTL / f) for f in SOURCES)
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    (work / "stat.json").unlink(missing_ok=True)
    log = run_yosys(f"read_verilog {srcs}; chparam {sets} hw_matvec; synth_ecp5 -top hw_matvec; "
                    "tee -q -o stat.json stat -json", cwd=work)
    cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert len(layout.groups) == 3                                  # 4-, 5- and 8-bit weights, each at its width
    per_lane = sum(bram18_blocks(g.depth, layout.vpl * g.bits) for g in layout.groups)
    scales = bram18_blocks(layout.scale_depth, 4 * SCALE_BITS)     # 4 lanes' 21 bits a word: 3 blocks, not 4
    assert scales == 3 and cells.get("DP16KD", 0) == 4 * per_lane + scales, cells
    assert cells.get("MULT18X18D", 0) >= 4 * 4, cells              # one per int8 x weight product
    stray = {c for c in cells if c.startswith("$") and c != "$scopeinfo"}
    assert not stray, f"cells left unmapped: {sorted(stray)}"
    warnings = [l for l in log.splitlines() if l.startswith("Warning:")]
    assert not warnings, warnings
    # LUT MACs: the products leave the DSPs; each requantizer keeps its multiplier (2 MULT18X18D),
    # one per two lanes
    (work / "stat.json").unlink()
    run_yosys(f"read_verilog {srcs}; chparam {sets} -set MUL_LUT 1 hw_matvec; synth_ecp5 -top hw_matvec; "
              "tee -q -o stat.json stat -json", cwd=work)
    lut = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert layout.requantizers == 2 and lut.get("MULT18X18D", 0) == 2 * 2, lut
    assert lut.get("DP16KD", 0) == cells.get("DP16KD", 0), lut
