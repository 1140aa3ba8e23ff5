"""The float reference forward against run.c's reference runs and a literal port of run.c."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hw.frontend.llama2c import load_llama2c
from hw.errors import ConfigError, InputError
from hw.float_model import FloatRunner
from hw.tokenizer import Tokenizer

F32 = np.float32


@pytest.fixture(scope="module")
def stories(shared_models):
    return load_llama2c(shared_models / "stories260K.bin")


def test_reference_runs_token_for_token(stories, reference):
    runs, _ = reference
    assert len(runs) == 2
    runner = FloatRunner(stories)
    for run in runs:
        assert len(run["ids"]) == run["steps"]
        got = runner.generate_greedy(run["prompt_tokens"], run["steps"])
        assert got == run["ids"], f"first difference at step " \
            f"{next(i for i, (a, b) in enumerate(zip(got, run['ids'])) if a != b)}"


def test_reference_text(stories, reference, shared_models):
    _, text = reference
    tok = Tokenizer.load(shared_models / "tok512.bin", vocab_size=512)
    ids = FloatRunner(stories).generate_greedy([1], 256)
    assert tok.decode_all(ids) == text


# ------------------------------------------------------------------ a literal run.c port

def runc_forward(model, token: int, pos: int, kcache, vcache) -> np.ndarray:
    """run.c's forward() with its loops spelled out (float32), for small models only."""
    c, w = model.config, model.weights
    hs, kv_dim, kv_mul = c.head_dim, c.kv_dim, c.n_heads // c.n_kv_heads

    def rmsnorm(x, weight):
        ss = F32(0)
        for v in x:
            ss += v * v
        ss = F32(1) / F32(math.sqrt(ss / F32(len(x)) + F32(1e-5)))
        return np.array([weight[j] * (ss * x[j]) for j in range(len(x))], F32)

    x = w["token_embedding"][token].astype(F32).copy()
    for l in range(c.n_layers):
        xb = rmsnorm(x, w["rms_att"][l])
        q = w["wq"][l] @ xb
        k = w["wk"][l] @ xb
        v = w["wv"][l] @ xb
        for i in range(0, c.dim, 2):
            head_dim = i % hs
            freq = F32(1.0) / F32(10000.0 ** (head_dim / hs))
            val = F32(pos) * freq
            fcr, fci = F32(math.cos(val)), F32(math.sin(val))
            for vec in ((q, k) if i < kv_dim else (q,)):
                v0, v1 = vec[i], vec[i + 1]
                vec[i], vec[i + 1] = v0 * fcr - v1 * fci, v0 * fci + v1 * fcr
        kcache[l, pos], vcache[l, pos] = k, v
        xb = np.zeros(c.dim, F32)
        for h in range(c.n_heads):
            qh = q[h * hs:(h + 1) * hs]
            kv = (h // kv_mul) * hs
            att = np.array([np.dot(qh, kcache[l, t, kv:kv + hs]) / F32(math.sqrt(hs))
                            for t in range(pos + 1)], F32)
            att = np.exp(att - att.max())
            att /= att.sum()
            for t in range(pos + 1):
                xb[h * hs:(h + 1) * hs] += att[t] * vcache[l, t, kv:kv + hs]
        x = x + w["wo"][l] @ xb
        xb = rmsnorm(x, w["rms_ffn"][l])
        hb, hb2 = w["w1"][l] @ xb, w["w3"][l] @ xb
        hb = hb * (F32(1) / (F32(1) + np.exp(-hb))) * hb2
        x = x + w["w2"][l] @ hb
    x = rmsnorm(x, w["rms_final"])
    return w["wcls"] @ x


@pytest.mark.parametrize("shared, n_heads, n_kv_heads", [
    (True, 3, 1), (False, 3, 3), (True, 6, 3)])   # 3:1 and 2:1 grouped-query, plain MHA
def test_matches_literal_runc_port(tiny_model_factory, shared, n_heads, n_kv_heads):
    m = tiny_model_factory(seed=3, shared=shared, n_heads=n_heads, n_kv_heads=n_kv_heads)
    c = m.config
    runner = FloatRunner(m)
    kcache = np.zeros((c.n_layers, c.seq_len, c.kv_dim), F32)
    vcache = np.zeros_like(kcache)
    tokens = [1, 5, 36, 0, 17, 17, 2, 30, 9, 11, 4, 22, 8, 13, 35, 6]
    for pos, token in enumerate(tokens):  # every position of the context
        want = runc_forward(m, token, pos, kcache, vcache)
        got = runner.forward(token, pos)
        assert got.dtype == np.float32 and got.shape == (c.vocab_size,)
        # only the summation order differs: float32 rounding, nothing more
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


# ------------------------------------------------------------------ recorded activations

def test_record(tiny_model):
    c = tiny_model.config
    runner = FloatRunner(tiny_model)
    for pos, token in enumerate([1, 7, 20]):
        rec: dict = {}
        logits = runner.forward(token, pos, record=rec)
    per_layer = {"res_in": c.dim, "res_mid": c.dim, "xa": c.dim, "q_pre": c.dim, "q": c.dim,
                 "k_pre": c.kv_dim, "k": c.kv_dim, "v": c.kv_dim, "att": c.dim,
                 "xf": c.dim, "h1": c.hidden_dim, "h3": c.hidden_dim, "g": c.hidden_dim}
    expected = {(n, l) for n in per_layer for l in range(c.n_layers)}
    expected |= {("res_in", c.n_layers), ("xc", None), ("logits", None)}
    assert set(rec) == expected
    for (name, layer), arr in rec.items():
        want = per_layer.get(name, {"xc": c.dim, "logits": c.vocab_size}.get(name))
        assert arr.shape == (want,) and arr.dtype == np.float32, (name, layer)
    assert np.array_equal(rec[("logits", None)], logits)
    h1, h3 = rec[("h1", 1)], rec[("h3", 1)]
    np.testing.assert_allclose(rec[("g", 1)], h1 / (1 + np.exp(-h1)) * h3, rtol=1e-5, atol=1e-6)
    # RoPE rotates pairs: their lengths survive, their values change (pos 2 != 0)
    q_pre, q = rec[("q_pre", 0)].reshape(-1, 2), rec[("q", 0)].reshape(-1, 2)
    np.testing.assert_allclose(np.hypot(*q.T), np.hypot(*q_pre.T), rtol=1e-5)
    assert not np.allclose(q, q_pre)
    mid = rec[("res_in", 1)] + tiny_model["wo"][1] @ rec[("att", 1)]
    np.testing.assert_allclose(rec[("res_mid", 1)], mid, rtol=1e-5, atol=1e-6)
    x = rec[("res_in", c.n_layers)]
    xc = tiny_model["rms_final"] * x / np.sqrt(np.mean(x * x) + 1e-5)
    np.testing.assert_allclose(rec[("xc", None)], xc, rtol=1e-5, atol=1e-6)
    for arr in rec.values():  # copies, not views of the runner's buffers
        assert not np.shares_memory(arr, runner.key_cache)
        assert not np.shares_memory(arr, runner.value_cache)
    # recording does not change the result
    runner.reset()
    for pos, token in enumerate([1, 7, 20]):
        plain = runner.forward(token, pos)
    assert np.array_equal(plain, logits)


# ------------------------------------------------------------------ the generation loop and bad input

def test_generate_loop_mirrors_runc(tiny_model, monkeypatch):
    runner = FloatRunner(tiny_model)
    calls = []
    script = [5, 7, 1, 9]  # argmax per step once past the prompt

    def fake_forward(token, pos, record=None):
        calls.append((token, pos))
        logits = np.zeros(tiny_model.config.vocab_size, F32)
        logits[script[min(pos, len(script) - 1)]] = 1
        return logits

    monkeypatch.setattr(runner, "forward", fake_forward)
    assert runner.generate_greedy([1], 10) == [5, 7]           # stops before BOS
    assert calls == [(1, 0), (5, 1), (7, 2)]
    calls.clear()
    assert runner.generate_greedy([1, 4, 6], 10) == [4, 6]  # prompt forced, then BOS
    assert calls == [(1, 0), (4, 1), (6, 2)]
    assert runner.generate_greedy([1, 4, 6, 8], 2) == [4, 6]     # steps count positions
    assert runner.generate_greedy([3], 2) == [5, 7]


def test_bad_input(tiny_model, tiny_model_factory):
    runner = FloatRunner(tiny_model, max_seq_len=4)
    with pytest.raises(InputError, match="outside the vocabulary"):
        runner.forward(37, 0)
    with pytest.raises(InputError, match="skips"):
        runner.forward(1, 1)
    for pos in range(4):
        runner.forward(1, pos)
    with pytest.raises(InputError, match="past the context"):
        runner.forward(1, 4)
    runner.forward(2, 1)                     # going back restarts the context there
    with pytest.raises(InputError, match="skips"):
        runner.forward(1, 3)
    with pytest.raises(InputError, match="steps"):
        runner.generate_greedy([1], 5)
    with pytest.raises(InputError, match="empty"):
        runner.generate_greedy([], 2)
    with pytest.raises(ConfigError, match="max_seq_len"):
        FloatRunner(tiny_model, max_seq_len=17)


def test_reset_gives_identical_runs(tiny_model):
    runner = FloatRunner(tiny_model)
    first = runner.generate_greedy([1, 3, 4], 16)
    assert len(first) >= 2 and all(0 <= t < 37 for t in first)
    assert runner.generate_greedy([1, 3, 4], 16) == first
