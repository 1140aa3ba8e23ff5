"""Which reader loads a float checkpoint, and the tokenizer that comes with it.

`load(path)` is the one way a command turns a checkpoint path into a
FloatModel: the first format in FORMATS that claims the path reads it, then
the tokenizer is settled once for every command (an explicit one, else the
checkpoint's own, else a llama2.c tokenizer beside it) and checked against
the model's vocabulary.

A new checkpoint format is a module in this package with a `claims(path)`
and a reader `(path, read_tokenizer) -> (FloatModel, Tokenizer | None)`, and
one row in FORMATS.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw.frontend import hf_folder, llama2c
from hw.model import FloatModel
from hw.tokenizer import Tokenizer, check_tokenizer_matches


@dataclass(frozen=True)
class CheckpointFormat:
    name: str                                   # as help texts and messages name it
    claims: Callable[[Path], bool]              # from the path alone (or its first bytes): cheap
    read: Callable[[Path, bool], tuple[FloatModel, Tokenizer | None]]   # (path, read_tokenizer)


# The first format that claims a path reads it. llama2.c comes last: it claims any path
# that is not a folder, so a missing or foreign file gets its loader's precise message.
FORMATS = (
    CheckpointFormat("Hugging Face folder (config.json, *.safetensors, tokenizer.json)",
                     hf_folder.claims, hf_folder.load_hf_folder),
    CheckpointFormat("llama2.c .bin", llama2c.claims, llama2c.read),
)


@dataclass
class Checkpoint:
    """A loaded float checkpoint and what lies with it."""
    model: FloatModel
    tokenizer: Tokenizer | None
    folder: Path             # where its companions lie (tokenizer.bin, corpus_sample.txt)
    format: str
    tokenizer_file: Path | None = None     # the separate tokenizer file read, if any (--tokenizer reproduces it)


def format_of(path: Path) -> CheckpointFormat:
    return next(f for f in FORMATS if f.claims(path))


def load(path: str | os.PathLike, tokenizer: Path | None = None, *,
         with_tokenizer: bool = True) -> Checkpoint:
    """Read the checkpoint at `path` with its format's reader.

    tokenizer: a tokenizer file that overrides the checkpoint's own;
    with_tokenizer=False reads the weights only (an explicit `tokenizer` is still read)."""
    path = Path(path)
    fmt = format_of(path)
    model, tok = fmt.read(path, with_tokenizer and tokenizer is None)
    folder = path if path.is_dir() else path.parent
    tok_file = None
    if tokenizer is not None or (tok is None and with_tokenizer):
        tok = find_tokenizer(folder, model.config.vocab_size, tokenizer)
        tok_file = Path(tok.source) if tok is not None else None
    if tok is not None:
        check_tokenizer_matches(model, tok)
    return Checkpoint(model=model, tokenizer=tok, folder=folder, format=fmt.name, tokenizer_file=tok_file)


def find_tokenizer(folder: Path, vocab_size: int, explicit: Path | None = None) -> Tokenizer | None:
    """`explicit`, else tokenizer.bin or a single tok*.bin in `folder`; None when there is none."""
    if explicit is not None:
        return Tokenizer.load(explicit, vocab_size=vocab_size)
    if not folder.is_dir():
        return None
    candidates = [folder / "tokenizer.bin"] if (folder / "tokenizer.bin").is_file() else sorted(folder.glob("tok*.bin"))
    if len(candidates) == 1:
        return Tokenizer.load(candidates[0], vocab_size=vocab_size)
    return None
