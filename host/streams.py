"""Several users' sequences on one device: the streams of a `--streams N` build.

    with open_device("sim:build/tiny") as dev:
        a, b = dev.open_stream(), dev.open_stream()
        # two threads, each with its own prompt, sampling settings and context
        for tok in a.generate("Once upon a time", 64, temperature=0.8, seed=1): ...

The device holds N sequences at once (a KV cache slot and a position each,
STREAM_SEL) and computes one at a time. A stream's generation runs in chunks
of `chunk` tokens, one START each, taken under the device's lock: generations
on different streams (a thread each) take turns chunk by chunk, so each user
gets tokens at once instead of waiting for the others' whole answers, and no
context is recomputed on a switch. Tokens are handed out as they come, a
chunk's last one once the device is free again, so one thread may also
advance several streams' generations in turns of `chunk` tokens. Between chunks the stream keeps what the
hardware needs to go on exactly as one long run would: the last token (fed
back as the next chunk's prompt) and the sampler's state (RNG_STATE, written
back as the next chunk's SEED), so each stream's tokens equal the golden
model's for that stream alone.

A build with contexts (`--contexts C`, CONTEXTS) has C sequencers sharing the matrix
engine: stream s runs on context s % C, and chunks of streams on different contexts run
at the same time (each context's chunks still take turns). Each stream then reaches the
device through its own view (`StreamPool.device_for`): a Device whose every register
access selects its stream first (STREAM_SEL picks the context the registers reach), under
one lock so that a selection and its access are never split by another thread.

A request beyond the N open streams waits for a free one (`open_stream(timeout=...)`)
or is refused (`block=False`), never mixed into another stream's context.
Closing a stream resets its slot and frees it. A build with one stream has one
slot; bitstreams before generator 1.4 (STREAMS reads 0) have one and run each
generation in one START, since they cannot resume the sampler. Closing a
generation early aborts its chunk's run at once (Device.generate's close).
"""
from __future__ import annotations

import copy
import threading
from collections import deque
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from host import registers as R
from host.errors import DeviceError

if TYPE_CHECKING:       # pragma: no cover
    from host.device import Device, Token

DEFAULT_CHUNK = 16      # tokens per turn: short enough that N users interleave, long enough that the
                        # per-START set-up (a few register writes) stays small next to the tokens


class StreamsBusyError(DeviceError):
    """Every stream of the device is open: the request is refused rather than mixed into one."""


class StreamClosedError(DeviceError):
    """The stream was closed: its slot may already hold another user's context."""


class FairLock:
    """A reentrant lock handed to the waiting threads in arrival order. (threading.RLock lets the
    thread that releases it take it straight back, so one stream's chunks would starve the others.)"""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._owner: Optional[int] = None
        self._depth = 0
        self._queue: Deque[int] = deque()

    def __enter__(self) -> "FairLock":
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return self
            self._queue.append(me)
            self._cond.wait_for(lambda: self._owner is None and self._queue[0] == me)
            self._queue.popleft()
            self._owner, self._depth = me, 1
        return self

    @property
    def waiting(self) -> int:
        """Threads queued for the lock."""
        with self._cond:
            return len(self._queue)

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()


class SelectedStream:
    """The device's registers as stream `index` sees them on a build with contexts: STREAM_SEL is
    written before an access whenever another stream was selected last, and the selection and the
    access happen under one lock (shared by every stream of the device)."""

    def __init__(self, device: "Device", index: int, selection: "Selection"):
        self.device, self.index, self.selection = device, index, selection
        self.name = f"{device.transport.name}: stream {index}"
        self.poll_interval = device.transport.poll_interval

    def _call(self, fn, *args):
        sel = self.selection
        with sel.lock:
            link = self.device.transport            # looked up each time: reconnect() replaces it
            if sel.current != self.index or sel.link is not link:
                link.write(R.STREAM_SEL, self.index)
                sel.current, sel.link = self.index, link
            return fn(link, *args)

    def read(self, addr: int) -> int:
        return self._call(lambda t: t.read(addr))

    def write(self, addr: int, value: int) -> None:
        self._call(lambda t: t.write(addr, value))

    def read_many(self, addr: int, count: int, increment: bool = False) -> List[int]:
        return self._call(lambda t: t.read_many(addr, count, increment))

    def write_many(self, addr: int, values: Iterable[int], increment: bool = False) -> None:
        values = list(values)
        self._call(lambda t: t.write_many(addr, values, increment))

    def read_block(self, addrs: List[int]) -> Dict[int, int]:
        return self._call(lambda t: t.read_block(addrs))

    def pause(self) -> None:
        # a simulation runs its clock here, until the selected context (the pins') has a token
        self._call(lambda t: t.pause())

    def stats(self) -> Dict[str, int]:
        return self.device.transport.stats()

    def close(self) -> None:
        """The device's link stays open: the Device closes it."""


