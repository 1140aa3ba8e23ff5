"""AMD/Xilinx Zynq (PYNQ-Z2: zynq7, KV260: zynqmp): built by Vivado on the user's machine.

The Vivado project (block design, AXI4-Lite wrapper, PS clock) is written by
hw/flows/vivado.py; this module holds what the rest of hardwire asks of the
family: the fit check's factors, the PS clock, why respin and make flash do
not apply.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hw.backends.family import Family, FitCalibration


class Zynq(Family):
    flow = "vivado"

    def __init__(self, name: str, fit: FitCalibration):
        self.name = name
        self.fit = fit

    def with_clock(self, board, clock_mhz: float):
        return replace(board, clock_mhz=float(clock_mhz))       # FCLK0 / pl_clk0 from the PS

    def respin_refusal(self, bitstream: Path) -> str:
        return (f"{bitstream} is a Vivado (Zynq) bitstream: hardwire respin rewrites ECP5 bitstreams only. "
                "The manual path: have Vivado write the block-RAM map (`write_mem_info hardwire.mmi` after "
                "implementation), generate the new model's ROM images (`hardwire compile --model NEW`), convert "
                "each to a .mem file and run `updatemem -meminfo hardwire.mmi -data NEW.mem -proc <instance> "
                "-bit hardwire.bit -out new.bit` per ROM (docs/respin.md); or rebuild with `hardwire build`")


# LUTs: the line through Yosys synth_xilinx's LUT6 + LUT-RAM count of generator 1.3 (thirteenth session,
# docs/vivado.md) at 8 x 4 and 32 x 4, rounded up to cover 16 x 4 too; FFs the same. DSP48: 1 per
# requant multiplier; synth_xilinx of models/default uses 98, 138 and 220 DSP48E1 at 8 x 4, 16 x 4 and
# 32 x 4 lanes on the xc7z020: 1 per MAC + 1 per lane + 58, 58 and 60; the check takes 60 (exact at
# 32 x 4, 2 over below), so 32 x 4 fills the PYNQ-Z2's 220. An attention engine's other
# products are 7 DSP48 (synth_xilinx of the v2 core, models/default at 16 x 8 LUT MACs, two engines,
# rmsnorm width 8: 101 DSP48E1). LUT MACs register their bit planes: that build (LUT MACs, 16 x 8,
# all weights 4-bit) used 14,692 FFs, 1,340 over the DSP-MAC line; its own line has the same slope
# through it (xcup: scaled by the 16 x 4 xcup/xc7 ratio, not measured).
ZYNQ7 = Zynq("zynq7", FitCalibration(lut=(1.15, 6_400), ff=(0.24, 6_300), dsp_per_requant=1, dsp_fixed=60,
                                     engine_other_dsps=7, ff_lut_macs=(0.24, 7_700)))
# UltraScale+ (xcup) used 6 % more LUTs and 39 % more FFs than xc7 at 16 x 4 (22,678 and 12,982), so
# its lines are the Zynq-7000 slopes scaled by that, through that point and rounded up (Vivado not run).
ZYNQMP = Zynq("zynqmp", FitCalibration(lut=(1.21, 6_800), ff=(0.33, 8_700), dsp_per_requant=1, dsp_fixed=60,
                                       engine_other_dsps=7, ff_lut_macs=(0.33, 11_600)))
