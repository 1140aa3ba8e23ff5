"""`hardwire run --device` and `hardwire info --device` against the UART bridge stand-in on a pty."""
from __future__ import annotations

import pytest

from hw.cli import main
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model
from hw.tokenizer import Tokenizer as HwTokenizer
from tests.host_fakes import FakeBridge, FakeCore, PtyBridge

K_MAX = 8


@pytest.fixture
def setup(tmp_path):
    model = random_int_model(9)
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n", b" "] + [bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz"]
    pieces += [b"ab", b" a", b"ba", b"cd", b"abc", b"xy", b"zz"]
    tok = HwTokenizer(pieces, [0.0] * 30 + [float(i) for i in range(7)])
    tok.save(tmp_path / "tok.bin")
    core = FakeCore(model, k_max=K_MAX)
    pty = PtyBridge(FakeBridge(core))
    yield model, tok, tmp_path / "tok.bin", pty
    pty.close()


def test_run_streams_the_golden_text(setup, capsys):
    model, tok, tok_path, pty = setup
    rc = main(["run", "--device", f"serial:{pty.slave_path}", "--tokenizer", str(tok_path),
               "--prompt", "ab cd", "--steps", "9", "--stop-token", "-1", "--timeout", "5"])
    out, err = capsys.readouterr()
    ids = tok.encode("ab cd")
    want = list(GoldenModel(model, k_max=K_MAX).generate(ids, 9))
    assert rc == 0, err
    assert out == "ab cd" + tok.decode_all(want, prev_token=ids[-1]) + "\n"
    assert "9 tokens in" in err and "tok/s" in err and "stopped by max_new_tokens" in err


def test_run_with_ids_and_the_limit_named(setup, capsys):
    model, _, _, pty = setup
    rc = main(["run", "--device", f"serial:{pty.slave_path}", "--prompt-ids", "1 4 7", "--steps", "4",
               "--stop-token", "-1", "--temp", "3", "--seed", "5"])
    out, _ = capsys.readouterr()
    want = list(GoldenModel(model, k_max=K_MAX).generate([1, 4, 7], 4, temperature=3.0, seed=5))
    assert rc == 0 and out.split() == [str(t) for t in want]
    rc = main(["run", "--device", f"serial:{pty.slave_path}", "--prompt-ids", " ".join(["1"] * 20)])
    _, err = capsys.readouterr()
    assert rc == 1 and "prompt of 20 tokens does not fit the context of 16 positions" in err


def test_info_describes_the_device(setup, capsys):
    model, _, _, pty = setup
    assert main(["info", "--device", f"serial:{pty.slave_path}"]) == 0
    out, _ = capsys.readouterr()
    assert f"fingerprint {model.fingerprint}" in out and "dim 24, hidden 44, layers 2" in out
    assert "status idle, position 0" in out


def test_run_refuses_a_prompt_longer_than_the_context_before_echoing_it(setup, capsys):
    _, tok, tok_path, pty = setup
    text = "a " * 20
    n = len(tok.encode(text))
    rc = main(["run", "--device", f"serial:{pty.slave_path}", "--tokenizer", str(tok_path), "--prompt", text])
    out, err = capsys.readouterr()
    assert rc == 1 and out == "", out                    # not a word of the prompt echoed
    assert f"prompt of {n} tokens does not fit the context of 16 positions" in err and "--context" in err


def test_info_shows_the_generator_version_and_plain_paths(setup, tmp_path, capsys):
    """GEN_VERSION is major << 16 | minor << 8 | patch: 1.0.0 reads as 1.0.0, not 65536; the tokenizer
    that metadata names as ../../toks/tok.bin is shown as the file it is, without '..'."""
    import dataclasses

    from host import registers as R
    from host.metadata import Metadata
    from hw.rtlgen import GEN_VERSION_WORD, version_text

    _, _, tok_path, pty = setup
    core = pty.bridge.core
    core.ident = dataclasses.replace(core.ident, gen_version=GEN_VERSION_WORD)
    core.regs[R.GEN_VERSION // 4] = GEN_VERSION_WORD
    (tmp_path / "toks").mkdir()
    tok_path.rename(tmp_path / "toks" / "tok.bin")
    meta_path = tmp_path / "build" / "sim" / "hardwire.json"
    Metadata(core.ident, tokenizer="../../toks/tok.bin").save(meta_path)
    assert main(["info", "--device", f"serial:{pty.slave_path}", "--metadata", str(meta_path)]) == 0
    out, err = capsys.readouterr()
    assert f"(generator {version_text()})" in out and "65536" not in out, out
    assert f"  tokenizer {(tmp_path / 'toks' / 'tok.bin').resolve()} (37 tokens)" in out
    assert f"  metadata {meta_path.resolve()} (identity matches)" in out
    assert ".." not in out
