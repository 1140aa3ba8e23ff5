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


# LUTs: the line through Yosys synth_xilinx's LUT6 + LUT-RAM count of generator 1.6 (eighteenth session,
# docs/vivado.md) at 8 x 4 and 32 x 4, rounded up to cover 16 x 4 too (within 1.3 %); FFs the same
# (generator 1.3's lines, thirteenth session, fell under 1.6 by up to 4 % in LUTs and 10 % in FFs: the
# 1.4/1.5 pipeline registers outweigh 1.6's savings there). DSP48: 1 per requantizer (a lane's, or two
# lanes' when they share one, Layout.rq_share); synth_xilinx of models/default uses 94, 130 and 204
# DSP48E1 at 8 x 4, 16 x 4 and 32 x 4 lanes on the xc7z020 (generator 1.3: 98, 138 and 220 with a
# requantizer per lane): 1 per MAC + 1 per requantizer + 58, 58 and 60; the check takes 60 (2, 2 and
# 0 over), so 32 x 4 leaves 16 of the PYNQ-Z2's 220. An attention engine's other
# products are 7 DSP48 (synth_xilinx of the v2 core, models/default at 16 x 8 LUT MACs, two engines,
# rmsnorm width 8: 101 DSP48E1 at generator 1.3, 93 at 1.6). Builds with LUT MACs have their own lines
# through the v2 core's generator 1.6 count (31,779 LUT, 15,132 FF), with the slopes the ECP5's
# LUT-MAC lines have against its DSP-MAC ones (hw/backends/ecp5.py: one Xilinx LUT-MAC build measured;
# xcup: scaled by the 16 x 4 xcup/xc7 ratios, not measured).
# Generator 1.13 (thirtieth session, docs/vivado.md): five LUT-MAC builds of models/default (all weights
# 4-bit; 16 x 16 with 0 or 6 DSP values, rmsnorm 4 or 8 wide, RoPE 1 or 2 pairs; 16 x 8) refit the LUT-MAC
# lines: LUT6 + LUT RAM 30,319..34,963, where the 1.6 line counted 8-13 % more; their FFs grow ~160 per
# rmsnorm element past 2 (norm_ffs), which the line had not counted (up to 518 under at width 8); and
# the builds at 16 values a lane used 3 DSP48E1 more than counted at every DSP value and norm width
# (87-155), the 16 x 8 one 1 fewer: dsp_fixed_lut_macs 64.
# Generator 1.16 (thirty-third session, docs/vivado.md): the DSP-MAC builds re-measured (8, 16, 32 x 4 on the
# xc7z020, 16 x 4 on the K26), the first time since 1.6: 15,691 / 21,527 / 33,815 LUT (the 1.6 line was 1.1
# and 4.8 % under at 16 and 32 x 4), 9,536 / 11,206 / 14,631 FF, 93 / 129 / 203 DSP48E1 (1 per MAC + 1 per
# requantizer + 57, 57, 59). The DSP-MAC lines are refit through 8 and 32 x 4 and rounded up (LUT 0.2-1.2 %,
# FF 0.5-1.0 % over), dsp_fixed 59. The products' registers (1.16) are the DSP48E1's MREG: no flip-flops.
ZYNQ7 = Zynq("zynq7", FitCalibration(lut=(1.36, 5_300), ff=(0.23, 7_000), dsp_per_requant=1, dsp_fixed=59,
                                     engine_other_dsps=7, ff_lut_macs=(0.06, 11_800),
                                     lut_lut_macs=(0.55, 16_950), dsp_fixed_lut_macs=64, norm_ffs=170,
                                     dsp_output_regs=True))
# UltraScale+ (xcup): its DSP-MAC lines are the Zynq-7000 slopes scaled by the xcup / xc7 ratio at 16 x 4,
# through that point and rounded up (Vivado not run). Generator 1.16: 23,207 LUT (7.8 % more than xc7),
# 15,419 FF, 127 DSP48E2 (1 per MAC + 1 per requantizer + 55; the check takes 57); synth_xilinx -family
# xcup keeps the products' registers as flip-flops (1,024 at 16 x 4), where xc7 puts them in MREG.
ZYNQMP = Zynq("zynqmp", FitCalibration(lut=(1.47, 5_400), ff=(0.31, 9_000), dsp_per_requant=1, dsp_fixed=57,
                                       engine_other_dsps=7, ff_lut_macs=(0.08, 15_100),
                                       lut_lut_macs=(0.59, 18_150), dsp_fixed_lut_macs=64, norm_ffs=220))
