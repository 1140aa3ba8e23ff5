"""`hardwire reclock` (hw/flows/reclock.py): a finished ECP5 bitstream at another PLL clock.

The PLL's words are checked against nextpnr itself: the same design routed at two clocks with the
same timing target places and routes alike, and the reclock of one is the other's bitstream, byte
for byte. The committed bitstream is reclocked whole (only the PLL's words change); the refusals
name what stops a reclock and what to do instead."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hw.backends.ecp5_pll import ecp5_pll
from hw.flows.reclock import ReclockError, check_clock, reclock, reclock_candidates, rewrite_pll

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "bitstreams" / "ulx3s-85f"

# ecpunpack's text for the EHXPLLL of the committed bitstream's 57.14 MHz (CLKI 7, CLKFB 16, CLKOP 10)
PLL_CONFIG = """.tile MIB_R4C0:PLL0_UL
arc: E1_CLKFB E1_JCLKFB3
word: CLKFB_DIV 0001111
word: CLKI_DIV 0000110
word: CLKOP_CPHASE 0000100
word: ICP_CURRENT 01100
word: LPF_RESISTOR 0001000
enum: MODE EHXPLLL

.tile MIB_R5C0:PLL1_UL
word: CLKOP_DIV 0001001
word: CLKOS_DIV 0000111
enum: CLKOP_ENABLE ENABLED
"""


def fields(pll) -> dict:
    return {"CLKI_DIV": pll.clki_div, "CLKFB_DIV": pll.clkfb_div, "CLKOP_DIV": pll.clkop_div,
            "CLKOP_CPHASE": pll.clkop_cphase}


def words(text: str) -> dict:
    return {line.split()[1]: int(line.split()[2], 2) for line in text.splitlines() if line.startswith("word:")}


def test_rewrite_changes_only_the_dividers():
    old, new = ecp5_pll(25, 57.1429), ecp5_pll(25, 59.375)
    out = rewrite_pll(PLL_CONFIG, fields(old), fields(new))
    assert words(out) == {**words(PLL_CONFIG), "CLKI_DIV": 7, "CLKFB_DIV": 18, "CLKOP_DIV": 9, "CLKOP_CPHASE": 4}
    changed = [(a, b) for a, b in zip(PLL_CONFIG.splitlines(), out.splitlines()) if a != b]
    assert len(changed) == 2 and len(out.splitlines()) == len(PLL_CONFIG.splitlines())


def test_rewrite_sets_the_words_ecpunpack_leaves_out():
    """A divider of 1 is stored as 0, which ecpunpack does not write: from 1, the word is set in the
    tile that holds its fellow fields."""
    old = {"CLKI_DIV": 7, "CLKFB_DIV": 16, "CLKOP_DIV": 10, "CLKOP_CPHASE": 4}
    without = PLL_CONFIG.replace("word: CLKI_DIV 0000110\n", "")
    out = rewrite_pll(without, {**old, "CLKI_DIV": 1}, old)
    assert words(out) == words(PLL_CONFIG)
    assert "word: CLKI_DIV 0000110" in out.split(".tile MIB_R5C0")[0]
    assert "word: CLKI_DIV 0000000" in rewrite_pll(PLL_CONFIG, old, {**old, "CLKI_DIV": 1})


def test_rewrite_reads_nextpnrs_tile_groups():
    """nextpnr's --textcfg (a build folder's board.config) writes the PLL's two tiles as one group."""
    text = (".tile_group MIB_R4C0:PLL0_UL MIB_R5C0:PLL1_UL\nword: CLKI_DIV 0000110\nword: CLKFB_DIV 0001111\n"
            "word: CLKOP_DIV 0001001\nword: CLKOP_CPHASE 0000100\nword: CLKOS_DIV 0000111\n"
            "word: LPF_RESISTOR 0001000\n")
    old, new = ecp5_pll(25, 57.1429), ecp5_pll(25, 59.375)
    assert words(rewrite_pll(text, fields(old), fields(new))) == {**words(text), "CLKI_DIV": 7, "CLKFB_DIV": 18}


