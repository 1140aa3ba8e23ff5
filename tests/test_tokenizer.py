"""The tokenizer against run.c: tok512, a hand-made vocabulary, HF tokenizer.json, bad files."""
from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from hw.frontend.llama2c import load_llama2c
from hw.errors import TokenizerError
from hw.tokenizer import Tokenizer, check_tokenizer_matches

TOK512_FINGERPRINT = "bb8f07e7f73d"  # prefix of sha256 of our canonical form of tok512.bin


def runc_encode(tok: Tokenizer, text: str, bos: bool = True, eos: bool = False) -> list[int]:
    """A literal port of run.c's encode(): no shortcuts, to check the incremental merge."""
    lookup = {}
    for i, piece in enumerate(tok.vocab):
        lookup.setdefault(piece, i)
    data = text.encode()
    tokens = [1] if bos else []
    if data:
        tokens.append(lookup[b" "])
    buf = b""
    for i, c in enumerate(data):
        if c & 0xC0 != 0x80:
            buf = b""
        buf += bytes([c])
        if i + 1 < len(data) and data[i + 1] & 0xC0 == 0x80 and len(buf) < 4:
            continue
        if buf in lookup:
            tokens.append(lookup[buf])
        else:
            tokens.extend(b + 3 for b in buf)
        buf = b""
    while True:
        best_score, best_id, best_idx = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            tid = lookup.get(tok.vocab[tokens[i]] + tok.vocab[tokens[i + 1]], -1)
            if tid != -1 and tok.scores[tid] > best_score:
                best_score, best_id, best_idx = tok.scores[tid], tid, i
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    return tokens + ([2] if eos else [])


def small_vocab(extra: list[tuple[bytes, float]]) -> Tokenizer:
    """<unk>, <s>, </s>, the 256 byte tokens (ids 3..258), then `extra`."""
    vocab = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % b for b in range(256)]
    return Tokenizer(vocab + [t for t, _ in extra], [0.0] * 259 + [s for _, s in extra])


@pytest.fixture
def tok512(shared_models) -> Tokenizer:
    return Tokenizer.load(shared_models / "tok512.bin")


# ------------------------------------------------------------------ tok512 vs run.c

def test_load_tok512(tok512):
    assert tok512.vocab_size == 512 and tok512.max_token_length == 7
    assert tok512.vocab[:4] == [b"<unk>", b"\n<s>\n", b"\n</s>\n", b"<0x00>"]
    assert tok512.vocab[403] == b" Once" and tok512.scores[403] == -144.0


def test_encode_reference_prompt(tok512, reference):
    runs, _ = reference
    prompted = [r for r in runs if r["prompt"]]
    assert prompted
    for run in prompted:
        assert tok512.encode(run["prompt"]) == run["prompt_tokens"]
        assert tok512.encode(run["prompt"], bos=False, eos=True) == run["prompt_tokens"][1:] + [2]


def test_decode_reference_text(tok512, reference):
    runs, text = reference
    from_bos = [r for r in runs if r["prompt"] is None][0]
    assert from_bos["prompt_tokens"] == [1]
    assert tok512.decode_all(from_bos["ids"]) == text
    assert tok512.decode(1, 403) == b"Once" and tok512.decode(403, 403) == b" Once"


def test_save_is_byte_identical(tok512, shared_models, tmp_path):
    tok512.save(tmp_path / "t.bin")
    assert (tmp_path / "t.bin").read_bytes() == (shared_models / "tok512.bin").read_bytes()
    assert Tokenizer.load(tmp_path / "t.bin", vocab_size=512).fingerprint() == tok512.fingerprint()


