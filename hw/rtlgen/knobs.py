"""Build knobs of one generated accelerator: how parallel it is and what it holds.

Knobs change the hardware, never the arithmetic: every setting gives the same
tokens as the golden model. They are recorded in build.json next to the RTL.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from hw.errors import HardwireError
from hw.golden import LORA_TARGETS
from hw.rtlgen import attention
from hw.rtlgen.attention import engine_counts, kv_banks  # noqa: F401  (their home is attention.py)

MAX_LANES = 999         # lane ROM files are numbered with 3 digits
MAX_STREAMS = 32        # LORA_ENABLE holds a bit per stream
MAC_STYLES = ("dsp", "lut")


class KnobError(HardwireError):
    """A build knob that is out of range or does not fit the model."""


@dataclass(frozen=True)
class Knobs:
    lanes: int = 16                     # matrix rows computed in parallel (one ROM each)
    values_per_lane: int = 4            # int8 x values each lane multiplies per cycle
    context: int | None = None          # KV cache positions; None = the model's seq_len
    k_max: int = 16                     # top-k sampler capacity
    lora_rank: int = 0                  # 0 = no LoRA hardware
    lora_targets: tuple[str, ...] = ()  # projections that carry a LoRA adapter
    streams: int = 1                    # sequences held at once (several users): a KV cache slot and a
                                        # position each, chosen by STREAM_SEL; LORA_ENABLE has a bit each
    contexts: int = 1                   # sequencer contexts sharing the matrix engine (1, 2 or 4; divides the
                                        # streams): streams on different contexts run at once, one's matrices
                                        # in the others' attention and vector steps (docs/core.md "Contexts")
    debug_vectors: bool = True          # debug window reads of the vector buffers (hidden states);
                                        # off for board builds: those reads were 15 % of the routing congestion
    macs: str = "dsp"                   # lane multiply-accumulates: "dsp" (a multiplier each) or "lut"
                                        # (LUT adders by weight bit plane: no multiplier, a few LUTs per MAC)
    dsp_values: int = 0                 # with LUT MACs: each lane's last dsp_values values on multipliers
                                        # instead (two lanes' products packed into one when the widest
                                        # class is <= 4 bits, hw_mac_pack): MACs from the DSPs LUT MACs leave
    # the attention schedule (its checks, options, parameters and costs: hw/rtlgen/attention.py)
    attention_engines: int = 0          # heads computed at once, each engine with its own KV cache bank;
                                        # must divide the kv heads; 0 = one per kv head
    attention_positions: int = 1        # KV cache positions each attention engine takes per cycle (a power
                                        # of two dividing the context): the score and value passes cost
                                        # ceil(positions / P) cycles
    norm_width: int = 0                 # rmsnorm elements per cycle (3 multipliers each), a power of two;
                                        # 0 = 2 with DSP MACs (DSP-bound), up to 8 (<= values per lane) with LUT MACs
    embedding_width: int = 0            # embedding elements read per cycle (one emb.hex word), a power of two;
                                        # 0 = the rmsnorm's width (at most the lanes, dividing the dim)
    rope_width: int = 0                 # RoPE pairs per cycle (4 multipliers each), 1 or 2;
                                        # 0 = 2 where head dim, dim and kv dim are multiples of 4

    def __post_init__(self):
        checks = (
            (1 <= self.lanes <= MAX_LANES, f"lanes must be in 1..{MAX_LANES}, got {self.lanes}"),
            (1 <= self.values_per_lane <= 64, f"values per lane must be in 1..64, got {self.values_per_lane}"),
            (self.context is None or self.context >= 1, f"context must be >= 1, got {self.context}"),
            (1 <= self.k_max <= 256, f"k_max must be in 1..256, got {self.k_max}"),
            (0 <= self.lora_rank <= 64, f"LoRA rank must be in 0..64, got {self.lora_rank}"),
            (1 <= self.streams <= MAX_STREAMS, f"streams must be in 1..{MAX_STREAMS}, got {self.streams}"),
            (self.contexts in (1, 2, 4) and self.streams % self.contexts == 0,
             f"contexts must be 1, 2 or 4 and divide the streams ({self.streams}), got {self.contexts}; "
             f"use --streams a multiple of the contexts"),
            (self.macs in MAC_STYLES, f"macs must be one of {', '.join(MAC_STYLES)}, got {self.macs!r}"),
            (0 <= self.dsp_values < self.values_per_lane,
             f"DSP values must be in 0..{self.values_per_lane - 1} (fewer than the values per lane, "
             f"{self.values_per_lane}), got {self.dsp_values}"),
            (not self.dsp_values or self.macs == "lut",
             f"DSP values ({self.dsp_values}) take part of LUT MAC lanes; with --macs dsp every value is on "
             "a multiplier already: add --macs lut or drop --dsp-values"),
            (self.norm_width in (0, 1, 2, 4, 8, 16),
             f"norm width must be 1, 2, 4, 8 or 16 (or 0 = automatic), got {self.norm_width}"),
            (self.embedding_width in (0, 1, 2, 4, 8, 16),
             f"embedding width must be 1, 2, 4, 8 or 16 (or 0 = automatic), got {self.embedding_width}"),
            (self.rope_width in (0, 1, 2), f"RoPE width must be 1 or 2 (or 0 = automatic), got {self.rope_width}"),
            *attention.knob_checks(self),
        )
        for ok, msg in checks:
            if not ok:
                raise KnobError(msg + "; change the build option")
        bad = [t for t in self.lora_targets if t not in LORA_TARGETS]
        if bad:
            raise KnobError(f"unknown LoRA target(s) {', '.join(bad)}; choose from {', '.join(LORA_TARGETS)}")
        if bool(self.lora_rank) != bool(self.lora_targets):
            raise KnobError("LoRA needs both a rank and target projections (e.g. --lora-rank 4 "
                            f"--lora-targets wq,wv); got rank {self.lora_rank} and targets "
                            f"{', '.join(self.lora_targets) or 'none'}")
        # canonical order, so equal knobs give byte-identical builds
        object.__setattr__(self, "lora_targets", tuple(t for t in LORA_TARGETS if t in self.lora_targets))

    def resolved(self, seq_len: int) -> "Knobs":
        """The knobs with the context filled in and checked against the model's RoPE table."""
        ctx = seq_len if self.context is None else self.context
        if ctx > seq_len:
            raise KnobError(f"context {ctx} is longer than the model's {seq_len} positions; use --context {seq_len} or less")
        attention.check_context(self, ctx)
        return replace(self, context=ctx)

    def engines(self, n_kv_heads: int, n_heads: int | None = None) -> int:
        """Attention engines for a model with `n_kv_heads` kv heads and `n_heads` query heads
        (hw/rtlgen/attention.py `engines`)."""
        return attention.engines(self, n_kv_heads, n_heads)

    def norm_lanes(self, dim: int) -> int:
        """rmsnorm elements per cycle: a power of two at most the values per lane and the model dim
        (its scale pass must not fall behind the matrix that reads it, VPL values per cycle)."""
        want = self.norm_width or (8 if self.macs == "lut" else 2)
        nw = 1
        while nw * 2 <= min(want, self.values_per_lane, dim):
            nw *= 2
        return nw

    def emb_lanes(self, dim: int) -> int:
        """Embedding elements read per cycle: the rmsnorm's width (the first norm trails the
        embedding's writes at that rate), at most the lanes (the residual buffer's write ports),
        a power of two dividing the model dim (one ROM word per group of elements)."""
        if self.embedding_width:
            ew = self.embedding_width
            if dim % ew or ew > self.lanes:
                raise KnobError(f"embedding width {ew} must divide the model dim ({dim}) and be at most the "
                                f"lanes ({self.lanes}); use a smaller power of two, or 0 (automatic)")
            return ew
        ew = 1
        while ew * 2 <= min(self.norm_lanes(dim), self.lanes) and dim % (ew * 2) == 0:
            ew *= 2
        return ew

    def rope_lanes(self, cfg) -> int:
        """RoPE pairs per cycle (hw_core ROPE_W): two when every group of two consecutive pairs lies
        in one head of q or of k, else one."""
        fits = cfg.head_dim % 4 == 0 and cfg.dim % 4 == 0 and cfg.kv_dim % 4 == 0
        if self.rope_width == 2 and not fits:
            raise KnobError(f"RoPE width 2 needs head dim, dim and kv dim multiples of 4 (got {cfg.head_dim}, "
                            f"{cfg.dim}, {cfg.kv_dim}); use 1, or 0 (automatic)")
        return self.rope_width or (2 if fits else 1)

    @property
    def lora_mask(self) -> int:
        """LORA_TARGETS bitmask (bit i = LORA_TARGETS[i]) as in the register map."""
        return sum(1 << i for i, t in enumerate(LORA_TARGETS) if t in self.lora_targets)

    def to_json(self) -> dict:
        d = asdict(self)
        d["lora_targets"] = list(self.lora_targets)
        return d
