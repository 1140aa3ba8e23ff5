"""The attention schedule: how the attention units run the heads and the KV cache positions.

One home for every fact of the schedule that the compiler needs, so that a new
schedule (heads in parallel, several positions per cycle, ...) is this module,
the attention units in hw/rtl/ (hw_att_engines.v, hw_attention.v,
hw_kv_cache.v), a field of `Knobs` (hw/rtlgen/knobs.py) and one parameter
passed through hw_core (hw/rtl/hw_core.v). Everything else asks here:

    knobs        `knob_checks`, `check_context`, `engines` (Knobs.__post_init__,
                 Knobs.resolved, Knobs.engines), `engine_counts`, `kv_banks`
    command line `add_arguments`, `knob_values` (hw/cli.py: compile and build)
    generated top `core_parameters`, `header_text` (hw/rtlgen/top.py)
    estimate     `cycles`, `token_cycles`, `rows`, `kv_cache_bits`, `describe`
                 (hw/rtlgen/estimate.py)
    fit check    `fit_cost`, `suggestions`, `SMALLEST` (hw/boards.py)
    --fastest    `search_variants`, `search_options`, `SEARCHED_OPTIONS` (hw/fastest.py, hw/cli.py)
    simulation   `kv_debug_index` (hw/sim/session.py: the KV cache's debug addresses)

The schedule today (docs/core.md): E engines (hw_att_engines), each an
hw_attention with a score stage and a value stage that take P KV cache
positions per cycle; the KV cache is one bank per engine (per kv head when the
engines of a kv head share its bank), P words per read.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from hw.golden import qk_bits
from hw.numerics import RECIP_BITS

POSITIONS = (1, 2, 4, 8)    # KV cache positions per cycle of each engine (ATT_P)
MAX_ENGINES = 64

# ---------------------------------------------------------------- knobs


def knob_checks(knobs) -> tuple[tuple[bool, str], ...]:
    """(ok, message) of the schedule's knobs on their own (Knobs.__post_init__ runs them last)."""
    return (
        (knobs.attention_positions in POSITIONS,
         f"attention positions per cycle must be 1, 2, 4 or 8, got {knobs.attention_positions}"),
        (0 <= knobs.attention_engines <= MAX_ENGINES,
         f"attention engines must be in 0..{MAX_ENGINES} (0 = one per kv head), got {knobs.attention_engines}"),
    )


def check_context(knobs, ctx: int) -> None:
    """KnobError unless the schedule can run a KV cache of `ctx` positions (Knobs.resolved)."""
    from hw.rtlgen.knobs import KnobError

    p = knobs.attention_positions
    if ctx % p:
        raise KnobError(f"attention positions per cycle ({p}) must divide the context ({ctx}): the KV cache "
                        f"reads rows of {p} positions; use --context {ctx - ctx % p or p} or "
                        f"--attention-positions {max(q for q in POSITIONS if ctx % q == 0)}")


def engines(knobs, n_kv_heads: int, n_heads: int | None = None) -> int:
    """Attention engines for a model with `n_kv_heads` (and `n_heads` query heads; 0 resolves to
    one per kv head). An engine count dividing the kv heads gives each engine its own KV cache
    bank; a multiple of the kv heads that divides the query heads lets the engines of a kv
    group (GQA) share their bank, reading it in lock step."""
    from hw.rtlgen.knobs import KnobError

    e = knobs.attention_engines or n_kv_heads
    nh = n_heads or n_kv_heads
    if n_kv_heads % e and (e % n_kv_heads or nh % e):
        raise KnobError(f"attention engines ({e}) must divide the model's {n_kv_heads} kv heads, or be a "
                        f"multiple of them dividing its {nh} query heads; use --attention-engines with one of "
                        f"{', '.join(map(str, engine_counts(n_kv_heads, nh)))}")
    if e > max(4, knobs.lanes):
        # hw_att_engines: the engines' writes of a cycle need distinct att buffer banks
        raise KnobError(f"{e} attention engines need at least {e} lanes; use --lanes {e} or more, "
                        f"or fewer --attention-engines")
    return e


def engine_counts(n_kv_heads: int, n_heads: int) -> list[int]:
    """The attention engine counts a model allows: divisors of the kv heads, then multiples of
    them that divide the query heads (engines sharing a kv head's bank)."""
    return sorted({e for e in range(1, n_heads + 1)
                   if n_kv_heads % e == 0 or (e % n_kv_heads == 0 and n_heads % e == 0)})


