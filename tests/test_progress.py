"""Progress of long jobs (hw/progress.py): nextpnr's log read as it grows, and the stage display."""
from __future__ import annotations

import time

from hw.boards import get_board
from hw.progress import StageProgress, pnr_progress

# excerpts of a real nextpnr-ecp5 router1 run (the default model at 40 MHz, /work/pnr/build-final-40/pnr.log)
PACK = """Info: Packing IOs..
Info: Packing constants..
"""
HEAP = """Info: Creating initial analytic placement for 40123 cells, random placement wirelen = 5468312.
Info:     at initial placer iter 0, wirelen = 21234
Info:     at initial placer iter 1, wirelen = 20272
Info: Running main analytical placer, max placement attempts per cell = 286558159.
Info:     at iteration #1, type ALL: wirelen solved = 20284, spread = 2175810, legal = 2201480; time = 40.01s
Info:     at iteration #2, type ALL: wirelen solved = 124043, spread = 1067821, legal = 1123028; time = 31.59s
"""
ANNEAL = """Info: HeAP Placer Time: 675.32s
Info: Running simulated annealing placer for refinement.
Info:   at iteration #1: temp = 0.000000, timing cost = 2893, wirelen = 631021
Info:   at iteration #5: temp = 0.000000, timing cost = 2938, wirelen = 551719
"""
ROUTER1 = """Info: Routing..
Info: Setting up routing queue.
Info: Routing 207691 arcs.
Info:            |   (re-)routed arcs  |   delta    | remaining|       time spent     |
Info:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|
Info:       1000 |      522        477 |  522   477 |    207554|      11.56      11.56|
Info:     158000 |    38639     119298 |  172   780 |    134057|       3.93     541.28|
"""
ROUTER1_DONE = """Info:     207000 |    40000     167000 |  100   900 |         0|       2.00     700.00|
Info: Routing complete.
Info: Router1 time 700.12s
"""
# router2 (nextpnr route/router2.cc) reports each congestion-negotiation iteration
ROUTER2 = """Info: Running router2...
Info: Setting up routing resources...
Info: Running main router loop...
Info:     iter=1 wires=245034 overused=30781 overuse=47112 archfail=NA
Info:     iter=2 wires=246870 overused=17240 overuse=21555 archfail=NA
"""


def test_nextpnr_log_as_it_grows():
    """Each phase of a growing log is named with its figures: the placers' iterations and wirelength,
    router1's arcs left (share of the total), router2's overused wires."""
    assert pnr_progress("Info: Program arguments: ...\n") is None
    assert pnr_progress(PACK).text == "packing"
    p = pnr_progress(PACK + HEAP.splitlines(keepends=True)[1])
    assert (p.phase, p.text) == ("place", "initial placement, iteration 0, wirelength 21,234")
    p = pnr_progress(PACK + HEAP)
    assert p.text == "analytic placement, iteration 2, legal wirelength 1,123,028"
    p = pnr_progress(PACK + HEAP + ANNEAL)
    assert p.text == "placement refinement (annealing), iteration 5, wirelength 551,719"
    log = PACK + HEAP + ANNEAL + ROUTER1
    p = pnr_progress(log)
    assert (p.phase, p.text) == ("route", "router1: 134,057 arcs left of 207,691 (65 %), 541 s routing")
    assert abs(p.fraction - (1 - 134057 / 207691)) < 1e-9
    assert pnr_progress(log + ROUTER1_DONE).text == "routing complete"
    assert pnr_progress(log + ROUTER1_DONE + "Info: Program finished normally.\n").phase == "done"
    p = pnr_progress(PACK + HEAP + ANNEAL + ROUTER2)
    assert (p.phase, p.text, p.fraction) == ("route", "router2: iteration 2, 17,240 overused wires", None)


def test_stage_progress_off_a_terminal_is_a_line_per_stage_and_per_interval():
    lines = []
    with StageProgress(2, log=lines.append, interactive=False, every_s=0.2) as prog:
        prog.stage("yosys synth_ecp5", key="synth")
        time.sleep(0.3)
        prog.stage("nextpnr-ecp5 router1", key="pnr")
        prog.update("router1: 10 arcs left")
        time.sleep(0.5)
    assert lines[0] == "[1/2] yosys synth_ecp5"
    assert lines[-1].startswith("[2/2] nextpnr-ecp5 router1: done in 0:0")
    assert any(ln.startswith("[2/2] nextpnr-ecp5 router1: 0:0") and ln.endswith(", router1: 10 arcs left")
               for ln in lines)
    assert set(prog.seconds) == {"synth", "pnr"} and prog.seconds["pnr"] >= 0.5


