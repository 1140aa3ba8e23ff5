"""Hugging Face Llama folders: round trips, RoPE row order, dtypes, shards, bad folders."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from hw.frontend.llama2c import load_llama2c
from hw.errors import CheckpointError, ConfigError, HardwireError
from hw.float_model import FloatRunner, rope_cos_sin
from hw.frontend.hf_folder import (hf_to_llama2c_rows, llama2c_to_hf_rows,
                                   load_hf_folder, read_header, save_hf_folder)
from hw.tokenizer import Tokenizer


def logits_of(model, tokens=(1, 5, 9, 2, 30, 11)) -> np.ndarray:
    runner = FloatRunner(model)
    return np.stack([runner.forward(t, p) for p, t in enumerate(tokens)])  # (T, V)


@pytest.mark.parametrize("shared", [True, False])
def test_roundtrip_identical(tiny_model_factory, tmp_path, shared):
    m = tiny_model_factory(seed=1, shared=shared)
    save_hf_folder(m, tmp_path)
    back, tok = load_hf_folder(tmp_path)
    assert tok is None and back.config == m.config
    for name in m.weights:
        assert np.array_equal(back[name], m[name]), name
    assert (back["wcls"] is back["token_embedding"]) == shared
    assert np.array_equal(logits_of(back), logits_of(m))
    stored = load_file(str(tmp_path / "model.safetensors"))
    assert ("lm_head.weight" in stored) != shared
    # q/k rows really are stored in HF order, not copied through
    assert not np.array_equal(stored["model.layers.0.self_attn.q_proj.weight"], m["wq"][0])


def test_permutations_are_inverse():
    w = np.arange(6 * 8 * 5, dtype=np.float32).reshape(48, 5)
    assert np.array_equal(hf_to_llama2c_rows(llama2c_to_hf_rows(w, 6), 6), w)
    # head 0 of width 8: HF rows (0..3 | 4..7) hold pairs (j, j+4); llama2.c rows pairs (2j, 2j+1)
    assert hf_to_llama2c_rows(w, 6)[:8, 0].tolist() == [0, 20, 5, 25, 10, 30, 15, 35]


def rotate_half_rope(x: np.ndarray, pos: int, theta: float = 10000.0) -> np.ndarray:
    """HF Llama's RoPE on one head (hd,), written from the transformers formula."""
    hd = x.shape[0]
    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd)        # (hd/2,)
    emb = np.concatenate([pos * inv_freq, pos * inv_freq])       # (hd,)
    rotated = np.concatenate([-x[hd // 2:], x[:hd // 2]])
    return x * np.cos(emb) + rotated * np.sin(emb)


@pytest.mark.parametrize("dim, n_heads, n_kv_heads", [(24, 3, 1), (48, 4, 2)])
def test_rope_row_order_gives_hf_attention_scores(tiny_model_factory, tmp_path,
                                                  dim, n_heads, n_kv_heads):
    """Scores q.k computed HF's way on HF-layout weights equal ours on converted weights.

    head_dim 8 and 12: (with head_dim 4 the permutation is its own inverse and
    could not tell the two directions apart)."""
    m = tiny_model_factory(seed=2, dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads)
    save_hf_folder(m, tmp_path)
    hf = load_file(str(tmp_path / "model.safetensors"))          # the library's own reader
    wq_hf = hf["model.layers.1.self_attn.q_proj.weight"].astype(np.float64)
    wk_hf = hf["model.layers.1.self_attn.k_proj.weight"].astype(np.float64)
    ours, _ = load_hf_folder(tmp_path)
    c = m.config
    hd = c.head_dim
    cos, sin = rope_cos_sin(hd, c.seq_len, c.rope_theta)
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal(c.dim), rng.standard_normal(c.dim)
    for p1, p2 in [(3, 1), (7, 7), (15, 2)]:
        q_hf, k_hf = wq_hf @ x1, wk_hf @ x2
        q_l, k_l = ours["wq"][1] @ x1, ours["wk"][1] @ x2
        for h in range(c.n_heads):
            g = h // (c.n_heads // c.n_kv_heads)
            qh = rotate_half_rope(q_hf[h * hd:(h + 1) * hd], p1)
            kh = rotate_half_rope(k_hf[g * hd:(g + 1) * hd], p2)
            ql = q_l[h * hd:(h + 1) * hd].reshape(-1, 2)
            kl = k_l[g * hd:(g + 1) * hd].reshape(-1, 2)
            rq = np.stack([ql[:, 0] * cos[p1] - ql[:, 1] * sin[p1],
                           ql[:, 0] * sin[p1] + ql[:, 1] * cos[p1]], 1)
            rk = np.stack([kl[:, 0] * cos[p2] - kl[:, 1] * sin[p2],
                           kl[:, 0] * sin[p2] + kl[:, 1] * cos[p2]], 1)
            assert np.isclose(qh @ kh, (rq * rk).sum(), rtol=1e-4, atol=1e-5), (p1, p2, h)


def test_stories260k_through_hf_folder(shared_models, reference, tmp_path):
    m = load_llama2c(shared_models / "stories260K.bin")
    save_hf_folder(m, tmp_path)
    back, _ = load_hf_folder(tmp_path)
    runs, _ = reference
    run = runs[0]
    assert FloatRunner(back).generate_greedy(run["prompt_tokens"], run["steps"]) == run["ids"]


def test_half_precision_dtypes(tiny_model, tmp_path):
    save_hf_folder(tiny_model, tmp_path / "f16", dtype="F16")
    f16, _ = load_hf_folder(tmp_path / "f16")
    for name, w in tiny_model.weights.items():
        assert np.array_equal(f16[name], w.astype(np.float16).astype(np.float32)), name
    save_hf_folder(tiny_model, tmp_path / "bf16", dtype="BF16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    bf16, _ = load_hf_folder(tmp_path / "bf16")
    for name, w in tiny_model.weights.items():
        got = bf16[name]
        assert not (got.view(np.uint32) & 0xFFFF).any(), name       # really bf16 values
        assert np.all(np.abs(got - w) <= np.abs(w) * 2.0 ** -8), name  # within half an ulp
    raw = load_file(str(tmp_path / "f16" / "model.safetensors"))
    assert raw["model.norm.weight"].dtype == np.float16


def test_library_written_file_and_shards(tiny_model, tmp_path):
    save_hf_folder(tiny_model, tmp_path / "ref")
    tensors = load_file(str(tmp_path / "ref" / "model.safetensors"))
    config = (tmp_path / "ref" / "config.json").read_text()
    # one file written by the safetensors library itself
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "config.json").write_text(config)
    save_file(tensors, str(tmp_path / "lib" / "model.safetensors"))
    lib, _ = load_hf_folder(tmp_path / "lib")
    # two shards and an index
    shard = tmp_path / "shard"
    shard.mkdir()
    (shard / "config.json").write_text(config)
    names = sorted(tensors)
    parts = {"model-00001-of-00002.safetensors": names[::2],
             "model-00002-of-00002.safetensors": names[1::2]}
    for fname, part in parts.items():
        save_file({n: tensors[n] for n in part}, str(shard / fname))
    (shard / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {n: f for f, part in parts.items() for n in part}}))
    sharded, _ = load_hf_folder(shard)
    for name, w in tiny_model.weights.items():
        assert np.array_equal(lib[name], w) and np.array_equal(sharded[name], w), name


def test_tokenizer_json_is_loaded(tiny_model, tmp_path):
    save_hf_folder(tiny_model, tmp_path)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4, "\u2581a": 5}
    (tmp_path / "tokenizer.json").write_text(json.dumps(
        {"model": {"type": "BPE", "vocab": vocab, "merges": ["\u2581 a"]}}))
    _, tok = load_hf_folder(tmp_path)
    assert isinstance(tok, Tokenizer) and tok.encode("a") == [1, 5]