class Selection:
    """The stream STREAM_SEL holds as last written by the views, on which link; and the lock that
    keeps each access with its selection."""

    def __init__(self):
        self.lock = threading.RLock()
        self.current: Optional[int] = None
        self.link = None


class StreamPool:
    """The device's streams: which are free, and the locks that give each sequencer context to one
    chunk at a time (one context: the whole device)."""

    def __init__(self, device: "Device", chunk: int = DEFAULT_CHUNK):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1 token, got {chunk}")
        self.device = device
        self.count = device.streams
        self.contexts = getattr(device, "contexts", 1)
        self.chunk = int(chunk)
        self.lock = FairLock()                    # the device: one register sequence at a time
        # with contexts: a lock per context (the chunks of its streams take turns), views per stream
        self._context_locks = [self.lock] + [FairLock() for _ in range(self.contexts - 1)]
        self._selection = Selection()
        self._views: Dict[int, "Device"] = {}
        self._free = list(range(self.count))
        self._slots = threading.Condition()

    def run_lock(self, index: int) -> FairLock:
        """The lock a chunk of stream `index` holds: its context's."""
        return self._context_locks[index % self.contexts]

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Every context idle between chunks: all their locks, in order, then the selection's (the
        device's own accesses then come between no view's)."""
        with ExitStack() as stack:
            for lock in self._context_locks:
                stack.enter_context(lock)
            stack.enter_context(self._selection.lock)
            yield

    def device_for(self, index: int) -> "Device":
        """The Device stream `index` runs on (call with its run_lock held): the device with the stream
        selected; with contexts, the stream's own view, which selects it at every access."""
        if self.contexts == 1:
            self.select(index)
            return self.device
        view = self._views.get(index)
        if view is None:
            view = copy.copy(self.device)
            view.transport = SelectedStream(self.device, index, self._selection)
            view.stream = False                 # the UART bridge pushes the selected context's tokens only
            view._streams = None
            view._run_state = None
            view.reopen = None                  # a lost link ends the chunk's generation with its error
            self._views[index] = view
        return view

    def open(self, block: bool = True, timeout: Optional[float] = None, chunk: Optional[int] = None) -> "Stream":
        """A free stream (its context reset); waits for one when all are open (up to `timeout`
        seconds), or raises StreamsBusyError at once with block=False. chunk: its generations'
        turn in tokens (default: the pool's)."""
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be >= 1 token, got {chunk}")
        with self._slots:
            if block:
                self._slots.wait_for(lambda: self._free, timeout)
            if not self._free:
                raise StreamsBusyError(
                    f"all {self.count} streams of the device are open; close one, retry later, or "
                    f"build with --streams {self.count + 1} or more")
            index = self._free.pop(0)
        stream = Stream(self, index, self.chunk if chunk is None else int(chunk))
        try:
            stream.reset()
        except BaseException:
            self._release(index)
            raise
        return stream

    def _release(self, index: int) -> None:
        with self._slots:
            self._free.append(index)
            self._free.sort()
            self._slots.notify()

    def select(self, index: int) -> None:
        """STREAM_SEL (call with the lock held)."""
        with self._selection.lock:
            self.device.transport.write(R.STREAM_SEL, index)
            self._selection.current, self._selection.link = index, self.device.transport

    @contextmanager
    def lora_access(self, index: int) -> Iterator["Device"]:
        """The device as stream `index` sees it, for a change of its LoRA slot or LORA_ENABLE bit: its
        context idle between chunks (a context takes its streams' bits at START and reads only its own
        streams' slots, so the others run on), and no other register access in between (LORA_ADDR,
        LORA_DATA and LORA_ENABLE are the device's, not a context's)."""
        with self.run_lock(index), self._selection.lock:
            # one context: the device as it is (its LoRA registers are every stream's; nothing to select)
            yield self.device if self.contexts == 1 else self.device_for(index)

    def set_lora(self, index: int, on: bool) -> None:
        """Whether stream `index` runs the adapter in its slot (LORA_ENABLE bit; a slot without one
        stays off: its passes would only cost time)."""
        with self.lora_access(index) as dev:
            on = on and dev.lora_in_slot[index]
            bits = (dev.lora_bits | 1 << index) if on else (dev.lora_bits & ~(1 << index))
            if bits != dev.lora_bits:
                dev.set_lora_bits(bits)


