"""The gated MLP's activation: the one place that knows each function.

    g = act(w1 x) * (w3 x)          (SwiGLU with silu, GeGLU with gelu)

The hardware never computes the function: it reads it from a 256-entry
table per layer (numerics.gate_table -> the int model's "silu" array ->
silu.hex), so a new activation is one row of ACTIVATIONS, named as Hugging
Face's config.json `hidden_act` names it. The float reference, the
quantizer's tables, the fake-quant emulation and the config.json reader
and writer all look it up here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

DEFAULT = "silu"                # llama; llama2.c checkpoints have no field for it


def _silu(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):    # exp(-x) = inf gives silu 0, as llama2.c's C does
        return x * (x.dtype.type(1.0) / (x.dtype.type(1.0) + np.exp(-x)))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    k = x.dtype.type(math.sqrt(2.0 / math.pi))
    return x.dtype.type(0.5) * x * (x.dtype.type(1.0) + np.tanh(k * (x + x.dtype.type(0.044715) * x ** 3)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype)


@dataclass(frozen=True)
class Activation:
    name: str                                       # config.json hidden_act
    fn: Callable[[np.ndarray], np.ndarray]          # element-wise, keeps the dtype


ACTIVATIONS = {a.name: a for a in (
    Activation("silu", _silu),
    Activation("gelu", _gelu),                      # exact (erf), torch.nn.GELU()
    Activation("gelu_pytorch_tanh", _gelu_tanh),    # the tanh approximation (Gemma's)
)}


def activation(name: object) -> Activation:
    """The activation called `name`; KeyError (with the names) for any other."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise KeyError(f"hidden_act {name!r} is not supported; hardwire has {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]
