"""Register access on a Zynq board through PYNQ: Overlay + MMIO on the hardwire IP.

`pynq.Overlay(bitfile)` programs the PL and parses the .hwh beside the .bit
(same name; PYNQ reads it to build `ip_dict`). The hardwire IP (its AXI4-Lite
slave is hw/rtl/hw_axil_bridge.v) is found in `ip_dict` by name, or as the one
entry whose type names "hardwire"; its `phys_addr` and `addr_range` give the
MMIO window. Register reads/writes are single 32-bit MMIO accesses, so a read
of TOKEN_POP pops exactly one token.

No call here waits without a deadline: the driver polls STATUS with its own
timeout (host/device.py), and hw_axil_bridge answers every access within a
few cycles, so a read cannot stall the bus the way an IP that never raises
RVALID does (Xilinx/PYNQ#1435). pynq is imported only when a device is
opened, so the host package imports on machines without it.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

from host.errors import DeviceError
from host.transport import Transport, check_u32
from host.transports import Opened

IP_KEYWORD = "hardwire"
REGISTER_SPAN = 0x400           # 256 registers of 4 bytes


class PynqTransport(Transport):
    """MMIO on the hardwire IP of an overlay."""

    token_burst = 1             # MMIO reads are cheap: one pop per read, no wasted pops

    def __init__(self, bitfile, ip_name: Optional[str] = None, timeout: float = 10.0,
                 pynq_module=None, poll_interval: float = 1e-4, check_files: bool = True):
        bit = Path(bitfile)
        self.name = f"pynq:{bit}"
        self.timeout = timeout
        self.poll_interval = poll_interval
        if check_files:
            if not bit.is_file():
                raise DeviceError(f"{bit}: no such bitstream; build it with `hardwire build --board "
                                  "pynq-z2` and copy it (with its .hwh) to the board")
            hwh = bit.with_suffix(".hwh")
            if not hwh.is_file():
                raise DeviceError(f"{hwh}: missing; PYNQ reads the hardware handoff beside the "
                                  f"bitstream (same name). Copy {bit.stem}.hwh next to {bit.name}; "
                                  "a stale cached .hwh elsewhere would describe another design")
        pynq = pynq_module if pynq_module is not None else _import_pynq()
        try:
            self.overlay = pynq.Overlay(str(bit))
        except Exception as exc:  # pynq raises many types (IOError, RuntimeError, ValueError)
            raise DeviceError(f"{bit}: pynq could not load the overlay ({exc})") from exc
        ip_dict = getattr(self.overlay, "ip_dict", None)
        if not ip_dict:
            raise DeviceError(f"{bit}: the overlay lists no IP with an address (ip_dict is empty); "
                              "is the .hwh the one of this design?")
        self.ip_name, ip = _find_ip(ip_dict, ip_name, bit)
        self.base = int(ip["phys_addr"])
        span = int(ip.get("addr_range") or REGISTER_SPAN)
        if span < REGISTER_SPAN:
            raise DeviceError(f"{bit}: IP {self.ip_name} has an address range of {span:#x} bytes; "
                              f"the register map needs {REGISTER_SPAN:#x}")
        # map only the register map: all the driver touches (and no page of a neighbour)
        self.mmio = pynq.MMIO(self.base, REGISTER_SPAN)
        self.name = f"pynq:{bit.name}:{self.ip_name}@{self.base:#x}"

    def read(self, addr: int) -> int:
        return int(self.mmio.read(addr)) & 0xFFFFFFFF

    def write(self, addr: int, value: int) -> None:
        self.mmio.write(addr, check_u32(value))

    def close(self) -> None:
        self.mmio = _Closed(self.name)


class _Closed:
    def __init__(self, name: str):
        self.name = name

    def read(self, *a):
        raise DeviceError(f"{self.name}: the transport is closed")

    write = read


def _import_pynq():
    try:
        return importlib.import_module("pynq")
    except ImportError as exc:
        raise DeviceError("the pynq package is not installed: the pynq: transport runs on a PYNQ "
                          "board image (or `pip install \"./host[pynq]\"`); use serial: or sim: "
                          "elsewhere") from exc


def _find_ip(ip_dict, ip_name: Optional[str], bit: Path):
    if ip_name is not None:
        if ip_name not in ip_dict:
            raise DeviceError(f"{bit}: no IP named {ip_name!r}; the overlay has {', '.join(sorted(ip_dict))}")
        return ip_name, ip_dict[ip_name]
    hits = [n for n, ip in ip_dict.items()
            if IP_KEYWORD in str(ip.get("type", "")).lower() or IP_KEYWORD in n.lower()]
    if len(hits) != 1:
        what = "no" if not hits else f"{len(hits)} ({', '.join(hits)})"
        raise DeviceError(f"{bit}: {what} IP with '{IP_KEYWORD}' in its name or type among "
                          f"{', '.join(sorted(ip_dict))}; name it: pynq:{bit}?ip=<name>")
    return hits[0], ip_dict[hits[0]]


def open_uri(target: str, options, timeout: float, metadata_for) -> Opened:
    """pynq:<path to .bit>[?ip=<name>] (host/transports.py); the metadata is looked for beside the .bit."""
    transport = PynqTransport(target, ip_name=options.get("ip"), timeout=timeout)
    return Opened(transport, metadata=lambda: metadata_for(target))
