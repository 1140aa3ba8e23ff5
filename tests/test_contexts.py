"""Sequencer contexts sharing one matrix engine (`--contexts`, docs/core.md "Contexts").

One design, verilated once: the tiny random model (LoRA rank 3 on every projection) with
4 streams on 2 contexts; stream s runs on context s % 2. Every check compares token ids,
and the KV cache of each stream, value by value with the golden model run for that stream
alone, while the other context runs at the same time.
"""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from hw.golden import GoldenModel
from hw.rtlgen.chain import ChainError, check_chain_knobs
from hw.rtlgen.fixture import TINY_LORA_RANK, random_adapters, random_int_model, tiny_knobs
from hw.rtlgen.generate import generate
from hw.rtlgen.knobs import KnobError
from hw.sim import regs
from hw.sim.lora_image import lora_image
from hw.sim.session import SimSession
from hw.tools import verilator_lint

pytestmark = pytest.mark.sim

STREAMS, CONTEXTS = 4, 2


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    model = random_int_model(seed=1)
    out = tmp_path_factory.mktemp("contexts")
    generate(model, out, replace(tiny_knobs(), streams=STREAMS, contexts=CONTEXTS))
    sim = SimSession(out)
    yield model, sim
    sim.close()


def golden_run(model, prompt, n, temperature=0.0, top_k=0, seed=0, adapters=None):
    g = GoldenModel(model)
    for key, a in (adapters or {}).items():
        g.set_lora(*key, a)
    return list(g.generate(prompt, n, temperature, top_k, seed)), g


def drain(sim: SimSession, streams) -> dict:
    """Clock the design until every stream in `streams` is idle, popping each one's tokens as
    they come (each read with its stream selected); {stream: tokens}."""
    got = {s: [] for s in streams}
    active = set(streams)
    while active:
        sim.run(2048)
        for s in sorted(active):
            tokens, busy = sim.take_tokens(s)
            got[s] += tokens
            if not busy:
                active.discard(s)
    return got


def fresh(sim: SimSession, streams) -> None:
    for s in streams:
        sim.select_stream(s)
        sim.reset_state()


def test_identity_and_selection(design):
    _, sim = design
    assert (sim.ident["streams"], sim.ident["contexts"]) == (STREAMS, CONTEXTS)
    for s in range(STREAMS):
        sim.select_stream(s)
        assert sim.read(regs.STREAM_SEL) == s               # the device's numbering, from its context
        assert sim.read(regs.MAGIC) == regs.MAGIC_VALUE     # every context answers the identity
    sim.write(regs.STREAM_SEL, STREAMS)                     # out of range: ignored
    assert sim.read(regs.STREAM_SEL) == STREAMS - 1
    # a context's run settings are its own
    sim.select_stream(0)
    sim.write(regs.MAX_NEW, 11)
    sim.select_stream(1)
    sim.write(regs.MAX_NEW, 22)
    sim.select_stream(2)                                    # context 0 again
    assert sim.read(regs.MAX_NEW) == 11


def test_streams_on_two_contexts_run_at_once_and_equal_the_golden_model(design):
    """Streams 0 and 1 (contexts 0 and 1) run at the same time, one sampled and one with a LoRA
    adapter in its slot; then streams 2 and 3 with one started late. Each stream's tokens and KV
    cache equal the golden model's for it alone, and two streams together take fewer cycles than
    one after the other (the engine serves one context's matrices in the other's attention)."""
    model, sim = design
    cfg = model.config
    words = sim.ident["lora_words"]
    adapters = random_adapters(cfg, ("wq", "wv", "w2"), TINY_LORA_RANK, seed=4)
    sim.write_lora(lora_image(cfg, TINY_LORA_RANK, 0x7F, adapters), base=1 * words, enable=False)
    sim.write(regs.LORA_ENABLE, 0b0010)                     # stream 1 (context 1's slot 0) runs it
    try:
        reqs = {0: ([1, 5, 7], 12, 1.0, 0, 3), 1: ([2, 9], 12, 0.0, 0, 0),
                2: ([1, 30, 4], 9, 0.8, 5, 9), 3: ([4, 4, 17], 10, 0.0, 0, 0)}
        runs = {s: golden_run(model, *r, adapters=adapters if s == 1 else None) for s, r in reqs.items()}
        want = {s: r[0] for s, r in runs.items()}
        assert want[1] != golden_run(model, *reqs[1])[0]    # the adapter changes stream 1's tokens

        # each of streams 0 and 1 alone: the cycles of one after the other
        alone = 0
        for s in (0, 1):
            fresh(sim, [s])
            c0 = sim.cycle_count()
            p, n, t, k, seed = reqs[s]
            assert sim.generate(p, n, temperature=t, top_k=k, seed=seed) == want[s]
            alone += sim.cycle_count() - c0

        fresh(sim, range(STREAMS))
        c0 = sim.cycle_count()
        for s in (0, 1):
            p, n, t, k, seed = reqs[s]
            sim.select_stream(s)
            sim.start(p, n, temperature=t, top_k=k, seed=seed)
        got = drain(sim, [0, 1])
        together = sim.cycle_count() - c0
        assert got == {0: want[0], 1: want[1]}
        assert together < 0.9 * alone, (together, alone)

        # stream 3 starts while stream 2 is half-way
        p, n, t, k, seed = reqs[2]
        sim.select_stream(2)
        sim.start(p, n, temperature=t, top_k=k, seed=seed)
        sim.tick(3000)
        p, n, t, k, seed = reqs[3]
        sim.select_stream(3)
        sim.start(p, n, temperature=t, top_k=k, seed=seed)
        got = drain(sim, [2, 3])
        assert got == {2: want[2], 3: want[3]}

        for s, (prompt, n, *_rest) in reqs.items():
            sim.select_stream(s)
            assert sim.position() == len(prompt) + n - 1
            golden = runs[s][1]
            for layer in range(cfg.n_layers):
                for pos in range(golden.pos):
                    k, v = sim.kv_cache(layer, pos, stream=s)
                    np.testing.assert_array_equal(k, golden.key_cache[layer, pos], err_msg=f"K {s}/{layer}/{pos}")
                    np.testing.assert_array_equal(v, golden.value_cache[layer, pos], err_msg=f"V {s}/{layer}/{pos}")
    finally:
        sim.write_lora([0] * STREAMS * words, enable=False)