def kv_banks(engines: int, n_kv_heads: int) -> int:
    """KV cache banks of hw_att_engines: one per engine, or one per kv head when engines share them."""
    return min(engines, n_kv_heads)


# ---------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The schedule's build options (hardwire compile and build)."""
    p.add_argument("--attention-engines", type=int, default=0,
                   help="attention heads computed at once: a divisor of the kv heads (each engine with "
                        "its own KV cache bank) or a multiple of them dividing the query heads (the "
                        "engines of a kv head share its bank); default 0: one per kv head")
    p.add_argument("--attention-positions", type=int, default=1, choices=POSITIONS,
                   help="KV cache positions each attention engine reads and scores per cycle (must divide "
                        "the context): the attention passes cost ceil(position / P) cycles, for P x head_dim "
                        "more multipliers per engine (default 1)")


def knob_values(args: argparse.Namespace) -> dict:
    """The Knobs fields of `add_arguments`'s options."""
    return {"attention_engines": args.attention_engines, "attention_positions": args.attention_positions}


# ---------------------------------------------------------------- build --fastest (hw/fastest.py)

SEARCHED_POSITIONS = (1, 2, 4)      # the KV cache positions per cycle the search tries
SEARCHED_OPTIONS = ("attention_positions",)     # the `add_arguments` options the search chooses


def search_variants(knobs) -> list:
    """`knobs` with each schedule the search tries (the engines as given)."""
    from dataclasses import replace

    return [replace(knobs, attention_positions=p) for p in SEARCHED_POSITIONS]


def search_options(knobs) -> str:
    """The command-line options of the schedule the search chose ('' for the defaults)."""
    return f" --attention-positions {knobs.attention_positions}" if knobs.attention_positions > 1 else ""


# ---------------------------------------------------------------- generated top


def core_parameters(cfg, knobs) -> list[tuple[str, str, str]]:
    """(name, Verilog literal, comment) of hw_core's schedule parameters, in hw_core's order."""
    return [
        ("ATT_E", str(engines(knobs, cfg.n_kv_heads, cfg.n_heads)), "attention engines (KV cache banks)"),
        ("ATT_P", str(knobs.attention_positions), "KV cache positions per cycle of each attention engine"),
    ]


def header_text(cfg, knobs) -> str:
    """The schedule in the top's header comment (its knobs line)."""
    return f"attention engines {engines(knobs, cfg.n_kv_heads, cfg.n_heads)}"


# ---------------------------------------------------------------- estimate

