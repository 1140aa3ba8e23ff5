"""The UART link (ULX3S, iCEBreaker), opened by pyserial (host/serial_transport.py).

The board top instantiates bitstreams/common/hw_board_uart.v (the core behind
hw_uart_bridge, docs/uart_protocol.md); `--baud` sets its divider, CLKS_PER_BIT,
from the board's design clock, refused before any work when the divider cannot
make the rate.
"""
from __future__ import annotations

from hw.errors import HardwireError
from hw.flows.errors import FlowError
from hw.links.link import REPO_ROOT, Link, Option, Port

BOARD_RTL = REPO_ROOT / "bitstreams" / "common" / "hw_board_uart.v"
CHAIN_BOARD_RTL = REPO_ROOT / "bitstreams" / "common" / "hw_board_uart_chain.v"   # a chip of a chain
BRIDGE_RTL = ("hw_uart_bridge.v", "hw_uart_rx.v", "hw_uart_tx.v", "hw_board_uart_bus.v")   # and the board's reset + bridge
UART_BAUD = 115_200                     # host/serial_transport.py DEFAULT_BAUD

# hw_uart_rx samples each bit at its middle, timed from the start bit's falling edge: with a
# divisor error e the stop bit's sample lands 9.5 * e bit times off. Half of the half-bit margin
# (0.25 bit) is allowed for that, the rest is the host adapter's own error and edge jitter:
# 9.5 * e <= 0.25 gives e <= 2.6 %.
MAX_BAUD_ERROR = 0.25 / 9.5
MIN_CLKS_PER_BIT = 4                    # hw_uart_rx's minimum (its mid-bit timer)


def clks_per_bit(board, baud: int = UART_BAUD) -> int:
    """The bridge's CLKS_PER_BIT for `baud` at the board's design clock; a rate the divider cannot
    make within MAX_BAUD_ERROR is refused, naming design clocks that make it exactly."""
    if not isinstance(baud, int) or baud <= 0:
        raise FlowError(f"--baud {baud!r}: give the UART rate in baud, e.g. 115200 or 3000000")
    hz = board.clock_mhz * 1e6
    clks = round(hz / baud)
    if clks < MIN_CLKS_PER_BIT:
        raise FlowError(f"--baud {baud:,}: at the {board.clock_mhz:g} MHz design clock a bit is {hz / baud:.2f} "
                        f"clocks, below the {MIN_CLKS_PER_BIT} hw_uart_rx needs; use a lower rate or a clock of "
                        f"at least {MIN_CLKS_PER_BIT * baud / 1e6:g} MHz (--clock)")
    error = baud_error(hz, baud)
    if error > MAX_BAUD_ERROR:
        good = [f for f in (k * baud / 1e6 for k in range(max(MIN_CLKS_PER_BIT, clks - 3), clks + 4))
                if (out := _design_clock(board, f)) is not None and baud_error(out * 1e6, baud) <= MAX_BAUD_ERROR]
        good = sorted(good, key=lambda f: abs(f - board.clock_mhz))[:3]
        pick = (f"a design clock close to a multiple of the rate (--clock {' or '.join(f'{f:g}' for f in good)})"
                if good else "another design clock")
        raise FlowError(f"--baud {baud:,}: at the {board.clock_mhz:g} MHz design clock a bit is {hz / baud:.2f} "
                        f"clocks; {clks} clocks give {hz / clks:,.0f} baud, {100 * error:.1f} % off, beyond the "
                        f"{100 * MAX_BAUD_ERROR:.1f} % the UART receivers tolerate. Pick {pick} or another rate")
    return clks


def baud_error(hz: float, baud: int) -> float:
    """The relative rate error of the bridge's divider (a whole number of clocks per bit)."""
    clks = max(1, round(hz / baud))
    return abs(hz / clks - baud) / baud


def _design_clock(board, mhz: float):
    """The design clock `--clock mhz` gives on `board` (its family's PLL after the oscillator, at
    the PLL's real output), or None when no PLL there can make it."""
    if mhz == board.clock_mhz:
        return mhz
    try:
        return board.backend.pll(board.osc_mhz or board.clock_mhz, mhz).out_mhz
    except (HardwireError, NotImplementedError):
        return None


class UartLink(Link):
    name = "uart"
    title = "a UART"
    host_scheme = "serial"
    bridge_rtl = BRIDGE_RTL
    options = (Option("baud", int, "UART boards: the bridge's baud rate (default 115200; the ULX3S's "
                                   "FT231X takes up to 3000000, which needs a design clock that is "
                                   "close to a multiple of it, e.g. --clock 33.333 or 36)"),)
    board_module = "hw_board_uart"
    board_rtl = BOARD_RTL
    chain_board_module = "hw_board_uart_chain"
    chain_board_rtl = CHAIN_BOARD_RTL
    ports = (Port("input", "clk"), Port("input", "rst_btn"), Port("input", "uart_rxd"),
             Port("output", "uart_txd"), Port("output", "led", 2))

    def resolve(self, board, options):
        baud = options.get("baud")
        baud = UART_BAUD if baud is None else baud
        clks_per_bit(board, baud)           # a rate the bridge's divider cannot make: refused here
        return {"baud": baud}

    def parameters(self, board, options):
        baud = options["baud"]
        return [("CLKS_PER_BIT", str(clks_per_bit(board, baud)), f"{board.clock_mhz:g} MHz / {baud} baud")]

    def records(self, options):
        return {"uart_baud": options["baud"]}

    def host_metadata(self, options):
        return self.records(options)        # serial: opens the port at the bitstream's rate


LINK = UartLink()
