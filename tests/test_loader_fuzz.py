"""Malformed files thrown at every loader: only the project's own errors may come out, and no big
allocation. hw's loaders raise HardwireError; the host driver's (metadata, tokenizer.bin), which
install on a board without hw, raise MetadataError / host TokenizerError / IdentityMismatch.

JSON inputs are Python values dumped by json, with strings that may hold lone surrogates and NUL,
and placeholders (RAW) replaced afterwards by what json.dumps cannot write: 5,000-digit integers,
nesting past the parser's recursion limit, raw (invalid UTF-8) surrogate bytes, NaN.

Hypothesis is derandomized (same examples every run) so CI is reproducible.
"""
from __future__ import annotations

import json
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from host.metadata import IdentityMismatch, Metadata, MetadataError, check_identity
from host.registers import Identity
from host.tokenizer import Tokenizer as HostTokenizer
from host.tokenizer import TokenizerError as HostTokenizerError
from hw.frontend.llama2c import load_llama2c, save_llama2c
from hw.errors import HardwireError
from hw.frontend.hf_folder import (INDEX_NAME, load_hf_folder, read_header, read_tensor,
                                   save_hf_folder)
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
    save_hf_folder(model, d / "hf2")        # config.json / index fuzz (the weights stay valid)
    return Files({"dir": d, "ckpt": (d / "model.bin").read_bytes(),
                  "tok": (d / "tok.bin").read_bytes(),
                  "st": (d / "hf" / "model.safetensors").read_bytes(), "hf": d / "hf",
                  "hf2": d / "hf2", "config": json.loads((d / "hf2" / "config.json").read_text()),
                  "tensors": sorted(read_header(d / "hf2" / "model.safetensors"))})


class Files(dict):
    def __repr__(self) -> str:  # keep hypothesis' failure reports readable
        return f"Files({self['dir']})"


def only_hardwire_errors(load, limit: int = ALLOC_LIMIT, errors: tuple = (HardwireError,)):
    """Run load(); it may succeed or raise one of `errors`. Peak traced allocation < limit."""
    tracemalloc.start()
    try:
        load()
        event("loaded")
    except errors as e:
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


# text, a third of it drawn with lone surrogates (category Cs, which st.characters() leaves out)
# and NUL (more would stop most inputs at the surrogate check)
texts = st.one_of(st.text(max_size=6), st.text(max_size=6), st.text(
    st.characters() | st.characters(categories=["Cs"]) | st.sampled_from(["\x00", "\u2581", "a", " "]),
    max_size=6))
# placeholders dumps() replaces with JSON text json.dumps cannot write
RAW = {"@big@": b"1" + b"0" * 5000, "@neg@": b"-" + b"9" * 1500,
       "@deep@": b"[" * 3000 + b"]" * 3000, "@nest@": b"[" * 70 + b"]" * 70,
       "@raw-surrogate@": '"\ud800"'.encode("utf-8", "surrogatepass"), "@bad-utf8@": b'"\xff"',
       "@nan@": b"NaN", "@inf@": b"-Infinity"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | texts
    | st.sampled_from([10**400, -10**400, 2**64, 2**32, -1, 0, 1.5, "", *RAW]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12)


def dumps(value) -> bytes:
    """json.dumps (lone surrogates escaped as \\udXXX), placeholders replaced by RAW text."""
    data = json.dumps(value).encode()
    for key, raw in RAW.items():
        data = data.replace(b'"' + key.encode() + b'"', raw)
    return data


entries = st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "F16", "BF16", "F64", "I8", "U8", "bogus"]) | json_values,
    "shape": st.lists(st.integers(-2, 1 << 40) | st.sampled_from([0, 1, 2, 3, 4]), max_size=3)
    | json_values,
    "data_offsets": st.lists(st.integers(-2, 1 << 40) | st.sampled_from([0, 4, 8, 12, 16]),
                             min_size=2, max_size=2) | json_values,
})


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["a", "b", "c", "__metadata__"]) | texts,
                              entries | json_values, max_size=4),
       data_len=st.sampled_from([0, 4, 8, 12, 16, 24]),
       header_len_delta=st.sampled_from([0, 0, 0, -1, 1, 1 << 40]))
def test_fuzz_safetensors_header(files, header, data_len, header_len_delta):
    head = dumps(header)
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
    "vocab": st.dictionaries(st.sampled_from(["<unk>", "<s>", "</s>", "\u2581", "a", "\u2581a"]) | texts,
                             st.integers(-1, 7) | json_values, max_size=6) | json_values,
    "merges": st.lists(st.sampled_from(["\u2581 a", "a a", "x", ""]) | json_values, max_size=3)
    | json_values,
}), "added_tokens": st.lists(json_values, max_size=2) | json_values}))
def test_fuzz_hf_tokenizer_json(files, spec):
    path = files["dir"] / "tokenizer.json"
    path.write_bytes(dumps(spec))

    def load():
        tok = Tokenizer.from_hf_json(path)
        tok.encode("a a")

    only_hardwire_errors(load)


