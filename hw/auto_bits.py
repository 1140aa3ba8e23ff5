"""`--bits auto`: per-class weight widths that fit a ROM budget or a board and lose least.

The datapath stores each weight class (embedding, attention, MLP, classifier) at its
own width (generator 1.3, docs/quantization_report.md "Mixed precision"), so the
choice is one width per class: 7^4 = 2,401 settings from 2 to 8 bits. Each class's
sensitivity is measured at every width with the others at 8 bits (the KL it adds);
the settings that fit (at most `hardwire quantize --rom-budget` bits of weights, or
the fit check of `hardwire build --board` with the build's knobs) are ranked by the
sum of their classes' added KL, and the best few are measured together; the least
KL wins. The KL is measured on text the float model samples itself (no data set,
and none of the report's held-out stories), with the integer model's weights
dequantized and the activations float (hw/fakequant.py): it is the weights' share of
the loss, the only share the widths change. Each width is quantized once for all
classes (a class's rows do not depend on the others' widths), and the fit check
needs only shapes and widths, so a setting costs a forward pass at most.

    hardwire quantize CHECKPOINT --bits auto --rom-budget 600 --out model.npz
    hardwire build --model CHECKPOINT --bits auto --board ulx3s-85f --lanes 16 --vpl 8
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np

from hw.architecture import LAYER_MATRICES, MATRIX_CLASS
from hw.errors import HardwireError
from hw.intmodel import TENSOR_CLASSES

WIDEST = 8
NARROWEST = 2
WIDTHS = tuple(range(NARROWEST, WIDEST + 1))
SAMPLE_SEEDS = (9101, 9102)        # the float model's own sampled text (calibration uses others)
SAMPLE_TOKENS = 256
FINALISTS = 6                      # fitting settings measured together, best predicted first

# Within: (bits, a model with those widths' shapes) -> None when the setting fits, else why not
Within = Callable[[dict, object], Optional[str]]


class AutoBitsError(HardwireError):
    pass


@dataclass
class Choice:
    bits: dict                  # the chosen widths
    kl: float                   # their KL, measured
    rom_bits: int
    sensitivity: dict           # class -> {bits: KL added with the other classes at 8 bits}
    finalists: list             # (bits, predicted KL, measured KL) of the settings measured together


def class_sizes(int_model) -> dict:
    """Weights per class: the embedding table, the layer matrices of each class, the classifier."""
    sizes = dict.fromkeys(TENSOR_CLASSES, 0)
    sizes["embedding"] = int(np.asarray(int_model["emb"]).size)
    sizes["classifier"] = int(np.asarray(int_model["wcls"]).size)
    for name in LAYER_MATRICES:
        sizes[MATRIX_CLASS[name]] += int(np.asarray(int_model[name]).size)
    return sizes


def rom_bits(sizes: dict, bits: dict) -> int:
    return sum(sizes[c] * bits[c] for c in TENSOR_CLASSES)


def parse_budget(text: str) -> int:
    """'600' (kbit) -> bits."""
    try:
        kbit = float(text)
    except ValueError:
        raise AutoBitsError(f"--rom-budget {text!r} is not a number of kbit; write e.g. --rom-budget 600") from None
    if kbit <= 0:
        raise AutoBitsError(f"--rom-budget {text} kbit: the budget must be positive")
    return int(kbit * 1024)


def rom_budget(budget_bits: Optional[int] = None) -> tuple[Within, str]:
    """`within` for a budget of weight bits (None: what the quantizer's default widths take), and
    its name for the log. The class sizes are taken from the first model it is asked about."""
    from hw.quantize import DEFAULT_BITS

    name = (f"{budget_bits / 1024:,.0f} kbit" if budget_bits is not None
            else f"the ROM of the default widths ({_label(DEFAULT_BITS)})")
    sizes: dict = {}

    def within(bits: dict, shapes) -> Optional[str]:
        if not sizes:
            sizes.update(class_sizes(shapes))
        limit = budget_bits if budget_bits is not None else rom_bits(sizes, DEFAULT_BITS)
        need = rom_bits(sizes, bits)
        return None if need <= limit else f"{need / 1024:,.0f} kbit > {limit / 1024:,.0f} kbit"
    return within, name


def board_fit(board, knobs) -> tuple[Within, str]:
    """`within` for the fit check (hw/boards.py) of the model built with `knobs` on `board`."""
    from hw.boards import fit_report

    def within(bits: dict, shapes) -> Optional[str]:
        fit = fit_report(shapes, knobs.resolved(shapes["rope_cos"].shape[0]), board)
        return None if fit.fits else "; ".join(f"{n.resource} {n.need:,} > {n.limit:,}"
                                               for n in fit.needs if not n.fits)
    return within, f"the fit check on {board.name}"


class _Weights:
    """Dequantized weights of every class at every width, mixed per the chosen widths."""

    def __init__(self, prepared, calib, quantize_opts: dict):
        from hw.fakequant import FakeQuantRunner
        from hw.quantize import quantize

        self.by_width = {b: quantize(prepared, calib, dict.fromkeys(TENSOR_CLASSES, b), **quantize_opts)
                         for b in WIDTHS}
        # dequantized once per width, by the emulation's own loader
        self.float_w = {b: FakeQuantRunner(prepared, im, points=()).w for b, im in self.by_width.items()}

    def shapes(self, bits: dict):
        """A model with the shapes and widths of `bits` (the 2-bit integers fit every width): what the
        fit check reads; its values are not the quantized weights."""
        im = self.by_width[NARROWEST]
        return replace(im, knobs={**im.knobs, "bits": dict(bits)})

    def runner(self, prepared, bits: dict):
        from hw.fakequant import FakeQuantRunner

        run = FakeQuantRunner(prepared, points=())
        for name in LAYER_MATRICES:
            run.w[name] = self.float_w[bits[MATRIX_CLASS[name]]][name]
        run.w["wcls"] = self.float_w[bits["classifier"]]["wcls"]
        run.w["token_embedding"] = self.float_w[bits["embedding"]]["token_embedding"]
        return run


def choose_bits(float_model, prepared, calib, within: Within, budget: str, quantize_opts: dict | None = None,
                log=print) -> Choice:
    """The widths that fit (`within`, named `budget` in the log) with the least KL. `prepared`/`calib`
    are what the quantizer reads (after hw.transform), `float_model` the reference."""
    from hw.calibrate import sampled_sequence
    from hw.report import float_reference, heldout_sums

    weights = _Weights(prepared, calib, quantize_opts or {})
    sizes = class_sizes(weights.by_width[WIDEST])
    floor = dict.fromkeys(TENSOR_CLASSES, NARROWEST)
    why = within(floor, weights.shapes(floor))
    if why is not None:
        raise AutoBitsError(f"--bits auto: even {NARROWEST} bits everywhere do not fit {budget} ({why}; "
                            f"{', '.join(f'{c} {n:,}' for c, n in sizes.items())} weights, "
                            f"{rom_bits(sizes, floor) / 1024:,.0f} kbit at {NARROWEST} bits): give a larger budget "
                            "or a smaller build")
    n = min(SAMPLE_TOKENS, float_model.config.seq_len)
    ref = float_reference(float_model, [sampled_sequence(float_model, seed, n) for seed in SAMPLE_SEEDS], steps=1)

    def kl(bits: dict) -> float:
        _, _, total, _, count = heldout_sums(ref, weights.runner(prepared, bits))
        return total / count

    full = dict.fromkeys(TENSOR_CLASSES, WIDEST)
    base = kl(full)
    sens = {c: {b: (kl({**full, c: b}) - base if b < WIDEST else 0.0) for b in WIDTHS} for c in TENSOR_CLASSES}
    log(f"auto bits: {n}-token samples of the float model (seeds {', '.join(map(str, SAMPLE_SEEDS))}), "
        f"budget {budget}; KL at 8 bits everywhere {base:.4f}, added by each class alone:")
    for c in TENSOR_CLASSES:
        log(f"  {c:10} " + "  ".join(f"{b}: {sens[c][b]:.4f}" for b in WIDTHS[:-1]))
    ranked = sorted(itertools.product(WIDTHS, repeat=len(TENSOR_CLASSES)),
                    key=lambda w: (sum(sens[c][b] for c, b in zip(TENSOR_CLASSES, w)), -sum(w)))
    finalists = []
    for w in ranked:
        bits = dict(zip(TENSOR_CLASSES, w))
        if within(bits, weights.shapes(bits)) is None:
            predicted = base + sum(sens[c][bits[c]] for c in TENSOR_CLASSES)
            finalists.append((bits, predicted, kl(bits)))
            if len(finalists) == FINALISTS:
                break
    best = min(finalists, key=lambda f: f[2])
    for bits, predicted, measured in finalists:
        log(f"  {_label(bits)}: {rom_bits(sizes, bits) / 1024:,.0f} kbit, KL predicted {predicted:.4f}, "
            f"measured {measured:.4f}" + ("  <- chosen" if bits is best[0] else ""))
    return Choice(best[0], best[2], rom_bits(sizes, best[0]), sens, finalists)


def _label(bits: dict) -> str:
    return "/".join(str(bits[c]) for c in TENSOR_CLASSES)