class Stream:
    """One of the device's sequences: its own context (KV cache slot and position), sampling
    settings and sampler state. Thread-safe against the other streams of the same device."""

    def __init__(self, pool: StreamPool, index: int, chunk: int = DEFAULT_CHUNK):
        self.pool = pool
        self.index = index
        self.chunk = chunk              # tokens per turn on the device
        self.closed = False

    def _check(self) -> None:
        if self.closed:
            raise StreamClosedError(f"stream {self.index} is closed; open another with open_stream()")

    def position(self) -> int:
        """Tokens this stream's context holds."""
        self._check()
        with self.pool.run_lock(self.index):
            return self.pool.device_for(self.index).position()

    def reset(self) -> None:
        """Forget this stream's context (position 0); the other streams keep theirs."""
        self._check()
        self._reset()

    def _reset(self) -> None:
        with self.pool.run_lock(self.index):
            self.pool.device_for(self.index).reset()

    def load_lora(self, adapters, model=None) -> None:
        """Load `adapters` (as Device.load_lora takes them) into this stream's own adapter slot and
        run it; the other streams keep theirs."""
        self._check()
        with self.pool.lora_access(self.index) as dev:
            dev.load_lora(adapters, model, streams=[self.index])

    def use_lora(self, on: bool) -> None:
        """Run this stream with the adapter in its slot (on) or the base model (off)."""
        self._check()
        self.pool.set_lora(self.index, on)

    def generate(self, prompt: Union[str, Sequence[int]], max_new_tokens: int, temperature: float = 0.0,
                 top_k: int = 0, seed: int = 0, stop_token: Optional[int] = None,
                 reset: bool = True) -> Iterator["Token"]:
        """Device.generate's semantics on this stream: feed `prompt`, yield up to `max_new_tokens`
        tokens. reset=False continues this stream's context (the last token yielded was not fed
        back: put it first in the next prompt)."""
        from host.device import Token

        self._check()
        pool = self.pool
        device = pool.device
        # bitstreams before generator 1.4 have no RNG_STATE (and one stream): one START per generation
        chunk = self.chunk if device.resumable else max(1, int(max_new_tokens))
        feed: Union[str, Sequence[int]] = prompt
        state, done, first = int(seed) & 0xFFFFFFFF, 0, True
        while True:
            n = min(chunk, int(max_new_tokens) - done) if max_new_tokens else 0
            held: Optional[Token] = None        # the newest token, handed out one step late
            count = 0
            with pool.run_lock(self.index):
                device = pool.device_for(self.index)
                run = device.generate(feed, n, temperature, top_k, state, stop_token, reset=reset and first)
                try:
                    for tok in run:
                        if held is not None:
                            yield Token(held.id, held.text, done)
                            done += 1
                        held, count = tok, count + 1
                finally:
                    run.close()                 # a caller that stops early: ABORT, the device is free
                stopped = device.last_run.stopped_by
                if stopped == "max_new_tokens" and done + 1 < max_new_tokens:
                    # going on: the context must have room for the token fed back, and the
                    # sampler continues from where this chunk left it
                    if device.position() >= device.info().context:
                        stopped = "context"
                    state = device.rng_state()
            first = False
            # a chunk's last token goes out once its run is over and the device is free: one thread
            # may then advance another stream's generation (turns of `chunk` tokens)
            if held is None:
                return
            yield Token(held.id, held.text, done)
            done += 1
            if stopped != "max_new_tokens" or done >= max_new_tokens:
                return
            feed = [held.id]                    # fed back first in the next chunk, as one run would

    def generate_ids(self, prompt: Union[str, Sequence[int]], max_new_tokens: int, **kw) -> List[int]:
        return [t.id for t in self.generate(prompt, max_new_tokens, **kw)]

    def close(self) -> None:
        """Reset this stream's context and free its slot for another user."""
        if self.closed:
            return
        try:
            self._reset()
        finally:
            self.closed = True
            self.pool._release(self.index)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Stream({self.index} of {self.pool.count}{', closed' if self.closed else ''})"
