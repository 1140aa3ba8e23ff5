"""The project's own default model (models/default) and the pipeline that trains it.

The committed files must load, belong together, be small enough for an
ECP5-85F at 4 bits and write English; the corpus, tokenizer and training
arithmetic must be deterministic and exact. Nothing here trains the model.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from hw.frontend.llama2c import load_llama2c
from hw.float_model import FloatRunner
from hw.model import ModelConfig
from hw.tokenizer import Tokenizer, check_tokenizer_matches
from hw.train import bpe, corpus
from hw.train import train as tr

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default"
ECP5_85F_BRAM_BITS = 208 * 18 * 1024          # 208 DP16KD of 18 kbit
PROMPT = "Once upon a time"


@pytest.fixture(scope="module")
def model():
    return load_llama2c(MODEL_DIR / "model.bin")


@pytest.fixture(scope="module")
def tokenizer(model):
    return Tokenizer.load(MODEL_DIR / "tokenizer.bin", model.config.vocab_size)


@pytest.fixture(scope="module")
def sample_lines():
    return (MODEL_DIR / "corpus_sample.txt").read_text(encoding="utf-8").splitlines()


def english_problems(text: str, vocabulary: set[str]) -> list[str]:
    """Why `text` does not read as English story text ([] when it does).

    A "word" is any run of non-space characters stripped of punctuation, so
    gibberish like 'wtheed' or byte soup counts against the text; a model
    stuck repeating one word fails on variety."""
    words = [re.sub(r"[^A-Za-z']", "", w).lower() for w in text.split()]
    words = [w for w in words if w]
    problems = []
    if len(words) < 20:
        problems.append(f"only {len(words)} words")
    elif sum(w in vocabulary for w in words) / len(words) < 0.95:
        problems.append(f"{sum(w in vocabulary for w in words)} of {len(words)} are corpus words")
    if len(set(words)) < 10:
        problems.append(f"only {len(set(words))} different words")
    if any(a == b == c for a, b, c in zip(words, words[1:], words[2:])):
        problems.append("a word repeated three times in a row")
    if not re.search(r"[.!?]", text):
        problems.append("no sentence ends")
    return problems


def greedy_text(model, tok: Tokenizer, steps: int = 96) -> str:
    ids = FloatRunner(model).generate_greedy(tok.encode(PROMPT), steps)
    return tok.decode_all(ids)


# ---------------------------------------------------------------- the committed model

def test_committed_model_has_the_documented_config(model):
    assert model.config == tr.DEFAULT_CONFIG
    cfg = model.config
    assert cfg.hidden_dim % 64 != 0            # on purpose: uneven lanes/groups get tested
    assert cfg.n_kv_heads < cfg.n_heads        # grouped-query attention is exercised
    assert model.weights["wcls"] is model.weights["token_embedding"] or \
        np.array_equal(model.weights["wcls"], model.weights["token_embedding"])


def test_parameter_count_fits_an_ecp5_85f_at_4_bits(model):
    cfg = model.config
    counted = sum(w.size for k, w in model.weights.items() if k != "wcls")
    assert counted == tr.n_params(cfg)
    assert 100_000 <= counted <= 300_000
    assert counted * 4 < ECP5_85F_BRAM_BITS // 3   # weights leave room for KV cache and LoRA


def test_tokenizer_matches_the_model(model, tokenizer):
    check_tokenizer_matches(model, tokenizer)
    assert tokenizer.vocab[:3] == [b"<unk>", b"\n<s>\n", b"\n</s>\n"]
    assert tokenizer.vocab[3:259] == [f"<0x{b:02X}>".encode() for b in range(256)]


def test_committed_tokenizer_is_what_the_pipeline_learns(tokenizer):
    tc = tr.TrainConfig()
    texts = corpus.training_stories(tc.seed, tc.bpe_stories)
    vocab = bpe.train_bpe(texts, tr.DEFAULT_CONFIG.vocab_size)
    assert Tokenizer(vocab.pieces, vocab.scores).serialize() == tokenizer.serialize()


def test_corpus_sample_is_the_heldout_split(sample_lines):
    held = corpus.heldout_stories()
    assert sample_lines == held[:tr.SAMPLE_STORIES]
    train_head = set(corpus.training_stories(tr.TrainConfig().seed, 2000))
    assert not train_head & set(sample_lines)


def test_greedy_continuation_is_english(model, tokenizer):
    text = greedy_text(model, tokenizer)
    assert text.startswith(PROMPT)
    continuation = text[len(PROMPT):]
    assert english_problems(continuation, corpus.vocabulary()) == [], text
    assert max(len(w) for w in continuation.split()) <= 16, text   # no run-on soup


def test_english_check_rejects_noise_and_an_untrained_model(tokenizer):
    """The check above can fail: random weights of the same shape repeat one
    token, and random token ids decode to word salad with fragments."""
    params = tr.init_params(tr.DEFAULT_CONFIG, np.random.default_rng(0))
    text = greedy_text(tr.to_float_model(tr.DEFAULT_CONFIG, params), tokenizer, steps=48)
    assert english_problems(text[len(PROMPT):], corpus.vocabulary()) != []
    ids = np.random.default_rng(1).integers(259, tokenizer.vocab_size, 60)
    noise = tokenizer.decode_all([int(i) for i in ids])
    assert english_problems(noise, corpus.vocabulary()) != [], noise


def test_heldout_loss_is_low(model, tokenizer, sample_lines):
    """Perplexity on unseen stories: a trained model, not one that memorised."""
    ids = np.asarray([tokenizer.encode(sample_lines[0])[:129]])          # (1, 129)
    loss, _ = tr.loss_and_grads(dict(model.weights), model.config, ids, need_grads=False)
    assert loss < 1.0, f"held-out loss {loss:.3f} (perplexity {math.exp(loss):.1f})"


# ---------------------------------------------------------------- corpus and tokenizer

def test_corpus_is_deterministic_for_a_seed():
    a, b = corpus.stories(7, 30), corpus.stories(7, 30)
    assert a == b
    assert a != corpus.stories(8, 30)
    assert len(set(a)) == 30
    assert corpus.heldout_stories() == corpus.heldout_stories()
    assert not set(corpus.heldout_stories()) & set(corpus.training_stories(7, 500))
    assert all(s.endswith((".", "!", "\"")) for s in a)


def test_bpe_round_trips_the_heldout_text(tokenizer, sample_lines):
    n_chars = n_ids = 0
    for line in sample_lines:
        ids = tokenizer.encode(line)
        assert tokenizer.decode_all(ids[1:]) == line
        assert all(i >= 259 for i in ids[1:])    # no byte fallback on corpus text
        n_chars, n_ids = n_chars + len(line), n_ids + len(ids)
    assert n_chars / n_ids > 2.0                 # the merges compress the text


def test_fast_encoder_equals_run_c_encoder(tokenizer, sample_lines):
    """bpe.BPEVocab.encode (chunked, cached) gives exactly run.c's ids."""
    vocab = bpe.BPEVocab(tokenizer.vocab, tokenizer.scores)
    texts = sample_lines[:8] + ["Hello,   world!! 42 times\n\ttabs \u00e9t\u00e9 \u2603 <0x41> ok."]
    for text in texts:
        assert vocab.encode(text) == tokenizer.encode(text)
        assert vocab.decode(vocab.encode(text)) == text


