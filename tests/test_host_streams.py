"""host/streams.py over the register-level fake of a --streams N core: several users' generations
on one device, each equal to the golden model's for that user alone, taking turns chunk by chunk."""
from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

from host import registers as R
from host.device import Device
from host.streams import StreamClosedError, StreamsBusyError
from hw.golden import GoldenModel, LoraInt
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeCore, FakeTransport

K_MAX = 8


@pytest.fixture(scope="module")
def model():
    return random_int_model(5)


def golden(model, prompt, n, **kw):
    return list(GoldenModel(model, k_max=K_MAX).generate(prompt, n, **kw))


def device(model, streams, **kw):
    core = FakeCore(model, k_max=K_MAX, streams=streams, **kw)
    return core, Device(FakeTransport(core))


def run_threads(jobs, lock=None):
    """Run each (stream, prompt, n, kw) in its own thread; {index: token ids} or the first error.
    With `lock` (the pool's FairLock), the threads start generating only once all of them queue
    for the device, so that their turns do not depend on how the OS schedules their start."""
    out, errors = {}, []
    together = threading.Barrier(len(jobs))

    def work(i, stream, prompt, n, kw):
        try:
            together.wait(10)
            out[i] = stream.generate_ids(prompt, n, **kw)
        except BaseException as exc:        # reported below, with the thread's job
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    with lock if lock is not None else contextlib.nullcontext():
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while lock is not None and lock.waiting < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.001)
    for t in threads:
        t.join(30)
    assert not errors, errors
    return out


def test_concurrent_streams_equal_the_golden_model_each(model):
    core, dev = device(model, streams=3)
    assert dev.streams == 3
    streams = [dev.open_stream(chunk=2) for _ in range(3)]
    assert sorted(s.index for s in streams) == [0, 1, 2]
    jobs = [(streams[0], [1, 5, 9], 11, {}),
            (streams[1], [2, 7], 9, {"temperature": 3.0, "top_k": 5, "seed": 11}),
            (streams[2], [1, 30, 4, 4, 8], 8, {"temperature": 2.0, "seed": 4})]
    got = run_threads(jobs, lock=streams[0].pool.lock)
    for i, (_, prompt, n, kw) in enumerate(jobs):
        assert got[i] == golden(model, prompt, n, **kw), i
    # they took turns: STREAM_SEL moved between streams while more than one was generating
    sel = [v for a, v in core.writes if a == R.STREAM_SEL]
    assert sum(1 for a, b in zip(sel, sel[1:]) if a != b) >= 6
    # each stream holds its own context: continuing one does not disturb the others
    last = got[0][-1]
    more = streams[0].generate_ids([last], 3, reset=False)
    g = GoldenModel(model, k_max=K_MAX)
    want = list(g.generate([1, 5, 9], 11))
    assert more == list(g.generate([want[-1]], 3))
    assert streams[1].position() == 2 + 9 - 1 and streams[2].position() == 5 + 8 - 1


def test_a_request_beyond_the_streams_waits_or_is_refused(model):
    _, dev = device(model, streams=2)
    a, b = dev.open_stream(), dev.open_stream()
    with pytest.raises(StreamsBusyError, match="all 2 streams of the device are open; close one"):
        dev.open_stream(block=False)
    with pytest.raises(StreamsBusyError):
        dev.open_stream(timeout=0.05)
    a.generate_ids([1, 2, 3], 4)
    got = {}

    def waiter():
        got["stream"] = dev.open_stream(timeout=10)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.05)
    assert "stream" not in got                      # still waiting: both are open
    a.close()
    t.join(10)
    c = got["stream"]
    assert c.index == a.index and c.position() == 0     # the freed slot, its context reset
    with pytest.raises(StreamClosedError, match="stream 0 is closed"):
        a.generate_ids([1], 2)
    assert b.generate_ids([1, 4], 5) == golden(model, [1, 4], 5)
    c.close()
    b.close()


def test_stop_token_and_context_end_a_chunked_generation(model):
    _, dev = device(model, streams=2)
    s = dev.open_stream(chunk=3)
    ref = golden(model, [1, 3], 12)
    stop = ref[7]
    assert s.generate_ids([1, 3], 12, stop_token=stop) == golden(model, [1, 3], 12, stop_token=stop)
    # context 16: a 10-token prompt leaves room for 7 tokens, which ends a chunk of 3 mid-way;
    # a 7-token prompt leaves 10, which ends exactly at a chunk's end (3 + 3 + 3 + 1)
    for prompt in (list(range(1, 11)), list(range(1, 8))):
        assert s.generate_ids(prompt, 50) == golden(model, prompt, 50)


