"""cocotb testbenches (Verilator), one folder per RTL block; runner.py builds and runs them."""
