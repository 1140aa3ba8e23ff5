"""hw/frontend/registry.py: the one checkpoint loader every command uses."""
import pytest

from hw import frontend
from hw.errors import CheckpointError, ConfigError, TokenizerError
from hw.frontend.hf_folder import save_hf_folder
from hw.frontend.llama2c import save_llama2c
from hw.tokenizer import Tokenizer


def _tokenizer(path, vocab_size: int):
    vocab = [b"<unk>", b"<s>", b"</s>", b" "] + [bytes([65 + i]) for i in range(vocab_size - 4)]
    Tokenizer(vocab, [0.0] * len(vocab)).save(path)
    return path


def test_a_file_is_llama2c_and_finds_the_tokenizer_beside_it(tmp_path, tiny_model):
    save_llama2c(tiny_model, tmp_path / "m.bin")
    assert frontend.load(tmp_path / "m.bin").tokenizer is None          # none beside it yet
    tok = _tokenizer(tmp_path / "tok9.bin", tiny_model.config.vocab_size)
    ckpt = frontend.load(tmp_path / "m.bin")
    assert ckpt.format == "llama2.c .bin" and ckpt.folder == tmp_path and ckpt.tokenizer_file == tok
    assert ckpt.tokenizer.vocab_size == tiny_model.config.vocab_size
    assert frontend.load(tmp_path / "m.bin", with_tokenizer=False).tokenizer is None


def test_a_folder_is_hugging_face_and_brings_its_own_tokenizer(tmp_path, tiny_model):
    save_hf_folder(tiny_model, tmp_path / "hf")
    ckpt = frontend.load(tmp_path / "hf")
    assert ckpt.format.startswith("Hugging Face folder") and ckpt.folder == tmp_path / "hf"
    assert ckpt.tokenizer is None and ckpt.tokenizer_file is None       # no tokenizer.json written
    tok = _tokenizer(tmp_path / "t.bin", tiny_model.config.vocab_size)
    ckpt = frontend.load(tmp_path / "hf", tok)
    assert ckpt.tokenizer_file == tok and ckpt.tokenizer.vocab_size == tiny_model.config.vocab_size


def test_bad_inputs_keep_their_loaders_messages(tmp_path, tiny_model):
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        frontend.load(tmp_path / "missing.bin")
    with pytest.raises(ConfigError, match="no config.json"):
        frontend.load(tmp_path)
    save_llama2c(tiny_model, tmp_path / "m.bin")
    small = _tokenizer(tmp_path / "other", tiny_model.config.vocab_size - 1)
    with pytest.raises(TokenizerError):
        frontend.load(tmp_path / "m.bin", small)
