"""The register map of the accelerator: the one table every other copy is made from.

One row per register: its name, byte offset, access, reset value and a one-line
description. From this table come

* host/registers.py's address constants (byte offsets: MAGIC, CONTROL, ...) and
  REREADABLE_WORDS (the words whose read has no side effect, which the UART
  transport may read again in pieces: every register but TOKEN_POP),
* hw/sim/regs.py's word indices (byte offset / 4),
* hw/rtl/hardwire_regs.vh, the `localparam [7:0] R_<NAME>` word indices that
  hw_core.v includes (written by `make regmap`, i.e. `python -m hw.rtlgen.regmap`),
* the register table of docs/register_map.md (the same command).

tests/test_regmap.py fails when the header or the documentation table differs
from what this table gives. Adding a register: one row here, `make regmap`, and
the RTL that implements it in hw_core.v (Verilator -Wall reports an R_* the core
does not use, so a row without RTL does not pass the lint).

This module lives in host/ because the driver installs without the compiler
(`pip install ./host`); the compiler imports it from here. Python 3.8 (PYNQ images).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Tuple, Union

MAGIC_VALUE = 0x48574952   # what MAGIC reads: "HWIR"
ADDRESS_SPACE = 0x400      # hw_core's reg_addr is an 8-bit word index: byte offsets 0x000..0x3FC
ACCESS = ("R", "W", "RW")  # RW: PROMPT_PUSH writes and reads different things (its description says which)
BUILD = "build"            # reset value set by the generator (identity block)


@dataclass(frozen=True)
class Register:
    name: str                          # Python constant, Verilog R_<name>, documentation
    offset: int                        # byte offset (word index = offset // 4)
    access: str                        # R, W or RW (ACCESS)
    description: str                   # one line, Markdown (docs/register_map.md's "meaning")
    reset: Union[int, str, None] = 0   # the value after reset, BUILD, or None (not a stored value)
    words: int = 1                     # consecutive words (FINGERPRINT: 8)
    read_side_effect: bool = False     # reading changes the device (TOKEN_POP pops): never re-read in pieces

    @property
    def index(self) -> int:
        """Word index, as hw_core's reg_addr and the UART protocol use it."""
        return self.offset // 4

    @property
    def last(self) -> int:
        """Byte offset of the register's last word."""
        return self.offset + 4 * (self.words - 1)


