"""The two tables of links (issue 13, "a new transport"): hw/links LINKS (what a board's transport
means to the flows) and host/transports.py SCHEMES (which module opens a device URI).

Every board's link is registered, with a host scheme that is; the boards give their link's pins;
open_device dispatches every scheme through the table; unknown names are refused naming the
known ones. A made-up link ("udp") and a made-up scheme, registered here by monkeypatch only,
are used by the board top, the design sources, the manifest, `hardwire build`'s options and
refusals, and open_device without any of those modules being edited."""
from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest

from host import transports
from host.device import open_device
from hw import links
from hw.boards import BOARDS, get_board
from hw.flows import board_build, open_flow
from hw.flows.errors import FlowError
from hw.links.link import Link, Option, Port
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.generate import generate
from hw.rtlgen.knobs import Knobs
from tests.host_fakes import FakeCore, FakeTransport
from tests.test_open_flow_manifest import stand_ins

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the tables as they are

@pytest.mark.parametrize("name", list(BOARDS))
def test_every_board_link_is_registered_on_both_sides(name):
    board = get_board(name)
    kind = links.link(board.transport)
    assert kind.name == board.transport
    assert kind.host_scheme in transports.SCHEMES
    for f in kind.bridge_rtl:
        assert (REPO / "hw" / "rtl" / f).is_file(), f


@pytest.mark.parametrize("name", [b.name for b in BOARDS.values() if b.open_flow])
def test_open_flow_boards_give_their_links_pins(name):
    """A board row gives one pin per bit of its link's board-top ports; the wrapper module has those ports."""
    board = get_board(name)
    kind = links.link(board.transport)
    assert sorted(board.pins) == sorted(kind.pins)
    text = kind.board_rtl.read_text()
    assert re.search(rf"^module {kind.board_module}\b", text, re.M)
    ports = re.findall(r"^\s+(input|output)\s+wire\s+(?:\[(\d+):0\]\s+)?(\w+)", text, re.M)
    assert [(d, n, int(w) + 1 if w else 1) for d, w, n in ports] == \
        [(p.direction, p.name, p.width) for p in kind.ports]


def test_every_scheme_module_has_an_opener():
    for scheme, row in transports.SCHEMES.items():
        assert callable(importlib.import_module(row.module).open_uri), scheme


def test_unknown_names_are_refused_naming_the_known_ones():
    with pytest.raises(links.UnknownLink, match=r"unknown transport 'udp'; hw/links knows uart, axi"):
        links.link("udp")
    with pytest.raises(ValueError, match=r"unknown scheme 'usb'; use sim:, serial: or pynq:$"):
        open_device("usb:/dev/x")
    with pytest.raises(ValueError, match=r"names no target; examples: sim:build/, "
                                         r"serial:/dev/ttyUSB0\?baud=115200, pynq:hardwire.bit$"):
        open_device("pynq:")


def test_build_options_come_from_the_links():
    assert [o.name for o in links.build_options()] == ["baud"]
    board = get_board("pynq-z2")
    assert links.option_refusal(board, {"baud": None}) is None
    assert links.option_refusal(board, {"baud": 9600}) == ("--baud 9600: pynq-z2 is reached over AXI-Lite (PYNQ), "
                                                           "not a UART; leave --baud out")
    assert links.resolve(get_board("icebreaker"), {}) == {"baud": 115_200}


# ---------------------------------------------------------------- open_device dispatches through SCHEMES

@pytest.mark.parametrize("scheme", list(transports.SCHEMES))
def test_open_device_dispatches_every_scheme(scheme, monkeypatch):
    seen = []

    def open_uri(target, options, timeout, metadata_for):
        seen.append((target, options, timeout, metadata_for(None)))
        return transports.Opened(FakeTransport(FakeCore(random_int_model(1))), metadata=lambda: None)

    monkeypatch.setattr(importlib.import_module(transports.SCHEMES[scheme].module), "open_uri", open_uri)
    with open_device(f"{scheme}:some/where?a=1", metadata=False, timeout=3.0) as dev:
        assert dev.transport.name == "fake"
    assert seen == [("some/where", {"a": "1"}, 3.0, None)]


class ClosingTransport(FakeTransport):
    closed = False

    def close(self):
        ClosingTransport.closed = True


def open_uri(target, options, timeout, metadata_for):
    """The made-up scheme's opener (this module is its row's module)."""
    def metadata():
        raise FileNotFoundError(f"no metadata beside {target}")
    return transports.Opened(ClosingTransport(FakeCore(random_int_model(1))), metadata=metadata)


def test_a_registered_scheme_is_opened_without_editing_the_driver(monkeypatch):
    monkeypatch.setitem(transports.SCHEMES, "fake", transports.Scheme(__name__, "fake:x"))
    with pytest.raises(FileNotFoundError, match="no metadata beside here"):
        open_device("fake:here")
    assert ClosingTransport.closed                  # a link whose metadata fails is closed again
    with pytest.raises(ValueError, match=r"use sim:, serial:, pynq: or fake:$"):
        open_device("usb:x")


