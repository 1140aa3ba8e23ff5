"""llama2.c tokenizer.bin on the board side: read it, encode prompts, decode tokens.

The host driver installs without the compiler (`hw/`), so it carries this
reader of llama2.c's tokenizer.bin. It is the same algorithm as
hw/tokenizer.py (run.c's encode()/decode()/safe_printf()) and the same
fingerprint; tests/test_host_tokenizer.py checks the two agree on the real
stories260K vocabulary and on random text. Hugging Face conversion and
writing stay in hw/tokenizer.py (compile time only).
"""
from __future__ import annotations

import codecs
import hashlib
import math
import os
import re
import struct
from pathlib import Path
from typing import Dict, List, Optional, Union

BOS = 1
EOS = 2
BYTE_TOKEN_OFFSET = 3     # run.c: byte b falls back to token b + 3
MAX_VOCAB = 1 << 21
MAX_FILE_BYTES = 128 << 20
NEVER_MERGED = -1e10
_BYTE_PIECE = re.compile(rb"<0x([0-9A-Fa-f]{1,2})")


class TokenizerError(ValueError):
    """A tokenizer file is malformed, or does not fit the device or the text."""


class Tokenizer:
    """A llama2.c vocabulary: token byte strings and their merge scores."""

    def __init__(self, vocab: List[bytes], scores: List[float], source: str = "tokenizer"):
        if len(vocab) != len(scores) or not 3 <= len(vocab) <= MAX_VOCAB:
            raise TokenizerError(f"{source}: {len(vocab)} tokens and {len(scores)} scores; a "
                                 f"vocabulary needs 3..{MAX_VOCAB} tokens, one score each")
        self.source = source
        self.vocab = [bytes(t) for t in vocab]
        # run.c keeps float32 scores; rounding here makes merge comparisons identical
        self.scores = [struct.unpack("<f", struct.pack("<f", s))[0] for s in scores]
        for i, s in enumerate(self.scores):
            if not math.isfinite(s):
                raise TokenizerError(f"{source}: token {i} has score {s}; scores must be finite")
        self._ids: Dict[bytes, int] = {}
        for i, piece in enumerate(self.vocab):
            self._ids.setdefault(piece, i)      # duplicates: the first id wins

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"Tokenizer({self.source}, vocab_size={self.vocab_size})"

    # ------------------------------------------------------------ file
    @classmethod
    def load(cls, path: Union[str, os.PathLike], vocab_size: Optional[int] = None) -> "Tokenizer":
        """Read llama2.c's tokenizer.bin (int32 max_token_length, then per token f32 score,
        i32 length, bytes). With vocab_size, exactly that many tokens must be there."""
        path = Path(path)
        try:
            if not path.is_file():
                raise TokenizerError(f"{path}: no such tokenizer file; pass the tokenizer.bin "
                                     "the model was built with")
            if path.stat().st_size > MAX_FILE_BYTES:
                raise TokenizerError(f"{path}: larger than any tokenizer ({MAX_FILE_BYTES} bytes)")
            raw = path.read_bytes()
        except OSError as exc:
            raise TokenizerError(f"{path}: cannot read the tokenizer ({exc})") from exc
        if len(raw) < 4:
            raise TokenizerError(f"{path}: {len(raw)} bytes is too short for a tokenizer.bin")
        (max_len,) = struct.unpack_from("<i", raw, 0)
        if not 1 <= max_len <= len(raw):
            raise TokenizerError(f"{path}: max_token_length {max_len} is impossible for a "
                                 f"{len(raw)}-byte file; it is not a llama2.c tokenizer.bin")
        vocab: List[bytes] = []
        scores: List[float] = []
        off = 4
        while off < len(raw) if vocab_size is None else len(vocab) < vocab_size:
            if off + 8 > len(raw):
                raise TokenizerError(f"{path}: token {len(vocab)} starts at byte {off} but the file "
                                     f"ends at {len(raw)}; truncated, or fewer tokens than the "
                                     f"device's vocabulary ({vocab_size})")
            score, n = struct.unpack_from("<fi", raw, off)
            off += 8
            if not 0 <= n <= max_len or off + n > len(raw):
                raise TokenizerError(f"{path}: token {len(vocab)} has length {n} at byte {off}; "
                                     "the file is corrupt or truncated")
            vocab.append(raw[off:off + n])
            scores.append(score)
            off += n
            if len(vocab) > MAX_VOCAB:
                raise TokenizerError(f"{path}: more than {MAX_VOCAB} tokens")
        if off != len(raw):
            raise TokenizerError(f"{path}: {len(raw) - off} bytes follow the {vocab_size} tokens "
                                 "the device expects; this tokenizer belongs to another model")
        return cls(vocab, scores, source=str(path))

    # ------------------------------------------------------------ identity
    def fingerprint(self) -> str:
        """sha256 hex of the canonical vocabulary + scores (as hw/tokenizer.py computes it)."""
        parts = [b"hardwire-tokenizer-v1\n", struct.pack("<I", self.vocab_size)]
        for piece, score in zip(self.vocab, self.scores):
            parts.append(struct.pack("<fI", score, len(piece)))
            parts.append(piece)
        return hashlib.sha256(b"".join(parts)).hexdigest()

    # ------------------------------------------------------------ encode
    def encode(self, text: Union[str, bytes], bos: bool = True, eos: bool = False) -> List[int]:
        """Token ids of `text` as run.c's encode() computes them."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if b"\0" in data:
            raise TokenizerError("the prompt holds a NUL character; remove it")
        tokens = [BOS] if bos else []
        if data:
            if b" " not in self._ids:
                raise TokenizerError("the vocabulary has no ' ' token for run.c's dummy prefix")
            tokens.append(self._ids[b" "])
        buf = bytearray()
        for i, c in enumerate(data):
            if c & 0xC0 != 0x80:            # ASCII or a leading byte starts a code point
                buf.clear()
            buf.append(c)
            nxt = data[i + 1] if i + 1 < len(data) else 0
            if nxt & 0xC0 == 0x80 and len(buf) < 4:
                continue
            tid = self._ids.get(bytes(buf))
            tokens.extend([tid] if tid is not None else [self._byte_token(b) for b in buf])
            buf.clear()
        self._merge(tokens)
        if eos:
            tokens.append(EOS)
        return tokens

    def _byte_token(self, byte: int) -> int:
        tid = byte + BYTE_TOKEN_OFFSET
        m = _BYTE_PIECE.match(self.vocab[tid]) if tid < self.vocab_size else None
        if m is None or int(m.group(1), 16) != byte:
            raise TokenizerError(f"byte 0x{byte:02X} of the prompt is not in the vocabulary and "
                                 f"there is no byte-fallback token <0x{byte:02X}> at id {tid}")
        return tid

    def _merge(self, tokens: List[int]) -> None:
        """Merge the best-scoring adjacent pair (leftmost on ties) until none is left."""
        vocab, ids, scores = self.vocab, self._ids, self.scores

        def pair(i: int) -> int:
            return ids.get(vocab[tokens[i]] + vocab[tokens[i + 1]], -1)

        pairs = [pair(i) for i in range(len(tokens) - 1)]
        while True:
            best_score, best = NEVER_MERGED, -1
            for i, pid in enumerate(pairs):
                if pid >= 0 and scores[pid] > best_score:
                    best_score, best = scores[pid], i
            if best < 0:
                return
            tokens[best] = pairs[best]
            del tokens[best + 1]
            del pairs[best]
            if best > 0:
                pairs[best - 1] = pair(best - 1)
            if best < len(tokens) - 1:
                pairs[best] = pair(best)

    # ------------------------------------------------------------ decode
    def decode(self, prev_token: int, token: int) -> bytes:
        """The bytes run.c's decode() gives for `token` after `prev_token`."""
        if not 0 <= token < self.vocab_size:
            raise TokenizerError(f"token id {token} is outside the vocabulary (0..{self.vocab_size - 1}); "
                                 "the device and the tokenizer do not match")
        piece = self.vocab[token]
        if prev_token == BOS and piece[:1] == b" ":
            piece = piece[1:]
        m = _BYTE_PIECE.match(piece)
        if m:
            byte = int(m.group(1), 16)
            return bytes([byte]) if byte else b""
        return piece

    def decode_all(self, ids: List[int], prev_token: int = BOS) -> str:
        """The text run.c prints for `ids` after `prev_token` (safe_printf rules)."""
        stream = TextStream(self, prev_token)
        return "".join(stream.push(t) for t in ids) + stream.flush()


class TextStream:
    """Token ids in, text out as it becomes complete (UTF-8 split over byte tokens is held back)."""

    def __init__(self, tokenizer: Tokenizer, prev_token: int = BOS):
        self.tokenizer = tokenizer
        self.prev = prev_token
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token: int) -> str:
        piece = self.tokenizer.decode(self.prev, int(token))
        self.prev = int(token)
        return self._utf8.decode(piece) if _printable(piece) else ""

    def flush(self) -> str:
        return self._utf8.decode(b"", final=True)


def _printable(piece: bytes) -> bool:
    """run.c's safe_printf: print unless empty or one non-printable, non-space byte."""
    if not piece:
        return False
    if len(piece) == 1:
        b = piece[0]
        return 0x20 <= b <= 0x7E or 0x09 <= b <= 0x0D
    return True
