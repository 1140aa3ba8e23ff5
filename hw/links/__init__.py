"""Links between the host and a board (Board.transport): one module per kind behind hw/links/link.py's `Link`.

    link.py      the interface the flows call (bridge RTL, board top ports and parameters,
                 build options, what the manifest and the host metadata record)
    uart.py      the UART bridge (ULX3S, iCEBreaker; host: serial:)
    axi.py       AXI-Lite on a Zynq board (host: pynq:)

A new link is a module here and one entry in LINKS; its host side is a module
and one row of host/transports.py SCHEMES; its boards are rows in hw/boards.py.
"""
from __future__ import annotations

from typing import Any, Mapping

from hw.errors import HardwireError
from hw.flows.errors import FlowError
from hw.links import axi, uart
from hw.links.link import Link, Option, Port

LINKS: dict[str, Link] = {k.name: k for k in (uart.LINK, axi.LINK)}


class UnknownLink(HardwireError):
    """A transport name no link module answers to."""


def link(name: str) -> Link:
    """The link called `name` (a board's `transport`)."""
    try:
        return LINKS[name]
    except KeyError:
        raise UnknownLink(f"unknown transport {name!r}; hw/links knows {', '.join(LINKS)}") from None


def build_options() -> list[Option]:
    """Every link's build options, once each by name, in table order (the CLI's flags)."""
    seen: dict[str, Option] = {}
    for k in LINKS.values():
        for o in k.options:
            seen.setdefault(o.name, o)
    return list(seen.values())


def option_refusal(board, options: Mapping[str, Any]) -> str | None:
    """Why `board` cannot take one of the build options given (not None), or None when it takes them all."""
    own = link(board.transport)
    for name, value in options.items():
        if value is None or any(o.name == name for o in own.options):
            continue
        owner = next((k for k in LINKS.values() if any(o.name == name for o in k.options)), None)
        other = f"not {owner.title}" if owner else "which takes no such option"
        return f"--{name} {value}: {board.name} is reached over {own.title}, {other}; leave --{name} out"
    return None


def resolve(board, options: Mapping[str, Any]) -> dict[str, Any]:
    """The board's link options with their defaults, checked (FlowError naming the fix)."""
    why = option_refusal(board, options)
    if why:
        raise FlowError(why)
    return link(board.transport).resolve(board, options)


__all__ = ["LINKS", "Link", "Option", "Port", "UnknownLink", "build_options", "link", "option_refusal", "resolve"]