def test_fingerprint(tok512):
    fp = tok512.fingerprint()
    assert len(fp) == 64 and fp.startswith(TOK512_FINGERPRINT)
    same = Tokenizer(tok512.vocab, tok512.scores, max_token_length=99)
    assert same.fingerprint() == fp  # max_token_length is not part of the vocabulary
    scores = list(tok512.scores)
    scores[300] -= 0.5
    assert Tokenizer(tok512.vocab, scores).fingerprint() != fp
    vocab = list(tok512.vocab)
    vocab[300] += b"x"
    assert Tokenizer(vocab, tok512.scores).fingerprint() != fp


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(parts=st.lists(st.sampled_from(list("aeht .,'\n") + ["\u00e9", "😀", "Lily", " the"]),
                      max_size=30))
def test_encode_matches_literal_runc_port(shared_models, parts):
    text = "".join(parts)
    tok = Tokenizer.load(shared_models / "tok512.bin")
    assert tok.encode(text) == runc_encode(tok, text)


def test_tokenizer_matches_model(tok512, shared_models, tiny_model):
    check_tokenizer_matches(load_llama2c(shared_models / "stories260K.bin"), tok512)
    with pytest.raises(TokenizerError, match="37 tokens but the tokenizer has 512"):
        check_tokenizer_matches(tiny_model, tok512)


# ------------------------------------------------------------------ hand-made vocabulary

def test_merge_order_and_dummy_prefix():
    # " " 259, "a" 260, "b" 261, "ab" 262, " a" 263, "ba" 264, " ab" 265
    tok = small_vocab([(b" ", -9), (b"a", -9), (b"b", -9), (b"ab", -1.0),
                       (b" a", -2.0), (b"ba", -1.0), (b" ab", -3.0)])
    # " a b a": ab and ba tie at -1: the leftmost pair (a,b) wins, then " "+"ab" -> " ab"
    assert tok.encode("aba") == [1, 265, 260]
    assert runc_encode(tok, "aba") == [1, 265, 260]
    assert tok.encode("ba") == [1, 259, 264]   # " "+"b" is not a token; b+a merges
    assert tok.encode("", bos=True) == [1]
    assert tok.encode("", bos=False, eos=True) == [2]


def test_byte_fallback_and_decode():
    tok = small_vocab([(b" ", -1), (b"a", -1)])
    ids = tok.encode("a\u00e9", bos=False)            # é = C3 A9, not in the vocabulary
    assert ids == [259, 260, 0xC3 + 3, 0xA9 + 3]
    assert tok.decode(260, 0xC3 + 3) == b"\xc3"
    assert tok.decode(1, 3) == b""                    # <0x00>: C strings stop at NUL
    assert tok.decode(1, 259) == b""                  # leading space stripped after BOS
    assert tok.decode(260, 259) == b" "
    # run.c's safe_printf drops lone non-ASCII bytes; safe=False keeps them
    assert tok.decode_all(ids) == "a"
    assert tok.decode_all(ids, safe=False) == "a\u00e9"
    assert tok.decode_all([0x0A + 3, 0x07 + 3], prev_token=260) == "\n"  # BEL dropped


def test_encode_errors():
    tok = small_vocab([(b" ", -1), (b"a", -1)])
    with pytest.raises(TokenizerError, match="NUL"):
        tok.encode("a\0b")
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        tok.decode(1, 261)
    no_bytes = Tokenizer([b"<unk>", b"<s>", b"</s>", b" ", b"a"], [0.0] * 5)
    with pytest.raises(TokenizerError, match="byte-fallback"):
        no_bytes.encode("b")
    no_space = Tokenizer([b"<unk>", b"<s>", b"</s>", b"a"], [0.0] * 4)
    with pytest.raises(TokenizerError, match="dummy"):
        no_space.encode("a")


def test_constructor_rejects_bad_vocabularies():
    with pytest.raises(TokenizerError, match="NUL"):
        Tokenizer([b"<unk>", b"<s>", b"a\0"], [0.0] * 3)
    with pytest.raises(TokenizerError, match="finite"):
        Tokenizer([b"<unk>", b"<s>", b"a"], [0.0, float("nan"), 0.0])
    with pytest.raises(TokenizerError, match="2 scores"):
        Tokenizer([b"<unk>", b"<s>", b"a"], [0.0, 0.0])
    with pytest.raises(TokenizerError, match="max_token_length"):
        Tokenizer([b"<unk>", b"<s>", b"abc"], [0.0] * 3, max_token_length=2)