_R = Register
REGISTERS: Tuple[Register, ...] = (
    _R("MAGIC", 0x00, "R", '"HWIR"', MAGIC_VALUE),
    _R("GEN_VERSION", 0x04, "R",
       "generator version, major << 16 | minor << 8 | patch (1.0.0 = 0x00010000)", BUILD),
    _R("CONTROL", 0x08, "W", "bit0 START, bit1 RESET_STATE, bit2 ABORT (reads 0)", None),
    _R("STATUS", 0x0C, "R", "bit0 BUSY, bit1 DONE, bit2 TOKEN_AVAIL, bit3 PROMPT_FULL, bits 4-7 errors (below)"),
    _R("PROMPT_PUSH", 0x10, "RW",
       "W: push token `[15:0]` into the prompt FIFO; R: tokens in the prompt FIFO", None),
    _R("TOKEN_POP", 0x14, "R",
       "TOKEN_WINDOW's word 0 (the oldest token held), and acknowledges it when valid (TOKEN_ACK + 1)", None,
       read_side_effect=True),
    _R("PROMPT_LEN", 0x18, "RW", "prompt tokens START takes from the prompt FIFO (>= 1)"),
    _R("MAX_NEW", 0x1C, "RW", "tokens to generate at most"),
    _R("INV_TEMP_Q8", 0x20, "RW", "`[15:0]` = numerics.inv_temperature_q8(T); 0 = greedy"),
    _R("TOP_K", 0x24, "RW", "candidates; values outside 1..K_MAX mean K_MAX"),
    _R("SEED", 0x28, "RW", "xorshift32 seed loaded at START; 0 = 0x2545F491"),
    _R("STOP_TOKEN", 0x2C, "RW",
       "generation stops after this token (it is still output); all ones = none", 0xFFFFFFFF),
    _R("POSITION", 0x30, "R", "tokens in the KV cache = position of the next token"),
    _R("CYCLES_LAST_TOKEN", 0x34, "R",
       "cycles of the last forward pass (+ classifier and sampler when it sampled)"),
    _R("TOKENS_DONE", 0x38, "R", "tokens output since the last START"),
    _R("CYCLES_TOTAL", 0x3C, "R", "cycles BUSY since the last START"),
    _R("LORA_ADDR", 0x40, "RW", "LoRA memory word address"),
    _R("LORA_DATA", 0x44, "W",
       "one LoRA memory word (4 int8, value j at bits `[8j +: 8]`); LORA_ADDR increments", None),
    _R("DBG_ADDR", 0x48, "RW", "debug window: `region << 28 | index`"),
    _R("DBG_DATA", 0x4C, "R",
       "the value DBG_ADDR selects, sign-extended; valid 5 cycles after the DBG_ADDR write", None),
    _R("TOKEN_ACK", 0x50, "RW",
       "tokens acknowledged since RESET_STATE. W: the host holds every token numbered below the value, "
       "the output FIFO frees them (ignored unless TOKEN_ACK <= value <= TOKEN_COUNT, mod 2^32)"),
    _R("TOKEN_COUNT", 0x54, "R",
       "tokens output since RESET_STATE (the number of the next one); the output FIFO holds tokens "
       "TOKEN_ACK .. TOKEN_COUNT - 1"),
    _R("LINK_CAPS", 0x58, "R",
       "link features the transport adds: bit0 STREAM (the UART bridge pushes tokens, STREAM_CTRL); "
       "hw_core reads 0 (PYNQ, and bitstreams before the stream read 0 here too)", None),
    _R("STREAM_CTRL", 0x5C, "RW",
       "UART bridge: bit0 ON pushes every token from TOKEN_ACK on in stream frames (docs/uart_protocol.md), "
       "`[15:8]` the stream id they carry; RESET_STATE ends it. hw_core ignores it and reads 0", None),
    _R("LORA_ENABLE", 0x60, "RW",
       "bit s: stream s runs the LoRA passes (the driver sets it with an adapter loaded and clears it with none); "
       "0 skips them, the speed of a build without LoRA. Taken at START; reads 0 without LoRA hardware"),
    _R("STREAM_SEL", 0x64, "RW",
       "the stream START runs, RESET_STATE resets and POSITION reads (0..STREAMS-1; other values are ignored)"),
    _R("RNG_STATE", 0x68, "R",
       "the sampler's xorshift32 state after the last run: written to SEED, the next run continues the sequence",
       None),
    _R("CHAIN_SEL", 0x6C, "RW",
       "a chain top (`hardwire compile --chips`, docs/chain.md): `[7:0]` the chip whose registers reads return "
       "(0 = the first), bit 8 writes reach only that chip (0: every chip; CONTROL reaches only the first, as on "
       "boards), bit 9 glitches the links' wires "
       "(simulation). Reads also `[15:10]` retransmissions of the selected chip's outgoing link (at most 63), "
       "`[31:16]` bit h: link h gave up. hw_core ignores it and reads 0"),
    _R("CHAIN_REMOTE", 0x70, "RW",
       "the first chip of a chain (hw_chain_bus): W `[7:0]` a register's word index, `[15:8]` a chip, bit 16 "
       "write: that chip's register is read (into CHAIN_REMOTE_DATA) or written (from it) over the links; "
       "ignored while busy. R: the same fields, bit 30 no chip took the last access, bit 31 busy. "
       "hw_core reads 0"),
    _R("CHAIN_REMOTE_DATA", 0x74, "RW",
       "the first chip of a chain: the word CHAIN_REMOTE writes, and after a read the word it read "
       "(writes ignored while busy). hw_core reads 0"),
    _R("FINGERPRINT", 0x80, "R",
       "sha256 of the integer model; word 0 = the first 8 hex digits (read from the model ROM, "
       "`rom/model.hex`, so that a respin changes it: docs/respin.md)", BUILD, words=8),
    _R("DIM", 0xA0, "R", "D", BUILD),
    _R("HIDDEN", 0xA4, "R", "H", BUILD),
    _R("LAYERS", 0xA8, "R", "L", BUILD),
    _R("HEADS", 0xAC, "R", "query heads", BUILD),
    _R("KV_HEADS", 0xB0, "R", "key/value heads", BUILD),
    _R("VOCAB", 0xB4, "R", "V", BUILD),
    _R("CONTEXT", 0xB8, "R", "KV cache positions of this build", BUILD),
    _R("LANES", 0xBC, "R", "matrix lanes", BUILD),
    _R("VPL", 0xC0, "R", "values per lane per cycle", BUILD),
    _R("BITS", 0xC4, "R",
       "embedding | attention << 8 | mlp << 16 | classifier << 24 (weight bits)", BUILD),
    _R("LORA_RANK", 0xC8, "R", "0 = no LoRA hardware", BUILD),
    _R("LORA_TARGETS", 0xCC, "R", "bit i = LoRA on (wq, wk, wv, wo, w1, w3, w2)[i]", BUILD),
    _R("K_MAX", 0xD0, "R", "top-k capacity", BUILD),
    _R("PROMPT_DEPTH", 0xD4, "R", "prompt FIFO capacity (tokens)", BUILD),
    _R("OUT_DEPTH", 0xD8, "R",
       "output FIFO capacity (tokens): the core waits while TOKEN_COUNT - TOKEN_ACK equals it", BUILD),
    _R("LORA_WORDS", 0xDC, "R",
       "words of one LoRA adapter slot (0 without LoRA); the memory holds a slot per stream, stream s's "
       "from LORA_ADDR s * LORA_WORDS", BUILD),
    _R("ATT_ENGINES", 0xE0, "R",
       "attention engines; the KV cache has min(ATT_ENGINES, KV_HEADS) banks (the debug window's KV addresses)",
       BUILD),
    _R("STREAMS", 0xE4, "R",
       "streams held at once: KV cache slots, each with its position (bitstreams before generator 1.4 read 0: one)",
       BUILD),
    _R("CHAIN", 0xE8, "R",
       "this chip's place in a chain: `[7:0]` index (0 = the first), `[15:8]` chips (1: no chain), "
       "`[23:16]` the whole model's index of its first layer", BUILD),
    _R("CONTEXTS", 0xEC, "R",
       "sequencer contexts sharing the matrix engine: stream s runs on context s % CONTEXTS, and streams on "
       "different contexts run at once; STREAM_SEL also picks the context every other register but LORA_ADDR, "
       "LORA_DATA and LORA_ENABLE reads and writes (bitstreams before generator 1.10 read 0: one)", BUILD),
    _R("TOKEN_WINDOW", 0x100, "R",
       "word i: token number TOKEN_ACK + i, bit31 valid, `[30:16]` the number's low 15 bits, `[15:0]` the token; "
       "0 past TOKEN_COUNT. No side effect: reading again returns the same words", None, words=64),
)
del _R


