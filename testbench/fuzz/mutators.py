"""Structure-aware mutators: each turns one valid-ish file into a nearby one that keeps its
structure (a header with one field changed, a JSON document with one node replaced), so
the fuzzer gets past the first format check into the loaders' deeper code. A third of
the time the byte-level mutator of the fuzzer (libFuzzer's, through atheris) is used
instead, and on input the structure parser cannot read.

mutate(fmt, data, max_size, seed) -> bytes; fmt is one of FORMATS.
"""
from __future__ import annotations

import json
import random
import struct
from typing import Callable

# JSON text json.dumps cannot write, put in through placeholders (as tests/test_loader_fuzz.py)
RAW = {"@big@": b"1" + b"0" * 5000, "@neg@": b"-" + b"9" * 1500,
       "@deep@": b"[" * 3000 + b"]" * 3000, "@nest@": b"[" * 70 + b"]" * 70,
       "@raw-surrogate@": '"\ud800"'.encode("utf-8", "surrogatepass"), "@bad-utf8@": b'"\xff"',
       "@nan@": b"NaN", "@inf@": b"-Infinity", "@hugefloat@": b"1e400"}
VALUES = [None, True, False, 0, 1, -1, 2, 3, 8, 2**31 - 1, 2**31, -2**31, 2**32, 2**63, 2**64, 10**400,
          1.5, -0.0, 1e308, 1e-320, "", "a", "\x00", "\ud800", "\udc80x", "\u2581", "../x", "/etc/passwd",
          "F32", "F16", "BF16", "I8", "bogus", "x" * 300, [], {}, [0], [1, 2], [0, 2**40], {"a": 1},
          *RAW]
KEYS = ["model", "type", "vocab", "merges", "added_tokens", "id", "content", "weight_map", "metadata",
        "dtype", "shape", "data_offsets", "__metadata__", "identity", "bits", "tokenizer", "fingerprint",
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta",
        "tie_word_embeddings", "hidden_act", "rope_scaling", "head_dim", "clock_hz", "uart_baud",
        "lora_targets", "k_max", "lanes", "vpl", "\ud800", "", "\x00"]
INT32 = [0, 1, -1, 2, 3, 7, 8, 255, 256, 2**15, 2**16, 2**20, 2**30, 2**31 - 1, -2**31, -2]


def dumps(value) -> bytes:
    data = json.dumps(value).encode()
    for key, raw in RAW.items():
        data = data.replace(b'"' + key.encode() + b'"', raw)
    return data


def loads(data: bytes):
    """The JSON document, or None when it is not one (the byte mutator takes over)."""
    try:
        return json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return None