@pytest.mark.parametrize("stop_at", [700, 2500, 6000])
def test_an_abort_on_one_context_leaves_the_other_exact(design, stop_at):
    """ABORT of stream 0's run at a few moments (its matrices may be on the shared engine or queued
    behind the other context's): stream 1's run on the other context goes on and equals the golden
    model's; stream 0, reset, runs exactly again."""
    model, sim = design
    want1 = golden_run(model, [3, 8], 14, 1.0, 0, 5)[0]
    want0 = golden_run(model, [1, 2, 3], 8)[0]
    fresh(sim, [0, 1])
    sim.select_stream(1)
    sim.start([3, 8], 14, temperature=1.0, seed=5)
    sim.select_stream(0)
    sim.start([9, 9, 9, 9], 30)
    sim.tick(stop_at)
    sim.select_stream(0)
    sim.abort()
    assert drain(sim, [1])[1] == want1
    fresh(sim, [0])
    assert sim.generate([1, 2, 3], 8) == want0


def test_the_host_runs_streams_of_both_contexts_at_once(design, monkeypatch):
    """Device.open_stream on the contexts build: four threads, chunks of 3 tokens, one stream with
    an adapter loaded through Stream.load_lora while the others run; each equals the golden model
    alone, and the two contexts' chunks overlapped (both busy at one time)."""
    from host.device import Device
    from host.sim_transport import SimTransport

    model, sim = design
    dev = Device(SimTransport(sim.build_dir, session=sim))
    assert (dev.streams, dev.contexts) == (STREAMS, CONTEXTS)
    adapters = random_adapters(model.config, ("wk", "w1"), TINY_LORA_RANK, seed=6)
    reqs = [([1, 5, 7], 14, 0.0, 0, 0), ([2, 9], 12, 1.0, 0, 3), ([1, 30, 4], 10, 0.8, 5, 9),
            ([4, 4], 9, 0.0, 0, 0)]
    want = [golden_run(model, *r, adapters=adapters if i == 2 else None)[0] for i, r in enumerate(reqs)]
    streams = [dev.open_stream(chunk=3) for _ in reqs]
    assert [s.index for s in streams] == [0, 1, 2, 3]
    got: list = [None] * len(reqs)
    errors: list = []
    watch = ClockWatch(dev, monkeypatch)

    def work(i):
        try:
            if i == 2:
                streams[i].load_lora(adapters)
            p, n, t, k, seed = reqs[i]
            out = []
            for tok in streams[i].generate(p, n, temperature=t, top_k=k, seed=seed):
                out.append(tok.id)
            got[i] = out
        except Exception as exc:  # reported below with the thread's stream
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(reqs))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        assert not errors, errors
        assert got == want
        assert max(watch.busy) == CONTEXTS         # the clock ran with both contexts busy
    finally:
        watch.close()
        for s in streams:
            s.close()
        dev.clear_lora()


class ClockWatch:
    """Wraps the simulation's pause() (the only place its clock runs): before each, records how many
    contexts are busy (STATUS read with each context's first stream selected, the selection put back).
    And each stream's view waits `delay` s before it pauses, outside the selection lock, so that another
    thread's START comes while a run is under way (in simulated time, runs overlap only so)."""

    def __init__(self, dev, monkeypatch, delay: float = 0.02):
        import time

        from host.streams import SelectedStream

        self.dev, self.busy = dev, []
        self.inner = dev.transport.pause
        dev.transport.pause = self
        view_pause = SelectedStream.pause

        def slow_pause(view):
            time.sleep(delay)
            view_pause(view)

        monkeypatch.setattr(SelectedStream, "pause", slow_pause)

    def __call__(self) -> None:
        t, sel = self.dev.transport, self.dev._streams._selection
        with sel.lock:
            busy = 0
            for c in range(CONTEXTS):
                t.write(regs.STREAM_SEL * 4, c)
                busy += t.read(regs.STATUS * 4) & regs.ST_BUSY
            # back to the stream the views last selected (or stay on the last context read)
            sel.current = CONTEXTS - 1 if sel.current is None else sel.current
            t.write(regs.STREAM_SEL * 4, sel.current)
            sel.link = t
            self.busy.append(busy)
            self.inner()

    def close(self) -> None:
        self.dev.transport.pause = self.inner


