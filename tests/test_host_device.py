"""host/device.py over a register-level fake of the core: the streaming API gives exactly
GoldenModel.generate, refuses bad input before touching the device, never hangs."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from host import registers as R
from host.device import Device, LoraError, PromptError, open_device
from host.errors import DeviceError, DeviceTimeout
from host.metadata import IdentityMismatch, Metadata
from host.tokenizer import Tokenizer
from hw.golden import GoldenModel, LoraInt
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeCore, FakeTransport

K_MAX = 8


@pytest.fixture(scope="module")
def model():
    return random_int_model(5)


def golden(model, prompt, n, **kw):
    g = GoldenModel(model, k_max=K_MAX)
    return list(g.generate(prompt, n, **kw))


def tiny_tokenizer(n=37):
    # every single letter is a token, plus a few merges: enough to encode short prompts
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n", b" "] + [bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz"]
    pieces += [b"ab", b" a", b"ba", b"cd", b"abc", b"xy", b"zz"][:n - len(pieces)]
    return Tokenizer(pieces, [0.0] * 30 + [float(i) for i in range(n - 30)], source="tiny")


@pytest.mark.parametrize("kw", [{}, {"temperature": 3.0, "top_k": 5, "seed": 11},
                                {"temperature": 8.0, "seed": 0}, {"temperature": 2.0, "top_k": 1}])
def test_generate_equals_golden(model, kw):
    dev = Device(FakeTransport(FakeCore(model, k_max=K_MAX)))
    for prompt in ([1], [1, 5, 9, 2, 30], list(range(1, 12))):
        toks = list(dev.generate(prompt, 9, **kw))
        assert [t.id for t in toks] == golden(model, prompt, 9, **kw), (prompt, kw)
        assert [t.index for t in toks] == list(range(len(toks)))
        assert dev.last_run.tokens == len(toks) and dev.last_run.prompt_tokens == len(prompt)


def test_stop_token_and_full_context(model):
    dev = Device(FakeTransport(FakeCore(model, k_max=K_MAX)))
    ref = golden(model, [1, 3], 12)
    stop = ref[4]
    got = dev.generate_ids([1, 3], 12, stop_token=stop)
    assert got == golden(model, [1, 3], 12, stop_token=stop) and got[-1] == stop
    assert dev.last_run.stopped_by == "stop_token"
    # context 16: a 10-token prompt leaves room for 7 generated tokens
    prompt = list(range(1, 11))
    got = dev.generate_ids(prompt, 50)
    assert got == golden(model, prompt, 50) and len(got) == 7
    assert dev.last_run.stopped_by == "context"


def test_continuation_without_reset(model):
    dev = Device(FakeTransport(FakeCore(model, k_max=K_MAX)))
    g = GoldenModel(model, k_max=K_MAX)
    first = dev.generate_ids([1, 4], 3)
    assert first == list(g.generate([1, 4], 3))
    second = dev.generate_ids([first[-1], 7], 3, reset=False)
    assert second == list(g.generate([first[-1], 7], 3))
    assert dev.position() == g.pos


def test_text_prompt_and_streamed_text(model):
    tok = tiny_tokenizer()
    dev = Device(FakeTransport(FakeCore(model, k_max=K_MAX)), tokenizer=tok)
    ids = tok.encode("abc ab cd")
    toks = list(dev.generate("abc ab cd", 8))
    assert [t.id for t in toks] == golden(model, ids, 8)
    assert "".join(t.text for t in toks) == tok.decode_all([t.id for t in toks], prev_token=ids[-1])


def test_bad_prompts_are_refused_before_any_write(model):
    core = FakeCore(model, k_max=K_MAX)
    dev = Device(FakeTransport(core))
    core.writes.clear()
    with pytest.raises(PromptError, match=r"prompt of 17 tokens does not fit the context of 16 positions"):
        dev.generate([1] * 17, 4)
    with pytest.raises(PromptError, match="outside the vocabulary 0..36"):
        dev.generate([1, 37], 4)
    with pytest.raises(PromptError, match="at least one token"):
        dev.generate([], 4)
    with pytest.raises(PromptError, match="needs a tokenizer"):
        dev.generate("hello", 4)
    with pytest.raises(PromptError, match="stop_token 99"):
        dev.generate([1], 4, stop_token=99)
    assert core.writes == []
    # continuing: the limit counts the positions already used
    dev.generate_ids(list(range(1, 11)), 3)
    with pytest.raises(PromptError, match=r"\(4 left at position 12\)"):
        dev.generate([1] * 5, 1, reset=False)


def test_early_break_aborts_and_device_stays_usable(model):
    core = FakeCore(model, k_max=K_MAX)
    dev = Device(FakeTransport(core))
    gen = dev.generate([1, 2], 10)
    next(gen)
    gen.close()
    assert (R.CONTROL, R.CTRL_ABORT) in core.writes
    assert not core.busy and not core.out
    assert dev.generate_ids([1, 2], 5) == golden(model, [1, 2], 5)


def test_a_device_that_stops_producing_times_out(model):
    core = FakeCore(model, k_max=K_MAX)
    dev = Device(FakeTransport(core), timeout=0.3)
    core.hang = True
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no token for 0.3 s"):
        dev.generate_ids([1, 2], 4)
    assert time.monotonic() - t0 < 5


def test_device_errors_are_reported(model):
    core = FakeCore(model, k_max=K_MAX)
    dev = Device(FakeTransport(core))
    core.regs[R.VOCAB // 4] = 40          # make the driver let token 38 through to the device
    dev._identity = dataclasses.replace(dev._identity, vocab=40)
    with pytest.raises(DeviceError, match="ERR_TOKEN"):
        dev.generate_ids([1, 38], 3)


def test_not_a_hardwire_device(model):
    core = FakeCore(model)
    core.regs[0] = 0x12345678
    with pytest.raises(DeviceError, match="not the hardwire magic"):
        Device(FakeTransport(core))


def test_metadata_and_tokenizer_mismatch_refused(model):
    core = FakeCore(model, k_max=K_MAX)
    good = Metadata(dataclasses.replace(core.ident))
    Device(FakeTransport(core), metadata=good)
    stale = Metadata(dataclasses.replace(core.ident, fingerprint="0" * 64))
    with pytest.raises(IdentityMismatch, match=f"runs model {model.fingerprint}.*describes model {'0' * 64}"):
        Device(FakeTransport(core), metadata=stale)
    with pytest.raises(IdentityMismatch, match="vocabulary of 37"):
        Device(FakeTransport(core), tokenizer=tiny_tokenizer(36))


def _adapter(rng, out, inp, rank):
    return LoraInt(rng.integers(-127, 128, (rank, inp)), rng.integers(-127, 128, (out, rank)),
                   int(rng.integers(1 << 14, 1 << 15)), 14, int(rng.integers(1 << 14, 1 << 15)), 12)


def test_lora_changes_output_as_golden_and_clear_restores(model, tmp_path):
    core = FakeCore(model, k_max=K_MAX, lora_rank=2, lora_targets=("wq", "wv", "w2"))
    dev = Device(FakeTransport(core))
    cfg = model.config
    rng = np.random.default_rng(0)
    adapters = {(0, "wq"): _adapter(rng, cfg.dim, cfg.dim, 2), (1, "w2"): _adapter(rng, cfg.dim, cfg.hidden_dim, 2)}
    base = golden(model, [1, 6], 8)
    dev.load_lora(adapters)
    g = GoldenModel(model, k_max=K_MAX)
    for (layer, target), a in adapters.items():
        g.set_lora(layer, target, a)
    want = list(g.generate([1, 6], 8))
    assert want != base                  # the adapter matters for this model
    assert dev.generate_ids([1, 6], 8) == want
    assert core.regs[R.LORA_ENABLE // 4] == 1          # the LoRA passes run with an adapter loaded
    dev.clear_lora()
    assert core.regs[R.LORA_ENABLE // 4] == 0          # and are skipped (no-LoRA speed) without one
    assert dev.generate_ids([1, 6], 8) == base
    with pytest.raises(LoraError, match="adapts only wq, wv, w2"):
        dev.load_lora({(0, "wk"): adapters[(0, "wq")]})
    with pytest.raises(LoraError, match="layer 5 is outside 0..1"):
        dev.load_lora({(5, "wq"): adapters[(0, "wq")]})
    with pytest.raises(LoraError, match=r"needs a \(2, 24\)"):
        dev.load_lora({(0, "wv"): adapters[(0, "wq")]})
    # the same adapters from an .npz file of hw.lora.save_adapters
    from hw.lora import save_adapters
    save_adapters(adapters, tmp_path / "lora.npz", model)
    dev.load_lora(tmp_path / "lora.npz")
    assert dev.generate_ids([1, 6], 8) == want
    save_adapters(adapters, tmp_path / "other.npz", random_int_model(1))
    with pytest.raises(LoraError, match="made for model"):
        dev.load_lora(tmp_path / "other.npz")
    with pytest.raises(LoraError, match="no such LoRA adapter file"):
        dev.load_lora(tmp_path / "none.npz")
    no_lora = Device(FakeTransport(FakeCore(model)))
    with pytest.raises(LoraError, match="no LoRA hardware"):
        no_lora.load_lora(adapters)


def test_open_device_uri_errors():
    with pytest.raises(ValueError, match="unknown scheme 'usb'"):
        open_device("usb:/dev/x")
    with pytest.raises(ValueError, match="names no target"):
        open_device("serial:")
    with pytest.raises(ValueError, match="unknown device option 'speed'"):
        open_device("serial:loop://?speed=9600")


def test_a_prompt_past_the_context_and_the_fifo_is_told_about_the_context(model):
    """Both limits broken: the message names the one a rebuild lifts (--context), not the prompt FIFO."""
    core = FakeCore(model, k_max=K_MAX)
    core.regs[R.PROMPT_DEPTH // 4] = 9          # as a context-8 build has it
    dev = Device(FakeTransport(core))
    assert dev.prompt_depth == 9
    with pytest.raises(PromptError, match=r"prompt of 20 tokens does not fit the context of 16 positions.*--context"):
        dev.generate([1] * 20, 4)
    with pytest.raises(PromptError, match=r"prompt of 12 tokens does not fit the device's prompt FIFO of 9"):
        dev.generate([1] * 12, 4)