def _nodes(doc, path=()):
    """Every (path, value) of a JSON document, the root first."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in list(doc.items())[:64]:
            yield from _nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:64]):
            yield from _nodes(v, (*path, i))


def _set(doc, path, value):
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return doc


def mutate_json_doc(doc, rng: random.Random):
    """One structural change: replace a node, drop or add a key, grow or shrink a list."""
    nodes = list(_nodes(doc))
    path, node = rng.choice(nodes)
    op = rng.randrange(6)
    if op == 0 and isinstance(node, dict) and node:
        node.pop(rng.choice(list(node)))
    elif op == 1 and isinstance(node, dict):
        node[rng.choice(KEYS)] = rng.choice(VALUES)
    elif op == 2 and isinstance(node, list) and node:
        node.append(node[rng.randrange(len(node))] if rng.random() < 0.7 else rng.choice(VALUES))
    elif op == 3 and isinstance(node, list) and node:
        del node[rng.randrange(len(node))]
    elif op == 4 and isinstance(node, (int, float)) and not isinstance(node, bool):
        doc = _set(doc, path, rng.choice([node + 1, node - 1, -node, node * 2**rng.randrange(1, 40),
                                          float(node), str(node)]))
    elif op == 5 and isinstance(node, str):
        doc = _set(doc, path, rng.choice([node + rng.choice(["\ud800", "\x00", "a", "\u2581"]), node[:-1],
                                          node * 2, node.upper(), rng.choice(KEYS)]))
    else:
        doc = _set(doc, path, rng.choice(VALUES))
    return doc


def _json(data: bytes, rng: random.Random) -> bytes | None:
    doc = loads(data)
    if doc is None:
        return None
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        doc = mutate_json_doc(doc, rng)
    return dumps(doc)


def _llama2c(data: bytes, rng: random.Random) -> bytes | None:
    """Header: 7 int32 (dim, hidden, layers, heads, kv_heads, vocab (sign: shared classifier), seq)."""
    if len(data) < 28:
        return None
    out = bytearray(data)
    op = rng.randrange(4)
    if op < 2:
        struct.pack_into("<i", out, 4 * rng.randrange(7), rng.choice(INT32 + [rng.randrange(-64, 64)]))
    elif op == 2:
        return bytes(out[:rng.randrange(len(out) + 1)])
    else:                                       # a weight float to NaN/inf/huge
        pos = 28 + 4 * rng.randrange(max((len(out) - 28) // 4, 1))
        if pos + 4 <= len(out):
            struct.pack_into("<f", out, pos, rng.choice([float("nan"), float("inf"), -3e38, 1e-45]))
    return bytes(out)


def _tokenizer_bin(data: bytes, rng: random.Random) -> bytes | None:
    """int32 max_token_length, then per token: float32 score, int32 length, bytes."""
    if len(data) < 4:
        return None
    records, pos = [], 4                        # (offset of score, offset of length)
    while pos + 8 <= len(data) and len(records) < 4096:
        (n,) = struct.unpack_from("<i", data, pos + 4)
        if n < 0 or pos + 8 + n > len(data):
            break
        records.append(pos)
        pos += 8 + n
    out = bytearray(data)
    op = rng.randrange(5)
    if op == 0 or not records:
        struct.pack_into("<i", out, 0, rng.choice(INT32))
    elif op == 1:
        struct.pack_into("<i", out, rng.choice(records) + 4, rng.choice(INT32))
    elif op == 2:
        struct.pack_into("<f", out, rng.choice(records), rng.choice([float("nan"), float("-inf"), 1e38, -0.0]))
    elif op == 3:                               # a token byte: invalid UTF-8, NUL, a surrogate's lead
        r = rng.choice(records)
        (n,) = struct.unpack_from("<i", data, r + 4)
        if n:
            out[r + 8 + rng.randrange(n)] = rng.choice([0xFF, 0x00, 0xED, 0xC3, 0x80])
    else:
        return bytes(out[:rng.randrange(len(out) + 1)])
    return bytes(out)


def _safetensors(data: bytes, rng: random.Random) -> bytes | None:
    """u64 header length, JSON header, data: the header mutated as JSON, the length fixed up
    (or, one time in five, perturbed)."""
    if len(data) < 8:
        return None
    (n,) = struct.unpack_from("<Q", data)
    if n > len(data) - 8:
        return None
    body = data[8 + n:]
    if rng.random() < 0.2:
        head = data[8:8 + n]
        n = rng.choice([0, 1, n - 1, n + 1, n + 8, 2**40, 2**63, len(data)]) % 2**64
        return struct.pack("<Q", max(n, 0)) + head + body
    head = _json(data[8:8 + n], rng)
    if head is None:
        return None
    if rng.random() < 0.2:
        body = body[:rng.randrange(len(body) + 1)]
    return struct.pack("<Q", len(head)) + head + body


FORMATS: dict[str, Callable[[bytes, random.Random], bytes | None]] = {
    "llama2c": _llama2c, "tokenizer_bin": _tokenizer_bin, "safetensors": _safetensors,
    "st_index": _json, "config_json": _json, "tokenizer_json": _json, "metadata": _json,
}


def mutate(fmt: str, data: bytes, max_size: int, seed: int,
           byte_mutator: Callable[[bytes, int], bytes] | None = None) -> bytes:
    """A structural mutation of `data` (or the byte mutator's), at most max_size bytes."""
    rng = random.Random(seed)
    out = None
    if byte_mutator is None or rng.random() < 0.67:
        try:
            out = FORMATS[fmt](data, rng)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError, struct.error, OverflowError):
            out = None
    if out is None:
        out = byte_mutator(data, max_size) if byte_mutator else data[:max(len(data) - 1, 0)]
    return out[:max_size]
