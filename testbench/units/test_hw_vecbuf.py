"""hw_vecbuf: random writes (consecutive indices, some past N, some writers
idle) and window reads at every start on every port, against a Python list.

The build's parameters come in the environment: VB_N, VB_G, VB_NW, VB_NR, VB_R
and VB_PORTS_ON (a port left out reads 0).
"""
from __future__ import annotations

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

W = 8


def params() -> dict[str, int]:
    return {k: int(os.environ[f"VB_{k}"]) for k in ("N", "G", "NW", "NR", "R", "PORTS_ON")}


def pack(values: list[int], width: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (v & ((1 << width) - 1)) << (i * width)
    return word


def windows(dut, p: dict[str, int]) -> list[list[int]]:
    word = dut.rd_data.value.to_unsigned()
    return [[(word >> ((port * p["R"] + k) * W)) & 0xFF for k in range(p["R"])] for port in range(p["NR"])]


def expected(mem: list[int], start: int, port: int, p: dict[str, int]) -> list[int]:
    if not (p["PORTS_ON"] >> port) & 1:
        return [0] * p["R"]
    return [mem[start + k] if start + k < p["N"] else 0 for k in range(p["R"])]


async def check_reads(dut, mem: list[int], p: dict[str, int], rng: random.Random, starts: list[int]) -> None:
    for s in starts:
        # each port its own start: the ports are independent
        port_starts = [s if port == 0 else rng.randrange(0, p["N"] + p["R"]) for port in range(p["NR"])]
        dut.rd_start.value = pack(port_starts, 32)
        await Timer(1, unit="ns")       # asynchronous read
        got = windows(dut, p)
        for port, ps in enumerate(port_starts):
            assert got[port] == expected(mem, ps, port, p), (
                f"port {port} window at {ps}: rtl {got[port]}, expected {expected(mem, ps, port, p)}")
    await FallingEdge(dut.clk)          # back in phase: the next write sees one rising edge


@cocotb.test()
async def run_test_writes_and_windows(dut):
    p = params()
    rng = random.Random(2311)
    Clock(dut.clk, 10, unit="ns").start()
    dut.wr_valid.value = 0
    await FallingEdge(dut.clk)
    mem = [None] * p["N"]
    # fill every element once (the RAM starts undefined), NW consecutive at a time
    for base in range(0, p["N"], p["NW"]):
        vals = [rng.randrange(256) for _ in range(p["NW"])]
        dut.wr_valid.value = (1 << p["NW"]) - 1
        dut.wr_idx.value = pack([base + j for j in range(p["NW"])], 32)
        dut.wr_data.value = pack(vals, W)
        await FallingEdge(dut.clk)
        for j, v in enumerate(vals):
            if base + j < p["N"]:
                mem[base + j] = v
    dut.wr_valid.value = 0
    await check_reads(dut, mem, p, rng, list(range(0, p["N"] + p["R"])))
    # random groups: any start, some writers idle, indices past N ignored
    for _ in range(300):
        base = rng.randrange(0, p["N"] + 2)
        valid = rng.getrandbits(p["NW"])
        vals = [rng.randrange(256) for _ in range(p["NW"])]
        dut.wr_valid.value = valid
        dut.wr_idx.value = pack([base + j for j in range(p["NW"])], 32)
        dut.wr_data.value = pack(vals, W)
        await FallingEdge(dut.clk)
        for j, v in enumerate(vals):
            if (valid >> j) & 1 and base + j < p["N"]:
                mem[base + j] = v
        dut.wr_valid.value = 0
        await check_reads(dut, mem, p, rng, [rng.randrange(0, p["N"] + p["R"]) for _ in range(3)])
