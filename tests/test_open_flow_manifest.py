"""hw/flows/open_flow.build's orchestration and manifest with the tools replaced by stand-ins (the
real Yosys/nextpnr runs are tests/test_build_flow.py's, behind the synth marker): the stages run in
order with the asked router, seed and clock, the manifest records the bitstream, Fmax, utilisation,
speeds and pnr settings; timing not met is an error that keeps the bitstream; refusals."""
from __future__ import annotations

import hashlib
import json

import pytest

from hw.boards import get_board
from hw.errors import HardwireError
from hw.flows import open_flow
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.generate import generate
from hw.rtlgen.knobs import Knobs

BOARD = get_board("ulx3s-85f")


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    model = random_int_model(1)
    return generate(model, tmp_path_factory.mktemp("b") / "build", Knobs(lanes=4, values_per_lane=4)), model


def stand_ins(monkeypatch, fmax: float):
    calls = []

    def synth(bdir, board):
        calls.append(("synth", (bdir / "board_top.v").is_file()))
        return {"LUT4": 1234, "MULT18X18D": 4}

    def pnr(bdir, board, freq, seed, router, log, on_log):
        calls.append(("pnr", freq, seed, router))
        on_log("Info: Packing IOs..\n")
        util = {v: {"used": 7, "available": 70} for v in board.backend.utilisation_cells.values()}
        return {"fmax": {"$glbnet$clk": {"achieved": fmax, "constraint": 25.0}}, "utilization": util,
                "hardwire_pnr": {"router": router, "seed": seed, "stalled": []}}

    def pack(bdir, board):
        calls.append(("pack",))
        bit = bdir / f"{board.name}.bit"
        bit.write_bytes(b"\xff\x00bitstream")
        return bit

    monkeypatch.setattr(open_flow, "synth", synth)
    monkeypatch.setattr(open_flow, "pnr", pnr)
    monkeypatch.setattr(open_flow, "pack", pack)
    monkeypatch.setattr(open_flow, "record_bram_map", lambda bdir, manifest, log: calls.append(("bram_map",)))
    return calls


def test_build_runs_the_stages_and_writes_the_manifest(design, monkeypatch):
    info, model = design
    calls = stand_ins(monkeypatch, fmax=31.5)
    lines = []
    path = open_flow.build(info, BOARD, fit={"fits": True}, freq_mhz=30.0, log=lines.append, router="router2",
                           seed=3, baud=9600)
    assert calls == [("synth", True), ("pnr", 30.0, 3, "router2"), ("pack",), ("bram_map",)]
    doc = json.loads(path.read_text())
    bit = info.out_dir / "ulx3s-85f.bit"
    assert doc["format"] == open_flow.MANIFEST_FORMAT and doc["board"] == "ulx3s-85f" and doc["uart_baud"] == 9600
    assert doc["bitstream"] == {"file": bit.name, "bytes": bit.stat().st_size,
                                "sha256": hashlib.sha256(bit.read_bytes()).hexdigest()}
    assert doc["model"]["fingerprint"] == model.fingerprint and doc["model"]["quantized_on"]
    assert doc["fmax_mhz"] == 31.5 and doc["timing_met"] is True and doc["fit_check"] == {"fits": True}
    assert doc["pnr"] == {"router": "router2", "seed": 3, "stalled": []}
    assert doc["utilisation"]["dsps"] == {"used": 7, "available": 70} and doc["yosys_cells"]["LUT4"] == 1234
    est = info.estimate
    assert doc["speed_at_clock"] == open_flow.speed(est, info.knobs.context, BOARD.clock_mhz)
    assert doc["speed_at_fmax"]["tokens_per_s_mean"] > doc["speed_at_clock"]["tokens_per_s_mean"]
    assert set(doc["seconds"]) == {"synth", "pnr", "pack"} and "python" in doc["tools"]


def test_timing_not_met_is_an_error_that_keeps_the_bitstream(design, monkeypatch):
    info, _ = design
    stand_ins(monkeypatch, fmax=20.0)
    with pytest.raises(open_flow.FlowError, match=r"timing not met: Fmax 20.0 MHz is below the 25 MHz design clock"):
        open_flow.build(info, BOARD, log=lambda s: None)
    doc = json.loads((info.out_dir / "manifest.json").read_text())
    assert doc["timing_met"] is False and (info.out_dir / "ulx3s-85f.bit").is_file()


def test_timing_just_missed_keeps_the_measured_cycles_and_names_the_reclock(design, monkeypatch):
    """60 MHz asked, 59.6 routed: the failed build's manifest keeps the simulation's cycles, and the
    refusal names the clock `hardwire reclock` would run the same routing at (the PLL's 59.375 MHz,
    where the 20 clocks a bit built for 3 Mbaud are 1.0 % off)."""
    from hw.boards import with_clock

    info, _ = design
    stand_ins(monkeypatch, fmax=59.6)
    measured = {"tokens": 64, "cycles_mean": 1910.0}
    with pytest.raises(open_flow.FlowError, match=r"hardwire reclock --bitstream \S+ulx3s-85f.bit --clock 59.375"):
        open_flow.build(info, with_clock(BOARD, 60), log=lambda s: None, measured=measured, baud=3_000_000)
    doc = json.loads((info.out_dir / "manifest.json").read_text())
    assert doc["timing_met"] is False and doc["pll"]["out_mhz"] == 60.0
    assert doc["measured"] == {**measured, "tokens_per_s_at_clock": round(60e6 / 1910, 1),
                               "tokens_per_s_at_fmax": round(59.6e6 / 1910, 1)}
    # 57 routed: every clock the PLL makes at or under it leaves the UART divider too far off
    stand_ins(monkeypatch, fmax=57.0)
    with pytest.raises(open_flow.FlowError) as err:
        open_flow.build(info, with_clock(BOARD, 60), log=lambda s: None, baud=3_000_000)
    assert "reclock" not in str(err.value) and "another --seed" in str(err.value)


def test_build_refusals(design, monkeypatch, tmp_path):
    info, _ = design
    with pytest.raises(open_flow.FlowError, match="built by Vivado, not the open flow"):
        open_flow.build(info, get_board("pynq-z2"))
    monkeypatch.setattr(open_flow, "constraints_file", lambda board: tmp_path / "none.lpf")
    with pytest.raises(open_flow.FlowError, match="none.lpf is missing"):
        open_flow.build(info, BOARD)
    with pytest.raises(open_flow.FlowError, match="names no clock"):
        open_flow.fmax_mhz({"fmax": {}})
    assert issubclass(open_flow.FlowError, HardwireError)
