"""Issue 16 (loaders): the nine defects an outside fuzz campaign found in the JSON-reading loaders.

Each test builds the malformed input and checks that the project's own error
comes out (hw's HardwireError subclasses; host's MetadataError / TokenizerError,
which the board-side driver raises without hw), naming the file and the problem.
tests/test_loader_fuzz.py throws random variations of the same at the loaders.
"""
from __future__ import annotations

import json
import tracemalloc

import pytest

from host.metadata import Metadata, MetadataError
from host.registers import Identity
from host.tokenizer import Tokenizer as HostTokenizer
from host.tokenizer import TokenizerError as HostTokenizerError
from hw.frontend.llama2c import load_llama2c
from hw.errors import CheckpointError, ConfigError, TokenizerError
from hw.frontend.hf_folder import INDEX_NAME, load_hf_folder, read_header, save_hf_folder
from hw.tokenizer import Tokenizer

IDENT = Identity(fingerprint="ab" * 32, gen_version=1, dim=24, hidden=44, layers=2, heads=3, kv_heads=1,
                 vocab=37, context=16, lanes=4, vpl=4, bits={"embedding": 8, "attention": 4, "mlp": 5,
                                                             "classifier": 8}, lora_rank=2,
                 lora_targets=("wq", "w2"), k_max=8)
BIG = "1" + "0" * 4999                      # a 5,000-digit integer, as JSON text


@pytest.fixture
def folder(tiny_model, tmp_path):
    save_hf_folder(tiny_model, tmp_path / "m")
    return tmp_path / "m"


def bpe(vocab: dict) -> dict:
    return {"model": {"type": "BPE", "vocab": vocab, "merges": []}}


VOCAB = {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4}


def write_metadata(path, doc=None, text: str | None = None):
    path.write_text(text if text is not None else json.dumps(doc))
    return path


def config_text(folder, **raw_values: str) -> None:
    """Set config.json keys to raw JSON text (for values Python's json would not write)."""
    spec = json.loads((folder / "config.json").read_text())
    for key in raw_values:
        spec[key] = f"@{key}@"
    text = json.dumps(spec)
    for key, raw in raw_values.items():
        text = text.replace(f'"@{key}@"', raw)
    (folder / "config.json").write_text(text)


def header_file(tmp_path, head: bytes, data: bytes = b""):
    path = tmp_path / "x.safetensors"
    path.write_bytes(len(head).to_bytes(8, "little") + head + data)
    return path


# ---------------------------------------------------------------- 1. lone surrogate

def test_1_lone_surrogate_in_a_vocabulary_key(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(bpe({**VOCAB, "\ud800": 5})))      # json writes it as \ud800
    with pytest.raises(TokenizerError, match="surrogate") as e:
        Tokenizer.from_hf_json(path)
    assert str(path) in str(e.value)
    # a surrogate *pair* is one real character (json.dumps escapes every non-ASCII one that way)
    path.write_text(json.dumps(bpe({**VOCAB, "\U0001F680": 5})))
    assert Tokenizer.from_hf_json(path).vocab[5] == "\U0001F680".encode()
    # the same anywhere else: a tensor name, a metadata string
    with pytest.raises(CheckpointError, match="surrogate"):
        read_header(header_file(tmp_path, json.dumps({"\udc80": {}}).encode()))
    doc = Metadata(IDENT, model="\udfff").to_json()
    with pytest.raises(MetadataError, match="surrogate"):
        Metadata.load(write_metadata(tmp_path / "m.json", doc))


# ---------------------------------------------------------------- 2. 5,000-digit integer

def test_2_five_thousand_digit_integer(tmp_path, folder):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(bpe(VOCAB)).replace('"a": 4', f'"a": {BIG}'))
    with pytest.raises(TokenizerError, match="5000 digits") as e:
        Tokenizer.from_hf_json(path)
    assert str(path) in str(e.value)
    config_text(folder, vocab_size=BIG)
    with pytest.raises(ConfigError, match="config.json: an integer of 5000 digits"):
        load_hf_folder(folder)
    text = json.dumps(Metadata(IDENT).to_json()).replace('"clock_hz": null', f'"clock_hz": {BIG}')
    with pytest.raises(MetadataError, match="5000 digits"):
        Metadata.load(write_metadata(tmp_path / "m.json", text=text))
    head = b'{"a": {"dtype": "F32", "shape": [%s], "data_offsets": [0, 4]}}' % BIG.encode()
    with pytest.raises(CheckpointError, match="5000 digits"):
        read_header(header_file(tmp_path, head, bytes(4)))


