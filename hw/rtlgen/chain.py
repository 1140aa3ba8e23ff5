"""Split one model over a chain of chips (issue 15, docs/chain.md).

    ranges = split_layers(model, knobs, chips)         # contiguous layer ranges, balanced by cycles
    part = chip_model(model, ranges, k)                # chip k's IntModel: its layers, its place
    info = generate_chain(model, out_dir, knobs, chips)

Chip k holds the layers ranges[k]; the first chip also the embedding, the prompt and the token
loop, the last the final rmsnorm, the classifier and the sampler (hw_core's CHIP_FIRST /
CHIP_LAST). Each chip passes the int16 residual to the next in a frame over hw_chip_link, and
the last sends the sampled token back to the first: a ring, each link carrying frames one way
(its ACKs the other). A chip's integer model is the whole model's with only its layers; its
meta["chain"] records its place, which the generator turns into hw_core's chain parameters
(hw/rtlgen/top.py `chain_parameters`) and the chip reports in its CHAIN register.

generate_chain writes one build folder that the Verilator flow simulates as one device (`hardwire
sim`, hw/sim): rtl/hardwire_top.v instantiates the N cores and 2N link ends (hardwire_top's
ports: the host's register bus reaches the chips through CHAIN_SEL), rom/chip<k>/ holds chip
k's ROMs, chip<k>/ is chip k's own build folder (rtl/hardwire_top.v, rom/, build.json: one
board's bitstream, `hardwire build --chips`). Everything is deterministic.
"""
from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from hw.errors import HardwireError
from hw.intmodel import IntModel, array_shapes
from hw.links.chip_link import hop_cycles
from hw.rtlgen.estimate import Estimate, estimate, positions
from hw.rtlgen.knobs import Knobs
from hw.rtlgen.layout import rom_layout

MAX_CHIPS = 8           # the chain top's CHAIN_SEL word holds a link error bit per chip in [31:16]
LINK_W = 8              # hw_chip_link data pins per direction (docs/chip_link.md: a GPIO header)
LINK_BEAT_CLKS = 4      # clk cycles per beat between two boards


class ChainError(HardwireError):
    """A split the chain cannot make (more chips than layers, an option a chain does not take)."""


def frame_words(dim: int) -> int:
    """Words of a chain frame (hw_core CHAIN_WORDS): header, position or token, the residual."""
    return dim + 2


def link_hop_cycles(dim: int) -> int:
    """What a frame from one chip to the next adds to a token (hw/links/chip_link.py)."""
    return hop_cycles(frame_words(dim), LINK_W, LINK_BEAT_CLKS)


def layer_arrays(model: IntModel) -> list[str]:
    """The arrays with one entry per layer: those whose shape follows n_layers (array_shapes)."""
    cfg = model.config
    one = array_shapes(cfg.__class__(**{**cfg.to_json(), "n_layers": 1}))
    two = array_shapes(cfg.__class__(**{**cfg.to_json(), "n_layers": 2}))
    return sorted(name for name in one if one[name] != two[name])


def check_chain_knobs(model: IntModel, knobs: Knobs, chips: int) -> None:
    """ChainError for a chain the build cannot make, naming the fix."""
    L = model.config.n_layers
    if not 2 <= chips <= MAX_CHIPS:
        raise ChainError(f"--chips {chips}: a chain has 2 to {MAX_CHIPS} chips (1 is the ordinary build: "
                         "leave --chips out)")
    if chips > L:
        raise ChainError(f"--chips {chips}: the model has {L} layers and a chip holds at least one; "
                         f"use --chips {L} or fewer")
    if knobs.contexts > 1:
        raise ChainError(f"--contexts {knobs.contexts} with --chips {chips}: a chain's chips run one sequencer "
                         "context each (the frames carry one token at a time); leave --contexts out, or build "
                         "one chip")


def chip_model(model: IntModel, ranges: list[range], index: int) -> IntModel:
    """Chip `index`'s integer model: the layers ranges[index], everything else as the whole model's
    (the first chip uses the embedding, the last the final norm and classifier), meta["chain"] its
    place and the whole model's fingerprint."""
    layers = ranges[index]
    per_layer = set(layer_arrays(model))
    arrays = {k: (v[layers.start:layers.stop] if k in per_layer else v) for k, v in model.arrays.items()}
    cfg = model.config.__class__(**{**model.config.to_json(), "n_layers": len(layers)})
    meta = {**model.meta, "chain": {"index": index, "chips": len(ranges), "layer_base": layers.start,
                                    "layers": [r.start for r in ranges] + [ranges[-1].stop],
                                    "whole_fingerprint": model.fingerprint}}
    return IntModel(cfg, arrays, dict(model.knobs), dict(model.scales), meta, model.tokenizer_bin)


@dataclass(frozen=True)
class ChipCost:
    per_layer: int          # cycles of one layer at the position
    first: int              # what the first chip adds: the embedding
    last: int               # what the last adds: final rmsnorm, classifier, sampler


@dataclass(frozen=True)
class ChainEstimate:
    """The estimator's one- and two-layer models of the shape, made once; a layer's cycles, the ends'
    and the chain's per token at any position are read from them."""
    one: Estimate               # a one-layer model
    two: Estimate               # a two-layer model
    n_layers: int
    emb: int                    # the embedding's cycles (the first chip's end)
    chips: int
    hop: int                    # a frame from one chip to the next (link_hop_cycles)

    def costs(self, pos: int, lora: bool = False) -> ChipCost:
        """`lora`: every chip runs its LoRA passes (an adapter is loaded)."""
        one, two = self.one.cycles(pos, lora), self.two.cycles(pos, lora)
        ends = one - (two - one)
        emb = min(ends, self.emb)
        return ChipCost(two - one, emb, ends - emb)

    def cycles(self, pos: int, lora: bool = False) -> int:
        """A sampled token at `pos` over the chain: the layers one after another, the two ends once,
        a hop per frame (chips - 1 residual frames and the token's frame back to the first chip)."""
        c = self.costs(pos, lora)
        return self.n_layers * c.per_layer + c.first + c.last + self.chips * self.hop


