"""Drive the Verilator simulation of a generated accelerator from Python.

    with SimSession("build/default") as sim:       # builds (or reuses) the harness
        for tok in sim.generate([1, 403, 407], 64):
            ...

A SimSession starts hw/sim/harness.cpp's executable as a child process in the
build folder (which holds rom/) and speaks its line protocol: register
writes and reads, clock cycles, "run until idle or a token". Above that it
offers what tests and `hardwire sim` need: the identity block, generation
with GoldenModel.generate's semantics, LoRA memory writes and the debug
window (logits, vectors, KV cache).
"""
from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from hw import numerics as nx
from hw.errors import HardwireError
from hw.rtlgen.attention import kv_debug_index
from hw.sim import regs
from hw.sim.build import build_sim, trace_format
from hw.tools import coverage_plusarg

RUN_CHUNK = 1 << 18         # cycles per RUN command (the harness answers in between)
BATCH = 256                 # commands sent before their answers are read
TIMEOUT = 120.0             # seconds a batch of commands may take before the harness is killed


class SimError(HardwireError):
    """The simulated accelerator reported an error, or the harness failed."""


class SimTimeout(SimError, TimeoutError):
    """The harness did not answer before its deadline (it was stopped)."""


@dataclass(frozen=True)
class TokenEvent:
    token: int
    cycles: int             # CYCLES_LAST_TOKEN: cycles of the forward pass + sampling
    position: int           # POSITION after it