def test_bpe_is_deterministic_and_rejects_a_too_small_vocab():
    texts = corpus.stories(3, 200)
    a, b = bpe.train_bpe(texts, 340), bpe.train_bpe(texts, 340)
    assert a.pieces == b.pieces and a.scores == b.scores
    assert len(a.pieces) == 340 and len(set(a.pieces)) == 340
    with pytest.raises(bpe.BPEError, match="too small"):
        bpe.train_bpe(texts, 300)



def test_bpe_vocab_checks_and_byte_fallback():
    with pytest.raises(bpe.BPEError, match="3 pieces but 2 scores"):
        bpe.BPEVocab([b"a", b"b", b"c"], [0.0, 0.0])
    with pytest.raises(bpe.BPEError, match="duplicate pieces"):
        bpe.BPEVocab([b"a", b"a"], [0.0, 0.0])
    vocab = bpe.train_bpe(["ab ab ab"], 264)
    assert vocab.vocab_size == 264
    # 'z' is not in the vocabulary: its byte-fallback token, and EOS on request
    ids = vocab.encode("ab z", eos=True)
    assert ids[0] == bpe.BOS and ids[-1] == bpe.EOS and bpe.N_SPECIAL + ord("z") in ids
    assert vocab.decode(ids) == "ab z" and vocab.encode("", bos=False) == []
    with pytest.raises(bpe.BPEError, match=r"supports only 2 merges; lower vocab_size to 264"):
        bpe.train_bpe(["ab ab ab"], 270)

# ---------------------------------------------------------------- training arithmetic

TINY = ModelConfig(dim=8, hidden_dim=12, n_layers=2, n_heads=4, n_kv_heads=2,
                   vocab_size=11, seq_len=8)


