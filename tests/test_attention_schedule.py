"""hw/rtlgen/attention.py is the attention schedule's one home (issue 13, docs/architecture.md).

The proof of the count: a made-up schedule registered in that module alone (a parameter of the
generated top, a cycle term, a resource cost, a knob check, an option, a fit suggestion) reaches
the generated top, the estimate, the fit check, the knobs and the command line, none of which
reads the schedule's knobs itself. Pure Python, fast.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path

import pytest

from hw.boards import BOARDS, fit_report, needs
from hw.cli import _knobs_from_args, build_parser
from hw.rtlgen import attention
from hw.rtlgen.estimate import estimate, format_estimate
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.knobs import KnobError, Knobs
from hw.rtlgen.layout import rom_layout
from hw.rtlgen.top import core_parameters, emit_top

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gqa_model():
    """8 query heads on 4 kv heads (engines may share a kv head's bank)."""
    return random_int_model(seed=2, dim=64, hidden=96, n_heads=8, n_kv_heads=4, seq_len=32)


def _build(model, **kw):
    k = Knobs(lanes=16, values_per_lane=4, **kw).resolved(model.config.seq_len)
    return k, rom_layout(model, k.lanes, k.values_per_lane)


def test_a_new_top_parameter_comes_from_the_schedule(gqa_model, monkeypatch):
    k, lay = _build(gqa_model, attention_engines=8, attention_positions=2)
    names = [n for n, _, _ in core_parameters(gqa_model, lay, k)]
    assert names[names.index("ATT_E"):names.index("ATT_E") + 2] == ["ATT_E", "ATT_P"]
    orig = attention.core_parameters
    monkeypatch.setattr(attention, "core_parameters",
                        lambda cfg, knobs: orig(cfg, knobs) + [("ATT_X", "3", "a made-up schedule parameter")])
    top = emit_top(gqa_model, lay, k)
    assert re.search(r"\.ATT_P +\(2\), +// .*\n +\.ATT_X +\(3\), +// a made-up schedule parameter\n +\.NORM_W", top)
    assert "attention engines 8" in top                 # the header's knobs line (attention.header_text)


def test_the_estimate_takes_the_schedules_cycle_terms(gqa_model, monkeypatch):
    k, lay = _build(gqa_model, attention_positions=4)
    before = estimate(gqa_model, lay, k)
    assert before.attention_positions == 4 and before.attention_engines == 4
    assert before.attention_rows(8) == attention.rows(8, 4) == 3
    was = {pos: before.cycles(pos) for pos in (0, 5, 31)}
    orig_cycles, orig_token = attention.cycles, attention.token_cycles
    monkeypatch.setattr(attention, "cycles", lambda model, knobs, wpp: replace(
        orig_cycles(model, knobs, wpp), fixed=orig_cycles(model, knobs, wpp).fixed + 1000, kv_write=7))
    monkeypatch.setattr(attention, "token_cycles", lambda est, pos: orig_token(est, pos) + 3 * pos)
    after = estimate(gqa_model, lay, k)
    kv_write = orig_cycles(gqa_model, k, -(-gqa_model.config.dim // lay.vpl)).kv_write
    for pos in (0, 5, 31):
        assert after.cycles(pos) - was[pos] == 1000 + 7 - kv_write + 3 * pos
    monkeypatch.setattr(attention, "describe", lambda est: "a made-up schedule's row")
    assert re.search(r"attention +a made-up schedule's row", format_estimate(after, k.context))


def test_the_fit_check_takes_the_schedules_cost(gqa_model, monkeypatch):
    k, _ = _build(gqa_model, attention_engines=8, attention_positions=2, macs="lut")
    board = BOARDS["ulx3s-85f"]
    before = {n.resource: n for n in needs(gqa_model, k, board)}
    cost = attention.fit_cost(gqa_model, k, board.family, board.resources.bram_kbits)
    assert cost.kv_blocks > 0 and cost.luts > 0 and cost.dsps > 0 and cost.multipliers == 0
    assert f"{cost.kv_blocks} KV cache" in before["brams"].detail
    orig = attention.fit_cost
    monkeypatch.setattr(attention, "fit_cost", lambda *a: replace(
        orig(*a), luts=orig(*a).luts + 10_000, ffs=orig(*a).ffs + 123, dsps=orig(*a).dsps + 5,
        kv_blocks=orig(*a).kv_blocks + 2, blocks=orig(*a).blocks + 3))
    after = {n.resource: n for n in needs(gqa_model, k, board)}
    assert after["dsps"].need - before["dsps"].need == 5
    assert after["ffs"].need - before["ffs"].need == 123
    assert after["brams"].need - before["brams"].need == 5
    assert f"{cost.kv_blocks + 2} KV cache" in after["brams"].detail
    from hw.boards import LUT_CAL_LUT_MACS                  # k has LUT MACs: their LUT line
    assert abs(after["luts"].need - before["luts"].need - LUT_CAL_LUT_MACS[board.family][0] * 10_000) <= 1
    # a family without DSPs counts the engines' multipliers in LUTs instead
    ice = next(b for b in BOARDS.values() if b.family == "ice40")
    small = Knobs(lanes=4, values_per_lane=1, attention_engines=2).resolved(32)
    monkeypatch.setattr(attention, "fit_cost", orig)
    ice_cost = attention.fit_cost(gqa_model, small, ice.family, ice.resources.bram_kbits)
    assert ice_cost.dsps == 0 and ice_cost.multipliers == attention.engine_dsps("ecp5", 8, False)


def test_the_fit_check_takes_the_schedules_suggestions(gqa_model, monkeypatch):
    k, _ = _build(gqa_model, attention_engines=8, attention_positions=8)
    rep = fit_report(gqa_model, k, BOARDS["kv260"])
    assert rep.suggestions == ["--attention-engines 2 (from 8)",
                               "--attention-positions 2 (KV cache positions per cycle, from 8)"]
    monkeypatch.setattr(attention, "suggestions", lambda model, knobs, fits: ["--attention-made-up 1 (from 2)"])
    assert fit_report(gqa_model, k, BOARDS["kv260"]).suggestions == ["--attention-made-up 1 (from 2)"]
    # nothing fits the iCEBreaker: the smallest build takes the schedule's smallest setting
    monkeypatch.setattr(attention, "suggestions", lambda model, knobs, fits: [])
    monkeypatch.setattr(attention, "SMALLEST", {"attention_engines": 2})
    monkeypatch.setattr(attention, "SMALLEST_TEXT", "two made-up engines")
    rep = fit_report(gqa_model, k, BOARDS["icebreaker"])
    assert rep.smallest_knobs == "1 lane x 1 value, two made-up engines, context 16, 3-bit weights, no LoRA"
    assert "even the smallest build (1 lane x 1 value, two made-up engines" in rep.refusal()


def test_the_knobs_run_the_schedules_checks(monkeypatch):
    with pytest.raises(KnobError, match=r"attention engines must be in 0..64 \(0 = one per kv head\), got 65; "
                                        "change the build option"):
        Knobs(attention_engines=65)
    orig = attention.knob_checks
    monkeypatch.setattr(attention, "knob_checks", lambda knobs: orig(knobs) + ((knobs.lanes != 3, "made up"),))
    Knobs(lanes=4)
    with pytest.raises(KnobError, match="made up; change the build option"):
        Knobs(lanes=3)
    monkeypatch.setattr(attention, "check_context", lambda knobs, ctx: (_ for _ in ()).throw(KnobError("ctx")))
    with pytest.raises(KnobError, match="ctx"):
        Knobs().resolved(16)
    monkeypatch.setattr(attention, "engines", lambda knobs, nkv, nh=None: 5)
    assert Knobs().engines(4, 8) == 5


def _subparser(ap: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _options(p: argparse.ArgumentParser) -> dict:
    return {a.option_strings[0]: (a.dest, a.default, a.type, a.choices, a.help)
            for a in p._actions if a.option_strings and a.option_strings[0].startswith("--attention-")}


def test_the_command_line_takes_the_schedules_options(monkeypatch):
    alone = argparse.ArgumentParser()
    attention.add_arguments(alone)
    want = _options(alone)
    assert set(want) == {"--attention-engines", "--attention-positions"}
    ap = build_parser()
    for cmd in ("compile", "build"):
        assert _options(_subparser(ap, cmd)) == want, cmd
    args = ap.parse_args(["compile", "m.bin", "--out", "o", "--attention-engines", "2", "--attention-positions", "4"])
    k = _knobs_from_args(args)
    assert (k.attention_engines, k.attention_positions) == (2, 4)
    k = _knobs_from_args(ap.parse_args(["build", "--model", "m.bin"]))
    assert (k.attention_engines, k.attention_positions) == (0, 1)
    with pytest.raises(SystemExit):
        ap.parse_args(["compile", "m.bin", "--out", "o", "--attention-positions", "3"])
    # a made-up option and its knob values, from the module alone
    orig = attention.add_arguments
    monkeypatch.setattr(attention, "add_arguments", lambda p: (orig(p), p.add_argument("--attention-made-up",
                                                                                        type=int, default=7)))
    monkeypatch.setattr(attention, "knob_values", lambda a: {"attention_engines": a.attention_made_up})
    ap = build_parser()
    k = _knobs_from_args(ap.parse_args(["compile", "m.bin", "--out", "o", "--attention-made-up", "3"]))
    assert k.attention_engines == 3


def test_no_other_module_reads_the_schedules_knobs():
    """The top, the estimate, the fit check and the command line know the schedule only through
    hw/rtlgen/attention.py (the estimate records its terms under their field names)."""
    pattern = re.compile(r"knobs\.attention_|attention_engines=|attention_positions=|--attention-|kv_banks|"
                         r"engine_dsps|engine_counts|\.engines\(")
    for rel in ("hw/cli.py", "hw/boards.py", "hw/rtlgen/top.py", "hw/rtlgen/estimate.py"):
        hits = [line for line in (REPO / rel).read_text().splitlines() if pattern.search(line)]
        assert not hits, f"{rel} reads the attention schedule itself: {hits}"
