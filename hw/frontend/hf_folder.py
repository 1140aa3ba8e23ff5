"""Hugging Face Llama folders (config.json + *.safetensors [+ tokenizer.json]).

`load_hf_folder` returns the same FloatModel a llama2.c checkpoint gives:
HF's q_proj/k_proj rows are in "rotate_half" order (RoPE pairs (j, j + hd/2)
within a head); llama2.c and hardwire rotate adjacent pairs (2j, 2j+1), so
those rows are permuted on load (llama2.c export.py's `permute_reverse`) and
back on save. Attention scores are unchanged by the permutation, so the
float forward gives the same logits.

Safetensors files are untrusted: the JSON header is parsed and checked here
(size cap, dtypes, shapes, offsets inside the file, no overlap, no gap)
before any tensor is read. F32/F16/F64 tensors are read with the safetensors
numpy API; BF16, which numpy has no type for, is read from the checked
offsets directly.
"""
from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np
from safetensors import safe_open

from host.jsonfile import check_path, check_type, parse_json, read_json, short
from hw.frontend.checks import check_config, check_finite, check_model, weight_shapes
from hw import activations
from hw.errors import CheckpointError, ConfigError
from hw.model import FloatModel, ModelConfig
from hw.tokenizer import Tokenizer

# Caps on the JSON parts, from what real files need (docs/loaders.md): parsing JSON costs up to
# ~22x its size in memory even after host.jsonfile's container check, so "anything the
# safetensors library takes" (100 MB) would let a crafted header cost GBs.
#   header: ~130 bytes per tensor; at the loader's own limit of 1024 layers (LIMITS) that is
#     ~10k tensors, ~1.3 MB; a model that fits an FPGA has a few hundred, ~30 kB.
#   index:  ~70 bytes per tensor: ~0.7 MB at 1024 layers.
#   config.json: a few kB (Llama configs are ~0.7 kB).
MAX_HEADER_BYTES = 8 << 20
MAX_INDEX_BYTES = 8 << 20
MAX_CONFIG_BYTES = 1 << 20
FLOAT_DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
INDEX_NAME = "model.safetensors.index.json"

GLOBAL_NAMES = {"token_embedding": "model.embed_tokens.weight",
                "rms_final": "model.norm.weight",
                "wcls": "lm_head.weight"}
LAYER_NAMES = {"rms_att": "input_layernorm.weight",
               "wq": "self_attn.q_proj.weight",
               "wk": "self_attn.k_proj.weight",
               "wv": "self_attn.v_proj.weight",
               "wo": "self_attn.o_proj.weight",
               "rms_ffn": "post_attention_layernorm.weight",
               "w1": "mlp.gate_proj.weight",
               "w2": "mlp.down_proj.weight",
               "w3": "mlp.up_proj.weight"}


# ------------------------------------------------------------------ RoPE row order

