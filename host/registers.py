"""The accelerator's register map, shared by every transport (docs/register_map.md).

Addresses are byte offsets (as on AXI-Lite / PYNQ MMIO); the UART protocol and
the core's control interface use the word index, offset // 4. They come from the
one register table, host/regmap.py (which also gives hw_core's R_* localparams).
The identity block (0x80..0xD0) describes the model and the build; `unpack_identity` turns
its words into an `Identity` and `pack_identity` does the reverse (for fakes
and tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Tuple

from host import regmap as _regmap

# ---------------------------------------------------------------- addresses (byte offsets)
# One constant per row of host/regmap.py's table (MAGIC, GEN_VERSION, CONTROL, STATUS, ...,
# FINGERPRINT, the identity block DIM .. ATT_ENGINES), named as there; the value is the
# byte offset. Add a register there, not here.
globals().update(_regmap.offsets())
REGISTERS = _regmap.REGISTERS

IDENTITY_FIRST = MAGIC
IDENTITY_WORDS = (K_MAX - FINGERPRINT) // 4 + 1    # 0x80..0xD0: 21 words

MAGIC_VALUE = _regmap.MAGIC_VALUE   # "HWIR"

# word indices that may be read again, or in pieces, with no effect on the device: every register
# of the table but those whose read changes something (TOKEN_POP pops; bitstreams before the
# numbered read had no other). Unmapped words are left out: a later bitstream may give them one.
REREADABLE_WORDS = frozenset(i for r in REGISTERS if not r.read_side_effect
                             for i in range(r.index, r.index + r.words))

# CONTROL bits
CTRL_START = 1 << 0
CTRL_RESET_STATE = 1 << 1
CTRL_ABORT = 1 << 2

# STATUS bits
ST_BUSY = 1 << 0
ST_DONE = 1 << 1
ST_TOKEN_AVAIL = 1 << 2
ST_PROMPT_FULL = 1 << 3
ST_ERR_CONTEXT = 1 << 4
ST_ERR_TOKEN = 1 << 5
ST_ERR_PROMPT = 1 << 6     # START with PROMPT_LEN 0 (or more than the FIFO holds)
ST_ERR_OVERFLOW = 1 << 7   # PROMPT_PUSH while the prompt FIFO was full (token lost)

TOKEN_VALID = 1 << 31
TOKEN_MASK = 0xFFFF
# TOKEN_WINDOW / TOKEN_POP words: bit31 valid, [30:16] the token's number (mod 2^15), [15:0] the token
TOKEN_NO_SHIFT = 16
TOKEN_NO_MASK = 0x7FFF
WINDOW_WORDS = _regmap.BY_NAME["TOKEN_WINDOW"].words    # 64, hw_core's OUT_DEPTH
STOP_NONE = 0xFFFFFFFF
CAPS_STREAM = 1 << 0            # LINK_CAPS: the link pushes tokens (STREAM_CTRL)
STREAM_ON = 1 << 0              # STREAM_CTRL bit0
STREAM_ID_SHIFT = 8             # STREAM_CTRL[15:8]: the stream id, the seq of its frames

LORA_TARGET_NAMES = ("wq", "wk", "wv", "wo", "w1", "w3", "w2")
BITS_CLASSES = ("embedding", "attention", "mlp", "classifier")


def pack_version(major: int, minor: int, patch: int) -> int:
    """GEN_VERSION: the generator's version as one word, major << 16 | minor << 8 | patch
    (hw/rtlgen GEN_VERSION_WORD; host/metadata.py packs build.json's "1.0.0" the same way)."""
    if not (0 <= major <= 0xFFFF and 0 <= minor <= 0xFF and 0 <= patch <= 0xFF):
        raise ValueError(f"generator version {major}.{minor}.{patch} does not fit GEN_VERSION (16.8.8 bits)")
    return major << 16 | minor << 8 | patch


def version_text(word: int) -> str:
    """'1.0.0' from a GEN_VERSION word (pack_version's inverse)."""
    return f"{word >> 16 & 0xFFFF}.{word >> 8 & 0xFF}.{word & 0xFF}"


def word_index(addr: int) -> int:
    """Byte offset -> register word index (what the UART protocol and the core use)."""
    if addr % 4 or not 0 <= addr < 1024:
        raise ValueError(f"register address {addr:#x} is not a word-aligned offset in 0x000..0x3FC")
    return addr // 4


def inv_temperature_q8(temperature: float) -> int:
    """INV_TEMP_Q8 for a temperature: 0 (greedy) for T <= 0, else round(256 / T) in [1, 65535].

    The same rule as hw/numerics.inv_temperature_q8 (a test checks they agree);
    kept here so the driver needs no compiler.
    """
    if temperature <= 0.0:
        return 0
    return int(min(65535, max(1, round(256.0 / temperature))))


def status_text(status: int) -> str:
    names = [n for bit, n in ((ST_BUSY, "BUSY"), (ST_DONE, "DONE"), (ST_TOKEN_AVAIL, "TOKEN_AVAIL"),
                              (ST_PROMPT_FULL, "PROMPT_FULL"), (ST_ERR_CONTEXT, "ERR_CONTEXT"),
                              (ST_ERR_TOKEN, "ERR_TOKEN"), (ST_ERR_PROMPT, "ERR_PROMPT"),
                              (ST_ERR_OVERFLOW, "ERR_OVERFLOW")) if status & bit]
    return "|".join(names) or "idle"


# ---------------------------------------------------------------- identity block

@dataclass(frozen=True)
class Identity:
    """What the device says it is: the model fingerprint, dimensions and build knobs."""
    fingerprint: str                  # sha256 hex digest (64 chars) of the integer model
    gen_version: int                  # GEN_VERSION word: pack_version(major, minor, patch)
    dim: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    context: int
    lanes: int
    vpl: int
    bits: Dict[str, int] = field(default_factory=dict)      # per tensor class, see BITS_CLASSES
    lora_rank: int = 0
    lora_targets: Tuple[str, ...] = ()
    k_max: int = 0

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads if self.heads else 0

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def describe(self) -> str:
        bits = ", ".join(f"{k} {v}" for k, v in self.bits.items())
        lora = (f"rank {self.lora_rank} on {','.join(self.lora_targets)}" if self.lora_rank else "none")
        return (f"model {self.fingerprint[:16]}… (generator {version_text(self.gen_version)})\n"
                f"  dim {self.dim}, hidden {self.hidden}, layers {self.layers}, heads {self.heads}"
                f" ({self.kv_heads} kv), vocab {self.vocab}, context {self.context}\n"
                f"  lanes {self.lanes} x {self.vpl} values, weight bits: {bits}\n"
                f"  LoRA {lora}, top-k up to {self.k_max}")


_DIM_REGS = (("dim", DIM), ("hidden", HIDDEN), ("layers", LAYERS), ("heads", HEADS),
             ("kv_heads", KV_HEADS), ("vocab", VOCAB), ("context", CONTEXT), ("lanes", LANES),
             ("vpl", VPL), ("lora_rank", LORA_RANK), ("k_max", K_MAX))


def unpack_identity(words: Mapping[int, int]) -> Identity:
    """Identity from register values {byte offset: u32} (GEN_VERSION and 0x80..0xD0)."""
    fp = "".join(f"{words[FINGERPRINT + 4 * i] & 0xFFFFFFFF:08x}" for i in range(8))
    bits_word = words[BITS]
    mask = words[LORA_TARGETS]
    return Identity(
        fingerprint=fp,
        gen_version=words[GEN_VERSION],
        bits={name: (bits_word >> (8 * i)) & 0xFF for i, name in enumerate(BITS_CLASSES)},
        lora_targets=tuple(n for i, n in enumerate(LORA_TARGET_NAMES) if mask >> i & 1),
        **{name: words[addr] for name, addr in _DIM_REGS},
    )


def pack_identity(ident: Identity) -> Dict[int, int]:
    """Register values {byte offset: u32} of an identity (MAGIC included)."""
    if len(ident.fingerprint) != 64:
        raise ValueError(f"fingerprint must be 64 hex digits, got {ident.fingerprint!r}")
    words = {MAGIC: MAGIC_VALUE, GEN_VERSION: ident.gen_version}
    for i in range(8):
        words[FINGERPRINT + 4 * i] = int(ident.fingerprint[8 * i:8 * i + 8], 16)
    for name, addr in _DIM_REGS:
        words[addr] = getattr(ident, name)
    words[BITS] = sum((ident.bits.get(n, 0) & 0xFF) << (8 * i) for i, n in enumerate(BITS_CLASSES))
    words[LORA_TARGETS] = sum(1 << i for i, n in enumerate(LORA_TARGET_NAMES) if n in ident.lora_targets)
    return words


def chain_place(word: int) -> Tuple[int, int, int]:
    """(index, chips, first layer) from a CHAIN register value; a lone chip (or a bitstream from
    before generator 1.7, which reads 0 there) is chip 0 of 1."""
    return word & 0xFF, max(1, word >> 8 & 0xFF), word >> 16 & 0xFF


def identity_addresses() -> List[int]:
    """Byte offsets of the identity block, in order (one incrementing burst)."""
    return [FINGERPRINT + 4 * i for i in range(IDENTITY_WORDS)]


# ---------------------------------------------------------------- LoRA memory (LORA_ADDR / LORA_DATA)
# As hw/rtl/hw_lora.v reads it. Blocks in order layer 0..L-1 x enabled targets
# (LORA_TARGET_NAMES order). A block:
#   word {sh_a (bits 21:16), m_a (bits 14:0)}, word {sh_b, m_b} likewise,
#   a (rank, in) row-major, each row zero-padded to a multiple of 4 int8, 4 per word LE,
#   b (out, rank) row-major, each row zero-padded to a multiple of 4 int8.
# All-zero a and b (m = 0, sh = 1) is "no adapter": the delta is exactly 0.

def lora_shape(ident: Identity, target: str) -> Tuple[int, int]:
    """(out, in) of the projection a LoRA on `target` adapts."""
    d, h, kvd = ident.dim, ident.hidden, ident.kv_dim
    shapes = {"wq": (d, d), "wk": (kvd, d), "wv": (kvd, d), "wo": (d, d),
              "w1": (h, d), "w3": (h, d), "w2": (d, h)}
    if target not in shapes:
        raise ValueError(f"unknown LoRA target {target!r}; choose from {', '.join(LORA_TARGET_NAMES)}")
    return shapes[target]


def lora_block_words(ident: Identity, target: str) -> int:
    out, inp = lora_shape(ident, target)
    r = ident.lora_rank
    return 2 + r * ((inp + 3) // 4) + out * ((r + 3) // 4)


def lora_blocks(ident: Identity) -> List[Tuple[int, str, int]]:
    """(layer, target, first word) of every block, in memory order."""
    out, addr = [], 0
    for layer in range(ident.layers):
        for t in ident.lora_targets:
            out.append((layer, t, addr))
            addr += lora_block_words(ident, t)
    return out


def _int8_words(rows) -> List[int]:
    words = []
    for row in rows:
        vals = [int(v) & 0xFF for v in row]
        vals += [0] * (-len(vals) % 4)
        for i in range(0, len(vals), 4):
            words.append(vals[i] | vals[i + 1] << 8 | vals[i + 2] << 16 | vals[i + 3] << 24)
    return words


def _scale_word(m: int, sh: int, what: str) -> int:
    if not (0 <= m < 1 << 15 and 1 <= sh <= 62):
        raise ValueError(f"{what}: requant pair (m={m}, sh={sh}) is outside m in [0, 2**15), sh in [1, 62]")
    return sh << 16 | m


def pack_lora_block(ident: Identity, target: str, adapter=None) -> List[int]:
    """The words of one block; adapter None (or all zero) = no adapter."""
    out, inp = lora_shape(ident, target)
    r = ident.lora_rank
    if adapter is None:
        return [_scale_word(0, 1, target)] * 2 + [0] * (lora_block_words(ident, target) - 2)
    a = [list(map(int, row)) for row in adapter.a]
    b = [list(map(int, row)) for row in adapter.b]
    if 0 < len(a) < r and all(len(row) == len(a) for row in b):
        # a lower-rank adapter: zero rows of a give u_j = 0, zero columns of b add nothing
        a += [[0] * inp for _ in range(r - len(a))]
        b = [row + [0] * (r - len(row)) for row in b]
    if len(a) != r or any(len(row) != inp for row in a) or len(b) != out or any(len(row) != r for row in b):
        raise ValueError(f"LoRA on {target} needs a ({r}, {inp}) and b ({out}, {r}) for this device "
                         f"(rank {r}); got a ({len(a)}, {len(a[0]) if a else 0}) and "
                         f"b ({len(b)}, {len(b[0]) if b else 0})")
    if any(not -127 <= v <= 127 for row in a + b for v in row):
        raise ValueError(f"LoRA on {target}: a and b must be int8 values in [-127, 127]")
    words = [_scale_word(int(adapter.m_a), int(adapter.sh_a), f"LoRA {target} a"),
             _scale_word(int(adapter.m_b), int(adapter.sh_b), f"LoRA {target} b")]
    return words + _int8_words(a) + _int8_words(b)
