"""host/tokenizer.py (the board-side copy) agrees with hw/tokenizer.py exactly."""
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


def test_encode_decode_fingerprint_match_hw(tokenizers):
    host, hw = tokenizers
    assert host.vocab_size == hw.vocab_size == 512
    assert host.fingerprint() == hw.fingerprint()
    rng = random.Random(1)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABC.,!?'\n\té✓🚀日"
    texts = TEXTS + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(150)]
    for text in texts:
        ids = host.encode(text)
        assert ids == hw.encode(text), text
        assert host.decode_all(ids[1:]) == hw.decode_all(ids[1:]), text
    for _ in range(300):
        ids = [rng.randrange(512) for _ in range(rng.randint(1, 20))]
        prev = rng.choice([1, 2, 300])
        assert host.decode_all(ids, prev) == hw.decode_all(ids, prev), ids
        assert all(host.decode(p, t) == hw.decode(p, t) for p, t in zip([prev] + ids, ids))


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
    with pytest.raises(TokenizerError, match="no such tokenizer file"):
        Tokenizer.load(tmp_path / "missing.bin")
    (tmp_path / "short.bin").write_bytes(b"\x01")
    with pytest.raises(TokenizerError, match="too short"):
        Tokenizer.load(tmp_path / "short.bin")
    (tmp_path / "trunc.bin").write_bytes((8).to_bytes(4, "little") + b"\x00\x00\x80\x3f\x05\x00\x00\x00ab")
    with pytest.raises(TokenizerError, match="corrupt or truncated"):
        Tokenizer.load(tmp_path / "trunc.bin")


def test_wrong_vocab_size_is_refused(shared_models):
    with pytest.raises(TokenizerError, match="another model"):
        Tokenizer.load(shared_models / "tok512.bin", vocab_size=300)
    with pytest.raises(TokenizerError, match="fewer tokens than the device"):
        Tokenizer.load(shared_models / "tok512.bin", vocab_size=600)