def test_lora_per_stream(model):
    core, dev = device(model, streams=2, lora_rank=2, lora_targets=("wq", "w2"))
    cfg = model.config
    rng = np.random.default_rng(1)
    adapter = LoraInt(rng.integers(-127, 128, (2, cfg.dim)), rng.integers(-127, 128, (cfg.dim, 2)),
                      int(rng.integers(1 << 14, 1 << 15)), 13, int(rng.integers(1 << 14, 1 << 15)), 11)
    dev.load_lora({(0, "wq"): adapter})
    assert core.regs[R.LORA_ENABLE // 4] == 0b11           # every stream runs a loaded adapter
    base, tuned = dev.open_stream(), dev.open_stream()
    base.use_lora(False)
    assert core.regs[R.LORA_ENABLE // 4] == 1 << tuned.index
    g = GoldenModel(model, k_max=K_MAX)
    g.set_lora(0, "wq", adapter)
    want = list(g.generate([1, 6], 8))
    assert want != golden(model, [1, 6], 8)
    got = run_threads([(base, [1, 6], 8, {}), (tuned, [1, 6], 8, {})])
    assert got == {0: golden(model, [1, 6], 8), 1: want}
    # a second adapter in the base stream's own slot: the tuned stream keeps the first
    other = LoraInt(rng.integers(-127, 128, (2, cfg.hidden_dim)), rng.integers(-127, 128, (cfg.dim, 2)),
                    int(rng.integers(1 << 14, 1 << 15)), 13, int(rng.integers(1 << 14, 1 << 15)), 11)
    base.load_lora({(1, "w2"): other})
    assert core.regs[R.LORA_ENABLE // 4] == 0b11
    g2 = GoldenModel(model, k_max=K_MAX)
    g2.set_lora(1, "w2", other)
    want2 = list(g2.generate([1, 6], 8))
    assert want2 not in (want, golden(model, [1, 6], 8))
    assert run_threads([(base, [1, 6], 8, {}), (tuned, [1, 6], 8, {})]) == {0: want2, 1: want}
    dev.clear_lora()
    assert core.regs[R.LORA_ENABLE // 4] == 0 and tuned.generate_ids([1, 6], 8) == golden(model, [1, 6], 8)


def test_one_stream_device_runs_each_generation_in_one_start(model):
    core, dev = device(model, streams=1)
    core.regs[R.STREAMS // 4] = 0                  # a bitstream before generator 1.4 reads 0 here
    dev = Device(FakeTransport(core))
    assert dev.streams == 1
    s = dev.open_stream(chunk=2)
    with pytest.raises(StreamsBusyError, match="build with --streams 2"):
        dev.open_stream(block=False)
    kw = {"temperature": 3.0, "seed": 5}
    assert s.generate_ids([1, 2], 9, **kw) == golden(model, [1, 2], 9, **kw)
    assert sum(1 for a, v in core.writes if a == R.CONTROL and v & R.CTRL_START) == 1


def test_one_thread_takes_turns_a_chunk_at_a_time_and_an_early_close_aborts(model):
    core, dev = device(model, streams=2)
    a, b = dev.open_stream(chunk=3), dev.open_stream(chunk=3)
    ga = a.generate([1, 5], 10, temperature=2.0, seed=9)
    gb = b.generate([2, 8, 8], 10)
    got = {"a": [], "b": []}
    for _ in range(3):                     # a chunk of each in turn: the device is free between them
        for name, gen in (("a", ga), ("b", gb)):
            got[name] += [next(gen).id for _ in range(3)]
    assert got["a"] == golden(model, [1, 5], 10, temperature=2.0, seed=9)[:9]
    assert got["b"] == golden(model, [2, 8, 8], 10)[:9]
    gb.close()
    # stopped mid-chunk: its run is aborted, the device idle and the other stream goes on
    g = a.generate([3], 9)
    first = next(g).id
    g.close()
    assert dev.last_run.stopped_by == "abort" and not core.busy
    assert first == golden(model, [3], 1)[0]
    assert b.generate_ids([1, 4], 5) == golden(model, [1, 4], 5)
    b.close()                                # each stream keeps the turn it was opened with
    assert (a.chunk, dev.open_stream(chunk=5).chunk, a.chunk) == (3, 5, 3)
