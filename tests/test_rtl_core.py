"""The whole accelerator (hw_core + the generated top) in Verilator vs the golden model.

Every check is exact: token ids, int24 logits, the int16 residual, the
int8 vectors of the last layer and the KV cache of every layer, read back
through the core's debug window (docs/register_map.md). Three designs, each
verilated once (hw/sim/build.py caches the binary by content):

* tiny: a random IntModel with awkward sizes (head_dim 8, 3 query heads on one
  KV head, rows not a multiple of the 5 lanes), LoRA rank 3 on all seven
  projections, context 16 - registers, errors, context limit, reset, abort;
* default: models/default quantized, 16 lanes x 8 LUT MACs, two attention
  engines (one per kv head), context 80, LoRA on wq, wv, w2;
* stories260K: the external llama2.c model (skipped when ../shared/models is
  absent), 16 lanes x 4 DSP MACs, eight attention engines (one per query head:
  the two engines of a kv head share its KV cache bank), context 96, LoRA on
  wk, wo, w1, w3.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hw.golden import LORA_TARGETS, GoldenModel
from hw.rtlgen import GEN_VERSION_WORD
from hw.rtlgen.fixture import TINY_LORA_RANK, TINY_STREAMS, random_adapters, random_int_model, tiny_knobs
from hw.rtlgen.generate import generate
from hw.rtlgen.knobs import Knobs
from hw.sim import regs
from hw.sim.lora_image import image_words, lora_image
from hw.sim.session import SimError, SimSession

pytestmark = pytest.mark.sim

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "default"
VECTORS = {regs.DBG_RES: "res", regs.DBG_Q: "q", regs.DBG_K: "k", regs.DBG_V: "v",
           regs.DBG_ATT: "att", regs.DBG_H1: "g", regs.DBG_H3: "h3"}


# ---------------------------------------------------------------- helpers

def open_design(int_model, out: Path, knobs: Knobs) -> SimSession:
    generate(int_model, out, knobs)
    return SimSession(out)


def mask_of(targets) -> int:
    return sum(1 << i for i, t in enumerate(LORA_TARGETS) if t in targets)


def check_token_step(sim: SimSession, golden: GoldenModel, token: int) -> None:
    """One forward pass (+ greedy sample) on both; every observable vector equal."""
    pos = golden.pos
    trace: dict = {}
    logits = golden.forward(token, trace=trace)
    want, _ = golden.sample(logits, 0, 0, 0)
    assert sim.generate([token], 1) == [want], f"token at position {pos}"
    last = golden.cfg.n_layers - 1
    np.testing.assert_array_equal(sim.logits(), logits, err_msg=f"logits at position {pos}")
    np.testing.assert_array_equal(sim.vector(regs.DBG_XN), trace[("xc", None)], err_msg=f"xc at {pos}")
    for region, name in VECTORS.items():
        np.testing.assert_array_equal(sim.vector(region), trace[(name, last)], err_msg=f"{name} at {pos}")
    for layer in range(golden.cfg.n_layers):
        k, v = sim.kv_cache(layer, pos)
        np.testing.assert_array_equal(k.reshape(-1), trace[("k", layer)], err_msg=f"K cache {layer}/{pos}")
        np.testing.assert_array_equal(v.reshape(-1), trace[("v", layer)], err_msg=f"V cache {layer}/{pos}")


def fresh(sim: SimSession, golden: GoldenModel) -> None:
    sim.reset_state()
    golden.reset()
    assert sim.position() == 0


# ---------------------------------------------------------------- tiny random model

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model = random_int_model(seed=1)
    sim = open_design(model, tmp_path_factory.mktemp("tiny"), tiny_knobs())
    yield model, sim, GoldenModel(model)
    sim.close()


def test_identity_block(tiny):
    model, sim, _ = tiny
    cfg = model.config
    ident = sim.identity()
    assert sim.read(regs.MAGIC) == regs.MAGIC_VALUE
    assert ident["fingerprint"] == model.fingerprint
    assert (ident["dim"], ident["hidden"], ident["layers"], ident["heads"], ident["kv_heads"], ident["vocab"]) == \
        (cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size)
    assert (ident["context"], ident["lanes"], ident["vpl"], ident["k_max"]) == (16, 5, 4, 16)
    assert ident["bits"] == model.knobs["bits"]
    assert ident["lora_rank"] == TINY_LORA_RANK and ident["lora_targets"] == 0x7F
    assert ident["lora_words"] == image_words(cfg, TINY_LORA_RANK, 0x7F)
    assert ident["gen_version"] == GEN_VERSION_WORD
    assert ident["prompt_depth"] >= 16 and ident["out_depth"] >= 2


def test_registers_read_back_and_ignore_bad_writes(tiny):
    _, sim, _ = tiny
    values = {regs.PROMPT_LEN: 7, regs.MAX_NEW: 0x12345678, regs.INV_TEMP_Q8: 0xBEEF, regs.TOP_K: 5,
              regs.SEED: 0xDEADBEEF, regs.STOP_TOKEN: 42, regs.DBG_ADDR: 0x10000003}
    for addr, v in values.items():
        sim.write(addr, v)
    assert sim.reads(list(values)) == list(values.values())
    sim.write(regs.INV_TEMP_Q8, 0x12345)                  # 16-bit register
    assert sim.read(regs.INV_TEMP_Q8) == 0x2345
    sim.write(regs.DIM, 999)                              # read-only: ignored
    sim.write(regs.MAGIC, 0)
    assert sim.read(regs.DIM) == 24 and sim.read(regs.MAGIC) == regs.MAGIC_VALUE
    assert sim.reads([regs.CONTROL, 0x7F, 0xFF]) == [0, 0, 0]
    assert sim.read(regs.TOKEN_POP) == 0                  # empty FIFO: valid bit clear
    sim.write(regs.STOP_TOKEN, regs.STOP_NONE)


def test_every_vector_matches_golden_over_the_whole_context(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    rng = np.random.default_rng(3)
    for tok in rng.integers(0, golden.cfg.vocab_size, size=golden.context):
        check_token_step(sim, golden, int(tok))
    assert sim.position() == golden.context


@pytest.mark.parametrize("temperature, top_k, seed", [(0.0, 0, 0), (1.0, 0, 7), (0.7, 3, 11), (1.6, 100, 5),
                                                      (1.0, 1, 2)])
def test_generation_matches_golden(tiny, temperature, top_k, seed):
    _, sim, golden = tiny
    fresh(sim, golden)
    prompt = [1, 9, 30]
    want = list(golden.generate(prompt, 12, temperature=temperature, top_k=top_k, seed=seed))
    events = list(sim.stream(prompt, 12, temperature=temperature, top_k=top_k, seed=seed))
    assert [e.token for e in events] == want
    assert sim.position() == golden.pos == len(prompt) + len(want) - 1
    assert sim.read(regs.TOKENS_DONE) == len(want)
    assert all(e.cycles > 0 for e in events)
    assert sim.status() == regs.ST_DONE


def test_stop_token_ends_generation(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    first = list(golden.generate([1, 4], 8))
    stop = first[3]
    cut = first[:first.index(stop) + 1]
    fresh(sim, golden)
    assert list(golden.generate([1, 4], 8, stop_token=stop)) == cut
    assert sim.generate([1, 4], 8, stop_token=stop) == cut


def test_prompt_filling_the_context_then_context_error(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    prompt = [int(t) for t in np.random.default_rng(8).integers(0, golden.cfg.vocab_size, golden.context)]
    want = list(golden.generate(prompt, 5))
    assert len(want) == 1                                  # context full: one token, not fed back
    assert sim.generate(prompt, 5) == want
    assert sim.position() == golden.context
    with pytest.raises(SimError, match="ERR_CONTEXT"):
        sim.generate([3], 1)
    assert not sim.status() & regs.ST_BUSY


def test_generation_stops_at_the_context_limit(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    want = list(golden.generate([1, 2, 3], 40))
    assert len(want) == golden.context - 3 + 1
    assert sim.generate([1, 2, 3], 40) == want


def test_run_continues_at_position(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    a = list(golden.generate([1, 17], 4))
    b = list(golden.generate([a[-1]], 5, temperature=1.0, seed=9))
    assert sim.generate([1, 17], 4) == a
    assert sim.generate([a[-1]], 5, temperature=1.0, seed=9) == b


def test_start_errors(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    with pytest.raises(SimError, match="ERR_PROMPT"):
        sim.generate([], 3)
    # a token outside the vocabulary ends the run after the good ones
    with pytest.raises(SimError, match="ERR_TOKEN"):
        sim.generate([1, 5, golden.cfg.vocab_size, 6], 3)
    assert sim.position() == 2
    assert sim.read(regs.PROMPT_PUSH) == 0               # the rest of the prompt was dropped
    # pushing into a full prompt FIFO
    depth = sim.ident["prompt_depth"]
    sim.commands([f"W {regs.PROMPT_PUSH} 1"] * (depth + 2))
    st = sim.status()
    assert st & regs.ST_PROMPT_FULL and st & regs.ST_ERR_OVERFLOW
    assert sim.read(regs.PROMPT_PUSH) == depth
    sim.reset_state()
    assert sim.status() == 0 and sim.read(regs.PROMPT_PUSH) == 0 and sim.position() == 0


def test_reset_in_the_middle_of_generation(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    sim.start([1, 6, 11], 12, temperature=1.0, seed=4)
    got = []
    while len(got) < 3:
        _, _, avail = sim.run()
        if avail:
            got.append(sim.read(regs.TOKEN_POP) & 0xFFFF)
    assert sim.status() & regs.ST_BUSY
    sim.reset_state()
    st = sim.status()
    assert not st & (regs.ST_BUSY | regs.ST_TOKEN_AVAIL | regs.ST_DONE)
    assert sim.position() == 0
    want = list(golden.generate([1, 6, 11], 12, temperature=1.0, seed=4))
    assert got == want[:3]
    golden.reset()
    assert sim.generate([2, 8], 6) == list(golden.generate([2, 8], 6))


def window(sim: SimSession, n: int = 32) -> list[int]:
    return sim.reads([regs.TOKEN_WINDOW + i for i in range(n)])


def test_numbered_token_read_keeps_tokens_until_acknowledged(tiny):
    """TOKEN_WINDOW reads token TOKEN_ACK + i with its number, without a side effect; TOKEN_ACK
    frees tokens (values outside TOKEN_ACK..TOKEN_COUNT are ignored); TOKEN_POP reads word 0 and
    acknowledges it; RESET_STATE numbers from 0 again."""
    _, sim, golden = tiny
    fresh(sim, golden)
    want = list(golden.generate([1, 4], 10, temperature=1.0, seed=3))
    sim.start([1, 4], 10, temperature=1.0, seed=3)
    for _ in range(100):
        if not sim.status() & regs.ST_BUSY:
            break
        sim.tick(2000)
    assert not sim.status() & regs.ST_BUSY
    assert sim.reads([regs.TOKEN_ACK, regs.TOKEN_COUNT, regs.TOKENS_DONE]) == [0, 10, 10]
    first = window(sim)
    assert first == [1 << 31 | i << 16 | t for i, t in enumerate(want)] + [0] * 22
    assert window(sim) == first                           # reading again: the same words
    sim.write(regs.TOKEN_ACK, 4)
    assert sim.read(regs.TOKEN_ACK) == 4 and window(sim, 7) == first[4:10] + [0]
    for stale in (3, 11, 0xFFFFFFFF):                     # below TOKEN_ACK, past TOKEN_COUNT: ignored
        sim.write(regs.TOKEN_ACK, stale)
        assert sim.read(regs.TOKEN_ACK) == 4
    assert sim.read(regs.TOKEN_POP) == first[4]           # pops = reads word 0 and acknowledges it
    assert sim.read(regs.TOKEN_ACK) == 5 and sim.read(regs.TOKEN_WINDOW) == first[5]
    assert sim.status() & regs.ST_TOKEN_AVAIL
    sim.write(regs.TOKEN_ACK, 10)
    assert not sim.status() & regs.ST_TOKEN_AVAIL
    assert window(sim, 2) == [0, 0] and sim.read(regs.TOKEN_POP) == 0
    assert sim.reads([regs.TOKEN_ACK, regs.TOKEN_COUNT]) == [10, 10]
    # a second run continues the numbers; RESET_STATE starts them again at 0
    b = list(golden.generate([want[-1]], 3))
    assert sim.generate([want[-1]], 3) == b
    assert sim.reads([regs.TOKEN_ACK, regs.TOKEN_COUNT]) == [13, 13]
    sim.reset_state()
    assert sim.reads([regs.TOKEN_ACK, regs.TOKEN_COUNT, regs.TOKEN_WINDOW]) == [0, 0, 0]


def test_abort_keeps_completed_positions(tiny):
    _, sim, golden = tiny
    fresh(sim, golden)
    prompt = [1, 3, 5, 7, 9, 11, 13]
    sim.start(prompt, 4)
    sim.tick(1200 * 3)                                      # about three forward passes
    sim.abort()
    st = sim.status()
    assert not st & regs.ST_BUSY and st & regs.ST_DONE
    pos = sim.position()
    assert 1 <= pos < len(prompt)
    for tok in prompt[:pos]:
        golden.forward(tok)
    assert sim.generate([20], 5) == list(golden.generate([20], 5))


def test_an_abort_in_any_cycle_leaves_no_unit_running(tiny):
    """ABORT lands in every cycle of a run in turn; after it and RESET_STATE the next run gives
    the golden token and logits. The sequencer registers the units' start pulses (rmsnorm,
    LoRA, sampler): an ABORT in the one cycle that set one reset the unit, which then took the
    pulse and ran for a run that was gone, and still ran when the next one started (RESET_STATE
    resets no unit while idle): that run's first rmsnorm used the aborted pass's gains, and its
    tokens were wrong with no error (tests/test_host_e2e_uart.py "usable after an early stop",
    a host's gen.close() a cycle earlier or later passing)."""
    model, sim, golden = tiny
    words = lora_image(model.config, TINY_LORA_RANK, 0x7F, {})     # all zero: the base model,
    sim.write_lora(words, enable=True)                              # with every LoRA pass run
    try:
        fresh(sim, golden)
        prompt = [1]                    # one forward pass: the embedding, every rmsnorm, the
        want_logits = golden.forward(1)     # LoRA passes, the classifier and the sampler
        want, _ = golden.sample(want_logits, 0, 0, 0)
        want = [want]
        sim.reset_state()
        c0 = sim.cycle_count()
        assert sim.generate(prompt, 1) == want
        cycles = sim.cycle_count() - c0
        stop = [f"W {regs.CONTROL} {regs.CTRL_ABORT}", f"W {regs.CONTROL} {regs.CTRL_RESET_STATE}"]
        bad = []
        for n in range(cycles):
            sim.reset_state()
            sim.start(prompt, 1)
            sim.commands([f"T {n}", *stop])
            got = sim.generate(prompt, 1)
            if got != want or not np.array_equal(sim.logits(), want_logits):
                bad.append((n, got))
        assert not bad, f"runs after an ABORT {len(bad)} of {cycles} cycles into a run differ: {bad[:8]}"
    finally:
        sim.write_lora(words, enable=False)


def test_lora_on_every_projection_then_off(tiny):
    model, sim, golden = tiny
    cfg = model.config
    adapters = random_adapters(cfg, LORA_TARGETS, TINY_LORA_RANK, seed=5)
    words = lora_image(cfg, TINY_LORA_RANK, 0x7F, adapters)
    fresh(sim, golden)
    sim.write_lora(words)
    np.testing.assert_array_equal(sim.debug_read(regs.DBG_LORA, list(range(len(words)))) & 0xFFFFFFFF, words)
    for key, ad in adapters.items():
        golden.set_lora(*key, ad)
    try:
        for tok in (1, 5, 7, 30, 2):
            check_token_step(sim, golden, tok)
        fresh(sim, golden)
        assert sim.generate([1, 5], 10, temperature=1.0, seed=3) == \
            list(golden.generate([1, 5], 10, temperature=1.0, seed=3))
    finally:
        golden.clear_lora()
    # an all-zero LoRA memory is the base model again
    sim.write_lora([0] * len(words))
    fresh(sim, golden)
    base = list(golden.generate([1, 5], 10))
    assert sim.generate([1, 5], 10) == base


def test_streams_keep_their_own_context_and_sampler(tiny):
    """Three streams run in interleaved chunks (START per chunk, the sampler resumed from
    RNG_STATE, the last token fed back as the next chunk's prompt), one started late and one
    reset mid-way for a new prompt: each stream's tokens, sampled ones included, and its KV
    cache equal the golden model's for that stream alone; POSITION reads the selected one."""
    model, sim, _ = tiny
    assert sim.ident["streams"] == TINY_STREAMS == 3
    # (prompt, tokens, temperature, top_k, seed) per request; stream 1 gets a second one after a reset
    requests = {0: ([1, 5, 7], 9, 0.0, 0, 0), 1: ([2, 9], 12, 1.0, 0, 3), 2: ([1, 30, 4, 4], 8, 0.8, 5, 9)}
    second = ([3, 3], 7, 1.0, 4, 11)
    want = {s: list(GoldenModel(model).generate(r[0], r[1], r[2], r[3], r[4])) for s, r in requests.items()}
    want_second = list(GoldenModel(model).generate(second[0], second[1], second[2], second[3], second[4]))
    got = {s: [] for s in requests}
    state = {s: r[4] for s, r in requests.items()}
    chunks = {0: 2, 1: 3, 2: 4}
    schedule = [0, 1, 0, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 0, 1, 2, 1]
    for s in requests:
        sim.select_stream(s)
        sim.reset_state()
    for step, s in enumerate(schedule):
        prompt, total, temp, top_k, _ = requests[s]
        if len(got[s]) >= total:
            continue
        sim.select_stream(s)
        feed = prompt if not got[s] else [got[s][-1]]
        n = min(chunks[s], total - len(got[s]))
        got[s] += sim.generate(feed, n, temperature=temp, top_k=top_k, seed=state[s])
        state[s] = sim.read(regs.RNG_STATE)
        if s == 1 and step == 6:                       # stream 1: its first request is cut short
            assert 0 < len(got[1]) < requests[1][1] and got[1] == want[1][:len(got[1])]
            sim.reset_state()
            assert sim.position() == 0
            requests[1], got[1], state[1], want[1] = second, [], second[4], want_second
    assert got == want
    for s, (prompt, total, *_rest) in requests.items():
        sim.select_stream(s)
        assert sim.position() == len(prompt) + total - 1
    # the KV cache of each stream is that stream's alone
    for s, (prompt, total, *_rest) in requests.items():
        golden = GoldenModel(model)
        for tok in (prompt + want[s])[:-1]:
            golden.forward(tok)
        for layer in range(model.config.n_layers):
            for pos in range(golden.pos):
                k, v = sim.kv_cache(layer, pos, stream=s)
                np.testing.assert_array_equal(k, golden.key_cache[layer, pos], err_msg=f"K {s}/{layer}/{pos}")
                np.testing.assert_array_equal(v, golden.value_cache[layer, pos], err_msg=f"V {s}/{layer}/{pos}")
    sim.select_stream(0)
    sim.write(regs.STREAM_SEL, TINY_STREAMS)           # out of range: ignored
    assert sim.read(regs.STREAM_SEL) == 0


def test_each_stream_runs_the_adapter_in_its_own_slot(tiny):
    """A LoRA slot per stream (slot s from word s * LORA_WORDS) and LORA_ENABLE bit s: stream 0 the
    base model, streams 1 and 2 two different adapters, interleaved; each equals its golden model."""
    model, sim, golden = tiny
    cfg = model.config
    words = sim.ident["lora_words"]
    adapters = {1: random_adapters(cfg, ("wq", "w2"), TINY_LORA_RANK, seed=8),
                2: random_adapters(cfg, ("wv", "w1"), TINY_LORA_RANK, seed=9)}
    for s, ad in adapters.items():
        sim.write_lora(lora_image(cfg, TINY_LORA_RANK, 0x7F, ad), base=s * words, enable=False)
    sim.write(regs.LORA_ENABLE, 0b110)
    want = {0: list(GoldenModel(model).generate([1, 5], 6))}
    for s, ad in adapters.items():
        g = GoldenModel(model)
        for key, a in ad.items():
            g.set_lora(*key, a)
        want[s] = list(g.generate([1, 5], 6))
    assert len({tuple(w) for w in want.values()}) == 3          # three different outputs
    got = {s: [] for s in want}
    try:
        for s in want:
            sim.select_stream(s)
            sim.reset_state()
        for _ in range(3):                                      # chunks of 2, in turns
            for s in want:
                sim.select_stream(s)
                got[s] += sim.generate([1, 5] if not got[s] else [got[s][-1]], 2)
        assert got == want
    finally:
        sim.write_lora([0] * TINY_STREAMS * words, enable=False)
        sim.select_stream(0)
        sim.reset_state()


@pytest.mark.parametrize("init_seed", [7, 99])
def test_power_up_values_do_not_matter(tiny, init_seed):
    """Registers without a reset (and RAM contents) start random in every session; the
    LoRA memory powers up all zero (the base model)."""
    model, sim, _ = tiny
    golden = GoldenModel(model)
    with SimSession(sim.build_dir, init_seed=init_seed) as other:
        assert other.generate([1, 9], 8, temperature=1.0, seed=5) == \
            list(golden.generate([1, 9], 8, temperature=1.0, seed=5))


def qk16_model():
    """The tiny model with int16 queries and keys (knobs qk_bits 16), their requantization 2**7 finer so
    that q and k use the wide range (and saturate at 16 bits now and then)."""
    model = random_int_model(seed=2)
    model.knobs["qk_bits"] = 16
    for name in ("wq_sh", "wk_sh"):
        model.arrays[name] = np.maximum(model.arrays[name] - 7, 1)
    return model


@pytest.mark.parametrize("macs", ["dsp", "lut"])
def test_int16_queries_and_keys_match_golden(macs, tmp_path):
    """qk_bits 16 (hardwire quantize --qk-bits 16): q, k, RoPE and the key cache at 16 bits, the score
    (q . k) >> 16; every vector, the KV cache and the logits equal the golden model's over the whole
    context, with the q . k products from multipliers and from LUT bit planes (16 planes of int16)."""
    model = qk16_model()
    golden = GoldenModel(model)
    knobs = Knobs(lanes=5, values_per_lane=4, attention_positions=2, macs=macs,
                  lora_rank=2, lora_targets=("wq", "wk"))
    sim = open_design(model, tmp_path / f"qk16{macs}", knobs)
    try:
        assert "QKW(16)" in (sim.build_dir / "rtl" / "hardwire_top.v").read_text().replace(" ", "")
        rng = np.random.default_rng(5)
        wide = 0
        for tok in rng.integers(0, golden.cfg.vocab_size, size=golden.context):
            check_token_step(sim, golden, int(tok))
            wide += int(np.abs(sim.kv_cache(0, golden.pos - 1)[0]).max() > 127)
        assert wide > 0                                         # keys past int8's range reach the cache
        # LoRA deltas on q and k, added before the 16-bit saturation
        adapters = random_adapters(model.config, ("wq", "wk"), 2, seed=3)
        sim.write_lora(lora_image(model.config, 2, mask_of(("wq", "wk")), adapters))
        for key, ad in adapters.items():
            golden.set_lora(*key, ad)
        fresh(sim, golden)
        for tok in (1, 5, 7):
            check_token_step(sim, golden, tok)
        fresh(sim, golden)
        kw = {"temperature": 1.0, "seed": 9}
        assert sim.generate([1, 4], 10, **kw) == list(golden.generate([1, 4], 10, **kw))
    finally:
        sim.close()


@pytest.mark.parametrize("bits,vpl,dsp", [({"embedding": 4, "attention": 3, "mlp": 4, "classifier": 4}, 6, 3),
                                          ({}, 4, 2)], ids=["packed", "one-per-product"])
def test_dsp_values_in_lut_lanes_match_golden(bits, vpl, dsp, tmp_path):
    """--dsp-values: each LUT MAC lane's last values on multipliers (hw_mac_pack). With every class at
    4 bits or fewer two neighbouring lanes share each multiplier (5 lanes: the last one alone; 3 values:
    the last group one product); with the tiny model's 8-bit classes one multiplier per product. Tokens,
    logits, every vector and the KV cache equal the golden model's over the whole context, then with
    LoRA on a sampled run. (The packing's widest products, x = -128 by any weight, are checked
    exhaustively in tests/test_rtl_units.py.)"""
    model = random_int_model(seed=4, bits=bits)
    golden = GoldenModel(model)
    knobs = Knobs(lanes=5, values_per_lane=vpl, dsp_values=dsp, macs="lut", lora_rank=2, lora_targets=("wo", "w1"))
    sim = open_design(model, tmp_path / "dspv", knobs)
    try:
        top = (sim.build_dir / "rtl" / "hardwire_top.v").read_text().replace(" ", "")
        assert f".MAC_DSP_V({dsp})" in top
        rng = np.random.default_rng(6)
        for tok in rng.integers(0, golden.cfg.vocab_size, size=golden.context):
            check_token_step(sim, golden, int(tok))
        adapters = random_adapters(model.config, ("wo", "w1"), 2, seed=3)
        sim.write_lora(lora_image(model.config, 2, mask_of(("wo", "w1")), adapters))
        for key, ad in adapters.items():
            golden.set_lora(*key, ad)
        fresh(sim, golden)
        kw = {"temperature": 1.0, "seed": 9}
        assert sim.generate([1, 4], 12, **kw) == list(golden.generate([1, 4], 12, **kw))
    finally:
        sim.close()


def test_debug_vectors_off_reads_zero_and_computes_the_same(tmp_path):
    """A board build (--debug-vectors off): the buffer regions of the debug window read 0, the logits and
    KV cache regions still read back, and the tokens and logits equal the golden model's.

    Its weights are 2-bit (ternary) attention, 3-bit MLP and 6-bit classifier, each class in its own
    lane ROM at its own width, with LUT MACs (the tiny design covers 4/5/8 bits with multipliers)."""
    model = random_int_model(seed=1, bits={"embedding": 5, "attention": 2, "mlp": 3, "classifier": 6})
    assert np.abs(model["wq"]).max() == 1                      # ternary: -1, 0, 1
    golden = GoldenModel(model)
    knobs = Knobs(lanes=5, values_per_lane=4, debug_vectors=False, macs="lut")
    sim = open_design(model, tmp_path / "nodbg", knobs)
    try:
        roms = sim.build_dir / "rom"
        assert {"lane_004.hex", "lane_004_g1.hex", "lane_004_g2.hex"} <= {p.name for p in roms.glob("*.hex")}
        assert "4 x 2-bit weights" in (roms / "lane_004.hex").read_text()
        for token in (1, 7, 3):
            pos = golden.pos
            trace: dict = {}
            logits = golden.forward(token, trace=trace)
            want, _ = golden.sample(logits, 0, 0, 0)
            assert sim.generate([token], 1) == [want]
            np.testing.assert_array_equal(sim.logits(), logits)
            k, _ = sim.kv_cache(0, pos)
            np.testing.assert_array_equal(k.reshape(-1), trace[("k", 0)])
            for region in (regs.DBG_RES, regs.DBG_XN, *VECTORS):
                assert not sim.vector(region).any(), region
            assert trace[("res", golden.cfg.n_layers - 1)].any()     # what the window would have shown
    finally:
        sim.close()


def test_waveform(tiny, tmp_path):
    from hw.sim.build import trace_format

    path = tmp_path / f"wave.{trace_format()}"
    with SimSession(tiny[1].build_dir, trace=path) as sim:
        assert sim.generate([1], 1)
    assert path.stat().st_size > 10_000
    with pytest.raises(SimError, match="writes"):
        SimSession(tiny[1].build_dir, trace=tmp_path / "wave.txt")


# ---------------------------------------------------------------- the default model

DEFAULT_LORA = ("wq", "wv", "w2")


def quantized(path: Path):
    from hw.calibrate import calibrate_model
    from hw.frontend.llama2c import load_llama2c
    from hw.quantize import quantize

    fm = load_llama2c(path)
    return fm, quantize(fm, calibrate_model(fm, "generate"), source=str(path))


def float_adapters(fm, im, targets, rank: int, seed: int) -> dict:
    from hw.lora import lora_from_float

    rng = np.random.default_rng(seed)
    out = {}
    for layer in range(fm.config.n_layers):
        for t in targets:
            n_out, n_in = fm[t][layer].shape
            a = rng.standard_normal((rank, n_in)) / np.sqrt(n_in)
            b = rng.standard_normal((n_out, rank)) * 0.5 * np.abs(fm[t][layer]).mean()
            out[(layer, t)] = lora_from_float(im, layer, t, a, b, alpha=2.0 * rank)
    return out


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    if not (DEFAULT_MODEL / "model.bin").is_file():
        pytest.skip("models/default is not built")
    fm, im = quantized(DEFAULT_MODEL / "model.bin")
    # LUT MACs (bit planes in the lanes and in the attention engines' q . k), two engines
    # and four KV cache positions per cycle
    knobs = Knobs(lanes=16, values_per_lane=8, context=80, lora_rank=4, lora_targets=DEFAULT_LORA, macs="lut",
                  attention_positions=4)
    sim = open_design(im, tmp_path_factory.mktemp("default"), knobs)
    yield fm, im, sim
    sim.close()


def prompt_ids(n: int | None = None) -> list[int]:
    """'Once upon a time' in the default model's tokens (BOS first)."""
    from hw.tokenizer import Tokenizer

    tok = Tokenizer.load(DEFAULT_MODEL / "tokenizer.bin")
    return tok.encode("Once upon a time")[:n]


def test_default_model_vectors_and_64_tokens(default):
    fm, im, sim = default
    golden = GoldenModel(im, context=80)
    fresh(sim, golden)
    for tok in prompt_ids(4):
        check_token_step(sim, golden, tok)
    fresh(sim, golden)
    prompt = prompt_ids()
    for kw in ({}, {"temperature": 0.9, "top_k": 8, "seed": 42}):
        fresh(sim, golden)
        want = list(golden.generate(prompt, 64, **kw))
        events = list(sim.stream(prompt, 64, **kw))
        assert [e.token for e in events] == want
        assert len(want) == 64
    cycles = events[-1].cycles
    assert 1500 < cycles < 4000, cycles                    # ~2.7k at position 68: 16 x 8 LUT MACs, LoRA off


def test_default_model_fills_the_context_and_backpressure(default):
    _, im, sim = default
    golden = GoldenModel(im, context=80)
    fresh(sim, golden)
    prompt = [int(t) for t in np.random.default_rng(1).integers(0, im.config.vocab_size, 80)]
    want = list(golden.generate(prompt, 3))
    assert sim.generate(prompt, 3) == want and len(want) == 1
    # more tokens than the output FIFO holds: the core waits until the host pops
    fresh(sim, golden)
    depth = sim.ident["out_depth"]
    sim.start([1], depth + 6)
    sim.tick(12_000 * (depth + 3))
    assert sim.status() & regs.ST_BUSY
    assert sim.read(regs.TOKENS_DONE) == depth
    got = [e.token for e in sim.events()]
    assert got == list(golden.generate([1], depth + 6))


def test_default_model_lora_on_and_off(default):
    fm, im, sim = default
    golden = GoldenModel(im, context=80)
    adapters = float_adapters(fm, im, DEFAULT_LORA, rank=4, seed=2)
    prompt = prompt_ids()
    fresh(sim, golden)
    base = list(golden.generate(prompt, 64))
    sim.write_lora(lora_image(im.config, 4, mask_of(DEFAULT_LORA), adapters))
    for key, ad in adapters.items():
        golden.set_lora(*key, ad)
    try:
        fresh(sim, golden)
        check_token_step(sim, golden, prompt[0])
        fresh(sim, golden)
        with_lora = list(golden.generate(prompt, 64))
        assert with_lora != base                           # the adapter changes the text
        assert sim.generate(prompt, 64) == with_lora
    finally:
        golden.clear_lora()
    sim.write_lora([0] * sim.ident["lora_words"])
    fresh(sim, golden)
    assert sim.generate(prompt, 64) == base


def test_default_model_lora_enable_off_skips_the_passes(default):
    """An adapter resident with LORA_ENABLE off: the base model's tokens, with each token's
    cycles fewer by the estimate's LoRA term (the sequencer's no-LoRA path)."""
    fm, im, sim = default
    golden = GoldenModel(im, context=80)
    image = lora_image(im.config, 4, mask_of(DEFAULT_LORA), float_adapters(fm, im, DEFAULT_LORA, rank=4, seed=2))
    prompt = prompt_ids()
    fresh(sim, golden)
    base = list(golden.generate(prompt, 16))
    cycles = {}
    for enable in (True, False):
        sim.write_lora(image, enable=enable)
        assert sim.read(regs.LORA_ENABLE) == int(enable)
        fresh(sim, golden)
        events = list(sim.stream(prompt, 16))
        cycles[enable] = [e.cycles for e in events]
        if not enable:
            assert [e.token for e in events] == base
    est = json.loads((sim.build_dir / "build.json").read_text())["estimate"]
    saved = [on - off for on, off in zip(cycles[True], cycles[False])]
    assert all(abs(d - est["lora_cycles"]) <= 0.05 * est["lora_cycles"] for d in saved), (saved, est["lora_cycles"])
    sim.write_lora([0] * sim.ident["lora_words"], enable=False)


def test_cli_sim_streams_text(default, capsys):
    """`hardwire sim` on a build folder: llama2.c-style text, then the speed at 100 MHz."""
    from hw.cli import main

    _, im, sim = default
    golden = GoldenModel(im, context=80)
    prompt = prompt_ids()
    want = list(golden.generate(prompt, 12, stop_token=1))
    assert main(["sim", "--model", str(sim.build_dir), "--prompt", "Once upon a time", "--steps", "12"]) == 0
    out, err = capsys.readouterr()
    from hw.tokenizer import Tokenizer
    tok = Tokenizer.load(DEFAULT_MODEL / "tokenizer.bin")
    text = tok.decode_all(prompt[1:], prev_token=prompt[0])
    text += tok.decode_all([t for t in want if t != 1], prev_token=prompt[-1])
    assert out == text + "\n"
    assert "cycles/token" in err and "tokens/s at 100 MHz" in err


def test_cli_sim_with_token_ids(tiny, capsys):
    from hw.cli import main

    model, sim, _ = tiny
    golden = GoldenModel(model)
    want = list(golden.generate([1, 5], 4, stop_token=1))
    assert main(["sim", "--model", str(sim.build_dir), "--prompt-ids", "1 5", "--steps", "4",
                 "--clock-mhz", "50"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == [str(t) for t in want if t != 1]
    assert "at 50 MHz" in err


# ---------------------------------------------------------------- the external stories260K model

STORIES_LORA = ("wk", "wo", "w1", "w3")


@pytest.fixture(scope="module")
def stories(shared_models, tmp_path_factory, reference):
    fm, im = quantized(shared_models / "stories260K.bin")
    knobs = Knobs(lanes=16, values_per_lane=4, context=96, lora_rank=2, lora_targets=STORIES_LORA,
                  attention_engines=8)
    sim = open_design(im, tmp_path_factory.mktemp("stories"), knobs)
    runs, _ = reference
    yield fm, im, sim, runs[0]["prompt_tokens"]
    sim.close()


def test_stories260k_bit_exact_64_tokens(stories):
    _, im, sim, prompt = stories
    golden = GoldenModel(im, context=96)
    fresh(sim, golden)
    for tok in prompt[:3]:
        check_token_step(sim, golden, tok)
    for kw in ({}, {"temperature": 1.0, "seed": 1234}, {"temperature": 0.8, "top_k": 4, "seed": 77}):
        fresh(sim, golden)
        want = list(golden.generate(prompt, 64, **kw))
        assert sim.generate(prompt, 64, **kw) == want


def test_stories260k_reset_mid_run_and_lora(stories):
    fm, im, sim, prompt = stories
    golden = GoldenModel(im, context=96)
    fresh(sim, golden)
    sim.start(prompt, 64)
    sim.tick(200_000)
    sim.reset_state()
    assert not sim.status() & regs.ST_BUSY and sim.position() == 0
    adapters = float_adapters(fm, im, STORIES_LORA, rank=2, seed=4)
    sim.write_lora(lora_image(im.config, 2, mask_of(STORIES_LORA), adapters))
    for key, ad in adapters.items():
        golden.set_lora(*key, ad)
    try:
        fresh(sim, golden)
        assert sim.generate(prompt, 64) == list(golden.generate(prompt, 64))
    finally:
        golden.clear_lora()
    sim.write_lora([0] * sim.ident["lora_words"])
    fresh(sim, golden)
    assert sim.generate(prompt, 64) == list(golden.generate(prompt, 64))


# ---------------------------------------------------------------- lint and synthesis

CORE_LINT_CASES = [
    {},                                                     # hw_core's defaults (stories260K-like)
    {"D": 24, "H": 44, "L": 2, "NH": 3, "NKV": 1, "HD": 8, "V": 37, "CTX": 16, "LANES": 5, "VPL": 4,
     "LORA_RANK": 3, "LORA_TARGETS": 127, "ROPE_W": 2, "STREAMS": 3},  # the tiny design, LoRA everywhere
    {"D": 24, "H": 44, "L": 2, "NH": 3, "NKV": 1, "HD": 8, "V": 37, "CTX": 16, "LANES": 5, "VPL": 4,
     "ATT_E": 3, "MAC_LUT": 1, "ATT_P": 2, "EMB_W": 4},     # three engines sharing one KV bank, 2 positions
    {"D": 16, "H": 16, "L": 1, "NH": 1, "NKV": 1, "HD": 16, "V": 20, "CTX": 4, "LANES": 1, "VPL": 1,
     "K_MAX": 1, "LORA_RANK": 1, "LORA_TARGETS": 64, "OUT_DEPTH": 2, "STREAMS": 2},  # degenerate sizes
    {"DBG_VECTORS": 0},                                   # board builds: no buffer reads in the debug window
    {"ATT_P": 8, "ATT_E": 8, "CTX": 96, "EMB_W": 8, "ROPE_W": 2},   # an engine per query head, 8 positions per cycle
]


@pytest.mark.parametrize("params", CORE_LINT_CASES, ids=["defaults", "tiny-lora", "tiny-shared-bank", "degenerate", "no-debug-vectors", "eight-positions"])
def test_core_lint_clean(params):
    from hw.rtlgen.generate import static_sources
    from hw.tools import verilator_lint

    verilator_lint(static_sources(), top="hw_core",
                   args=["-Wall", *(f"-G{k}={v}" for k, v in params.items())])


@pytest.mark.parametrize("qk16", [False, True], ids=["qk8", "qk16"])
def test_generated_top_with_lora_lint_clean(qk16, tmp_path):
    from hw.tools import verilator_lint

    knobs = Knobs(lanes=5, values_per_lane=3, lora_rank=2, lora_targets=("wk", "w2"), macs="lut" if qk16 else "dsp")
    info = generate(qk16_model() if qk16 else random_int_model(seed=2), tmp_path, knobs)
    verilator_lint(info.sources, top="hardwire_top")


@pytest.mark.synth
@pytest.mark.slow
def test_default_design_synthesizes_for_ecp5(tmp_path):
    """Yosys synth_ecp5 of the whole generated top for models/default (about 5 minutes)."""
    import re

    from hw.rtlgen.generate import REPO_ROOT
    from hw.tools import run_yosys

    if not (DEFAULT_MODEL / "model.bin").is_file():
        pytest.skip("models/default is not built")
    _, im = quantized(DEFAULT_MODEL / "model.bin")
    # under the repository: kept between runs for inspection
    out = REPO_ROOT / "testbench" / "sim_build" / "synth_core_default"
    info = generate(im, out, Knobs())
    srcs = " ".join(str(p.resolve()) for p in info.sources)
    log = run_yosys(f"read_verilog -defer {srcs}; synth_ecp5 -top hardwire_top; stat", cwd=out,
                    log="synth.log", timeout=3600)
    stat = log[log.rindex("=== hardwire_top ==="):]
    cells = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+(\S+)$", stat, re.M)}
    print({k: cells.get(k) for k in ("LUT4", "TRELLIS_FF", "DP16KD", "MULT18X18D", "CCU2C")})
    assert not [c for c in cells if c.startswith("$") and c != "$scopeinfo"], cells  # only ECP5 cells
    assert 100 <= cells.get("DP16KD", 0) <= 208                 # lane ROMs, KV cache, tables: fits a 85F
    assert cells.get("LUT4", 0) < 84_000