# ------------------------------------------------------------------ bad folders

@pytest.fixture
def folder(tiny_model, tmp_path):
    save_hf_folder(tiny_model, tmp_path / "m")
    return tmp_path / "m"


def edit_config(folder, **changes):
    spec = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is KeyError:
            del spec[key]
        else:
            spec[key] = value
    (folder / "config.json").write_text(json.dumps(spec))


@pytest.mark.parametrize("changes, message", [
    ({"architectures": ["MistralForCausalLM"], "model_type": "mistral"}, "MistralForCausalLM"),
    ({"architectures": KeyError, "model_type": "gpt2"}, "gpt2"),
    ({"architectures": ["LlamaForCausalLM"], "model_type": "qwen2"}, "qwen2"),
    ({"rope_scaling": {"type": "llama3", "factor": 8.0}}, "rope_scaling"),
    ({"hidden_act": "relu"}, "hidden_act .relu. is not supported; hardwire has gelu, gelu_pytorch_tanh, silu"),
    ({"attention_bias": True}, "attention_bias"),
    ({"hidden_size": KeyError}, "hidden_size is missing"),
    ({"hidden_size": "24"}, "must be an integer"),
    ({"num_attention_heads": 5}, "not divisible"),
    ({"head_dim": 16}, "head_dim 16"),
    ({"rms_norm_eps": -1}, "norm_eps"),
])
def test_bad_config(folder, changes, message):
    edit_config(folder, **changes)
    with pytest.raises(ConfigError, match=message) as e:
        load_hf_folder(folder)
    assert "config.json" in str(e.value)


