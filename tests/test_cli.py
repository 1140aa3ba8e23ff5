"""hw/cli.py: subcommands parse, report errors by exit status, and run end to end."""
from __future__ import annotations

import pytest

from hw.frontend.llama2c import save_llama2c
from hw.cli import EXIT_ERROR, EXIT_USAGE, main

COMMANDS = ("quantize", "compile", "sim", "run", "info", "build", "bench", "train", "finetune")


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"    {name} " in out


def test_bench_bad_lane_setting_is_a_one_line_error(capsys):
    # `hardwire bench` runs Verilator (tests/test_bench.py); a bad setting fails before any build
    assert main(["bench", "--settings", "16"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "LANESxVPL" in err and "Traceback" not in err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--tokens", "many"])
    assert exc.value.code == EXIT_USAGE


def test_build_unknown_board_is_a_one_line_error(capsys):
    assert main(["build", "--board", "x", "--model", "m", "--check"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "unknown board 'x'" in err and "ulx3s-85f" in err and "Traceback" not in err


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


def test_compile_contexts_and_rope_width(tmp_path, tiny_model, capsys):
    """--contexts and --rope-width reach the build's knobs; contexts that do not divide the streams are
    refused by name."""
    import json

    ckpt, npz = tmp_path / "tiny.bin", tmp_path / "tiny.npz"
    save_llama2c(tiny_model, ckpt)
    assert main(["quantize", str(ckpt), "--bits", "4", "--rounding", "nearest", "--out", str(npz)]) == 0
    out = tmp_path / "ctx"
    assert main(["compile", str(npz), "--out", str(out), "--lanes", "4", "--vpl", "2", "--streams", "4",
                 "--contexts", "2", "--rope-width", "1"]) == 0
    knobs = json.loads((out / "build.json").read_text())["knobs"]
    assert (knobs["streams"], knobs["contexts"], knobs["rope_width"]) == (4, 2, 1)
    capsys.readouterr()
    assert main(["compile", str(npz), "--out", str(tmp_path / "bad"), "--streams", "3", "--contexts", "2"]) == 1
    assert "contexts must be 1, 2 or 4 and divide the streams (3)" in capsys.readouterr().err


def test_compile_writes_host_metadata_with_the_tokenizer(tmp_path, tiny_model, capsys):
    """`compile --tokenizer` records the identity and the tokenizer's fingerprint for the driver."""
    from host.metadata import Metadata, check_identity, check_tokenizer
    from host.tokenizer import Tokenizer
    from hw.tokenizer import Tokenizer as HwTokenizer

    vocab = [b"<unk>", b"<s>", b"</s>"] + [bytes([65 + i]) for i in range(tiny_model.config.vocab_size - 3)]
    tok_path = tmp_path / "tok.bin"
    HwTokenizer(vocab, [0.0] * len(vocab)).save(tok_path)
    ckpt, npz, build = tmp_path / "tiny.bin", tmp_path / "tiny.npz", tmp_path / "build"
    save_llama2c(tiny_model, ckpt)
    assert main(["quantize", str(ckpt), "--bits", "4", "--rounding", "nearest", "--out", str(npz)]) == 0
    assert main(["compile", str(npz), "--out", str(build), "--lanes", "4", "--tokenizer", str(tok_path)]) == 0
    meta = Metadata.load(build)
    assert meta.identity.lanes == 4 and meta.identity.vocab == tiny_model.config.vocab_size
    assert meta.tokenizer_path().resolve() == tok_path.resolve()
    check_identity(meta.identity, meta)
    check_tokenizer(Tokenizer.load(meta.tokenizer_path()), meta.identity, meta)


def test_a_reader_that_closes_the_pipe_gets_no_traceback():
    """`hardwire build --list-boards | head -0`: the writer stops with 141 and no Python traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    read_end, write_end = os.pipe()
    os.close(read_end)                                 # nobody will ever read: every write fails
    try:
        res = subprocess.run([sys.executable, "-m", "hw.cli", "build", "--list-boards"], cwd=repo,
                             stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert res.returncode == 141, res.stderr
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


def _save_tokenizer(path, vocab_size: int):
    from hw.tokenizer import Tokenizer

    vocab = [b"<unk>", b"<s>", b"</s>", b" "] + [bytes([65 + i]) for i in range(vocab_size - 4)]
    Tokenizer(vocab, [0.0] * len(vocab)).save(path)
    return path


@pytest.mark.parametrize("extra", [5, -5])
def test_compile_refuses_a_tokenizer_of_another_vocabulary_before_writing(tmp_path, tiny_model, capsys, extra):
    """A tokenizer of another vocabulary size is a one-line HardwireError, and no build folder is begun."""
    ckpt, npz, build = tmp_path / "tiny.bin", tmp_path / "tiny.npz", tmp_path / "build"
    save_llama2c(tiny_model, ckpt)
    assert main(["quantize", str(ckpt), "--rounding", "nearest", "--out", str(npz)]) == 0
    other = _save_tokenizer(tmp_path / "other.bin", tiny_model.config.vocab_size + extra)
    capsys.readouterr()
    assert main(["compile", str(npz), "--out", str(build), "--lanes", "4", "--tokenizer", str(other)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("hardwire compile: error:") and "Traceback" not in err
    assert f"{tiny_model.config.vocab_size} tokens" in err and "other.bin" in err
    assert not build.exists()


def test_compile_refuses_a_tokenizer_other_than_the_quantize_one(tmp_path, tiny_model, capsys):
    """Same size, other tokenizer: the fingerprint recorded at quantize time decides."""
    ckpt, npz, build = tmp_path / "tiny.bin", tmp_path / "tiny.npz", tmp_path / "build"
    save_llama2c(tiny_model, ckpt)
    tok = _save_tokenizer(tmp_path / "tok.bin", tiny_model.config.vocab_size)
    assert main(["quantize", str(ckpt), "--rounding", "nearest", "--tokenizer", str(tok), "--out", str(npz)]) == 0
    from hw.tokenizer import Tokenizer
    t = Tokenizer.load(tok)
    Tokenizer(t.vocab, [1.0] * t.vocab_size).save(tmp_path / "rescored.bin")
    capsys.readouterr()
    assert main(["compile", str(npz), "--out", str(build), "--tokenizer", str(tmp_path / "rescored.bin")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "rescored.bin is not the tokenizer" in err and "Traceback" not in err
    assert not build.exists()


def test_the_quantize_tokenizer_travels_with_the_model(tmp_path, tiny_model, capsys):
    """`quantize --tokenizer toks/x.bin`: the .npz carries it, compile records it in hardwire.json
    (a copy in the build folder), and `hardwire sim --model BUILD` or `--model MODEL.npz` find it."""
    from host.metadata import Metadata
    from hw.rtlgen.knobs import Knobs
    from hw.sim.run import resolve_build
    from hw.tokenizer import Tokenizer

    ckpt, npz, build = tmp_path / "ckpt" / "tiny.bin", tmp_path / "models" / "tiny.npz", tmp_path / "build"
    ckpt.parent.mkdir()
    save_llama2c(tiny_model, ckpt)
    (tmp_path / "toks").mkdir()
    tok_path = _save_tokenizer(tmp_path / "toks" / "x.bin", tiny_model.config.vocab_size)
    assert main(["quantize", str(ckpt), "--rounding", "nearest", "--tokenizer", str(tok_path),
                 "--out", str(npz)]) == 0
    want = Tokenizer.load(tok_path).fingerprint()
    tok_path.unlink()                   # the model must not depend on the file staying where it was
    assert main(["compile", str(npz), "--out", str(build), "--lanes", "4"]) == 0
    assert "host metadata" in capsys.readouterr().out
    meta = Metadata.load(build)
    assert meta.tokenizer_fingerprint == want
    assert Tokenizer.load(meta.tokenizer_path()).fingerprint() == want
    _, tok = resolve_build(build, None, Knobs())
    assert tok is not None and tok.fingerprint() == want
    _, tok = resolve_build(npz, tmp_path / "sim", Knobs(lanes=4))
    assert tok is not None and tok.fingerprint() == want


def test_an_integer_model_with_a_tampered_tokenizer_is_refused(tmp_path, tiny_model):
    from hw.calibrate import calibrate_model
    from hw.intmodel import IntModel, IntModelError
    from hw.quantize import quantize
    from hw.tokenizer import Tokenizer

    _save_tokenizer(tmp_path / "tok.bin", tiny_model.config.vocab_size)
    tok = Tokenizer.load(tmp_path / "tok.bin")
    im = quantize(tiny_model, calibrate_model(tiny_model, "generate"), rounding="nearest", tokenizer=tok)
    im.save(tmp_path / "ok.npz")
    assert IntModel.load(tmp_path / "ok.npz").tokenizer().fingerprint() == tok.fingerprint()
    im.tokenizer_bin = Tokenizer(tok.vocab, [2.0] * tok.vocab_size).to_bin()
    im.save(tmp_path / "bad.npz")
    with pytest.raises(IntModelError, match="not the one the model was quantized with"):
        IntModel.load(tmp_path / "bad.npz")


def test_quantize_hf_folder_with_an_unconvertible_tokenizer(tmp_path, tiny_model, capsys):
    """A byte-level tokenizer.json: a one-line error at load naming why, and --tokenizer gets past it."""
    import json

    from hw.frontend.hf_folder import save_hf_folder

    hf = tmp_path / "hf"
    save_hf_folder(tiny_model, hf)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"t{i}": i for i in range(3, tiny_model.config.vocab_size)}}
    (hf / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab, "merges": []}}))
    assert main(["quantize", str(hf), "--rounding", "nearest", "--out", str(tmp_path / "m.npz")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "tokenizer.json: the vocabulary has no '\u2581' (space) token" in err and "Traceback" not in err
    tok = _save_tokenizer(tmp_path / "tok.bin", tiny_model.config.vocab_size)
    assert main(["quantize", str(hf), "--rounding", "nearest", "--tokenizer", str(tok),
                 "--out", str(tmp_path / "m.npz")]) == 0


# ---------------------------------------------------------------- flags named in messages

_FLAG = __import__("re").compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _cli_flags(capsys) -> set[str]:
    """Every option of `hardwire` and its subcommands, and of the other hardwire entry points
    (`hardwire train` hands its arguments to hw.train.train; `make flash` runs hw.flows.flash)."""
    import argparse
    import importlib

    from hw.cli import build_parser

    ap = build_parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    flags = {f for p in [ap, *sub.choices.values()] for f in p._option_string_actions}
    for module in ("hw.train.train", "hw.flows.flash"):
        with pytest.raises(SystemExit):
            importlib.import_module(module).main(["--help"])
        flags |= set(_FLAG.findall(capsys.readouterr().out))
    return flags


def _flags_in_error_messages() -> dict[str, list[str]]:
    """--flags in the string parts of every `raise ...` and every *Error(...) / SystemExit(...) call."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    found: dict[str, list[str]] = {}
    for path in sorted([*(repo / "hw").rglob("*.py"), *(repo / "host").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(node.func, "id", getattr(node.func, "attr", "")) if isinstance(node, ast.Call) else ""
            if isinstance(node, ast.Raise) and node.exc is not None:
                message = node.exc
            elif name.endswith(("Error", "Exit")):
                message = node
            else:
                continue
            for part in ast.walk(message):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    for flag in _FLAG.findall(part.value):
                        found.setdefault(flag, []).append(f"{path.relative_to(repo)}:{part.lineno}")
    return found


def test_every_flag_named_in_an_error_message_exists(capsys):
    named = _flags_in_error_messages()
    assert "--tokenizer" in named and "--prompt-ids" in named        # the scan sees f-strings and helpers
    missing = {flag: where for flag, where in named.items() if flag not in _cli_flags(capsys)}
    assert not missing, f"error messages name options no parser has: {missing}"


# ---------------------------------------------------------------- options never dropped silently

def _quantize_args(tmp_path, tiny_model, *extra):
    ckpt = tmp_path / "tiny.bin"
    save_llama2c(tiny_model, ckpt)
    (tmp_path / "stories.txt").write_text("ABBA BAB\nCAB ABC\n")
    return ["quantize", str(ckpt), "--rounding", "nearest", "--out", str(tmp_path / "m.npz"), *extra]


@pytest.mark.parametrize("extra, message", [
    (["--calibration-text", "{tmp}/stories.txt"], "needs a tokenizer to encode it: pass --tokenizer"),
    (["--calibration-text", "{tmp}/stories.txt", "--tokenizer", "{tmp}/tokenizers/tok.bin", "--calibration",
      "generate"], "--calibration generate does not read text"),
    (["--heldout", "{tmp}/stories.txt"], "--heldout .* is read only by --report"),
])
def test_quantize_refuses_an_option_it_would_ignore(tmp_path, tiny_model, capsys, extra, message):
    import re

    # not beside the checkpoint, where it would be found (hw/frontend/registry.py find_tokenizer)
    (tmp_path / "tokenizers").mkdir()
    _save_tokenizer(tmp_path / "tokenizers" / "tok.bin", tiny_model.config.vocab_size)
    args = _quantize_args(tmp_path, tiny_model, *(e.format(tmp=tmp_path) for e in extra))
    assert main(args) == EXIT_ERROR
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err, err
    assert not (tmp_path / "m.npz").exists()


def test_quantize_calibrates_on_the_given_text(tmp_path, tiny_model):
    from hw.intmodel import IntModel

    tok = _save_tokenizer(tmp_path / "tok.bin", tiny_model.config.vocab_size)
    args = _quantize_args(tmp_path, tiny_model, "--calibration-text", str(tmp_path / "stories.txt"),
                          "--tokenizer", str(tok))
    assert main(args) == 0
    calib = IntModel.load(tmp_path / "m.npz").knobs["calibration"]
    assert calib["source"] == "corpus+generate" and calib["text"] == "stories.txt"


def test_sim_refuses_a_prompt_longer_than_the_context_before_echoing_it(tmp_path, tiny_model, capsys):
    """The prompt's length, the limit and the fix, before the prompt is echoed or Verilator is built."""
    ckpt, npz, build = tmp_path / "tiny.bin", tmp_path / "tiny.npz", tmp_path / "build"
    save_llama2c(tiny_model, ckpt)
    tok = _save_tokenizer(tmp_path / "tok.bin", tiny_model.config.vocab_size)
    assert main(["quantize", str(ckpt), "--rounding", "nearest", "--tokenizer", str(tok), "--out", str(npz)]) == 0
    assert main(["compile", str(npz), "--out", str(build), "--lanes", "4", "--context", "8"]) == 0
    capsys.readouterr()
    assert main(["sim", "--model", str(build), "--prompt", "ABCDEFGHIJ"]) == EXIT_ERROR   # BOS, ' ', 10 letters
    out, err = capsys.readouterr()
    assert out == "" and "simulating" not in err
    assert "the prompt is 12 tokens long (BOS included) but the design's context holds 8" in err
    assert "at most 8 tokens" in err and "--context N" in err and "16 positions" in err


# ---------------------------------------------------------------- fidelity options (hw/transform.py)

def test_quantize_fidelity_options_are_recorded(tmp_path, tiny_model, capsys):
    """--rotate/--rotate-v/--balance-qk go into the knobs, --act-clip into the calibration settings;
    the defaults record nothing (models quantized before these options keep their fingerprints)."""
    from hw.intmodel import IntModel

    assert main(_quantize_args(tmp_path, tiny_model)) == 0
    plain = IntModel.load(tmp_path / "m.npz")
    assert "transform" not in plain.knobs and "act_clip" not in plain.knobs["calibration"]
    assert main(_quantize_args(tmp_path, tiny_model, "--rotate", "random", "--rotate-v", "on", "--balance-qk", "on",
                               "--act-clip", "mse")) == 0
    m = IntModel.load(tmp_path / "m.npz")
    assert m.knobs["transform"] == {"rotate": "random", "rotate_v": True, "balance_qk": True}
    assert m.knobs["calibration"]["act_clip"] == "mse"
    assert m.config.shared_classifier is False and m.fingerprint != plain.fingerprint
    assert "qk_bits" not in plain.knobs
    assert main(_quantize_args(tmp_path, tiny_model, "--qk-bits", "16")) == 0
    assert IntModel.load(tmp_path / "m.npz").knobs["qk_bits"] == 16


@pytest.mark.parametrize("extra, message", [
    (["--rotate", "walsh"], "invalid choice: 'walsh'"),
    (["--act-clip", "p99"], "invalid choice: 'p99'"),
    (["--rotate-v", "yes"], "invalid choice: 'yes'"),
    (["--qk-bits", "12"], "invalid choice: 12"),
])
def test_quantize_fidelity_options_refuse_bad_values(tmp_path, tiny_model, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        main(_quantize_args(tmp_path, tiny_model, *extra))
    assert exc.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_quantize_hadamard_on_a_dim_that_is_not_a_power_of_two(tmp_path, tiny_model):
    """dim 24: --rotate hadamard uses a random orthogonal matrix (docs/quantization_report.md says so)."""
    from hw.intmodel import IntModel

    assert main(_quantize_args(tmp_path, tiny_model, "--rotate", "hadamard")) == 0
    assert IntModel.load(tmp_path / "m.npz").knobs["transform"] == {"rotate": "hadamard"}


def test_quantize_report_bits_rows_and_protocol(tmp_path, tiny_model, capsys):
    tok = _save_tokenizer(tmp_path / "tok.bin", tiny_model.config.vocab_size)
    args = _quantize_args(tmp_path, tiny_model, "--tokenizer", str(tok), "--report", "--heldout",
                          str(tmp_path / "stories.txt"), "--report-bits", "8;attention=3,mlp=4",
                          "--report-md", str(tmp_path / "r.md"), "--rotate", "random")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "19 tokens as one stream (BOS before each story) in 2 windows of up to 16 (the context)" in out
    assert "greedy: 16 steps from BOS (the whole context)" in out
    md = (tmp_path / "r.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| 8/")]
    assert len(rows) == 2 and rows[0].startswith("| 8/8/8/8 |") and rows[1].startswith("| 8/3/4/8 |")
    assert "--rotate random" in md and "--report-bits '8;attention=3,mlp=4'" in md
    assert "19 tokens as one stream" in md


def test_quantize_report_bits_needs_the_report(tmp_path, tiny_model, capsys):
    assert main(_quantize_args(tmp_path, tiny_model, "--report-bits", "4")) == EXIT_ERROR
    assert "--report-bits 4 is read only by --report" in capsys.readouterr().err
    assert main(_quantize_args(tmp_path, tiny_model, "--report", "--report-bits", ";")) == EXIT_ERROR
    assert "names no setting" in capsys.readouterr().err
