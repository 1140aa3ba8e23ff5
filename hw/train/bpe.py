"""A small byte-fallback BPE tokenizer in llama2.c's vocabulary layout.

Layout (the same as llama2.c's tok512):
  0 <unk>, 1 <s> (BOS), 2 </s> (EOS)            score 0
  3..258  <0x00>..<0xFF> byte-fallback tokens   score 0
  259..   merged pieces, in the order learned   score -rank (0, -1, -2, ...)
  last    single characters seen in the corpus  score below every merge

llama2.c's encoder prepends a " " (the dummy prefix), looks up every UTF-8
character (bytes for unknown ones) and then repeatedly merges the adjacent
pair whose concatenation is in the vocabulary with the best score. Merges
are learned inside "chunks" (an optional leading space plus a run of one
character class), so no vocabulary piece spans a chunk boundary and that
greedy encoder never merges across one: encoding chunk by chunk with a cache
(`BPEVocab.encode`) gives exactly llama2.c's ids, only much faster.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from hw.errors import HardwireError

N_SPECIAL = 3
N_BYTES = 256
BOS, EOS, UNK = 1, 2, 0
SPECIAL_PIECES = (b"<unk>", b"\n<s>\n", b"\n</s>\n")   # as llama2.c's export writes them

# One chunk: optional space + letters | digits | other non-space; or one whitespace char.
CHUNK_RE = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s")


class BPEError(HardwireError):
    """A tokenizer that cannot be trained as asked."""


def byte_piece(b: int) -> bytes:
    return f"<0x{b:02X}>".encode()


@dataclass
class BPEVocab:
    pieces: list[bytes]            # (V,) token strings, llama2.c's tokenizer.bin order
    scores: list[float]            # (V,) merge priority, higher merges first
    _index: dict[bytes, int] = field(default_factory=dict, repr=False)
    _cache: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if len(self.pieces) != len(self.scores):
            raise BPEError(f"{len(self.pieces)} pieces but {len(self.scores)} scores")
        self._index = {p: i for i, p in enumerate(self.pieces)}
        if len(self._index) != len(self.pieces):
            raise BPEError("duplicate pieces in the vocabulary")

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        ids: list[int] = []
        for ch in chunk:                               # characters, then byte fallback
            i = self._index.get(ch.encode())
            ids.extend([i] if i is not None else [b + N_SPECIAL for b in ch.encode()])
        while len(ids) > 1:                            # best-score merge first, leftmost on ties
            best, best_i, best_id = -1e10, -1, -1
            for i in range(len(ids) - 1):
                j = self._index.get(self.pieces[ids[i]] + self.pieces[ids[i + 1]])
                if j is not None and self.scores[j] > best:
                    best, best_i, best_id = self.scores[j], i, j
            if best_i < 0:
                break
            ids[best_i:best_i + 2] = [best_id]
        return tuple(ids)

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        """llama2.c's encode(): [BOS] + ids of " " + text (+ [EOS])."""
        out = [BOS] if bos else []
        if text:
            for chunk in CHUNK_RE.findall(" " + text):
                ids = self._cache.get(chunk)
                if ids is None:
                    ids = self._cache[chunk] = self._encode_chunk(chunk)
                out.extend(ids)
        if eos:
            out.append(EOS)
        return out

    def decode(self, ids: list[int]) -> str:
        """Text of `ids`, skipping specials and the dummy-prefix space after BOS."""
        out = bytearray()
        prev = -1
        for t in ids:
            if t < N_SPECIAL:
                prev = t
                continue
            piece = bytes([t - N_SPECIAL]) if t < N_SPECIAL + N_BYTES else self.pieces[t]
            if prev == BOS and piece.startswith(b" "):
                piece = piece[1:]
            out += piece
            prev = t
        return out.decode("utf-8", errors="replace")


def train_bpe(texts: list[str], vocab_size: int) -> BPEVocab:
    """Learn merges on `texts` (each encoded with the dummy prefix) until the
    vocabulary holds `vocab_size` pieces. Deterministic: ties between equally
    frequent pairs go to the lexicographically smallest pair."""
    chunks = Counter(c for t in texts for c in CHUNK_RE.findall(" " + t))
    chars = sorted({ch for c in chunks for ch in c})
    base = N_SPECIAL + N_BYTES + len(chars)
    n_merges = vocab_size - base
    if n_merges < 0:
        raise BPEError(f"vocab_size {vocab_size} is too small: the specials, bytes and "
                       f"{len(chars)} corpus characters need {base}; raise it to at least {base}")
    # Each chunk type as a list of piece strings, with its count.
    words = [([ch for ch in c], n) for c, n in chunks.items()]
    merges: list[str] = []
    while len(merges) < n_merges:
        pairs: Counter = Counter()
        for w, n in words:
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            raise BPEError(f"the corpus supports only {len(merges)} merges; "
                           f"lower vocab_size to {base + len(merges)}")
        top = max(pairs.values())
        a, b = min(p for p, n in pairs.items() if n == top)
        merged = a + b
        if merged not in merges:        # (a, bc) and (ab, c) give one piece "abc"
            merges.append(merged)
        for k, (w, n) in enumerate(words):
            if len(w) < 2:
                continue
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = (out, n)
    pieces = list(SPECIAL_PIECES) + [byte_piece(b) for b in range(N_BYTES)]
    pieces += [m.encode() for m in merges] + [c.encode() for c in chars]
    scores = [0.0] * (N_SPECIAL + N_BYTES)
    scores += [-float(r) for r in range(len(merges))]
    scores += [-float(len(merges) + r) for r in range(len(chars))]
    return BPEVocab(pieces, scores)
