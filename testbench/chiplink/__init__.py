"""Chip-to-chip link testbench: two hw_chip_link ends back to back (chip_link_pair.v) behind a
fault-injecting wire (harness.cpp), built and run by tests/test_rtl_chip_link.py."""