CONFIG_KEYS = ["architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
               "num_attention_heads", "num_key_value_heads", "vocab_size", "max_position_embeddings",
               "rms_norm_eps", "rope_theta", "tie_word_embeddings", "hidden_act", "rope_scaling",
               "attention_bias", "mlp_bias", "head_dim"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.sampled_from(CONFIG_KEYS) | texts,
                               json_values | st.integers(-2, 100) | st.sampled_from(
                                   [10**400, -10**400, 1e308, 1e-320, 0.0, True, "8", [8], None]),
                               max_size=3),
       drop=st.lists(st.sampled_from(CONFIG_KEYS), max_size=2),
       whole=st.one_of(st.none(), st.none(), st.none(), json_values))
def test_fuzz_hf_config_json(files, changes, drop, whole):
    spec = dict(files["config"], **changes)
    for key in drop:
        spec.pop(key, None)
    (files["hf2"] / "config.json").write_bytes(dumps(spec if whole is None else whole))
    only_hardwire_errors(lambda: load_hf_folder(files["hf2"], read_tokenizer=False),
                         limit=ALLOC_LIMIT + 4 * len(files["st"]))


shards = st.sampled_from(["model.safetensors", "model.safetensors\x00", "\ud800.safetensors",
                          "\udc80", "../hf2/model.safetensors", "", ".", "..", "config.json",
                          "missing.safetensors"])


@FUZZ
@given(weight_map=st.dictionaries(st.sampled_from(["model.norm.weight", "lm_head.bias"]) | texts,
                                  shards | texts | json_values, max_size=4),
       complete=st.booleans(), whole=st.one_of(st.none(), st.none(), st.none(), json_values))
def test_fuzz_safetensors_index(files, weight_map, complete, whole):
    if complete:        # every real tensor, then the fuzzed entries
        weight_map = dict({name: "model.safetensors" for name in files["tensors"]}, **weight_map)
    index = files["hf2"] / INDEX_NAME
    index.write_bytes(dumps({"weight_map": weight_map, "metadata": {}} if whole is None else whole))
    (files["hf2"] / "config.json").write_text(json.dumps(files["config"]))
    try:
        only_hardwire_errors(lambda: load_hf_folder(files["hf2"], read_tokenizer=False),
                             limit=ALLOC_LIMIT + 4 * len(files["st"]))
    finally:
        index.unlink()


IDENT = Identity(fingerprint="ab" * 32, gen_version=1, dim=24, hidden=44, layers=2, heads=3, kv_heads=1,
                 vocab=265, context=16, lanes=4, vpl=4, bits={"embedding": 8, "attention": 4, "mlp": 5,
                                                              "classifier": 8}, lora_rank=2,
                 lora_targets=("wq", "w2"), k_max=8)
METADATA = Metadata(IDENT, tokenizer="tok.bin", model="m", board="b", clock_hz=1, uart_baud=9600).to_json()


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(sorted(METADATA)) | texts, json_values, max_size=3),
       ident=st.dictionaries(st.sampled_from(sorted(METADATA["identity"])) | texts,
                             json_values | st.integers(-1, 2**33), max_size=3),
       bits=st.dictionaries(st.sampled_from(sorted(IDENT.bits)) | texts, json_values, max_size=2),
       whole=st.one_of(st.none(), st.none(), st.none(), json_values))
def test_fuzz_host_metadata(files, changes, ident, bits, whole):
    doc = json.loads(json.dumps(METADATA))
    doc["identity"]["bits"].update(bits)
    doc["identity"].update(ident)
    doc.update(changes)
    path = files["dir"] / "fuzz.hardwire.json"
    path.write_bytes(dumps(doc if whole is None else whole))

    def load():
        meta = Metadata.load(path)
        check_identity(IDENT, meta)             # a loaded file compares (IdentityMismatch) cleanly
        if meta.tokenizer_path() is not None:   # and names a tokenizer that loads or is refused
            HostTokenizer.load(meta.tokenizer_path(), vocab_size=meta.identity.vocab)

    only_hardwire_errors(load, errors=(MetadataError, IdentityMismatch, HostTokenizerError))


@FUZZ
@given(name=texts)
def test_fuzz_file_names(files, name):
    """Any name (NUL, lone surrogates, '', '..') is read or refused with the loader's own error."""
    path = files["dir"] / name

    def hw_loads():
        for load in (load_llama2c, Tokenizer.load, Tokenizer.from_hf_json, read_header,
                     lambda p: load_hf_folder(p, read_tokenizer=False)):
            try:
                load(path)
            except HardwireError:
                pass

    only_hardwire_errors(hw_loads, limit=ALLOC_LIMIT + 4 * len(files["ckpt"]))

    def host_loads():
        for load in (HostTokenizer.load, Metadata.load):
            try:
                load(path)
            except (MetadataError, HostTokenizerError):
                pass

    only_hardwire_errors(host_loads, errors=())
