"""The Verilator simulation of a generated accelerator.

build.py verilates a build folder's design with harness.cpp (cached), session.py drives
the resulting process over its line protocol, run.py is `hardwire sim`, regs.py and
lora_image.py hold the register map and the LoRA memory layout (docs/register_map.md).
"""
