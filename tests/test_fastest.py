"""hw/fastest.py (`hardwire build --fastest`): the analytic search for the fastest setting a board holds."""
from __future__ import annotations

from pathlib import Path

import pytest

from hw.boards import get_board, needs
from hw.cli import EXIT_ERROR, main
from hw.fastest import LUT_SHARE, NEAR_TIE, FastestError, candidates, fastest
from hw.rtlgen.estimate import estimate
from hw.rtlgen.knobs import Knobs
from hw.rtlgen.layout import rom_layout

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "default" / "model.bin"
FOUR_BITS = "embedding=4,attention=4,mlp=4,classifier=4"


def mean_cycles(im, k) -> float:
    est = estimate(im, rom_layout(im, k.lanes, k.values_per_lane), k)
    return sum(est.cycles(p) for p in range(k.context)) / k.context


@pytest.fixture(scope="module")
def default_4bit():
    if not DEFAULT_MODEL.is_file():
        pytest.skip("models/default is not built")
    from hw.flows.board_build import load_int_model
    return load_int_model(DEFAULT_MODEL, None, FOUR_BITS)[0]


BASE = dict(macs="lut", debug_vectors=False, lora_rank=4, lora_targets=("wq", "wv"))     # the committed build's


@pytest.fixture(scope="module")
def ranked(default_4bit):
    return candidates(default_4bit, Knobs(**BASE).resolved(256), get_board("ulx3s-85f"))


def test_the_choice_fits_and_is_at_least_as_fast_as_the_committed_setting(default_4bit, ranked):
    """models/default with the committed ULX3S bitstream's bits and LoRA: every candidate fits within the
    LUT share, they are ranked by the estimate, and the first is at least as fast as the committed
    16x16d6n4 (one of the grid's settings)."""
    im, board = default_4bit, get_board("ulx3s-85f")
    for c in ranked[:10] + ranked[-10:]:
        got = {n.resource: n for n in needs(im, c.knobs, board)}
        assert all(n.fits for n in got.values()) and got["luts"].need <= LUT_SHARE * got["luts"].have
        assert c.mean_cycles == pytest.approx(mean_cycles(im, c.knobs))
        assert (c.knobs.context, c.knobs.lora_rank, c.knobs.lora_targets) == (256, 4, ("wq", "wv"))  # as given
    assert [c.mean_cycles for c in ranked] == sorted(c.mean_cycles for c in ranked)
    committed = Knobs(lanes=16, values_per_lane=16, dsp_values=6, norm_width=4, **BASE).resolved(256)
    assert any(c.knobs == committed for c in ranked)
    assert ranked[0].mean_cycles <= mean_cycles(im, committed)


def test_a_tighter_lut_share_gives_a_smaller_or_slower_choice(default_4bit, ranked):
    board = get_board("ulx3s-85f")
    tight = fastest(default_4bit, Knobs(**BASE).resolved(256), board, 0.6, log=lambda _: None)
    luts = {n.resource: n.need for n in needs(default_4bit, tight, board)}["luts"]
    assert luts <= 0.6 * board.resources.luts
    assert mean_cycles(default_4bit, tight) >= ranked[0].mean_cycles


def test_stories260k_pick_beats_the_routed_setting_and_fits(shared_models):
    """stories260K at its whole 512-token context on the ECP5-85F, every class 4-bit. Before generator 1.14
    11 x 16 was the one lane count whose ROMs fit the block RAM (twenty-ninth session); 1.14's single scale
    and gain ROMs free 14 blocks, so 8 to 13 lanes fit at 16 values and 14 do not. The pick fits within
    the LUT share and is at least as fast, over the context, as every one of those within the share
    (11 and 12 lanes; 13 needs 75.2 % of the LUTs)."""
    from hw.flows.board_build import load_int_model

    im, _ = load_int_model(shared_models / "stories260K.bin", shared_models / "tok512.bin", FOUR_BITS)
    board = get_board("ulx3s-85f")
    base = Knobs(macs="lut", debug_vectors=False).resolved(512)
    k = fastest(im, base, board, log=lambda _: None)
    got = {n.resource: n for n in needs(im, k, board)}
    assert all(n.fits for n in got.values()) and got["luts"].need <= LUT_SHARE * got["luts"].have
    for lanes in range(8, 15):
        other = Knobs(macs="lut", debug_vectors=False, lanes=lanes, values_per_lane=16, dsp_values=6,
                      norm_width=4).resolved(512)
        need = {n.resource: n for n in needs(im, other, board)}
        assert need["brams"].fits == (lanes < 14), (lanes, need["brams"])
        if all(n.fits for n in need.values()) and need["luts"].need <= LUT_SHARE * need["luts"].have:
            assert mean_cycles(im, k) <= (1 + NEAR_TIE) * mean_cycles(im, other), lanes
    # the best mean (5 x 16, 2 positions a cycle, 4,170 cycles at position 0) is a near tie: the pick is
    # the tied setting with the fewest cycles at position 0
    ranked = candidates(im, base, board)
    tied = [c for c in ranked if c.mean_cycles <= (1 + NEAR_TIE) * ranked[0].mean_cycles]
    est = estimate(im, rom_layout(im, k.lanes, k.values_per_lane), k)
    assert len(tied) > 1 and est.cycles(0) == min(c.first_cycles for c in tied) < ranked[0].first_cycles


def test_nothing_fits_is_a_clear_error(default_4bit):
    with pytest.raises(FastestError, match="no setting .* fits icebreaker .*bigger board"):
        fastest(default_4bit, Knobs(macs="lut", debug_vectors=False).resolved(256), get_board("icebreaker"))
    with pytest.raises(FastestError, match="fraction in"):
        fastest(default_4bit, Knobs(macs="lut").resolved(256), get_board("ulx3s-85f"), 1.5)


def test_cli_refuses_a_setting_given_with_fastest(capsys):
    """--fastest chooses the lanes, values per lane, DSP values and rmsnorm width: one given as well is
    refused by name, not silently replaced."""
    assert main(["build", "--check", "--fastest", "--lanes", "8", "--dsp-values", "2"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "--fastest chooses --lanes 8, --dsp-values 2 itself" in err
    assert main(["build", "--check", "--fastest", "--attention-positions", "2"]) == EXIT_ERROR
    assert "--fastest chooses --attention-positions 2 itself; drop it" in capsys.readouterr().err


def test_cli_fastest_check_prints_the_choice_and_its_fit(default_4bit, ranked, capsys):
    assert main(["build", "--check", "--fastest", "--bits", FOUR_BITS, "--lora-rank", "4",
                 "--lora-targets", "wq,wv"]) == 0
    out = capsys.readouterr().out.splitlines()
    best = ranked[0].knobs
    assert out[0].startswith(f"--fastest: {len(ranked)} settings fit ulx3s-85f")
    assert out[1].split()[:4] == ["--lanes", str(best.lanes), "--vpl", str(best.values_per_lane)]
    assert any(line.startswith(f"fit check on ulx3s-85f (LFE5U-85F-6BG381C), lanes {best.lanes} x "
                               f"{best.values_per_lane}") for line in out)
