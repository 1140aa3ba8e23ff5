"""How many ECP5-85F chips a llama of a given size needs, and what a chain of them would make.

    python -m hw.chip_plan            -> docs/scale_out.md (issue 15's "30 chips" question at FPGA scale)

Computed by the fit check (hw/boards.py `needs`) and the cycle estimate (hw/rtlgen/estimate.py) on
integer models of the stated shapes (random weights: only the shapes matter to both), all weights
4-bit, 16 x 8 LUT MACs and one attention engine per chip (the committed board's MACs; one engine
keeps the DSPs of a wide head in bounds). The block RAM decides: a chip holds at most 208 DP16KD,
and the lane ROMs, the embedding table and the KV cache need about one block per 18 kbit. The
chain's cycles per token are the whole model's walk at one chip's MACs (a token passes the chips
one after another, so one user's token costs the same cycles as on one large chip) plus a hop per
chip boundary: the residual vector (dim x 16 bits) over hw_chip_link (docs/chip_link.md; its cost
per hop from hw/links/chip_link.py `hop_cycles`: LINK_BITS-bit beats every 4 cycles, framed, with
the vector copied in and out). A chain of C chips busy with C users' tokens at once (each chip on its own layers)
makes C times one user's rate. `hardwire compile --chips` builds and simulates such a chain (docs/chain.md);
the hops here are its frames (hw/rtlgen/chain.py `link_hop_cycles`: N - 1 residual frames and the token back).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from hw.rtlgen.chain import LINK_W as LINK_BITS      # hw_chip_link's W: 8 pins on a GPIO header

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "docs" / "scale_out.md"
BOARD = "ulx3s-85f"
CLOCK_MHZ = 36.0            # about the committed board's design clock
BITS = {"embedding": 4, "attention": 4, "mlp": 4, "classifier": 4}

# llama2.c's stories models (their config.json / run.c headers), and a 1M-parameter one between them
MODELS = {
    "stories260K (0.26M)": dict(dim=64, hidden=172, n_layers=5, n_heads=8, n_kv_heads=4, vocab=512, seq_len=512),
    "1M": dict(dim=128, hidden=344, n_layers=6, n_heads=8, n_kv_heads=4, vocab=1024, seq_len=512),
    "stories15M": dict(dim=288, hidden=768, n_layers=6, n_heads=6, n_kv_heads=6, vocab=32000, seq_len=256),
    "stories110M": dict(dim=768, hidden=2048, n_layers=12, n_heads=12, n_kv_heads=12, vocab=32000, seq_len=1024),
}


@dataclass
class Plan:
    name: str
    params: int
    blocks: int                 # DP16KD for the whole model (lane ROMs, tables, KV cache, FIFOs)
    layer_blocks: int           # what one more layer adds
    vocab_blocks: int           # what the vocabulary (embedding table + classifier rows) adds
    chips: int                  # ceil(blocks / blocks per chip): the block RAM's lower bound
    layer_fits_a_chip: bool     # a chip with one layer and no vocabulary fits (else a layer is split too)
    cycles: int                 # per token, the whole walk at 16 x 8, mean of first and last position
    hop_cycles: int             # per chip boundary

    @property
    def user_tokens_per_s(self) -> float:
        return CLOCK_MHZ * 1e6 / (self.cycles + self.chips * self.hop_cycles) if self.chips > 1 else \
            CLOCK_MHZ * 1e6 / self.cycles

    @property
    def chain_tokens_per_s(self) -> float:
        return self.user_tokens_per_s * self.chips


def _needs(shape: dict, **change):
    from hw.boards import get_board, needs
    from hw.rtlgen.fixture import random_int_model
    from hw.rtlgen.knobs import Knobs

    s = {**shape, **change}
    model = random_int_model(1, bits=BITS, **s)
    knobs = Knobs(lanes=16, values_per_lane=8, macs="lut", attention_engines=1).resolved(s["seq_len"])
    return {n.resource: n for n in needs(model, knobs, get_board(BOARD))}, model, knobs


def plan(name: str, shape: dict) -> Plan:
    from hw.rtlgen.chain import link_hop_cycles
    from hw.rtlgen.estimate import estimate
    from hw.rtlgen.layout import rom_layout

    full, model, knobs = _needs(shape)
    one, _, _ = _needs(shape, n_layers=1)
    two, _, _ = _needs(shape, n_layers=2)
    small_vocab, _, _ = _needs(shape, n_layers=1, vocab=16)
    have = full["brams"].have
    layer = two["brams"].need - one["brams"].need
    est = estimate(model, rom_layout(model, knobs.lanes, knobs.values_per_lane), knobs)
    return Plan(name, _params(shape), full["brams"].need, layer, one["brams"].need - small_vocab["brams"].need,
                max(1, math.ceil(full["brams"].need / have)), small_vocab["brams"].need <= have,
                (est.cycles(0) + est.cycles(knobs.context - 1)) // 2,
                link_hop_cycles(shape["dim"]))


def _params(s: dict) -> int:
    kv = s["dim"] * s["n_kv_heads"] // s["n_heads"]
    per_layer = 2 * s["dim"] * s["dim"] + 2 * s["dim"] * kv + 3 * s["dim"] * s["hidden"]
    return s["n_layers"] * per_layer + s["vocab"] * s["dim"]


def markdown(plans: list[Plan]) -> str:
    lines = ["# Scale-out: how many ECP5-85F chips a llama needs (issue 15)", "",
             "Written by `python -m hw.chip_plan` (hw/chip_plan.py says how): the fit check and the cycle "
             f"estimate on models of these shapes, all weights 4-bit, 16 x 8 LUT MACs and one attention "
             f"engine per chip, {CLOCK_MHZ:g} MHz, hw_chip_link with {LINK_BITS}-bit beats (docs/chip_link.md: "
             "a frame per chip boundary and one back with the token, framed, copied in and out). An estimate: "
             "`hardwire compile --chips` builds such a chain and simulates it (docs/chain.md).", "",
             "| model | parameters | block RAMs (DP16KD) | one layer | vocabulary | chips (block RAM bound) | "
             "a layer fits a chip | cycles/token | one user tok/s | chain of C users tok/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in plans:
        lines.append(f"| {p.name} | {p.params / 1e6:.2f}M | {p.blocks:,} | {p.layer_blocks:,} | {p.vocab_blocks:,} | "
                     f"{p.chips:,} | {'yes' if p.layer_fits_a_chip else 'no'} | {p.cycles:,} | "
                     f"{p.user_tokens_per_s:,.0f} | {p.chain_tokens_per_s:,.0f} |")
    lines += ["", "What it says: the block RAM is the wall. An ECP5-85F holds 208 blocks of 18 kbit (3.7 Mbit); "
              "at 4 bits a weight that is under a million weights per chip once the KV cache and tables take "
              "their share. stories260K fits one chip at its 512-token context, just (since generator 1.14's "
              "single scale and gain ROMs; its KV cache alone is 80 blocks); the 1M model needs three; stories15M needs some thirty (its 32,000-token embedding table is more than twenty chips' "
              "worth of block RAM by itself, and one of its layers already exceeds a chip, so a layer would be "
              "split too); stories110M needs well over a hundred. That is HC1's '30 chips' question at FPGA "
              "scale: mask ROM beside the multipliers holds a billion weights per die, block RAM a few million "
              "per FPGA. What would change it: weights in LUT ROM as well as block RAM (an ECP5-85F's 84k "
              "LUT4 hold another 1.3 Mbit), 3-bit classes, a vocabulary trimmed to what the text uses, or a "
              "part with more memory (UltraRAM on a Kria KV260's Zynq UltraScale+: 18 Mbit more).", "",
              "One user's token passes the chips one after another, so a chain is no faster per user than one "
              "large chip with the same MACs; its rate grows with the users it holds at once (a token per chip "
              "in flight), which is how HC1's 30-chip plan serves a model of 671B parameters.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    plans = [plan(name, shape) for name, shape in MODELS.items()]
    args.out.write_text(markdown(plans))
    for p in plans:
        print(f"{p.name}: {p.blocks:,} blocks, {p.chips} chips, {p.user_tokens_per_s:,.0f} tok/s per user")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
