"""The golden model: deterministic, close to the float model, strict about the context."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hw.calibrate import calibrate, calibrate_model, text_sequences
from hw.float_model import FloatRunner
from hw.golden import ContextFullError, GoldenModel
from hw.errors import HardwireError
from hw.quantize import quantize


@pytest.fixture(scope="module")
def tiny_int(tiny_model_factory):
    fm = tiny_model_factory(seed=5)
    return quantize(fm, calibrate(fm, random_sequences(fm, seed=0)), {"attention": 8, "mlp": 8})


def random_sequences(fm, seed: int, n: int = 6) -> list[list[int]]:
    """BOS + random tokens: a random model's own text is too repetitive to calibrate on."""
    rng = np.random.default_rng(seed)
    return [[1] + rng.integers(0, fm.config.vocab_size, fm.config.seq_len - 1).tolist() for _ in range(n)]


@pytest.fixture(scope="module")
def stories(shared_models):
    from hw.frontend.llama2c import load_llama2c
    from hw.tokenizer import Tokenizer

    fm = load_llama2c(shared_models / "stories260K.bin")
    tok = Tokenizer.load(shared_models / "tok512.bin", vocab_size=fm.config.vocab_size)
    im8 = quantize(fm, calibrate_model(fm, "generate"), {"attention": 8, "mlp": 8})
    return fm, tok, im8


def test_golden_is_deterministic(tiny_int):
    a = list(GoldenModel(tiny_int).generate([1, 5, 9], 10))
    b = list(GoldenModel(tiny_int).generate([1, 5, 9], 10))
    assert a == b and len(a) == 10
    s1 = list(GoldenModel(tiny_int).generate([1], 12, temperature=1.0, seed=7))
    s2 = list(GoldenModel(tiny_int).generate([1], 12, temperature=1.0, seed=7))
    assert s1 == s2
    t1, t2 = {}, {}
    GoldenModel(tiny_int).forward(3, t1)
    GoldenModel(tiny_int).forward(3, t2)
    assert t1.keys() == t2.keys() and all(np.array_equal(t1[k], t2[k]) for k in t1)


def test_trace_values_fit_their_widths(tiny_int):
    g, trace = GoldenModel(tiny_int), {}
    for tok in (1, 4, 8, 15):
        g.forward(tok, trace)
    for (name, _), v in trace.items():
        limit = {"emb": 1 << 15, "res_att": 1 << 15, "res": 1 << 15, "logits": 1 << 23}.get(name, 128)
        assert v.min() >= -limit and v.max() < limit, name


def test_reset_restores_identical_output(tiny_int):
    g = GoldenModel(tiny_int)
    first = list(g.generate([1, 2], 8))
    second = list(g.generate([3], 3))           # continues the same context
    g.reset()
    assert g.pos == 0
    assert list(g.generate([1, 2], 8)) == first
    assert second                                # (just used the state in between)


def test_context_full_and_overlong_prompt(tiny_int):
    g = GoldenModel(tiny_int, context=6)
    with pytest.raises(ContextFullError, match="does not fit"):
        list(g.generate([1] * 7, 1))
    out = list(g.generate([1, 2, 3], 10))        # stops when the context is full
    assert len(out) == 4 and g.pos == 6
    with pytest.raises(ContextFullError, match="full"):
        g.forward(1)
    with pytest.raises(ContextFullError):
        GoldenModel(tiny_int, context=tiny_int["rope_cos"].shape[0] + 1)
    with pytest.raises(HardwireError, match="vocabulary"):
        GoldenModel(tiny_int).forward(tiny_int.config.vocab_size)
    with pytest.raises(HardwireError, match="at least one token"):
        list(GoldenModel(tiny_int).generate([], 3))


def test_golden_tracks_float_on_tiny_model(tiny_model_factory, tiny_int):
    fm = tiny_model_factory(seed=5)
    runner, g = FloatRunner(fm), GoldenModel(tiny_int)
    s_logit = tiny_int.scales["s_logit"]
    for pos, tok in enumerate(random_sequences(fm, seed=1, n=1)[0]):   # not the calibration text
        lf = runner.forward(tok, pos)
        li = g.forward(tok) * s_logit
        assert np.linalg.norm(li - lf) < 0.15 * np.linalg.norm(lf), pos


def test_int16_queries_and_keys(tiny_model_factory, tiny_int):
    """quantize(qk_bits=16): q and k on 2**8 finer steps of the same range (their requant and the score's
    factor follow), values past int8 in q, k and the key cache, the rest of the trace as wide as before;
    the logits track the float model closer than with int8 q and k."""
    fm = tiny_model_factory(seed=5)
    calib = calibrate(fm, random_sequences(fm, seed=0))
    wide = quantize(fm, calib, {"attention": 8, "mlp": 8}, qk_bits=16)
    assert wide.knobs["qk_bits"] == 16 and "qk_bits" not in tiny_int.knobs
    np.testing.assert_allclose(np.array(wide.scales["s_q"]) * 256, tiny_int.scales["s_q"])
    np.testing.assert_allclose(np.array(wide.scales["s_k"]) * 256, tiny_int.scales["s_k"])
    with pytest.raises(HardwireError, match="qk_bits"):
        quantize(fm, calib, qk_bits=12)
    g16, g8, runner, trace = GoldenModel(wide), GoldenModel(tiny_int), FloatRunner(fm), {}
    err16 = err8 = 0.0
    for pos, tok in enumerate(random_sequences(fm, seed=1, n=1)[0]):
        lf = runner.forward(tok, pos)
        err16 += np.linalg.norm(g16.forward(tok, trace) * wide.scales["s_logit"] - lf)
        err8 += np.linalg.norm(g8.forward(tok) * tiny_int.scales["s_logit"] - lf)
        for (name, _), v in trace.items():
            limit = {"emb": 1 << 15, "res_att": 1 << 15, "res": 1 << 15, "logits": 1 << 23,
                     "q_pre": 1 << 15, "k_pre": 1 << 15, "q": 1 << 15, "k": 1 << 15}.get(name, 128)
            assert v.min() >= -limit and v.max() < limit, name
    assert max(np.abs(trace[("k", 0)]).max(), np.abs(g16.key_cache).max()) > 127
    assert err16 < err8


