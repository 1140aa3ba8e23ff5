"""llama2.c legacy (version 0) float32 checkpoints: load and save.

File layout (all little-endian):
    header: 7 int32  dim, hidden_dim, n_layers, n_heads, n_kv_heads,
                     vocab_size (negative: the classifier is not shared), seq_len
    float32 tensors, in this order:
        token_embedding (V, D), rms_att (L, D), wq (L, D, D), wk (L, KVD, D),
        wv (L, KVD, D), wo (L, D, D), rms_ffn (L, D), w1 (L, H, D),
        w2 (L, D, H), w3 (L, H, D), rms_final (D,),
        freq_cis_real (seq_len, head_dim/2), freq_cis_imag (same)  -- skipped on load
        wcls (V, D)  -- only when vocab_size was negative

The file is untrusted: every size is computed with Python ints (no overflow)
and checked against the real file length before a single weight is read.
"""
from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np

from host.jsonfile import check_path
from hw.errors import CheckpointError, ConfigError
from hw.frontend.checks import check_config, check_finite, check_model, weight_shapes
from hw.model import FloatModel, ModelConfig

HEADER = struct.Struct("<7i")
VERSIONED_MAGIC = 0x616B3432  # "ak42": llama2.c export.py version 1 and 2 files

# Tensor order of the legacy format (wcls is appended only when not shared).
TENSOR_ORDER = ("token_embedding", "rms_att", "wq", "wk", "wv", "wo",
                "rms_ffn", "w1", "w2", "w3", "rms_final")

EXPORT_HINT = ("re-export it in the legacy float32 format with llama2.c's "
               "`python export.py out.bin --version 0 --checkpoint model.pt` "
               "(or `--hf <folder>`), or pass the Hugging Face folder itself "
               "(config.json + *.safetensors) instead of a .bin")


# ---------------------------------------------------------------------- load

def claims(path: Path) -> bool:
    """Any path that is not a folder: the last format asked, so its messages say what is wrong."""
    return not path.is_dir()


def read(path: Path, read_tokenizer: bool = True) -> tuple[FloatModel, None]:
    """The registry's reader: the file holds no tokenizer (one beside it is found by the registry)."""
    return load_llama2c(path), None