def hf_to_llama2c_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """(n_heads*hd, D) rows from rotate_half order to adjacent-pair order (permute_reverse)."""
    rows, cols = w.shape
    half = rows // n_heads // 2
    # HF row h*hd + t*half + j  ->  llama2.c row h*hd + 2j + t
    return w.reshape(n_heads, 2, half, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def llama2c_to_hf_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of hf_to_llama2c_rows (llama2.c export.py's `permute_original`)."""
    rows, cols = w.shape
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


# ------------------------------------------------------------------ safetensors files

class _TensorRef:
    """Where one tensor lives: file, dtype, shape, absolute byte range."""

    def __init__(self, path: Path, name: str, dtype: str, shape: tuple[int, ...],
                 begin: int, end: int):
        self.path, self.name, self.dtype, self.shape = path, name, dtype, shape
        self.begin, self.end = begin, end


def read_header(path: Path) -> dict[str, _TensorRef]:
    """Parse and check a safetensors header; no tensor data is read."""
    path = check_path(path, CheckpointError, "safetensors file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{path}: {size} bytes is too short for a "
                                      "safetensors file; it is truncated")
            (n,) = struct.unpack("<Q", prefix)
            if 8 + n > size:
                raise CheckpointError(f"{path}: header length {n} does not fit "
                                      f"the {size}-byte file; the file is truncated "
                                      "or not safetensors")
            if n > MAX_HEADER_BYTES:
                raise CheckpointError(f"{path}: header length {n} is above the "
                                      f"{MAX_HEADER_BYTES}-byte cap; no model hardwire "
                                      "can load has a header that large (see "
                                      "docs/loaders.md): the file is corrupt or crafted")
            raw = f.read(n)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e}); check the "
                              "path and permissions") from e
    # UTF-8, depth, integer length, lone surrogates, container density
    header = parse_json(raw, f"{path}: the safetensors header", CheckpointError,
                        what="safetensors header", hint="the file is corrupt")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the safetensors header is not a JSON object")
    data_start, data_len = 8 + n, size - 8 - n
    refs: dict[str, _TensorRef] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        bad = f"{path}: tensor {_short(name)}: "
        if not isinstance(info, dict):
            raise CheckpointError(bad + "header entry is not an object; file corrupt")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in FLOAT_DTYPES:
            raise CheckpointError(bad + f"dtype {_short(dtype)} is not a float type "
                                  f"({', '.join(FLOAT_DTYPES)}); hardwire reads float "
                                  "weights (quantised checkpoints are not supported)")
        if not (isinstance(shape, list) and len(shape) <= 8 and all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            raise CheckpointError(bad + f"shape {_short(shape)} is not a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_len):
            raise CheckpointError(bad + f"data_offsets {_short(offsets)} fall outside the "
                                  f"{data_len} data bytes; the file is truncated or "
                                  "corrupt")
        nbytes = math.prod(shape) * FLOAT_DTYPES[dtype]  # Python ints: no overflow
        if offsets[1] - offsets[0] != nbytes:
            raise CheckpointError(bad + f"shape {shape} of {dtype} needs {nbytes} "
                                  f"bytes but data_offsets span "
                                  f"{offsets[1] - offsets[0]}; the file is corrupt")
        refs[name] = _TensorRef(path, name, dtype, tuple(shape),
                                data_start + offsets[0], data_start + offsets[1])
    # The tensors must tile the data area exactly: no overlap, no hole, no tail.
    end = data_start
    for ref in sorted(refs.values(), key=lambda r: (r.begin, r.end)):
        if ref.begin != end:
            what = "overlaps the previous tensor" if ref.begin < end else "leaves a gap"
            raise CheckpointError(f"{path}: tensor {ref.name!r} {what} (starts at "
                                  f"data byte {ref.begin - data_start}, expected "
                                  f"{end - data_start}); the file is corrupt or crafted")
        end = ref.end
    if end != size:
        raise CheckpointError(f"{path}: {size - end} bytes after the last tensor; "
                              "the file is corrupt")
    return refs


def _short(value: object) -> str:
    """repr capped in length: crafted headers must not flood the error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_tensor(ref: _TensorRef) -> np.ndarray:
    """The tensor as float32, shape ref.shape."""
    count = math.prod(ref.shape)
    try:
        if ref.dtype == "BF16":  # numpy has no bfloat16: widen the raw bits
            bits = np.fromfile(ref.path, dtype="<u2", count=count, offset=ref.begin)
            if bits.size != count:
                raise CheckpointError(f"{ref.path}: tensor {ref.name!r} is cut short; "
                                      "the file changed while being read")
            arr = (bits.astype(np.uint32) << 16).view(np.float32)
        else:
            with safe_open(str(ref.path), framework="np") as f:
                arr = f.get_tensor(ref.name)
    except CheckpointError:
        raise
    except Exception as e:  # the safetensors library raises its own error types
        raise CheckpointError(f"{ref.path}: cannot read tensor {ref.name!r} ({e}); "
                              "the file is corrupt") from e
    return np.asarray(arr, dtype=np.float32).reshape(ref.shape)


def _tensor_index(folder: Path) -> dict[str, _TensorRef]:
    """Every tensor of the folder's safetensors file(s), by name."""
    index_path = folder / INDEX_NAME
    if index_path.is_file():
        index = read_json(index_path, CheckpointError, MAX_INDEX_BYTES, what="safetensors index",
                          hint="the index is corrupt; re-download it")
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index_path}: no weight_map object; the index "
                                  "is corrupt")
        shards = {}
        for name, shard in weight_map.items():
            if not (isinstance(shard, str) and shard == Path(shard).name
                    and shard not in ("", ".", "..")):
                raise CheckpointError(f"{index_path}: shard {short(shard)} of tensor "
                                      f"{short(name)} is not a file name in the folder")
            if "\0" in shard:      # (lone surrogates never get here: read_json refuses them)
                raise CheckpointError(f"{index_path}: shard {short(shard)} of tensor "
                                      f"{short(name)} holds a NUL character, which no file "
                                      "name can; the index is corrupt")
            shards.setdefault(shard, []).append(name)
        refs: dict[str, _TensorRef] = {}
        for shard, names in shards.items():
            header = read_header(folder / shard)
            for name in names:
                if name not in header:
                    raise CheckpointError(f"{index_path}: tensor {short(name)} is listed "
                                          f"in {shard} but that file lacks it")
                refs[name] = header[name]
        return refs
    files = sorted(folder.glob("*.safetensors"))
    if len(files) == 1:
        return read_header(files[0])
    if files:
        raise CheckpointError(f"{folder}: {len(files)} .safetensors files but no "
                              f"{INDEX_NAME} saying which tensor is where")
    pickles = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
    raise CheckpointError(f"{folder}: no .safetensors weights" + (
        f" (found {', '.join(pickles)}: pickled PyTorch files are never loaded, as "
        "unpickling runs code; convert them with `model.save_pretrained(folder, "
        "safe_serialization=True)`)" if pickles else ""))