def test_golden_vs_float_teacher_forced_stories260k(stories):
    """8-bit weights on held-out text: the integer argmax equals the float argmax almost always."""
    from hw.train.corpus import heldout_stories

    fm, tok, im8 = stories
    seqs = text_sequences(heldout_stories()[40:43], tok, fm.config.seq_len)
    agree = total = 0
    for seq in seqs:
        runner, g = FloatRunner(fm), GoldenModel(im8)
        for pos, t in enumerate(seq):
            agree += int(np.argmax(runner.forward(t, pos)) == np.argmax(g.forward(t)))
            total += 1
    assert total > 200
    assert agree / total > 0.88, agree / total     # measured 0.927


def test_golden_greedy_starts_like_run_c(stories, reference):
    """The first greedy tokens from BOS equal llama2.c's (divergence comes later, at near-ties)."""
    _, _, im8 = stories
    runs, _ = reference
    ref = next(r for r in runs if r["prompt"] is None)["ids"]
    out = list(GoldenModel(im8).generate([1], 40))
    assert out[:40] == ref[:40]


def test_report_metrics_on_tiny_model(tiny_model_factory, tiny_int):
    """hw.report.compare: a model compared with its own float reference gives sane numbers."""
    from hw import report

    fm = tiny_model_factory(seed=5)
    seqs = random_sequences(fm, seed=2, n=2)
    ref = report.float_reference(fm, seqs, steps=12)
    row = report.compare(tiny_int, ref)
    assert len(ref.greedy) == 12 and ref.logits[0].shape == (len(seqs[0]), fm.config.vocab_size)
    assert 0.0 <= row["greedy_agree"] <= 1.0 and 0 <= row["greedy_prefix"] <= 12
    assert row["top1"] > 0.5 and row["kl"] >= 0.0
    assert abs(row["ppl_int"] / row["ppl_float"] - 1.0) < 0.2
    row.update(label="tiny", bits=tiny_int.knobs["bits"])
    table, md = report.format_table([row]), report.format_markdown([row])
    assert "tiny" in table and md.count("|") == 3 * (len(report.HEADER) + 1)


DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "default"


@pytest.mark.skipif(not (DEFAULT_MODEL / "model.bin").is_file(), reason="models/default not built")
def test_default_model_at_default_bits_tracks_float():
    """The shipped model, 4-bit attention/MLP: teacher-forced argmax agrees with float on held-out text."""
    from hw.frontend.llama2c import load_llama2c
    from hw.tokenizer import Tokenizer
    from hw.train.corpus import heldout_stories

    fm = load_llama2c(DEFAULT_MODEL / "model.bin")
    tok = Tokenizer.load(DEFAULT_MODEL / "tokenizer.bin", vocab_size=fm.config.vocab_size)
    im = quantize(fm, calibrate_model(fm, "generate"), tokenizer=tok)
    assert im.knobs["bits"] == {"embedding": 8, "attention": 4, "mlp": 4, "classifier": 8}
    assert im.meta["tokenizer_fingerprint"] == tok.fingerprint()
    agree = total = 0
    for seq in text_sequences(heldout_stories()[50:52], tok, fm.config.seq_len):
        runner, g = FloatRunner(fm), GoldenModel(im)
        for pos, t in enumerate(seq):
            agree += int(np.argmax(runner.forward(t, pos)) == np.argmax(g.forward(t)))
            total += 1
    assert total > 150
    assert agree / total > 0.93, agree / total     # measured 0.974


def test_bench_golden_reports_speed(tiny_int, tmp_path):
    from hw.bench_golden import bench, write

    result = bench(tiny_int, n_tokens=6, repeats=1)
    assert result["tokens"] == 6 and result["tokens_per_s"] > 0
    assert result["model_fingerprint"] == tiny_int.fingerprint
    write(result, tmp_path / "b" / "golden.json")
    assert (tmp_path / "b" / "golden.json").is_file()


def test_bench_golden_command_line(tiny_int, tmp_path, capsys):
    """python -m hw.bench_golden MODEL.npz: tokens capped at the context, the JSON written, errors named."""
    import json

    from hw.bench_golden import bench, load_int_model, main
    from hw.errors import HardwireError

    path = tmp_path / "tiny.npz"
    tiny_int.save(path)
    assert load_int_model(path).fingerprint == tiny_int.fingerprint
    out = tmp_path / "g.json"
    assert main([str(path), "--tokens", "1000", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    seq = tiny_int.config.seq_len
    assert doc["tokens"] == seq - 1 and doc["config"]["dim"] == tiny_int.config.dim    # capped at the context
    assert f"golden model: {seq - 1} tokens in" in capsys.readouterr().out
    with pytest.raises(HardwireError, match="--tokens must be at least 1, got 0"):
        bench(tiny_int, n_tokens=0)
    with pytest.raises(HardwireError, match="no such model"):
        load_int_model(tmp_path / "none.bin")
