"""hw/activations.py: the gated MLP's activation, one row per function, through every layer
(config.json, float reference, quantizer tables, integer model, RTL)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hw.activations import ACTIVATIONS, activation
from hw.calibrate import calibrate
from hw.errors import ConfigError
from hw.float_model import FloatRunner
from hw.frontend.hf_folder import load_hf_folder, save_hf_folder
from hw.frontend.llama2c import save_llama2c
from hw.golden import GoldenModel
from hw.intmodel import IntModel
from hw.model import FloatModel
from hw import numerics as nx
from hw.quantize import quantize

BITS = {"embedding": 8, "attention": 8, "mlp": 8, "classifier": 8}


def with_act(fm: FloatModel, name: str) -> FloatModel:
    return FloatModel(dataclasses.replace(fm.config, hidden_act=name), dict(fm.weights))


@pytest.mark.parametrize("name, x, want", [
    ("silu", 1.0, 0.7310585786), ("silu", -2.0, -0.2384058440),
    ("gelu", 1.0, 0.8413447461), ("gelu", -2.0, -0.0455002639),            # x * Phi(x)
    ("gelu_pytorch_tanh", 1.0, 0.8411919906), ("gelu_pytorch_tanh", -2.0, -0.0454023059),
])
def test_functions(name, x, want):
    for dtype in (np.float32, np.float64):
        y = activation(name).fn(np.array([x], dtype=dtype))
        assert y.dtype == dtype and abs(float(y[0]) - want) < 1e-6


def test_unknown_name_is_refused_with_the_names():
    with pytest.raises(KeyError, match="hidden_act 'relu' is not supported; hardwire has gelu, gelu_pytorch_tanh, silu"):
        activation("relu")
    with pytest.raises(KeyError, match="not supported"):
        activation(["silu"])


def test_silu_files_are_unchanged(tiny_model):
    """silu is the default: files written before the field existed read and fingerprint the same."""
    assert "hidden_act" not in tiny_model.config.to_json()
    assert with_act(tiny_model, "gelu").config.to_json()["hidden_act"] == "gelu"


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"silu"}))
def test_config_json_float_reference_and_tables(tiny_model, tmp_path, name):
    fm = with_act(tiny_model, name)
    save_hf_folder(fm, tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["hidden_act"] == name
    loaded, _ = load_hf_folder(tmp_path / "hf", read_tokenizer=False)
    assert loaded.config.hidden_act == name
    # the float reference gates with the model's function
    rec: dict = {}
    FloatRunner(loaded).forward(1, 0, record=rec)
    h1, h3 = rec[("h1", 0)], rec[("h3", 0)]
    np.testing.assert_allclose(rec[("g", 0)], activation(name).fn(h1) * h3, rtol=1e-6, atol=1e-7)
    # the quantizer's tables are the function's, and the model remembers it
    seqs = [[1, 3, 5, 7, 2, 4]]
    im = quantize(fm, calibrate(fm, seqs), BITS)
    assert im.config.hidden_act == name
    silu_im = quantize(tiny_model, calibrate(tiny_model, seqs), BITS)
    assert im.fingerprint != silu_im.fingerprint
    assert not np.array_equal(im["silu"], silu_im["silu"])
    for layer, s_h1 in enumerate(im.scales["s_h1"]):
        np.testing.assert_array_equal(im["silu"][layer], nx.gate_table(s_h1, name))
    im.save(tmp_path / "m.npz")
    back = IntModel.load(tmp_path / "m.npz")
    assert back.config.hidden_act == name and back.fingerprint == im.fingerprint


def test_llama2c_format_refuses_another_activation(tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="cannot store .* hidden_act 'gelu'"):
        save_llama2c(with_act(tiny_model, "gelu"), tmp_path / "m.bin")
    assert not (tmp_path / "m.bin").exists()


@pytest.mark.sim
def test_geglu_model_runs_bit_exact_on_the_rtl(tiny_model, tmp_path):
    """The RTL reads the gate from silu.hex: a GeGLU model needs no other hardware, tokens and logits
    equal the golden model's."""
    from hw.rtlgen.generate import generate
    from hw.rtlgen.knobs import Knobs
    from hw.sim.session import SimSession

    fm = with_act(tiny_model, "gelu_pytorch_tanh")
    seqs = [[1, 3, 5, 7, 2, 4, 9, 11]]
    im = quantize(fm, calibrate(fm, seqs), {"embedding": 8, "attention": 4, "mlp": 5, "classifier": 8})
    generate(im, tmp_path / "geglu", Knobs(lanes=5, values_per_lane=4, debug_vectors=False))
    golden = GoldenModel(im)
    with SimSession(tmp_path / "geglu") as sim:
        for token in seqs[0]:
            logits = golden.forward(token)
            want, _ = golden.sample(logits, 0, 0, 0)
            assert sim.generate([token], 1) == [want]
            np.testing.assert_array_equal(sim.logits(), logits)
