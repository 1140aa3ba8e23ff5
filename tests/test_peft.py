"""PEFT LoRA folders: files written with PEFT's exact key names and config, read into the golden
model, checked against an independent float computation in Hugging Face's row order, and refused
by name where they do not fit. The device side (the simulated LoRA hardware) is in
tests/test_peft_device.py."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from hw.calibrate import calibrate
from hw.float_model import FloatRunner
from hw.golden import GoldenModel
from hw.lora import TARGET_IO
from hw.model import FloatModel
from hw.peft import PeftError, check_fits, load_peft, read_peft
from hw.quantize import quantize

TOKENS = [1, 5, 9, 2, 30, 11, 7, 19]
MODULES = {"wq": "self_attn.q_proj", "wk": "self_attn.k_proj", "wv": "self_attn.v_proj",
           "wo": "self_attn.o_proj", "w1": "mlp.gate_proj", "w3": "mlp.up_proj", "w2": "mlp.down_proj"}


def peft_config(**over) -> dict:
    """adapter_config.json as PEFT 0.13+ writes it for a llama LoRA."""
    cfg = {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "tiny-llama", "bias": "none",
           "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
           "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
           "lora_alpha": 16, "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core",
           "modules_to_save": None, "peft_type": "LORA", "r": 4, "rank_pattern": {}, "revision": None,
           "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM", "use_dora": False,
           "use_rslora": False}
    cfg.update(over)
    return cfg


def hf_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """hardwire's adjacent-pair row order -> HF's rotate_half order, written from the definition
    (not the loader's code): hardwire row h*hd + 2j + t is HF row h*hd + t*hd/2 + j."""
    hd = w.shape[0] // n_heads
    out = np.empty_like(w)
    for h in range(n_heads):
        for j in range(hd // 2):
            for t in range(2):
                out[h * hd + t * hd // 2 + j] = w[h * hd + 2 * j + t]
    return out


def write_peft(folder: Path, tensors: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]], **cfg) -> Path:
    """A PEFT folder from {(layer, target): (A, B)} given in HF's order (as trained)."""
    folder.mkdir(parents=True, exist_ok=True)
    flat = {}
    for (layer, target), (A, B) in tensors.items():
        key = f"base_model.model.model.layers.{layer}.{MODULES[target]}"
        flat[f"{key}.lora_A.weight"] = np.ascontiguousarray(A, dtype=np.float32)
        flat[f"{key}.lora_B.weight"] = np.ascontiguousarray(B, dtype=np.float32)
    save_file(flat, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    (folder / "adapter_config.json").write_text(json.dumps(peft_config(**cfg), indent=2))
    return folder


@pytest.fixture(scope="module")
def setup(tiny_model_factory):
    fm = tiny_model_factory(seed=2)
    rng = np.random.default_rng(0)
    seqs = [[1] + rng.integers(0, fm.config.vocab_size, fm.config.seq_len - 1).tolist() for _ in range(6)]
    return fm, quantize(fm, calibrate(fm, seqs))


def random_hf_adapter(fm: FloatModel, targets, rank=4, std=0.3, seed=0):
    """{(layer, target): (A, B)} in HF's order: float weights as a trainer leaves them."""
    rng = np.random.default_rng(seed)
    out = {}
    for layer, target in targets:
        rows, cols = fm.weights[target].shape[1:]
        out[(layer, target)] = (rng.standard_normal((rank, cols)) / np.sqrt(cols),
                                rng.standard_normal((rows, rank)) * std)
    return out


def hf_delta_in_hardwire_order(fm, target, A, B, scaling):
    """scaling * B @ A in HF's order, then moved to hardwire's row order by inverting hf_rows."""
    delta_hf = scaling * (B.astype(np.float64) @ A.astype(np.float64))
    heads = {"wq": fm.config.n_heads, "wk": fm.config.n_kv_heads}.get(target)
    if heads is None:
        return delta_hf
    hd = delta_hf.shape[0] // heads
    out = np.empty_like(delta_hf)
    for h in range(heads):
        for j in range(hd // 2):
            for t in range(2):
                out[h * hd + 2 * j + t] = delta_hf[h * hd + t * hd // 2 + j]
    return out


ALL = [(0, "wq"), (1, "wk"), (0, "wv"), (1, "wo"), (0, "w1"), (1, "w3"), (1, "w2")]


def test_keys_config_and_row_order_are_read_as_peft_writes_them(setup, tmp_path):
    fm, im = setup
    hf = random_hf_adapter(fm, ALL, rank=4)
    folder = write_peft(tmp_path / "ad", hf, target_modules=[MODULES[t].split(".")[1] for _, t in ALL],
                        lora_alpha=8, alpha_pattern={"o_proj": 32}, use_rslora=False)
    ad = read_peft(folder, fm.config)
    assert set(ad.modules) == set(ALL) and ad.rank == 4 and ad.base_model == "tiny-llama"
    for (layer, target), (A, B) in hf.items():
        m = ad.modules[(layer, target)]
        want = (32 if target == "wo" else 8) / 4
        assert m.scaling == want
        assert np.array_equal(m.A, A.astype(np.float32))        # the input side is never permuted
        got = m.scaling * m.B @ m.A
        assert np.allclose(got, hf_delta_in_hardwire_order(fm, target, A.astype(np.float32),
                                                           B.astype(np.float32), want), rtol=0, atol=1e-6)
    # q and k rows really move (a loader that skipped the permutation fails the check above)
    A, B = hf[(0, "wq")]
    assert not np.allclose(ad.modules[(0, "wq")].B, B.astype(np.float32))
    # rsLoRA: alpha / sqrt(r)
    rs = read_peft(write_peft(tmp_path / "rs", {(0, "wv"): hf[(0, "wv")]}, use_rslora=True), fm.config)
    assert rs.modules[(0, "wv")].scaling == 16 / 2


@pytest.mark.parametrize("target", sorted(TARGET_IO))
def test_golden_with_the_adapter_equals_the_float_computation(setup, tmp_path, target):
    """The integer delta the golden model adds, on its own int8 inputs, is W + scaling * B @ A's
    delta computed in float numpy from the HF-order file contents."""
    fm, im = setup
    layer, rank, alpha = 1, 4, 8.0
    (A, B), = random_hf_adapter(fm, [(layer, target)], rank=rank, std=0.05, seed=11).values()
    folder = write_peft(tmp_path / target, {(layer, target): (A, B)}, lora_alpha=alpha, r=rank,
                        target_modules=[MODULES[target].split(".")[1]])
    ints = load_peft(folder, im)
    assert set(ints) == {(layer, target)}
    delta = hf_delta_in_hardwire_order(fm, target, A.astype(np.float32), B.astype(np.float32), alpha / rank)
    point = {"wq": "xa", "wk": "xa", "wv": "xa", "wo": "att", "w1": "xf", "w3": "xf", "w2": "g"}[target]
    s_in_name, s_out_name, _ = TARGET_IO[target]
    s_in = im.scales[s_in_name][layer]
    s_out = im.scales[s_out_name] if s_out_name == "s_res" else im.scales[s_out_name][layer]
    g, trace = GoldenModel(im), {}
    g.set_lora(layer, target, ints[(layer, target)])
    num = den = 0.0
    for t in TOKENS:
        g.forward(t, trace)
        x = trace[(point, layer)]
        want = delta @ (x * s_in) / s_out           # float delta in the projection's output units
        got = ints[(layer, target)].delta(x)
        num += float(np.sum((got - want) ** 2))
        den += float(np.sum(want ** 2))
    # the integer form's resolution (hw/lora.py): 3-8% rms, w2 up to ~21%
    assert np.sqrt(num / den) < (0.25 if target == "w2" else 0.10), np.sqrt(num / den)


def test_golden_logits_move_like_the_merged_float_model(setup, tmp_path):
    """End to end: the golden model's logit change with the adapter follows the float model whose
    weights are W + scaling * B @ A (merged in HF order, permuted by this test)."""
    fm, im = setup
    targets = [(0, "wq"), (1, "wk"), (1, "w2"), (0, "w1")]
    hf = random_hf_adapter(fm, targets, rank=4, std=0.2, seed=5)
    folder = write_peft(tmp_path / "e2e", hf, target_modules=["q_proj", "k_proj", "down_proj", "gate_proj"])
    merged = copy.deepcopy(fm)
    for (layer, target), (A, B) in hf.items():
        merged.weights[target][layer] += hf_delta_in_hardwire_order(
            fm, target, A.astype(np.float32), B.astype(np.float32), 16 / 4).astype(np.float32)
    base_g, lora_g = GoldenModel(im), GoldenModel(im)
    for (layer, target), ad in load_peft(folder, im).items():
        lora_g.set_lora(layer, target, ad)
    base_f, lora_f = FloatRunner(fm), FloatRunner(merged)
    dg, df = [], []
    for pos, t in enumerate(TOKENS):
        dg.append(lora_g.forward(t).astype(np.float64) - base_g.forward(t))
        df.append(lora_f.forward(t, pos).astype(np.float64) - base_f.forward(t, pos))
    dg, df = np.concatenate(dg), np.concatenate(df)
    assert np.abs(df).max() > 0.5            # the adapter matters
    # measured 0.93 (seed 5) and 0.95 (seed 6); without the q/k row permutation 0.69: the
    # integer model's own quantization noise is what keeps it below 1
    corr = float(np.corrcoef(dg, df)[0, 1])
    assert corr > 0.85, corr


def _refused(tmp_path, fm, match, tensors=None, name="bad", **cfg):
    tensors = tensors if tensors is not None else random_hf_adapter(fm, [(0, "wq")])
    folder = write_peft(tmp_path / name, tensors, **cfg)
    with pytest.raises(PeftError, match=match):
        read_peft(folder, fm.config)


@pytest.mark.parametrize("option, value, match", [
    ("use_dora", True, "use_dora=True is not supported: DoRA"),
    ("bias", "lora_only", "bias='lora_only' is not supported"),
    ("fan_in_fan_out", True, "fan_in_fan_out=True is not supported: it describes Conv1D"),
    ("modules_to_save", ["lm_head"], "modules_to_save=.* is not supported"),
    ("lora_bias", True, "lora_bias=True is not supported"),
    ("peft_type", "IA3", "peft_type 'IA3'; hardwire loads LoRA"),
    ("init_lora_weights", "pissa", "init_lora_weights='pissa'"),
    ("target_modules", ["q_proj", "lm_head"], "target_modules 'lm_head' cannot be adapted"),
    ("some_future_option", 3, "unknown option.* some_future_option"),
    ("r", "4", "r must be an integer"),
])
def test_unsupported_options_are_refused_by_name(setup, tmp_path, option, value, match):
    fm, _ = setup
    _refused(tmp_path, fm, match, **{option: value})


def test_tensors_that_do_not_fit_are_refused_by_name(setup, tmp_path):
    fm, im = setup
    (A, B), = random_hf_adapter(fm, [(0, "wq")]).values()
    d = fm.config.dim
    _refused(tmp_path, fm, r"layer 7, but the base model has 2 layers", {(7, "wq"): (A, B)}, "layer")
    _refused(tmp_path, fm, r"rank 4 on a \(24 x 24\) projection needs", {(0, "wq"): (A[:, :-1], B)}, "dim")
    _refused(tmp_path, fm, r"lora_A \(2, 24\).*rank 4", {(0, "wq"): (A[:2], B[:, :2])}, "rank")
    _refused(tmp_path, fm, "which target_modules .* does not list", {(0, "wk"): random_hf_adapter(
        fm, [(0, "wk")])[(0, "wk")]}, "unlisted")
    # embedding / lm_head adapters and DoRA magnitudes: names PEFT gives them
    for key, match in [("base_model.model.model.embed_tokens.lora_embedding_A", "embedding / lm_head"),
                       ("base_model.model.lm_head.lora_A.weight", "embedding / lm_head"),
                       ("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", "DoRA")]:
        folder = write_peft(tmp_path / "extra", {(0, "wq"): (A, B)})
        save_file({f"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": A.astype(np.float32),
                   f"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": B.astype(np.float32),
                   key: np.ones((4, d), np.float32)}, str(folder / "adapter_model.safetensors"))
        with pytest.raises(PeftError, match=match):
            read_peft(folder, fm.config)
    # half an adapter
    folder = write_peft(tmp_path / "half", {(0, "wq"): (A, B)})
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": A.astype(np.float32)},
              str(folder / "adapter_model.safetensors"))
    with pytest.raises(PeftError, match="has no lora_B.weight"):
        read_peft(folder, fm.config)
    # no weights; pickled weights are never loaded
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(PeftError, match="adapter_model.bin is a pickle, never loaded"):
        read_peft(folder, fm.config)
    with pytest.raises(PeftError, match="no adapter_config.json"):
        read_peft(tmp_path, fm.config)
    with pytest.raises(PeftError, match="integer model .* carries no float scales"):
        from hw.rtlgen.fixture import random_int_model
        load_peft(tmp_path / "layer", random_int_model(3))


def test_build_rank_and_targets_are_checked(setup, tmp_path):
    fm, im = setup
    ad = read_peft(write_peft(tmp_path / "a", random_hf_adapter(fm, [(0, "wq"), (1, "wv")], rank=4)), fm.config)
    check_fits(ad, rank=4, targets=("wq", "wv"))
    check_fits(ad, rank=8, targets=("wq", "wk", "wv"))        # a lower rank fits a larger slot
    with pytest.raises(PeftError, match=r"rank 4 is beyond the build's LoRA rank 2; rebuild with --lora-rank 4"):
        check_fits(ad, rank=2, targets=("wq", "wv"))
    with pytest.raises(PeftError, match=r"adapts v_proj \(wv\), but the build's LoRA hardware adapts only wq; "
                                        r"rebuild with --lora-targets wq,wv"):
        check_fits(ad, rank=4, targets=("wq",))
    with pytest.raises(PeftError, match="rank 4 is beyond"):
        load_peft(ad.path, im, rank=2, targets=("wq", "wv"))
