"""The integer model: the one quantized artefact every later stage reads.

Golden model, RTL generator, testbenches and host metadata all load an
IntModel, so they cannot drift apart. It is a flat dict of named integer
arrays plus JSON metadata (config, knobs, float scales), saved as an .npz
without pickling and identified by a sha256 fingerprint of its content.

Array names and shapes (L layers, D dim, KVD kv dim, H hidden, V vocab,
hd head dim, S rope table length = config.seq_len). Every (m, sh) pair is a
requant multiplier, see hw/numerics.py:

  emb (V, D) int8/int6/...        emb_m, emb_sh (V,)      -> int16 residual
  att_gq (L, D) int16             att_gshift (L,)         rmsnorm before attention
  wq (L, D, D)  wq_m, wq_sh (L, D)      -> int8 q
  wk (L, KVD, D) wk_m, wk_sh (L, KVD)   -> int8 k
  wv (L, KVD, D) wv_m, wv_sh (L, KVD)   -> int8 v
  att_m, att_sh (L,)              softmax exponent scale (score -> log2 units)
  attout_m, attout_sh (L,)        softmax-weighted v -> int8 attention output
  wo (L, D, D)  wo_m, wo_sh (L, D)      -> residual add
  ffn_gq (L, D) int16             ffn_gshift (L,)
  w1 (L, H, D) w1_m, w1_sh (L, H)       -> int8 h1
  w3 (L, H, D) w3_m, w3_sh (L, H)       -> int8 h3
  silu (L, 256) int16             g_m, g_sh (L,)          gate -> int8
  w2 (L, D, H) w2_m, w2_sh (L, D)       -> residual add
  final_gq (D,) int16             final_gshift (1,)
  wcls (V, D) wcls_m, wcls_sh (V,)      -> int24 logits
  logit_m, logit_sh (1,)          sampler exponent scale (logit -> log2 units)
  eps_q (1,)                      rmsnorm epsilon in residual units squared
  rope_cos, rope_sin (S, hd/2)    Q2.14
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.jsonfile import check_type, is_kind, short
from host.npzfile import read_npz
from hw.errors import HardwireError
from hw.model import ModelConfig

FORMAT_VERSION = 1
TOKENIZER_ENTRY = "__tokenizer__"    # .npz entry holding the tokenizer.bin bytes (IntModel.tokenizer_bin)
TENSOR_CLASSES = ("embedding", "attention", "mlp", "classifier")
# Size caps of IntModel.load (docs/loaders.md): the arrays are saved as int64, 8 bytes a
# value; stories110M, far above what a board holds, is ~110 M values (0.9 GB)
MAX_VALUES = 1 << 28                        # 268 M values: 2 GiB as int64
MAX_NPZ_BYTES = 8 * MAX_VALUES + (64 << 20)  # their uncompressed bytes, plus the header and tokenizer


class IntModelError(HardwireError):
    """A missing, corrupt or incompatible integer-model file."""


@dataclass
class IntModel:
    config: ModelConfig
    arrays: dict[str, np.ndarray]
    # knobs: {"bits": {"embedding": 8, "attention": 4, "mlp": 4, "classifier": 8}, ...}
    knobs: dict = field(default_factory=dict)
    # float scales for documentation, LoRA conversion and reports: {"s_res": .., "s_q": [..], ..}
    scales: dict = field(default_factory=dict)
    # provenance: source checkpoint, tokenizer fingerprint, calibration text, ...
    meta: dict = field(default_factory=dict)
    # the llama2.c tokenizer.bin the model was quantized with, so that it travels with the model;
    # outside the fingerprint, which meta["tokenizer_fingerprint"] already binds it to
    tokenizer_bin: bytes | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def tokenizer(self, source: str = "the integer model"):
        """The tokenizer the model carries (hw.tokenizer.Tokenizer), or None."""
        if self.tokenizer_bin is None:
            return None
        from hw.tokenizer import Tokenizer
        return Tokenizer.from_bin(self.tokenizer_bin, f"{source} (its tokenizer)", self.config.vocab_size)

    def save_tokenizer(self, folder: str | Path) -> Path | None:
        """Write the carried tokenizer to folder/tokenizer.bin (for the host metadata); None without one."""
        if self.tokenizer_bin is None:
            return None
        path = Path(folder) / "tokenizer.bin"
        self.tokenizer().save(path)
        return path

    # ------------------------------------------------------------ identity
    def _header(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_json(),
            "knobs": self.knobs,
            "scales": self.scales,
            "meta": self.meta,
        }

    @property
    def fingerprint(self) -> str:
        """sha256 over the header JSON and every array (name, dtype, shape, bytes)."""
        h = hashlib.sha256()
        h.update(json.dumps(self._header(), sort_keys=True).encode())
        for name in sorted(self.arrays):
            a = np.ascontiguousarray(self.arrays[name], dtype=np.int64)
            h.update(f"{name}:{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        header = self._header()
        header["fingerprint"] = self.fingerprint
        extra = {} if self.tokenizer_bin is None else {TOKENIZER_ENTRY: np.frombuffer(self.tokenizer_bin, np.uint8)}
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            __header__=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8),
            **extra,
            **{k: np.asarray(v) for k, v in self.arrays.items()},
        )
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "IntModel":
        """Read an .npz written by save(); IntModelError for anything missing, malformed or altered
        (host/npzfile.py reads it: size caps, JSON header checks; every header field and the
        shape of every array is checked here)."""
        hint = "re-create it with `hardwire quantize`"
        header, arrays, raw = read_npz(path, IntModelError, MAX_NPZ_BYTES, MAX_VALUES, what="integer model",
                                       raw=(TOKENIZER_ENTRY,), hint=hint,
                                       missing="no such integer-model file; make one with `hardwire quantize`")
        path = Path(path)
        header = check_type(header, "object", f"{path}: the header", IntModelError, hint=hint)
        version = header.get("format_version")
        if not is_kind(version, "int") or version != FORMAT_VERSION:
            raise IntModelError(
                f"{path}: integer-model format version {short(version)} found, "
                f"this hardwire reads version {FORMAT_VERSION}; re-run `hardwire quantize`"
            )
        config = _config(header.get("config"), path, hint)
        parts = {key: check_type(header.get(key), "object", f"{path}: header.{key}", IntModelError, hint=hint)
                 for key in ("knobs", "scales", "meta")}
        fingerprint = check_type(header.get("fingerprint"), "str", f"{path}: header.fingerprint", IntModelError,
                                 hint=hint)
        _check_arrays(arrays, config, path, hint)
        model = cls(config, arrays, parts["knobs"], parts["scales"], parts["meta"], raw.get(TOKENIZER_ENTRY))
        if model.fingerprint != fingerprint:
            raise IntModelError(f"{path}: fingerprint mismatch, the file is corrupt; re-run `hardwire quantize`")
        if model.tokenizer_bin is not None:
            _check_tokenizer(model, path)
        return model


def array_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every array an IntModel holds (the table at the top of this module)."""
    L, D, H, V, KVD = cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.vocab_size, cfg.kv_dim
    shapes: dict[str, tuple[int, ...]] = {
        "emb": (V, D), "emb_m": (V,), "emb_sh": (V,),
        "att_gq": (L, D), "att_gshift": (L,), "att_m": (L,), "att_sh": (L,),
        "attout_m": (L,), "attout_sh": (L,),
        "ffn_gq": (L, D), "ffn_gshift": (L,), "silu": (L, 256), "g_m": (L,), "g_sh": (L,),
        "final_gq": (D,), "final_gshift": (1,),
        "wcls": (V, D), "wcls_m": (V,), "wcls_sh": (V,),
        "logit_m": (1,), "logit_sh": (1,), "eps_q": (1,),
        "rope_cos": (cfg.seq_len, cfg.head_dim // 2), "rope_sin": (cfg.seq_len, cfg.head_dim // 2),
    }
    for name, rows in (("wq", D), ("wk", KVD), ("wv", KVD), ("wo", D), ("w1", H), ("w3", H), ("w2", D)):
        shapes[name] = (L, rows, H if name == "w2" else D)
        shapes[name + "_m"] = shapes[name + "_sh"] = (L, rows)
    return shapes


def _config(doc, path: Path, hint: str) -> ModelConfig:
    """header.config as a ModelConfig, every field checked (hw/frontend/checks.py check_config)."""
    from hw.frontend.checks import check_config

    doc = check_type(doc, "object", f"{path}: header.config", IntModelError, hint=hint)
    fields = [f.name for f in dataclasses.fields(ModelConfig)]
    unknown = sorted(set(doc) - set(fields))
    if unknown:
        raise IntModelError(f"{path}: header.config has unknown fields {short(unknown)}; "
                            f"not an integer model of this hardwire. {hint}")
    required = [f.name for f in dataclasses.fields(ModelConfig) if f.default is dataclasses.MISSING]
    missing = [name for name in required if name not in doc]
    if missing:
        raise IntModelError(f"{path}: header.config lacks {', '.join(missing)}. {hint}")
    if "shared_classifier" in doc:
        check_type(doc["shared_classifier"], "bool", f"{path}: header.config.shared_classifier",
                   IntModelError, hint=hint)
    config = ModelConfig(**doc)
    check_config(config, f"{path}: header.config", IntModelError)
    return config


def _check_arrays(arrays: dict, cfg: ModelConfig, path: Path, hint: str) -> None:
    for name, shape in array_shapes(cfg).items():
        if name not in arrays:
            raise IntModelError(f"{path}: the array {name} is missing. {hint}")
        if arrays[name].shape != shape:
            raise IntModelError(f"{path}: the array {name} has shape {arrays[name].shape}, the config "
                                f"{cfg} needs {shape}. {hint}")


def _check_tokenizer(model: IntModel, path: Path) -> None:
    """The carried tokenizer must be the one meta["tokenizer_fingerprint"] names."""
    from hw.errors import TokenizerError
    try:
        tok = model.tokenizer(str(path))
    except TokenizerError as exc:
        raise IntModelError(f"{path}: the tokenizer inside is unreadable ({exc}); re-run `hardwire quantize`") from exc
    if tok.fingerprint() != model.meta.get("tokenizer_fingerprint"):
        raise IntModelError(f"{path}: the tokenizer inside is not the one the model was quantized with "
                            "(fingerprint differs); re-run `hardwire quantize`")