# ------------------------------------------------------------------ bad tokenizer.bin

def tok_bin(tokens: list[tuple[float, bytes]], max_len: int = 8) -> bytes:
    out = struct.pack("<i", max_len)
    for score, piece in tokens:
        out += struct.pack("<fi", score, len(piece)) + piece
    return out


GOOD = [(0.0, b"<unk>"), (0.0, b"<s>"), (0.0, b"</s>"), (-1.0, b" "), (-2.0, b"ab")]


@pytest.mark.parametrize("data, kwargs, message", [
    (b"\x07\0", {}, "too short"),
    (tok_bin(GOOD)[:-1], {}, "truncated"),
    (tok_bin(GOOD)[:-2 - 4], {}, "truncated"),           # cut inside a token header
    (tok_bin(GOOD, max_len=0), {}, "max_token_length 0"),
    (tok_bin(GOOD, max_len=-5), {}, "max_token_length -5"),
    (tok_bin(GOOD, max_len=1 << 30), {}, "impossible"),
    (tok_bin(GOOD, max_len=4), {}, "length 5"),          # "<unk>" is longer than 4
    (tok_bin(GOOD[:3]) + struct.pack("<fi", 0.0, -3), {}, "length -3"),
    (tok_bin(GOOD[:3]) + struct.pack("<fi", 0.0, 1 << 30), {}, "length 1073741824"),
    (tok_bin(GOOD[:3] + [(float("nan"), b"x")]), {}, "finite"),
    (tok_bin(GOOD), {"vocab_size": 6}, "fewer than 6"),
    (tok_bin(GOOD), {"vocab_size": 4}, "1 bytes|bytes follow"),
])
def test_bad_tokenizer_bin(tmp_path, data, kwargs, message):
    path = tmp_path / "tok.bin"
    path.write_bytes(data)
    with pytest.raises(TokenizerError, match=message) as e:
        Tokenizer.load(path, **kwargs)
    assert "tok.bin" in str(e.value)


def test_good_small_tokenizer_bin(tmp_path):
    path = tmp_path / "tok.bin"
    path.write_bytes(tok_bin(GOOD))
    tok = Tokenizer.load(path, vocab_size=5)
    assert tok.vocab == [p for _, p in GOOD] and tok.scores == [s for s, _ in GOOD]
    with pytest.raises(TokenizerError, match="cannot read"):
        Tokenizer.load(tmp_path / "missing.bin")


# ------------------------------------------------------------------ Hugging Face tokenizer.json

def hf_json_from(tok: Tokenizer) -> dict:
    """A llama-style tokenizer.json for `tok`, with merges made the way HF's
    LlamaConverter makes them from a sentencepiece model (every split of a
    token into two tokens, ordered by the token's score)."""
    names = []
    for i, piece in enumerate(tok.vocab):
        text = piece.decode("utf-8")
        names.append({1: "<s>", 2: "</s>"}.get(i, text.replace(" ", "\u2581")))
    ids = {n: i for i, n in enumerate(names)}
    merges = []
    for i, name in enumerate(names):
        if i < 259:
            continue
        local = [(name[:k], name[k:]) for k in range(1, len(name))
                 if name[:k] in ids and name[k:] in ids]
        local.sort(key=lambda lr: (ids[lr[0]], ids[lr[1]]))
        merges += [(tok.scores[i], lr) for lr in local]
    merges.sort(key=lambda m: -m[0])  # stable: best score first
    return {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": names[i], "special": True} for i in range(3)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]},
        "model": {"type": "BPE", "byte_fallback": True, "unk_token": "<unk>",
                  "vocab": ids, "merges": [f"{a} {b}" for _, (a, b) in merges]},
    }


