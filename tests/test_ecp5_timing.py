"""hw/backends/ecp5_timing.py on hand-made Yosys JSON netlists: arrival times, path order, loops."""
import json

import pytest

from hw.backends import ecp5_timing as nt

LUT = {"A": "input", "B": "input", "C": "input", "D": "input", "Z": "output"}
FF = {"CLK": "input", "DI": "input", "Q": "output"}


def lut(a, z):
    return {"type": "LUT4", "port_directions": LUT, "connections": {"A": [a], "B": ["0"], "C": ["0"],
                                                                    "D": ["0"], "Z": [z]}}


def ff(d, q, kind="TRELLIS_FF"):
    return {"type": kind, "port_directions": FF, "connections": {"CLK": [1], "DI": [d], "Q": [q]}}


def netlist(cells, names):
    return {"modules": {"top": {"attributes": {"top": 1}, "cells": cells,
                                "netnames": {n: {"bits": [b]} for n, b in names.items()}}}}


def chain_design(depth_long=4, depth_short=1):
    """Register a -> depth_long LUTs -> register b; register a -> depth_short LUTs -> register c."""
    cells, bit = {"ra": ff(2, 10)}, 10
    for i in range(depth_long):
        cells[f"l{i}"] = lut(bit, 1000 + i)
        bit = 1000 + i
    cells["rb"] = ff(bit, 11)
    bit = 10
    for i in range(depth_short):
        cells[f"s{i}"] = lut(bit, 100000 + i)
        bit = 100000 + i
    cells["rc"] = ff(bit, 12)
    return netlist(cells, {"a_q": 10, "long_end": 1000 + depth_long - 1, "short_end": 100000 + depth_short - 1})


def test_longer_logic_ranks_first_with_the_model_delays():
    paths = nt.Netlist(chain_design(4, 1)).paths()
    ends = [p.endpoint for p in paths]
    assert ends.index("rb.DI") < ends.index("rc.DI")
    rb = paths[0]
    assert rb.endpoint == "rb.DI"
    # clock to Q, then per LUT a net (fanout 1; the first net has fanout 2) and the LUT delay, then setup
    expect = (nt.CLK_TO_Q["TRELLIS_FF"] + nt.net_delay(2) + 3 * nt.net_delay(1) + 4 * nt.COMB["LUT4"]
              + nt.net_delay(1) + nt.SETUP)
    assert rb.arrival_ns == pytest.approx(expect)
    assert [h[1] for h in rb.hops] == ["TRELLIS_FF"] + ["LUT4"] * 4
    assert rb.hops[0][2] == "a_q" and rb.hops[-1][2] == "long_end"


def test_block_ram_output_launches_late():
    doc = chain_design(1, 1)
    doc["modules"]["top"]["cells"]["ra"]["type"] = "$paramod$abc\\DP16KD"
    paths = nt.Netlist(doc).paths()
    assert paths[0].arrival_ns > nt.CLK_TO_Q["DP16KD"]
    assert paths[0].hops[0][1] == "DP16KD"


def test_combinational_loop_terminates():
    cells = {"ra": ff(2, 10), "x": lut(10, 30), "y": lut(31, 31), "rb": ff(30, 11)}
    cells["x"]["connections"]["B"] = [31]       # y feeds itself and x
    paths = nt.Netlist(netlist(cells, {})).paths()
    assert {p.endpoint for p in paths} == {"ra.DI", "rb.DI"}


def test_deep_chain_does_not_overflow_the_stack():
    paths = nt.Netlist(chain_design(5000, 1)).paths()
    assert paths[0].endpoint == "rb.DI" and len(paths[0].hops) == 5001


def test_report_groups_a_bus_and_cli_reads_a_file(tmp_path, capsys):
    doc = chain_design(3, 2)
    doc["modules"]["top"]["cells"]["x_reg_TRELLIS_FF_Q_1"] = ff(1002, 13)
    doc["modules"]["top"]["cells"]["x_reg_TRELLIS_FF_Q_2"] = ff(1002, 14)
    text = nt.report(nt.Netlist(doc).paths(), top=5)
    assert "x_reg (2 endpoints)" in text
    path = tmp_path / "synth.json"
    path.write_text(json.dumps(doc))
    assert nt.main([str(path), "--top", "2"]) == 0
    assert "ns," in capsys.readouterr().out
    assert nt.main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
