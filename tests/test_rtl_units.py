"""The small arithmetic units of hw/rtl/ against hw/numerics.py, bit for bit.

- tables: hw/rtl_tables.py writes hex files that read back as the numerics tables.
- lint: `verilator --lint-only -Wall` of every unit, default and odd parameters.
- sim: one Verilator build per unit and parameter set (cached by
  testbench/runner.py), then its cocotb module testbench/units/test_<unit>.py,
  which compares every output with the numerics function.
- synth: ONE Yosys run synthesizing every unit for ECP5 (synth_ecp5); checks
  that only ECP5 cells remain, tables land in block RAM and products in DSPs,
  and prints the LUT/DSP/BRAM counts (also kept in <sim_build>/roms/units/synth.md).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hw import numerics as nx
from hw import rtl_tables
from hw.rtlgen.generate import static_sources
from hw.tools import run_yosys, verilator_lint

pytest.importorskip("cocotb")
from testbench.runner import SIM_BUILD, build_once, run_cocotb  # noqa: E402
from testbench.units.common import silu_test_tables  # noqa: E402

RTL = Path(__file__).resolve().parents[1] / "hw" / "rtl"


def with_deps(files) -> list[Path]:
    """The files and the hw/rtl modules they instantiate (hw_valid_pipe, hw_rom, ...)."""
    return sorted({p for f in files for p in static_sources(Path(f).stem, RTL)})
TABLE_DIR = SIM_BUILD / "roms" / "units"


@dataclass(frozen=True)
class Unit:
    label: str                              # build name (one build per label)
    top: str                                # module; its cocotb module is test_<top>
    sources: tuple[str, ...]                # files in hw/rtl/
    params: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)  # the build's parameters, for the testbench
    table: str | None = None                # hex file passed as table_param
    table_param: str = "TABLE_FILE"


# N not a multiple of G, 3 writers over 8 banks, port 2 left out
VECBUF = {"N": 22, "G": 8, "NW": 3, "NR": 3, "R": 4, "PORTS_ON": 0b011}

UNITS = [
    Unit("hw_rq-x24-o8", "hw_rq", ("hw_rq.v",), {"XW": 24, "OW": 8}, {"RQ_XW": "24", "RQ_OW": "8"}),
    Unit("hw_rq-x32-full", "hw_rq", ("hw_rq.v",), {"XW": 32, "OW": 0}, {"RQ_XW": "32", "RQ_OW": "0"}),
    Unit("hw_rsqrt", "hw_rsqrt", ("hw_rsqrt.v",), {"SSW": 40}, {"RSQRT_SSW": "40"}, "rsqrt.hex"),
    Unit("hw_exp2", "hw_exp2", ("hw_exp2.v",), {"ZW": 32}, {"EXP2_ZW": "32"}, "exp2.hex"),
    Unit("hw_rope_pair", "hw_rope_pair", ("hw_rope_pair.v",)),
    Unit("hw_silu_gate", "hw_silu_gate", ("hw_silu_gate.v", "hw_rq.v"), {"LAYERS": 3}, {}, "silu.hex"),
    Unit("hw_recip_div", "hw_recip_div", ("hw_recip_div.v",), {"EW": 32}, {"RECIP_EW": "32"}),
    # as hw_attention uses it: 2 bits per cycle, 15 leading quotient bits skipped (E >= 2**15)
    Unit("hw_recip_div-s2k15", "hw_recip_div", ("hw_recip_div.v",), {"EW": 24, "STEP": 2, "SKIP": 15},
         {"RECIP_EW": "24", "RECIP_STEP": "2", "RECIP_SKIP": "15"}),
    Unit("hw_xorshift32", "hw_xorshift32", ("hw_xorshift32.v",)),
    Unit("hw_topk", "hw_topk", ("hw_topk.v",), {"K_MAX": 16, "VW": 24, "IW": 16},
         {"TOPK_K": "16", "TOPK_VW": "24", "TOPK_IW": "16"}),
    Unit("hw_vecbuf-n22g8", "hw_vecbuf", ("hw_vecbuf.v",), VECBUF, {f"VB_{k}": str(v) for k, v in VECBUF.items()}),
    # the same writes through the rotator (writer j at the first index + j, as hw_core's lanes write)
    Unit("hw_vecbuf-n22g8-consec", "hw_vecbuf", ("hw_vecbuf.v",), {**VECBUF, "CONSEC": 1},
         {f"VB_{k}": str(v) for k, v in VECBUF.items()}),
    # two lanes per multiplier at 4 and 3 bits (an odd count: the last group one product), one a product at 8
    Unit("hw_mac_pack-n3w4", "hw_mac_pack", ("hw_mac_pack.v",), {"N": 3, "WB": 4}, {"PACK_N": "3", "PACK_WB": "4"}),
    Unit("hw_mac_pack-n4w3", "hw_mac_pack", ("hw_mac_pack.v",), {"N": 4, "WB": 3}, {"PACK_N": "4", "PACK_WB": "3"}),
    Unit("hw_mac_pack-n2w8", "hw_mac_pack", ("hw_mac_pack.v",), {"N": 2, "WB": 8}, {"PACK_N": "2", "PACK_WB": "8"}),
    # the greedy scan: groups of 4 that do not divide the lanes (11: 4 + 4 + 3), the last word part-empty
    Unit("hw_sampler-l11v100", "hw_sampler", ("hw_sampler.v",), {"LANES": 11, "V": 100, "WAW": 4},
         {"SAMPLER_LANES": "11", "SAMPLER_V": "100", "SAMPLER_WAW": "4"}, "exp2.hex", "EXP_FILE"),
    Unit("hw_sampler-l3v37", "hw_sampler", ("hw_sampler.v",), {"LANES": 3, "V": 37, "WAW": 4},
         {"SAMPLER_LANES": "3", "SAMPLER_V": "37", "SAMPLER_WAW": "4"}, "exp2.hex", "EXP_FILE"),
]

# Parameter sets for lint beyond the defaults: narrow, wide and degenerate sizes.
LINT_CASES = [
    ("hw_rq", ("hw_rq.v",), {}), ("hw_rq", ("hw_rq.v",), {"OW": 0}),
    ("hw_rq", ("hw_rq.v",), {"XW": 40, "OW": 16}), ("hw_rq", ("hw_rq.v",), {"XW": 8, "OW": 24}),
    ("hw_rsqrt", ("hw_rsqrt.v",), {}), ("hw_rsqrt", ("hw_rsqrt.v",), {"SSW": 20}),
    ("hw_exp2", ("hw_exp2.v",), {}), ("hw_exp2", ("hw_exp2.v",), {"ZW": 8}),
    ("hw_rope_pair", ("hw_rope_pair.v",), {}),
    ("hw_silu_gate", ("hw_silu_gate.v", "hw_rq.v"), {}),
    ("hw_silu_gate", ("hw_silu_gate.v", "hw_rq.v"), {"LAYERS": 5}),
    ("hw_recip_div", ("hw_recip_div.v",), {}), ("hw_recip_div", ("hw_recip_div.v",), {"EW": 16}),
    ("hw_recip_div", ("hw_recip_div.v",), {"EW": 24, "STEP": 2, "SKIP": 15}),
    ("hw_recip_div", ("hw_recip_div.v",), {"EW": 20, "STEP": 3, "SKIP": 4}),
    ("hw_xorshift32", ("hw_xorshift32.v",), {}),
    ("hw_topk", ("hw_topk.v",), {}), ("hw_topk", ("hw_topk.v",), {"K_MAX": 1, "IW": 9}),
    ("hw_vecbuf", ("hw_vecbuf.v",), {}), ("hw_vecbuf", ("hw_vecbuf.v",), {"N": 22, "G": 8, "NW": 3, "NR": 3}),
    ("hw_vecbuf", ("hw_vecbuf.v",), {"N": 64, "G": 32, "NW": 32, "R": 2}),
    ("hw_vecbuf", ("hw_vecbuf.v",), {"N": 172, "G": 16, "NW": 11, "CONSEC": 1}),
    ("hw_mac_pack", ("hw_mac_pack.v",), {}), ("hw_mac_pack", ("hw_mac_pack.v",), {"N": 1, "WB": 2}),
    ("hw_mac_pack", ("hw_mac_pack.v",), {"N": 5, "WB": 8}),
    # the greedy scan's groups: 4 dividing the lanes, 4 not (11: 4 + 4 + 3), 2 of 3, 1 of 1
    ("hw_sampler", ("hw_sampler.v",), {}), ("hw_sampler", ("hw_sampler.v",), {"LANES": 11, "V": 512, "WAW": 6, "TW": 9}),
    ("hw_sampler", ("hw_sampler.v",), {"LANES": 3, "V": 37}), ("hw_sampler", ("hw_sampler.v",), {"LANES": 1, "V": 5}),
]

# ECP5 cells a clean synthesis may leave ($scopeinfo: hierarchy bookkeeping, no logic).
ECP5_CELLS = {"LUT4", "PFUMX", "L6MUX21", "CCU2C", "TRELLIS_FF", "MULT18X18D", "ALU54B", "DP16KD",
              "$scopeinfo"}
SYNTH = [  # (top, files, Yosys commands before synth_ecp5)
    ("hw_rq", ("hw_rq.v",), ""),
    ("hw_rsqrt", ("hw_rsqrt.v",), ""),
    ("hw_exp2", ("hw_exp2.v",), ""),
    ("hw_rope_pair", ("hw_rope_pair.v",), ""),
    ("hw_silu_gate", ("hw_silu_gate.v", "hw_rq.v"), "chparam -set LAYERS 3 hw_silu_gate; "),
    ("hw_recip_div", ("hw_recip_div.v",), ""),
    ("hw_xorshift32", ("hw_xorshift32.v",), ""),
    ("hw_topk", ("hw_topk.v",), ""),
    ("hw_mac_pack", ("hw_mac_pack.v",), ""),
]


@pytest.fixture(scope="module")
def tables() -> Path:
    """rsqrt.hex, exp2.hex and silu.hex (the testbench's 3 tables) in TABLE_DIR."""
    rtl_tables.rsqrt_hex(TABLE_DIR / "rsqrt.hex")
    rtl_tables.exp2_hex(TABLE_DIR / "exp2.hex")
    rtl_tables.silu_hex(TABLE_DIR / "silu.hex", silu_test_tables())
    return TABLE_DIR


def read_hex(path: Path, width_bits: int, signed: bool) -> np.ndarray:
    """A $readmemh file back as ints (comment lines skipped)."""
    words = [int(line, 16) for line in path.read_text().splitlines() if line and not line.startswith("//")]
    if signed:
        words = [w - (1 << width_bits) if w >> (width_bits - 1) else w for w in words]
    return np.array(words, dtype=np.int64)


# ---------------------------------------------------------------- tables

def test_tables_read_back(tables):
    assert np.array_equal(read_hex(tables / "rsqrt.hex", 16, False), nx.RSQRT)
    assert np.array_equal(read_hex(tables / "exp2.hex", 16, False), nx.EXP2)
    silu = read_hex(tables / "silu.hex", 16, True).reshape(-1, 256)
    assert np.array_equal(silu, silu_test_tables())
    for name in ("rsqrt.hex", "exp2.hex", "silu.hex"):
        head = (tables / name).read_text().splitlines()[0]
        assert head.startswith(f"// {name}"), f"{name} must start with a header comment"


def test_write_hex_twos_complement_and_range(tmp_path):
    text = rtl_tables.hex_text([0, 1, -1, -32768, 65535], 16, ["t"])
    assert text.splitlines() == ["// t", "0000", "0001", "ffff", "8000", "ffff"]
    assert rtl_tables.hex_text([5, -3], 6).splitlines() == ["05", "3d"]
    with pytest.raises(rtl_tables.TableError, match="65536 at index 1 does not fit 16 bits"):
        rtl_tables.write_hex(tmp_path / "x.hex", [0, 65536], 16)
    with pytest.raises(rtl_tables.TableError, match="-32769"):
        rtl_tables.write_hex(tmp_path / "x.hex", [-32769], 16)
    with pytest.raises(rtl_tables.TableError, match=r"shape \(layers, 256\)"):
        rtl_tables.silu_hex(tmp_path / "silu.hex", np.zeros((2, 255), dtype=np.int64))


# ---------------------------------------------------------------- lint

@pytest.mark.parametrize("top,files,params", LINT_CASES,
                         ids=[f"{t}-{'-'.join(f'{k}{v}' for k, v in p.items()) or 'default'}"
                              for t, _, p in LINT_CASES])
def test_lint_clean(top, files, params):
    verilator_lint(with_deps(files), top, args=["-Wall", *(f"-G{k}={v}" for k, v in params.items())])


# ---------------------------------------------------------------- simulation

@pytest.mark.sim
@pytest.mark.parametrize("unit", UNITS, ids=[u.label for u in UNITS])
def test_unit_matches_numerics(unit, tables):
    params = dict(unit.params)
    if unit.table:
        params[unit.table_param] = f'"{(tables / unit.table).resolve()}"'
    build = build_once(unit.label, with_deps(unit.sources), unit.top, parameters=params)
    run_cocotb(build, f"testbench.units.test_{unit.top}", extra_env=unit.env)


# ---------------------------------------------------------------- synthesis

@pytest.mark.synth
def test_units_synthesize_for_ecp5(tables):
    """All units in one Yosys run (cwd = the table folder, so the default TABLE_FILE names resolve)."""
    script = ""
    for top, files, pre in SYNTH:
        srcs = " ".join(os.path.relpath(f, tables) for f in with_deps(files))
        script += (f"design -reset; read_verilog {srcs}; {pre}synth_ecp5 -top {top}; "
                   f"tee -q -o stat_{top}.json stat -json; ")
    for top, _, _ in SYNTH:
        (tables / f"stat_{top}.json").unlink(missing_ok=True)
    run_yosys(script, cwd=tables)
    cells = {top: json.loads((tables / f"stat_{top}.json").read_text())["design"]["num_cells_by_type"]
             for top, _, _ in SYNTH}
    rows = ["| unit | LUT4 | CCU2C (carry) | PFUMX+L6MUX21 | FF | MULT18X18D | DP16KD |",
            "|---|---|---|---|---|---|---|"]
    for top, c in cells.items():
        rows.append(f"| {top} | {c.get('LUT4', 0)} | {c.get('CCU2C', 0)} | "
                    f"{c.get('PFUMX', 0) + c.get('L6MUX21', 0)} | {c.get('TRELLIS_FF', 0)} | "
                    f"{c.get('MULT18X18D', 0)} | {c.get('DP16KD', 0)} |")
    report = "\n".join(rows)
    (tables / "synth.md").write_text("# synth_ecp5 cell counts of the unit library\n\n" + report + "\n")
    print("\n" + report)
    for top, c in cells.items():
        stray = set(c) - ECP5_CELLS
        assert not stray, f"{top}: cells left unmapped by synth_ecp5: {sorted(stray)}"
        assert c.get("TRELLIS_FF", 0) > 0, f"{top}: no flip-flops (the unit is registered)"
    for top in ("hw_rsqrt", "hw_exp2", "hw_silu_gate"):
        assert cells[top].get("DP16KD", 0) == 1, f"{top}: its table should be one block RAM: {cells[top]}"
    # hw_mac_pack at its defaults (4 values, 4-bit weights): two lanes' products in each of 4 multipliers
    for top, n in (("hw_rq", 2), ("hw_rope_pair", 4), ("hw_silu_gate", 3), ("hw_mac_pack", 4)):
        assert cells[top].get("MULT18X18D", 0) == n, f"{top}: expected {n} DSP multipliers: {cells[top]}"


@pytest.mark.synth
@pytest.mark.parametrize("n,blocks", [(2, 1), (4, 2)])
def test_exp2_items_share_the_table_two_per_block(tables, n, blocks):
    """hw_exp2 with N items a cycle (an attention engine's N KV positions): one table read through both
    ports of each block RAM, so 2 items take one DP16KD, 4 take two (one a position before)."""
    stat = tables / f"stat_exp2_n{n}.json"     # run in the table folder: exp2.hex resolves as the default
    stat.unlink(missing_ok=True)
    srcs = " ".join(os.path.relpath(f, tables) for f in with_deps(("hw_exp2.v",)))
    run_yosys(f"read_verilog {srcs}; "
              f"chparam -set N {n} -set ZW 13 hw_exp2; synth_ecp5 -top hw_exp2; "
              f"tee -q -o {stat.name} stat -json", cwd=tables)
    cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
    assert cells.get("DP16KD", 0) == blocks, cells


@pytest.mark.synth
def test_silu_gate_pair_shares_one_table(tables):
    """hw_silu_gate with N = 2 (hw_silu_stage's gate pairs): one SiLU table copy through both ports of a
    block RAM (a copy a gate before generator 1.14), each gate its own product and requantizer."""
    stat = tables / "stat_silu_n2.json"
    stat.unlink(missing_ok=True)
    srcs = " ".join(os.path.relpath(f, tables) for f in with_deps(("hw_silu_gate.v", "hw_rq.v")))
    run_yosys(f"read_verilog {srcs}; chparam -set N 2 -set LAYERS 3 hw_silu_gate; synth_ecp5 -top hw_silu_gate; "
              f"tee -q -o {stat.name} stat -json", cwd=tables)
    cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
    assert cells.get("DP16KD", 0) == 1 and cells.get("MULT18X18D", 0) == 2 * 3, cells


@pytest.mark.synth
def test_vecbuf_is_lut_ram_on_ecp5():
    """hw_vecbuf's point: its banks are LUT RAM, not flip-flops behind a decoder and wide multiplexers."""
    folder = SIM_BUILD / "synth_vecbuf"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stat.json").unlink(missing_ok=True)
    run_yosys(f"read_verilog {os.path.relpath(RTL / 'hw_vecbuf.v', folder)}; "
              "chparam -set N 176 -set G 4 -set NW 4 -set NR 2 hw_vecbuf; synth_ecp5 -top hw_vecbuf; "
              "tee -q -o stat.json stat -json", cwd=folder)
    cells = json.loads((folder / "stat.json").read_text())["design"]["num_cells_by_type"]
    # 176 x 8 bits in 4 banks of 44 words: 3 x 2 DPR16X4 per bank and read port
    assert cells.get("TRELLIS_DPR16X4", 0) == 4 * 6 * 2, cells
    assert cells.get("TRELLIS_FF", 0) == 0, f"storage left in flip-flops: {cells}"
