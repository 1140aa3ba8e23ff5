"""Quantization-aware fine-tuning by distillation (hw/train/qat.py) and
`hardwire quantize --report --reference`: tiny models only, seconds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hw import cli, frontend
from hw.frontend.llama2c import save_llama2c
from hw.model import ModelConfig
from hw.quantize import CLIP_RATIOS, parse_bits, quantize_rows
from hw.train import qat
from hw.train import train as tr

TOKENIZER = Path(__file__).resolve().parents[1] / "models" / "default" / "tokenizer.bin"
TINY = ModelConfig(dim=8, hidden_dim=12, n_layers=2, n_heads=2, n_kv_heads=1, vocab_size=11, seq_len=8)
# a checkpoint the default tokenizer (512 pieces) fits, small enough to fine-tune in a second
SMALL = ModelConfig(dim=16, hidden_dim=24, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=512, seq_len=32)


def _params(cfg: ModelConfig, seed: int, dtype=np.float64, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    p = tr.init_params(cfg, rng, dtype)
    return {k: (v + rng.normal(0, noise, v.shape)).astype(dtype) for k, v in p.items()}


def _checkpoint(path: Path, cfg: ModelConfig, seed: int = 0) -> Path:
    save_llama2c(tr.to_float_model(cfg, _params(cfg, seed, np.float32, noise=0.05)), path)
    return path


# ---------------------------------------------------------------- fake quantization

def test_fake_quant_is_the_quantizers_quantize_then_dequantize():
    w = np.random.default_rng(0).normal(0, 1, (3, 5, 16))
    for bits in (3, 4, 8):
        deq, mask = qat.fake_quant(w, bits)
        q, s = quantize_rows(w.reshape(-1, 16), bits, None, CLIP_RATIOS, "nearest", "weight", refit=False)
        np.testing.assert_array_equal(deq, (q * s[:, None]).reshape(w.shape))
        qmax = (1 << (bits - 1)) - 1
        assert np.abs(q).max() == qmax
        # the STE passes the gradient where the clip did not cut, and only there
        clipped = np.abs(w.reshape(-1, 16)) > s[:, None] * (qmax + 0.5)
        np.testing.assert_array_equal(mask.reshape(-1, 16), ~clipped)
    assert not qat.fake_quant(w, 3)[1].all()              # at 3 bits the search does clip some rows


def test_snapped_weights_are_what_the_quantizer_chooses():
    """The written checkpoint's matrices sit on their grid, so the quantizer's own search
    (output-weighted clip, GPTQ, refit) gives those very weights back."""
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.2, (6, 16))
    x = rng.normal(0, 1, (200, 16)) * np.linspace(0.2, 3, 16)
    deq, _ = qat.fake_quant(w, 4)
    q, s = quantize_rows(deq, 4, x.T @ x / len(x), rounding="gptq")
    np.testing.assert_allclose(q * s[:, None], deq, rtol=1e-9, atol=1e-12)


def test_activation_scales_are_the_calibrations():
    """ActQuant measures each int8 point as hw.calibrate does (max, 99.99th percentile for h1 h3 g;
    q and k on both sides of RoPE), so the student trains with the scales the quantizer will set."""
    from hw.calibrate import LAYER_POINTS, calibrate

    params = _params(TINY, 0, np.float32)
    seq = [1, 5, 3, 9, 10, 4, 7, 2]
    calib = calibrate(tr.to_float_model(TINY, params), [seq])
    act = qat.ActQuant()
    act.calibrate(params, TINY, np.asarray([seq]))
    for point in LAYER_POINTS:
        for layer in range(TINY.n_layers):
            assert act.scales[point, layer] == pytest.approx(calib.maxima[point][layer], rel=1e-4), (point, layer)
    assert act.scales["xc", None] == pytest.approx(calib.maxima["xc"], rel=1e-4)


def test_int8_activations_sit_on_their_grid():
    params = _params(TINY, 0, np.float32)
    inp = np.random.default_rng(4).integers(0, TINY.vocab_size, (2, 8))
    act = qat.ActQuant()
    act.calibrate(params, TINY, inp)
    seen = []

    def spy(point, layer, x):
        y = act(point, layer, x)
        seen.append(point)
        code = y / (act.scales[point, layer] / 127)
        np.testing.assert_allclose(code, np.round(code), atol=1e-3)
        assert np.abs(np.round(code)).max() <= 127
        return y

    rounded = tr.forward(params, TINY, inp, act=spy)[0]
    assert set(seen) == {"xa", "q", "k", "v", "att", "xf", "h1", "h3", "g", "xc"}
    assert seen.count("q") == 2 * TINY.n_layers               # before and after RoPE
    plain = tr.forward(params, TINY, inp)[0]
    assert 0 < np.abs(rounded - plain).max() < 0.2 * np.abs(plain).max()


def test_int16_queries_and_keys_sit_on_their_finer_grid():
    """--qk-bits 16: q and k round on the int8 scale's 2^8-times finer grid (docs/numerics.md 6a),
    every other point as before."""
    params = _params(TINY, 0, np.float32)
    inp = np.random.default_rng(4).integers(0, TINY.vocab_size, (2, 8))
    act8, act16 = qat.ActQuant(), qat.ActQuant(qk_bits=16)
    act8.calibrate(params, TINY, inp)
    act16.calibrate(params, TINY, inp)
    for point in ("q", "k"):
        top = act16.scales[point, 0]            # inside the calibrated range: rounding only, no clip
        x = np.random.default_rng(5).uniform(-top, top, (3, 16)).astype(np.float32)
        y = act16(point, 0, x)
        code = y / (act16.scales[point, 0] / 127 / 256)
        np.testing.assert_allclose(code, np.round(code), atol=2e-2)
        assert np.abs(y - x).max() <= act16.scales[point, 0] / 127 / 256 / 2 * 1.001
        assert np.abs(act8(point, 0, x) - x).max() > np.abs(y - x).max()
    x = np.random.default_rng(6).normal(0, 1, (3, 16)).astype(np.float32)
    for point in ("v", "g"):
        np.testing.assert_array_equal(act16(point, 0, x), act8(point, 0, x))


# ---------------------------------------------------------------- the distillation loss

@pytest.mark.parametrize("separate_classifier", [False, True])
def test_distillation_gradient_matches_finite_differences(separate_classifier):
    p = _params(TINY, 0)
    if separate_classifier:                    # the fake-quantized classifier travels as "wcls"
        p["wcls"] = np.random.default_rng(5).normal(0, 0.5, p["token_embedding"].shape)
    teacher = _params(TINY, 7)
    inp = np.random.default_rng(1).integers(0, TINY.vocab_size, (2, 7))
    t_logp = qat.teacher_logp(teacher, TINY, inp)
    loss, grads = qat.distill_loss_and_grads(p, TINY, inp, t_logp)
    assert loss > 0.01
    rng = np.random.default_rng(2)
    for name in p:
        for _ in range(4):
            i = tuple(int(rng.integers(0, s)) for s in p[name].shape)
            old, h = p[name][i], 1e-6
            p[name][i] = old + h
            up, _ = qat.distill_loss_and_grads(p, TINY, inp, t_logp, need_grads=False)
            p[name][i] = old - h
            down, _ = qat.distill_loss_and_grads(p, TINY, inp, t_logp, need_grads=False)
            p[name][i] = old
            num = (up - down) / (2 * h)
            assert abs(num - grads[name][i]) <= 1e-6 * max(1.0, abs(num)), (name, i)


def test_distillation_loss_is_zero_for_the_teacher_itself():
    p = _params(TINY, 0)
    inp = np.random.default_rng(1).integers(0, TINY.vocab_size, (2, 7))
    loss, g = qat.distill_loss_and_grads(p, TINY, inp, qat.teacher_logp(p, TINY, inp))
    assert abs(loss) < 1e-12 and max(float(np.abs(v).max()) for v in g.values()) < 1e-12


@pytest.mark.parametrize("activations", ["float", "int8"])
def test_qat_steps_lower_the_distillation_loss(activations):
    teacher = _params(TINY, 0, np.float32)
    params = {k: v.copy() for k, v in teacher.items()}
    bits = parse_bits("attention=3,mlp=3")
    inp = np.random.default_rng(3).integers(0, TINY.vocab_size, (4, 8))
    t_logp = qat.teacher_logp(teacher, TINY, inp)
    act = None
    if activations == "int8":
        act = qat.ActQuant()
        act.calibrate(params, TINY, inp)
    first, _ = qat.qat_loss_and_grads(params, TINY, bits, inp, t_logp, need_grads=False, act=act)
    tc = tr.TrainConfig(steps=40, warmup=5, lr=1e-2, min_lr=1e-3, weight_decay=0.0)
    opt = tr.AdamW(params, tc)
    for step in range(tc.steps):
        _, g = qat.qat_loss_and_grads(params, TINY, bits, inp, t_logp, act=act)
        assert set(g) == set(params)                        # the shared classifier's gradient folded in
        opt.step(params, g, tr.lr_at(step, tc))
    last, _ = qat.qat_loss_and_grads(params, TINY, bits, inp, t_logp, need_grads=False, act=act)
    assert first > 0.01 and last < 0.5 * first


# ---------------------------------------------------------------- the command

def _run(tmp_path: Path, *extra: str) -> tuple[int, Path]:
    src = _checkpoint(tmp_path / "src.bin", SMALL)
    out = tmp_path / "qat.bin"
    rc = qat.main([str(src), "--tokenizer", str(TOKENIZER), "--out", str(out), "--steps", "4",
                   "--batch-size", "2", "--seq-len", "16", "--n-stories", "40", "--eval-every", "2", *extra])
    return rc, out


def test_written_checkpoint_loads_with_the_original_config(tmp_path):
    rc, out = _run(tmp_path)
    assert rc == 0
    new = frontend.load(out, TOKENIZER)
    src = frontend.load(tmp_path / "src.bin", with_tokenizer=False).model
    assert new.model.config == src.config
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["bits"]["attention"] == 4 and side["train"]["steps"] == 4 and len(side["check_kl"]) == 3
    for name in ("wq", "w2"):                           # each row on a 4-bit grid: <= 15 levels
        rows = new.model.weights[name].reshape(-1, new.model.weights[name].shape[-1])
        assert max(len(np.unique(r)) for r in rows) <= 15
        assert not np.array_equal(new.model.weights[name], src.weights[name])


def test_generated_text_needs_no_tokenizer(tmp_path):
    src = _checkpoint(tmp_path / "src.bin", SMALL)
    out = tmp_path / "gen.bin"
    assert qat.main([str(src), "--text", "generate", "--n-generated", "6", "--seq-len", "16", "--steps", "2",
                     "--batch-size", "2", "--out", str(out)]) == 0
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["text"].startswith("6 texts the model sampled") and side["tokens"] == 6 * 16


def test_corpus_text_without_a_tokenizer_is_refused(tmp_path, capsys):
    src = _checkpoint(tmp_path / "src.bin", SMALL)
    assert qat.main([str(src), "--out", str(tmp_path / "o.bin")]) == 1
    assert "--text generate" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [
    (("--bits", "attention=four"), "bad bits setting"),
    (("--bits", "attention=9"), "not supported"),
    (("--seq-len", "64"), "exceeds the model's context"),
    (("--tokenizer", "/nonexistent/tok.bin"), "tok.bin"),
    (("--qk-bits", "16", "--activations", "float"), "rounds nothing"),
])
def test_bad_settings_are_named(tmp_path, capsys, extra, words):
    rc, out = _run(tmp_path, *extra)
    assert rc == 1 and words in capsys.readouterr().err and not out.exists()


def test_missing_checkpoint_is_named(tmp_path, capsys):
    rc = qat.main([str(tmp_path / "none.bin"), "--tokenizer", str(TOKENIZER), "--out", str(tmp_path / "o.bin")])
    assert rc == 1 and "none.bin" in capsys.readouterr().err


def test_hardwire_finetune_is_the_same_command(tmp_path):
    src = _checkpoint(tmp_path / "src.bin", SMALL)
    out = tmp_path / "ft.bin"
    assert cli.main(["finetune", str(src), "--tokenizer", str(TOKENIZER), "--out", str(out), "--steps", "1",
                     "--batch-size", "1", "--seq-len", "16", "--n-stories", "20"]) == 0
    assert frontend.load(out, with_tokenizer=False).model.config == SMALL


# ---------------------------------------------------------------- --reference

def test_report_reference_with_another_config_is_refused(tmp_path, capsys):
    src = _checkpoint(tmp_path / "src.bin", SMALL)
    other = _checkpoint(tmp_path / "other.bin", ModelConfig(dim=16, hidden_dim=32, n_layers=1, n_heads=2,
                                                            n_kv_heads=1, vocab_size=512, seq_len=32))
    out = tmp_path / "m.npz"
    rc = cli.main(["quantize", str(src), "--tokenizer", str(TOKENIZER), "--out", str(out), "--report",
                   "--reference", str(other)])
    err = capsys.readouterr().err
    assert rc == 1 and "does not have the config" in err and "hidden_dim 32 vs 24" in err
    assert not out.exists()                            # refused before the quantizer ran


def test_report_reference_needs_the_report(tmp_path, capsys):
    src = _checkpoint(tmp_path / "src.bin", SMALL)
    rc = cli.main(["quantize", str(src), "--tokenizer", str(TOKENIZER), "--out", str(tmp_path / "m.npz"),
                   "--reference", str(src)])
    assert rc == 1 and "--reference" in capsys.readouterr().err


def test_report_compares_against_the_reference(tmp_path, capsys):
    """With --reference the float column is the reference's: the same as the reference's own report."""
    a = _checkpoint(tmp_path / "a.bin", SMALL, seed=0)
    b = _checkpoint(tmp_path / "b.bin", SMALL, seed=1)
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("Tom had a red ball. He was happy.\nLily went to the park.\n")
    common = ["--tokenizer", str(TOKENIZER), "--report", "--report-bits", "8", "--heldout", str(heldout),
              "--calibration", "generate"]

    def ppl_float(*args):
        assert cli.main(["quantize", *args, *common]) == 0
        line = capsys.readouterr().out.strip().splitlines()[-1]
        return line.split()[6]                           # the "ppl float" cell

    own_a = ppl_float(str(a), "--out", str(tmp_path / "a.npz"))
    own_b = ppl_float(str(b), "--out", str(tmp_path / "b.npz"))
    b_vs_a = ppl_float(str(b), "--out", str(tmp_path / "ba.npz"), "--reference", str(a))
    assert own_a != own_b and b_vs_a == own_a
