"""The boards hardwire builds for: one table, and the fit check.

A board names its FPGA (family, part, package), the pins the UART top uses
(clock, UART, reset button, two LEDs) and what the device holds. Memory is
counted in the device's own block RAMs: ECP5 DP16KD and Xilinx RAMB18 are
18 kbit each, an iCE40 EBR is 4 kbit (the UP5K's 4 SPRAMs of 256 kbit are
listed apart: hardwire does not use them, see docs/boards.md).

The fit check (`fit_report`) compares the generator's estimate, calibrated
against real synthesis (docs/boards.md), with the board before anything is
built, and refuses a model/knob combination that cannot fit, saying by how
much and which knob would make it fit.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from hw.backends import FAMILIES
from hw.backends import family as family_backend
from hw.errors import HardwireError


class BoardError(HardwireError):
    """An unknown board, or a model that does not fit the chosen board."""


@dataclass(frozen=True)
class Resources:
    luts: int           # LUT4 (ECP5, iCE40) or LUT6 (Xilinx)
    ffs: int
    brams: int          # block RAMs of `bram_kbits` each
    bram_kbits: int     # 18 (DP16KD, RAMB18) or 4 (iCE40 EBR)
    dsps: int           # MULT18X18D, SB_MAC16, DSP48E1/E2
    urams: int = 0      # UltraScale+ URAM (288 kbit each); not used by the generated RTL yet
    sprams: int = 0     # iCE40 UP SPRAM (256 kbit each); not used by the generated RTL yet


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    family: str                 # a hw/backends family: ecp5 | ice40 | zynq7 | zynqmp
    part: str                   # as the vendor tools spell it
    package: str
    transport: str              # a link in hw/links: uart | axi
    clock_mhz: float            # the clock the design runs at (board oscillator or PS FCLK0)
    resources: Resources
    pins: dict = field(default_factory=dict)    # port -> pin of the link's board top (open-flow boards)
    nextpnr_args: tuple[str, ...] = ()          # device selection for nextpnr
    reset_active_low: bool = True
    led_active_low: bool = False
    flash: str = ""                             # how the bitstream reaches the board
    constraints: str = ""                       # pin file under bitstreams/ (UART boards)
    osc_mhz: float = 0.0                        # set by with_clock: the oscillator a PLL turns into clock_mhz
    chain_pins: dict = field(default_factory=dict)  # a chip of a chain: its link pins and third LED (docs/chip_link.md)

    @property
    def backend(self):
        """The family's backend (hw/backends/<family>.py)."""
        return family_backend(self.family)

    @property
    def pll(self):
        """The family's PLL (e.g. hw/backends/ecp5_pll.py) that turns osc_mhz into clock_mhz, or None."""
        if not self.osc_mhz or self.osc_mhz == self.clock_mhz:
            return None
        return self.backend.pll(self.osc_mhz, self.clock_mhz)

    @property
    def open_flow(self) -> bool:
        """Built here by Yosys + nextpnr (ECP5, iCE40); the Zynq boards need Vivado."""
        return self.backend.flow == "open"


def _link_pins(prefix: str, sites: list[str]) -> dict:
    """{port: site} of one link end: lclk, sof, then d[0..7] (docs/chip_link.md's order)."""
    names = [f"{prefix}_lclk", f"{prefix}_sof", *(f"{prefix}_d[{i}]" for i in range(8))]
    return dict(zip(names, sites))


# docs/chip_link.md "Pins on the ULX3S": J1 the link from the previous chip (inputs on GP0-GP9,
# outputs on GN0-GN9), J2 the link to the next chip (outputs on GP18-GP27, inputs on GN18-GN27);
# led[2] (a link gave up) is the board's third LED
ULX3S_CHAIN_PINS = {
    **_link_pins("prev_rx", ["B11", "A10", "A9", "B9", "A7", "C8", "C6", "A6", "A4", "A2"]),
    **_link_pins("prev_tx", ["C11", "A11", "B10", "C10", "A8", "B8", "C7", "B6", "A5", "B1"]),
    **_link_pins("next_tx", ["H18", "F17", "D18", "C18", "B15", "B17", "C16", "D14", "B13", "D13"]),
    **_link_pins("next_rx", ["H17", "G18", "E17", "D17", "C15", "C17", "D16", "E14", "C13", "E13"]),
    "led[2]": "C1",
}

BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("ulx3s-85f", "Radiona ULX3S with ECP5-85F", "ecp5", "LFE5U-85F-6BG381C", "CABGA381", "uart",
          25.0, Resources(luts=83_640, ffs=83_640, brams=208, bram_kbits=18, dsps=156),
          # emard/ulx3s doc/constraints/ulx3s_v20.lpf: ftdi_txd is the PC -> FPGA line,
          # btn[0] is BTN_PWRn (pressed = low)
          pins={"clk": "G2", "uart_rxd": "M1", "uart_txd": "L4", "rst_btn": "D6",
                "led[0]": "B2", "led[1]": "C2"},
          nextpnr_args=("--85k", "--package", "CABGA381", "--speed", "6"),
          flash="openFPGALoader --board ulx3s", constraints="ulx3s-85f/ulx3s-85f.lpf", chain_pins=ULX3S_CHAIN_PINS),
    Board("ulx3s-45f", "Radiona ULX3S with ECP5-45F", "ecp5", "LFE5U-45F-6BG381C", "CABGA381", "uart",
          25.0, Resources(luts=43_848, ffs=43_848, brams=108, bram_kbits=18, dsps=72),
          pins={"clk": "G2", "uart_rxd": "M1", "uart_txd": "L4", "rst_btn": "D6",
                "led[0]": "B2", "led[1]": "C2"},
          nextpnr_args=("--45k", "--package", "CABGA381", "--speed", "6"),
          flash="openFPGALoader --board ulx3s", constraints="ulx3s-85f/ulx3s-85f.lpf", chain_pins=ULX3S_CHAIN_PINS),
    Board("icebreaker", "1BitSquared iCEBreaker (iCE40 UP5K)", "ice40", "iCE40UP5K-SG48", "sg48", "uart",
          12.0, Resources(luts=5_280, ffs=5_280, brams=30, bram_kbits=4, dsps=8, sprams=4),
          # icebreaker.pcf (YosysHQ/icestorm examples): CLK 35, RX 6, TX 9, BTN_N 10, LEDR_N 11, LEDG_N 37
          pins={"clk": "35", "uart_rxd": "6", "uart_txd": "9", "rst_btn": "10",
                "led[0]": "11", "led[1]": "37"},
          nextpnr_args=("--up5k", "--package", "sg48"),
          led_active_low=True,
          flash="openFPGALoader --board ice40_generic", constraints="icebreaker/icebreaker.pcf"),
    Board("pynq-z2", "TUL PYNQ-Z2 (Zynq-7020)", "zynq7", "xc7z020clg400-1", "clg400", "axi",
          100.0, Resources(luts=53_200, ffs=106_400, brams=280, bram_kbits=18, dsps=220),
          # the Vivado run writes hardwire.bit + hardwire.hwh (hw/flows/vivado.py); make flash prints the steps
          flash="scp hardwire.bit hardwire.hwh hardwire.hardwire.json xilinx@pynq:hardwire/; "
                "open_device('pynq:hardwire.bit')"),
    Board("kv260", "AMD Kria KV260 (K26 SOM, Zynq UltraScale+)", "zynqmp", "xck26-sfvc784-2LV-c",
          "sfvc784", "axi",
          100.0, Resources(luts=117_120, ffs=234_240, brams=288, bram_kbits=18, dsps=1_248, urams=64),
          # the Vivado run writes hardwire.bit + hardwire.hwh (hw/flows/vivado.py); make flash prints the steps
          flash="scp hardwire.bit hardwire.hwh hardwire.hardwire.json ubuntu@kria:hardwire/; "
                "open_device('pynq:hardwire.bit')"),
)}


def with_clock(board: Board, clock_mhz: float | None) -> Board:
    """The board with its design clock set to `clock_mhz`.

    Each family's backend says how (hw/backends): ECP5 boards get an EHXPLLL after the oscillator
    (`Board.pll`; clock_mhz becomes what its dividers really give), Zynq boards take the clock as
    FCLK0 from the PS; the iCE40 flow has no PLL."""
    if not clock_mhz or clock_mhz == board.clock_mhz:
        return board
    clocked = board.backend.with_clock(board, clock_mhz)
    if clocked is not None:
        return clocked
    raise BoardError(f"--clock {clock_mhz:g}: the {board.family} flow runs on the {board.clock_mhz:g} MHz "
                     f"oscillator of {board.name} (no PLL there); leave --clock out")