class SimSession:
    """One running simulation of the design in `build_dir`.

    trace: waveform file (.vcd, or .fst where the build supports it); timeout: seconds the
    harness may take to start (its READY line) and each batch of commands may take, after
    which it is killed and SimTimeout raised; init_seed: seed of the random power-up
    register values."""

    def __init__(self, build_dir: str | Path, trace: str | Path | None = None, exe: str | Path | None = None,
                 timeout: float = TIMEOUT, init_seed: int = 1):
        self.build_dir = Path(build_dir).resolve()
        self.timeout = float(timeout)
        self._killed = False
        self.exe = Path(exe) if exe is not None else build_sim(self.build_dir)
        # registers without a reset start from random values (seeded: runs repeat exactly)
        args = [str(self.exe), "-C", str(self.build_dir), "+verilator+rand+reset+2",
                f"+verilator+seed+{int(init_seed)}", *coverage_plusarg("core")]
        if trace is not None:
            trace = Path(trace).resolve()
            fmt = trace_format()
            if trace.suffix.lstrip(".").lower() != fmt:
                raise SimError(f"waveform {trace}: this simulation writes .{fmt} files"
                               + (" (FST needs lz4.h: apt-get install liblz4-dev, then rebuild)"
                                  if fmt == "vcd" else ""))
            args += ["--trace", str(trace)]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, bufsize=1)
        try:
            first = self._readline("its start")
            if first.strip() != "READY":
                err = self._stderr() if first else ""
                raise SimError(f"the simulation of {self.build_dir} did not start "
                               f"({first.strip()!r}); {err}")
            if self.read(regs.MAGIC) != regs.MAGIC_VALUE:
                raise SimError(f"{self.build_dir}: the design does not answer with the hardwire MAGIC value")
            self.ident = self.identity()
        except BaseException:
            self._abandon()
            raise

    # ------------------------------------------------------------ protocol
    def _readline(self, during: str) -> str:
        """One line of the harness's output ('' at its end); a watchdog kills a harness that
        does not answer within the timeout, and SimTimeout says so."""
        timer = threading.Timer(self.timeout, self._kill)
        timer.start()
        try:
            line = self._proc.stdout.readline()
        finally:
            timer.cancel()
        if self._killed:
            raise SimTimeout(f"the simulation of {self.build_dir} did not answer within "
                             f"{self.timeout:g} s and was stopped (during {during})")
        return line

    def _abandon(self) -> None:
        """Stop a harness that failed to start, and release its pipes."""
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def commands(self, lines: list[str]) -> list[str]:
        """Send commands, return their answers (batched, in order)."""
        out: list[str] = []
        for i in range(0, len(lines), BATCH):
            chunk = lines[i:i + BATCH]
            # a watchdog: a harness that stops answering is killed, so no read blocks forever
            timer = threading.Timer(self.timeout, self._kill)
            timer.start()
            try:
                try:
                    self._proc.stdin.write("".join(line + "\n" for line in chunk))
                    self._proc.stdin.flush()
                except (BrokenPipeError, OSError, ValueError) as exc:
                    raise SimError(f"the simulation process ended: {self._stderr()}") from exc
                for line in chunk:
                    ans = self._proc.stdout.readline()
                    if self._killed:
                        raise SimTimeout(f"the simulation of {self.build_dir} did not answer within "
                                         f"{self.timeout:g} s and was stopped (during {line!r})")
                    if not ans:
                        raise SimError(f"the simulation of {self.build_dir} ended: {self._stderr()} "
                                       f"(during {line!r})")
                    ans = ans.strip()
                    if ans.startswith("ERR"):
                        raise SimError(f"harness rejected {line!r}: {ans}")
                    out.append(ans)
            finally:
                timer.cancel()
        return out

    def _kill(self) -> None:
        self._killed = True
        self._proc.kill()

    def command(self, line: str) -> str:
        return self.commands([line])[0]

    def _stderr(self) -> str:
        if self._proc.poll() is None:
            return "(still running)"
        return (self._proc.stderr.read() or "").strip()[-2000:]

    def write(self, addr: int, value: int) -> None:
        self.command(f"W {addr} {value & 0xFFFFFFFF}")

    def read(self, addr: int) -> int:
        return int(self.command(f"R {addr}"))

    def reads(self, addrs: list[int]) -> list[int]:
        return [int(a) for a in self.commands([f"R {a}" for a in addrs])]

    def tick(self, n: int = 1) -> None:
        self.command(f"T {n}")

    def run(self, limit: int = RUN_CHUNK) -> tuple[int, bool, bool]:
        """Clock until busy is low or a token is available: (cycles, busy, token_avail)."""
        c, b, t = self.command(f"RUN {limit}").split()
        return int(c), b == "1", t == "1"

    def hard_reset(self) -> None:
        """Pulse the rst input (registers back to their reset values)."""
        self.command("RST 4")

    def cycle_count(self) -> int:
        return int(self.command("CYC"))

    def close(self) -> None:
        if self._proc.stdin.closed:
            return
        if self._proc.poll() is None:
            try:
                self.commands(["Q"])
            except SimError:
                pass
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        for f in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                f.close()
            except OSError:     # unsent commands to a harness that was stopped: BrokenPipeError
                pass

    def __enter__(self) -> "SimSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ identity
    def identity(self) -> dict:
        names = list(regs.IDENTITY)
        vals = self.reads([regs.IDENTITY[n] for n in names] + [regs.FINGERPRINT + i for i in range(8)])
        ident = dict(zip(names, vals))
        ident["fingerprint"] = "".join(f"{w:08x}" for w in vals[len(names):])
        b = ident["bits"]
        ident["bits"] = {"embedding": b & 255, "attention": b >> 8 & 255, "mlp": b >> 16 & 255,
                         "classifier": b >> 24 & 255}
        return ident

    # ------------------------------------------------------------ control
    def status(self) -> int:
        return self.read(regs.STATUS)

    def position(self) -> int:
        return self.read(regs.POSITION)

    def select_stream(self, stream: int) -> None:
        """STREAM_SEL: the stream the next START runs, RESET_STATE resets and POSITION reads."""
        if not 0 <= stream < self.ident["streams"]:
            raise SimError(f"stream {stream} is outside 0..{self.ident['streams'] - 1} (this build's --streams)")
        self.write(regs.STREAM_SEL, stream)

    def reset_state(self) -> None:
        """Position 0 of the selected stream, FIFOs and errors cleared (stops a run)."""
        self.write(regs.CONTROL, regs.CTRL_RESET_STATE)

    def abort(self) -> None:
        self.write(regs.CONTROL, regs.CTRL_ABORT)

    def start(self, prompt: list[int], max_new_tokens: int, temperature: float = 0.0, top_k: int = 0,
              seed: int = 0, stop_token: int | None = None) -> list[int]:
        """Set up and START a run; returns the prompt tokens not yet pushed (FIFO full)."""
        inv = nx.inv_temperature_q8(temperature)
        stop = regs.STOP_NONE if stop_token is None else stop_token
        depth = self.ident["prompt_depth"]
        first, rest = list(prompt[:depth]), list(prompt[depth:])
        lines = [f"W {regs.PROMPT_LEN} {len(prompt)}", f"W {regs.MAX_NEW} {max_new_tokens}",
                 f"W {regs.INV_TEMP_Q8} {inv}", f"W {regs.TOP_K} {top_k & 0xFFFFFFFF}",
                 f"W {regs.SEED} {seed & 0xFFFFFFFF}", f"W {regs.STOP_TOKEN} {stop & 0xFFFFFFFF}"]
        lines += [f"W {regs.PROMPT_PUSH} {t & 0xFFFF}" for t in first]
        lines.append(f"W {regs.CONTROL} {regs.CTRL_START}")
        self.commands(lines)
        return rest

    def check_errors(self, status: int | None = None) -> None:
        st = self.status() if status is None else status
        if st & regs.ST_ERR_CONTEXT:
            n, pos = self.reads([regs.PROMPT_LEN, regs.POSITION])
            raise SimError(f"a prompt of {n} tokens does not fit from position {pos} of the {self.ident['context']}-"
                           "position context (ERR_CONTEXT): shorten it, reset_state() to start again at 0, "
                           "or build with a larger --context")
        if st & regs.ST_ERR_TOKEN:
            raise SimError(f"a prompt token is outside the vocabulary 0..{self.ident['vocab'] - 1} (ERR_TOKEN)")
        if st & regs.ST_ERR_PROMPT:
            raise SimError("the prompt must hold at least one token (ERR_PROMPT)")
        if st & regs.ST_ERR_OVERFLOW:
            raise SimError("a prompt token was pushed into a full prompt FIFO (ERR_OVERFLOW)")

    def stream(self, prompt: list[int], max_new_tokens: int, temperature: float = 0.0, top_k: int = 0,
               seed: int = 0, stop_token: int | None = None, max_cycles: int | None = None) -> Iterator[TokenEvent]:
        """Run GoldenModel.generate's semantics on the hardware; yield each token as it comes."""
        rest = self.start(prompt, max_new_tokens, temperature, top_k, seed, stop_token)
        yield from self.events(rest, max_cycles)

    def events(self, prompt_rest: list[int] = (), max_cycles: int | None = None) -> Iterator[TokenEvent]:
        """The tokens of the run in progress until it ends (pushing `prompt_rest` as space frees up);
        raises SimError when the run ended with an error."""
        rest, spent = list(prompt_rest), 0
        while True:
            if rest:
                space = self.ident["prompt_depth"] - self.read(regs.PROMPT_PUSH)
                if space > 0:
                    self.commands([f"W {regs.PROMPT_PUSH} {t & 0xFFFF}" for t in rest[:space]])
                    rest = rest[space:]
            cycles, busy, avail = self.run(1024 if rest else RUN_CHUNK)
            spent += cycles
            if avail:
                word, cyc, pos = self.reads([regs.TOKEN_POP, regs.CYCLES_LAST_TOKEN, regs.POSITION])
                if not word & regs.TOKEN_VALID:
                    raise SimError("TOKEN_AVAIL was set but TOKEN_POP returned no token")
                yield TokenEvent(word & 0xFFFF, cyc, pos)
            elif not busy:
                break
            if max_cycles is not None and spent > max_cycles:
                self.abort()
                raise SimError(f"the run did not finish within {max_cycles} cycles (aborted)")
        self.check_errors()

    def take_tokens(self, stream: int) -> tuple[list[int], bool]:
        """Select `stream` and pop the tokens its run has output so far: (tokens, still busy); raises
        SimError when the run ended with an error. For several streams running at once (contexts)."""
        self.select_stream(stream)
        tokens, word = [], self.read(regs.TOKEN_POP)
        while word & regs.TOKEN_VALID:
            tokens.append(word & 0xFFFF)
            word = self.read(regs.TOKEN_POP)
        status = self.status()
        self.check_errors(status)
        return tokens, bool(status & regs.ST_BUSY)

    def generate(self, prompt: list[int], max_new_tokens: int, **kw) -> list[int]:
        return [ev.token for ev in self.stream(prompt, max_new_tokens, **kw)]

    # ------------------------------------------------------------ LoRA
    def write_lora(self, words: list[int], base: int = 0, enable: bool = True) -> None:
        """Write LoRA memory words from `base` (hw/sim/lora_image.py makes them; stream s's slot
        starts at s * LORA_WORDS), then LORA_ENABLE = enable (bit 0: stream 0 runs its adapter)."""
        size = self.ident["lora_words"] * self.ident["streams"]     # a slot per stream
        if base + len(words) > size:
            raise SimError(f"{len(words)} LoRA words from {base} do not fit the {size}-word LoRA memory "
                           f"of this build ({self.ident['streams']} slots of {self.ident['lora_words']})")
        self.commands([f"W {regs.LORA_ADDR} {base}"] + [f"W {regs.LORA_DATA} {w & 0xFFFFFFFF}" for w in words]
                      + [f"W {regs.LORA_ENABLE} {int(enable)}"])

    # ------------------------------------------------------------ debug window
    def debug_read(self, region: int, indices: list[int]) -> np.ndarray:
        """Values at `indices` of a debug region (sign-extended), int64 array."""
        lines = []
        for i in indices:
            lines += [f"W {regs.DBG_ADDR} {region << 28 | int(i)}", f"R {regs.DBG_DATA}"]
        ans = self.commands(lines)[1::2]
        v = np.array([int(a) for a in ans], dtype=np.int64)
        return np.where(v >= 1 << 31, v - (1 << 32), v)

    def logits(self) -> np.ndarray:
        """The int24 logits of the last classifier run, (V,)."""
        lanes, lb = self.ident["lanes"], regs.clog2(self.ident["lanes"])
        idx = [(r // lanes) << lb | r % lanes for r in range(self.ident["vocab"])]
        return self.debug_read(regs.DBG_LOGITS, idx)

    def vector(self, region: int) -> np.ndarray:
        n = {regs.DBG_RES: "dim", regs.DBG_XN: "dim", regs.DBG_Q: "dim", regs.DBG_ATT: "dim",
             regs.DBG_H1: "hidden", regs.DBG_H3: "hidden"}.get(region)
        if region in (regs.DBG_K, regs.DBG_V):
            size = self.ident["dim"] // self.ident["heads"] * self.ident["kv_heads"]
        elif n is None:
            raise SimError(f"debug region {region} is not a vector")
        else:
            size = self.ident[n]
        return self.debug_read(region, list(range(size)))

    def kv_cache(self, layer: int, pos: int, stream: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of (layer, position) of `stream`: two (kv_heads, head_dim) arrays. With
        contexts the stream is selected first (the debug window reads its context's KV cache)."""
        nkv, hd, ctx = self.ident["kv_heads"], self.ident["dim"] // self.ident["heads"], self.ident["context"]
        contexts = max(1, self.ident["contexts"])
        if contexts > 1:
            self.select_stream(stream)
        idx = kv_debug_index(self.ident["layers"], nkv, hd, ctx, self.ident["att_engines"], layer, pos,
                             self.ident["streams"] // contexts, stream // contexts)
        k = self.debug_read(regs.DBG_KCACHE, idx).reshape(nkv, hd)
        v = self.debug_read(regs.DBG_VCACHE, idx).reshape(nkv, hd)
        return k, v


def open_session(build_dir: str | Path, timeout: float = TIMEOUT, trace: str | Path | None = None) -> SimSession:
    """A SimSession on `build_dir` (the host driver's sim: transport calls this)."""
    return SimSession(build_dir, trace=trace, timeout=timeout)
