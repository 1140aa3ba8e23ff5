"""The one small interface every transport implements: 32-bit register reads and writes.

A transport moves register accesses to the device and nothing else; the
streaming API (host/device.py) is written once on top of it. Addresses are
byte offsets of the register map (host/registers.py). Bursts exist because the
UART link pays per frame: `write_many` pushes a run of values (to one FIFO
register, or to consecutive registers with increment=True) and `read_many`
reads a run the same way; the defaults here fall back to single accesses.
"""
from __future__ import annotations

import time
from typing import Dict, Iterable, List


class Transport:
    """Register access to one device. Subclasses implement read, write and close."""

    name = "transport"
    # seconds to sleep after a poll that found nothing new: 0 where each access is
    # already slow (UART) or where sleeping would stall a simulation
    poll_interval = 0.0

    def read(self, addr: int) -> int:
        raise NotImplementedError

    def pause(self) -> None:
        """Let the device work after a poll found nothing new (a board: sleep a little;
        a simulation: run clock cycles)."""
        if self.poll_interval:
            time.sleep(self.poll_interval)

    def write(self, addr: int, value: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the link; further accesses are an error."""

    # ------------------------------------------------------------ bursts
    def read_many(self, addr: int, count: int, increment: bool = False) -> List[int]:
        """`count` reads of `addr` (a FIFO register), or of addr, addr+4, ... with increment."""
        return [self.read(addr + (4 * i if increment else 0)) for i in range(count)]

    def write_many(self, addr: int, values: Iterable[int], increment: bool = False) -> None:
        """Write `values` in order to `addr` (a FIFO register), or to addr, addr+4, ... ."""
        for i, v in enumerate(values):
            self.write(addr + (4 * i if increment else 0), v)

    def read_block(self, addrs: List[int]) -> Dict[int, int]:
        """{addr: value} for a sorted list of addresses, using incrementing bursts for runs."""
        out: Dict[int, int] = {}
        i = 0
        while i < len(addrs):
            j = i
            while j + 1 < len(addrs) and addrs[j + 1] == addrs[j] + 4:
                j += 1
            for k, v in enumerate(self.read_many(addrs[i], j - i + 1, increment=True)):
                out[addrs[i] + 4 * k] = v
            i = j + 1
        return out

    def stats(self) -> Dict[str, int]:
        """Link counters (retries, bad frames, ...) for reports and tests."""
        return {}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def check_u32(value: int, what: str = "register value") -> int:
    """value as an unsigned 32-bit int (negative ints are taken as two's complement)."""
    value = int(value)
    if not -(1 << 31) <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} {value} does not fit in 32 bits")
    return value & 0xFFFFFFFF
