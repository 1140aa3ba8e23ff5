"""FPGA families as backends: one module per family behind hw/backends/family.py's `Family`.

    family.py    the interface the flows call (synthesis, place and route, packing, cell names,
                 fit-check factors, clock/PLL, gate-level cell models, respin, flash)
    ecp5.py      Lattice ECP5 (ecp5_pll.py: its EHXPLLL)
    ice40.py     Lattice iCE40
    xilinx.py    Zynq-7000 and Zynq UltraScale+ (the Vivado project itself: hw/flows/vivado.py)

A new family is a module here and one entry in FAMILIES; its boards are rows
in hw/boards.py.
"""
from __future__ import annotations

from hw.backends import ecp5, ice40, xilinx
from hw.backends.family import Family, FitCalibration
from hw.errors import HardwireError

FAMILIES: dict[str, Family] = {f.name: f for f in (ecp5.FAMILY, ice40.FAMILY, xilinx.ZYNQ7, xilinx.ZYNQMP)}


class UnknownFamily(HardwireError):
    """A family name no backend answers to."""


def family(name: str) -> Family:
    """The backend of the family `name`."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownFamily(f"unknown FPGA family {name!r}; hw/backends knows {', '.join(FAMILIES)}") from None


def open_flow_families() -> list[Family]:
    """The families Yosys + nextpnr build here, in table order."""
    return [f for f in FAMILIES.values() if f.flow == "open"]


__all__ = ["FAMILIES", "Family", "FitCalibration", "UnknownFamily", "family", "open_flow_families"]
