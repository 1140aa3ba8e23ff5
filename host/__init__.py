"""hardwire host driver: talk to a hardwired model over PYNQ, UART or the Verilator simulation.

Depends on numpy and pyserial only (pynq on Zynq boards), so it installs on a
board without the compiler: `pip install ./host` (package `hardwire_host`).
"""
__version__ = "0.1.0"
