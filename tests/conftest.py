"""Shared fixtures: the external stories260K model and tiny random models."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hw.model import FloatModel, ModelConfig

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """../shared/models (stories260K.bin, tok512.bin, reference_tokens.txt), or skip."""
    needed = ("stories260K.bin", "tok512.bin", "reference_tokens.txt")
    if not all((SHARED_MODELS / name).is_file() for name in needed):
        pytest.skip(f"external test model not found in {SHARED_MODELS}")
    return SHARED_MODELS


def parse_reference(path: Path) -> tuple[list[dict], str]:
    """The runs of reference_tokens.txt and the decoded text of the run from BOS.

    Each run: {"prompt": str | None, "steps": int, "prompt_tokens": [...], "ids": [...]}.
    """
    runs: list[dict] = []
    text_lines: list[str] | None = None
    for line in path.read_text().splitlines():
        if text_lines is not None:
            text_lines.append(line)
        elif line.startswith("## text"):
            text_lines = []
        elif line.startswith("## "):
            prompt = re.search(r'prompt "(.*)"', line)
            runs.append({"prompt": prompt.group(1) if prompt else None,
                         "steps": int(re.search(r"-n (\d+)", line).group(1))})
        elif line.startswith("prompt_tokens"):
            runs[-1]["prompt_tokens"] = [int(t) for t in line.split(":")[1].split()]
        elif line.startswith("ids:"):
            runs[-1]["ids"] = [int(t) for t in line.split(":")[1].split()]
    assert runs and text_lines is not None, f"{path}: unexpected layout"
    return runs, "\n".join(text_lines)


@pytest.fixture(scope="session")
def reference(shared_models) -> tuple[list[dict], str]:
    return parse_reference(shared_models / "reference_tokens.txt")


def make_tiny_model(seed: int = 0, shared: bool = True, dim: int = 24, hidden: int = 44,
                    n_layers: int = 2, n_heads: int = 3, n_kv_heads: int = 1,
                    vocab: int = 37, seq_len: int = 16) -> FloatModel:
    """A random llama model with awkward sizes (head_dim 8, 3 query heads on 1 KV head)."""
    cfg = ModelConfig(dim=dim, hidden_dim=hidden, n_layers=n_layers, n_heads=n_heads,
                      n_kv_heads=n_kv_heads, vocab_size=vocab, seq_len=seq_len,
                      shared_classifier=shared)
    rng = np.random.default_rng(seed)
    kvd = cfg.kv_dim

    def mat(*shape: int) -> np.ndarray:  # scaled so activations stay O(1)
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    def norm(*shape: int) -> np.ndarray:
        return (1.0 + 0.2 * rng.standard_normal(shape)).astype(np.float32)

    w = {
        "token_embedding": rng.standard_normal((vocab, dim)).astype(np.float32),
        "rms_att": norm(n_layers, dim), "rms_ffn": norm(n_layers, dim),
        "rms_final": norm(dim),
        "wq": mat(n_layers, dim, dim), "wk": mat(n_layers, kvd, dim),
        "wv": mat(n_layers, kvd, dim), "wo": mat(n_layers, dim, dim),
        "w1": mat(n_layers, hidden, dim), "w3": mat(n_layers, hidden, dim),
        "w2": mat(n_layers, dim, hidden),
    }
    w["wcls"] = w["token_embedding"] if shared else mat(vocab, dim) * 4
    return FloatModel(config=cfg, weights=w)


@pytest.fixture
def tiny_model() -> FloatModel:
    return make_tiny_model()


@pytest.fixture(scope="session")
def tiny_model_factory():
    """make_tiny_model, for tests that need a variant (unshared classifier, other seed)."""
    return make_tiny_model
