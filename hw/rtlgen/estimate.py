"""What a build will cost, before any simulation or synthesis.

Cycles per token follow hw_core (docs/core.md): the matrix engine streams one
ROM word per cycle (passes x words per matrix, padding included) with
matrices back to back, and waits for its pipeline to drain where the next
step needs every result (q/k/v before attention, the SiLU gate before w2, the
logits before the sampler). The element-wise steps trail the matrix results
(RoPE behind wq/wk, rmsnorm pass 1 behind the residual writes, the SiLU gate
behind w3) and run several elements per cycle (rmsnorm 2, SiLU enough to
keep up with w3), so what is left of them is a short tail each. Attention per
head costs max(rows + HEAD_GAP, the divider or output stage) cycles (rows =
ceil((p+1) / P), P positions per cycle) once
the stages overlap (an engine's score stage streams the next head's keys while
its value stage streams this head's values, and the back divides and writes
the head before), plus the first head's score pass and one tail per layer. The constants below name each
assumption; tests/test_bench.py and `make bench` compare the model with the
Verilator measurement (docs/bench.md).
Resources count multipliers, ROM and BRAM bits exactly and LUTs roughly.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from hw.architecture import UNIT_LATENCY, layer_shapes
from hw.golden import qk_bits
from hw.rtlgen import attention
from hw.rtlgen.attention import ATT_TAIL, DIV_STAGE, DIVIDER, HEAD_GAP  # noqa: F401  (their home)
from hw.rtlgen.layout import SCALE_BITS, Layout

MATVEC_LATENCY = UNIT_LATENCY["MATVEC_LATENCY"][0]     # hw_matvec: x_req of a row's last word -> its result
WRITEBACK = 2            # core: saturate / residual add of a result
RES_WRITE = 1            # core: the residual's writes are registered before its banks (res_wv), a cycle later
DRAIN = MATVEC_LATENCY + WRITEBACK + 1          # last word -> results in the buffers, sequencer moves on
RSQRT_LATENCY = 4        # hw_rsqrt
# rmsnorm: last group squared, summed (rsqrt starts with the last add) -> rsqrt, the scale pass issuing
# in its last 2 cycles -> matvec start; + 2 for generator 1.5's operand register before its multiplier
# (the last square, and `soon`, a cycle later each)
NORM_TAIL = 3 + RSQRT_LATENCY - 2 + 1 + 6 + 2
# the attention schedule's constants (HEAD_GAP, ATT_TAIL, DIV_STAGE, ...) and its cycle terms:
# hw/rtlgen/attention.py
MV_WRITE = MATVEC_LATENCY + 1   # x_req of a pass's last word -> its rows written (hw_core MV_WRITE)
H1_WRITE = UNIT_LATENCY["H1_WRITE"][0]                  # core: h1's writes registered before its banks
SILU_LATENCY = UNIT_LATENCY["SILU_LATENCY"][0] + H1_WRITE + 1   # a SiLU gate's issue -> its element readable in h1
W2_LORA_START = 3        # w3 written -> w2's LoRA delta starts when w2 has an adapter (it reads the whole gate)
EMB_LATENCY = UNIT_LATENCY["EMB_LATENCY"][0]         # embedding ROM, its register, hw_rq
ROPE_LATENCY = UNIT_LATENCY["ROPE_LATENCY"][0] + 2   # hw_rope's pipeline, write back, sequencer
LORA_STEPS = 16          # LoRA: start, parameter words, pipeline (per adapter)
TOKEN_STEPS = 26         # fetch (in the emit cycle when generating), the embedding with its norm started, sampler finish, emit (calibrated)
LAYER_WORD_BITS = 96     # layer.hex word
TABLE_BITS = 256 * 16 + 1024 * 16      # exp2 + rsqrt tables
PAIR_SAVING = 3          # LUT slots per weight bit and value that generator 1.6's value pairs save (below)
# LUT slots per lane value beyond the MAC and its accumulator share: models/default at 16 x 16 LUT MACs,
# no LoRA, generator 1.5, placed 71,453 TRELLIS_COMB where the fit check had counted 70,398 (eighteenth
# session); 4 a value (x 1.22) covers it and keeps 16 x 8 with LoRA (64,426 placed) covered
VALUE_LUTS = 4
# LUT slots per lane value on a multiplier (hw_mac_pack: the packed operand, the pair sum, the split and
# the lane's sum). synth_ecp5 of hw_matvec at 16 lanes, 4-bit weights (twenty-sixth session): 16 x 8 LUT
# values 7,369 LUT4 + 2,117 CCU2C; 16 x 12 with 4 of the 12 on multipliers 6,514 + 2,814 (+539 slots
# for 64 values, ~8.4 each; 16 x 12 all LUT: 9,466 + 2,848); counted twice that, and 2 more since
# 16 x 16 with 6 on multipliers placed 59,060 TRELLIS_COMB (twenty-eighth session, 73 over the count).
# Weights up to PACK_MAX_BITS pack two lanes per multiplier (hw_mac_pack's PACK)
DSP_VALUE_LUTS = 18
PACK_MAX_BITS = 4
CORE_LUTS = 3000         # sequencer, register file, vector buffers, sampler (rough)
# generator 1.15's h1 write stage and registered SiLU reads: synth_xilinx of models/default 16x16d6n8 (4-bit,
# LUT MACs) used 102 LUT6 more than on 1.14, 68-207 across the five xc7 rows (docs/vivado.md); synth_ecp5 of
# stories260K 11x16p2d2n4 84 LUT4 more
H1_SILU_STAGE_LUTS = 200
# Lanes that do not line up with the vector buffers' banks (hw_vecbuf: element e in bank e mod G, G the
# next power of two): a pass's rows then start at one of P = G / gcd(lanes, G) bank offsets, so the
# write-back's residual read window picks each of its lanes x 16 bits among P banks, and the writes of the
# residual, h1, h3 and xn buffers (17 + 9 + 9 + 9 bits a bank) are rotated into the G banks by log2 P
# mux levels. With lanes = G, P = 1 and both fold away. Counted as P:1 muxes of (P - 1) / 3 LUT4s and one
# LUT4 per bit and level, times 0.3: stories260K at 11 x 16 (generator 1.12, twenty-ninth session) placed
# 59,559 TRELLIS_COMB, which the line covers with this term at 61,3xx (generator 1.11.1's per-bank writer
# search placed 68,491).
UNALIGNED_MUX_FACTOR = 0.3
# depth x width shapes of an 18-kbit block RAM (ECP5 DP16KD, Xilinx RAMB18, one port)
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def bram18_blocks(depth: int, width: int) -> int:
    """18-kbit block RAMs for one depth x width memory, best aspect ratio."""
    return min(-(-depth // d) * -(-width // w) for d, w in BRAM18_SHAPES)


@dataclass(frozen=True)
class Estimate:
    # ---- cycles per token (position-independent parts)
    weight_macs: int              # R*C summed over the walk
    ideal_matrix_cycles: int      # weight_macs / (LANES*VPL)
    matrix_cycles: int            # the walker's real count (passes x words, padding included)
    drain_cycles: int             # pipeline drains between dependent steps
    vector_cycles: int            # what the element-wise steps add: embedding, norm/SiLU/KV/sampler tails
    attention_fixed: int          # per token, attention cycles that do not grow with position
    attention_per_pos: int        # per token, attention cycles per row of P positions (L * (NH / E + 1))
    attention_head_min: int       # a head costs at least this (divider or output stage) at small p
    # ---- resources
    lanes: int
    vpl: int
    mac_multipliers: int          # int8 x WB-bit, LANES*VPL
    requant_multipliers: int      # ACC_W x 16, one per requantizer (a lane or two, Layout.rq_share)
    weight_rom_bits: int          # lane ROMs as built (WB bits per weight, padding included)
    weight_rom_blocks: int        # 18-kbit block RAMs for the lane ROMs (one per lane at least)
    weight_bits_used: int         # the weights at their own class bits
    scale_rom_bits: int
    table_bits: int               # embedding, norms, rope, silu, exp2, rsqrt, layer constants
    kv_cache_bits: int
    lora_bits: int
    luts: int                     # rough
    attention_engines: int = 1    # hw_att_engines: heads at once, each with its KV cache bank
    norm_width: int = 2           # hw_rmsnorm: elements per cycle, 3 multipliers each
    attention_rounds: int = 0     # heads per engine over all layers (L * NH / E)
    attention_positions: int = 1  # KV cache positions per cycle of each engine (P)
    embedding_width: int = 1      # embedding elements per cycle (an 8 x 16 hw_rq each)
    rope_width: int = 1           # RoPE pairs per cycle (hw_rope_pair: 4 products each)
    # the attention schedule's terms as hw/rtlgen/attention.py computed them (`cycles`); its
    # `token_cycles` reads them. Not in to_json: the attention_* fields above record them.
    attention_schedule: attention.Cycles | None = field(default=None, compare=False, repr=False)
    lora_cycles: int = 0          # per token, what the LoRA passes add while an adapter is loaded
    ff_basis: int = 0             # the LUT count the fit check's flip-flop line reads: generator 1.5's
                                  # (1.6's value pairs took LUTs, not flip-flops)
    core_luts: int = 0            # of `luts`, the core's own logic (not the matrix engine's): what another
                                  # sequencer context (knobs.contexts) costs again
    contexts: int = 1             # sequencer contexts sharing the matrix engine (knobs.contexts)
    lane_ffs: int = 0             # flip-flops of the matrix engine that ff_basis does not cover (lane_ffs)
    product_ffs: int = 0          # the registers after the lanes' multipliers (product_ffs)

    def attention_rows(self, pos: int) -> int:
        """Cycles of one pass over the positions 0..pos: rows of P positions."""
        return attention.rows(pos, self.attention_positions)

    def cycles(self, pos: int, lora: bool = False) -> int:
        """Cycles of the token at position `pos` (0-based), classifier included; `lora`: with
        an adapter loaded (the LoRA passes run only then)."""
        return (self.matrix_cycles + self.drain_cycles + self.vector_cycles
                + attention.token_cycles(self, pos) + self.lora_cycles * lora)

    def shared_cycles(self, pos: int) -> float:
        """The bound on cycles per token, aggregate, with every context running a stream at position
        `pos`: the engine walks each token's matrices alone, and a context takes its own cycles per
        token (docs/bench/streams.md measures 1.06-1.14 x this)."""
        return max(self.matrix_cycles, self.cycles(pos) / self.contexts)

    @property
    def rom_waste_bits(self) -> int:
        return self.weight_rom_bits - self.weight_bits_used

    def to_json(self, positions: list[int]) -> dict:
        d = asdict(self)
        del d["attention_schedule"]
        d["cycles_per_token"] = [{"position": p, "cycles": self.cycles(p)} for p in positions]
        d["rom_waste_bits"] = self.rom_waste_bits
        return d


def rope_wait(layout: Layout, layer: int, rope_w: int) -> int:
    """Cycles the sequencer waits for RoPE after a layer's q, k, v results are in: RoPE takes
    rope_w pairs per cycle, each group once its q (then k) rows are written (a pass of LANES rows
    every `words` cycles), ROPE_LATENCY after its issue the pairs are back in q / k."""
    wq, wk, wv = (layout.slot(n, layer) for n in ("wq", "wk", "wv"))
    lat = MATVEC_LATENCY + WRITEBACK

    def row_ready(slot, start: int):     # rows written by each cycle: pass i's LANES rows
        return [start + (r // layout.lanes + 1) * slot.words + lat for r in range(slot.rows)]

    q_rows = row_ready(wq, 0)
    k_rows = row_ready(wk, wq.passes * wq.words)
    qkv_done = (wq.passes * wq.words + wk.passes * wk.words + wv.passes * wv.words) + DRAIN
    t = -1
    for rows in (q_rows, k_rows):
        for first in range(0, len(rows), 2 * rope_w):
            t = max(t + 1, rows[min(len(rows), first + 2 * rope_w) - 1])
    return max(0, t + ROPE_LATENCY - qkv_done)


def w2_delay(hidden: int, lanes: int, vpl: int, dim: int) -> int:
    """hw_core's w2_delay: the fewest cycles from w3's last word (cycle E) to taking w2 (cycle S) with
    w2's x reads (element i in cycle S + 1 + i / vpl) after the SiLU gate's writes: w3's pass k is
    written in cycle E + MV_WRITE - (K - 1 - k) * wpp, the gate issues a group of silu_w elements in
    the cycle after its h3 rows are written (and after the group before), each readable
    SILU_LATENCY cycles after its issue."""
    wpp = -(-dim // vpl)
    silu_w = silu_width(lanes, wpp, hidden)
    best, c = 0, -8 * hidden
    for first in range(0, hidden, silu_w):
        last = min(first + silu_w, hidden) - 1
        c = max(MV_WRITE + 1 - ((hidden - 1) // lanes - last // lanes) * wpp, c + 1)
        best = max([best] + [c + SILU_LATENCY - 1 - i // vpl for i in range(first, last + 1)])
    return best


def norm_lead(dim: int, vpl: int, nw: int) -> int:
    """Groups of nw elements the rmsnorm's scale pass writes before the matrix after it starts
    (hw_core NORM_LEAD): word w, read w cycles after the first, needs the group of its last element."""
    return max(-(-min(dim, vpl * (w + 1)) // nw) - 1 - w for w in range(-(-dim // vpl)))


def packs_two_lanes(wb: int) -> bool:
    """hw_mac_pack's PACK: an int8 x wb-bit product pair shares one 18 x 18 multiplier (wb <= 4)."""
    return wb <= PACK_MAX_BITS