def test_config_problems(folder, tmp_path):
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_hf_folder(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ConfigError, match="no config.json"):
        load_hf_folder(folder)
    with pytest.raises(CheckpointError, match="not a folder"):
        load_hf_folder(tmp_path / "absent")


def rewrite(folder, change):
    """Apply `change` to the tensors dict and write it back with the library writer."""
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


@pytest.mark.parametrize("change, message", [
    (lambda t: t.pop("model.layers.1.mlp.up_proj.weight"), "model.layers.1.mlp.up_proj.weight is missing"),
    (lambda t: t.__setitem__("model.norm.weight", np.ones(23, np.float32)), r"shape \[23\]"),
    (lambda t: t.__setitem__("model.layers.2.mlp.up_proj.weight", np.ones(3, np.float32)),
     "not part of a Llama model: model.layers.2"),
    (lambda t: t["model.layers.0.self_attn.v_proj.weight"].__setitem__((2, 3), np.nan),
     r"model.layers.0.self_attn.v_proj.weight holds nan"),
    (lambda t: t.__setitem__("model.norm.weight", np.ones(24, np.int64)), "not a float type"),
])
def test_bad_tensors(folder, change, message):
    rewrite(folder, change)
    with pytest.raises(CheckpointError, match=message):
        load_hf_folder(folder)


def test_untied_without_lm_head(folder):
    edit_config(folder, tie_word_embeddings=False)
    with pytest.raises(CheckpointError, match="lm_head.weight is missing.*tie_word_embeddings"):
        load_hf_folder(folder)


def test_missing_or_pickled_weights(folder):
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no .safetensors"):
        load_hf_folder(folder)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(CheckpointError, match="never loaded"):
        load_hf_folder(folder)


def test_bad_index(folder):
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"model.norm.weight": "../model.safetensors"}}))
    with pytest.raises(CheckpointError, match="not a file name"):
        load_hf_folder(folder)
    index.write_text(json.dumps({"weight_map": {"lm_head.bias": "model.safetensors"}}))
    with pytest.raises(CheckpointError, match="lacks it"):
        load_hf_folder(folder)
    index.write_text(json.dumps({"weight_map": []}))
    with pytest.raises(CheckpointError, match="weight_map"):
        load_hf_folder(folder)


# ------------------------------------------------------------------ crafted safetensors headers

def crafted(tmp_path, header, data: bytes = b"", header_len: int | None = None):
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(struct.pack("<Q", len(head) if header_len is None else header_len)
                     + head + data)
    return path


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize("header, data, header_len, message", [
    ({"a": entry(), "b": entry(offsets=(4, 12))}, bytes(12), None, "overlaps"),
    ({"a": entry(), "b": entry(offsets=(12, 20))}, bytes(20), None, "gap"),
    ({"a": entry(offsets=(0, 8))}, bytes(4), None, "fall outside"),
    ({"a": entry(shape=(3,))}, bytes(8), None, "needs 12 bytes"),
    ({"a": entry(shape=(1 << 62, 1 << 62))}, bytes(8), None, "needs"),
    ({"a": entry(shape=(-1,))}, bytes(8), None, "not a list of sizes"),
    ({"a": entry(offsets=(8, 0))}, bytes(8), None, "fall outside"),
    ({"a": entry(offsets=(0, 2 ** 70))}, bytes(8), None, "fall outside"),
    ({"a": entry(dtype="U8")}, bytes(8), None, "not a float type"),
    ({"a": entry()}, bytes(12), None, "after the last tensor"),
    ({"a": "x"}, b"", None, "not an object"),
    ([1, 2], b"", None, "not a JSON object"),
    (b"{\"a\": ", b"", None, "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, b"", None, "nested containers"),
    (b'{"abcdefghijklmnopq":' * 40_000 + b"0" + b"}" * 40_000, b"", None, "nested deeper than"),
    (b"\xff\xfe{}", b"", None, "not valid JSON"),
    ({}, b"", 2 ** 63, "does not fit"),
    ({}, b"", 200_000_000, "does not fit"),
])
def test_crafted_headers(tmp_path, header, data, header_len, message):
    path = crafted(tmp_path, header, data, header_len)
    with pytest.raises(CheckpointError, match=message):
        read_header(path)


def test_crafted_header_inside_folder_is_a_checkpoint_error(folder):
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(HardwireError):
        load_hf_folder(folder)
    path.write_bytes(b"1234")
    with pytest.raises(CheckpointError, match="too short"):
        load_hf_folder(folder)
