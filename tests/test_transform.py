"""hw/transform.py: rewrites of the float model that keep its function and the integer datapath."""
from __future__ import annotations

import numpy as np
import pytest

from hw.calibrate import calibrate
from hw.float_model import FloatRunner
from hw.golden import GoldenModel
from hw.quantize import quantize
from hw.transform import (TransformError, balance_qk, calibrate_prepared, check_settings, fold_norms, hadamard,
                          non_default, prepare, qk_pair_maxima, rotate_residual, rotate_values, rotation)

BITS = {"embedding": 8, "attention": 4, "mlp": 5, "classifier": 8}


def random_sequences(fm, seed: int, n: int = 4) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[1] + rng.integers(0, fm.config.vocab_size, fm.config.seq_len - 1).tolist() for _ in range(n)]


def logits_of(fm, tokens) -> np.ndarray:
    runner = FloatRunner(fm)
    return np.array([runner.forward(t, p) for p, t in enumerate(tokens)], dtype=np.float64)


def assert_same_function(a, b, tokens) -> None:
    la, lb = logits_of(a, tokens), logits_of(b, tokens)
    assert np.abs(la - lb).max() < 2e-4 * max(1.0, np.abs(la).max()), np.abs(la - lb).max()


@pytest.fixture(scope="module", params=[dict(dim=24, n_heads=3, n_kv_heads=1),      # dim not a power of two
                                        dict(dim=32, n_heads=4, n_kv_heads=2)])    # a true Hadamard
def model(request, tiny_model_factory):
    return tiny_model_factory(seed=3, shared=True, **request.param)


def test_rotations_are_orthogonal():
    for n in (1, 2, 8, 64):
        h = hadamard(n)
        np.testing.assert_allclose(h @ h.T, np.eye(n), atol=1e-12)
        assert np.allclose(np.abs(h), 1 / np.sqrt(n))
    for n, kind in ((64, "hadamard"), (24, "hadamard"), (24, "random"), (8, "random")):
        r = rotation(n, kind)
        np.testing.assert_allclose(r @ r.T, np.eye(n), atol=1e-12)
    np.testing.assert_array_equal(rotation(24, "random"), rotation(24, "random"))   # reproducible


@pytest.mark.parametrize("rewrite", ["fold", "rotate hadamard", "rotate random", "values", "balance", "all"])
def test_rewrites_keep_the_float_function(model, rewrite):
    """Each rewrite, and all of them, give the float logits of the original model (float tolerance)."""
    seqs = random_sequences(model, seed=1, n=2)
    if rewrite == "fold":
        out = fold_norms(model)
        for name in ("rms_att", "rms_ffn", "rms_final"):
            assert np.all(out.weights[name] == 1.0)
    elif rewrite.startswith("rotate"):
        out = rotate_residual(fold_norms(model), rotation(model.config.dim, rewrite.split()[1]))
    elif rewrite == "values":
        out = rotate_values(model, "hadamard")
    elif rewrite == "balance":
        out = balance_qk(model, *qk_pair_maxima(model, seqs))
    else:
        out = prepare(model, "hadamard", True, qk_sequences=seqs)
    assert not out.config.shared_classifier            # the classifier is untied, the embedding kept
    assert_same_function(model, out, seqs[1])


def test_rotation_flattens_an_outlier_channel(tiny_model_factory):
    """What the rotation is for: a residual channel 30x larger than the rest sets the norm output's int8
    range; the rotation spreads it over all channels."""
    fm = tiny_model_factory(seed=4, dim=32, n_heads=4, n_kv_heads=2)
    fm.weights["token_embedding"][:, 5] *= 30.0
    seq = random_sequences(fm, seed=2, n=1)
    ratio = {}
    for name, m in (("plain", fold_norms(fm)), ("rotated", prepare(fm, "hadamard"))):
        calib = calibrate(m, seq)
        ratio[name] = calib.maxima["xa"][0]
    assert ratio["plain"] > 0.95 * np.sqrt(32)          # the outlier holds nearly all of the rms
    assert ratio["rotated"] < ratio["plain"] / 2, ratio


def test_balanced_keys_have_equal_pair_ranges(model):
    seqs = random_sequences(model, seed=1, n=2)
    out = balance_qk(model, *qk_pair_maxima(model, seqs))
    mq, mk = qk_pair_maxima(out, seqs)
    np.testing.assert_allclose(mq, mk, rtol=1e-4)


def test_settings_are_checked(model):
    assert check_settings(None) == {"rotate": "none", "rotate_v": False, "balance_qk": False}
    assert non_default({"rotate": "none", "rotate_v": True}) == {"rotate_v": True}
    with pytest.raises(TransformError, match="unknown rotation 'walsh'; choose from hadamard, random, none"):
        check_settings({"rotate": "walsh"})
    with pytest.raises(TransformError, match="unknown transform setting 'spin'"):
        check_settings({"spin": True})
    with pytest.raises(TransformError, match="rotate_v must be true or false"):
        check_settings({"rotate_v": "yes"})
    with pytest.raises(TransformError, match="needs the norm gains folded .*fold=False was given"):
        prepare(model, "hadamard", fold=False)
    with pytest.raises(TransformError, match="power-of-two size, not 24; use --rotate random"):
        hadamard(24)
    with pytest.raises(TransformError, match="needs unit RMSNorm gains; fold_norms first"):
        rotate_residual(model, rotation(model.config.dim, "random"))