def _tiny_params(dtype=np.float64):
    rng = np.random.default_rng(0)
    p = tr.init_params(TINY, rng, dtype)
    return {k: (v + rng.normal(0, 0.3, v.shape)).astype(dtype) for k, v in p.items()}


def test_backward_matches_finite_differences():
    p = _tiny_params()
    tokens = np.random.default_rng(1).integers(0, TINY.vocab_size, (2, 7))
    _, grads = tr.loss_and_grads(p, TINY, tokens)
    rng = np.random.default_rng(2)
    for name in p:
        for _ in range(4):
            i = tuple(int(rng.integers(0, s)) for s in p[name].shape)
            old, h = p[name][i], 1e-6
            p[name][i] = old + h
            up, _ = tr.loss_and_grads(p, TINY, tokens, need_grads=False)
            p[name][i] = old - h
            down, _ = tr.loss_and_grads(p, TINY, tokens, need_grads=False)
            p[name][i] = old
            num = (up - down) / (2 * h)
            assert abs(num - grads[name][i]) <= 1e-6 * max(1.0, abs(num)), (name, i)


def test_training_forward_is_the_float_reference():
    """The model is trained with exactly the arithmetic run.c (and FloatRunner) uses."""
    p = _tiny_params(np.float32)
    tokens = [1, 5, 3, 9, 10, 4, 7, 2]
    logits, _ = tr.forward(p, TINY, np.asarray([tokens]))               # (1, T, V)
    runner = FloatRunner(tr.to_float_model(TINY, p))
    ref = np.stack([runner.forward(t, pos) for pos, t in enumerate(tokens)])
    np.testing.assert_allclose(logits[0], ref, rtol=1e-4, atol=1e-4)


def test_adamw_reduces_the_loss():
    p = _tiny_params(np.float32)
    tc = tr.TrainConfig(steps=40, warmup=5, lr=1e-2, min_lr=1e-3)
    opt = tr.AdamW(p, tc)
    tokens = np.random.default_rng(3).integers(0, TINY.vocab_size, (4, 8))
    first, _ = tr.loss_and_grads(p, TINY, tokens, need_grads=False)
    for step in range(tc.steps):
        _, g = tr.loss_and_grads(p, TINY, tokens)
        opt.step(p, g, tr.lr_at(step, tc))
    last, _ = tr.loss_and_grads(p, TINY, tokens, need_grads=False)
    assert last < 0.5 * first


def test_the_pipeline_trains_a_tiny_model_and_exports_loadable_files(tmp_path):
    """train() -> export() on a tiny configuration, three steps: the files load back as the same
    model and tokenizer, the held-out losses are logged and recorded in the README."""
    cfg = ModelConfig(dim=8, hidden_dim=12, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=330, seq_len=16)
    tc = tr.TrainConfig(seed=3, n_stories=40, bpe_stories=40, batch_size=2, seq_len=8, steps=3, eval_every=2,
                        warmup=1)
    lines = []
    params, vocab, stats = tr.train(cfg, tc, log=lines.append)
    assert vocab.vocab_size == 330 and [s for s, _ in stats["eval"]] == [2, 3]
    assert stats["heldout_loss"] == stats["eval"][-1][1]
    assert all(math.log(330) - 1.5 < l < math.log(330) + 1.5 for _, l in stats["eval"])   # barely trained
    assert stats["heldout_loss_full"] > 0 and stats["tokens"] > 40
    assert lines[0].startswith("corpus: 40 stories") and sum(ln.startswith("step ") for ln in lines) == 2
    sample = tr.export(tmp_path, cfg, tc, params, vocab, stats, "python -m hw.train.train --steps 3", lines.append)
    m = load_llama2c(tmp_path / "model.bin")
    assert m.config.dim == 8 and m.config.vocab_size == 330
    np.testing.assert_allclose(m.weights["wq"], params["wq"], rtol=1e-6)
    tok = Tokenizer.load(tmp_path / "tokenizer.bin", 330)
    assert tok.vocab == vocab.pieces
    readme = (tmp_path / "README.md").read_text()
    assert "python -m hw.train.train --steps 3" in readme and f"{stats['eval'][0][1]:.3f}" in readme
    assert "first 16 tokens of each story" in readme          # trained on 8 of the 16 positions
    assert lines[-1] == f"greedy sample: {sample}"
    assert (tmp_path / "corpus_sample.txt").read_text().count("\n") == tr.SAMPLE_STORIES
    with pytest.raises(SystemExit, match="--seq-len 999 exceeds the model's context 256"):
        tr.main(["--out", str(tmp_path / "x"), "--seq-len", "999"])