# ---------------------------------------------------------------- 3. bad shard names

@pytest.mark.parametrize("shard", ["model\0.safetensors", "\ud800.safetensors", "a\udc80"])
def test_3_shard_name_with_nul_or_surrogate(folder, shard):
    (folder / INDEX_NAME).write_text(json.dumps({"weight_map": {"model.norm.weight": shard}}))
    with pytest.raises(CheckpointError, match="NUL|surrogate") as e:
        load_hf_folder(folder)
    assert INDEX_NAME in str(e.value)


def test_3_safetensors_path_with_nul_or_surrogate(tmp_path):
    # \ud800 has no file-name bytes (\udc80..\udcff stand for undecodable bytes, and are fine)
    for name in ("a\0.safetensors", "\ud800.safetensors"):
        with pytest.raises(CheckpointError, match="NUL|surrogate"):
            read_header(tmp_path / name)


# ---------------------------------------------------------------- 4. float overflow in config.json

@pytest.mark.parametrize("key, name", [("rope_theta", "rope_theta"), ("rms_norm_eps", "norm_eps")])
def test_4_number_beyond_float_range_in_config(folder, key, name):
    config_text(folder, **{key: str(10 ** 400)})
    with pytest.raises(ConfigError, match=f"{name} must be a positive finite number") as e:
        load_hf_folder(folder)
    assert "config.json" in str(e.value) and len(str(e.value)) < 400   # the value is shortened


# ---------------------------------------------------------------- 5. identity of the wrong type

@pytest.mark.parametrize("identity", ["xy", [1, 2], 5, None])
def test_5_metadata_identity_of_the_wrong_type(tmp_path, identity):
    doc = Metadata(IDENT).to_json()
    doc["identity"] = identity
    path = write_metadata(tmp_path / "m.json", doc)
    with pytest.raises(MetadataError, match="identity must be an object") as e:
        Metadata.load(path)
    assert str(path) in str(e.value)


# ---------------------------------------------------------------- 6. nesting 100,000 deep

def test_6_metadata_nested_100000_deep(tmp_path):
    path = write_metadata(tmp_path / "m.json", text="[" * 100_000 + "]" * 100_000)
    with pytest.raises(MetadataError, match="nested") as e:     # refused before parsing
        Metadata.load(path)
    assert str(path) in str(e.value)
    # as deep, with keys long enough to pass the container count: the parser gives up
    path = write_metadata(tmp_path / "k.json", text='{"abcdefghijklmnopq":' * 40_000 + "0" + "}" * 40_000)
    with pytest.raises(MetadataError, match="nested deeper than") as e:
        Metadata.load(path)
    assert str(path) in str(e.value)
    # deep enough to parse, too deep to be real (and to repr() or json.dumps() safely later)
    doc = Metadata(IDENT).to_json()
    deep: list = []
    for _ in range(500):
        deep = [deep]
    doc["extra"] = {"x": deep}
    with pytest.raises(MetadataError, match="nested deeper than"):
        Metadata.load(write_metadata(tmp_path / "n.json", text=json.dumps(doc)))


def test_6_cli_reports_deep_metadata_without_a_traceback(tmp_path, capsys):
    from hw.cli import main
    from hw.rtlgen.fixture import random_int_model
    from tests.host_fakes import FakeBridge, FakeCore, PtyBridge

    path = write_metadata(tmp_path / "m.json", text="[" * 100_000 + "]" * 100_000)
    pty = PtyBridge(FakeBridge(FakeCore(random_int_model(9))))
    try:
        rc = main(["info", "--device", f"serial:{pty.slave_path}", "--metadata", str(path),
                   "--timeout", "5"])
    finally:
        pty.close()
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    assert "hardwire info: error:" in err and "nested" in err and str(path) in err


# ---------------------------------------------------------------- 7. every metadata field type-checked

