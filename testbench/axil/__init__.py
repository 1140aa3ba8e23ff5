"""AXI4-Lite bridge testbench (hw_axil_bridge + regfile_stub)."""
