"""LoRA adapters: float (A, B, alpha) -> integer golden.LoraInt, and .npz files.

Float LoRA on a projection W (out, in):  y = W x + (alpha / rank) * B (A x),
A (rank, in), B (out, rank). The integer form (hw.golden.LoraInt) is

  u = sat8(rq(a @ x, m_a, sh_a))     a = round(A / s_A), s_A = max|A| / 127
  d = rq(b @ u, m_b, sh_b)           b = round(B / s_B), s_B = max|B| / 127

with x the projection's int8 input (scale s_in) and d in the projection's
output units (s_out: s_q, s_k, s_v, s_h1, s_h3, or s_res for wo and w2).

Scale of u (input-independent, so the host can convert an adapter without
calibration data): s_u = U / 127 with U a bound on max_r |A_r . x_float|
for every input the hardware can see, so u never saturates:
  - any int8 input (|x_i| <= 127 s_in):      U1 = max_r ||A_r||_1 * 127 * s_in
  - rmsnorm-fed targets (wq, wk, wv, w1, w3): x = g * r / rms(r) has
    ||x||_2 <= max|g| * sqrt(D), so by Cauchy-Schwarz
                                             U2 = max_r ||A_r||_2 * max|g| * sqrt(D)
  U = U1, or min(U1, U2) where U2 applies.
The price is resolution where typical inputs are far below the bound: on
w2 (input g, heavy-tailed, no norm bound) a random rank-4 adapter's integer
delta is off by ~12-21% rms, on the other targets by 3-8%
(tests/test_lora.py measures it).
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from hw import numerics as nx
from hw.golden import LORA_TARGETS, LoraInt, LoraShapeError
from hw.intmodel import IntModel

# projection -> (scale name of its int8 input, scale name of its output, rmsnorm gain or None)
TARGET_IO = {
    "wq": ("s_xa", "s_q", "att_gq"), "wk": ("s_xa", "s_k", "att_gq"), "wv": ("s_xa", "s_v", "att_gq"),
    "wo": ("s_att", "s_res", None),
    "w1": ("s_xf", "s_h1", "ffn_gq"), "w3": ("s_xf", "s_h3", "ffn_gq"), "w2": ("s_g", "s_res", None),
}
FORMAT = "hardwire-lora-v1"


def _layer_scale(int_model: IntModel, name: str, layer: int) -> float:
    v = int_model.scales[name]
    return float(v[layer]) if isinstance(v, list) else float(v)


def _check_target(int_model: IntModel, layer: int, target: str) -> tuple[int, int]:
    if target not in LORA_TARGETS:
        raise LoraShapeError(f"unknown LoRA target {target!r}; choose from {', '.join(LORA_TARGETS)}")
    if not 0 <= layer < int_model.config.n_layers:
        raise LoraShapeError(f"LoRA layer {layer} is outside 0..{int_model.config.n_layers - 1}")
    out_dim, in_dim = int_model[target].shape[1:]
    return int(out_dim), int(in_dim)


def _float_gain_max(int_model: IntModel, gain: str, layer: int, s_in: float) -> float:
    """max |g| of the float rmsnorm gain, recovered from gq = g sqrt(D) / s_in * 2**gshift."""
    d = int_model.config.dim
    shift = int(int_model[gain.replace("gq", "gshift")][layer])
    return float(np.abs(int_model[gain][layer]).max()) * s_in / math.sqrt(d) / 2.0 ** shift


def lora_from_float(int_model: IntModel, layer: int, target: str, A: np.ndarray, B: np.ndarray,
                    alpha: float) -> LoraInt:
    """Integer adapter for y += (alpha / rank) * B @ A @ x on `target` of `layer`.

    A (rank, in), B (out, rank) float arrays. Raises LoraShapeError on any
    shape that does not fit the projection.
    """
    out_dim, in_dim = _check_target(int_model, layer, target)
    transform = int_model.knobs.get("transform")
    if transform:   # hw/transform.py rewrote the matrices: a checkpoint's adapter would land rotated
        raise LoraShapeError(
            f"this integer model was quantized with {', '.join(f'{k}={v}' for k, v in transform.items())} "
            "(hw/transform.py), so its matrices are in rotated/rescaled coordinates and a float adapter "
            "made for the checkpoint would be applied wrongly; quantize it without --rotate, --rotate-v and "
            "--balance-qk to use float LoRA adapters")
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != in_dim or B.shape[0] != out_dim or B.shape[1] != A.shape[0]:
        raise LoraShapeError(
            f"LoRA on {target} of layer {layer} needs A (rank, {in_dim}) and B ({out_dim}, rank) "
            f"with the same rank; got A {A.shape} and B {B.shape}")
    rank = A.shape[0]
    if rank < 1:
        raise LoraShapeError("LoRA rank must be at least 1")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B)) and math.isfinite(alpha)):
        raise LoraShapeError(f"LoRA on {target} of layer {layer}: A, B and alpha must be finite numbers")
    s_in_name, s_out_name, gain = TARGET_IO[target]
    s_in = _layer_scale(int_model, s_in_name, layer)
    s_out = _layer_scale(int_model, s_out_name, layer)

    zero = LoraInt(np.zeros((rank, in_dim), np.int64), np.zeros((out_dim, rank), np.int64), 0, 1, 0, 1)
    a_max, b_max = float(np.abs(A).max()), float(np.abs(B).max())
    if a_max == 0.0 or b_max == 0.0 or alpha == 0.0:
        return zero                                  # the base model, exactly
    s_a, s_b = a_max / 127.0, b_max / 127.0
    a = np.round(A / s_a).astype(np.int64)           # (rank, in) int8
    b = np.round(B / s_b).astype(np.int64)           # (out, rank) int8

    # bound on max_r |A_r . x|: the int8 range (|x_i| <= 127 s_in) gives ||A_r||_1 * 127 s_in;
    # an rmsnorm-fed input also has ||x||_2 <= max|g| sqrt(D), giving ||A_r||_2 * max|g| sqrt(D)
    bound = float(np.abs(A).sum(axis=1).max()) * 127.0 * s_in
    if gain is not None:
        g_norm = _float_gain_max(int_model, gain, layer, s_in) * math.sqrt(int_model.config.dim)
        bound = min(bound, float(np.linalg.norm(A, axis=1).max()) * g_norm)
    s_u = bound / 127.0
    try:
        m_a, sh_a = nx.quantize_multiplier(s_a * s_in / s_u)
        m_b, sh_b = nx.quantize_multiplier(alpha / rank * s_b * s_u / s_out)
    except ValueError as exc:
        raise LoraShapeError(f"LoRA on {target} of layer {layer}: scale out of range ({exc}); "
                             "use a smaller alpha or smaller B") from exc
    return LoraInt(a, b, m_a, sh_a, m_b, sh_b)


def random_lora(int_model: IntModel, layer: int, target: str, rank: int = 4, alpha: float = 8.0,
                std: float = 0.05, seed: int = 0) -> tuple[LoraInt, np.ndarray, np.ndarray]:
    """A random adapter for tests: (integer adapter, float A, float B)."""
    out_dim, in_dim = _check_target(int_model, layer, target)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((rank, in_dim)) / math.sqrt(in_dim)
    B = rng.standard_normal((out_dim, rank)) * std
    return lora_from_float(int_model, layer, target, A, B, alpha), A, B


# ---------------------------------------------------------------- files

def save_adapters(adapters: dict[tuple[int, str], LoraInt], path: str | Path,
                  int_model: IntModel | None = None) -> None:
    """Write {(layer, target): LoraInt} to an .npz (no pickle) with a JSON header."""
    header = {"format": FORMAT, "model_fingerprint": int_model.fingerprint if int_model else None,
              "adapters": []}
    arrays = {}
    for i, ((layer, target), ad) in enumerate(sorted(adapters.items())):
        header["adapters"].append({"layer": int(layer), "target": target, "m_a": int(ad.m_a),
                                   "sh_a": int(ad.sh_a), "m_b": int(ad.m_b), "sh_b": int(ad.sh_b)})
        arrays[f"a{i}"] = np.asarray(ad.a, dtype=np.int8)
        arrays[f"b{i}"] = np.asarray(ad.b, dtype=np.int8)
    buf = io.BytesIO()
    np.savez(buf, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    Path(path).write_bytes(buf.getvalue())


def load_adapters(path: str | Path, int_model: IntModel) -> dict[tuple[int, str], LoraInt]:
    """Read adapters written by save_adapters and check every shape against `int_model`.
    The file is read by the driver's reader (host/device.py read_lora_file: size caps, the
    JSON header and every field type-checked); any fault is a LoraShapeError."""
    from host.device import LoraError, read_lora_file

    path = Path(path)
    try:
        entries = read_lora_file(path)
    except LoraError as exc:
        raise LoraShapeError(str(exc)) from exc
    out = {}
    for (layer, target), entry in entries.items():
        out_dim, in_dim = _check_target(int_model, layer, target)
        a, b = entry.a, entry.b
        if a.shape[1] != in_dim or b.shape[0] != out_dim or a.shape[0] != b.shape[1]:
            raise LoraShapeError(
                f"{path}: LoRA on {target} of layer {layer} needs a (rank, {in_dim}) and b ({out_dim}, rank); "
                f"the file has a {a.shape} and b {b.shape} (was it made for another model?)")
        for name in ("m_a", "m_b"):
            if not 0 <= getattr(entry, name) < 1 << nx.MULT_BITS:
                raise LoraShapeError(f"{path}: {target} of layer {layer}: {name} {getattr(entry, name)} is "
                                     "outside [0, 2**15)")
        for name in ("sh_a", "sh_b"):
            if not 1 <= getattr(entry, name) <= nx.MAX_SHIFT:
                raise LoraShapeError(f"{path}: {target} of layer {layer}: {name} {getattr(entry, name)} is "
                                     f"outside [1, {nx.MAX_SHIFT}]")
        out[(layer, target)] = LoraInt(a, b, entry.m_a, entry.sh_a, entry.m_b, entry.sh_b)
    return out
