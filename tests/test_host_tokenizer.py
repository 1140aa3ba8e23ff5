"""host/tokenizer.py: the run.c tokenizer the driver uses on a board (hw/tokenizer.py builds on it)."""
from __future__ import annotations

import random

import pytest

from host.tokenizer import TextStream, Tokenizer, TokenizerError
from hw.tokenizer import Tokenizer as HwTokenizer

TEXTS = ["", "Once upon a time", "Lily and Ben went to the park. They saw a big, red ball!",
         "héllo wörld ✓ 🚀 日本", "  two  spaces\tand\nnewlines  ", "a" * 300, "<0x41> <s> </s>"]


@pytest.fixture(scope="module")
def tokenizers(shared_models):
    path = shared_models / "tok512.bin"
    return Tokenizer.load(path, vocab_size=512), HwTokenizer.load(path, vocab_size=512)


def test_compiler_uses_the_host_tokenizer_with_its_own_error_type(tokenizers, tmp_path):
    """One implementation: hw.tokenizer only adds the HF reader and raises HardwireError."""
    from hw.errors import HardwireError

    host, hw = tokenizers
    assert isinstance(hw, Tokenizer) and host.fingerprint() == hw.fingerprint()
    for text in TEXTS:
        assert host.encode(text) == hw.encode(text)
    (tmp_path / "short.bin").write_bytes(b"\x01")
    with pytest.raises(HardwireError, match="too short"):
        HwTokenizer.load(tmp_path / "short.bin")
    with pytest.raises(TokenizerError, match="too short") as e:
        Tokenizer.load(tmp_path / "short.bin")
    assert not isinstance(e.value, HardwireError)     # the board-side package does not need hw


def test_text_stream_is_decode_all_token_by_token(tokenizers):
    host, _ = tokenizers
    ids = host.encode("héllo wörld ✓ 🚀 日本 once upon a time", bos=False)
    stream = TextStream(host)
    parts = [stream.push(t) for t in ids] + [stream.flush()]
    assert "".join(parts) == host.decode_all(ids)
    assert "" in parts  # a multi-byte character split over byte tokens is held back, not mangled


def test_reference_prompt_tokens(tokenizers, reference):
    host, _ = tokenizers
    runs, _ = reference
    run = [r for r in runs if r["prompt"]][0]
    assert host.encode(run["prompt"]) == run["prompt_tokens"]


def test_bad_files(tmp_path):
    with pytest.raises(TokenizerError, match="cannot read the tokenizer"):
        Tokenizer.load(tmp_path / "missing.bin")
    (tmp_path / "short.bin").write_bytes(b"\x01")
    with pytest.raises(TokenizerError, match="too short"):
        Tokenizer.load(tmp_path / "short.bin")
    (tmp_path / "trunc.bin").write_bytes((8).to_bytes(4, "little") + b"\x00\x00\x80\x3f\x05\x00\x00\x00ab")
    with pytest.raises(TokenizerError, match="truncated"):
        Tokenizer.load(tmp_path / "trunc.bin")


def test_wrong_vocab_size_is_refused(shared_models):
    with pytest.raises(TokenizerError, match="do not match"):
        Tokenizer.load(shared_models / "tok512.bin", vocab_size=300)
    with pytest.raises(TokenizerError, match="fewer than 600 tokens"):
        Tokenizer.load(shared_models / "tok512.bin", vocab_size=600)
