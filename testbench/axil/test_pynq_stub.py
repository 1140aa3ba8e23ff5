"""host/pynq_transport.py through cocotbpynq's Overlay/MMIO on hw_axil_bridge + regfile_stub.

The transport code runs exactly as on a board (Overlay(bitfile), ip_dict, MMIO
reads and writes); cocotbpynq turns each MMIO call into AXI4-Lite cycles.
"""
from __future__ import annotations

import os

import cocotbpynq

from host.pynq_transport import PynqTransport
from testbench.axil.pynq_sim import BASE, INSTANCE, pynq_module

MAGIC = 0x48574952


def main(dut=None):
    t = PynqTransport(os.environ["PYNQ_BITFILE"], pynq_module=pynq_module(), poll_interval=0)
    assert (t.ip_name, t.base) == (INSTANCE, BASE), (t.ip_name, t.base)
    assert t.read(0x00) == MAGIC
    t.write(0x40, 0xCAFEF00D)
    t.write_many(0x80, [1, 2, 3], increment=True)
    assert t.read(0x40) == 0xCAFEF00D
    assert t.read_many(0x80, 3, increment=True) == [1, 2, 3]
    # TOKEN_POP: one MMIO read pops exactly one entry
    assert t.read_many(0x14, 4) == [0x80000000 | i for i in range(4)]


main = cocotbpynq.synctest(main)