# ------------------------------------------------------------------ config.json

def config_from_hf(spec: object, source: str) -> ModelConfig:
    """A ModelConfig from a Llama config.json; anything else is a ConfigError."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: not a JSON object")
    archs = spec.get("architectures")
    model_type = spec.get("model_type")
    if (archs is not None and (not isinstance(archs, list) or "LlamaForCausalLM" not in archs)) \
            or (archs is None and model_type != "llama") \
            or (model_type is not None and model_type != "llama"):
        raise ConfigError(f"{source}: architecture {short(archs)} (model_type "
                          f"{short(model_type)}) is not supported; hardwire loads "
                          "LlamaForCausalLM (model_type \"llama\") folders only. "
                          "Convert the model to a llama-architecture checkpoint")
    unsupported = {"rope_scaling": None, "attention_bias": False, "mlp_bias": False}
    for key, wanted in unsupported.items():
        if spec.get(key, wanted) != wanted:
            raise ConfigError(f"{source}: {key} = {short(spec[key])} is not supported "
                              f"(hardwire needs {wanted!r}); it would change the "
                              "forward pass")
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "vocab_size"):
        if key not in spec:
            raise ConfigError(f"{source}: {key} is missing; a Llama config.json "
                              "must give it")
    tied = check_type(spec.get("tie_word_embeddings"), "bool", f"{source}: tie_word_embeddings",
                      ConfigError, optional=True, hint="fix the config")
    n_heads = spec["num_attention_heads"]
    cfg = ModelConfig(
        dim=spec["hidden_size"], hidden_dim=spec["intermediate_size"],
        n_layers=spec["num_hidden_layers"], n_heads=n_heads,
        n_kv_heads=n_heads if spec.get("num_key_value_heads") is None
        else spec["num_key_value_heads"],
        vocab_size=spec["vocab_size"],
        seq_len=spec.get("max_position_embeddings", 2048),
        norm_eps=spec.get("rms_norm_eps", 1e-6),      # LlamaConfig's defaults
        rope_theta=spec.get("rope_theta", 10000.0),
        shared_classifier=bool(tied),
        hidden_act=spec.get("hidden_act", activations.DEFAULT))
    check_config(cfg, source)
    head_dim = spec.get("head_dim")
    if head_dim is not None and head_dim != cfg.head_dim:
        raise ConfigError(f"{source}: head_dim {short(head_dim)} differs from hidden_size / "
                          f"num_attention_heads = {cfg.head_dim}; not supported")
    return cfg


def config_to_hf(cfg: ModelConfig, dtype: str) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": cfg.dim, "intermediate_size": cfg.hidden_dim,
        "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads, "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.seq_len, "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta, "tie_word_embeddings": cfg.shared_classifier,
        "hidden_act": cfg.hidden_act, "rope_scaling": None, "attention_bias": False,
        "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": TORCH_DTYPE[dtype],
    }


# ------------------------------------------------------------------ load / save

def claims(path: Path) -> bool:
    """Every folder: one without config.json is told so by load_hf_folder."""
    return path.is_dir()


def load_hf_folder(path: str | os.PathLike, read_tokenizer: bool = True) -> tuple[FloatModel, Tokenizer | None]:
    """Read a Hugging Face LlamaForCausalLM folder; the tokenizer if tokenizer.json is there
    (and read_tokenizer: False when the caller has another, so an unconvertible one does not stop it).

    The caller should still run hw.tokenizer.check_tokenizer_matches: HF
    configs sometimes pad vocab_size beyond the tokenizer.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder; pass the Hugging Face model "
                              "folder (config.json + *.safetensors)")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ConfigError(f"{folder}: no config.json; a Hugging Face model folder "
                          "needs one")
    spec = read_json(config_path, ConfigError, MAX_CONFIG_BYTES, what="config.json",
                     hint="fix or re-download it")
    cfg = config_from_hf(spec, str(config_path))
    refs = dict(_tensor_index(folder))
    for name in [n for n in refs if n.endswith(".rotary_emb.inv_freq")]:
        del refs[name]  # recomputed from rope_theta; older exports stored it
    if cfg.shared_classifier:
        refs.pop(GLOBAL_NAMES["wcls"], None)  # tied: HF ignores a stored lm_head too
    shapes = weight_shapes(cfg)
    weights: dict[str, np.ndarray] = {}
    for ours, hf in GLOBAL_NAMES.items():
        if ours == "wcls" and cfg.shared_classifier:
            continue
        weights[ours] = _take(refs, hf, shapes[ours], folder, cfg)
    for ours, suffix in LAYER_NAMES.items():
        layers = [_take(refs, f"model.layers.{l}.{suffix}", shapes[ours][1:], folder, cfg)
                  for l in range(cfg.n_layers)]
        if ours == "wq":
            layers = [hf_to_llama2c_rows(w, cfg.n_heads) for w in layers]
        elif ours == "wk":
            layers = [hf_to_llama2c_rows(w, cfg.n_kv_heads) for w in layers]
        weights[ours] = np.stack(layers)
    if refs:
        names = sorted(refs)
        raise CheckpointError(f"{folder}: {len(names)} tensors are not part of a "
                              f"Llama model: {', '.join(names[:5])}"
                              f"{', ...' if len(names) > 5 else ''}; is config.json "
                              "for this checkpoint?")
    if cfg.shared_classifier:
        weights["wcls"] = weights["token_embedding"]
    tok_path = folder / "tokenizer.json"
    tokenizer = Tokenizer.from_hf_json(tok_path) if read_tokenizer and tok_path.is_file() else None
    return FloatModel(config=cfg, weights=weights), tokenizer


