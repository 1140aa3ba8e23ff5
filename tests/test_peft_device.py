"""A PEFT folder on the simulated LoRA hardware: the device's tokens with the adapter equal the
golden model's with the same integer adapter (the e2e build of tests/host_e2e_build.py: rank 2 on
wq and w2, no new Verilator build)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from host.device import LoraError, open_device
from hw.golden import GoldenModel
from hw.peft import load_peft
from tests.host_e2e_build import CONTEXT, K_MAX, LORA_RANK, accelerator
from tests.test_peft import write_peft

PROMPT = [1, 5, 9, 2]


def with_scales(model):
    """The e2e model (random integers, no float scales) with plausible activation scales, which
    only the float -> integer conversion of the adapter reads. The copy's fingerprint differs
    (scales are in the header), so it stands for "another model" too."""
    L = model.config.n_layers
    return dataclasses.replace(model, scales={"s_xa": [0.05] * L, "s_q": [0.04] * L, "s_g": [0.03] * L,
                                              "s_res": 0.02})


@pytest.mark.sim
@pytest.mark.slow
def test_peft_adapter_on_the_simulated_lora_hardware(tmp_path):
    model, out, _ = accelerator()
    cfg = model.config
    rng = np.random.default_rng(4)
    tensors = {(0, "wq"): (rng.standard_normal((LORA_RANK, cfg.dim)), rng.standard_normal((cfg.dim, LORA_RANK))),
               (1, "w2"): (rng.standard_normal((LORA_RANK, cfg.hidden_dim)),
                           rng.standard_normal((cfg.dim, LORA_RANK)))}
    folder = write_peft(tmp_path / "ad", tensors, r=LORA_RANK, lora_alpha=64, target_modules=["q_proj", "down_proj"])
    scaled = with_scales(model)
    adapters = load_peft(folder, scaled, LORA_RANK, ("wq", "w2"))

    def golden(lora, **kw):
        g = GoldenModel(model, context=CONTEXT, k_max=K_MAX)
        for (layer, target), ad in lora.items():
            g.set_lora(layer, target, ad)
        return list(g.generate(PROMPT, 10, **kw))

    sampled = {"temperature": 0.9, "top_k": 4, "seed": 7}
    want_greedy, want_sampled = golden(adapters), golden(adapters, **sampled)
    assert want_greedy != golden({}), "the adapter must change the output for the test to mean anything"
    with open_device(f"sim:{out}") as dev:
        dev.load_lora(adapters)
        assert dev.generate_ids(PROMPT, 10, stop_token=None) == want_greedy
        assert dev.generate_ids(PROMPT, 10, stop_token=None, **sampled) == want_sampled
        # the folder itself, converted with a model that is not the device's: refused, both named
        with pytest.raises(LoraError, match=f"model {scaled.fingerprint}.* device runs model {model.fingerprint}"):
            dev.load_lora(folder, model=scaled)
        with pytest.raises(LoraError, match="needs the device's integer model"):
            dev.load_lora(folder)
        dev.clear_lora()
        assert dev.generate_ids(PROMPT, 10, stop_token=None) == golden({})
