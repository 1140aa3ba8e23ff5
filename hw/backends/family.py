"""What the flows ask of an FPGA family: the common interface of hw/backends/<family>.py.

The board table (hw/boards.py) names a family per board; the open flow
(hw/flows/open_flow.py), the fit check, the gate-level check, `hardwire
respin` and `make flash` ask the family's object here instead of testing the
family's name. A family module subclasses `Family`, sets what differs and
is listed in hw/backends/__init__.py FAMILIES.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class FitCalibration:
    """The fit check's per-family factors (hw/boards.py `needs`; docs/boards.md, "How the fit check counts").

    lut, ff: (a, b) of slots = a * estimate + b, fitted to real synthesis or placement.
    lut_lut_macs, ff_lut_macs: the lut and ff lines of builds with LUT MACs (their bit-plane adders and
    registers), where they differ.
    dsp_per_requant: DSPs per requant multiplier; None when the flow builds multipliers from LUTs.
    dsp_fixed: DSPs of the core besides the lanes (one attention engine of head dim 16 included).
    engine_other_dsps: an attention engine's DSPs besides its per-position products.
    dsp_fixed_lut_macs: dsp_fixed of builds with LUT MACs, where it differs.
    norm_ffs: flip-flops per rmsnorm element per cycle past 2 that the ff line does not cover.
    dsp_output_regs: the multipliers take the registers after them (DSP48 MREG): generator 1.16's
    product registers cost no flip-flops (synth_ecp5 leaves MULT18X18D's unused)."""
    lut: tuple[float, int]
    ff: tuple[float, int]
    dsp_per_requant: int | None = None
    ff_lut_macs: tuple[float, int] | None = None
    lut_lut_macs: tuple[float, int] | None = None
    dsp_fixed: int | None = None
    engine_other_dsps: int | None = None
    dsp_fixed_lut_macs: int | None = None
    norm_ffs: int = 0
    dsp_output_regs: bool = False


class Family:
    """An FPGA family. The defaults describe a family the open flow does not build."""

    name = ""                   # as the board table spells it (Board.family)
    flow = "open"               # "open": Yosys + nextpnr here; "vivado": the user runs Vivado
    fit: FitCalibration

    # ------------------------------------------------------------ the open flow
    synth_command = ""          # the Yosys synthesis pass (for messages), e.g. synth_ecp5
    nextpnr = ""                # the place-and-route tool, e.g. nextpnr-ecp5
    native_env = ""             # names a native nextpnr to run instead of YoWASP's
    packer = ""                 # the bitstream packer, e.g. ecppack
    bitstream_ext = ".bit"
    # YoWASP tools this family runs: tool -> (pip package, Python module, entry function)
    yowasp_tools: dict[str, tuple[str, str, str]] = {}
    # nextpnr --report utilisation cell type per resource (luts, ffs, brams, dsps, io, ...)
    utilisation_cells: dict[str, str] = {}
    records_bram_map = False    # the manifest gets a bram_map, so `hardwire respin` can rewrite the ROMs
    rom_read_ports = 2          # read ports of a block RAM holding a ROM (hw_rom N = 2 shares one copy)

    def synth_script(self, top: str) -> str:
        """The Yosys commands that synthesize `top` for this family (the board flow's and hw/gate.py's)."""
        raise NotImplementedError(f"{self.name} is not synthesized by the open flow")

    def nextpnr_args(self, constraints: str) -> list[str]:
        """nextpnr's constraint and output arguments (the board's device arguments come first)."""
        raise NotImplementedError(f"{self.name} is not placed by the open flow")

    def constraints_at(self, constraints: Path, build_dir: Path, freq_mhz: float, clock_mhz: float) -> Path:
        """The constraints file that makes nextpnr aim for `freq_mhz` on the design clock of
        `clock_mhz` (`--freq` of a build whose target is not its design clock). The default:
        nextpnr's --freq is enough."""
        return constraints

    def pack(self, build_dir: Path, board_name: str) -> Path:
        """Run the packer on nextpnr's output in build_dir; the bitstream's path."""
        raise NotImplementedError(f"{self.name} is not packed by the open flow")

    # ------------------------------------------------------------ clocks
    def with_clock(self, board, clock_mhz: float):
        """The board running its design at `clock_mhz`, or None when this family's flow cannot change it."""
        return None

    def pll(self, osc_mhz: float, clock_mhz: float):
        """The PLL settings (with .out_mhz, .vco_mhz, .to_json()) that make clock_mhz from osc_mhz."""
        raise NotImplementedError(f"no PLL for {self.name}")

    def pll_verilog(self, pll, clk_in: str, clk_out: str, locked: str) -> str:
        raise NotImplementedError(f"no PLL for {self.name}")

    # ------------------------------------------------------------ checks and tools around the build
    def cell_models(self, yosys_share: Path) -> tuple[list[Path], Path] | None:
        """(simulation models of the synthesized cells, their include folder) for the gate-level check."""
        return None

    def respin_refusal(self, bitstream: Path) -> str | None:
        """Why `hardwire respin` cannot rewrite this family's bitstreams; None when it can."""
        return f"{bitstream}: {self.name} bitstreams cannot be respun (ECP5 only)"

    def flash_args(self, to_flash: bool) -> list[str] | None:
        """openFPGALoader's arguments before the bitstream; None when the board loads it otherwise."""
        return None


def with_pll(board, family: Family, clock_mhz: float):
    """`board` with a PLL after its oscillator: clock_mhz becomes what the PLL's dividers really give."""
    out = family.pll(board.clock_mhz, clock_mhz).out_mhz
    return replace(board, clock_mhz=round(out, 4), osc_mhz=board.clock_mhz)