def test_stage_progress_says_which_stage_failed():
    lines = []
    try:
        with StageProgress(3, log=lines.append, interactive=False) as prog:
            prog.stage("yosys")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert lines[-1].startswith("[1/3] yosys: failed after 0:00")


FAKE_NEXTPNR = """#!/bin/sh
if [ "$1" = --version ]; then echo 'nextpnr-ecp5 (fake)'; exit 0; fi
cat > pnr.log <<'EOF'
LOG
EOF
sleep 1
echo '{"fmax": {"clk": {"achieved": 31.5, "constraint": 25.0}}}' > report.json
"""


def test_pnr_hands_its_log_to_the_progress_display(tmp_path, monkeypatch):
    """open_flow.pnr's watch (the router2 stall check's hook) also feeds on_log, with router1 too."""
    from hw.flows import open_flow

    fake = tmp_path / "nextpnr-ecp5"
    fake.write_text(FAKE_NEXTPNR.replace("LOG", (PACK + HEAP + ROUTER1).strip()))
    fake.chmod(0o755)
    monkeypatch.setenv("HARDWIRE_NEXTPNR_ECP5", str(fake))
    monkeypatch.setattr(open_flow, "WATCH_POLL_S", 0.1)
    seen = []
    report = open_flow.pnr(tmp_path, get_board("ulx3s-85f"), router="router1",
                           on_log=lambda text: seen.append(pnr_progress(text)))
    assert open_flow.fmax_mhz(report) == 31.5
    assert seen and seen[-1].text.startswith("router1: 134,057 arcs left of 207,691")


def test_build_shows_its_stages_and_the_routers_progress(tmp_path, monkeypatch):
    """open_flow.build (the tools stubbed): a line per stage start and end with its time, the
    router's last progress on the place-and-route line, the stage times in the manifest."""
    from types import SimpleNamespace

    from hw.flows import open_flow

    def fake_pnr(build_dir, board, freq_mhz, seed, router, log, on_log):
        on_log(PACK + HEAP + ANNEAL + ROUTER1)
        return {"fmax": {"clk": {"achieved": 30.0}}}

    manifests = []

    def fake_manifest(build_dir, board, info, bit, cells, report, fit, seconds, measured=None, pnr_settings=None,
                      baud=0):
        manifests.append(seconds)
        return build_dir / "manifest.json"

    monkeypatch.setattr(open_flow, "synth", lambda build_dir, board: {})
    monkeypatch.setattr(open_flow, "pnr", fake_pnr)
    monkeypatch.setattr(open_flow, "pack", lambda build_dir, board: build_dir / "x.bit")
    monkeypatch.setattr(open_flow, "write_manifest", fake_manifest)
    monkeypatch.setattr(open_flow, "record_bram_map", lambda *a: None)
    lines = []
    open_flow.build(SimpleNamespace(out_dir=tmp_path), get_board("ulx3s-85f"), log=lines.append)
    assert [ln.split(" ")[0] for ln in lines] == ["[1/3]", "[1/3]", "[2/3]", "[2/3]", "[3/3]", "[3/3]"]
    assert lines[0].startswith("[1/3] yosys synth_ecp5 (log ") and "done in 0:0" in lines[1]
    assert lines[3].endswith("(router1: 134,057 arcs left of 207,691 (65 %), 541 s routing)")
    assert manifests == [{"synth": 0, "pnr": 0, "pack": 0}]


def test_stage_and_count_progress_on_a_terminal_print_through_rich(capsys):
    """interactive=True: a live display (rich) whose console still prints every stage's and item's line."""
    from hw.progress import CountProgress

    with StageProgress(2, interactive=True) as prog:
        prog.stage("yosys", key="synth")
        prog.update("reading")
        prog.update("reading")                  # the same detail again: nothing changes
        assert prog._description() == "[1/2] yosys: reading"
        prog.stage("nextpnr", key="pnr")
    out = capsys.readouterr().out
    assert "[1/2] yosys" in out and "[1/2] yosys: done in 0:00 (reading)" in out
    assert "[2/2] nextpnr: done in 0:00" in out and set(prog.seconds) == {"synth", "pnr"}
    with CountProgress(2, "points", interactive=True) as count:
        count.running(2)
        count.note("a: pnr")
        assert count._description() == "points: 2 running | a: pnr"
        count.done("a: 31 MHz")
        count.done("b: refused", failed=True)
        count.running(0)
        assert count._description() == "points: 0 running, 1 failed | a: pnr"
    out = capsys.readouterr().out
    assert "[1/2] a: 31 MHz" in out and "[2/2] b: refused" in out
    assert (count.count, count.failed) == (2, 1)