def test_from_hf_json_reproduces_tok512(tok512, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(hf_json_from(tok512)))
    hf = Tokenizer.from_hf_json(path)
    assert hf.vocab == tok512.vocab
    assert hf.scores[0] == -1e10 and hf.scores[259] == 0.0   # " t" is merge rank 0
    for text in ["Once upon a time", "Lily's mom said, \"Don't worry.\"\nThe end.",
                 "caf\u00e9 \u00fcber 😀", "   spaces  and\ttabs", ""]:
        assert hf.encode(text) == tok512.encode(text), text


def test_from_hf_json_merges_as_lists(tmp_path):
    spec = {"model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2,
                                               "\u2581": 3, "a": 4, "\u2581a": 5},
                      "merges": [["\u2581", "a"]]}}
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec))
    tok = Tokenizer.from_hf_json(path)
    assert tok.vocab == [b"<unk>", b"\n<s>\n", b"\n</s>\n", b" ", b"a", b" a"]
    assert tok.scores == [-1e10] * 5 + [0.0]
    assert tok.encode("a") == [1, 5]


@pytest.mark.parametrize("spec, message", [
    ("not json", "not valid JSON"),
    ([1, 2], "expected a BPE model"),
    ({"model": {"type": "Unigram", "vocab": {}}}, "Unigram"),
    ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2}, "merges": []},
      "pre_tokenizer": {"type": "ByteLevel"}}, "byte-level"),
    ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 3}}}, "without gaps"),
    ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2}},
      "added_tokens": [{"id": 1, "content": "x"}]}, "conflicting"),
    ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": -2}}}, "bad or conflicting"),
    ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2}, "merges": ["a b c"]}},
     "not a pair"),
    ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2}, "merges": 5}}, "must be lists"),
])
def test_from_hf_json_rejects(tmp_path, spec, message):
    path = tmp_path / "tokenizer.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    with pytest.raises(TokenizerError, match=message):
        Tokenizer.from_hf_json(path)


def _byte_fallback_spec(extra: dict[str, int]) -> dict:
    """A byte-fallback BPE tokenizer.json: <unk> <s> </s>, <0x00>..<0xFF> at ids 3..258, then `extra`."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    vocab.update({t: 259 + i for i, t in enumerate(extra)})
    return {"model": {"type": "BPE", "byte_fallback": True, "vocab": vocab, "merges": []},
            "decoder": {"type": "ByteFallback"}}


@pytest.mark.parametrize("tokens, why", [
    (["a", "b", "ab"], "no word-boundary piece"),                    # byte fallback, no \u2581 anywhere
    (["a", "\u0120", "\u0120a"], "byte-level BPE"),                  # GPT-2's spaces, no ByteLevel marker
])
def test_from_hf_json_refuses_a_vocabulary_without_a_space_token_at_load(tmp_path, tokens, why):
    """Such a tokenizer.json used to load and then fail on every text ("no ' ' token for the dummy
    prefix"): run.c always inserts the \u2581 token first, so it is refused when read, saying why."""
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(_byte_fallback_spec({t: 0 for t in tokens})))
    with pytest.raises(TokenizerError, match=f"no '\u2581' \\(space\\) token.*dummy prefix.*{why}"):
        Tokenizer.from_hf_json(path)


def test_from_hf_json_refuses_byte_tokens_run_c_cannot_find(tmp_path):
    spec = _byte_fallback_spec({"\u2581": 0, "a": 0})
    vocab = spec["model"]["vocab"]
    vocab["<0x41>"], vocab["a"] = vocab["a"], vocab["<0x41>"]        # 'A' moved away from id 0x41 + 3
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(TokenizerError, match=r"<0x41> is at id 260.*ids 3\.\.258"):
        Tokenizer.from_hf_json(path)
    spec = _byte_fallback_spec({"\u2581": 0, "a": 0})
    path.write_text(json.dumps(spec))
    assert Tokenizer.from_hf_json(path).encode("a\u00e9") == [1, 259, 260, 3 + 0xC3, 3 + 0xA9]
