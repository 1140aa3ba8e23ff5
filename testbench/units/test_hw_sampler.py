"""hw_sampler, greedy (inv_temp = 0): the token is the first index of the largest logit (numerics'
argmax), whatever word and field it is in, with every field past V or past LANES masked; and the
scan keeps pace: G = 4 logits a cycle (2 / 1 below 4 lanes), a word never split, so a word takes
ceil(LANES / G) cycles and the pick comes estimate.greedy_scan cycles after the last word is ready
(exactly: the estimate's cycle model of the sampler is checked here).
The logit RAM is modelled as the core's (registered: data one cycle after the address). Build
parameters in the environment: SAMPLER_LANES, SAMPLER_V, SAMPLER_WAW.
"""
from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from hw.rtlgen.estimate import greedy_scan
from testbench.units.common import start

LANES = int(os.environ.get("SAMPLER_LANES", "4"))
V = int(os.environ.get("SAMPLER_V", "32"))
WAW = int(os.environ.get("SAMPLER_WAW", "4"))
WORDS = -(-V // LANES)
LMIN, LMAX = -(1 << 23), (1 << 23) - 1


class LogitRam:
    """The core's logit RAM: WORDS words of LANES int24 fields; junk past V (never a winner)."""

    def __init__(self, dut, logits: list[int], rng: random.Random):
        padded = logits + [LMAX] * (WORDS * LANES - V)      # the largest value: masking must hold
        self.words = [sum((padded[w * LANES + f] & 0xFFFFFF) << (24 * f) for f in range(LANES))
                      for w in range(WORDS)] + [rng.getrandbits(24 * LANES) for _ in range((1 << WAW) - WORDS)]
        self.dut = dut

    async def serve(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.dut.lg_data.value = self.words[self.dut.lg_addr.value.to_unsigned()]


async def pick(dut, logits: list[int], rng: random.Random, wpp: int | None) -> tuple[int, int]:
    """Run a greedy pick; wpp None: every word ready at the start, else one more word every wpp
    cycles. Returns (token, cycles from the last word ready to done)."""
    ram = cocotb.start_soon(LogitRam(dut, logits, rng).serve())
    ready = WORDS if wpp is None else 0
    dut.lg_ready.value = ready
    dut.inv_temp.value = 0
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    cycle, ready_at = 0, 0 if wpp is None else None
    while not dut.done.value:
        await FallingEdge(dut.clk)
        cycle += 1
        if wpp is not None and cycle % wpp == 0 and ready < WORDS:
            ready += 1
            dut.lg_ready.value = ready
            if ready == WORDS:
                ready_at = cycle
        assert cycle < 40 * WORDS * LANES + 100, "the sampler never finished"
    token = dut.token.value.to_unsigned()
    ram.cancel()
    return token, cycle - ready_at


@cocotb.test()
async def run_test_greedy(dut):
    await start(dut, ("seed_load", "start", "lg_ready"))
    dut.seed.value, dut.top_k.value, dut.logit_m.value, dut.logit_sh.value = 1, 1, 1, 0
    rng = random.Random(905)
    last = list(range(V))
    cases = {
        "random": [rng.randint(LMIN, LMAX) for _ in range(V)],
        "all negative": [rng.randint(LMIN, -1) for _ in range(V)],     # the pad fields (0) must not win
        "ties across words": [7 if i in (V // 3, V - 1) else rng.randint(-9, 6) for i in range(V)],
        "max in the last field": last,
        "max in each lane": None,
        "all equal": [LMIN] * V,
    }
    for what, logits in cases.items():
        placements = [logits] if logits is not None else [
            [100 if i == w * LANES + f else -5 for i in range(V)]
            for w in (0, WORDS - 1) for f in range(LANES) if w * LANES + f < V]
        for lg in placements:
            for wpp in (None, 1, 3, 8):
                got, _ = await pick(dut, lg, rng, wpp)
                want = int(np.argmax(np.array(lg)))             # the first index of the largest
                assert got == want, f"{what} (wpp {wpp}): token {got}, argmax {want}"
    # pace: the pick's delay after the classifier's last word is what the estimate counts
    delays = {}
    for wpp in (1, 2, 3, 4, 8):
        delays[wpp] = (await pick(dut, cases["random"], rng, wpp))[1]
    want = {wpp: greedy_scan(LANES, wpp, V) for wpp in delays}
    assert delays == want, f"{LANES} lanes, done this many cycles after the last word (a word every wpp cycles): {delays}, the estimate counts {want}"
