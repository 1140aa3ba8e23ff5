"""The Verilator simulation of a generated accelerator.

build.py verilates a build folder's design with harness.cpp (cached), session.py drives
the resulting process over its line protocol, run.py is `hardwire sim`, regs.py gives
host/registers.py's register map as word indices (plus the debug regions), lora_image.py
holds the LoRA memory layout (docs/register_map.md).
"""
