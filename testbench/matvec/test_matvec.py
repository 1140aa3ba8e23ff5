"""hw_matvec: every output of every matrix of a token equals
numerics.rq(numerics.matvec(W, x), m, sh), for random x.

The pytest wrapper (tests/test_rtl_matvec.py) builds hw_matvec for the lane
ROMs of hw.rtlgen.fixture.random_int_model and passes the build's settings in
the environment: MATVEC_SEED, MATVEC_LANES, MATVEC_VPL (the model and layout
are rebuilt here from them). The testbench plays the core: it starts the
matrices in walk order, answers x_req one cycle later with the chunk of the
current x (random garbage beyond C and when not asked), and collects results.
"""
from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from hw import numerics as nx
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.layout import matrix_order, rom_layout

TAG_W = 4


def signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.model = random_int_model(int(os.environ["MATVEC_SEED"]))
        self.layout = rom_layout(self.model, int(os.environ["MATVEC_LANES"]), int(os.environ["MATVEC_VPL"]))
        self.mats = matrix_order(self.model)            # [(name, layer, W (R, C))]
        self.rng = random.Random(7)
        self.xs: dict[int, np.ndarray] = {}             # tag -> x (C,) int8 of that matrix
        self.results: list[tuple[int, int, int]] = []   # (tag, row, value)
        self.lasts: list[int] = []                      # tag of each out_last
        self.ctl_errors: list[str] = []
        for name in ("start", "rewind", "start_rows", "start_cols", "start_tag", "x_data"):
            getattr(dut, name).value = 0
        Clock(dut.clk, 10, unit="ns").start()
        cocotb.start_soon(self._x_server())
        cocotb.start_soon(self._monitor())

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await FallingEdge(self.dut.clk)

    # ---------------------------------------------------------------- core side
    async def _x_server(self) -> None:
        """Registered read: the chunk asked for in cycle t is on x_data in cycle t+1."""
        vpl, pending = self.layout.vpl, 0
        while True:
            await FallingEdge(self.dut.clk)
            self.dut.x_data.value = pending
            pending = self.rng.getrandbits(8 * vpl)                       # don't care
            if int(self.dut.x_req.value):
                x = self.xs[int(self.dut.x_tag.value)]
                w = int(self.dut.x_word.value)
                vals = [int(x[c]) if c < len(x) else self.rng.randint(-128, 127)
                        for c in range(w * vpl, w * vpl + vpl)]
                pending = sum((v & 0xFF) << (8 * j) for j, v in enumerate(vals))

    async def _monitor(self) -> None:
        lanes, rows_w, rq_w = self.layout.lanes, self.layout.rows_w, self.layout.rq_bits
        while True:
            await FallingEdge(self.dut.clk)
            valid = int(self.dut.out_valid.value)
            last = bool(int(self.dut.out_last.value))
            if last and not valid & 1:
                self.ctl_errors.append("out_last without out_valid[0]")
            if not valid:
                continue
            rows, data = int(self.dut.out_row.value), int(self.dut.out_data.value)
            tag = int(self.dut.out_tag.value)
            if last:
                self.lasts.append(tag)
            for l in range(lanes):
                if valid >> l & 1:
                    row = rows >> (l * rows_w) & ((1 << rows_w) - 1)
                    val = signed(data >> (l * rq_w) & ((1 << rq_w) - 1), rq_w)
                    self.results.append((tag, row, val))

    async def run_matrices(self, which: list[int], gaps: bool, rewind_first: bool) -> dict[int, np.ndarray]:
        """Start matrices `which` (walk indices, consecutive) with fresh random x; return x by index."""
        dut, xs = self.dut, {}
        for n, k in enumerate(which):
            _, _, w = self.mats[k]
            x = np.array([self.rng.randint(-128, 127) for _ in range(w.shape[1])], dtype=np.int64)
            if self.rng.random() < 0.2:
                x[:] = self.rng.choice([-128, 127])                      # extreme inputs
            xs[k] = x
            self.xs[k % (1 << TAG_W)] = x
            if gaps:
                for _ in range(self.rng.randint(0, 12)):
                    await FallingEdge(dut.clk)
            while not int(dut.ready.value):
                await FallingEdge(dut.clk)
            dut.start.value, dut.start_rows.value, dut.start_cols.value = 1, w.shape[0], w.shape[1]
            dut.start_tag.value = k % (1 << TAG_W)
            dut.rewind.value = int(rewind_first and n == 0)
            await FallingEdge(dut.clk)
            dut.start.value = 0
            dut.rewind.value = 0
        while int(dut.busy.value):
            await FallingEdge(dut.clk)
        return xs

    def check(self, xs: dict[int, np.ndarray]) -> int:
        """Compare the collected results with numerics; returns the number of values checked."""
        got: dict[tuple[int, int], list[int]] = {}
        for tag, row, val in self.results:
            got.setdefault((tag, row), []).append(val)
        lasts = {t: self.lasts.count(t) for t in set(self.lasts)}
        self.results.clear()
        self.lasts.clear()
        assert not self.ctl_errors, self.ctl_errors
        checked, bad = 0, []
        for k, x in xs.items():
            name, layer, w = self.mats[k]
            sel = (lambda a: a) if layer is None else (lambda a: a[layer])
            m, sh = sel(self.model[name + "_m"]), sel(self.model[name + "_sh"])
            want = nx.rq(nx.matvec(w, x), m, sh)                          # (R,)
            tag = k % (1 << TAG_W)
            for r in range(w.shape[0]):
                vals = got.pop((tag, r), None)
                if vals != [int(want[r])]:
                    bad.append(f"{name}[{layer}] row {r}: hw {vals}, numerics {int(want[r])} "
                               f"(acc {int(nx.matvec(w, x)[r])}, m {int(m[r])}, sh {int(sh[r])})")
                checked += 1
            if lasts.get(tag) != 1:
                bad.append(f"{name}[{layer}]: out_last seen {lasts.get(tag)} times, expected once")
        assert not bad, f"{len(bad)} of {checked} outputs wrong:\n" + "\n".join(bad[:20])
        assert not got, f"unexpected outputs (tag, row): {sorted(got)[:10]}"
        return checked


@cocotb.test()
async def run_test_tokens_back_to_back(dut):
    """Two whole tokens, matrices started as soon as ready (no bubble), rewind between."""
    tb = TB(dut)
    await tb.cycle_reset()
    n = len(tb.mats)
    total = 0
    for _ in range(2):
        t0 = cocotb.utils.get_sim_time("ns")
        xs = await tb.run_matrices(list(range(n)), gaps=False, rewind_first=True)
        cycles = (cocotb.utils.get_sim_time("ns") - t0) / 10
        total += tb.check(xs)
        walk = sum(s.passes * s.words for s in tb.layout.slots)
        # the walk itself is one word per cycle: only the pipeline drain and start are extra
        assert cycles <= walk + 12, f"a token took {cycles} cycles for a {walk}-word walk"
    dut._log.info("checked %d outputs", total)


@cocotb.test()
async def run_test_gaps_and_skipped_classifier(dut):
    """Random idle gaps between matrices; a token that skips the classifier, then rewinds."""
    tb = TB(dut)
    await tb.cycle_reset()
    n = len(tb.mats)
    xs = await tb.run_matrices(list(range(n - 1)), gaps=True, rewind_first=True)   # no wcls
    tb.check(xs)
    xs = await tb.run_matrices(list(range(n)), gaps=True, rewind_first=True)
    tb.check(xs)