def test_rewrite_refuses_words_that_are_not_the_manifests():
    old = {"CLKI_DIV": 7, "CLKFB_DIV": 16, "CLKOP_DIV": 10, "CLKOP_CPHASE": 4}
    with pytest.raises(ReclockError, match=r"CLKFB_DIV holds 15, its manifest's PLL says 16"):
        rewrite_pll(PLL_CONFIG, {**old, "CLKFB_DIV": 17}, old)
    with pytest.raises(ReclockError, match="no EHXPLLL"):
        rewrite_pll(".tile MIB_R4C0:PLL0_UL\nenum: MODE EHXPLLL\n", old, old)
    two = PLL_CONFIG + PLL_CONFIG.replace("R4C0:PLL0_UL", "R4C125:PLL0_UR").replace("R5C0:PLL1_UL", "R5C125:PLL1_UR")
    with pytest.raises(ReclockError, match="more than one PLL"):
        rewrite_pll(two, old, old)


def manifest(**over) -> dict:
    doc = {"board": "ulx3s-85f", "family": "ecp5", "clock_mhz": 60.0, "fmax_mhz": 59.6, "uart_baud": 3_000_000,
           "pll": ecp5_pll(25, 60).to_json()}
    return {**doc, **over}


def test_check_clock_refusals_name_the_cause_and_the_way_out():
    assert check_clock(manifest(), 59.375).out_mhz == 59.375
    with pytest.raises(ReclockError, match=r"above the routed Fmax 59.60 MHz.*reclock to 59.60 MHz or below"):
        check_clock(manifest(), 60)
    # the 20 clocks a bit built for 3 Mbaud at 60 MHz: 58.33 MHz would send 2.92 Mbaud, 2.8 % off
    with pytest.raises(ReclockError, match=r"UART divider built into this bitstream \(20 clocks a bit.*2\.8 % off"):
        check_clock(manifest(), 58.3333)
    assert check_clock(manifest(uart_baud=None), 58.3333).out_mhz == pytest.approx(58.3333, abs=1e-4)
    with pytest.raises(ReclockError, match="built without --clock"):
        check_clock(manifest(pll=None), 25)
    with pytest.raises(ReclockError, match="chip of a chain"):
        check_clock(manifest(chain={"chip": 0, "chips": 2}), 59.375)
    with pytest.raises(ReclockError, match="ECP5 EHXPLLL"):
        check_clock(manifest(family="ice40", board="icebreaker"), 59.375)
    with pytest.raises(ReclockError, match="the ECP5 PLL output runs from 3.125 to 400 MHz"):
        check_clock(manifest(), 2)
    assert reclock_candidates(manifest(), 59.6) == [59.375]
    assert reclock_candidates(manifest(), 57.0) == []


def test_reclock_refuses_a_bitstream_without_its_manifest_or_metadata(tmp_path):
    bit = tmp_path / "ulx3s-85f.bit"
    bit.write_bytes(b"\xff\x00bitstream")
    with pytest.raises(Exception, match="has no manifest.json beside it: a reclock needs"):
        reclock(bit, 59.375, out=tmp_path / "out", log=lambda s: None)
    (tmp_path / "manifest.json").write_text(json.dumps({
        **manifest(), "format": "hardwire-bitstream-manifest",
        "bitstream": {"file": bit.name, "sha256": hashlib.sha256(bit.read_bytes()).hexdigest()}}))
    with pytest.raises(ReclockError, match="no host metadata beside"):
        reclock(bit, 59.375, out=tmp_path / "out", log=lambda s: None)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- against nextpnr and the committed bitstream

