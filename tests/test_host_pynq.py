"""host/pynq_transport.py: a fake pynq module for the error paths, cocotbpynq for the real calls."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from host.errors import DeviceError
from host.pynq_transport import PynqTransport

ROOT = Path(__file__).resolve().parents[1]


class FakeMMIO:
    def __init__(self, base, length):
        self.base, self.length, self.mem = base, length, {0: 0x48574952}

    def read(self, offset):
        return self.mem.get(offset, 0)

    def write(self, offset, value):
        assert isinstance(value, int) and 0 <= value <= 0xFFFFFFFF
        self.mem[offset] = value


def fake_pynq(ip_dict):
    loaded = []

    class Overlay:
        def __init__(self, bitfile):
            loaded.append(bitfile)
            self.ip_dict = ip_dict

    return types.SimpleNamespace(Overlay=Overlay, MMIO=FakeMMIO, loaded=loaded)


@pytest.fixture
def bitfile(tmp_path):
    bit = tmp_path / "top.bit"
    bit.write_bytes(b"\0")
    bit.with_suffix(".hwh").write_text("<EDKSYSTEM/>")
    return bit


def test_finds_the_hardwire_ip_and_maps_registers(bitfile):
    ips = {"axi_dma_0": {"phys_addr": 0x40400000, "addr_range": 0x10000, "type": "xilinx.com:ip:axi_dma:7.1"},
           "hardwire_0": {"phys_addr": 0x43C00000, "addr_range": 0x10000, "type": "hardwire:hw:hardwire_axil:1.0"}}
    pynq = fake_pynq(ips)
    t = PynqTransport(bitfile, pynq_module=pynq)
    assert pynq.loaded == [str(bitfile)] and t.ip_name == "hardwire_0" and t.mmio.base == 0x43C00000
    assert t.read(0) == 0x48574952
    t.write(0x28, -1)
    assert t.mmio.mem[0x28] == 0xFFFFFFFF
    t.close()
    with pytest.raises(DeviceError, match="closed"):
        t.read(0)


def test_clear_errors(bitfile, tmp_path, monkeypatch):
    ips = {"a": {"phys_addr": 0, "addr_range": 0x1000, "type": "x:y:hardwire_axil:1"},
           "b": {"phys_addr": 0x1000, "addr_range": 0x1000, "type": "x:y:hardwire_axil:1"}}
    with pytest.raises(DeviceError, match=r"2 \(a, b\) IP with 'hardwire'.*\?ip=<name>"):
        PynqTransport(bitfile, pynq_module=fake_pynq(ips))
    assert PynqTransport(bitfile, ip_name="b", pynq_module=fake_pynq(ips)).base == 0x1000
    with pytest.raises(DeviceError, match="no IP named 'c'"):
        PynqTransport(bitfile, ip_name="c", pynq_module=fake_pynq(ips))
    small = {"hardwire_0": {"phys_addr": 0, "addr_range": 0x100, "type": ""}}
    with pytest.raises(DeviceError, match="address range of 0x100"):
        PynqTransport(bitfile, pynq_module=fake_pynq(small))
    bitfile.with_suffix(".hwh").unlink()
    with pytest.raises(DeviceError, match="top.hwh: missing"):
        PynqTransport(bitfile, pynq_module=fake_pynq(ips))
    with pytest.raises(DeviceError, match="no such bitstream"):
        PynqTransport(tmp_path / "nope.bit", pynq_module=fake_pynq(ips))
    bitfile.with_suffix(".hwh").write_text("")
    monkeypatch.setitem(sys.modules, "pynq", None)      # import pynq fails
    with pytest.raises(DeviceError, match="pynq package is not installed"):
        PynqTransport(bitfile)


def test_host_package_imports_without_pynq_and_hw():
    # the board-side package must not pull in the compiler or pynq at import time
    code = ("import sys; sys.modules['pynq'] = None; sys.modules['hw'] = None\n"
            "import host.device, host.serial_transport, host.pynq_transport, host.sim_transport\n"
            "print('ok')")
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.sim
def test_pynq_transport_through_cocotbpynq_on_the_stub(tmp_path):
    pytest.importorskip("cocotbpynq")
    from testbench.axil.pynq_sim import write_hwh
    from testbench.runner import build_once, run_cocotb
    build = build_once("axil_stub_top", [ROOT / "hw" / "rtl" / "hw_axil_bridge.v",
                                         ROOT / "testbench" / "uart" / "regfile_stub.v",
                                         ROOT / "testbench" / "axil" / "axil_stub_top.v"],
                       "axil_stub_top", parameters={"ADDR_WIDTH": 16})
    write_hwh(tmp_path / "stub.hwh", "axil_stub_top")
    (tmp_path / "stub.bit").write_bytes(b"simulation stand-in")
    run_cocotb(build, "testbench.axil.test_pynq_stub",
               extra_env={"HWH_LOCATION_DIR": str(tmp_path), "PYNQ_BITFILE": str(tmp_path / "stub.bit"),
                          "COCOTB_SYS_ARGV": "cocotb"})
