"""AXI-Lite on a Zynq board, opened by PYNQ (host/pynq_transport.py).

The Vivado flow (hw/flows/vivado.py) wraps the core and this bridge as an IP in
the PS's block design; there is no open-flow board top and no build option.
"""
from __future__ import annotations

from hw.links.link import Link

BRIDGE_RTL = "hw_axil_bridge.v"


class AxiLink(Link):
    name = "axi"
    title = "AXI-Lite (PYNQ)"
    host_scheme = "pynq"
    bridge_rtl = (BRIDGE_RTL,)


LINK = AxiLink()