def test_quantized_rewritten_model_records_its_settings(tiny_model_factory):
    fm = tiny_model_factory(seed=5)
    seqs = random_sequences(fm, seed=0)
    plain = quantize(fm, calibrate(fm, seqs), BITS)
    assert "transform" not in plain.knobs                 # the default flow's fingerprints are unchanged
    settings = {"rotate": "hadamard", "rotate_v": True, "balance_qk": True}
    pm = prepare(fm, "hadamard", True, qk_sequences=seqs)
    im = quantize(pm, calibrate(pm, seqs), BITS, transform=settings)
    assert im.knobs["transform"] == settings
    # the integer model of the rewritten float model tracks the original float model
    runner, golden = FloatRunner(fm), GoldenModel(im)
    top = [int(np.argmax(runner.forward(t, p)) == np.argmax(golden.forward(t))) for p, t in enumerate(seqs[1])]
    assert sum(top) >= 0.6 * len(top), top
    with pytest.raises(TransformError, match="unknown transform setting"):
        quantize(fm, calibrate(fm, seqs), BITS, transform={"rotation": "hadamard"})


def test_calibrate_prepared_uses_one_set_of_sequences(tiny_model_factory):
    fm = tiny_model_factory(seed=5)
    prepared, calib = calibrate_prepared(fm, {"rotate": "random", "balance_qk": True}, source="generate")
    assert calib.settings["source"] == "generate" and calib.settings["sequences"] == 1
    assert_same_function(fm, prepared, [1, 4, 9, 2])


@pytest.mark.sim
def test_rewritten_model_runs_bit_exact_on_the_rtl(tiny_model_factory, tmp_path):
    """The rewrites only change constants: the RTL computes the golden model's tokens and logits for a
    rotated, value-rotated, q/k-balanced quantized model (one Verilator build of a tiny design)."""
    from hw.rtlgen.generate import generate
    from hw.rtlgen.knobs import Knobs
    from hw.sim.session import SimSession

    fm = tiny_model_factory(seed=5)
    seqs = random_sequences(fm, seed=0)
    settings = {"rotate": "random", "rotate_v": True, "balance_qk": True}
    pm = prepare(fm, "random", True, qk_sequences=seqs)
    im = quantize(pm, calibrate(pm, seqs), BITS, transform=settings)
    generate(im, tmp_path / "rot", Knobs(lanes=5, values_per_lane=4, debug_vectors=False))
    sim = SimSession(tmp_path / "rot")
    try:
        golden = GoldenModel(im)
        for token in seqs[1][:8]:
            logits = golden.forward(token)
            want, _ = golden.sample(logits, 0, 0, 0)
            assert sim.generate([token], 1) == [want]
            np.testing.assert_array_equal(sim.logits(), logits)
        sim.reset_state()
        golden.reset()
        assert sim.generate([1, 3], 10) == list(golden.generate([1, 3], 10))
    finally:
        sim.close()


def test_fakequant_emulation_is_the_float_model_without_rounding(tiny_model_factory):
    """hw/fakequant.py (the estimate behind the report's 'what would reach the targets'): with no point
    rounded and float weights it is the float model; with every point static it stays near the golden model."""
    from hw.fakequant import FakeQuantRunner

    fm = tiny_model_factory(seed=5)
    seq = random_sequences(fm, seed=1, n=1)[0]
    emu = FakeQuantRunner(fm, None, points=())
    got = np.array([emu.forward(t) for t in seq])
    np.testing.assert_allclose(got, logits_of(fm, seq), rtol=1e-4, atol=1e-4)
    im = quantize(fm, calibrate(fm, random_sequences(fm, seed=0)), {"attention": 8, "mlp": 8})
    emu, golden = FakeQuantRunner(fm, im), GoldenModel(im)
    diff = [np.abs(emu.forward(t) - golden.forward(t) * im.scales["s_logit"]).max() for t in seq]
    assert max(diff) < 0.1 * np.abs(got).max(), diff
    with pytest.raises(ValueError, match="unknown activation points"):
        FakeQuantRunner(fm, im, points=("xa", "res"))
    # finer weight scales replace the attention and MLP matrices only, nearer the float ones
    bits = {"attention": 4, "mlp": 4}
    im4 = quantize(fm, calibrate(fm, random_sequences(fm, seed=0)), bits)
    rows, groups = FakeQuantRunner(fm, im4, points=()), FakeQuantRunner(fm, im4, (), weight_group=4, weight_bits=bits)
    for name in ("wq", "w2"):
        f = np.asarray(fm.weights[name])
        assert np.abs(groups.w[name] - f).mean() < np.abs(rows.w[name] - f).mean()
    np.testing.assert_array_equal(groups.w["wcls"], rows.w["wcls"])


