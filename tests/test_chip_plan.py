"""hw/chip_plan.py: the scale-out plan comes from the fit check and the estimate, and says what
they say (a model over one chip's block RAM needs more chips; a chain is no faster per user)."""
from __future__ import annotations

from hw import chip_plan as cp


def test_the_plan_follows_the_fit_check_and_the_estimate():
    small = cp.plan("260K", cp.MODELS["stories260K (0.26M)"])
    bigger = cp.plan("1M", cp.MODELS["1M"])
    # stories260K at its 512 context: within the 208 blocks of one ECP5-85F since generator 1.14's single
    # scale and gain ROMs (its KV cache is 80; 1.13 counted 208+, two chips)
    assert 150 < small.blocks <= 208 and small.chips == 1 and small.layer_fits_a_chip
    assert small.user_tokens_per_s == small.chain_tokens_per_s == cp.CLOCK_MHZ * 1e6 / small.cycles
    assert bigger.blocks > small.blocks and bigger.chips >= 2
    assert (bigger.chips - 1) * 208 < bigger.blocks <= bigger.chips * 208
    # a hop is what the chip-to-chip link takes for a chain frame (the residual and two words:
    # docs/chain.md), framed, copied in and out
    from hw.links.chip_link import frame_cycles, hop_cycles
    dim = cp.MODELS["1M"]["dim"]
    assert bigger.hop_cycles == hop_cycles(dim + 2) > frame_cycles(dim + 2) + 2 * (dim + 2)
    # one user's token crosses every chip: the hops only add; C users in flight make C times that
    assert bigger.user_tokens_per_s < cp.CLOCK_MHZ * 1e6 / bigger.cycles
    assert bigger.chain_tokens_per_s == bigger.user_tokens_per_s * bigger.chips
    assert f"| 260K | 0.26M | {small.blocks} | " in cp.markdown([small])
