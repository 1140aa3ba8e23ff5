"""The tokenizer of the compiler: host/tokenizer.py's run.c tokenizer plus the
Hugging Face tokenizer.json reader, raising hw's TokenizerError.

The run.c algorithm (encode, decode, tokenizer.bin) lives once, in
host/tokenizer.py, because the host driver installs on a board without the
compiler; see that module for the exact semantics.

Two readers: llama2.c's tokenizer.bin (`Tokenizer.load`) and a Hugging Face
tokenizer.json of the llama / sentencepiece kind (`Tokenizer.from_hf_json`).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from host import tokenizer as _base
from host.jsonfile import is_kind, read_json, short
from host.tokenizer import BOS, BYTE_TOKEN_OFFSET, EOS, MAX_VOCAB, NEVER_MERGED  # noqa: F401 (re-exported)
from hw.errors import TokenizerError

# The converter takes llama/sentencepiece-style BPE only: Llama 1/2, TinyLlama and Mistral
# tokenizer.json files are 1.8-2.0 MB (32k tokens; about twice that with pretty-printed merge
# pairs). A vocabulary whose embedding alone fills the largest board's on-chip RAM (~3 MB: ~180k
# tokens at 64 x 2 bits) is ~10 MB. Parsing costs up to ~22x the file in memory (~370 MB at the
# cap); see docs/loaders.md.
MAX_TOKENIZER_JSON_BYTES = 16 << 20


class Tokenizer(_base.Tokenizer):
    """A llama2.c vocabulary: token byte strings with their merge scores."""

    Error = TokenizerError

    # ------------------------------------------------------------ Hugging Face tokenizer.json

    @classmethod
    def from_hf_json(cls, path: str | os.PathLike) -> "Tokenizer":
        """Convert a Hugging Face tokenizer.json of the llama / sentencepiece kind.

        The BPE vocabulary becomes the token list ("\u2581" -> " ", <s> and </s> at
        ids 1 and 2 -> "\\n<s>\\n" and "\\n</s>\\n" as llama2.c's tokenizer.py
        writes them). A token made by merge rank r gets score -r (its best rank
        when several merges make it), so run.c's best-score-first merging
        applies the merges in HF's order; tokens no merge makes get -1e10 and are
        never merge results. Limits: run.c merges any adjacent pair whose
        concatenation is a token, whereas HF only merges listed pairs, and
        run.c always adds the " " dummy prefix and splits nothing before
        merging; so this is exact for llama/sentencepiece-style tokenizers
        (Llama 1/2, TinyLlama, Mistral) and unsupported for byte-level BPE
        (GPT-2, Llama 3) or tokenizers with pre-tokenizer splits, which are
        refused here, when read, rather than on the first text
        (_check_runc_can_encode).
        """
        # size cap, UTF-8, depth, integer length and lone surrogates are checked here
        spec = read_json(path, TokenizerError, MAX_TOKENIZER_JSON_BYTES, what="tokenizer.json",
                         hint="is it a Hugging Face tokenizer.json?")
        path = Path(path)
        model = spec.get("model") if isinstance(spec, dict) else None
        if not isinstance(model, dict) or model.get("type", "BPE") != "BPE" \
                or not isinstance(model.get("vocab"), dict):
            kind = model.get("type") if isinstance(model, dict) else None
            raise TokenizerError(f"{path}: expected a BPE model with a vocab, found "
                                 f"model type {short(kind)}; only llama/sentencepiece-"
                                 "style BPE tokenizers can be converted")
        if "ByteLevel" in json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")]):
            raise TokenizerError(f"{path}: byte-level BPE (GPT-2 / Llama 3 style) is "
                                 "not supported; run.c's tokenizer needs a "
                                 "sentencepiece-style (\u2581, byte fallback) vocabulary")
        by_id: dict[int, str] = {}

        def add(token, tid) -> None:
            if not isinstance(token, str) or not is_kind(tid, "int") or tid < 0 \
                    or tid >= MAX_VOCAB or by_id.setdefault(tid, token) != token:
                raise TokenizerError(f"{path}: bad or conflicting vocabulary entry "
                                     f"{short(token)} -> {short(tid)}; fix the tokenizer.json")

        for token, tid in model["vocab"].items():
            add(token, tid)
        added, merges = spec.get("added_tokens") or [], model.get("merges") or []
        if not isinstance(added, list) or not isinstance(merges, list):
            raise TokenizerError(f"{path}: added_tokens and model.merges must be "
                                 "lists; fix the tokenizer.json")
        for entry in added:
            add(entry.get("content") if isinstance(entry, dict) else None,
                entry.get("id") if isinstance(entry, dict) else None)
        n = len(by_id)
        if sorted(by_id) != list(range(n)):
            raise TokenizerError(f"{path}: token ids are not 0..{n - 1} without gaps; "
                                 "fix the tokenizer.json")
        rank_of: dict[str, int] = {}
        for rank, merge in enumerate(merges):
            left_right = merge.split(" ") if isinstance(merge, str) else merge
            if not (isinstance(left_right, list) and len(left_right) == 2
                    and all(isinstance(s, str) for s in left_right)):
                raise TokenizerError(f"{path}: merge {rank} {short(merge)} is not a pair "
                                     "of tokens")
            rank_of.setdefault(left_right[0] + left_right[1], rank)
        vocab, scores = [], []
        for tid in range(n):
            token = by_id[tid]
            if (tid, token) in ((BOS, "<s>"), (EOS, "</s>")):
                piece = f"\n{token}\n"
            else:
                piece = token.replace("\u2581", " ")
            vocab.append(piece.encode("utf-8"))
            rank = rank_of.get(token)
            scores.append(NEVER_MERGED if rank is None else -float(rank))
        _check_runc_can_encode(path, [by_id[i] for i in range(n)], vocab, model)
        return cls(vocab, scores, source=str(path))


_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _check_runc_can_encode(path: Path, tokens: list[str], vocab: list[bytes], model: dict) -> None:
    """Refuse at load time a vocabulary that run.c's encode cannot use.

    HF `tokenizers` finds byte-fallback tokens by name and adds a word-boundary
    mark only when the normalizer or pre-tokenizer says so; run.c (which the
    host driver and the hardware's token ids follow) always inserts the " "
    ("\u2581") token as a dummy prefix and takes byte b from id b + 3. A
    vocabulary without either would load and then fail on every text.
    """
    if b" " not in vocab:
        byte_level = any(t.startswith("\u0120") for t in tokens)     # GPT-2's byte-to-unicode space
        why = ("it spells spaces as '\u0120', the byte-level BPE of GPT-2 / Llama 3" if byte_level
               else "it has no word-boundary piece at all")
        raise TokenizerError(
            f"{path}: the vocabulary has no '\u2581' (space) token, which run.c's encoder inserts "
            f"before every text as its dummy prefix: {why}. Only llama/sentencepiece-style "
            "tokenizers (Llama 1/2, TinyLlama, Mistral) convert; pass --tokenizer with a llama2.c "
            "tokenizer.bin of this vocabulary, or give the prompt as token ids")
    byte_ids = {int(m.group(1), 16): i for i, t in enumerate(tokens) if (m := _BYTE_TOKEN.fullmatch(t))}
    if not byte_ids and not model.get("byte_fallback"):
        return                          # no byte fallback: an unknown character is refused at encode time
    misplaced = [b for b in range(256) if byte_ids.get(b) != b + BYTE_TOKEN_OFFSET]
    if misplaced:
        b = misplaced[0]
        where = f"at id {byte_ids[b]}" if b in byte_ids else "missing"
        raise TokenizerError(
            f"{path}: byte-fallback token <0x{b:02X}> is {where}, but run.c takes byte b from id "
            f"b + {BYTE_TOKEN_OFFSET} (<0x00>..<0xFF> at ids 3..258, as sentencepiece exports them); "
            f"{len(misplaced)} of the 256 byte tokens are not there, so this tokenizer cannot be converted")


def check_tokenizer_matches(model, tokenizer: Tokenizer) -> None:
    """Raise TokenizerError unless the tokenizer's vocabulary fits the model."""
    v_model, v_tok = model.config.vocab_size, tokenizer.vocab_size
    if v_model != v_tok:
        raise TokenizerError(f"the model has a vocabulary of {v_model} tokens but the "
                             f"tokenizer has {v_tok} ({tokenizer.source}); they do not belong "
                             "together: use the tokenizer the model was trained with")