def test_four_contexts_at_once_lint_clean_and_exact(tmp_path):
    """A 4-context build (4 hw_core instances around hw_mv_share) is -Wall clean, and four streams
    started at different moments, one reset and started again half-way, each equal the golden model."""
    import json

    model = random_int_model(seed=3)
    generate(model, tmp_path, replace(tiny_knobs(), streams=4, contexts=4, lora_rank=0, lora_targets=()))
    info = json.loads((tmp_path / "build.json").read_text())
    top = (tmp_path / info["top"]).read_text()
    assert top.count("hw_core #(") == 4 and top.count("hw_mv_share #(") == 1
    assert any(p.endswith("hw_mv_share.v") for p in info["static_rtl"])     # what Yosys is handed
    verilator_lint([tmp_path / info["top"], *info["static_rtl"]], top=info["top_module"])
    reqs = {0: ([1, 5], 11, 0.0, 0, 0), 1: ([2, 9, 4], 10, 1.0, 0, 3), 2: ([7], 12, 0.8, 5, 9),
            3: ([3, 3, 3], 9, 0.0, 0, 0)}
    want = {s: golden_run(model, *r)[0] for s, r in reqs.items()}
    with SimSession(tmp_path) as sim:
        assert sim.ident["contexts"] == 4
        fresh(sim, range(4))
        for s, (p, n, t, k, seed) in reqs.items():
            sim.select_stream(s)
            sim.start(p, n, temperature=t, top_k=k, seed=seed)
            sim.tick(900 * s)
            if s == 2:                                  # stream 0 reset and started again meanwhile
                sim.select_stream(0)
                sim.reset_state()
                sim.start(*reqs[0][:2])
        assert drain(sim, range(4)) == want


def test_bad_contexts_are_refused():
    with pytest.raises(KnobError, match="contexts must be 1, 2 or 4"):
        replace(tiny_knobs(), streams=3, contexts=2)
    with pytest.raises(KnobError, match="contexts must be 1, 2 or 4"):
        replace(tiny_knobs(), streams=3, contexts=3)
    with pytest.raises(ChainError, match="--contexts 2 with --chips 2"):
        check_chain_knobs(random_int_model(seed=1), replace(tiny_knobs(), streams=2, contexts=2), 2)


def test_the_server_serves_concurrent_requests_on_both_contexts(design, monkeypatch):
    """`hardwire serve` on the contexts build, the official openai client: four concurrent streamed
    requests (two with the adapter, two sampled) each equal the golden model alone, and the simulated
    clock ran while both contexts computed."""
    pytest.importorskip("openai")
    pytest.importorskip("uvicorn")
    import time

    from host.device import Device
    from host.server import create_app
    from host.sim_transport import SimTransport
    from tests.host_fakes import golden_reply
    from tests.test_server import running_server, tiny_tokenizer

    model, sim = design
    adapters = random_adapters(model.config, ("wq", "w3"), TINY_LORA_RANK, seed=12)
    dev = Device(SimTransport(sim.build_dir, session=sim), tokenizer=tiny_tokenizer(model.config.vocab_size))
    app = create_app(dev, {"lora": adapters}, model_name="base")
    prompt = [1, 5, 9, 2]
    cases = [("base", 0.0, 0, 1), ("lora", 0.9, 4, 2), ("base", 1.0, 8, 3), ("lora", 0.0, 0, 4)]
    results = {}

    def one(client, i, name, temp, k, seed):
        stream = client.completions.create(model=name, prompt=prompt, max_tokens=10, temperature=temp, seed=seed,
                                           stream=True, extra_body={"top_k": k, "return_token_ids": True})
        results[i] = [t for ch in stream for x in ch.choices for t in x.model_extra.get("token_ids", [])]

    watch = ClockWatch(dev, monkeypatch)
    with running_server(app, timeout=300) as client:
        threads = [threading.Thread(target=one, args=(client, i, *case)) for i, case in enumerate(cases)]
        try:
            with dev._streams.exclusive():      # the four requests queue, then the workers start together
                for t in threads:
                    t.start()
                time.sleep(1.0)
            for t in threads:
                t.join(timeout=600)
        finally:
            watch.close()
    for i, (name, temp, k, seed) in enumerate(cases):
        want = golden_reply(model, adapters if name == "lora" else None, prompt, 10, 16, 16, temp, k, seed)
        assert results[i] == want, (i, name)
    assert max(watch.busy, default=0) == CONTEXTS     # the clock ran with both contexts busy
