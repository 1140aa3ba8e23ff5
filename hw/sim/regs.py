"""The accelerator's register map as word indices, for the simulation (docs/register_map.md).

host/registers.py is the one register map (byte offsets, as on AXI-Lite / PYNQ MMIO);
this module gives the same registers as word indices (byte offset / 4), which is how
hw_core decodes them and how the Verilator harness's line protocol names them, with
the CONTROL, STATUS and TOKEN_POP fields re-exported from there. Only the debug window's
regions (DBG_ADDR) are hw-side knowledge and live here.
"""
from __future__ import annotations

from host import registers as _R
from host.registers import (  # noqa: F401  (re-exported: the fields are the same in both units)
    CTRL_ABORT, CTRL_RESET_STATE, CTRL_START, MAGIC_VALUE, ST_BUSY, ST_DONE, ST_ERR_CONTEXT,
    ST_ERR_OVERFLOW, ST_ERR_PROMPT, ST_ERR_TOKEN, ST_PROMPT_FULL, ST_TOKEN_AVAIL, STOP_NONE, TOKEN_VALID,
)

# ---------------------------------------------------------------- registers (word index)
MAGIC = _R.MAGIC // 4
GEN_VERSION = _R.GEN_VERSION // 4
CONTROL = _R.CONTROL // 4
STATUS = _R.STATUS // 4
PROMPT_PUSH = _R.PROMPT_PUSH // 4               # W: push a token; R: tokens in the prompt FIFO
TOKEN_POP = _R.TOKEN_POP // 4                   # R: bit 31 valid, [15:0] token (pops)
PROMPT_LEN = _R.PROMPT_LEN // 4
MAX_NEW = _R.MAX_NEW // 4
INV_TEMP_Q8 = _R.INV_TEMP_Q8 // 4
TOP_K = _R.TOP_K // 4
SEED = _R.SEED // 4
STOP_TOKEN = _R.STOP_TOKEN // 4
POSITION = _R.POSITION // 4
CYCLES_LAST_TOKEN = _R.CYCLES_LAST_TOKEN // 4
TOKENS_DONE = _R.TOKENS_DONE // 4
CYCLES_TOTAL = _R.CYCLES_TOTAL // 4
LORA_ADDR = _R.LORA_ADDR // 4
LORA_DATA = _R.LORA_DATA // 4
DBG_ADDR = _R.DBG_ADDR // 4
DBG_DATA = _R.DBG_DATA // 4
FINGERPRINT = _R.FINGERPRINT // 4               # 8 words, most significant first
DIM = _R.DIM // 4
HIDDEN = _R.HIDDEN // 4
LAYERS = _R.LAYERS // 4
HEADS = _R.HEADS // 4
KV_HEADS = _R.KV_HEADS // 4
VOCAB = _R.VOCAB // 4
CONTEXT = _R.CONTEXT // 4
LANES = _R.LANES // 4
VPL = _R.VPL // 4
BITS = _R.BITS // 4
LORA_RANK = _R.LORA_RANK // 4
LORA_TARGETS = _R.LORA_TARGETS // 4
K_MAX = _R.K_MAX // 4
PROMPT_DEPTH = _R.PROMPT_DEPTH // 4
OUT_DEPTH = _R.OUT_DEPTH // 4
LORA_WORDS = _R.LORA_WORDS // 4
ATT_ENGINES = _R.ATT_ENGINES // 4

IDENTITY = {"dim": DIM, "hidden": HIDDEN, "layers": LAYERS, "heads": HEADS, "kv_heads": KV_HEADS,
            "vocab": VOCAB, "context": CONTEXT, "lanes": LANES, "vpl": VPL, "bits": BITS,
            "lora_rank": LORA_RANK, "lora_targets": LORA_TARGETS, "k_max": K_MAX,
            "prompt_depth": PROMPT_DEPTH, "out_depth": OUT_DEPTH, "lora_words": LORA_WORDS,
            "att_engines": ATT_ENGINES,
            "gen_version": GEN_VERSION}

ST_ERRORS = ST_ERR_CONTEXT | ST_ERR_TOKEN | ST_ERR_PROMPT | ST_ERR_OVERFLOW

# ---------------------------------------------------------------- debug window (hw_core)
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
DBG_KCACHE = 9                      # index word << clog2(HD) | i, word = bank << clog2(bank words) | (l*KPB + h%KPB)*CTX + t
DBG_VCACHE = 10
DBG_LORA = 11                       # index = LoRA memory word


def clog2(n: int) -> int:
    """Verilog's $clog2 for a field width, at least 1."""
    return max(1, (int(n) - 1).bit_length())