def _file_floats(cfg: ModelConfig) -> int:
    """Number of float32 values the legacy format stores after the header."""
    shapes = weight_shapes(cfg)
    n = sum(math.prod(shapes[name]) for name in TENSOR_ORDER)  # Python ints: no overflow
    n += 2 * cfg.seq_len * (cfg.head_dim // 2)  # freq_cis_real, freq_cis_imag
    if not cfg.shared_classifier:
        n += cfg.vocab_size * cfg.dim
    return n


def load_llama2c(path: str | os.PathLike) -> FloatModel:
    """Read a llama2.c legacy version-0 float32 checkpoint."""
    path = check_path(path, CheckpointError, "llama2.c checkpoint")
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise CheckpointError(f"{path}: not a regular file; pass the .bin "
                                  "checkpoint itself")
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
            if len(head) >= 4 and struct.unpack_from("<I", head)[0] == VERSIONED_MAGIC:
                version = struct.unpack_from("<i", head, 4)[0] if len(head) >= 8 else "?"
                raise CheckpointError(
                    f"{path}: this is a llama2.c version-{version} file (magic "
                    "'ak42'), which is not supported: hardwire reads the legacy "
                    f"version-0 float32 format. To fix, {EXPORT_HINT}")
            if len(head) < HEADER.size:
                raise CheckpointError(
                    f"{path}: {size} bytes is too short for the 28-byte llama2.c "
                    "header; the file is truncated or not a llama2.c checkpoint")
            dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = HEADER.unpack(head)
            cfg = ModelConfig(dim=dim, hidden_dim=hidden, n_layers=n_layers,
                              n_heads=n_heads, n_kv_heads=n_kv,
                              vocab_size=abs(vocab), seq_len=seq_len,
                              shared_classifier=vocab > 0)
            check_config(cfg, f"{path} (llama2.c header)", CheckpointError)
            expected = HEADER.size + 4 * _file_floats(cfg)
            if size != expected:
                what = "truncated" if size < expected else "followed by trailing bytes"
                raise CheckpointError(
                    f"{path}: the header (dim {dim}, hidden_dim {hidden}, "
                    f"{n_layers} layers, {n_heads} heads, {n_kv} kv heads, vocab "
                    f"{vocab}, seq_len {seq_len}) needs exactly {expected} bytes "
                    f"but the file has {size}: it is {what}. Re-download or "
                    f"re-export it. If it is not a legacy file, {EXPORT_HINT}")
            weights = _read_tensors(f, cfg, path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({e.strerror or e}); "
                              "check the path and permissions") from e
    return FloatModel(config=cfg, weights=weights)


def _read_tensors(f, cfg: ModelConfig, path: Path) -> dict[str, np.ndarray]:
    shapes = weight_shapes(cfg)
    names = list(TENSOR_ORDER)
    if not cfg.shared_classifier:
        names.append("wcls")
    weights: dict[str, np.ndarray] = {}
    for name in names:
        if name == "wcls":  # after the two freq_cis tables, which run.c ignores
            f.seek(4 * 2 * cfg.seq_len * (cfg.head_dim // 2), os.SEEK_CUR)
        count = math.prod(shapes[name])
        arr = np.fromfile(f, dtype="<f4", count=count)
        if arr.size != count:  # the file shrank since we measured it
            raise CheckpointError(f"{path}: tensor {name} is cut short; the file "
                                  "changed while being read")
        arr = arr.astype(np.float32, copy=False).reshape(shapes[name])
        check_finite(name, arr, str(path))
        weights[name] = arr
    if cfg.shared_classifier:
        weights["wcls"] = weights["token_embedding"]
    return weights


# ---------------------------------------------------------------------- save

def rope_tables(head_dim: int, seq_len: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin tables (seq_len, head_dim/2) like llama2.c's model.py (float32 angles).

    run.c ignores these tables; they are written so other llama2.c tools can
    read the file. They match PyTorch's to within an ulp or two, not bit for bit.
    """
    f32 = np.float32
    freqs = f32(1.0) / f32(theta) ** (np.arange(0, head_dim, 2, dtype=f32) / f32(head_dim))
    angles = np.outer(np.arange(seq_len, dtype=f32), freqs).astype(f32)  # (T, hd/2)
    return (np.cos(angles.astype(np.float64)).astype("<f4"),
            np.sin(angles.astype(np.float64)).astype("<f4"))


def save_llama2c(model: FloatModel, path: str | os.PathLike) -> None:
    """Write a llama2.c legacy version-0 float32 checkpoint (run.c can read it)."""
    path = Path(path)
    cfg = model.config
    check_model(model, f"model to save as {path}")
    defaults = ModelConfig(1, 1, 1, 1, 1, 1, 1)
    if (cfg.norm_eps != defaults.norm_eps or cfg.rope_theta != defaults.rope_theta
            or cfg.hidden_act != defaults.hidden_act):
        raise ConfigError(
            f"{path}: the llama2.c format cannot store norm_eps {cfg.norm_eps}, "
            f"rope_theta {cfg.rope_theta} or hidden_act {cfg.hidden_act!r} (run.c assumes "
            f"{defaults.norm_eps}, {defaults.rope_theta} and {defaults.hidden_act!r}); keep this "
            "model as a Hugging Face folder (hw.frontend.hf_folder.save_hf_folder)")
    vocab = cfg.vocab_size if cfg.shared_classifier else -cfg.vocab_size
    cos, sin = rope_tables(cfg.head_dim, cfg.seq_len, cfg.rope_theta)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(HEADER.pack(cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads,
                                cfg.n_kv_heads, vocab, cfg.seq_len))
            for name in TENSOR_ORDER:
                np.ascontiguousarray(model.weights[name], dtype="<f4").tofile(f)
            cos.tofile(f)
            sin.tofile(f)
            if not cfg.shared_classifier:
                np.ascontiguousarray(model.weights["wcls"], dtype="<f4").tofile(f)
        os.replace(tmp, path)  # never leave a half-written checkpoint under the real name
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: cannot write the checkpoint "
                              f"({e.strerror or e}); check the folder exists and "
                              "is writable") from e
