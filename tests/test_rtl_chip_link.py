"""hw_chip_link (issue 15's chip-to-chip link): two ends back to back in Verilator behind a wire
that flips bits, drops beats and sticks (testbench/chiplink/harness.cpp, chip_link_pair.v), one
build for the module (DIM = 16 words a frame, 8 data pins, 4 clocks a beat, the defaults
otherwise). Every run sends seeded random frames both ways and asserts, word by word, that what
each end delivered is what the other was given: all of it, once, in order, or (once an end
reported link_error) a prefix of it, never a wrong word. The counters are checked against what
the harness saw on the wires: DATA frames on the wire = acknowledged + retransmitted, and the
bad frames a receiver counted = the bad frames hw/links/chip_link.py's `receive` finds in the
beats that reached its pins.

Also: lint (verilator -Wall) at several parameter sets, the Python frame reference, and synth_ecp5
of the unit at DIM = 64 (marked synth).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from hw.links import chip_link as cl
from hw.tools import run_yosys, verilator_lint

ROOT = Path(__file__).resolve().parents[1]
RTL = ROOT / "hw" / "rtl"
TB = ROOT / "testbench" / "chiplink"
LINK = [RTL / "hw_chip_link.v", RTL / "hw_chip_link_ser.v", RTL / "hw_chip_link_des.v", RTL / "hw_ram_sdp.v"]
DIM, W, BEAT_CLKS = 16, 8, 4
MAX_RETRY = 15
TIMEOUT = 3 * (DIM + 3) * (16 // W) * BEAT_CLKS + 64          # hw_chip_link's default


@pytest.fixture(scope="module")
def sim() -> Path:
    """The harness executable, built once (cached across sessions by hw/sim/build.py)."""
    from hw.sim.build import CFLAGS, VERILATOR_FLAGS, build_executable
    flags = [*VERILATOR_FLAGS, f"-GDIM={DIM}", f"-GW={W}", f"-GBEAT_CLKS={BEAT_CLKS}"]
    return build_executable([*LINK, TB / "chip_link_pair.v"], flags, "chip_link", "chip_link_pair",
                            cflags=f"{CFLAGS} -DLINK_W={W}", top="chip_link_pair",
                            harness=TB / "harness.cpp", exe_name="chip_link_sim")


@dataclass
class Run:
    sent: dict[str, list[list[int]]]        # end -> frames it was given
    got: dict[str, list[list[int]]]         # end -> frames it delivered
    partial: dict[str, list[int]]
    cnt: dict[str, dict[str, int]]
    wire: dict[str, dict[str, int]]
    beats: dict[str, list[tuple[int, int]]]
    cycles: int
    done_at: int


def run(sim: Path, tmp_path: Path, na: int, nb: int, seed: int, **opts) -> Run:
    rng = random.Random(seed)
    sent = {e: [[rng.randrange(1 << 16) for _ in range(DIM)] for _ in range(n)] for e, n in (("a", na), ("b", nb))}
    frames = tmp_path / f"frames-{seed}.txt"
    frames.write_text(f"{na} {nb}\n" + "".join(" ".join(f"{v:04x}" for v in f) + "\n"
                                                for e in "ab" for f in sent[e]))
    args = [str(sim), "--in", str(frames), "--seed", str(seed)]
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = {"a": [], "b": []}
    partial = {"a": [], "b": []}
    cnt, wire, beats = {}, {}, {}
    cycles = done_at = -1
    names = ("link_error", "tx_frames", "rx_frames", "retransmits", "crc_errors", "timeouts")
    for line in out.stdout.splitlines():
        tag, *rest = line.split()
        if tag in ("FA", "FB"):
            got[tag[1].lower()].append([int(x, 16) for x in rest])
        elif tag in ("PA", "PB"):
            partial[tag[1].lower()] = [int(x, 16) for x in rest]
        elif tag == "CNT":
            cnt[rest[0]] = dict(zip(names, map(int, rest[1:])))
        elif tag == "WIRE":
            wire[rest[0]] = dict(zip(("beats", "flips", "drops", "data_frames"), map(int, rest[1:])))
        elif tag == "BEATS":
            beats[rest[0]] = [(int(x, 16) >> W, int(x, 16) & ((1 << W) - 1)) for x in rest[1:]]
        elif tag == "CYCLES":
            cycles, done_at = int(rest[0]), int(rest[1])
    return Run(sent, got, partial, cnt, wire, beats, cycles, done_at)


def check_delivery(r: Run, complete: bool = True) -> None:
    """Each end delivered the other's frames word for word, in order, once; all of them unless
    `complete` is False (then a prefix, and only after an end reported link_error)."""
    for src, dst in (("a", "b"), ("b", "a")):
        got, sent = r.got[dst], r.sent[src]
        assert r.partial[dst] == [], f"{dst} delivered a partial frame"
        assert len(got) <= len(sent)
        for i, frame in enumerate(got):
            assert frame == sent[i], f"frame {i} {src}->{dst} delivered wrong"
        if complete:
            assert len(got) == len(sent), f"{src}->{dst}: {len(got)} of {len(sent)} frames delivered"


def check_counters(r: Run) -> None:
    """The counters against the wires: every DATA frame a sender put on its pins is a first
    send or a retransmission; a receiver's bad frames are those the reference finds in the beats
    its pins saw; frames taken = frames delivered."""
    for src, dst in (("a", "b"), ("b", "a")):
        c_src, c_dst = r.cnt[src], r.cnt[dst]
        wire = r.wire[src + dst]
        assert c_src["tx_frames"] == len(r.got[dst]) or c_src["link_error"] or c_dst["link_error"]
        assert c_dst["rx_frames"] == len(r.got[dst])
        sent_once = wire["data_frames"] - c_src["retransmits"]
        assert sent_once >= c_src["tx_frames"]
        ref = cl.receive(r.beats[src + dst], DIM, W)
        assert c_dst["crc_errors"] == ref.bad, f"{dst}: {c_dst['crc_errors']} bad frames counted, {ref.bad} on the wire"
        # every frame delivered is one the reference found good on the wire
        good_data = [(s, p) for k, s, _, p in ref.good if k == cl.T_DATA]
        for i, frame in enumerate(r.got[dst]):
            assert (i % 256, frame) in good_data


# ---------------------------------------------------------------- the Python reference

def test_reference_frame_format():
    f = cl.frame(cl.T_DATA, 7, [0x1234, 0xABCD])
    assert f[:3] == [0x1007, 0x1234, 0xABCD]
    crc = zlib.crc32(bytes([0x07, 0x10, 0x34, 0x12, 0xCD, 0xAB]))
    assert f[3:] == [crc & 0xFFFF, crc >> 16]
    assert cl.frame_ok(f) and not cl.frame_ok([f[0] ^ 1, *f[1:]])
    assert cl.header(cl.T_ACK, 0xFF, 2) == 0x22FF
    assert cl.beats([0x1007, 0xBEEF], 8) == [(1, 0x07), (0, 0x10), (0, 0xEF), (0, 0xBE)]
    assert cl.beats([0x1007], 4) == [(1, 7), (0, 0), (0, 0), (0, 1)]
    # a beat lost cuts its frame short: the next sof finds it unfinished
    stream = cl.beats(f) + cl.beats(cl.frame(cl.T_ACK, 3, credit=1))
    assert cl.receive(stream, 2).good == [(cl.T_DATA, 7, 0, [0x1234, 0xABCD]), (cl.T_ACK, 3, 1, [])]
    assert cl.receive(stream[:5] + stream[6:], 2).bad == 1
    assert cl.frame_cycles(64) == 67 * 2 * 4


# ---------------------------------------------------------------- lint

@pytest.mark.parametrize("params", [{}, {"DIM": 16, "BEAT_CLKS": 2}, {"W": 4, "DIM": 20, "TXW": 4, "RXF": 8},
                                    {"W": 16, "BEAT_CLKS": 6, "MAX_RETRY": 3}],
                         ids=lambda p: "-".join(f"{k}{v}" for k, v in p.items()) or "default")
def test_link_is_lint_clean(params):
    args = ["-Wall", *(f"-G{k}={v}" for k, v in params.items())]
    verilator_lint(LINK, top="hw_chip_link", args=args)


def test_link_parts_are_lint_clean():
    for top in ("hw_chip_link_ser", "hw_chip_link_des"):
        for w in (4, 8, 16):
            verilator_lint(LINK, top=top, args=["-Wall", f"-GW={w}"])


# ---------------------------------------------------------------- simulation

@pytest.mark.sim
def test_clean_link_full_duplex(sim, tmp_path):
    r = run(sim, tmp_path, 40, 40, seed=1)
    check_delivery(r)
    check_counters(r)
    for end in "ab":
        assert r.cnt[end] == {"link_error": 0, "tx_frames": 40, "rx_frames": 40, "retransmits": 0,
                              "crc_errors": 0, "timeouts": 0}
    assert r.wire["ab"]["data_frames"] == r.wire["ba"]["data_frames"] == 40


@pytest.mark.sim
def test_clean_link_runs_frames_back_to_back(sim, tmp_path):
    """One direction only: a frame every frame_cycles clocks (the ACKs ride the other direction
    and the 2-frame window never stalls the sender)."""
    n = 60
    r = run(sim, tmp_path, n, 0, seed=2)
    check_delivery(r)
    per_frame = r.done_at / n
    print(f"\n{per_frame:.1f} cycles a frame of {DIM} words, frame_cycles = {cl.frame_cycles(DIM, W, BEAT_CLKS)}")
    assert per_frame <= cl.frame_cycles(DIM, W, BEAT_CLKS) * 1.03 + 200 / n


@pytest.mark.sim
@pytest.mark.parametrize("seed", [11, 12])
def test_bit_errors_and_dropped_beats_are_recovered(sim, tmp_path, seed):
    """BER 1e-3 on every data and sof line, 1 beat in 500 lost, both directions, the senders
    stalling at random: everything arrives once and intact."""
    r = run(sim, tmp_path, 60, 60, seed=seed, ber=1e-3, drop=2e-3, gap=0.2)
    check_delivery(r)
    check_counters(r)
    for src, dst in (("a", "b"), ("b", "a")):
        assert r.cnt[src]["link_error"] == 0
        assert r.wire[src + dst]["flips"] > 0 and r.wire[src + dst]["drops"] > 0
        assert r.cnt[dst]["crc_errors"] > 0 and r.cnt[src]["retransmits"] > 0
        assert r.wire[src + dst]["data_frames"] == 60 + r.cnt[src]["retransmits"]
    print(f"\n{r.cnt} {r.wire['ab']} {r.wire['ba']}")


@pytest.mark.sim
def test_flow_control_loses_nothing(sim, tmp_path):
    """The receiving user sides refuse words 90 % of the time, in stretches of 2,700 cycles (many
    frame times): the senders wait for credit, nothing is retransmitted, nothing lost."""
    r = run(sim, tmp_path, 30, 30, seed=21, busy="3000:2700")
    check_delivery(r)
    check_counters(r)
    for end in "ab":
        assert r.cnt[end]["link_error"] == 0
        assert r.cnt[end]["retransmits"] == 0 and r.cnt[end]["timeouts"] == 0
        assert r.cnt[end]["crc_errors"] == 0


@pytest.mark.sim
def test_flow_control_with_bit_errors(sim, tmp_path):
    r = run(sim, tmp_path, 30, 30, seed=22, busy="1000:800", ber=1e-3, drop=1e-3)
    check_delivery(r)
    check_counters(r)
    assert r.cnt["a"]["link_error"] == r.cnt["b"]["link_error"] == 0


@pytest.mark.sim
def test_short_outage_is_recovered(sim, tmp_path):
    """lclk of a -> b held low for 3,000 cycles (several timeouts, fewer than MAX_RETRY)."""
    r = run(sim, tmp_path, 30, 30, seed=31, stuck="ab:2000:3000:clk")
    check_delivery(r)
    check_counters(r)
    assert r.cnt["a"]["timeouts"] > 0 and r.cnt["a"]["link_error"] == 0


@pytest.mark.sim
def test_dead_link_is_reported_never_delivered_wrong(sim, tmp_path):
    """lclk of a -> b held low for good from cycle 3,000: both ends give up after MAX_RETRY
    retries (b's ACKs are lost with the wire too) and raise link_error; what was delivered
    before is a correct prefix."""
    r = run(sim, tmp_path, 30, 30, seed=41, stuck="ab:3000:100000000:clk")
    check_delivery(r, complete=False)
    assert r.cnt["a"]["link_error"] == 1 and r.cnt["b"]["link_error"] == 1
    assert len(r.got["b"]) < 30
    assert r.cnt["a"]["timeouts"] >= MAX_RETRY - 1


@pytest.mark.sim
def test_shorted_data_line_is_reported_never_delivered_wrong(sim, tmp_path):
    """Data line 0 of a -> b stuck high from cycle 3,000: every frame that needs a 0 there fails
    its CRC; a reports link_error, b never delivers a wrong frame."""
    r = run(sim, tmp_path, 30, 30, seed=51, stuck="ab:3000:100000000:bit")
    check_delivery(r, complete=False)
    assert r.cnt["a"]["link_error"] == 1
    assert r.cnt["b"]["crc_errors"] > 0
    assert r.cnt["b"]["crc_errors"] == cl.receive(r.beats["ab"], DIM, W).bad


# ---------------------------------------------------------------- synthesis

@pytest.mark.synth
def test_link_synthesizes_for_ecp5(tmp_path):
    """The unit at DIM = 64 through Yosys synth_ecp5, buffers as the tool chooses (a block RAM
    each) and in LUT RAM (RAM_STYLE "distributed"): only ECP5 cells; prints the cell counts."""
    srcs = " ".join(os.path.relpath(p, tmp_path) for p in LINK)
    script = ""
    for name, style in (("auto", ""), ("lutram", ' -set RAM_STYLE "distributed"')):
        script += (f"design -reset; read_verilog {srcs}; chparam -set DIM 64{style} hw_chip_link; "
                   f"synth_ecp5 -top hw_chip_link; tee -q -o stat_{name}.json stat -json; ")
    run_yosys(script, cwd=tmp_path)
    cells = {name: json.loads((tmp_path / f"stat_{name}.json").read_text())["design"]["num_cells_by_type"]
             for name in ("auto", "lutram")}
    for name, c in cells.items():
        print(name, c)
        assert c.get("TRELLIS_FF", 0) > 0 and c.get("LUT4", 0) > 0
        assert not [k for k in c if k.startswith("$") and k != "$scopeinfo"], f"cells left unmapped: {c}"
    assert cells["auto"].get("DP16KD", 0) == 2, cells["auto"]
    assert cells["lutram"].get("DP16KD", 0) == 0 and cells["lutram"].get("TRELLIS_DPR16X4", 0) > 0, cells["lutram"]