def test_fakequant_weight_groups():
    """--weight-group: each group of a row on its own grid (finer groups, less error; GPTQ's rounding
    with the input's second moments, less output error than nearest); --pow2: every group's scale
    is the row's over a power of two."""
    from hw.fakequant import POW2_STEPS, group_quantized, group_scales

    rng = np.random.default_rng(0)
    w = rng.standard_t(4, (24, 44))                     # 44 columns: the last group of 16 is shorter
    x = rng.normal(0, 1, (500, 44)) * rng.gamma(1, 1, 44)
    m = x.T @ x / len(x)

    def out_err(d):
        e = w - d
        return float(np.sum((e @ m) * e))

    s = group_scales(w, 4, 16)
    assert s.shape == w.shape
    for g0 in (0, 16, 32):                              # one scale per row and group
        assert (s[:, g0:g0 + 16] == s[:, g0:g0 + 1]).all()
    per_row, g16, g8 = (group_quantized(w, 4, g) for g in (44, 16, 8))
    assert np.allclose(np.round(g16 / s), g16 / s) and np.abs(np.round(g16 / s)).max() <= 7
    assert out_err(g8) < out_err(g16) < out_err(per_row)
    assert out_err(group_quantized(w, 4, 16, moment=m)) < out_err(g16)
    p2 = group_scales(w, 4, 16, pow2=True)
    row = p2.max(axis=1, keepdims=True)
    ratio = np.log2(row / p2)
    assert np.allclose(ratio, np.round(ratio)) and ratio.max() <= POW2_STEPS - 1
    assert out_err(group_quantized(w, 4, 16, pow2=True)) < out_err(per_row)


def test_fakequant_dynamic_modes_and_compare(tiny_model_factory):
    """Dynamic int8 rounding (per vector, per group) moves the logits a little, finer groups less;
    compare() of the unrounded emulation against the float reference is a perfect score."""
    from hw.fakequant import MODES_TABLE, POINTS, FakeQuantRunner, compare
    from hw.report import float_reference

    fm = tiny_model_factory(seed=5)
    seq = random_sequences(fm, seed=1, n=1)[0]
    ref_logits = logits_of(fm, seq)
    errs = {}
    for group in (0, 4):
        emu = FakeQuantRunner(fm, None, points=POINTS, mode="dynamic", group=group)
        got = np.array([emu.forward(t) for t in seq])
        errs[group] = np.abs(got - ref_logits).max()
        assert 0 < errs[group] < 0.1 * np.abs(ref_logits).max()
        emu.reset()
        np.testing.assert_array_equal(emu.forward(seq[0]), got[0])      # reset starts again
    assert errs[4] <= errs[0]
    odd = FakeQuantRunner(fm, None, points=("xa",), mode="dynamic", group=7)    # 7 divides no vector: per vector
    per_vector = FakeQuantRunner(fm, None, points=("xa",), mode="dynamic", group=0)
    np.testing.assert_array_equal(odd.forward(seq[0]), per_vector.forward(seq[0]))
    with pytest.raises(ValueError, match="mode must be one of"):
        FakeQuantRunner(fm, None, mode="nearest")
    with pytest.raises(ValueError, match="static scales come from an integer model"):
        FakeQuantRunner(fm, None)
    assert {m for _, _, m, _ in MODES_TABLE} == {"static", "dynamic"}

    ref = float_reference(fm, random_sequences(fm, seed=2, n=2), steps=6)
    exact = compare(FakeQuantRunner(fm, None, points=()), ref)
    assert exact["greedy_prefix"] == exact["greedy_steps"] == 6 and exact["top1"] == 1.0
    assert abs(exact["ppl_ratio"] - 1.0) < 1e-6 and abs(exact["kl"]) < 1e-6
    rounded = compare(FakeQuantRunner(fm, None, points=POINTS, mode="dynamic"), ref)
    assert rounded["kl"] > exact["kl"] and rounded["greedy_steps"] == 6

def test_float_lora_adapters_are_refused_on_a_rewritten_model(tiny_model_factory):
    """A float adapter is in the checkpoint's coordinates; on a rotated model it would be wrong, silently."""
    from hw.golden import LoraShapeError
    from hw.lora import lora_from_float

    fm = tiny_model_factory(seed=5)
    seqs = random_sequences(fm, seed=0)
    pm = prepare(fm, "random")
    im = quantize(pm, calibrate(pm, seqs), BITS, transform={"rotate": "random"})
    A, B = np.ones((2, fm.config.dim)), np.ones((fm.config.dim, 2))
    with pytest.raises(LoraShapeError, match="quantized with rotate=random .* without --rotate"):
        lora_from_float(im, 0, "wq", A, B, 4.0)
    plain = quantize(fm, calibrate(fm, seqs), BITS)
    assert lora_from_float(plain, 0, "wq", A, B, 4.0).a.shape == (2, fm.config.dim)
