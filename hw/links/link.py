"""What the flows ask of a link kind: the common interface of hw/links/<kind>.py.

A board names its link (`Board.transport`); `hardwire build` (hw/flows/board_build.py),
the open flow's board top and manifest (hw/flows/open_flow.py) and the CLI's build
options ask the link's object here instead of testing its name. A link module
subclasses `Link`, sets what differs and is listed in hw/links/__init__.py LINKS.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Option:
    """A build option a link takes: `hardwire build --<name>` and run_build's keyword `name`."""
    name: str
    type: type
    help: str


@dataclass(frozen=True)
class Port:
    """A port of the open flow's board top; a board row's `pins` name one pin per bit."""
    direction: str      # input | output
    name: str
    width: int = 1

    @property
    def pins(self) -> list[str]:
        return [self.name] if self.width == 1 else [f"{self.name}[{i}]" for i in range(self.width)]


class Link:
    """A link kind. The defaults describe a link the open flow does not build a board top for."""

    name = ""                   # as the board table spells it (Board.transport)
    title = ""                  # how messages name it: "a UART", "AXI-Lite (PYNQ)"
    host_scheme = ""            # the host's URI scheme that opens it (host/transports.py SCHEMES)
    bridge_rtl: tuple[str, ...] = ()        # hw/rtl/ files of the bridge to the core's registers
    options: tuple[Option, ...] = ()        # the build options it takes

    # ------------------------------------------------------------ the open flow's board top
    # The wrapper takes `clk` and `rst_btn` (the board top puts a PLL and its lock in front of them)
    # and the parameters RST_ACTIVE_LOW, LED_ACTIVE_LOW and ROM_DIR, which it sets from the board row.
    board_module = ""           # the board wrapper the board top instantiates
    board_rtl: Path | None = None           # its file (bitstreams/common/)
    ports: tuple[Port, ...] = ()            # the board top's ports (clk, rst_btn, led and the link's)
    # a chip of a chain (docs/chain.md): the wrapper with the link pins, or none (the link has no chain board)
    chain_board_module = ""
    chain_board_rtl: Path | None = None

    @property
    def pins(self) -> list[str]:
        """The pins a board row of this link gives (Board.pins keys), in port order."""
        return [pin for port in self.ports for pin in port.pins]

    def resolve(self, board, options: Mapping[str, Any]) -> dict[str, Any]:
        """The build options with their defaults, checked for `board` (a FlowError naming the fix);
        options given as None are not given."""
        return {}

    def parameters(self, board, options: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """The board wrapper's own parameters: (name, Verilog value, comment or '')."""
        return []

    def records(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """What the manifest records of the resolved options (after its "transport")."""
        return {}

    def host_metadata(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Fields of the host metadata (host/metadata.py Metadata) the host's opener reads, e.g. uart_baud."""
        return {}