def chain_estimate(model: IntModel, knobs: Knobs, chips: int = 1) -> ChainEstimate:
    knobs = knobs.resolved(model["rope_cos"].shape[0])

    def est(n: int) -> Estimate:
        part = chip_model(model, [range(0, n)], 0)
        return estimate(part, rom_layout(part, knobs.lanes, knobs.values_per_lane), knobs)

    dim = model.config.dim
    return ChainEstimate(est(1), est(2), model.config.n_layers, -(-dim // knobs.emb_lanes(dim)), chips,
                         link_hop_cycles(dim))


def chip_costs(model: IntModel, knobs: Knobs, pos: int | None = None) -> ChipCost:
    """The estimate's cycles of a token at `pos` (default: mid-context) split into a layer's and the
    two ends'."""
    knobs = knobs.resolved(model["rope_cos"].shape[0])
    return chain_estimate(model, knobs).costs(knobs.context // 2 if pos is None else pos)


def split_layers(model: IntModel, knobs: Knobs, chips: int, est: ChainEstimate | None = None) -> list[range]:
    """Contiguous layer ranges, one per chip, the slowest chip as fast as it can be: every layer costs
    the same cycles and resources, so the ends (embedding on the first chip, the classifier on the
    last) decide where the cuts go. Ties: the earlier chips take more layers."""
    check_chain_knobs(model, knobs, chips)
    knobs = knobs.resolved(model["rope_cos"].shape[0])
    L = model.config.n_layers
    cost = (est or chain_estimate(model, knobs)).costs(knobs.context // 2)
    best = None
    for cuts in itertools.combinations(range(1, L), chips - 1):
        bounds = (0, *cuts, L)
        ranges = [range(a, b) for a, b in zip(bounds, bounds[1:])]
        worst = max(len(r) * cost.per_layer + cost.first * (k == 0) + cost.last * (k == chips - 1)
                    for k, r in enumerate(ranges))
        key = (worst, [-len(r) for r in ranges])
        if best is None or key < best[0]:
            best = (key, ranges)
    return best[1]


def chain_cycles(model: IntModel, knobs: Knobs, chips: int, pos: int) -> int:
    """Estimated cycles of a sampled token at `pos` over a chain of `chips` (ChainEstimate.cycles)."""
    return chain_estimate(model, knobs, chips).cycles(pos)


@dataclass(frozen=True)
class ChainInfo:
    out_dir: Path
    top: Path
    ranges: tuple[range, ...]
    chips: tuple              # each chip's BuildInfo (hw/rtlgen/generate.py)
    fingerprint: str


def generate_chain(model: IntModel, out_dir: str | Path, knobs: Knobs, chips: int) -> ChainInfo:
    """chip<k>/ (each chip's own build), rom/chip<k>/ (the same ROMs for the chain simulation),
    rtl/hardwire_top.v (the chain) and build.json under `out_dir`."""
    from hw.rtlgen.chain_top import emit_chain_top
    from hw.rtlgen.generate import REPO_ROOT, GenerateError, generate, static_sources

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} exists and is not a folder; choose another --out")
    knobs = knobs.resolved(model["rope_cos"].shape[0])
    check_chain_knobs(model, knobs, chips)
    chain_est = chain_estimate(model, knobs, chips)
    ranges = split_layers(model, knobs, chips, chain_est)
    parts = [chip_model(model, ranges, k) for k in range(chips)]
    infos = [generate(part, out / f"chip{k}", knobs) for k, part in enumerate(parts)]
    rom = out / "rom"
    if rom.exists():
        shutil.rmtree(rom)
    for k, info in enumerate(infos):
        shutil.copytree(info.out_dir / "rom", rom / f"chip{k}")
    (out / "rtl").mkdir(parents=True, exist_ok=True)
    top = out / "rtl" / "hardwire_top.v"
    top.write_text(emit_chain_top(model, parts, infos))
    static = sorted({p for m in (None, "hw_chain_ends", "hw_chain_bus", "hw_chain_wire")
                     for p in (static_sources(m) if m else static_sources())})
    first = json.loads((infos[0].out_dir / "build.json").read_text())
    doc = {
        **first,
        "static_rtl": [p.resolve().relative_to(REPO_ROOT).as_posix() for p in static],
        "rom_files": sorted(f"chip{k}/{p.name}" for k, info in enumerate(infos) for p in info.rom_files),
        "model": {**{k: v for k, v in first["model"].items() if k != "chain"},
                  "fingerprint": model.fingerprint, "config": model.config.to_json()},
        "chain": {"chips": chips, "layers": [[r.start, r.stop] for r in ranges],
                  "hop_cycles": link_hop_cycles(model.config.dim),
                  "link": {"w": LINK_W, "beat_clks": LINK_BEAT_CLKS, "frame_words": frame_words(model.config.dim)},
                  "chip_fingerprints": [p.fingerprint for p in parts],
                  "cycles_per_token": [{"position": p, "cycles": chain_est.cycles(p)}
                                       for p in positions(knobs.context)]},
    }
    del doc["estimate"]         # one chip's: each chip<k>/build.json has its own
    (out / "build.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return ChainInfo(out, top, tuple(ranges), tuple(infos), model.fingerprint)