@pytest.mark.parametrize("where, value", [
    ("tokenizer", 5), ("tokenizer", ["tok.bin"]), ("tokenizer_fingerprint", 5), ("model", 5),
    ("board", []), ("clock_hz", "fast"), ("clock_hz", 1.5), ("clock_hz", True), ("uart_baud", "115200"),
    ("pynq_ip", 3), ("extra", []), ("format", 5), ("version", "1"), ("version", True),
    ("identity.fingerprint", 7), ("identity.fingerprint", "xyz"), ("identity.gen_version", "1"),
    ("identity.dim", "24"), ("identity.dim", 24.0), ("identity.dim", -1), ("identity.dim", 2 ** 40),
    ("identity.vocab", None), ("identity.bits", [8, 4]), ("identity.bits.mlp", "4"),
    ("identity.lora_rank", True), ("identity.lora_targets", "wq"), ("identity.lora_targets", [1]),
    ("identity.k_max", {}),
])
def test_7_every_metadata_field_is_type_checked(tmp_path, where, value):
    doc = Metadata(IDENT).to_json()
    *parents, key = where.split(".")
    node = doc
    for p in parents:
        node = node[p]
    node[key] = value
    path = write_metadata(tmp_path / "m.json", doc)
    with pytest.raises(MetadataError, match=key) as e:
        Metadata.load(path)
    assert str(path) in str(e.value)


def test_7_unknown_or_missing_identity_fields(tmp_path):
    doc = Metadata(IDENT).to_json()
    doc["identity"]["colour"] = "red"
    with pytest.raises(MetadataError, match="colour"):
        Metadata.load(write_metadata(tmp_path / "m.json", doc))
    doc = Metadata(IDENT).to_json()
    del doc["identity"]["vocab"]
    with pytest.raises(MetadataError, match="vocab"):
        Metadata.load(write_metadata(tmp_path / "m.json", doc))


def test_7_build_json_fields_are_type_checked(tmp_path):
    from host.metadata import find_metadata

    build = {"generator_version": "1.0.0",
             "model": {"fingerprint": "ab" * 32, "source": "x",
                       "config": {"dim": 24, "hidden_dim": 44, "n_layers": 2, "n_heads": 3,
                                  "n_kv_heads": 1, "vocab_size": 37},
                       "bits": {"embedding": 8, "attention": 4, "mlp": 4, "classifier": 8}},
             "knobs": {"context": 16, "lanes": 4, "values_per_lane": 4, "k_max": 8}}
    (tmp_path / "build.json").write_text(json.dumps(build))
    assert find_metadata(tmp_path).identity.dim == 24
    for edit in (lambda b: b.__setitem__("knobs", []),
                 lambda b: b["knobs"].update(lora_rank=float("inf"), lora_targets=["wq"]),
                 lambda b: b["knobs"].__setitem__("lora_targets", 5),
                 lambda b: b["model"]["config"].__setitem__("dim", "24"),
                 lambda b: b["model"]["bits"].__setitem__("mlp", [4])):
        bad = json.loads(json.dumps(build))
        edit(bad)
        (tmp_path / "build.json").write_text(json.dumps(bad))
        with pytest.raises(MetadataError, match="build.json"):
            find_metadata(tmp_path)


# ---------------------------------------------------------------- 8. paths with NUL

def test_8_tokenizer_path_with_nul(tmp_path):
    for name in ("tok\0.bin", "tok\ud800.bin"):
        with pytest.raises(HostTokenizerError, match="NUL|surrogate"):
            HostTokenizer.load(tmp_path / name)
        with pytest.raises(TokenizerError, match="NUL|surrogate"):
            Tokenizer.load(tmp_path / name)
        with pytest.raises(TokenizerError, match="NUL|surrogate"):
            Tokenizer.from_hf_json(tmp_path / name)
        with pytest.raises(MetadataError, match="NUL|surrogate"):
            Metadata.load(tmp_path / name)
        with pytest.raises(CheckpointError, match="NUL|surrogate"):
            load_llama2c(tmp_path / name)
    doc = Metadata(IDENT, tokenizer="tok\0.bin").to_json()
    with pytest.raises(MetadataError, match="tokenizer.*NUL"):
        Metadata.load(write_metadata(tmp_path / "m.json", doc))


