"""`hardwire build --fastest`: the setting a board holds with the fewest cycles a token.

Which lanes x values per lane fit a board is not monotonic (stories260K on the ECP5-85F at its whole
context: 11 x 16 fits the block RAM, 10 and 12 do not, docs/boards.md), and what each costs is known
without building anything: the fit check (hw/boards.py, calibrated on placed builds) and the cycle
estimate (hw/rtlgen/estimate.py, within 0.3 % of the simulation at the measured settings). So the
search is analytic: every setting of the grid below (the matrix engine's lanes, values per lane, DSP
values and rmsnorm width, and the attention's KV cache positions per cycle) is fit-checked, and the
ones that fit are ranked by their estimated cycles per token averaged over the whole context (the
figure a long generation sees), then by LUTs (the easier route); among those within NEAR_TIE of the best
mean, the one with the fewest cycles at position 0 is built (listed first). The other knobs (context, LoRA, streams, attention engines,
MAC kind) stay as given. The search does not know each setting's routed Fmax: the ranking assumes
the board's clock for all, which the route then confirms or not. What it does know is that a fuller
device routes slower and at a lower clock, so a setting may take at most `lut_share` of the board's
LUTs (default LUT_SHARE: the committed ULX3S bitstream placed at 71 % and routed at 61 MHz; the
fit check's own limit, 85 %, admits designs that route for hours at 40-50 MHz, docs/boards.md).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from hw.errors import HardwireError
from hw.rtlgen import attention

MAX_LANES = 32
VALUES_PER_LANE = (4, 8, 16, 32)
DSP_VALUES = (0, 2, 4, 6)              # with LUT MACs: a lane's values on packed multipliers
NORM_WIDTHS = (0, 4)                   # 0: the generator's choice
SHOWN = 5                              # candidates the build log lists
LUT_SHARE = 0.75                       # of the board's LUTs a candidate may take
# candidates whose mean over the context is within this of the best's are a tie: the one with the fewest
# cycles at position 0 (what short generations see) is picked. On stories260K at 512 tokens the best
# mean (5 x 16, 2 KV positions a cycle) is 1.2 % under 12 x 16's and 80 % over it at position 0.
NEAR_TIE = 0.02


class FastestError(HardwireError):
    pass


@dataclass(frozen=True)
class Candidate:
    knobs: object                      # resolved Knobs
    mean_cycles: float                 # estimated, positions 0 .. context - 1
    first_cycles: int                  # estimated, position 0 (what short generations see)
    luts: int
    brams: int
    dsps: int

    @property
    def setting(self) -> str:
        k = self.knobs
        return (f"--lanes {k.lanes} --vpl {k.values_per_lane}"
                + (f" --dsp-values {k.dsp_values}" if k.dsp_values else "")
                + (f" --norm-width {k.norm_width}" if k.norm_width else "") + attention.search_options(k))


def grid(knobs, dim: int):
    """The settings searched: lanes 1..MAX_LANES x values per lane (at most dim) x, with LUT MACs,
    DSP values (fewer than the values) x rmsnorm widths (at most the values) x the attention schedules
    hw/rtlgen/attention.py offers (those the context refuses are skipped by the knobs)."""
    for vpl in (v for v in VALUES_PER_LANE if v <= dim):
        dsps = [d for d in DSP_VALUES if d < vpl] if knobs.macs == "lut" else [0]
        for dsp, norm in itertools.product(dsps, [n for n in NORM_WIDTHS if n <= vpl]):
            for schedule in attention.search_variants(knobs):
                for lanes in range(1, MAX_LANES + 1):
                    yield replace(schedule, lanes=lanes, values_per_lane=vpl, dsp_values=dsp, norm_width=norm)


def candidates(model, knobs, board, lut_share: float = LUT_SHARE) -> list[Candidate]:
    """Every setting of the grid that fits `board` within `lut_share` of its LUTs, fastest first
    (`knobs` resolved)."""
    from hw.boards import needs
    from hw.rtlgen.estimate import estimate
    from hw.rtlgen.knobs import KnobError
    from hw.rtlgen.layout import rom_layout

    out = []
    ctx = knobs.context
    for k in grid(knobs, model.config.dim):
        try:
            k = k.resolved(ctx)
            need = {n.resource: n for n in needs(model, k, board)}
        except KnobError:
            continue                    # a combination the generator refuses (e.g. fewer lanes than engines)
        if not all(n.fits for n in need.values()) or need["luts"].need > lut_share * need["luts"].have:
            continue
        est = estimate(model, rom_layout(model, k.lanes, k.values_per_lane), k)
        mean = sum(est.cycles(p) for p in range(ctx)) / ctx
        out.append(Candidate(k, mean, est.cycles(0), need["luts"].need, need["brams"].need, need["dsps"].need))
    return sorted(out, key=lambda c: (c.mean_cycles, c.luts))


def fastest(model, knobs, board, lut_share: float = LUT_SHARE, log=print):
    """The fastest setting that fits (resolved Knobs); logs the few best. FastestError when none fits."""
    if not 0 < lut_share <= 1:
        raise FastestError(f"--fastest {lut_share:g}: the share of the board's LUTs a setting may take is a "
                           f"fraction in (0, 1], e.g. {LUT_SHARE}")
    found = candidates(model, knobs, board, lut_share)
    if not found:
        raise FastestError(
            f"no setting of lanes 1..{MAX_LANES} x values per lane {', '.join(map(str, VALUES_PER_LANE))} "
            f"(x DSP values, rmsnorm widths, attention positions) fits "
            f"{board.name} within {lut_share:.0%} of its LUTs with the other knobs as given (context "
            f"{knobs.context}, LoRA rank {knobs.lora_rank}, {knobs.streams} stream(s)): a larger --fastest "
            "share, a smaller --context, no LoRA, narrower --bits or a bigger board")
    tied = [c for c in found if c.mean_cycles <= found[0].mean_cycles * (1 + NEAR_TIE)]
    pick = min(tied, key=lambda c: (c.first_cycles, c.mean_cycles, c.luts))
    found = [pick] + [c for c in found if c is not pick]
    log(f"--fastest: {len(found)} settings fit {board.name} within {lut_share:.0%} of its LUTs; the fastest by "
        f"the estimate (mean cycles a token over the {knobs.context}-token context; tokens/s at "
        f"{board.clock_mhz:g} MHz):")
    for c in found[:SHOWN]:
        log(f"  {c.setting:70s} {c.mean_cycles:9,.0f} cycles  {board.clock_mhz * 1e6 / c.mean_cycles:9,.0f} tok/s  "
            f"(position 0: {c.first_cycles:,})  LUT {c.luts:,}  BRAM {c.brams}  DSP {c.dsps}")
    return found[0].knobs
