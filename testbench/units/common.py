"""Shared pieces of the unit testbenches: clock and reset, a streaming checker
for the fixed-latency units, and the SiLU test tables (the pytest wrapper
writes them to silu.hex; the testbench recomputes them for the expected values).
"""
from __future__ import annotations

import os
import random
from collections import deque
from typing import Any, Callable

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from hw import numerics as nx

SILU_LAYERS = 3
CASES_ENV = "HARDWIRE_UNIT_CASES"   # `make units`: random cases per arithmetic unit (>= 10^5)


def cases(n: int) -> int:
    """`n` random cases, or HARDWIRE_UNIT_CASES when that is larger (`make units`)."""
    value = os.environ.get(CASES_ENV, "").strip()
    return max(n, int(value)) if value.isdigit() else n


def silu_test_tables() -> np.ndarray:
    """(SILU_LAYERS, 256) int64: two numerics.gate_table (silu) scales and one table of
    random int16 values over the whole range (the RTL must not assume a shape)."""
    rng = np.random.default_rng(11)
    rand = rng.integers(-32768, 32768, size=256)
    rand[:4] = [-32768, 32767, 0, -1]
    return np.stack([nx.gate_table(0.02), nx.gate_table(0.11), rand]).astype(np.int64)


async def start(dut, inputs: tuple[str, ...] = ("in_valid",)) -> None:
    """Start a 10 ns clock, zero `inputs`, hold rst for 2 cycles; return after a falling edge."""
    Clock(dut.clk, 10, unit="ns").start()
    for name in inputs:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)


async def stream(dut, items: list, latency: int, drive: Callable[[Any, Any], None],
                 read: Callable[[Any], Any], rng: random.Random, junk: Callable[[random.Random], Any],
                 gap: float = 0.2) -> list[tuple[Any, Any]]:
    """Feed `items` one per cycle with random idle cycles (inputs then hold junk,
    in_valid low); return (item, output) pairs.

    Asserts that out_valid is high exactly `latency` cycles after each in_valid
    and never otherwise. Inputs change and outputs are read at falling edges.
    """
    pending: deque[tuple[int, Any]] = deque()   # (cycle the output is due, item)
    got: list[tuple[Any, Any]] = []
    cycle, i = 0, 0
    tail = latency + 3                          # idle cycles after the last output
    while i < len(items) or pending or tail > 0:
        if not (i < len(items) or pending):
            tail -= 1
        due = bool(pending) and pending[0][0] == cycle
        valid = int(dut.out_valid.value)
        assert valid == due, (f"cycle {cycle}: out_valid={valid}, expected {int(due)} "
                              f"(latency {latency})")
        if due:
            got.append((pending.popleft()[1], read(dut)))
        if i < len(items) and rng.random() >= gap:
            drive(dut, items[i])
            dut.in_valid.value = 1
            pending.append((cycle + latency, items[i]))
            i += 1
        else:
            drive(dut, junk(rng))
            dut.in_valid.value = 0
        await FallingEdge(dut.clk)
        cycle += 1
    return got


def check(pairs: list[tuple[Any, Any]], expect: Callable[[Any], Any], what: str) -> None:
    """Assert every output equals expect(item); the message lists the first mismatches."""
    bad = [(item, out, expect(item)) for item, out in pairs if out != expect(item)]
    assert not bad, (f"{what}: {len(bad)} of {len(pairs)} outputs differ from hw/numerics.py; first: "
                     + "; ".join(f"in {i} -> rtl {o}, numerics {e}" for i, o, e in bad[:5]))
    assert pairs, f"{what}: no outputs checked"
