"""The tokenizer, with exactly the semantics of llama2.c's run.c.

The one implementation, used by the host driver (which installs without the
compiler) and by the compiler (hw/tokenizer.py adds the Hugging Face
conversion and raises hw's error type). `encode` and `decode` reproduce
run.c's encode()/decode()/safe_printf() byte for byte, so token ids agree with
run.c, the golden model and the hardware:
  * a " " dummy-prefix token is inserted after BOS when the text is not empty;
  * the text is split into UTF-8 code points; one missing from the vocabulary
    falls back to one token per byte, id = byte + 3 (`<0x00>`..`<0xFF>` sit at
    ids 3..258, after <unk>, <s>, </s>);
  * the pair of adjacent tokens whose concatenation is in the vocabulary with
    the highest score is merged, the leftmost on ties, until none is left;
  * decoding strips the leading space of a piece that follows BOS and turns
    `<0xXX>` pieces into the raw byte.
BOS is id 1 and EOS id 2, as run.c hard-codes them.
"""
from __future__ import annotations

import codecs
import hashlib
import math
import os
import re
import struct
from pathlib import Path

import numpy as np

from host.jsonfile import check_path

BOS = 1
EOS = 2
BYTE_TOKEN_OFFSET = 3     # run.c: byte b falls back to token b + 3
MAX_VOCAB = 1 << 21       # far above any real vocabulary; stops crafted counts
MAX_FILE_BYTES = 128 << 20   # tokenizer.bin (binary; MAX_VOCAB bounds what it becomes)
NEVER_MERGED = -1e10      # run.c starts its best score here: such tokens never win a merge
# run.c decodes with sscanf(piece, "<0x%02hhX>"): the prefix and 1-2 hex digits decide.
_BYTE_PIECE = re.compile(rb"<0x([0-9A-Fa-f]{1,2})")


class TokenizerError(ValueError):
    """A tokenizer file is malformed, or does not fit the model, the device or the text."""


