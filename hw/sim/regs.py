"""The accelerator's register map as Python constants (docs/register_map.md).

Word indices (byte offset / 4), as hw_core decodes them, and the bit fields
of CONTROL, STATUS, TOKEN_POP and DBG_ADDR.
"""
from __future__ import annotations

MAGIC_VALUE = 0x48574952            # "HWIR"

# ---------------------------------------------------------------- registers (word index)
MAGIC = 0x00
GEN_VERSION = 0x01
CONTROL = 0x02
STATUS = 0x03
PROMPT_PUSH = 0x04                  # W: push a token; R: tokens in the prompt FIFO
TOKEN_POP = 0x05                    # R: bit 31 valid, [15:0] token (pops)
PROMPT_LEN = 0x06
MAX_NEW = 0x07
INV_TEMP_Q8 = 0x08
TOP_K = 0x09
SEED = 0x0A
STOP_TOKEN = 0x0B
POSITION = 0x0C
CYCLES_LAST_TOKEN = 0x0D
TOKENS_DONE = 0x0E
CYCLES_TOTAL = 0x0F
LORA_ADDR = 0x10
LORA_DATA = 0x11
DBG_ADDR = 0x12
DBG_DATA = 0x13
FINGERPRINT = 0x20                  # 8 words, most significant first
DIM = 0x28
HIDDEN = 0x29
LAYERS = 0x2A
HEADS = 0x2B
KV_HEADS = 0x2C
VOCAB = 0x2D
CONTEXT = 0x2E
LANES = 0x2F
VPL = 0x30
BITS = 0x31
LORA_RANK = 0x32
LORA_TARGETS = 0x33
K_MAX = 0x34
PROMPT_DEPTH = 0x35
OUT_DEPTH = 0x36
LORA_WORDS = 0x37

IDENTITY = {"dim": DIM, "hidden": HIDDEN, "layers": LAYERS, "heads": HEADS, "kv_heads": KV_HEADS,
            "vocab": VOCAB, "context": CONTEXT, "lanes": LANES, "vpl": VPL, "bits": BITS,
            "lora_rank": LORA_RANK, "lora_targets": LORA_TARGETS, "k_max": K_MAX,
            "prompt_depth": PROMPT_DEPTH, "out_depth": OUT_DEPTH, "lora_words": LORA_WORDS,
            "gen_version": GEN_VERSION}

# ---------------------------------------------------------------- fields
CTRL_START = 1 << 0
CTRL_RESET_STATE = 1 << 1           # position 0, FIFOs and errors cleared (aborts a run)
CTRL_ABORT = 1 << 2

ST_BUSY = 1 << 0
ST_DONE = 1 << 1
ST_TOKEN_AVAIL = 1 << 2
ST_PROMPT_FULL = 1 << 3
ST_ERR_CONTEXT = 1 << 4
ST_ERR_TOKEN = 1 << 5
ST_ERR_PROMPT = 1 << 6
ST_ERR_OVERFLOW = 1 << 7
ST_ERRORS = ST_ERR_CONTEXT | ST_ERR_TOKEN | ST_ERR_PROMPT | ST_ERR_OVERFLOW

TOKEN_VALID = 1 << 31
STOP_NONE = 0xFFFFFFFF

# DBG_ADDR = region << 28 | index; DBG_DATA is the value, sign-extended
DBG_LOGITS = 0                      # index (r // LANES) << clog2(LANES) | r % LANES
DBG_RES = 1
DBG_XN = 2
DBG_Q = 3
DBG_K = 4
DBG_V = 5
DBG_ATT = 6
DBG_H1 = 7                          # h1, then the gate g after the SiLU step
DBG_H3 = 8
DBG_KCACHE = 9                      # index word << clog2(HD) | i, word = (l*NKV + h)*CTX + t
DBG_VCACHE = 10
DBG_LORA = 11                       # index = LoRA memory word


def clog2(n: int) -> int:
    """Verilog's $clog2 for a field width, at least 1."""
    return max(1, (int(n) - 1).bit_length())
