"""llama2.c legacy checkpoints: load, save, and every way a file can be bad."""
from __future__ import annotations

import dataclasses
import math
import struct

import numpy as np
import pytest

from hw.errors import CheckpointError, ConfigError, HardwireError
from hw.frontend.checks import weight_shapes
from hw.frontend.llama2c import HEADER, TENSOR_ORDER, load_llama2c, save_llama2c
from hw.model import FloatModel


def tensor_offset(model: FloatModel, name: str, index: tuple[int, ...]) -> int:
    """Byte offset of model[name][index] in the llama2.c file (tensors before it + flat index)."""
    shapes = weight_shapes(model.config)
    floats = 0
    for other in TENSOR_ORDER:
        if other == name:
            break
        floats += math.prod(shapes[other])
    return HEADER.size + 4 * (floats + int(np.ravel_multi_index(index, shapes[name])))


# ------------------------------------------------------------------ good files

def test_load_stories260k(shared_models):
    path = shared_models / "stories260K.bin"
    m = load_llama2c(path)
    c = m.config
    assert (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
            c.seq_len) == (64, 172, 5, 8, 4, 512, 512)
    assert c.shared_classifier and c.head_dim == 8 and c.kv_dim == 32
    assert m["wcls"] is m["token_embedding"]
    for name, shape in weight_shapes(c).items():
        assert m[name].shape == shape and m[name].dtype == np.float32, name
    raw = path.read_bytes()
    # spot values straight from the file: the first weight and the last of rms_final
    assert m["token_embedding"][0, 0] == np.frombuffer(raw, "<f4", 1, 28)[0]
    off = tensor_offset(m, "rms_final", (63,))
    assert m["rms_final"][63] == np.frombuffer(raw, "<f4", 1, off)[0]


