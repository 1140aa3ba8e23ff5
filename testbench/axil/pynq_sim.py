"""PYNQ in simulation: cocotbpynq's Overlay/MMIO drive the AXI4-Lite port of a Verilator model.

cocotbpynq (pinned) replaces pynq.Overlay and pynq.MMIO: MMIO.read/write run
real AXI4-Lite transactions on the simulated bus, from synchronous code (the
test body runs in a thread bridged to the simulator, `cocotbpynq.synctest`).
It reads the same .hwh a board uses. Two gaps to a board are filled here:

- `write_hwh`: the hardware handoff of a minimal Zynq design (processing_system7
  with one MEMRANGE pointing at the hardwire IP, the IP's clk/rst ports and its
  AXI4-Lite bus interface) for a top module whose ports are clk, rst, s_axil_*.
- `pynq_module()`: cocotbpynq's Overlay lacks `ip_dict`, which PYNQ builds
  from the .hwh; this subclass builds it the same way (name -> phys_addr,
  addr_range, type = VLNV), so host/pynq_transport.py runs unchanged.
"""
from __future__ import annotations

import types
from pathlib import Path

BASE = 0x43C00000
SPAN = 0x10000
INSTANCE = "hardwire_0"
VLNV = "hardwire:hw:hardwire_axil:1.0"
AXIL = ("AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP", "BVALID",
        "BREADY", "ARADDR", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID", "RREADY")


def write_hwh(path: Path, top: str) -> Path:
    """A .hwh for `top` (ports clk, rst active high, s_axil_*) at BASE on a Zynq-7000."""
    portmaps = "\n".join(f'            <PORTMAP LOGICAL="{s}" PHYSICAL="s_axil_{s.lower()}"/>' for s in AXIL)
    text = f"""<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="simulation" VIVADOVERSION="cocotbpynq">
  <MODULES>
    <MODULE FULLNAME="/{INSTANCE}" INSTANCE="{INSTANCE}" IPTYPE="PERIPHERAL" MODTYPE="{top}" VLNV="{VLNV}">
      <PORTS>
        <PORT CLKFREQUENCY="100000000" DIR="I" NAME="clk" SIGIS="clk"/>
        <PORT DIR="I" NAME="rst" POLARITY="ACTIVE_HIGH" SIGIS="rst"/>
      </PORTS>
      <BUSINTERFACES>
        <BUSINTERFACE BUSNAME="ps7_axi_periph_M00_AXI" DATAWIDTH="32" NAME="s_axil" TYPE="SLAVE" VLNV="xilinx.com:interface:aximm:1.0">
          <PORTMAPS>
{portmaps}
          </PORTMAPS>
        </BUSINTERFACE>
      </BUSINTERFACES>
    </MODULE>
    <MODULE FULLNAME="/processing_system7_0" INSTANCE="processing_system7_0" IPTYPE="PERIPHERAL" MODTYPE="processing_system7" VLNV="xilinx.com:ip:processing_system7:5.5">
      <MEMORYMAP>
        <MEMRANGE ADDRESSBLOCK="reg0" BASENAME="C_BASEADDR" BASEVALUE="{BASE:#010X}" HIGHNAME="C_HIGHADDR" HIGHVALUE="{BASE + SPAN - 1:#010X}" INSTANCE="{INSTANCE}" IS_DATA="TRUE" IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="M_AXI_GP0" MEMTYPE="REGISTER" SLAVEBUSINTERFACE="s_axil"/>
      </MEMORYMAP>
    </MODULE>
  </MODULES>
</EDKSYSTEM>
"""
    path.write_text(text.replace("0X", "0x"))
    return path


def pynq_module():
    """A stand-in for the `pynq` module: cocotbpynq's Overlay (+ ip_dict) and MMIO."""
    import cocotbpynq
    from cocotbpynq import overlay as ov

    class Overlay(cocotbpynq.Overlay):
        def __init__(self, bitfile_name):
            super().__init__(bitfile_name)
            self.ip_dict = {}
            for module in ov.hwh_tree.findall("./MODULES/MODULE[@MODTYPE='processing_system7']"):
                for mr in module.findall("./MEMORYMAP/MEMRANGE"):
                    inst = mr.get("INSTANCE")
                    el = ov.hwh_tree.find(f"./MODULES/MODULE[@INSTANCE='{inst}']")
                    base, high = int(mr.get("BASEVALUE"), 16), int(mr.get("HIGHVALUE"), 16)
                    self.ip_dict[inst] = {"phys_addr": base, "addr_range": high - base + 1,
                                          "type": el.get("VLNV") if el is not None else ""}

    return types.SimpleNamespace(Overlay=Overlay, MMIO=cocotbpynq.MMIO)
