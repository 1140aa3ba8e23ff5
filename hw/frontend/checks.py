"""Checks every checkpoint format shares: a config the float reference and the
hardware can run, the tensor set and shapes of a FloatModel, finite values.

Each loader (hw/frontend/llama2c.py, hf_folder.py) runs them with its own
error class and source name before the model leaves the frontend; the integer
model's header (hw/intmodel.py) is checked by the same `check_config`.
"""
from __future__ import annotations

import numpy as np

from host.jsonfile import is_kind, short
from hw.activations import activation
from hw.errors import CheckpointError, ConfigError, HardwireError
from hw.model import FloatModel, ModelConfig

# Upper bounds far above any model that could fit an FPGA; they stop a crafted
# header from describing a multi-terabyte model before the length check does.
LIMITS = {
    "dim": 1 << 16,
    "hidden_dim": 1 << 18,
    "n_layers": 1 << 10,
    "n_heads": 1 << 12,
    "n_kv_heads": 1 << 12,
    "vocab_size": 1 << 21,
    "seq_len": 1 << 20,
}

# The tensors stored once per layer (a NaN is reported with its layer).
PER_LAYER = ("rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3")


def check_config(cfg: ModelConfig, source: str,
                 error: type[HardwireError] = ConfigError) -> None:
    """Reject dimensions the float reference (and the hardware) cannot run."""
    for name, limit in LIMITS.items():
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise error(f"{source}: {name} must be an integer, found {short(value)}; "
                        "fix the config")
        if value <= 0:
            raise error(f"{source}: {name} must be positive, found {short(value)}; "
                        "the header or config is corrupt or not a llama model")
        if value > limit:
            raise error(f"{source}: {name} = {short(value)} is above the supported "
                        f"maximum {limit}; the header is corrupt or the model is "
                        "far too large for hardwire")
    if cfg.dim % cfg.n_heads:
        raise error(f"{source}: dim {cfg.dim} is not divisible by n_heads "
                    f"{cfg.n_heads}; every head must have the same width")
    if cfg.n_heads % cfg.n_kv_heads:
        raise error(f"{source}: n_heads {cfg.n_heads} is not divisible by "
                    f"n_kv_heads {cfg.n_kv_heads}; grouped-query attention "
                    "needs a whole number of query heads per KV head")
    if cfg.head_dim % 2:
        raise error(f"{source}: head_dim {cfg.head_dim} (dim / n_heads) is odd; "
                    "RoPE rotates pairs of values, so it must be even")
    try:
        activation(cfg.hidden_act)
    except KeyError as exc:
        raise error(f"{source}: {exc.args[0]}; it sets the MLP's gate function") from None
    for name in ("norm_eps", "rope_theta"):
        value = getattr(cfg, name)
        # is_kind: an int beyond float range (rope_theta: 10**400) is not finite, no OverflowError
        if not (is_kind(value, "number") and value > 0):
            raise error(f"{source}: {name} must be a positive finite number, "
                        f"found {short(value)}; fix the config")


def weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Shape of every tensor of a FloatModel, in llama2.c file order."""
    d, h, n_l, v = cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.vocab_size
    kvd = cfg.kv_dim
    return {
        "token_embedding": (v, d),
        "rms_att": (n_l, d),
        "wq": (n_l, d, d),
        "wk": (n_l, kvd, d),
        "wv": (n_l, kvd, d),
        "wo": (n_l, d, d),
        "rms_ffn": (n_l, d),
        "w1": (n_l, h, d),
        "w2": (n_l, d, h),
        "w3": (n_l, h, d),
        "rms_final": (d,),
        "wcls": (v, d),
    }


def check_finite(name: str, arr: np.ndarray, source: str,
                 error: type[HardwireError] = CheckpointError) -> None:
    """Raise naming the tensor (and layer) if it holds NaN or Inf."""
    finite = np.isfinite(arr)
    if finite.all():
        return
    where = np.unravel_index(int(np.argmin(finite.reshape(-1))), arr.shape)
    layer = f" layer {where[0]}" if name in PER_LAYER else ""
    raise error(f"{source}: tensor {name}{layer} holds {arr[where]} at index "
                f"{tuple(int(i) for i in where)}; a model with NaN/Inf weights "
                "cannot run. The checkpoint is corrupt or the training diverged: "
                "use an earlier or re-exported checkpoint")


def check_model(model: FloatModel, source: str = "model") -> None:
    """Check a FloatModel's config, tensor set, shapes and values."""
    cfg = model.config
    check_config(cfg, source)
    for name, shape in weight_shapes(cfg).items():
        if name not in model.weights:
            raise ConfigError(f"{source}: tensor {name} is missing; every loader "
                              "must fill all of " + ", ".join(weight_shapes(cfg)))
        arr = model.weights[name]
        if tuple(arr.shape) != shape:
            raise ConfigError(f"{source}: tensor {name} has shape {tuple(arr.shape)},"
                              f" the config needs {shape}")
        check_finite(name, np.asarray(arr), source, ConfigError)
    if cfg.shared_classifier and not (
            model.weights["wcls"] is model.weights["token_embedding"]
            or np.array_equal(model.weights["wcls"], model.weights["token_embedding"])):
        raise ConfigError(f"{source}: shared_classifier is set but wcls differs "
                          "from token_embedding; set shared_classifier=False")
