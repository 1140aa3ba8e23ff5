"""`--bits auto`: per-class weight widths that fit a ROM budget or a board and lose least.

The datapath stores each weight class (embedding, attention, MLP, classifier) at its
own width (generator 1.3, docs/quantization_report.md "Mixed precision"), so the
choice is one width per class. Greedy, from 8 bits everywhere: while the weights
do not fit (more bits than `hardwire quantize --rom-budget`, or the fit check of
`hardwire build --board` fails), lower by one bit the class whose step costs the
least KL per bit saved, and repeat. The KL is measured on text the float model samples
itself (no data set, and none of the report's held-out stories), with the integer
model's weights dequantized and the activations float (hw/fakequant.py): it is the
weights' share of the loss, the only share the widths change. Each width is
quantized once for all classes (a class's rows do not depend on the others' widths),
so a step costs forward passes only.

    hardwire quantize CHECKPOINT --bits auto --rom-budget 600 --out model.npz
    hardwire build --model CHECKPOINT --bits auto --board ulx3s-85f --lanes 16 --vpl 8
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from hw.architecture import LAYER_MATRICES, MATRIX_CLASS
from hw.errors import HardwireError
from hw.intmodel import TENSOR_CLASSES

WIDEST = 8
NARROWEST = 2
SAMPLE_SEEDS = (9101, 9102)        # the float model's own sampled text (calibration uses others)
SAMPLE_TOKENS = 256


class AutoBitsError(HardwireError):
    pass


@dataclass
class Step:
    bits: dict
    rom_bits: int
    kl: float
    lowered: str | None = None       # the class lowered to reach this step
    tried: dict = field(default_factory=dict)   # class -> KL increase per kbit saved, of each candidate


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


class _Weights:
    """Dequantized weights of every class at every width, mixed per the chosen widths."""

    def __init__(self, prepared, calib, quantize_opts: dict):
        from hw.quantize import quantize

        self.by_width = {b: quantize(prepared, calib, dict.fromkeys(TENSOR_CLASSES, b), **quantize_opts)
                         for b in range(NARROWEST, WIDEST + 1)}

    def runner(self, prepared, bits: dict):
        from hw.fakequant import FakeQuantRunner

        run = FakeQuantRunner(prepared, points=())
        for name in LAYER_MATRICES:
            im = self.by_width[bits[MATRIX_CLASS[name]]]
            ws = im.scales["weights"][name]
            run.w[name] = np.stack([im[name][l] * np.asarray(ws[l])[:, None] for l in range(prepared.config.n_layers)])
        cls, emb = self.by_width[bits["classifier"]], self.by_width[bits["embedding"]]
        run.w["wcls"] = cls["wcls"] * np.asarray(cls.scales["weights"]["wcls"])[:, None]
        run.w["token_embedding"] = emb["emb"] * np.asarray(emb.scales["weights"]["emb"])[:, None]
        return run


def choose_bits(float_model, prepared, calib, budget_bits: Optional[int] = None,
                quantize_opts: dict | None = None, log=print,
                within: Optional[Callable[[dict], Optional[str]]] = None, budget: str = "") -> list[Step]:
    """The greedy path from 8 bits everywhere down to the first setting that fits; its last Step
    holds the chosen widths. Fits: the weights take at most `budget_bits`, or `within(bits)` says
    nothing against them (it returns why they do not fit, else None; `budget` names it in the log).
    `prepared`/`calib` are what the quantizer reads (after hw.transform), `float_model` the
    reference the KL is measured against."""
    from hw.calibrate import sampled_sequence
    from hw.report import float_reference, heldout_sums

    weights = _Weights(prepared, calib, quantize_opts or {})
    sizes = class_sizes(weights.by_width[WIDEST])
    if within is None:
        if budget_bits is None:
            raise ValueError("choose_bits needs budget_bits or within")
        budget = f"{budget_bits / 1024:,.0f} kbit"

        def within(bits: dict) -> Optional[str]:
            need = rom_bits(sizes, bits)
            return None if need <= budget_bits else f"{need / 1024:,.0f} kbit > {budget}"
    floor = dict.fromkeys(TENSOR_CLASSES, NARROWEST)
    why = within(floor)
    if why is not None:
        raise AutoBitsError(f"--bits auto: even {NARROWEST} bits everywhere do not fit ({why}; "
                            f"{', '.join(f'{c} {n:,}' for c, n in sizes.items())} weights, "
                            f"{rom_bits(sizes, floor) / 1024:,.0f} kbit at {NARROWEST} bits): give a larger budget "
                            "or a smaller build")
    n = min(SAMPLE_TOKENS, float_model.config.seq_len)
    text = [sampled_sequence(float_model, seed, n) for seed in SAMPLE_SEEDS]
    ref = float_reference(float_model, text, steps=1)

    def kl(bits: dict) -> float:
        _, _, total, _, count = heldout_sums(ref, weights.runner(prepared, bits))
        return total / count

    bits = dict.fromkeys(TENSOR_CLASSES, WIDEST)
    path = [Step(dict(bits), rom_bits(sizes, bits), kl(bits))]
    log(f"auto bits: {n}-token samples of the float model (seeds {', '.join(map(str, SAMPLE_SEEDS))}), "
        f"budget {budget}; start {_label(bits)}: {path[-1].rom_bits / 1024:,.0f} kbit, "
        f"KL {path[-1].kl:.4f}")
    while within(bits) is not None:
        here = path[-1]
        tried = {}
        for c in TENSOR_CLASSES:
            if bits[c] > NARROWEST:
                lower = {**bits, c: bits[c] - 1}
                tried[c] = (kl(lower), sizes[c])
        # KL increase per kbit saved: the cheapest step first
        rate = {c: (k - here.kl) / (s / 1024) for c, (k, s) in tried.items()}
        if not rate:
            raise AutoBitsError(f"--bits auto: {_label(bits)} still does not fit ({within(bits)})")
        c = min(rate, key=rate.get)
        bits[c] -= 1
        path.append(Step(dict(bits), rom_bits(sizes, bits), tried[c][0], c, rate))
        log(f"  {c} -> {bits[c]} bits: {_label(bits)}, {path[-1].rom_bits / 1024:,.0f} kbit, "
            f"KL {path[-1].kl:.4f} (KL per kbit saved: "
            + ", ".join(f"{k} {v:.2e}" for k, v in sorted(rate.items(), key=lambda kv: kv[1])) + ")")
    return path


def _label(bits: dict) -> str:
    return "/".join(str(bits[c]) for c in TENSOR_CLASSES)


def board_fit(board, knobs, prepared, calib, quantize_opts: dict) -> Callable[[dict], Optional[str]]:
    """`within` for choose_bits: the fit check (hw/boards.py) of the model quantized at `bits`, built
    with `knobs` on `board`; None when it fits, else what is over."""
    from hw.boards import fit_report
    from hw.quantize import quantize

    def within(bits: dict) -> Optional[str]:
        im = quantize(prepared, calib, bits, **quantize_opts)
        fit = fit_report(im, knobs.resolved(im["rope_cos"].shape[0]), board)
        return None if fit.fits else "; ".join(f"{n.resource} {n.need:,} > {n.limit:,}"
                                               for n in fit.needs if not n.fits)
    return within