def silu_width(lanes: int, wpp: int, hidden: int) -> int:
    """hw_core SILU_W: SiLU gates per cycle, enough to keep up with w3's rows (lanes every wpp cycles)."""
    return min(-(-lanes // wpp), hidden)


def vecbuf_banks(lanes: int, vpl: int, norm_w: int, hidden: int, wpp: int) -> int:
    """hw_core VB_G: the vector buffers' banks, the next power of two of the widest writer or window."""
    return 1 << (max(lanes, norm_w, vpl, silu_width(lanes, wpp, hidden), 4) - 1).bit_length()


def unaligned_lane_luts(lanes: int, vpl: int, norm_w: int, hidden: int, wpp: int) -> int:
    """The residual window's pick and the four buffers' write rotation when the lanes do not line up
    with the banks (UNALIGNED_MUX_FACTOR)."""
    banks = vecbuf_banks(lanes, vpl, norm_w, hidden, wpp)
    offsets = banks // math.gcd(lanes, banks)
    if offsets == 1:
        return 0
    pick = lanes * 16 * (offsets - 1) / 3
    rotate = (17 + 3 * 9) * banks * (offsets - 1).bit_length()
    return int(UNALIGNED_MUX_FACTOR * (pick + rotate))


def lane_ffs(knobs, lay: Layout, banks: int) -> int:
    """The matrix engine's flip-flops beside the fit check's calibrated line: generator 1.12's register of
    each lane's product sum (ACC_W bits, hw_mac_lane psum_s4) and, with values on packed multipliers, each
    pair's split parts (hw_mac_pack lo_s3 / hi_s3: 2 WB + 19 bits per two values; the packed operands sit
    in the multipliers' input registers). 16 x 16 with 6 values packed placed 25,186 TRELLIS_FF on
    generator 1.11.1 where the line alone counted 24,871. Generator 1.14's residual write stage (hw_core
    res_wv / res_wd and the first writer's index: 17 bits a lane and 32) is counted here too: synth_ecp5 of
    models/default at 16 x 4 gave 23,694 TRELLIS_FF where the count without it was 23,542. Generator 1.15's
    h1 write stage and registered SiLU reads are counted the same way."""
    split = 0
    if knobs.macs == "lut" and knobs.dsp_values and packs_two_lanes(lay.wb):
        split = -(-lay.lanes // 2) * -(-knobs.dsp_values // 2) * (2 * lay.wb + 19)
    res_write = lay.lanes * (1 + 16) + 32
    # generator 1.15: h1's write stage (9 bits a lane and the first index) and the SiLU stage's registered
    # reads (hw_vecbuf REG_PORTS: the `banks` bank words of h1 and h3, 8 bits each, and their starts)
    h1_write = lay.lanes * (1 + 8) + 32
    silu_read = 2 * (banks * 8 + 32)
    # generator 1.16: each LUT lane's weighed planes (hw_mac_lane weighted_s4: 9 + log2(bit-plane values) + WB)
    weighed = lay.lanes * (9 + max(0, lay.vpl - knobs.dsp_values - 1).bit_length() + lay.wb) \
        if knobs.macs == "lut" else 0
    return lay.lanes * lay.acc_bits + split + res_write + h1_write + silu_read + weighed


def product_ffs(knobs, lay: Layout) -> int:
    """Generator 1.16's registers after the lanes' multipliers (hw_mac_pack p_s3: a packed product is
    2 WB + 18 bits, an unpacked one 8 + WB; hw_mac_lane's DSP MACs the same per value). A family whose
    multipliers take them (FitCalibration.dsp_output_regs) spends no flip-flops on them."""
    if knobs.macs != "lut":
        return lay.lanes * lay.vpl * (8 + lay.wb)
    if not knobs.dsp_values:
        return 0
    product_bits = 2 * lay.wb + 18 if packs_two_lanes(lay.wb) else 8 + lay.wb
    return mac_multipliers(knobs, lay) * product_bits


def mac_multipliers(knobs, lay: Layout) -> int:
    """The lanes' int8 x weight multipliers: a value each with DSP MACs; with LUT MACs only the
    dsp_values, one per two lanes (hw_mac_pack, the last lane alone when the lanes are odd) when the
    widest class packs, else one per lane."""
    if knobs.macs != "lut":
        return lay.lanes * lay.vpl
    if packs_two_lanes(lay.wb):
        return -(-lay.lanes // 2) * knobs.dsp_values
    return lay.lanes * knobs.dsp_values


def lora_targets(knobs) -> tuple:
    return tuple(knobs.lora_targets) if knobs.lora_rank else ()


def estimate(model, layout: Layout, knobs) -> Estimate:
    """Estimate for `model` (IntModel) built with `layout` and resolved `knobs`."""
    cfg = model.config
    L, D, H, V, NH, hd, KVD = (cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.vocab_size,
                               cfg.n_heads, cfg.head_dim, cfg.kv_dim)
    lay, ctx = layout, knobs.context
    macs = lay.weight_macs
    ideal = -(-macs // (lay.lanes * lay.vpl))
    walk = sum(s.passes * s.words for s in lay.slots)
    # qkv, wo, w2 per layer and the classifier: the last word's results reach the buffers
    drain = (3 * L + 1) * DRAIN
    nw = knobs.norm_lanes(D)                              # rmsnorm elements per cycle
    wpp = -(-D // lay.vpl)                                # matvec words per pass of a D-column matrix
    # last pass's rows written and summed, rsqrt, then the scale pass runs ahead of the matrix by
    # norm_lead groups (the matrix reads VPL elements per cycle, the norm writes nw)
    norm = -(-lay.lanes // nw) + RES_WRITE + NORM_TAIL + norm_lead(D, lay.vpl, nw)
    sampler = greedy_scan(lay.lanes, wpp, V)
    ew = knobs.emb_lanes(D)                               # embedding elements per cycle
    att = attention.cycles(model, knobs, wpp)             # the attention schedule's terms
    vector = (D // ew + EMB_LATENCY + TOKEN_STEPS + norm - -(-lay.lanes // nw) + 1   # embedding, its norm
              + 2 * L * norm                                    # the other norms, the final one
              + att.kv_write                                    # KV write (attention.py)
              # w3's last word -> w2's first: w2_delay + 1 (one DRAIN of drain_cycles is this gap)
              + L * (w2_delay(H, lay.lanes, lay.vpl, D) + 1 - DRAIN)
              + sampler                                         # greedy scan of the last logit word
              + sum(rope_wait(lay, layer, knobs.rope_lanes(cfg)) for layer in range(L)))
    # LoRA (hw_lora, 4 MACs per cycle), only while an adapter is loaded (LORA_ENABLE): each
    # adapter waits for the matrix before it to be written back, then computes A x and B u
    # before its matrix starts; w2 with an adapter waits for the whole gate instead of trailing it
    shapes = layer_shapes(cfg)
    lora_cycles = 0
    if knobs.lora_rank:
        r = knobs.lora_rank
        lora_cycles = L * sum(DRAIN + LORA_STEPS + r * -(-c // 4) + rows * -(-r // 4)
                              for t, (rows, c) in shapes.items() if t in knobs.lora_targets)
        if "w2" in lora_targets(knobs):
            lora_cycles += L * (W2_LORA_START - (w2_delay(H, lay.lanes, lay.vpl, D) + 1 - DRAIN))
    bits = model.knobs["bits"]
    used = sum(s.rows * s.cols * s.bits for s in lay.slots)
    rom = lay.lanes * lay.lane_rom_bits
    scale = lay.lanes * lay.scale_depth * SCALE_BITS
    tables = (V * D * bits["embedding"] + V * SCALE_BITS        # embedding + its (m, sh)
              + (2 * L + 1) * D * 16                            # rmsnorm gains
              + ctx * (hd // 2) * 32                            # rope cos/sin
              + L * 256 * 16 + TABLE_BITS + L * LAYER_WORD_BITS)
    kv = attention.kv_cache_bits(cfg, ctx, knobs.streams, qk_bits(model))
    lora = knobs.streams * sum(L * knobs.lora_rank * (r + c) * 8 for t, (r, c) in shapes.items()
                               if t in knobs.lora_targets) if knobs.lora_rank else 0    # a slot per stream
    # LUT4 rough count: a LUT multiplier ~ a*b LUTs, an adder ~ 1 LUT per bit,
    # the requant rounding shifter ~ 6 mux levels over ACC_W+16 bits.
    # LUT MACs (knobs.macs == "lut"): WB bit planes of VPL masked int8 adds per lane, ~19 LUT
    # slots per weight bit and value (synth_ecp5 of one lane: 470 slots at 8 x 4 bits, 1,250 at
    # 16 x 4 bits, above the DSP lane). rmsnorm: ~300 per element per cycle past 2. Both fitted,
    # with hw/boards.py's engine cost, to two placed builds (docs/boards.md, "Core v2").
    # Generator 1.6 takes the values in pairs (hw_plane_sums: one 4-way pick per pair and plane, half the
    # tree leaves, each tree level at the width it needs): synth_ecp5 of one lane saves 3.8 slots per weight
    # bit and value at 4 bits, 4.5 at 8 (8 and 16 values); counted as 3 until a placed build has them.
    mac_luts = (19 - PAIR_SAVING if knobs.macs == "lut" else 8) * lay.wb
    # a lane with several ROM groups picks its group's word: a mux level per extra group; of a LUT
    # lane's values, knobs.dsp_values are on multipliers (hw_mac_pack: their packing, splits and sums)
    dsp_v = knobs.dsp_values
    per_lane = ((lay.vpl - dsp_v) * (mac_luts + lay.acc_bits + VALUE_LUTS) + dsp_v * DSP_VALUE_LUTS
                + lay.acc_bits + (len(lay.groups) - 1) * lay.word_bits)
    # a requantizer (hw_lane_rq): its shifter; one shared by two lanes also holds and picks the second
    # lane's sum and scale (synth_ecp5 of a 16 x 8 hw_matvec: 212 slots and 2 MULT18X18D saved a pair)
    rq_shifter, shared = 6 * (lay.acc_bits + 16), lay.lanes - lay.requantizers
    core = CORE_LUTS + H1_SILU_STAGE_LUTS + 300 * max(0, nw - 2) + unaligned_lane_luts(lay.lanes, lay.vpl, nw, H, wpp)
    luts = lay.lanes * per_lane + lay.requantizers * rq_shifter + shared * (lay.acc_bits + 21) + core
    # the flip-flop line's basis: generator 1.5's count (no value pairs, a requantizer a lane)
    pair_saving = lay.lanes * (lay.vpl - dsp_v) * lay.wb * PAIR_SAVING if knobs.macs == "lut" else 0
    ff_basis = lay.lanes * (per_lane + rq_shifter) + pair_saving + core
    ffs = lane_ffs(knobs, lay, vecbuf_banks(lay.lanes, lay.vpl, nw, H, wpp))
    return Estimate(macs, ideal, walk, drain, vector, att.fixed, att.per_pos, att.head_min,
                    lay.lanes, lay.vpl, mac_multipliers(knobs, lay), lay.requantizers,
                    rom, lay.lanes * sum(bram18_blocks(g.depth, lay.vpl * g.bits) for g in lay.groups),
                    used, scale, tables,
                    kv, lora, luts, att.engines, nw, att.rounds, att.positions, ew,
                    knobs.rope_lanes(cfg), att, lora_cycles, ff_basis, core, knobs.contexts, ffs,
                    product_ffs(knobs, lay))


def greedy_width(lanes: int) -> int:
    """hw_sampler G: logits per cycle of the greedy scan (4; 2 or 1 below 4 lanes)."""
    return 4 if lanes >= 4 else 2 if lanes >= 2 else 1


def greedy_scan(lanes: int, wpp: int, vocab: int) -> int:
    """Cycles from the classifier's last word written to the greedy pick: that word's groups (G logits
    a cycle, a group never spanning two words; the last word holds what is left of the vocabulary)
    and the scan's 6-cycle tail; when a word takes the scan longer than the classifier takes to
    write one (wpp cycles), the scan falls behind by the difference at each word before the last."""
    g, words = greedy_width(lanes), -(-vocab // lanes)
    last = vocab - (words - 1) * lanes
    return -(-last // g) + 6 + (words - 1) * max(0, -(-lanes // g) - wpp)


def positions(context: int) -> list[int]:
    """Positions reported in tables: first, quarter, half, last."""
    return sorted({0, context // 4, context // 2, context - 1})


def format_estimate(est: Estimate, context: int, clock_mhz: float = 100.0) -> str:
    """A plain-text table of the estimate."""
    kb = lambda bits: f"{bits / 1024:,.1f} kbit"
    rows = [
        ("weight MACs per token", f"{est.weight_macs:,}"),
        (f"matrix cycles (ideal {est.ideal_matrix_cycles:,} at {est.lanes}x{est.vpl} MACs/cycle)",
         f"{est.matrix_cycles:,}"),
        ("pipeline drains", f"{est.drain_cycles:,}"),
        ("vector step tails (embedding, norms, KV write, SiLU, sampler)", f"{est.vector_cycles:,}"),
        ("attention", attention.describe(est)),
    ] + ([("LoRA passes, while an adapter is loaded", f"+{est.lora_cycles:,}")] if est.lora_cycles else [])
    for p in positions(context):
        c = est.cycles(p)
        rows.append((f"cycles at position {p}", f"{c:,}  ({clock_mhz * 1e6 / c:,.0f} tok/s at {clock_mhz:g} MHz)"))
    if est.contexts > 1:
        for p in positions(context):
            c = est.shared_cycles(p)
            rows.append((f"{est.contexts} contexts at once, position {p}: aggregate cycles/token at least",
                         f"{c:,.0f}  ({clock_mhz * 1e6 / c:,.0f} tok/s at {clock_mhz:g} MHz)"))
    rows += [
        ("MAC multipliers (int8 x weight)", f"{est.mac_multipliers:,}"),
        ("requant multipliers", f"{est.requant_multipliers:,}"),
        ("weight ROM", f"{kb(est.weight_rom_bits)} ({kb(est.rom_waste_bits)} padding and widest-class waste)"),
        ("weight ROM 18-kbit blocks", f"{est.weight_rom_blocks:,} ({est.weight_rom_blocks // est.lanes} per lane)"),
        ("scale ROM", kb(est.scale_rom_bits)),
        ("tables (embedding, norms, rope, silu, exp2, rsqrt)", kb(est.table_bits)),
        ("KV cache BRAM", kb(est.kv_cache_bits)),
        ("LoRA BRAM", kb(est.lora_bits)),
        ("LUTs (rough)", f"{est.luts:,}"),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)
