"""The accelerator's register map as word indices, for the simulation (docs/register_map.md).

host/regmap.py is the one register table (host/registers.py: byte offsets, as on AXI-Lite /
PYNQ MMIO); this module gives the same registers as word indices (byte offset / 4), which is how
hw_core decodes them and how the Verilator harness's line protocol names them, with
the CONTROL, STATUS and TOKEN_POP fields re-exported from there. Only the debug window's
regions (DBG_ADDR) are hw-side knowledge and live here.
"""
from __future__ import annotations

from host import regmap as _regmap
from host.registers import (  # noqa: F401  (re-exported: the fields are the same in both units)
    CTRL_ABORT, CTRL_RESET_STATE, CTRL_START, MAGIC_VALUE, ST_BUSY, ST_DONE, ST_ERR_CONTEXT,
    ST_ERR_OVERFLOW, ST_ERR_PROMPT, ST_ERR_TOKEN, ST_PROMPT_FULL, ST_TOKEN_AVAIL, STOP_NONE, TOKEN_VALID,
)

# ---------------------------------------------------------------- registers (word index)
# One constant per row of host/regmap.py's table, named as there (MAGIC, CONTROL, STATUS,
# PROMPT_PUSH, TOKEN_POP, ..., FINGERPRINT (8 words, most significant first), DIM .. ATT_ENGINES);
# the value is the word index, byte offset // 4, as hw_core's R_* localparams.
globals().update(_regmap.indices())

IDENTITY = {"dim": DIM, "hidden": HIDDEN, "layers": LAYERS, "heads": HEADS, "kv_heads": KV_HEADS,
            "vocab": VOCAB, "context": CONTEXT, "lanes": LANES, "vpl": VPL, "bits": BITS,
            "lora_rank": LORA_RANK, "lora_targets": LORA_TARGETS, "k_max": K_MAX,
            "prompt_depth": PROMPT_DEPTH, "out_depth": OUT_DEPTH, "lora_words": LORA_WORDS,
            "att_engines": ATT_ENGINES, "streams": STREAMS, "contexts": CONTEXTS,
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