def get_board(name: str) -> Board:
    """The board called `name`, or a BoardError listing the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise BoardError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)} "
                         "(or add it to the table in hw/boards.py)") from None


# ---------------------------------------------------------------- fit check
#
# The generator's estimate (hw/rtlgen/estimate.py) counts multipliers and memory
# bits exactly and LUTs roughly. The fit check turns it into device units and
# calibrates it against real synthesis (docs/boards.md, "How the fit check
# counts"): block RAMs memory by memory at the device's aspect ratios, LUTs and
# DSPs by factors fitted to synth_ecp5 runs of models/default at several lane
# settings. A design must stay within every limit below.

# block RAM shapes (depth, width) per family
_BRAM_SHAPES = {
    18: ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),   # DP16KD, RAMB18
    4: ((2048, 2), (1024, 4), (512, 8), (256, 16)),                               # iCE40 EBR (SB_RAM40_4K)
}
# Besides the lane ROMs, the KV cache (K and V) and the constant tables (one block each at
# least): the prompt FIFO, the attention score buffer and the UART bridge's rx/tx buffers.
FIXED_BLOCKS = {18: 4, 4: 8}
# The family factors (hw/backends/<family>.py `fit`, where each says what it was fitted to), as the
# arithmetic below reads them: LUT slots = a * estimate.luts + b, flip-flops likewise; DSPs per
# requant multiplier (families that build multipliers from LUTs have none), the rest of the core's
# DSPs, and an attention engine's DSPs besides its per-position products (hw/rtlgen/attention.py).
LUT_CAL = {name: f.fit.lut for name, f in FAMILIES.items()}
LUT_CAL_LUT_MACS = {name: f.fit.lut_lut_macs or f.fit.lut for name, f in FAMILIES.items()}
FF_CAL = {name: f.fit.ff for name, f in FAMILIES.items()}
FF_CAL_LUT_MACS = {name: f.fit.ff_lut_macs or f.fit.ff for name, f in FAMILIES.items()}
DSP_PER_REQUANT = {name: f.fit.dsp_per_requant for name, f in FAMILIES.items() if f.fit.dsp_per_requant}
DSP_FIXED = {name: f.fit.dsp_fixed for name, f in FAMILIES.items() if f.fit.dsp_fixed is not None}
DSP_FIXED_LUT_MACS = {name: f.fit.dsp_fixed_lut_macs or f.fit.dsp_fixed for name, f in FAMILIES.items()
                      if f.fit.dsp_fixed is not None}
NORM_FFS = {name: f.fit.norm_ffs for name, f in FAMILIES.items()}
DSP_OUTPUT_REGS = {name: f.fit.dsp_output_regs for name, f in FAMILIES.items()}
ICE40_LUTS_PER_MULT = 150   # an ECP5 MULT18X18D's worth of multiplier built from LUT4s
# The attention schedule's engines and KV cache (their DSPs, LUTs, flip-flops, block RAMs and the
# knob changes that shrink them) are counted by hw/rtlgen/attention.py (`fit_cost`, `suggestions`);
# DSP_FIXED was calibrated with one engine of models/default, which it takes back out.


# rmsnorm: 3 multipliers per element per cycle (res*res or res*gain 16 x 16, then * r 32 x 17 on
# two); DSP_FIXED counts the width 2 of the DSP-MAC builds
NORM_DSPS = 3
# DSP_FIXED counts one embedding requant (8 x 16) and one RoPE pair (4 products of 8 x 16)
EMB_DSPS, ROPE_PAIR_DSPS = 1, 4
# and their LUT slots past the first of each (synth_ecp5 of one hw_rq XW 4 -> 16: 128 LUT4, 13 CCU2C,
# 22 PFUMX; of one hw_rope_pair: 124 LUT4, 26 CCU2C), before the family's factor
EMB_LUTS, ROPE_PAIR_LUTS = 180, 180
# the LoRA unit (hw_lora), when built: synth_ecp5 of it at 16 lanes, rank 4, models/default (wq, wv) is
# 1,130 LUT4, 128 CCU2C, 357 PFUMX, 160 TRELLIS_DPR16X4 (the per-lane delta banks), 1,006 FF,
# 2 DP16KD (counted by the estimate's lora_bits) and 6 MULT18X18D (four products and two rescales).
# With what it adds around itself (the delta adders of the write-back, its vector-buffer read window,
# the per-stream slots and enables), synth_ecp5 of models/default at 16 x 16 LUT MACs (generator 1.6,
# eighteenth session) is 2,744 LUT slots and 1,293 FFs more with LoRA rank 4 on wq and wv than
# without (55,913 / 25,512 against 53,169 / 24,219); LUT slots as placed are ~1.17 x synth's.
# (Generator 1.5's 7,300 / 6,000 here had put on LoRA all that its fit check under-counted the placed
# 16 x 8 + LoRA build by; the eighteenth session's placed 16 x 16 without LoRA showed the lanes'
# share of it.)
LORA_LUTS, LORA_FFS, LORA_DSPS = 2_700, 1_300, 6
# Another sequencer context (knobs.contexts) repeats the core but its matrix engine. Measured: synth_ecp5 of
# models/default, 16 x 8 LUT MACs, context 128, rmsnorm width 2, RoPE width 1, 2 streams, on 1 and on 2
# contexts (generator 1.10, UART board top): +19,344 LUT4, +3,496 CCU2C (+26,336 slots, ~30,500 as placed:
# 87,824 TRELLIS_COMB against synth's 75,814), +16,728 FF, +70 MULT18X18D, +34 DP16KD. The calibration lines
# count most of the core in their fixed terms: a context takes these shares of them beside its modelled
# logic, and two multipliers more than its modelled ones. With DSP MACs (the other calibration line), placed:
# the tiny random model (hw/rtlgen/fixture.py, 5 x 4, context 16, 2 streams) on 1 and 2 contexts, 26,695 ->
# 46,155 TRELLIS_COMB, 11,047 -> 19,785 FF, 53 -> 100 MULT18X18D, 44 -> 66 DP16KD.
CONTEXT_LUT_SHARE = {"lut": 0.64, "dsp": 0.80}         # by knobs.macs: the line whose fixed term it shares
CONTEXT_FF_SHARE = {"lut": 0.74, "dsp": 0.80}
CONTEXT_DSPS = 2
LUT_LIMIT = 0.85            # placement and routing need slack: at most 85% of the LUTs
FF_LIMIT = 0.90


def _vector_extra(est, per_emb: int, per_rope_pair: int) -> int:
    """A cost of the embedding elements and RoPE pairs past the first of each (DSP_FIXED and the
    family's LUT line count one of each)."""
    return per_emb * (est.embedding_width - 1) + per_rope_pair * (est.rope_width - 1)


def _blocks(depth: int, width: int, kbits: int) -> int:
    return min(-(-depth // d) * -(-width // w) for d, w in _BRAM_SHAPES[kbits])


def _bit_blocks(bits: int, kbits: int) -> int:
    """Blocks for a memory of `bits` data bits (power-of-two widths: 16 kbit per 18-kbit block)."""
    per = 16384 if kbits == 18 else kbits * 1024
    return -(-bits // per) if bits else 0


@dataclass(frozen=True)
class Need:
    resource: str       # luts | ffs | brams | dsps
    need: int
    limit: int          # what the design may use (device count x margin)
    have: int           # what the device has
    detail: str = ""

    @property
    def fits(self) -> bool:
        return self.need <= self.limit

    @property
    def over(self) -> int:
        return max(0, self.need - self.limit)


def _table_memories(model, knobs, read_ports: int = 2) -> list[int]:
    """Bits of each constant-table memory of the core, one block RAM at least each (the parts
    of estimate.table_bits): embedding and its scales, RoPE, SiLU, exp2 (attention and sampler),
    rsqrt (the norm gains: _constant_rom_blocks). Tables read at several addresses per cycle are
    copies: the SiLU table once per `read_ports` gates per cycle (hw_core SILU_W; hw_silu_gate reads
    one copy through both ports of an ECP5 or Xilinx block RAM; stories260K at 14 x 16 placed 8 SiLU
    blocks, a copy a gate, where one had been counted)."""
    from hw.rtlgen.estimate import silu_width
    from hw.rtlgen.layout import SCALE_BITS

    cfg = model.config
    L, D, H, V, hd = cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.vocab_size, cfg.head_dim
    words_per_pass = -(-D // knobs.values_per_lane)
    silu_gates = silu_width(knobs.lanes, words_per_pass, H)
    # a chip after the first of a chain has no embedding (hw_core g_no_embedding)
    embedding = [V * D * model.knobs["bits"]["embedding"], V * SCALE_BITS] if _holds_embedding(model) else []
    return (embedding + [knobs.context * (hd // 2) * 32]
            + [L * 256 * 16] * -(-silu_gates // read_ports) + [256 * 16, 256 * 16, 1024 * 16])


def _holds_embedding(model) -> bool:
    """The model is a whole model or the first chip of a chain (hw/rtlgen/chain.py chip_model)."""
    return int((model.meta.get("chain") or {}).get("index", 0)) == 0


def _constant_rom_blocks(model, knobs, kb: int) -> int:
    """The small ROMs kept in block RAM so that a respin can rewrite them (docs/respin.md): the
    model ROM (fingerprint and global constants, 16 x 32), the per-layer constants (L x 96: three
    36-bit-wide blocks) and the rmsnorm gains (hw_rmsnorm's one ROM: a row per norm of a layer and
    the final one, a word per group of the norm's elements per cycle)."""
    from hw.rtlgen.generate import LAYER_WORD_BITS, MODEL_WORDS, norm_row_words

    cfg = model.config
    nw = knobs.norm_lanes(cfg.dim)
    return (_blocks(MODEL_WORDS, 32, kb) + _blocks(cfg.n_layers, LAYER_WORD_BITS, kb)
            + _blocks((2 * cfg.n_layers + 1) * norm_row_words(cfg.dim, nw), 16 * nw, kb))


def needs(model, knobs, board: Board, wb: int | None = None) -> list[Need]:
    """The calibrated resource needs of `model` (IntModel) with resolved `knobs` on `board`.

    `wb`: pretend the lane ROMs hold `wb`-bit weights (what a requantisation would give).
    """
    from hw.rtlgen import attention
    from hw.rtlgen.estimate import estimate
    from hw.rtlgen.layout import SCALE_BITS, rom_layout

    res, fam, kb = board.resources, board.family, board.resources.bram_kbits
    lay = rom_layout(model, knobs.lanes, knobs.values_per_lane)
    est = estimate(model, lay, knobs)
    # with contexts (docs/core.md "Contexts") every context is a whole core but the matrix engine (its
    # lanes, weight and scale ROMs, requantizers), each with its own streams' KV cache and LoRA slots
    ctxs = knobs.contexts
    if ctxs > 1:
        knobs = replace(knobs, streams=knobs.streams // ctxs, contexts=1)     # one context's share
    # each ROM group at its own width (at most `wb` bits when pretending a requantisation)
    rom = lay.lanes * sum(_blocks(g.depth, lay.vpl * min(g.bits, wb or g.bits), kb) for g in lay.groups)
    scale = _blocks(lay.scale_depth, lay.lanes * SCALE_BITS, kb)      # hw_matvec's one scale ROM
    ports = FAMILIES[fam].rom_read_ports
    tables = (sum(max(1, _bit_blocks(bits, kb)) for bits in _table_memories(model, knobs, ports))
              + _constant_rom_blocks(model, knobs, kb))
    att = attention.fit_cost(model, knobs, fam, kb)     # the attention engines and the KV cache
    kv = ctxs * att.kv_blocks
    other = ctxs * (tables + _bit_blocks(est.lora_bits // ctxs, kb) + FIXED_BLOCKS[kb] + att.blocks)
    brams = rom + scale + kv + other
    per, fixed = (LUT_CAL_LUT_MACS if knobs.macs == "lut" else LUT_CAL)[fam]
    lora_on = bool(knobs.lora_rank)
    # a context's logic: the core's own (CORE_LUTS and the rmsnorm's width), attention, vector units, LoRA
    core = est.core_luts
    context_luts = core + att.luts + _vector_extra(est, EMB_LUTS, ROPE_PAIR_LUTS) + LORA_LUTS * lora_on
    luts = int(per * (est.luts + att.luts + _vector_extra(est, EMB_LUTS, ROPE_PAIR_LUTS)
                      + LORA_LUTS * lora_on + (ctxs - 1) * context_luts)
               + fixed * (1 + CONTEXT_LUT_SHARE[knobs.macs] * (ctxs - 1)))
    context_mults = (att.dsps + NORM_DSPS * (est.norm_width - 2) + _vector_extra(est, EMB_DSPS, ROPE_PAIR_DSPS)
                     + LORA_DSPS * lora_on)
    dsps = 0
    if fam in DSP_PER_REQUANT:
        fixed = (DSP_FIXED_LUT_MACS if knobs.macs == "lut" else DSP_FIXED)[fam]
        fixed_mults = fixed - (0 if _holds_embedding(model) else EMB_DSPS * est.embedding_width)
        dsps = (est.mac_multipliers + DSP_PER_REQUANT[fam] * est.requant_multipliers
                + ctxs * (fixed_mults + context_mults) + CONTEXT_DSPS * (ctxs - 1))
    else:       # iCE40: the multipliers an ECP5 puts in DSPs become LUTs
        luts += ICE40_LUTS_PER_MULT * (est.mac_multipliers + 2 * est.requant_multipliers
                                       + ctxs * (DSP_FIXED["ecp5"] + att.multipliers
                                                 + _vector_extra(est, EMB_DSPS, ROPE_PAIR_DSPS)
                                                 + LORA_DSPS * lora_on))
    ff_a, ff_b = (FF_CAL_LUT_MACS if knobs.macs == "lut" else FF_CAL)[fam]
    ffs = (int(ff_a * (est.ff_basis + (ctxs - 1) * core) + ff_b * (1 + CONTEXT_FF_SHARE[knobs.macs] * (ctxs - 1)))
           + ctxs * (att.ffs + LORA_FFS * lora_on + NORM_FFS[fam] * max(0, est.norm_width - 2)) + est.lane_ffs
           + (0 if DSP_OUTPUT_REGS[fam] else est.product_ffs))
    return [
        Need("luts", luts, int(LUT_LIMIT * res.luts), res.luts,
             f"{per:g} x estimate {est.luts:,} + {fixed:,}" + (f", {ctxs} contexts" if ctxs > 1 else "")),
        Need("ffs", ffs, int(FF_LIMIT * res.ffs), res.ffs),
        Need("brams", brams, res.brams, res.brams,
             f"{rom} lane ROM + {scale} scale ROM + {kv} KV cache + {other} tables/FIFOs "
             f"({res.bram_kbits}-kbit blocks)"),
        Need("dsps", dsps, res.dsps, res.dsps,
             "" if dsps else "multipliers are built from LUTs on this family"),
    ]


@dataclass
class FitReport:
    board: Board
    knobs: object
    needs: list[Need]
    suggestions: list[str]
    smallest: list[Need] = field(default_factory=list)    # needs of the smallest build (when nothing fits)
    smallest_knobs: str = ""

    @property
    def fits(self) -> bool:
        return all(n.fits for n in self.needs)

    def format(self) -> str:
        lines = [f"fit check on {self.board.name} ({self.board.part}), lanes {self.knobs.lanes} x "
                 f"{self.knobs.values_per_lane}, context {self.knobs.context}, LoRA rank {self.knobs.lora_rank}"
                 + (f", {self.knobs.streams} streams" if self.knobs.streams > 1 else "")
                 + (f" on {self.knobs.contexts} contexts" if self.knobs.contexts > 1 else "") + ":"]
        for n in self.needs:
            pct = 100 * n.need / n.have if n.have else float("inf") if n.need else 0.0
            mark = "ok" if n.fits else f"OVER by {n.over:,}"
            lines.append(f"  {n.resource:5s} {n.need:>9,} of {n.have:>9,} ({pct:5.1f}%, limit {n.limit:,})  {mark}"
                         + (f"  [{n.detail}]" if n.detail else ""))
        return "\n".join(lines)

    def refusal(self) -> str:
        over = [n for n in self.needs if not n.fits]
        what = "; ".join(f"{n.resource} {n.need:,} > {n.limit:,} "
                         f"(over by {n.over:,}, {100 * n.need / max(n.limit, 1):.0f}% of the limit)" for n in over)
        fix = ("\n  would fit: " + "\n  would fit: ".join(self.suggestions) if self.suggestions else
               "\n  no single knob (lanes, values per lane, weight bits, context, LoRA rank) makes it fit: "
               "choose a bigger board or a smaller model")
        bad = [n for n in self.smallest if not n.fits]
        if bad:
            fix += (f"\n  even the smallest build ({self.smallest_knobs}) needs "
                    + "; ".join(f"{n.resource} {n.need:,} of {n.limit:,} (over by {n.over:,})" for n in bad))
        return (f"the model does not fit {self.board.name} ({self.board.part}): {what}{fix}\n"
                f"  (--force builds anyway)")

    def to_json(self) -> dict:
        return {"fits": self.fits, "needs": [{"resource": n.resource, "need": n.need, "limit": n.limit,
                                              "have": n.have} for n in self.needs],
                "suggestions": self.suggestions}


def _fits(model, knobs, board, wb=None) -> bool:
    """Whether a candidate setting fits; one the knobs refuse (e.g. fewer lanes than engines) does not."""
    from hw.rtlgen.knobs import KnobError

    try:
        return all(n.fits for n in needs(model, knobs, board, wb))
    except KnobError:
        return False


def fit_report(model, knobs, board: Board) -> FitReport:
    """Needs of `model` with resolved `knobs` on `board`, with the knob changes that would make it fit."""
    from dataclasses import replace

    from hw.rtlgen import attention
    from hw.rtlgen.layout import rom_layout

    report = FitReport(board, knobs, needs(model, knobs, board), [])
    if report.fits:
        return report
    sug = report.suggestions
    for lanes in range(knobs.lanes - 1, 0, -1):
        if _fits(model, replace(knobs, lanes=lanes), board):
            sug.append(f"--lanes {lanes} (from {knobs.lanes})")
            break
    for vpl in range(knobs.values_per_lane - 1, 0, -1):
        if _fits(model, replace(knobs, values_per_lane=vpl, dsp_values=min(knobs.dsp_values, vpl - 1)), board):
            sug.append(f"--vpl {vpl} (values per lane, from {knobs.values_per_lane})")
            break
    if knobs.macs != "lut" and _fits(model, replace(knobs, macs="lut"), board):
        sug.append("--macs lut (lane multiply-accumulates from LUTs instead of DSPs)")
    if knobs.macs == "lut":
        # LUTs over with multipliers free, or the other way: move values between them, the nearest first
        for d in sorted(range(knobs.values_per_lane), key=lambda d: abs(d - knobs.dsp_values))[1:]:
            if _fits(model, replace(knobs, dsp_values=d), board):
                sug.append(f"--dsp-values {d} (of each lane's {knobs.values_per_lane} values on DSP "
                           f"multipliers, from {knobs.dsp_values})")
                break
    sug += attention.suggestions(model, knobs, lambda k: _fits(model, k, board))
    ctx = knobs.context
    while ctx > 16:
        ctx //= 2
        if _fits(model, replace(knobs, context=ctx), board):
            sug.append(f"--context {ctx} (from {knobs.context})")
            break
    if knobs.lora_rank:
        for r in range(knobs.lora_rank - 1, -1, -1):
            k = replace(knobs, lora_rank=r, lora_targets=knobs.lora_targets if r else ())
            if _fits(model, k, board):
                sug.append(f"--lora-rank {r} (from {knobs.lora_rank})" if r else "no LoRA (from rank "
                           f"{knobs.lora_rank})")
                break
    for c in (2, 1):
        if c < knobs.contexts and _fits(model, replace(knobs, contexts=c), board):
            sug.append(f"--contexts {c} (from {knobs.contexts}: each context is the core again but its "
                       "matrix engine)")
            break
    for n in range(knobs.streams - 1, 0, -1):
        if n % knobs.contexts == 0 and _fits(model, replace(knobs, streams=n), board):
            sug.append(f"--streams {n} (from {knobs.streams}: each stream is a KV cache slot)")
            break
    wb = rom_layout(model, 1, 1).wb
    for b in range(wb - 1, 2, -1):
        if _fits(model, knobs, board, wb=b):
            sug.append(f"{b}-bit weights in every class (the widest class has {wb} bits today): "
                       f"re-quantize with `hardwire quantize --bits ...` so that no class exceeds {b}")
            break
    if not sug:
        tiny = replace(knobs, lanes=1, values_per_lane=1, context=min(knobs.context, 16), lora_rank=0,
                       lora_targets=(), streams=1, **attention.SMALLEST)
        report.smallest = needs(model, tiny, board, wb=3)
        report.smallest_knobs = f"1 lane x 1 value, {attention.SMALLEST_TEXT}, context 16, 3-bit weights, no LoRA"
    return report