def _take(refs: dict[str, _TensorRef], name: str, shape: tuple[int, ...],
          folder: Path, cfg: ModelConfig) -> np.ndarray:
    """Remove `name` from refs and read it, after checking its shape."""
    ref = refs.pop(name, None)
    if ref is None:
        hint = (" (set tie_word_embeddings true in config.json if the classifier "
                "shares the embedding)" if name == GLOBAL_NAMES["wcls"] else "")
        raise CheckpointError(f"{folder}: tensor {name} is missing{hint}; the "
                              "checkpoint is incomplete or not a Llama model")
    if ref.shape != shape:
        raise CheckpointError(f"{ref.path}: tensor {name} has shape {list(ref.shape)}"
                              f" but config.json implies {list(shape)}; the config "
                              "does not belong to these weights")
    arr = read_tensor(ref)
    check_finite(name, arr, str(ref.path))
    return arr


def save_hf_folder(model: FloatModel, path: str | os.PathLike, dtype: str = "F32") -> None:
    """Write config.json + model.safetensors in HF Llama layout (dtype F32, F16 or BF16)."""
    folder = Path(path)
    if dtype not in TORCH_DTYPE:
        raise ConfigError(f"dtype {dtype!r} must be one of {', '.join(TORCH_DTYPE)}")
    cfg = model.config
    check_model(model, f"model to save in {folder}")
    w = model.weights
    tensors = {GLOBAL_NAMES["token_embedding"]: w["token_embedding"],
               GLOBAL_NAMES["rms_final"]: w["rms_final"]}
    if not cfg.shared_classifier:
        tensors[GLOBAL_NAMES["wcls"]] = w["wcls"]
    for ours, suffix in LAYER_NAMES.items():
        for l in range(cfg.n_layers):
            t = w[ours][l]
            if ours == "wq":
                t = llama2c_to_hf_rows(t, cfg.n_heads)
            elif ours == "wk":
                t = llama2c_to_hf_rows(t, cfg.n_kv_heads)
            tensors[f"model.layers.{l}.{suffix}"] = t
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_safetensors(folder / "model.safetensors", tensors, dtype)
        (folder / "config.json").write_text(json.dumps(config_to_hf(cfg, dtype), indent=2) + "\n")
    except OSError as e:
        raise CheckpointError(f"{folder}: cannot write ({e.strerror or e}); check the "
                              "folder is writable") from e


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], dtype: str = "F32") -> None:
    """Write float tensors as one safetensors file (F32, F16 or BF16, round to nearest even)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype=np.float32)
        if dtype == "F32":
            narrow = widened = arr.astype("<f4")
        elif dtype == "F16":
            narrow = widened = arr.astype("<f2")
        else:
            bits = arr.view(np.uint32)
            narrow = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")  # nearest even
            widened = (narrow.astype(np.uint32) << 16).view(np.float32)
        if not np.isfinite(widened).all():
            raise ConfigError(f"tensor {name} exceeds the {TORCH_DTYPE[dtype]} range; "
                              "save as F32")
        raw = narrow.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the data area starts 8-byte aligned
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)
