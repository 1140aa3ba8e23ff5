"""Progress of long jobs: which stage runs, for how long, and what nextpnr's log says so far.

`pnr_progress(log)` reads a nextpnr log (as it grows) and says where the run is:
packing, the analytic placer's iteration, the annealer's, router1's arcs left or
router2's overused wires. `StageProgress` shows the stages of a job: on a
terminal one live line (rich) with the stage, its elapsed time and the latest
detail; elsewhere (CI logs, a file) one line when a stage starts and ends and
one a minute while it runs (QUIET_EVERY_S), so that a log is neither silent for
half an hour nor flooded.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass

QUIET_EVERY_S = 60.0          # non-terminal output: one progress line a minute

# nextpnr's log lines (nextpnr 0.x: common/place/placer_heap.cc, placer1.cc, route/router1.cc, router2.cc)
_PATTERNS = (
    ("pack", re.compile(r"^Info: Packing (?:IOs|constants|design)")),
    ("place", re.compile(r"at initial placer iter (\d+), wirelen = (\d+)")),
    ("place", re.compile(r"at iteration #(\d+), type (\w+): wirelen solved = \d+, spread = \d+, legal = (\d+)")),
    ("place", re.compile(r"at iteration #(\d+): temp = [\d.]+, timing cost = (\d+), wirelen = (\d+)")),
    ("route", re.compile(r"^Info:\s+(\d+) \|\s+\d+\s+\d+ \|\s+\d+\s+\d+ \|\s+(\d+)\|\s+[\d.]+\s+([\d.]+)\|")),
    ("route", re.compile(r"iter=(\d+) wires=(\d+) overused=(\d+) overuse=(\d+)")),
    ("route", re.compile(r"^Info: (Routing complete|Router2 time|Router1 time)")),
    ("done", re.compile(r"^Info: Program finished normally")),
)
_ROUTE_ARCS = re.compile(r"^Info: Routing (\d+) arcs\.", re.M)


@dataclass(frozen=True)
class PnrProgress:
    phase: str                  # pack | place | route | done
    text: str                   # one line for a person
    fraction: float | None = None   # router1: share of the arcs routed (None where unknown)


def pnr_progress(log: str) -> PnrProgress | None:
    """Where a nextpnr run is, from its log so far (the last line that says), or None before it says."""
    for line in reversed(log.splitlines()):
        for phase, pat in _PATTERNS:
            m = pat.search(line)
            if m:
                return _describe(phase, pat, m, log)
    return None


def _describe(phase: str, pat: re.Pattern, m: re.Match, log: str) -> PnrProgress:
    g = m.groups()
    if phase == "pack":
        return PnrProgress("pack", "packing")
    if phase == "done":
        return PnrProgress("done", "finished")
    if pat is _PATTERNS[1][1]:
        return PnrProgress("place", f"initial placement, iteration {g[0]}, wirelength {int(g[1]):,}")
    if pat is _PATTERNS[2][1]:
        return PnrProgress("place", f"analytic placement, iteration {g[0]}, legal wirelength {int(g[2]):,}")
    if pat is _PATTERNS[3][1]:
        return PnrProgress("place", f"placement refinement (annealing), iteration {g[0]}, wirelength {int(g[2]):,}")
    if pat is _PATTERNS[4][1]:
        left = int(g[1])
        arcs = [int(a) for a in _ROUTE_ARCS.findall(log)]
        total = arcs[-1] if arcs else 0
        share = f" of {total:,} ({100 * left / total:.0f} %)" if total else ""
        return PnrProgress("route", f"router1: {left:,} arcs left{share}, {float(g[2]):.0f} s routing",
                           1 - left / total if total else None)
    if pat is _PATTERNS[5][1]:
        return PnrProgress("route", f"router2: iteration {g[0]}, {int(g[2]):,} overused wires")
    return PnrProgress("route", "routing complete")


def _minutes(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class StageProgress:
    """The stages of one job as it runs (see the module doc); a context manager.

    stage(name) starts the next stage (ending the one before), update(text) sets the
    running stage's detail, finish() ends the last one. `log` receives every line when
    the output is not a terminal; `interactive`: None = a terminal on stdout and `log`
    is print (a caller that collects lines wants lines, not a live display)."""

    def __init__(self, stages: int, log=print, interactive: bool | None = None, every_s: float = QUIET_EVERY_S):
        self.total, self.log, self.every_s = stages, log, every_s
        self.interactive = (log is print and sys.stdout.isatty()) if interactive is None else interactive
        self.index, self.name, self.key, self.detail = 0, "", "", ""
        self.started = self.last_line = 0.0
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = self._task = None

    # ------------------------------------------------------------ life cycle
    def __enter__(self) -> "StageProgress":
        if self.interactive:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
            self._live = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(),
                                  transient=True)
            self._live.start()
        else:
            self._thread = threading.Thread(target=self._tick, name="stage-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.finish(failed=exc[0] is not None)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._live:
            self._live.stop()

    # ------------------------------------------------------------ stages
    def stage(self, name: str, key: str | None = None) -> None:
        """Start stage `name` (its time is kept in .seconds[key or name])."""
        self.finish()
        with self._lock:
            self.index += 1
            self.name, self.key, self.detail = name, key or name, ""
            self.started = self.last_line = time.monotonic()
        self._say(f"[{self.index}/{self.total}] {name}")
        if self._live:
            self._task = self._live.add_task(self._description())

    def update(self, detail: str | None) -> None:
        if not detail or detail == self.detail:
            return
        with self._lock:
            self.detail = detail
        if self._live and self._task is not None:
            self._live.update(self._task, description=self._description())

    def finish(self, failed: bool = False) -> None:
        with self._lock:
            if not self.name:
                return
            took = time.monotonic() - self.started
            name, self.name = self.name, ""
            self.seconds[self.key] = round(took, 1)
        if self._live and self._task is not None:
            self._live.remove_task(self._task)
            self._task = None
        last = f" ({self.detail})" if self.detail else ""
        verb = "failed after" if failed else "done in"
        self._say(f"[{self.index}/{self.total}] {name}: {verb} {_minutes(took)}{last}")

    # ------------------------------------------------------------ output
    def _description(self) -> str:
        return f"[{self.index}/{self.total}] {self.name}" + (f": {self.detail}" if self.detail else "")

    def _say(self, line: str) -> None:
        if self._live:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            self.log(line)

    def _tick(self) -> None:
        """Quiet mode: a line every `every_s` seconds while a stage runs."""
        while not self._stop.wait(min(5.0, self.every_s)):
            with self._lock:
                now = time.monotonic()
                due = self.name and now - self.last_line >= self.every_s
                if due:
                    self.last_line = now
                    line = (f"[{self.index}/{self.total}] {self.name}: {_minutes(now - self.started)}"
                            + (f", {self.detail}" if self.detail else ""))
            if due:
                self.log(line)


class CountProgress:
    """N of M items done (a sweep's points): a bar on a terminal, one line per finished item elsewhere."""

    def __init__(self, total: int, what: str, log=print, interactive: bool | None = None):
        self.total, self.what, self.log, self.count, self.failed, self.active = total, what, log, 0, 0, 0
        self.last_note = ""
        self.interactive = (log is print and sys.stdout.isatty()) if interactive is None else interactive
        self._bar = self._task = None

    def __enter__(self) -> "CountProgress":
        if self.interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn())
            self._bar.start()
            self._task = self._bar.add_task(self._description(), total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar:
            self._bar.stop()

    def _description(self) -> str:
        return (f"{self.what}: {self.active} running" + (f", {self.failed} failed" if self.failed else "")
                + (f" | {self.last_note}" if self.last_note else ""))

    def running(self, n: int) -> None:
        self.active = n
        if self._bar:
            self._bar.update(self._task, description=self._description())

    def note(self, text: str) -> None:
        """What one running item does now: shown under the bar on a terminal; off a terminal the
        lines stay one per finished item."""
        self.last_note = text
        if self._bar:
            self._bar.update(self._task, description=self._description())

    def done(self, line: str, failed: bool = False) -> None:
        self.count += 1
        self.failed += failed
        text = f"[{self.count}/{self.total}] {line}"
        if self._bar:
            self._bar.console.print(text, markup=False, highlight=False)
            self._bar.update(self._task, advance=1, description=self._description())
        else:
            self.log(text)
