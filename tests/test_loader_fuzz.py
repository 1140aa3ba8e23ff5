"""Malformed files thrown at every loader: only HardwireError may come out, and no big allocation.

Hypothesis is derandomized (same examples every run) so CI is reproducible.
"""
from __future__ import annotations

import json
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from hw.checkpoint import load_llama2c, save_llama2c
from hw.errors import HardwireError
from hw.safetensors_loader import load_hf_folder, read_header, read_tensor, save_hf_folder
from hw.tokenizer import Tokenizer

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
ALLOC_LIMIT = 2 << 20  # bytes; the inputs are a few kB, any honest loader stays far below


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_model_factory):
    """Valid small files to mutate, and a scratch folder."""
    d = tmp_path_factory.mktemp("fuzz")
    model = tiny_model_factory(n_layers=1, vocab=20, seq_len=8)
    save_llama2c(model, d / "model.bin")
    vocab = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % b for b in range(256)]
    vocab += [b" ", b"a", b"b", b" a", b"ab", b" ab"]
    Tokenizer(vocab, [0.0] * 259 + [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]).save(d / "tok.bin")
    save_hf_folder(model, d / "hf")
    return Files({"dir": d, "ckpt": (d / "model.bin").read_bytes(),
                  "tok": (d / "tok.bin").read_bytes(),
                  "st": (d / "hf" / "model.safetensors").read_bytes(), "hf": d / "hf"})


class Files(dict):
    def __repr__(self) -> str:  # keep hypothesis' failure reports readable
        return f"Files({self['dir']})"


def only_hardwire_errors(load, limit: int = ALLOC_LIMIT):
    """Run load(); it may succeed or raise HardwireError. Peak traced allocation < limit."""
    tracemalloc.start()
    try:
        load()
        event("loaded")
    except HardwireError as e:
        event(f"{type(e).__name__}: {str(e).split(': ', 2)[-1][:40]}")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < limit, f"loader allocated {peak} bytes on a small malformed file"


def mutate(data: bytes, cut: int | None, flips: list[tuple[int, int]],
           words: list[tuple[int, int]], limit: int) -> bytes:
    """Overwrite int32 words and flip bits (both within the first `limit` bytes), then cut."""
    out = bytearray(data)
    for pos, value in words:
        pos = (pos % (min(limit, len(out)) // 4)) * 4
        struct.pack_into("<i", out, pos, value)
    for pos, bit in flips:
        out[pos % min(limit, len(out))] ^= 1 << bit
    return bytes(out[:cut] if cut is not None else out)


int32 = st.one_of(st.integers(-2**31, 2**31 - 1),
                  st.sampled_from([0, -1, 1, 2**31 - 1, -2**31, 1 << 20, 1 << 30, 3, 7]))
cuts = st.one_of(st.none(), st.integers(0, 40_000))
flips = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), max_size=6)
words = st.lists(st.tuples(st.integers(0, 1 << 20), int32), max_size=4)


@FUZZ
@given(cut=cuts, flips=flips, words=words, header_only=st.booleans())
def test_fuzz_llama2c_checkpoint(files, cut, flips, words, header_only):
    data = mutate(files["ckpt"], cut, flips, words, 28 if header_only else len(files["ckpt"]))
    path = files["dir"] / "fuzz.bin"
    path.write_bytes(data)
    only_hardwire_errors(lambda: load_llama2c(path), limit=ALLOC_LIMIT + 4 * len(data))


@FUZZ
@given(cut=cuts, flips=flips, words=words, vocab_size=st.one_of(
    st.none(), st.integers(-5, 300), st.just(2**31 - 1)))
def test_fuzz_tokenizer_bin(files, cut, flips, words, vocab_size):
    data = mutate(files["tok"], cut, flips, words, len(files["tok"]))
    path = files["dir"] / "fuzz_tok.bin"
    path.write_bytes(data)

    def load():
        tok = Tokenizer.load(path, vocab_size=vocab_size)
        tok.encode("ab a\u00e9")  # a loaded tokenizer must also encode/decode cleanly
        tok.decode_all(list(range(tok.vocab_size)))

    only_hardwire_errors(load)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)
entries = st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "F16", "BF16", "F64", "I8", "U8", "bogus"]) | json_values,
    "shape": st.lists(st.integers(-2, 1 << 40) | st.sampled_from([0, 1, 2, 3, 4]), max_size=3)
    | json_values,
    "data_offsets": st.lists(st.integers(-2, 1 << 40) | st.sampled_from([0, 4, 8, 12, 16]),
                             min_size=2, max_size=2) | json_values,
})


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["a", "b", "c", "__metadata__"]),
                              entries | json_values, max_size=4),
       data_len=st.sampled_from([0, 4, 8, 12, 16, 24]),
       header_len_delta=st.sampled_from([0, 0, 0, -1, 1, 1 << 40]))
def test_fuzz_safetensors_header(files, header, data_len, header_len_delta):
    head = json.dumps(header).encode()
    path = files["dir"] / "fuzz.safetensors"
    path.write_bytes(struct.pack("<Q", max(len(head) + header_len_delta, 0)) + head
                     + np.arange(data_len, dtype=np.uint8).tobytes())

    def load():
        for ref in read_header(path).values():
            read_tensor(ref)

    only_hardwire_errors(load)


@FUZZ
@given(cut=cuts, flips=flips, words=words, header_only=st.booleans())
def test_fuzz_safetensors_file(files, cut, flips, words, header_only):
    (n,) = struct.unpack_from("<Q", files["st"])
    data = mutate(files["st"], cut, flips, words, 8 + n if header_only else len(files["st"]))
    (files["hf"] / "model.safetensors").write_bytes(data)
    only_hardwire_errors(lambda: load_hf_folder(files["hf"]), limit=ALLOC_LIMIT + 4 * len(data))


@FUZZ
@given(spec=st.fixed_dictionaries({"model": st.fixed_dictionaries({
    "type": st.sampled_from(["BPE", "Unigram"]) | json_values,
    "vocab": st.dictionaries(st.sampled_from(["<unk>", "<s>", "</s>", "\u2581", "a", "\u2581a"]),
                             st.integers(-1, 7), max_size=6) | json_values,
    "merges": st.lists(st.sampled_from(["\u2581 a", "a a", "x", ""]) | json_values, max_size=3)
    | json_values,
}), "added_tokens": st.lists(json_values, max_size=2) | json_values}))
def test_fuzz_hf_tokenizer_json(files, spec):
    path = files["dir"] / "tokenizer.json"
    path.write_text(json.dumps(spec))

    def load():
        tok = Tokenizer.from_hf_json(path)
        tok.encode("a a")

    only_hardwire_errors(load)