def check_table(regs: Tuple[Register, ...] = REGISTERS) -> None:
    """Raise ValueError unless every row is well formed and no two registers share a word."""
    names, words = set(), {}
    for r in regs:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", r.name):
            raise ValueError(f"register {r.name!r}: a name is upper case letters, digits and _")
        if r.name in names:
            raise ValueError(f"register {r.name} is in the table twice")
        names.add(r.name)
        if r.offset % 4 or not 0 <= r.offset or r.words < 1 or r.last >= ADDRESS_SPACE:
            raise ValueError(f"register {r.name}: offset {r.offset:#x} (+{r.words} words) is not word aligned "
                             f"inside 0x000..{ADDRESS_SPACE - 4:#05x}")
        if r.access not in ACCESS:
            raise ValueError(f"register {r.name}: access {r.access!r} is not one of {', '.join(ACCESS)}")
        if "\n" in r.description or not r.description.strip():
            raise ValueError(f"register {r.name}: the description is one non-empty line")
        if not (r.reset is None or r.reset == BUILD or (isinstance(r.reset, int) and 0 <= r.reset < 1 << 32)):
            raise ValueError(f"register {r.name}: reset {r.reset!r} is not a u32, {BUILD!r} or None")
        for i in range(r.index, r.index + r.words):
            if i in words:
                raise ValueError(f"registers {words[i]} and {r.name} share word {i} (offset {4 * i:#x})")
            words[i] = r.name


check_table()

BY_NAME: Dict[str, Register] = {r.name: r for r in REGISTERS}


def offsets() -> Dict[str, int]:
    """{name: byte offset} of every register (host/registers.py's constants)."""
    return {r.name: r.offset for r in REGISTERS}


def indices() -> Dict[str, int]:
    """{name: word index} of every register (hw/sim/regs.py's constants, hw_core's R_*)."""
    return {r.name: r.index for r in REGISTERS}

