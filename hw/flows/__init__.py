"""Board flows: the open flow (Yosys + nextpnr, hw/flows/open_flow.py), the Vivado flow, `hardwire build`."""