# ---------------------------------------------------------------- 9. memory: caps and tiny containers

def peak_of(load) -> int:
    tracemalloc.start()
    try:
        load()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def refused(error, load, match: str) -> int:
    """Peak traced memory of load(), which must raise `error` matching `match`."""
    def run():
        with pytest.raises(error, match=match):
            load()
    return peak_of(run)


TINY = b"{}," * 300_000                    # 900 kB of empty objects (under every cap): ~22 MB parsed


def test_9_json_of_tiny_containers_is_refused_before_parsing(tmp_path, folder):
    size = len(TINY) + 100
    tok = tmp_path / "tokenizer.json"
    tok.write_bytes(b'{"added_tokens": [' + TINY + b'{}], "model": {}}')
    meta = tmp_path / "m.json"
    meta.write_bytes(b'{"extra": [' + TINY + b'{}]}')
    cases = [
        (TokenizerError, lambda: Tokenizer.from_hf_json(tok), "tokenizer.json"),
        (MetadataError, lambda: Metadata.load(meta), "m.json"),
        (CheckpointError, lambda: read_header(header_file(tmp_path, b'{"__metadata__": [' + TINY + b'{}]}')),
         "x.safetensors"),
    ]
    for error, load, name in cases:
        assert refused(error, load, f"{name}: .*objects and .* arrays") < 4 * size
    (folder / "config.json").write_bytes(b'{"x": [' + TINY + b'{}]}')
    assert refused(ConfigError, lambda: load_hf_folder(folder), "config.json: .*objects and") < 4 * size


def sparse(path, size: int, head: bytes = b"{") -> None:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


def test_9_files_far_above_what_real_ones_need_are_refused_unread(tmp_path, folder):
    """Sizes well above the caps of docs/loaders.md: refused from the size, nothing read."""
    limit = 256 << 10
    sparse(tmp_path / "tokenizer.json", 40 << 20)
    assert refused(TokenizerError, lambda: Tokenizer.from_hf_json(tmp_path / "tokenizer.json"),
                   "tokenizer.json: .*larger than") < limit
    sparse(tmp_path / "m.json", 4 << 20)
    assert refused(MetadataError, lambda: Metadata.load(tmp_path / "m.json"), "m.json: .*larger than") < limit
    sparse(tmp_path / "x.safetensors", (24 << 20) + 8, (24 << 20).to_bytes(8, "little") + b"{")
    assert refused(CheckpointError, lambda: read_header(tmp_path / "x.safetensors"),
                   "x.safetensors: .*cap") < limit
    sparse(folder / INDEX_NAME, 24 << 20)
    assert refused(CheckpointError, lambda: load_hf_folder(folder), f"{INDEX_NAME}: .*larger than") < limit
    sparse(folder / "config.json", 4 << 20)
    assert refused(ConfigError, lambda: load_hf_folder(folder), "config.json: .*larger than") < limit


def test_9_caps_bound_the_worst_case():
    """What the caps allow stays a few hundred MB even at the worst ~22x (measured) of a parse that
    passes the container check (see docs/loaders.md)."""
    from host import jsonfile
    from host.metadata import MAX_BUILD_JSON_BYTES, MAX_METADATA_BYTES
    from hw.frontend.hf_folder import MAX_CONFIG_BYTES, MAX_HEADER_BYTES, MAX_INDEX_BYTES
    from hw.tokenizer import MAX_TOKENIZER_JSON_BYTES

    caps = [MAX_BUILD_JSON_BYTES, MAX_METADATA_BYTES, MAX_CONFIG_BYTES, MAX_HEADER_BYTES,
            MAX_INDEX_BYTES, MAX_TOKENIZER_JSON_BYTES]
    assert max(caps) * 24 <= 400 << 20
    assert jsonfile.CONTAINER_BYTES >= 10
    # and the largest real files of models that fit an FPGA are far below them
    assert MAX_TOKENIZER_JSON_BYTES >= 8 * 1_842_767        # Llama 2's tokenizer.json
    assert MAX_HEADER_BYTES >= 4 * (9 * 1024 + 3) * 130      # 1024 layers (the loader's limit)