DIV_SKIP, DIV_STEP = 15, 2                      # hw_attention's hw_recip_div: E >= 2**15, 2 bits per cycle
DIVIDER = -(-(RECIP_BITS + 1 - DIV_SKIP) // DIV_STEP)   # 13 cycles
DIV_STAGE = DIVIDER + 1  # steps (the divider starts with the hand-over), move (with done): cycles per head in the division stage
HEAD_GAP = 11            # value stage per head: rows + HEAD_GAP (score drain, the row sums, hand-overs; measured)
# a head after the first of an engine's layer with at least V_EARLY_ROWS rows: its keys were issued while
# the head before it was scored, and the value stage takes it while that head's sums still drain
# (hw_attention V_EARLY_ROWS): rows + HEAD_GAP_NEXT
V_EARLY_ROWS = 9
HEAD_GAP_NEXT = 2        # (fitted with ATT_TAIL's 3 below: the settings with 2 heads per engine; - 1 with
                         # generator 1.5's value pipeline stage and V_EARLY_ROWS 9, fitted with ATT_TAIL's + 2)
# last head: exp drain, row sums, divide, first output, wo start; the sum of the stages (5 + DIV_STAGE
# + 6 + 4 + 14 = 45) less 24 measured to overlap the qkv drain: fitted before RoPE took two pairs a
# cycle, at 16 x 16 it absorbed RoPE's wait and over-counted ~24 a layer wherever RoPE did not wait;
# + 3 refitted with generator 1.3.1's schedule (models/default and stories260K at 16 x 16, one engine
# per kv head and one per query head: within ~1.5 cycles a layer of each)
# + 2 refitted with generator 1.5's (max - s) register (models/default 16 x 8 and 16 x 16q, stories260K
# 16 x 16 and 16 x 16q, seventeenth session: within 0.1 % on models/default, 6 cycles on stories260K)
# + 1: generator 1.6.1's output product in two halves (hw_attention phase 4, a stage more)
ATT_TAIL = 5 + DIV_STAGE + 6 + 4 + 14 - 24 + 3 + 2 + 1


@dataclass(frozen=True)
class Cycles:
    """The schedule's terms of a token's cycles (hw/rtlgen/estimate.py's Estimate holds them as
    `attention_schedule`, and records the first six in its attention_* fields). A new schedule
    adds what its `token_cycles` needs here."""
    engines: int            # E
    fixed: int              # per token, attention cycles that do not grow with position
    per_pos: int            # per token, attention cycles per row of P positions (L * (NH / E + 1))
    head_min: int           # a head costs at least this (divider or output stage) at small p
    rounds: int             # heads per engine over all layers (L * NH / E)
    positions: int          # P
    kv_write: int           # per token, the KV cache writes (counted with the vector steps)
    heads_per_engine: int = 1   # NH / E (rounds per layer)


def cycles(model, knobs, words_per_pass: int) -> Cycles:
    """The schedule's cycle terms for `model` with resolved `knobs`; `words_per_pass`: the matrix
    words of a pass over a dim-column matrix (wo's)."""
    cfg = model.config
    L, NH, hd = cfg.n_layers, cfg.n_heads, cfg.head_dim
    e = engines(knobs, cfg.n_kv_heads, NH)
    hpe = NH // e                                         # heads per attention engine (rounds)
    # wo starts wo_lead cycles after engine 0's last head's first output (its x reads trail the
    # last round's output writes, hw_core ATT_LEAD), or after all HD outputs of every engine
    # (staggered by one cycle each) when wo has a LoRA adapter (it reads all of att first)
    lead = (hd + 2 + e - 1 if "wo" in knobs.lora_targets
            else wo_lead(hd, hpe, e, knobs.values_per_lane))
    fixed = L * (hpe * HEAD_GAP + ATT_TAIL + lead)
    # per layer: the first head's score pass, then each head's value pass (the next
    # head's scores overlap it)
    per_pos = L * (hpe + 1)
    # the back takes a head at least every HD cycles (outputs) or DIV_STAGE + 2 (the divider takes the
    # next head's sums the cycle after the last one moves on, then the move itself; measured)
    head_min = max(hd, DIV_STAGE + 2)
    # KV write: a layer's kv heads per bank (banks at once); the engines start with the last
    kv_write = L * (cfg.n_kv_heads // kv_banks(e, cfg.n_kv_heads))
    return Cycles(e, fixed, per_pos, head_min, L * hpe, knobs.attention_positions, kv_write, hpe)


def wo_lead(hd: int, hpe: int, e: int, vpl: int) -> int:
    """Cycles from engine 0's last head's first output (cycle F) to wo being taken (cycle S), hw_core's
    ATT_LEAD + 3 (att_tail_go, then S_ATT_W, S_MV_NEXT, S_MV_START). wo reads att word w (vpl
    elements) in cycle S + 1 + w; element i of engine j's last head is written in cycle F + i + j
    (engine j's stream is delayed j cycles), its earlier heads' elements before F + j: S + w >= F + t
    for each."""
    need = max(max(((i + j) if r == hpe - 1 else j - 1) - ((j * hpe + r) * hd + i) // vpl
                   for j in range(e) for r in range(hpe) for i in range(hd)), 0)
    return max(3, need)


def rows(pos: int, positions: int) -> int:
    """Cycles of one pass over the positions 0..pos: rows of P positions."""
    return -(-(pos + 1) // positions)


def token_cycles(est, pos: int) -> int:
    """The attention cycles of the token at position `pos` in the Estimate `est` (its
    `attention_schedule`, what `cycles` gave): every head's passes, and the stall where a head is
    shorter than its divider or output stage."""
    c = est.attention_schedule
    r = rows(pos, c.positions)
    layers, later = c.rounds // c.heads_per_engine, c.heads_per_engine - 1     # later: heads after the first
    gap = HEAD_GAP_NEXT if r >= V_EARLY_ROWS else HEAD_GAP
    # a head after the first waits for the back (divider, outputs) when its front is shorter
    stall = layers * later * max(0, c.head_min - (r + gap))
    return c.fixed + c.per_pos * r + stall - layers * later * (HEAD_GAP - gap)


def kv_cache_bits(cfg, context: int, streams: int = 1, qk_bits: int = 8) -> int:
    """Keys (int8, or int16 with qk_bits 16) and int8 values of every layer, position and stream."""
    return streams * cfg.n_layers * context * cfg.kv_dim * (qk_bits + 8)


def describe(est) -> str:
    """The attention row of the estimate's table."""
    return (f"{est.attention_fixed:,} + {est.attention_per_pos:,} x ceil((p+1) / {est.attention_positions})"
            f" (a head at least {est.attention_head_min} cycles)")


# ---------------------------------------------------------------- fit check
# synth_ecp5 of one hw_attention (head dim 8, context 256) is 23 MULT18X18D, 1,186 LUT4 + 342 CCU2C,
# 2,066 FF and 2 DP16KD (score RAM, exp2 table): head_dim for q . k (LUT adders with LUT MACs),
# head_dim for the weighted values, 7 for the exponent, the reciprocal product and the output requant
# (Xilinx DSP48 too: synth_xilinx of the v2 core, models/default at 16 x 8 LUT MACs, two engines,
# rmsnorm width 8, used 100 DSP48E1, which this count gives exactly). The families' DSP_FIXED
# (hw/backends/<family>.py `fit`) was calibrated with one engine of models/default (head dim 16, DSP
# MACs); the engines are counted here, that one taken back out.
CALIBRATION_HEAD_DIM = 16
# LUT slots per engine past the first, before the family's factor: 1,900 for hw_attention alone,
# 3,200 more for what each engine adds around it (its KV bank's and query's multiplexers, the
# staggered outputs, the att buffer's write ports), fitted to nextpnr's TRELLIS_COMB of
# models/default at 16 x 16 (2 engines, 61,621) and stories260K at 14 x 16 (4 engines, 71,042)
ENGINE_LUTS = 5_100
ENGINE_FFS = 2_100
ENGINE_BLOCKS = 1           # each engine past the first: its exp2 table (its score buffers: below)


def engine_other_dsps(family: str) -> int:
    """An attention engine's DSPs besides its per-position products (the family's calibration)."""
    from hw.backends import FAMILIES

    return FAMILIES[family].fit.engine_other_dsps


def engine_dsps(family: str, head_dim: int, lut_macs: bool, positions: int = 1) -> int:
    """DSPs of one attention engine taking `positions` KV cache positions per cycle: per position
    the q . k products (none with LUT MACs), the weighted values and the exponent's product."""
    per_position = (1 if lut_macs else 2) * head_dim + 1
    return positions * per_position + engine_other_dsps(family) - 1


@dataclass(frozen=True)
class Cost:
    """What the schedule adds to the fit check's needs (hw/boards.py `needs`)."""
    luts: int               # LUT slots, before the family's factor
    ffs: int
    dsps: int               # families with DSPs: the engines' less the one DSP_FIXED counts
    multipliers: int        # families without: the multipliers the other engines would put in DSPs
    kv_blocks: int          # the KV cache banks
    blocks: int             # the engines' score buffers and exp2 tables past FIXED_BLOCKS' one


QK16_LUTS, QK16_FFS = 300, 30      # per head_dim element of an engine, int16 q and k (fit_cost)
# flip-flops per head_dim element of an engine for each KV position a cycle past the first (its key and
# value rows, products and sums through the pipelines): synth_ecp5 of stories260K at 11 x 16, 4 engines,
# P = 2 (generator 1.14) gave 28,912 TRELLIS_FF where the count without this term was 28,219; the P = 1
# build of the same setting places ~2,400 under its count
POSITION_FFS = 100


def fit_cost(model, knobs, family: str, kb: int) -> Cost:
    """The schedule's resources for `model` with resolved `knobs` on a `family` device with
    `kb`-kbit block RAMs."""
    from hw.boards import _bit_blocks, _blocks

    cfg = model.config
    e, pos, hd = engines(knobs, cfg.n_kv_heads, cfg.n_heads), knobs.attention_positions, cfg.head_dim
    extra = e - 1                                     # engines past the first
    # the KV cache is one bank per engine (per kv head when engines share them), each P memories
    # per cache (P positions per read) of bank_words / P words, rounded up to whole blocks
    banks = kv_banks(e, cfg.n_kv_heads)
    bank_words = knobs.streams * cfg.n_layers * (cfg.n_kv_heads // banks) * knobs.context
    words, qkb = bank_words // pos, qk_bits(model)
    kv = banks * pos * sum(max(_blocks(words, width, kb), _bit_blocks(words * width, kb))
                           for width in (qkb * hd, 8 * hd))      # the key and the value cache
    # each engine's two score buffers, 2**ceil(log2(context / P)) rows of P scores of
    # 15 + log2(head dim) bits each (stored less 1, hw_attention SCW; FIXED_BLOCKS holds one block of
    # the first engine's)
    score_words = 2 << max(0, (knobs.context // pos - 1).bit_length())
    score_bits = pos * (15 + max(1, (hd - 1).bit_length()))
    score = e * _blocks(score_words, score_bits, kb)
    # an exp2 table per engine, read through both ports of a block RAM: one block per two positions
    # (generator 1.13; one per position where a block RAM has one read port; the first engine's
    # first block: FIXED_BLOCKS)
    from hw.backends import FAMILIES

    ports = FAMILIES[family].rom_read_ports
    blocks = ENGINE_BLOCKS * extra + e * (-(-pos // ports) - 1) + score - 1
    # LUT MACs also move each engine's q . k into LUT adders: 8 bit planes of head_dim int8 adds
    # per position per cycle (P of them); each position past the first also ~195 per head_dim element
    # (the row sums of the weighted values, wider KV and score words, masks): fitted to the placed
    # models/default 16 x 16, two engines, P = 2 (72,558 TRELLIS_COMB, docs/boards.md)
    # (generator 1.6's hw_plane_sums: the lanes' saving of ~4 slots per plane and value, counted as 3)
    # int16 q and k (qk_bits 16): synth_ecp5 of one engine (head dim 16, LUT q . k) 2,364 LUT4 + 836
    # CCU2C, 4,252 FF at 8 bits, 5,453 + 1,752 and 4,740 at 16: ~300 LUT slots and ~30 FF per head_dim
    # element more (16 planes of int16 sums; the wider key rows)
    qk_luts = (7 * 8 * hd + (QK16_LUTS * hd if qkb == 16 else 0) if knobs.macs == "lut" else 0) * pos \
        + 195 * hd * (pos - 1)
    qk_ffs = (QK16_FFS * hd * pos if qkb == 16 else 0) + POSITION_FFS * hd * (pos - 1)
    luts = ENGINE_LUTS * extra + qk_luts * e
    dsps = mults = 0
    if _has_dsps(family):
        dsps = (e * engine_dsps(family, hd, knobs.macs == "lut", pos)
                - engine_dsps(family, CALIBRATION_HEAD_DIM, False))
    else:       # iCE40: the multipliers an ECP5 puts in DSPs become LUTs
        mults = engine_dsps("ecp5", hd, False) * extra
    return Cost(luts, ENGINE_FFS * extra + qk_ffs * e, dsps, mults, kv, blocks)


def _has_dsps(family: str) -> bool:
    from hw.backends import FAMILIES

    return bool(FAMILIES[family].fit.dsp_per_requant)


def suggestions(model, knobs, fits) -> list[str]:
    """The schedule's knob changes that make a design fit (`fits(knobs) -> bool`), one per knob."""
    from dataclasses import replace

    out = []
    e = engines(knobs, model.config.n_kv_heads, model.config.n_heads)
    allowed = engine_counts(model.config.n_kv_heads, model.config.n_heads)
    for n in range(e - 1, 0, -1):
        if n in allowed and fits(replace(knobs, attention_engines=n)):
            out.append(f"--attention-engines {n} (from {e})")
            break
    for p in (4, 2, 1):
        if p < knobs.attention_positions and fits(replace(knobs, attention_positions=p)):
            out.append(f"--attention-positions {p} (KV cache positions per cycle, from {knobs.attention_positions})")
            break
    return out


# the schedule of the fit check's smallest build, and how its refusal names it
SMALLEST = {"attention_engines": 1}
SMALLEST_TEXT = "one attention engine"


# ---------------------------------------------------------------- simulation


def kv_debug_index(layers: int, n_kv_heads: int, head_dim: int, context: int, engines: int,
                   layer: int, pos: int, streams: int = 1, stream: int = 0) -> list[int]:
    """The debug window's word addresses of the keys (or values) of (layer, position) of `stream`,
    kv head by kv head, element by element: bank, then the bank's word (stream's slot, layer, kv
    head in the bank, position), then the element."""
    def clog2(n: int) -> int:           # Verilog's $clog2 for a field width, at least 1
        return max(1, (n - 1).bit_length())

    banks = kv_banks(engines, n_kv_heads)
    per_bank = n_kv_heads // banks                    # kv heads in each bank of the cache
    slot = layers * per_bank * context                # a stream's words in each bank
    bank_bits = clog2(streams * slot)
    hb = clog2(head_dim)
    return [((h // per_bank) << bank_bits | stream * slot + (layer * per_bank + h % per_bank) * context + pos)
            << hb | i
            for h in range(n_kv_heads) for i in range(head_dim)]
