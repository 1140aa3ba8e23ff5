"""hw/fastest.py (`hardwire build --fastest`): the analytic search for the fastest setting a board holds."""
from __future__ import annotations

from pathlib import Path

import pytest

from hw.boards import get_board, needs
from hw.cli import EXIT_ERROR, main
from hw.fastest import LUT_SHARE, FastestError, candidates, fastest
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


def test_the_choice_fits_and_is_at_least_as_fast_as_the_committed_setting(default_4bit):
    """models/default with the committed ULX3S bitstream's bits and LoRA: the chosen setting fits within
    the LUT share, and no hand-picked setting of the grid that fits is faster (the committed 16x16d6n4
    is one of them)."""
    im, board = default_4bit, get_board("ulx3s-85f")
    base = Knobs(macs="lut", debug_vectors=False, lora_rank=4, lora_targets=("wq", "wv")).resolved(256)
    logged = []
    k = fastest(im, base, board, log=logged.append)
    got = {n.resource: n for n in needs(im, k, board)}
    assert all(n.fits for n in got.values()) and got["luts"].need <= LUT_SHARE * got["luts"].have
    assert (k.context, k.lora_rank, k.lora_targets) == (256, 4, ("wq", "wv"))       # the rest as given
    committed = Knobs(lanes=16, values_per_lane=16, macs="lut", dsp_values=6, norm_width=4, debug_vectors=False,
                      lora_rank=4, lora_targets=("wq", "wv")).resolved(256)
    assert mean_cycles(im, k) <= mean_cycles(im, committed)
    # the ranking is by the estimate: each listed candidate is no faster than the one above it
    ranked = candidates(im, base, board)
    assert ranked[0].knobs == k
    assert [c.mean_cycles for c in ranked] == sorted(c.mean_cycles for c in ranked)
    assert "--fastest:" in logged[0] and f"--lanes {k.lanes} --vpl {k.values_per_lane}" in logged[1]


def test_a_tighter_lut_share_gives_a_smaller_or_slower_choice(default_4bit):
    im, board = default_4bit, get_board("ulx3s-85f")
    base = Knobs(macs="lut", debug_vectors=False).resolved(256)
    roomy, tight = fastest(im, base, board, log=lambda _: None), fastest(im, base, board, 0.6, log=lambda _: None)
    luts = {n.resource: n.need for n in needs(im, tight, board)}["luts"]
    assert luts <= 0.6 * board.resources.luts
    assert mean_cycles(im, tight) >= mean_cycles(im, roomy)


def test_stories260k_gets_the_one_lane_count_its_block_ram_allows(shared_models):
    """stories260K at its whole 512-token context on the ECP5-85F, every class 4-bit: found by hand in the
    twenty-ninth session, 11 x 16 is the one lane count whose lane ROMs fit the block RAM (10 and 12
    lanes need 216 and 210 of 208). The search finds it."""
    from hw.flows.board_build import load_int_model

    im, _ = load_int_model(shared_models / "stories260K.bin", shared_models / "tok512.bin", FOUR_BITS)
    k = fastest(im, Knobs(macs="lut", debug_vectors=False).resolved(512), get_board("ulx3s-85f"),
                log=lambda _: None)
    assert (k.lanes, k.values_per_lane) == (11, 16)


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


def test_cli_fastest_check_prints_the_choice_and_its_fit(default_4bit, capsys):
    assert main(["build", "--check", "--fastest", "--bits", FOUR_BITS]) == 0
    out = capsys.readouterr().out
    assert "--fastest:" in out and "fit check on ulx3s-85f" in out