# ---------------------------------------------------------------- a made-up link, used by the flows unedited

class UdpLink(Link):
    name = "udp"
    title = "Ethernet (UDP)"
    host_scheme = "sim"             # any registered scheme: the host side is tested above
    bridge_rtl = ("hw_udp_bridge.v",)
    options = (Option("port", int, "UDP boards: the device's port"),)
    board_module = "hw_board_udp"
    board_rtl = REPO / "bitstreams" / "common" / "hw_board_udp.v"
    ports = (Port("input", "clk"), Port("input", "rst_btn"), Port("input", "rmii_rxd", 2),
             Port("output", "rmii_txd", 2), Port("output", "led", 2))

    def resolve(self, board, options):
        port = options.get("port") or 5000
        if not 0 < port < 65536:
            raise FlowError(f"--port {port}: a UDP port is 1..65535")
        return {"port": port}

    def parameters(self, board, options):
        return [("UDP_PORT", str(options["port"]), "where the host sends")]

    def records(self, options):
        return {"udp_port": options["port"]}


@pytest.fixture
def udp_board(monkeypatch):
    monkeypatch.setitem(links.LINKS, "udp", UdpLink())
    board = dataclasses.replace(get_board("ulx3s-85f"), name="udp-board", transport="udp")
    monkeypatch.setitem(BOARDS, board.name, board)
    return board


def test_a_registered_link_makes_its_board_top(udp_board, tmp_path):
    text = open_flow.write_board_top(tmp_path, udp_board, port=6000).read_text()
    assert "    input  wire [1:0] rmii_rxd,\n    output wire [1:0] rmii_txd,\n" in text
    assert "    hw_board_udp #(\n        .UDP_PORT       (6000),   // where the host sends\n" in text
    assert ") board (.clk(clk), .rst_btn(rst_btn), .rmii_rxd(rmii_rxd), .rmii_txd(rmii_txd), .led(led));" in text
    assert "uart" not in text.lower()
    with pytest.raises(FlowError, match="a UDP port is 1..65535"):
        open_flow.write_board_top(tmp_path, udp_board, port=70000)
    with pytest.raises(FlowError, match=r"--baud 9600: udp-board is reached over Ethernet \(UDP\), not a UART; "
                                        "leave --baud out"):
        open_flow.write_board_top(tmp_path, udp_board, baud=9600)
    (tmp_path / "build.json").write_text(json.dumps({"static_rtl": [], "top": "rtl/hardwire_top.v"}))
    assert open_flow.design_sources(tmp_path, udp_board) == [
        REPO / "hw" / "rtl" / "hw_udp_bridge.v", tmp_path / "rtl" / "hardwire_top.v", UdpLink.board_rtl,
        tmp_path / "board_top.v"]


def test_a_registered_link_is_recorded_in_the_manifest(udp_board, tmp_path, monkeypatch):
    info = generate(random_int_model(1), tmp_path / "build", Knobs(lanes=4, values_per_lane=4))
    stand_ins(monkeypatch, fmax=31.5)
    doc = json.loads(open_flow.build(info, udp_board, log=lambda s: None, port=7000).read_text())
    assert doc["transport"] == "udp" and doc["udp_port"] == 7000 and "uart_baud" not in doc
    assert "hw_board_udp" in (info.out_dir / "board_top.v").read_text()


def test_hardwire_build_takes_a_registered_links_options(udp_board, tmp_path, monkeypatch, capsys):
    from hw import cli

    seen = {}
    monkeypatch.setattr(board_build, "run_build", lambda *a, **kw: seen.update(kw))
    assert cli.main(["build", "--board", "udp-board", "--port", "6000", "--check"]) == 0
    assert seen["port"] == 6000 and seen["baud"] is None
    monkeypatch.undo()
    monkeypatch.setitem(links.LINKS, "udp", UdpLink())
    monkeypatch.setitem(BOARDS, udp_board.name, udp_board)
    assert cli.main(["build", "--board", "udp-board", "--baud", "9600", "--check"]) == 1
    assert "udp-board is reached over Ethernet (UDP), not a UART; leave --baud out" in capsys.readouterr().err
    assert cli.main(["build", "--board", "ulx3s-85f", "--port", "6000", "--check"]) == 1
    assert "ulx3s-85f is reached over a UART, not Ethernet (UDP); leave --port out" in capsys.readouterr().err
    with pytest.raises(FlowError, match="a UDP port is 1..65535"):
        board_build.run_build("udp-board", None, Knobs(lanes=2, values_per_lane=2), check_only=True,
                              port=70000, log=lambda s: None)