def test_save_reproduces_stories260k(shared_models, tmp_path):
    src = shared_models / "stories260K.bin"
    save_llama2c(load_llama2c(src), tmp_path / "copy.bin")
    a, b = src.read_bytes(), (tmp_path / "copy.bin").read_bytes()
    assert len(a) == len(b)
    weights_end = len(a) - 2 * 4 * 512 * 4           # the freq_cis tables come last
    assert a[:weights_end] == b[:weights_end]        # header and every weight, bit for bit
    # run.c ignores the RoPE tables; ours match PyTorch's to an ulp or two
    fa = np.frombuffer(a[weights_end:], "<f4")
    fb = np.frombuffer(b[weights_end:], "<f4")
    np.testing.assert_allclose(fa, fb, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_roundtrip_tiny(tiny_model_factory, tmp_path, shared):
    m = tiny_model_factory(shared=shared)
    path = tmp_path / "tiny.bin"
    save_llama2c(m, path)
    c = m.config
    n_floats = sum(math.prod(s) for s in weight_shapes(c).values())
    n_floats += 2 * c.seq_len * c.head_dim // 2 - (c.vocab_size * c.dim if shared else 0)
    assert path.stat().st_size == 28 + 4 * n_floats
    header = struct.unpack("<7i", path.read_bytes()[:28])
    assert header == (24, 44, 2, 3, 1, 37 if shared else -37, 16)
    back = load_llama2c(path)
    assert back.config == c
    for name in weight_shapes(c):
        assert np.array_equal(back[name], m[name]), name
    assert (back["wcls"] is back["token_embedding"]) == shared
    assert not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------ bad files

@pytest.fixture
def tiny_file(tiny_model, tmp_path):
    path = tmp_path / "tiny.bin"
    save_llama2c(tiny_model, path)
    return path


def write(tmp_path, data: bytes):
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    return path


def test_truncated(tiny_file, tmp_path):
    raw = tiny_file.read_bytes()
    with pytest.raises(CheckpointError, match="truncated") as e:
        load_llama2c(write(tmp_path, raw[:-4]))
    assert "bad.bin" in str(e.value) and str(len(raw)) in str(e.value)
    with pytest.raises(CheckpointError, match="too short"):
        load_llama2c(write(tmp_path, raw[:10]))
    with pytest.raises(CheckpointError, match="too short"):
        load_llama2c(write(tmp_path, b""))


def test_trailing_garbage(tiny_file, tmp_path):
    with pytest.raises(CheckpointError, match="trailing"):
        load_llama2c(write(tmp_path, tiny_file.read_bytes() + b"\0" * 4))


@pytest.mark.parametrize("version", [1, 2])
def test_versioned_llama2c_format(tmp_path, version):
    data = struct.pack("<Ii", 0x616B3432, version) + bytes(248) + bytes(4096)
    with pytest.raises(CheckpointError) as e:
        load_llama2c(write(tmp_path, data))
    msg = str(e.value)
    assert f"version-{version}" in msg and "not supported" in msg and "--version 0" in msg


@pytest.mark.parametrize("field, value, message", [
    (0, 0, "dim must be positive"),
    (0, -24, "dim must be positive"),
    (2, 0, "n_layers must be positive"),
    (6, -1, "seq_len must be positive"),
    (0, 1 << 30, "above the supported maximum"),
    (5, -(1 << 30), "above the supported maximum"),
    (3, 5, "not divisible by n_heads"),           # dim 24, 5 heads
    (4, 2, "not divisible by n_kv_heads"),        # 3 heads, 2 kv heads
    (4, 6, "not divisible by n_kv_heads"),        # more kv heads than heads
    (3, 8, "odd"),                                # head_dim 24 / 8 = 3
    (1, 45, "needs exactly"),                     # valid dims, wrong length
    (6, 1 << 19, "needs exactly"),
])
def test_bad_header(tiny_file, tmp_path, field, value, message):
    raw = bytearray(tiny_file.read_bytes())
    struct.pack_into("<i", raw, 4 * field, value)
    with pytest.raises(CheckpointError, match=message):
        load_llama2c(write(tmp_path, bytes(raw)))


@pytest.mark.parametrize("name, index, value, expect", [
    ("w2", (1, 3, 7), np.nan, "w2 layer 1"),
    ("token_embedding", (5, 0), np.inf, "token_embedding"),
    ("rms_final", (23,), -np.inf, "rms_final"),
])
def test_non_finite_weights(tiny_model, tiny_file, tmp_path, name, index, value, expect):
    raw = bytearray(tiny_file.read_bytes())
    struct.pack_into("<f", raw, tensor_offset(tiny_model, name, index), value)
    with pytest.raises(CheckpointError, match=expect) as e:
        load_llama2c(write(tmp_path, bytes(raw)))
    assert str(index) in str(e.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read"):
        load_llama2c(tmp_path / "nope.bin")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_llama2c(tmp_path)


def test_save_rejects_what_the_format_cannot_hold(tiny_model, tmp_path):
    odd_eps = dataclasses.replace(tiny_model, config=dataclasses.replace(
        tiny_model.config, norm_eps=1e-6))
    with pytest.raises(ConfigError, match="norm_eps"):
        save_llama2c(odd_eps, tmp_path / "a.bin")
    bad_shape = FloatModel(tiny_model.config, dict(tiny_model.weights))
    bad_shape.weights["w1"] = bad_shape.weights["w1"][:, :-1]
    with pytest.raises(ConfigError, match="w1 has shape"):
        save_llama2c(bad_shape, tmp_path / "a.bin")
    untied = FloatModel(tiny_model.config, dict(tiny_model.weights))
    untied.weights["wcls"] = untied.weights["token_embedding"] + 1
    with pytest.raises(ConfigError, match="shared_classifier"):
        save_llama2c(untied, tmp_path / "a.bin")
    nan = FloatModel(tiny_model.config, dict(tiny_model.weights))
    nan.weights["wo"] = nan.weights["wo"].copy()
    nan.weights["wo"][1, 2, 3] = np.nan
    with pytest.raises(HardwireError, match="wo layer 1"):
        save_llama2c(nan, tmp_path / "a.bin")
    assert not list(tmp_path.iterdir())  # nothing half-written left behind
