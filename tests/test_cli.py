"""hw/cli.py: subcommands parse, report errors by exit status, and run end to end."""
from __future__ import annotations

import pytest

from hw.checkpoint import save_llama2c
from hw.cli import EXIT_ERROR, EXIT_USAGE, main

COMMANDS = ("quantize", "compile", "sim", "run", "info", "build", "bench", "train")


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"    {name} " in out


@pytest.mark.parametrize("argv", [["sim"], ["run"], ["bench"], ["build", "--board", "x", "--model", "m"]])
def test_unbuilt_backends_say_so_and_exit_2(argv, capsys):
    assert main(argv) == EXIT_USAGE
    assert "not implemented yet" in capsys.readouterr().err


def test_bad_input_is_a_one_line_error_and_exit_1(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.bin")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "missing.bin" in err and "Traceback" not in err


def test_quantize_compile_info(tmp_path, tiny_model, capsys):
    ckpt, npz, build = tmp_path / "tiny.bin", tmp_path / "tiny.npz", tmp_path / "build"
    save_llama2c(tiny_model, ckpt)
    assert main(["quantize", str(ckpt), "--bits", "4", "--rounding", "nearest", "--out", str(npz)]) == 0
    assert npz.is_file()
    assert main(["compile", str(npz), "--out", str(build), "--lanes", "4", "--vpl", "2"]) == 0
    assert (build / "rtl" / "hardwire_top.v").is_file()
    capsys.readouterr()
    assert main(["info", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "dim=24" in out and "fingerprint" in out
    assert main(["info", str(ckpt)]) == 0
    assert "parameters" in capsys.readouterr().out
