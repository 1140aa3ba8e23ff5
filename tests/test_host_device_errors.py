"""host/device.py's refusals and error reports on the register-level fake core: settings out of
range are refused before any write, each error bit of STATUS becomes its own message, a token
outside the vocabulary or a token window out of order is a DeviceError, LoRA conversion without
hardware or model is refused, device URIs with bad option values are named."""
from __future__ import annotations

import dataclasses

import pytest

from host import registers as R
from host.device import Device, LoraError, PromptError, TokenSequenceError, open_device
from host.errors import DeviceError
from hw.golden import GoldenModel
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeCore, FakeTransport

K_MAX = 8


@pytest.fixture(scope="module")
def model():
    return random_int_model(5)


class ErrCore(FakeCore):
    """A core that answers START with the error bit `err` (done, nothing generated)."""

    def __init__(self, model, err: int):
        super().__init__(model, k_max=K_MAX)
        self.fail_with = err

    def _start(self):
        super()._start()
        self.job, self.busy, self.done, self.err = None, False, True, self.fail_with


def test_settings_out_of_range_are_refused_before_any_write(model):
    core = FakeCore(model, k_max=K_MAX)
    dev = Device(FakeTransport(core))
    core.writes.clear()
    with pytest.raises(PromptError, match="max_new_tokens must be >= 0, got -1"):
        dev.generate([1], -1)
    with pytest.raises(PromptError, match=r"top_k must be 0 \(= the device's K_MAX 8\) or positive, got 70000"):
        dev.generate([1], 2, top_k=70000)
    assert core.writes == []
    assert repr(dev) == f"<Device fake model {model.fingerprint[:12]}>"


@pytest.mark.parametrize("bit, message", [
    (R.ST_ERR_CONTEXT, r"ERR_CONTEXT \(prompt past its context of 16\); reset\(\) and shorten the prompt"),
    (R.ST_ERR_OVERFLOW, "ERR_OVERFLOW: prompt tokens were pushed into a full prompt FIFO"),
    (R.ST_ERR_PROMPT, r"ERR_PROMPT \(START without prompt tokens\)"),
    (R.ST_ERR_TOKEN, "ERR_TOKEN"),
])
def test_each_status_error_bit_is_reported(model, bit, message):
    dev = Device(FakeTransport(ErrCore(model, bit)))
    with pytest.raises(DeviceError, match=message):
        dev.generate_ids([1, 2], 3)


class BadTokenCore(FakeCore):
    """Outputs token `tok` (outside the vocabulary) as its first token."""

    def _generate(self, golden, prompt):
        for _ in prompt:
            yield None
        yield self.ident.vocab + 3


def test_a_token_outside_the_vocabulary_is_a_device_error(model):
    core = BadTokenCore(model, k_max=K_MAX)
    dev = Device(FakeTransport(core))
    with pytest.raises(DeviceError, match="the device produced token 40, outside its vocabulary of 37"):
        dev.generate_ids([1, 2], 3)
    assert not core.busy                              # the failed run was aborted
    core.__class__ = FakeCore                         # a healthy core again: the device is usable
    want = list(GoldenModel(model, k_max=K_MAX).generate([1, 2], 3))
    assert dev.generate_ids([1, 2], 3) == want


def test_a_token_window_out_of_order_is_a_sequence_error(model):
    core = FakeCore(model, k_max=K_MAX)
    dev = Device(FakeTransport(core))
    if not dev.numbered_read:
        pytest.skip("this fake core has no numbered token window")
    real = core.out.word

    def shifted(i):                                   # every word claims the next token's number
        w = real(i)
        if not w & R.TOKEN_VALID:
            return w
        no = ((w >> R.TOKEN_NO_SHIFT) + 1) & R.TOKEN_NO_MASK
        return (w & ~(R.TOKEN_NO_MASK << R.TOKEN_NO_SHIFT)) | (no << R.TOKEN_NO_SHIFT)

    core.out.word = shifted
    with pytest.raises(TokenSequenceError, match="holds token number"):
        dev.generate_ids([1, 2], 3)


def test_lora_conversion_needs_hardware_and_the_model(model, tmp_path):
    no_lora = Device(FakeTransport(FakeCore(model)))
    with pytest.raises(LoraError, match="no LoRA hardware"):
        no_lora.convert_peft(tmp_path, model)
    no_lora.clear_lora()                              # nothing to clear: no error, no write
    dev = Device(FakeTransport(FakeCore(model, k_max=K_MAX, lora_rank=2, lora_targets=("wq",))))
    with pytest.raises(LoraError, match="holds float weights; converting them needs the device's integer model"):
        dev.convert_peft(tmp_path, None)
    with pytest.raises(LoraError, match="the integer model given for the conversion is model"):
        dev.convert_peft(tmp_path, random_int_model(1))
    other = tmp_path / "other.npz"
    random_int_model(1).save(other)
    with pytest.raises(LoraError, match="the integer model given for the conversion is model"):
        dev.convert_peft(tmp_path, other)           # an .npz path is loaded first
    with pytest.raises(LoraError, match=r"layer 0: "):
        dev.pack_lora({(0, "wq"): dataclasses.replace(_zero_adapter(), a=[[0] * 3])})


def _zero_adapter():
    import numpy as np

    from hw.golden import LoraInt
    return LoraInt(np.zeros((2, 24), int), np.zeros((24, 2), int), 1 << 14, 13, 1 << 14, 11)


def test_device_option_values_are_checked():
    with pytest.raises(ValueError, match=r"device option baud='fast' is not a valid int"):
        open_device("serial:loop://?baud=fast")
    with pytest.raises(ValueError, match="unknown device option 'ip'; this transport takes timeout"):
        open_device("sim:/nowhere?ip=x")
