"""Build the Verilator simulation of one generated accelerator (once, then cached).

`build_sim(build_dir)` verilates <build_dir>/rtl/hardwire_top.v with the
static RTL it needs (listed in <build_dir>/build.json) and links
hw/sim/harness.cpp into one executable. The executable reads the ROM hex
files at start-up from the folder it runs in, so it depends only on the
Verilog text: builds are cached by a hash of every source, the harness, the
flags and the Verilator version, in HARDWIRE_SIM_BUILD (default
testbench/sim_build/, shared with the cocotb runner). Identical designs
(same model, same knobs) reuse one binary across build folders and sessions.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from hw.errors import HardwireError
from hw.tools import (VERILATOR_COVERAGE_FLAGS, coverage_dir, file_lock, include_dirs, sim_build_root,
                      verilator_env, verilator_root, verilator_version, verilog_includes)

HARNESS = Path(__file__).resolve().parent / "harness.cpp"
REPO_ROOT = Path(__file__).resolve().parents[2]
SIM_BUILD = sim_build_root(REPO_ROOT)
TOP_MODULE = "hardwire_top"
EXE_NAME = "hardwire_sim"
STAMP = "hardwire_sim.json"         # written last: the build finished
# -Wno-fatal: lint is checked separately (verilator -Wall on hw/rtl); a build must not
# fail on a style warning. Tracing is compiled in, so waveforms need no rebuild.
# --x-initial unique: registers without a reset start random when the harness gets
# +verilator+rand+reset+2 (hw/sim/session.py passes it), as flip-flops may in hardware.
VERILATOR_FLAGS = ["--cc", "--exe", "--build", "-Wno-fatal", "--x-assign", "fast",
                   "--x-initial", "unique", "-O3"]
CFLAGS = "-O1"                      # the model is large and simple: -O1 compiles ~3x faster than -O2


class SimBuildError(HardwireError):
    """The simulation could not be built (missing generated files or a Verilator failure)."""


def trace_format() -> str:
    """"fst" when the C++ compiler finds lz4.h (Verilator's FST writer needs it), else "vcd"."""
    try:
        res = subprocess.run(["c++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n", text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "vcd"
    return "fst" if res.returncode == 0 else "vcd"


def _flags() -> list[str]:
    cov = VERILATOR_COVERAGE_FLAGS if coverage_dir() is not None else []
    return [*VERILATOR_FLAGS, "--trace-fst" if trace_format() == "fst" else "--trace", *cov]


def design_sources(build_dir: str | os.PathLike) -> list[Path]:
    """The Verilog files of a generated build: static library files, then the top."""
    build_dir = Path(build_dir)
    meta = build_dir / "build.json"
    if not meta.is_file():
        raise SimBuildError(f"{build_dir}: no build.json here; generate the design first "
                            "(`hardwire compile MODEL --out {build_dir}`)")
    from host.jsonfile import check_list_of, check_type
    from host.metadata import read_build_json
    hint = "re-run `hardwire compile`"
    info = read_build_json(meta, SimBuildError, hint)
    top = build_dir / check_type(info.get("top", f"rtl/{TOP_MODULE}.v"), "str", f"{meta}: top", SimBuildError,
                                 hint=hint)
    static = [REPO_ROOT / p for p in check_list_of(info.get("static_rtl", []), "str", f"{meta}: static_rtl",
                                                   SimBuildError, hint=hint)]
    rom_dir = check_type(info.get("rom_dir", "rom"), "str", f"{meta}: rom_dir", SimBuildError, hint=hint)
    missing = [p for p in [*static, top] if not p.is_file()]
    if missing:
        raise SimBuildError(f"{build_dir}: design file(s) missing: {', '.join(map(str, missing))}; "
                            "re-run `hardwire compile`")
    if not (build_dir / rom_dir).is_dir():
        raise SimBuildError(f"{build_dir}: the ROM folder is missing; re-run `hardwire compile`")
    return [*static, top]


def _digest(sources: list[Path], flags: list[str], cflags: str = CFLAGS, harness: Path = HARNESS) -> str:
    """The cache key: flags, Verilator version, the sources, the files they `include and the harness
    (whose #include names the top module)."""
    h = hashlib.sha256()
    h.update(json.dumps({"flags": flags, "cflags": cflags, "verilator": verilator_version()},
                        sort_keys=True).encode())
    for src in [*sources, harness]:
        h.update(f"\0{src.name}\0".encode())
        h.update(src.read_bytes())
    for inc in verilog_includes(sources, _includes(flags)):
        h.update(f"\0include {inc.name}\0".encode())
        h.update(inc.read_bytes())
    return h.hexdigest()[:16]


def _includes(flags: list[str]) -> list[str]:
    return [f[2:] for f in flags if f.startswith("-I")]


def sim_directory(build_dir: str | os.PathLike) -> Path:
    """The cache folder build_sim uses for this design (nothing is built)."""
    return SIM_BUILD / f"sim-{_digest(design_sources(build_dir), _flags())}"


def build_sim(build_dir: str | os.PathLike, jobs: int | None = None, timeout: float = 1800) -> Path:
    """Path of the harness executable for the design in `build_dir`, building it if needed."""
    return build_executable(design_sources(build_dir), _flags(), "sim", str(Path(build_dir).resolve()),
                            jobs, timeout)


def build_executable(sources: list[Path], flags: list[str], prefix: str, design: str,
                     jobs: int | None = None, timeout: float = 1800, cflags: str = CFLAGS,
                     top: str = TOP_MODULE, harness: Path = HARNESS, exe_name: str = EXE_NAME) -> Path:
    """The harness linked with a hardwire_top built from `sources` with Verilator `flags` and C++
    `cflags`, cached in SIM_BUILD/<prefix>-<hash of sources, flags, harness>/ (also hw/gate.py's
    netlists). Another `top` and `harness` build another driver the same way (the UART soak's
    testbench/uart/soak_harness.cpp)."""
    directory = SIM_BUILD / f"{prefix}-{_digest(sources, flags, cflags, harness)}"
    exe = directory / exe_name
    with file_lock(directory.parent / (directory.name + ".lock")):  # one builder per cache folder
        if (directory / STAMP).is_file() and exe.is_file():
            return exe
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        jobs = jobs or max(1, min(2, os.cpu_count() or 1))
        # `include search path: the -I flags, then each source's folder (hw/tools.py include_dirs);
        # the folders are not in the cache key (they are paths), the files found in them are
        cmd = [str(verilator_root() / "bin" / "verilator"), *flags, *(f"-I{d}" for d in include_dirs(sources)),
               "-j", str(jobs), "--top-module", top, "--Mdir", str(directory / "obj"), "-o", str(exe),
               "-CFLAGS", cflags, *map(str, sources), str(harness)]
        log = directory / "build.log"
        try:
            with open(log, "w") as f:
                res = subprocess.run(cmd, env=verilator_env(), stdout=f, stderr=subprocess.STDOUT,
                                     timeout=timeout, cwd=directory)
        except subprocess.TimeoutExpired as exc:
            raise SimBuildError(f"Verilator build did not finish within {timeout:.0f} s; log {log}") from exc
        if res.returncode != 0 or not exe.is_file():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise SimBuildError(f"Verilator build of {design} failed; full log {log}:\n{tail}")
        (directory / STAMP).write_text(json.dumps(
            {"design": design, "sources": [str(s) for s in sources], "flags": flags,
             "trace": trace_format()},
            indent=1) + "\n")
        # the object files and precompiled headers (~200 MB a design) are never used again:
        # the cache keeps only what runs, so a test run's many designs fit a small disk
        shutil.rmtree(directory / "obj", ignore_errors=True)
    return exe
