"""hardwire: compile a small llama-architecture language model into FPGA Verilog."""
