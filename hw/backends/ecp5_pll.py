"""ECP5 PLL (EHXPLLL) settings for a core clock other than the board oscillator.

The routed designs reach 42-49 MHz on the ECP5-85F (docs/boards.md) while the
ULX3S oscillator gives 25 MHz, so `hardwire build --clock MHZ` puts an EHXPLLL
between the two. The dividers are searched as Project Trellis's `ecppll` does:
feedback from CLKOP, so CLKOP = f_in / CLKI_DIV * CLKFB_DIV, with the phase
detector and the VCO (CLKOP * CLKOP_DIV) inside the ranges of Lattice's data
sheet (FPGA-DS-02012, EHXPLLL).
"""
from __future__ import annotations

from dataclasses import dataclass

from hw.errors import HardwireError

PFD_MHZ = (3.125, 400.0)        # phase detector input, f_in / CLKI_DIV
VCO_MHZ = (400.0, 800.0)
OUT_MHZ = (3.125, 400.0)        # CLKOP
VCO_CENTRE = 600.0              # among equally close settings, the VCO nearest mid-range


class PllError(HardwireError):
    """The requested clock cannot be made by the ECP5 PLL from this oscillator."""


@dataclass(frozen=True)
class Ecp5Pll:
    in_mhz: float
    out_mhz: float              # what the dividers really give
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def vco_mhz(self) -> float:
        return self.out_mhz * self.clkop_div

    @property
    def clkop_cphase(self) -> int:
        # ecppll's zero-degree coarse phase for CLKOP (e.g. CLKOP_DIV 15 -> 7)
        return (self.clkop_div - 1) // 2

    def to_json(self) -> dict:
        return {"primitive": "EHXPLLL", "in_mhz": self.in_mhz, "out_mhz": round(self.out_mhz, 4),
                "vco_mhz": round(self.vco_mhz, 3), "CLKI_DIV": self.clki_div, "CLKFB_DIV": self.clkfb_div,
                "CLKOP_DIV": self.clkop_div, "CLKOP_CPHASE": self.clkop_cphase}


def ecp5_pll(in_mhz: float, out_mhz: float, tolerance: float = 0.01) -> Ecp5Pll:
    """The EHXPLLL dividers whose CLKOP is nearest `out_mhz` (within `tolerance`, relative)."""
    if not OUT_MHZ[0] <= out_mhz <= OUT_MHZ[1]:
        raise PllError(f"--clock {out_mhz:g} MHz: the ECP5 PLL output runs from {OUT_MHZ[0]:g} to "
                       f"{OUT_MHZ[1]:g} MHz")
    best, best_key = None, None
    for clki_div in range(1, 129):
        pfd = in_mhz / clki_div
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            out = pfd * clkfb_div
            if not OUT_MHZ[0] <= out <= OUT_MHZ[1]:
                continue
            for clkop_div in range(1, 129):
                vco = out * clkop_div
                if not VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                    continue
                key = (round(abs(out - out_mhz), 9), abs(vco - VCO_CENTRE))
                if best_key is None or key < best_key:
                    best, best_key = Ecp5Pll(in_mhz, out, clki_div, clkfb_div, clkop_div), key
    if best is None or abs(best.out_mhz - out_mhz) > tolerance * out_mhz:
        near = f" (nearest: {best.out_mhz:.4g} MHz)" if best else ""
        raise PllError(f"--clock {out_mhz:g} MHz cannot be made from the {in_mhz:g} MHz oscillator within "
                       f"{tolerance:.0%}{near}: ask for a frequency the PLL can reach")
    return best


def ehxplll_verilog(pll: Ecp5Pll, clk_in: str, clk_out: str, locked: str, indent: str = "    ") -> str:
    """An EHXPLLL instance as ecppll writes it: CLKOP fed back, no phase stepping, LOCK out."""
    attrs = (f'(* FREQUENCY_PIN_CLKI = "{pll.in_mhz:g}" *) (* FREQUENCY_PIN_CLKOP = "{pll.out_mhz:.4g}" *)\n'
             f'{indent}(* ICP_CURRENT = "12" *) (* LPF_RESISTOR = "8" *) (* MFG_ENABLE_FILTEROPAMP = "1" *) '
             '(* MFG_GMCREF_SEL = "2" *)')
    return f"""{indent}{attrs}
{indent}EHXPLLL #(
{indent}    .PLLRST_ENA     ("DISABLED"),
{indent}    .INTFB_WAKE     ("DISABLED"),
{indent}    .STDBY_ENABLE   ("DISABLED"),
{indent}    .DPHASE_SOURCE  ("DISABLED"),
{indent}    .OUTDIVIDER_MUXA("DIVA"),
{indent}    .CLKI_DIV       ({pll.clki_div}),
{indent}    .CLKFB_DIV      ({pll.clkfb_div}),
{indent}    .CLKOP_DIV      ({pll.clkop_div}),
{indent}    .CLKOP_CPHASE   ({pll.clkop_cphase}),
{indent}    .CLKOP_FPHASE   (0),
{indent}    .CLKOP_ENABLE   ("ENABLED"),
{indent}    .FEEDBK_PATH    ("CLKOP")
{indent}) pll (
{indent}    .CLKI({clk_in}), .CLKFB({clk_out}), .CLKOP({clk_out}), .LOCK({locked}),
{indent}    .RST(1'b0), .STDBY(1'b0), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b0),
{indent}    .PHASESTEP(1'b0), .PHASELOADREG(1'b0), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0)
{indent});
"""
