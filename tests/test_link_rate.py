"""The UART rate: the board build's divisor (3 Mbaud accepted where the clock allows it, refused
by name where not), the host taking the rate from the metadata, and the link-rate simulation
(tests/link_rate.py) that docs/link_rate.md's figures come from."""
from __future__ import annotations

import dataclasses
import json

import pytest

from host import registers as R
from host.metadata import Metadata
from hw.boards import get_board
from hw.flows.open_flow import FlowError, write_board_top
from hw.links.uart import clks_per_bit
from tests.link_rate import RESULTS, frame_sizes, measure


def board_at(mhz: float):
    return dataclasses.replace(get_board("ulx3s-85f"), clock_mhz=mhz)


def test_the_divisor_takes_3_mbaud_where_the_clock_allows():
    assert clks_per_bit(board_at(40.0), 3_000_000) == 13            # 3.077 Mbaud, 2.6 % fast
    assert clks_per_bit(board_at(33.3333), 3_000_000) == 11         # 3.030 Mbaud, 1.0 %
    assert clks_per_bit(board_at(36.0), 3_000_000) == 12            # exact
    assert clks_per_bit(board_at(12.0), 3_000_000) == 4             # the iCE40's 12 MHz: exact, the minimum
    assert clks_per_bit(board_at(25.0), 115_200) == 217
    with pytest.raises(FlowError, match=r"8 clocks give 3,125,000 baud, 4.2 % off.*--clock 21 or 30 or 18"):
        clks_per_bit(board_at(25.0), 3_000_000)                     # clocks the ECP5 PLL makes from 25 MHz
    with pytest.raises(FlowError, match="below the 4 hw_uart_rx needs"):
        clks_per_bit(board_at(10.0), 3_000_000)
    with pytest.raises(FlowError, match="give the UART rate in baud"):
        clks_per_bit(board_at(40.0), 0)


def test_the_board_top_gets_the_rate(tmp_path):
    text = write_board_top(tmp_path, board_at(33.3333), baud=3_000_000).read_text()
    assert ".CLKS_PER_BIT   (11)" in text and "3000000 baud" in text


def test_build_refuses_a_rate_before_any_work(capsys):
    from hw.cli import main
    assert main(["build", "--board", "ulx3s-85f", "--baud", "3000000", "--check"]) == 1
    assert "--baud 3,000,000: at the 25 MHz design clock" in capsys.readouterr().err
    assert main(["build", "--board", "pynq-z2", "--baud", "115200", "--check"]) == 1
    assert "reached over AXI-Lite" in capsys.readouterr().err


def test_the_host_opens_the_port_at_the_metadata_rate(monkeypatch, tmp_path):
    import host.serial_transport as st
    from host.device import open_device

    seen = []

    class Stop(Exception):
        pass

    def fake(port, baudrate=None, **kw):
        seen.append(baudrate)
        raise Stop

    monkeypatch.setattr(st, "SerialTransport", fake)
    ident = R.Identity(fingerprint="0" * 64, gen_version=R.pack_version(1, 0, 0), dim=8, hidden=8, layers=1,
                       heads=1, kv_heads=1, vocab=8, context=8, lanes=1, vpl=1)
    meta = Metadata(ident, uart_baud=3_000_000).save(tmp_path / "m.hardwire.json")
    for uri, metadata, want in (("serial:/dev/null", meta, 3_000_000), ("serial:/dev/null?baud=115200", meta, 115_200),
                                ("serial:/dev/null", None, st.DEFAULT_BAUD)):
        with pytest.raises(Stop):
            open_device(uri, metadata=metadata)
        assert seen[-1] == want, uri


@pytest.fixture(scope="module")
def run16():
    bench = json.loads(RESULTS.read_text())
    return next(r for r in bench["results"] if r["model"] == "default" and r["vpl"] == 16)


def test_frames_are_the_framing_modules():
    # 0x00 + COBS(seq, type, addr, flags, count, crc32) + 0x00; 8 words: 2 + 32 + 4 payload bytes
    assert frame_sizes() == {"read_request": 12, "read_response_1": 13, "read_response_8": 41, "status_read": 25,
                             "ack_write": 24, "stream_1": 15, "stream_32": 77}


def test_the_link_sets_the_pace_at_115200_and_the_core_at_3_mbaud(run16):
    slow = measure(run16, 40.0, 115_200, 64)
    assert slow["line_busy"] > 0.99 and slow["host_tokens_per_s"] < slow["core_tokens_per_s"] / 5
    # the line is the bottleneck: the rate is its byte rate over the bytes each token costs
    byte_rate = 115_200 / 10
    assert slow["host_tokens_per_s"] == pytest.approx(byte_rate / slow["bytes_per_token"], rel=0.01)
    fast = measure(run16, 33.3333, 3_000_000, 64)
    assert fast["clks_per_bit"] == 11 and fast["host_tokens_per_s"] > 0.8 * fast["core_tokens_per_s"]
    # a USB round trip per request (1 ms) costs more than the bits at 3 Mbaud
    usb = measure(run16, 33.3333, 3_000_000, 64, turnaround=1e-3)
    assert usb["host_tokens_per_s"] < 0.7 * fast["host_tokens_per_s"]


def test_streamed_tokens_keep_up_with_the_core(run16):
    """The bridge pushing tokens (docs/uart_protocol.md, "Streaming"): at 115,200 baud the line
    carries more tokens (2 bytes each, in frames that gather what the core made meanwhile); at
    3 Mbaud with a 1 ms USB latency the host receives tokens at the core's rate once they flow,
    each about the USB latency after the core made it, where a read pays a round trip."""
    slow = measure(run16, 40.0, 115_200, 255, stream=True)
    slow_rr = measure(run16, 40.0, 115_200, 255)
    assert slow["stream_frames"] > 0 and slow_rr["stream_frames"] == 0
    assert slow["host_tokens_per_s"] > 1.5 * slow_rr["host_tokens_per_s"]
    assert slow["bytes_per_token"] < 0.7 * slow_rr["bytes_per_token"]
    usb = measure(run16, 40.0, 3_000_000, 255, turnaround=1e-3, stream=True)
    usb_rr = measure(run16, 40.0, 3_000_000, 255, turnaround=1e-3)
    assert usb["host_steady_tokens_per_s"] >= 0.98 * usb["core_steady_tokens_per_s"]
    assert 1.0 < usb["token_delay_ms"] < 2.0 < usb_rr["token_delay_ms"]
    assert usb["requests_per_token"] < 0.7 * usb_rr["requests_per_token"]


def test_pynq_mmio_keeps_up_with_the_core_and_a_slow_access_shows(run16):
    """PYNQ-style MMIO on the virtual clock: the replayed tokens arrive intact, at most the core's
    rate, and within a poll interval's worth of it; an access cost far above the Python one makes
    the register traffic the limit (so the figure does depend on what each access costs)."""
    from tests import link_rate

    r = link_rate.measure_mmio(run16, 100.0, 255, "python")
    assert r["host_tokens_per_s"] <= r["core_tokens_per_s"]
    assert r["host_tokens_per_s"] > 0.9 * r["core_tokens_per_s"] and r["accesses_per_token"] < 4
    link_rate.MMIO_ACCESS_S["slow"] = 200e-6        # 0.2 ms per access: slower than the core
    try:
        slow = link_rate.measure_mmio(run16, 100.0, 255, "slow")
    finally:
        del link_rate.MMIO_ACCESS_S["slow"]
    assert slow["host_tokens_per_s"] < 0.5 * r["host_tokens_per_s"]
