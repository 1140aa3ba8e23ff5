"""The links the host opens, by device URI scheme: one module per kind, this table of them.

    sim:     host/sim_transport.py      the Verilator simulation of a build folder
    serial:  host/serial_transport.py   a UART bridge (pyserial; the board's link hw/links/uart.py)
    pynq:    host/pynq_transport.py     the AXI-Lite bridge of a Zynq board (PYNQ; hw/links/axi.py)

Each module gives `open_uri(target, options, timeout, metadata_for) -> Opened`;
host/device.py `open_device` splits the URI and asks the row of its scheme. A new
transport is its module and one row of SCHEMES.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple
from urllib.parse import parse_qsl

from host.transport import Transport


@dataclass(frozen=True)
class Scheme:
    module: str         # the module with open_uri, imported on use: pyserial and pynq load only for their links
    example: str        # a URI for messages


SCHEMES: Dict[str, Scheme] = {
    "sim": Scheme("host.sim_transport", "sim:build/"),
    "serial": Scheme("host.serial_transport", "serial:/dev/ttyUSB0?baud=115200"),
    "pynq": Scheme("host.pynq_transport", "pynq:hardwire.bit"),
}


@dataclass
class Opened:
    """A link open_uri opened, and what the Device over it needs."""
    transport: Transport
    # the build's metadata (host/metadata.py), resolved once the link is open; the transport is
    # closed when this fails
    metadata: Callable[[], object]
    reopen: Optional[Callable[[], Transport]] = None     # opens the link again after a failure
    stream: bool = True                                  # take tokens the link pushes, where it can


def examples() -> str:
    return ", ".join(s.example for s in SCHEMES.values())


def opener(uri: str, scheme: str) -> Callable[..., Opened]:
    """The open_uri of `scheme` (a ValueError naming the known schemes when it has none)."""
    row = SCHEMES.get(scheme)
    if row is None:
        names = [f"{s}:" for s in SCHEMES]
        known = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise ValueError(f"device URI {uri!r}: unknown scheme {scheme!r}; use {known}")
    return importlib.import_module(row.module).open_uri


def split_options(rest: str) -> Tuple[str, Dict[str, str]]:
    """(target, options) of the part after the scheme."""
    # "path?baud=9600&retries=2"; a '?' that is not followed by key=value pairs is part of the path
    if "?" in rest:
        target, _, query = rest.rpartition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        if pairs and all(k and "=" in query for k, _ in pairs):
            return target, dict(pairs)
    return rest, {}


def typed_options(opts: Dict[str, str], kinds: Dict[str, type]) -> Dict[str, object]:
    """The URI's options converted to `kinds` (name -> type); a ValueError for any other name or a bad value."""
    out = {}
    for k, v in opts.items():
        if k not in kinds:
            raise ValueError(f"unknown device option {k!r}; this transport takes {', '.join(kinds)}")
        try:
            out[k] = kinds[k](v)
        except ValueError as exc:
            raise ValueError(f"device option {k}={v!r} is not a valid {kinds[k].__name__}") from exc
    return out
