"""hw/auto_bits.py (`hardwire quantize --bits auto`): widths per class within a ROM budget."""
from __future__ import annotations

import pytest

from hw import auto_bits
from hw.cli import EXIT_ERROR, main
from hw.frontend.llama2c import save_llama2c
from hw.intmodel import IntModel, TENSOR_CLASSES
from hw.transform import DEFAULTS, calibrate_prepared

TRANSFORM = {"rotate": DEFAULTS["rotate"], "rotate_v": DEFAULTS["rotate_v"], "balance_qk": DEFAULTS["balance_qk"]}
OPTS = {"clip_search": "output", "rounding": "nearest", "transform": TRANSFORM}


@pytest.fixture(scope="module")
def prepared(tiny_model_factory):
    fm = tiny_model_factory(shared=False)
    prep, calib = calibrate_prepared(fm, TRANSFORM, "generate+sample", None, None)
    return fm, prep, calib


def test_the_choice_fits_and_no_finalist_beats_it(prepared):
    fm, prep, calib = prepared
    sizes = auto_bits.class_sizes(auto_bits._Weights(prep, calib, OPTS).by_width[8])
    budget = auto_bits.rom_bits(sizes, dict.fromkeys(TENSOR_CLASSES, 5))
    within, name = auto_bits.rom_budget(budget)
    choice = auto_bits.choose_bits(fm, prep, calib, within, name, OPTS, log=lambda *_: None)
    assert choice.rom_bits == auto_bits.rom_bits(sizes, choice.bits) <= budget
    assert len(choice.finalists) == auto_bits.FINALISTS
    assert all(auto_bits.rom_bits(sizes, bits) <= budget for bits, _, _ in choice.finalists)
    assert choice.kl == min(measured for _, _, measured in choice.finalists)
    # the sensitivities: 8 bits adds nothing, and 2 bits adds more than 7 in every class
    for c in TENSOR_CLASSES:
        assert choice.sensitivity[c][8] == 0.0 and choice.sensitivity[c][2] > choice.sensitivity[c][7]
    # the finalists come in the order of their predicted KL
    predicted = [p for _, p, _ in choice.finalists]
    assert predicted == sorted(predicted)


def test_a_budget_below_two_bits_everywhere_is_refused(prepared):
    fm, prep, calib = prepared
    within, name = auto_bits.rom_budget(1024)
    with pytest.raises(auto_bits.AutoBitsError, match="even 2 bits everywhere do not fit 1 kbit .* kbit > 1 kbit"):
        auto_bits.choose_bits(fm, prep, calib, within, name, OPTS, log=lambda *_: None)


def test_budget_text_is_checked():
    assert auto_bits.parse_budget("600") == 600 * 1024
    for bad in ("lots", "0", "-3"):
        with pytest.raises(auto_bits.AutoBitsError, match="--rom-budget"):
            auto_bits.parse_budget(bad)


def test_cli_writes_the_chosen_widths_within_the_budget(tmp_path, tiny_model_factory, capsys):
    fm = tiny_model_factory(shared=False)
    ckpt, npz = tmp_path / "tiny.bin", tmp_path / "tiny.npz"
    save_llama2c(fm, ckpt)
    assert main(["quantize", str(ckpt), "--bits", "auto", "--rom-budget", "40", "--rounding", "nearest",
                 "--out", str(npz)]) == 0
    out = capsys.readouterr().out
    im = IntModel.load(npz)
    bits = im.knobs["bits"]
    assert auto_bits.rom_bits(auto_bits.class_sizes(im), bits) <= 40 * 1024
    assert "auto bits:" in out and "/".join(str(bits[c]) for c in TENSOR_CLASSES) in out


def test_cli_rom_budget_without_auto_is_an_error(tmp_path, tiny_model, capsys):
    ckpt = tmp_path / "tiny.bin"
    save_llama2c(tiny_model, ckpt)
    assert main(["quantize", str(ckpt), "--bits", "4", "--rom-budget", "12", "--out", str(tmp_path / "x.npz")]) \
        == EXIT_ERROR
    assert "--rom-budget 12 is read only by --bits auto" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


# ---------------------------------------------------------------- hardwire build --bits auto

def test_build_auto_needs_a_checkpoint_and_a_board(tmp_path, tiny_model):
    from hw.flows.board_build import BuildError, load_int_model

    ckpt, npz = tmp_path / "tiny.bin", tmp_path / "tiny.npz"
    save_llama2c(tiny_model, ckpt)
    assert main(["quantize", str(ckpt), "--rounding", "nearest", "--out", str(npz)]) == 0
    with pytest.raises(BuildError, match="already quantized"):
        load_int_model(npz, None, "auto")
    with pytest.raises(BuildError, match="--bits auto chooses the widths that fit a board: give --board"):
        load_int_model(ckpt, None, "auto")


def test_build_auto_picks_widths_that_pass_the_fit_check(tmp_path, tiny_model):
    from hw.boards import fit_report, get_board
    from hw.flows.board_build import load_int_model
    from hw.rtlgen.knobs import Knobs

    ckpt = tmp_path / "tiny.bin"
    save_llama2c(tiny_model, ckpt)
    knobs = Knobs(lanes=2, values_per_lane=2, macs="lut")
    board = get_board("ulx3s-85f")
    im, _ = load_int_model(ckpt, None, "auto", board, knobs)
    assert fit_report(im, knobs.resolved(im["rope_cos"].shape[0]), board).fits
    assert set(im.knobs["bits"]) == set(TENSOR_CLASSES)
    # where nothing fits, the refusal says what is over even at 2 bits
    with pytest.raises(auto_bits.AutoBitsError, match="even 2 bits everywhere do not fit .*> "):
        load_int_model(ckpt, None, "auto", get_board("icebreaker"), Knobs(lanes=64, values_per_lane=16, macs="lut"))
