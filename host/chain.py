"""The registers of every chip of a chain, reached through the first (docs/chain.md).

Two ways, one interface (`read`, `read_block`, `write`):

* `RemoteChip`: the first chip's CHAIN_REMOTE mailbox (hw_chain_bus, generator >= 1.8): the access
  goes around the ring of links as a control frame and comes back with the word. This is how a
  host reaches the other boards of a chain over the first board's UART, and the chain top of the
  simulation answers it the same way.
* `SelectedChip`: the simulation's chain top, CHAIN_SEL (chains of generator 1.7, which have no
  mailbox).

Python 3.8 (PYNQ images).
"""
from __future__ import annotations

import time
from typing import Dict, Iterable

from host import registers as R
from host.errors import DeviceError, DeviceTimeout
from host.transport import Transport

MAILBOX_VERSION = 0x010800          # GEN_VERSION of the first generator with hw_chain_bus (1.8.0)
REMOTE_WRITE = 1 << 16
REMOTE_MISSED = 1 << 30
REMOTE_BUSY = 1 << 31


def has_mailbox(gen_version: int) -> bool:
    return gen_version >= MAILBOX_VERSION


class RemoteChip:
    """Chip `chip`'s registers through the first chip's mailbox; each access waits at most
    `timeout` seconds for the ring to bring the answer back."""

    def __init__(self, transport: Transport, chip: int, timeout: float = 5.0):
        self.transport, self.chip, self.timeout = transport, int(chip), float(timeout)
        self.name = f"{transport.name}: chip {chip} of the chain"

    def _access(self, addr: int, write: bool) -> int:
        t = self.transport
        if t.read(R.CHAIN_REMOTE) & REMOTE_BUSY:
            raise DeviceError(f"{self.name}: the first chip's CHAIN_REMOTE is still busy with an earlier access "
                              "that never came back (a link gave up: reset every board of the chain together)")
        t.write(R.CHAIN_REMOTE, (REMOTE_WRITE if write else 0) | self.chip << 8 | addr // 4)
        deadline = time.monotonic() + self.timeout
        while True:
            words = t.read_block([R.CHAIN_REMOTE, R.CHAIN_REMOTE_DATA])
            status = words[R.CHAIN_REMOTE]
            if not status & REMOTE_BUSY:
                break
            if time.monotonic() > deadline:
                raise DeviceTimeout(
                    f"{self.name}: register {addr:#05x} got no answer over the links within {self.timeout:g} s; "
                    "check the link cables (J1/J2, docs/chip_link.md), that every board is powered and loaded "
                    "with its chip<k> bitstream, and reset them together")
            t.pause()
        if status & REMOTE_MISSED:
            raise DeviceError(f"{self.name}: no chip of the ring took the access (no chip {self.chip}: "
                              "the boards run bitstreams of a shorter chain)")
        return words[R.CHAIN_REMOTE_DATA]

    def read(self, addr: int) -> int:
        return self._access(addr, write=False)

    def read_block(self, addrs: Iterable[int]) -> Dict[int, int]:
        return {a: self.read(a) for a in addrs}

    def write(self, addr: int, value: int) -> None:
        self.transport.write(R.CHAIN_REMOTE_DATA, value & 0xFFFFFFFF)
        self._access(addr, write=True)

    def write_many(self, addr: int, values: Iterable[int]) -> None:
        """Words to one register (a FIFO-like one such as LORA_DATA): an access around the ring each."""
        for v in values:
            self.write(addr, v)


class SelectedChip:
    """Chip `chip`'s registers through a chain top's CHAIN_SEL (the simulation of a generator 1.7
    chain); writes reach only that chip. Selects chip 0 again after each access."""

    def __init__(self, transport: Transport, chip: int):
        self.transport, self.chip = transport, int(chip)
        self.name = f"{transport.name}: chip {chip} of the chain"

    def read_block(self, addrs: Iterable[int]) -> Dict[int, int]:
        self.transport.write(R.CHAIN_SEL, self.chip)
        try:
            return self.transport.read_block(list(addrs))
        finally:
            self.transport.write(R.CHAIN_SEL, 0)

    def read(self, addr: int) -> int:
        return self.read_block([addr])[addr]

    def write(self, addr: int, value: int) -> None:
        self.write_many(addr, [value])

    def write_many(self, addr: int, values: Iterable[int]) -> None:
        self.transport.write(R.CHAIN_SEL, self.chip | 1 << 8)
        try:
            self.transport.write_many(addr, list(values))
        finally:
            self.transport.write(R.CHAIN_SEL, 0)


def chain_top_selects(transport: Transport) -> bool:
    """CHAIN_SEL selects another chip: a chain top (the simulation); a chip's own core ignores the
    write and reads 0 there."""
    transport.write(R.CHAIN_SEL, 1)
    selected = transport.read(R.CHAIN_SEL) & 0xFF
    transport.write(R.CHAIN_SEL, 0)
    return selected == 1