@pytest.mark.synth
@pytest.mark.slow
def test_reclocked_bitstream_is_the_one_nextpnr_routes_at_that_clock():
    """The UART echo's board top at 60 and at 59.375 MHz (3 Mbaud: 20 clocks a bit at both), each placed
    and routed for 64 MHz: the 60 MHz config with the PLL's words rewritten packs to the 59.375 MHz
    build's bitstream, byte for byte."""
    from hw.boards import get_board, with_clock
    from hw.flows import open_flow
    from hw.tools import run_yowasp
    from tests.test_build_flow import _echo_board

    bits = {}
    for mhz in (60, 59.375):
        board = with_clock(get_board("ulx3s-85f"), mhz)
        work = _echo_board(board, f"reclock-{mhz:g}", baud=3_000_000)
        open_flow.pnr(work, board, freq_mhz=64, tries=1, log=lambda s: None)
        bits[mhz] = (work, open_flow.pack(work, board), board.pll)
    work, _, pll60 = bits[60]
    text = rewrite_pll((work / "board.config").read_text(), fields(pll60), fields(bits[59.375][2]))
    (work / "reclock.config").write_text(text)
    run_yowasp("ecppack", ["--compress", "--input", "reclock.config", "--bit", "reclock.bit"], cwd=work)
    assert bits[60][1].read_bytes() != bits[59.375][1].read_bytes()
    assert (work / "reclock.bit").read_bytes() == bits[59.375][1].read_bytes()


@pytest.mark.synth
def test_committed_bitstream_reclocks_with_only_its_pll_words_changed(tmp_path):
    """bitstreams/ulx3s-85f at the highest clock under its routed Fmax that its UART divider allows:
    the new manifest and metadata say so, and unpacked, the new bitstream differs from the committed
    one only in the EHXPLLL's divider words."""
    from hw.tools import run_yowasp, tool_path

    doc = json.loads((COMMITTED / "manifest.json").read_text())
    clocks = [c for c in reclock_candidates(doc, doc["fmax_mhz"]) if c != round(doc["clock_mhz"], 4)]
    if not clocks:
        pytest.skip(f"no other clock up to the committed Fmax {doc['fmax_mhz']} keeps its UART divider")
    base = tmp_path / "base"
    shutil.copytree(COMMITTED, base)
    res = reclock(base / doc["bitstream"]["file"], clocks[0], out=tmp_path / "out", log=lambda s: None)
    new = json.loads(res["manifest"].read_text())
    assert new["bitstream"]["sha256"] == hashlib.sha256(res["bitstream"].read_bytes()).hexdigest()
    assert new["clock_mhz"] == pytest.approx(clocks[0], abs=1e-4) and new["timing_met"]
    assert new["pll"] == ecp5_pll(25, clocks[0]).to_json() and new["fmax_mhz"] == doc["fmax_mhz"]
    assert new["measured"]["tokens_per_s_at_clock"] == pytest.approx(
        clocks[0] * 1e6 / doc["measured"]["cycles_mean"], rel=1e-4)
    assert new["reclock"]["base"]["bitstream_sha256"] == doc["bitstream"]["sha256"]
    assert json.loads(res["metadata"].read_text())["clock_hz"] == round(clocks[0] * 1e6)
    assert (res["metadata"].parent / json.loads(res["metadata"].read_text())["tokenizer"]).resolve() == \
        (base / json.loads((base / "ulx3s-85f.hardwire.json").read_text())["tokenizer"]).resolve()
    for name, bit in (("base", base / doc["bitstream"]["file"]), ("new", res["bitstream"])):
        run_yowasp("ecpunpack", [tool_path(bit, tmp_path), f"{name}.config"], cwd=tmp_path)
    old_lines = (tmp_path / "base.config").read_text().splitlines()
    new_lines = (tmp_path / "new.config").read_text().splitlines()
    diff = {(a, b) for a, b in zip(old_lines, new_lines) if a != b}
    assert len(old_lines) == len(new_lines) and diff
    assert {a.split()[1] for a, _ in diff} <= {"CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "CLKOP_CPHASE"}