class Tokenizer:
    """A llama2.c vocabulary: token byte strings with their merge scores."""

    Error = TokenizerError      # what bad input raises (hw.tokenizer raises the compiler's error type)

    def __init__(self, vocab: list[bytes], scores: list[float],
                 max_token_length: int | None = None, source: str = "tokenizer"):
        if len(vocab) != len(scores):
            raise self.Error(f"{source}: {len(vocab)} tokens but {len(scores)} "
                                 "scores; every token needs one score")
        if not 3 <= len(vocab) <= MAX_VOCAB:
            raise self.Error(f"{source}: {len(vocab)} tokens; a llama2.c "
                                 f"vocabulary needs at least <unk>, <s>, </s> and "
                                 f"at most {MAX_VOCAB} tokens")
        self.vocab: list[bytes] = [bytes(t) for t in vocab]
        # run.c keeps float32 scores; rounding here makes merge comparisons identical.
        self.scores: list[float] = [float(s) for s in np.asarray(scores, dtype=np.float32)]
        for i, (piece, score) in enumerate(zip(self.vocab, self.scores)):
            if b"\0" in piece:
                raise self.Error(f"{source}: token {i} {piece!r} holds a NUL byte, "
                                     "which llama2.c's C strings cannot hold; fix the "
                                     "vocabulary export")
            if not math.isfinite(score):
                raise self.Error(f"{source}: token {i} {piece!r} has score "
                                     f"{score}; scores must be finite")
        longest = max(len(t) for t in self.vocab)
        self.max_token_length = longest if max_token_length is None else max_token_length
        if self.max_token_length < max(longest, 1):
            raise self.Error(f"{source}: max_token_length {self.max_token_length} "
                                 f"is shorter than the longest token ({longest} "
                                 "bytes); run.c would overflow its merge buffer. "
                                 "Re-export the tokenizer")
        self.source = source
        self._ids: dict[bytes, int] = {}
        for i, piece in enumerate(self.vocab):
            self._ids.setdefault(piece, i)  # duplicates: the first id wins

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, fingerprint={self.fingerprint()[:12]})"

    # ------------------------------------------------------------ encode

    def encode(self, text: str | bytes, bos: bool = True, eos: bool = False) -> list[int]:
        """Token ids of `text`, as run.c's encode() computes them."""
        if isinstance(text, str):
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise self.Error(f"text is not valid Unicode ({e}); pass "
                                     "UTF-8 text") from e
        else:
            data = bytes(text)
        if b"\0" in data:
            raise self.Error("text holds a NUL character, which run.c treats as "
                                 "the end of the prompt; remove it")
        tokens = [BOS] if bos else []
        if data:
            prefix = self._ids.get(b" ")
            if prefix is None:
                raise self.Error("the vocabulary has no ' ' token for the dummy "
                                     "prefix run.c inserts; this is not a "
                                     "sentencepiece-style (\u2581) vocabulary")
            tokens.append(prefix)
        tokens.extend(self._code_point_tokens(data))
        self._merge(tokens)
        if eos:
            tokens.append(EOS)
        return tokens

    def _code_point_tokens(self, data: bytes) -> list[int]:
        """One token per UTF-8 code point, or per byte when the code point is unknown."""
        out: list[int] = []
        buf = bytearray()
        for i, c in enumerate(data):
            if c & 0xC0 != 0x80:  # ASCII or a leading byte starts a new code point
                buf.clear()
            buf.append(c)
            nxt = data[i + 1] if i + 1 < len(data) else 0
            if nxt & 0xC0 == 0x80 and len(buf) < 4:  # run.c caps a code point at 4 bytes
                continue
            tid = self._ids.get(bytes(buf))
            if tid is not None:
                out.append(tid)
            else:
                out.extend(self._byte_token(b) for b in buf)
            buf.clear()
        return out

    def _byte_token(self, byte: int) -> int:
        tid = byte + BYTE_TOKEN_OFFSET
        m = _BYTE_PIECE.match(self.vocab[tid]) if tid < self.vocab_size else None
        if m is None or int(m.group(1), 16) != byte:
            # run.c would emit id byte+3 regardless and produce silent garbage.
            raise self.Error(f"byte 0x{byte:02X} of the text is not in the "
                                 "vocabulary and the vocabulary has no byte-fallback "
                                 f"token <0x{byte:02X}> at id {tid} (run.c's layout: "
                                 "<0x00>..<0xFF> at ids 3..258); use a tokenizer "
                                 "trained with byte fallback or avoid this character")
        return tid

    def _merge(self, tokens: list[int]) -> None:
        """Merge the best-scoring adjacent pair (leftmost on ties) until none is left."""
        vocab, ids, scores = self.vocab, self._ids, self.scores

        def pair(i: int) -> int:  # the id of tokens[i] + tokens[i+1], or -1
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
            # only the pairs touching the merged token change
            if best > 0:
                pairs[best - 1] = pair(best - 1)
            if best < len(tokens) - 1:
                pairs[best] = pair(best)

    # ------------------------------------------------------------ decode

    def decode(self, prev_token: int, token: int) -> bytes:
        """The bytes run.c's decode() returns for `token` following `prev_token`."""
        if not 0 <= token < self.vocab_size:
            raise self.Error(f"token id {token} is outside the vocabulary "
                                 f"(0..{self.vocab_size - 1}); the model and the "
                                 "tokenizer do not match")
        piece = self.vocab[token]
        if prev_token == BOS and piece[:1] == b" ":  # sentencepiece strips it after BOS
            piece = piece[1:]
        m = _BYTE_PIECE.match(piece)
        if m:
            byte = int(m.group(1), 16)
            return bytes([byte]) if byte else b""  # a C string cannot hold the NUL byte
        return piece

    def decode_all(self, ids: list[int], prev_token: int = BOS, safe: bool = True) -> str:
        """The text run.c prints for `ids` generated after `prev_token` (BOS by default).

        With safe=True (run.c's safe_printf) a single-byte piece that is not
        printable ASCII or whitespace is dropped, so byte-fallback tokens of
        non-ASCII characters vanish exactly as they do in run.c's output;
        safe=False keeps every byte. Invalid UTF-8 becomes U+FFFD.
        """
        out = bytearray()
        for token in ids:
            piece = self.decode(prev_token, int(token))
            if not safe or _printable(piece):
                out += piece
            prev_token = int(token)
        return out.decode("utf-8", errors="replace")

    # ------------------------------------------------------------ identity

    def serialize(self) -> bytes:
        """Canonical bytes of the vocabulary and scores (what `fingerprint` hashes)."""
        parts = [b"hardwire-tokenizer-v1\n", struct.pack("<I", self.vocab_size)]
        for piece, score in zip(self.vocab, self.scores):
            parts.append(struct.pack("<fI", score, len(piece)))
            parts.append(piece)
        return b"".join(parts)

    def fingerprint(self) -> str:
        """sha256 hex of the canonical vocabulary + scores."""
        return hashlib.sha256(self.serialize()).hexdigest()

    # ------------------------------------------------------------ llama2.c tokenizer.bin

    @classmethod
    def load(cls, path: str | os.PathLike, vocab_size: int | None = None) -> "Tokenizer":
        """Read llama2.c's tokenizer.bin.

        Layout: int32 max_token_length, then per token float32 score, int32
        length, the bytes. The file stores no count: with `vocab_size` given
        (run.c takes it from the model) exactly that many tokens are read and
        any rest is an error; without it, tokens are read up to the end.
        """
        path = Path(path)
        return cls.from_bin(_read_limited(path, cls.Error), path, vocab_size)

    @classmethod
    def from_bin(cls, raw: bytes, path: str | os.PathLike = "tokenizer.bin",
                 vocab_size: int | None = None) -> "Tokenizer":
        """`load` from the bytes of a tokenizer.bin; `path` names it in messages and as `source`."""
        if len(raw) < 4:
            raise cls.Error(f"{path}: {len(raw)} bytes is too short for a "
                                 "llama2.c tokenizer.bin (int32 max_token_length "
                                 "first); the file is truncated or not a tokenizer")
        (max_len,) = struct.unpack_from("<i", raw, 0)
        if not 1 <= max_len <= len(raw):
            raise cls.Error(f"{path}: max_token_length {max_len} is impossible "
                                 f"for a {len(raw)}-byte file; it is not a llama2.c "
                                 "tokenizer.bin")
        if vocab_size is not None and not 3 <= vocab_size <= MAX_VOCAB:
            raise cls.Error(f"{path}: vocab_size {vocab_size} is out of range")
        vocab, scores = [], []
        off = 4

        def more() -> bool:
            return off < len(raw) if vocab_size is None else len(vocab) < vocab_size

        while more():
            i = len(vocab)
            if off + 8 > len(raw):
                raise cls.Error(f"{path}: token {i} starts at byte {off} but the "
                                     f"file ends at {len(raw)}; the file is truncated"
                                     + (f" or holds fewer than {vocab_size} tokens "
                                        "(the model's vocab_size): use the model's "
                                        "own tokenizer" if vocab_size else ""))
            score, n = struct.unpack_from("<fi", raw, off)
            off += 8
            if not 0 <= n <= max_len:
                raise cls.Error(f"{path}: token {i} has length {n}, outside "
                                     f"0..max_token_length ({max_len}); the file is "
                                     "corrupt")
            if off + n > len(raw):
                raise cls.Error(f"{path}: token {i} needs {n} bytes at {off} but "
                                     f"the file ends at {len(raw)}; it is truncated")
            vocab.append(raw[off:off + n])
            scores.append(score)
            off += n
            if len(vocab) > MAX_VOCAB:
                raise cls.Error(f"{path}: more than {MAX_VOCAB} tokens; not a "
                                     "llama2.c tokenizer.bin")
        if off != len(raw):
            raise cls.Error(f"{path}: {len(raw) - off} bytes follow the "
                                 f"{vocab_size} tokens the model expects; the model "
                                 "and this tokenizer do not match")
        return cls(vocab, scores, max_len, source=str(path))

    def to_bin(self) -> bytes:
        """The bytes of llama2.c's tokenizer.bin (round-trips `from_bin` byte for byte)."""
        parts = [struct.pack("<i", self.max_token_length)]
        for piece, score in zip(self.vocab, self.scores):
            parts.append(struct.pack("<fi", score, len(piece)))
            parts.append(piece)
        return b"".join(parts)

    def save(self, path: str | os.PathLike) -> None:
        """Write llama2.c's tokenizer.bin (round-trips `load` byte for byte)."""
        _write_atomic(Path(path), self.to_bin(), self.Error)


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


def _read_limited(path: Path, error=TokenizerError) -> bytes:
    path = check_path(path, error, "tokenizer")     # NUL / surrogate: ValueError from stat()
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise error(f"{path}: not a regular file; pass the tokenizer file")
        if size > MAX_FILE_BYTES:
            raise error(f"{path}: {size} bytes is larger than any tokenizer "
                                 f"hardwire accepts ({MAX_FILE_BYTES}); wrong file?")
        return path.read_bytes()
    except OSError as e:
        raise error(f"{path}: cannot read the tokenizer ({e.strerror or e}); "
                             "check the path") from e


def _write_atomic(path: Path, data: bytes, error=TokenizerError) -> None:
    path = check_path(path, error, "tokenizer")
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise error(f"{path}: cannot write the tokenizer ({e.strerror or e})"
                             "; check the folder exists and is writable") from e
