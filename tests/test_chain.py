"""A model split over a chain of chips (issue 15, docs/chain.md): the split (hw/rtlgen/chain.py), and
the chain simulated as one device (every chip's hw_core and the hw_chip_link ends between them in
one Verilator model, hw/rtlgen/chain_top.py), bit-exact with the golden model of the whole model:
tokens (greedy and sampled, the seed reaching the last chip), every chip's KV cache, the last chip's
logits, runs that continue, a full context and RESET_STATE.

One Verilator build per chain (2 and 3 chips of a 3-layer tiny model), many checks on each.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from hw.golden import GoldenModel
from hw.rtlgen.attention import kv_debug_index
from hw.rtlgen.chain import (ChainError, chain_cycles, chip_costs, chip_model, generate_chain, layer_arrays,
                             split_layers)
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.knobs import Knobs
from hw.sim import regs
from hw.sim.session import SimSession
from hw.tools import verilator_lint

LAYERS = 3
KNOBS = Knobs(lanes=5, values_per_lane=4)
# the chains in Verilator carry LoRA hardware (off until an adapter is loaded: cycle for cycle the
# no-LoRA path, so every other chain test runs as without it) and two streams (stream 0 unless chosen)
CHAIN_STREAMS = 2
CHAIN_KNOBS = Knobs(lanes=5, values_per_lane=4, lora_rank=2, lora_targets=("wq", "wv", "w2"), streams=CHAIN_STREAMS)
PROMPT = [1, 5, 9, 30]


def model(n_layers: int = LAYERS):
    return random_int_model(seed=1, n_layers=n_layers)


# ---------------------------------------------------------------- the split

@pytest.mark.parametrize("layers,chips", [(3, 2), (3, 3), (5, 2), (5, 3), (6, 4)])
def test_split_is_contiguous_and_balanced(layers, chips):
    m = model(layers)
    ranges = split_layers(m, KNOBS, chips)
    assert len(ranges) == chips
    assert ranges[0].start == 0 and ranges[-1].stop == layers
    assert all(len(r) >= 1 for r in ranges)
    assert all(a.stop == b.start for a, b in zip(ranges, ranges[1:]))
    # the slowest chip is within a layer of an even share of the whole walk
    c = chip_costs(m, KNOBS)
    cost = [len(r) * c.per_layer + c.first * (k == 0) + c.last * (k == chips - 1) for k, r in enumerate(ranges)]
    total = layers * c.per_layer + c.first + c.last
    assert max(cost) <= total / chips + c.per_layer + max(c.first, c.last)


def test_chip_models_partition_the_whole_model():
    m = model(5)
    ranges = [range(0, 2), range(2, 4), range(4, 5)]
    parts = [chip_model(m, ranges, k) for k in range(3)]
    per_layer = layer_arrays(m)
    assert {"wq", "w2_m", "att_gq", "silu"} <= set(per_layer)
    assert not {"emb", "wcls", "final_gq", "rope_cos"} & set(per_layer)
    for name, whole in m.arrays.items():
        if name in per_layer:
            assert np.array_equal(np.concatenate([p.arrays[name] for p in parts]), whole), name
        else:
            assert all(np.array_equal(p.arrays[name], whole) for p in parts), name
    for k, p in enumerate(parts):
        assert p.config.n_layers == len(ranges[k])
        assert p.meta["chain"] == {"index": k, "chips": 3, "layer_base": ranges[k].start, "layers": [0, 2, 4, 5],
                                   "whole_fingerprint": m.fingerprint}
    assert len({p.fingerprint for p in parts} | {m.fingerprint}) == 4


@pytest.mark.parametrize("chips,knobs,words", [
    (4, KNOBS, "3 layers"),
    (1, KNOBS, "leave --chips out"),
    (9, KNOBS, "2 to 8 chips"),
])
def test_a_chain_it_cannot_make_is_refused_by_name(chips, knobs, words):
    with pytest.raises(ChainError, match=words):
        split_layers(model(), knobs, chips)


def test_cli_compile_chips_writes_the_chain_and_each_chip(tmp_path, capsys):
    from hw.cli import main
    m = model()
    m.save(tmp_path / "m.npz")
    main(["compile", str(tmp_path / "m.npz"), "--out", str(tmp_path / "b"), "--lanes", "5", "--vpl", "4",
          "--chips", "2"])
    text = capsys.readouterr().out
    assert "chain of 2 chips" in text and "chip 1: layers 2..2, classifier and sampler" in text
    for k in range(2):
        assert (tmp_path / "b" / f"chip{k}" / "rtl" / "hardwire_top.v").is_file()
        assert (tmp_path / "b" / "rom" / f"chip{k}" / "model.hex").is_file()
    top = (tmp_path / "b" / "rtl" / "hardwire_top.v").read_text()
    assert top.count("hw_core #(") == 2 and top.count("hw_chain_ends #(") == 1 and "for (h = 0; h < CHIPS" in top


# ---------------------------------------------------------------- the chain in Verilator

class Chain:
    """A chain build and its running simulation, with the golden model of the whole model."""

    def __init__(self, path, chips: int):
        self.model = model()
        self.info = generate_chain(self.model, path, CHAIN_KNOBS, chips)
        self.sim = SimSession(path)
        self.chips = chips

    def select(self, k: int) -> None:
        self.sim.write(regs.CHAIN_SEL, k)

    def kv(self, chip: int, layer: int, pos: int):
        """(keys, values) of the chip's local `layer` at `pos`, read through CHAIN_SEL."""
        cfg = self.model.config
        self.select(chip)
        n_layers = self.sim.read(regs.LAYERS)
        idx = kv_debug_index(n_layers, cfg.n_kv_heads, cfg.head_dim, self.sim.ident["context"],
                             self.sim.ident["att_engines"], layer, pos, CHAIN_STREAMS, 0)
        k = self.sim.debug_read(regs.DBG_KCACHE, idx).reshape(cfg.n_kv_heads, cfg.head_dim)
        v = self.sim.debug_read(regs.DBG_VCACHE, idx).reshape(cfg.n_kv_heads, cfg.head_dim)
        self.select(0)
        return k, v


@pytest.fixture(scope="module", params=[2, 3], ids=["2chips", "3chips"])
def chain(request, tmp_path_factory):
    c = Chain(tmp_path_factory.mktemp(f"chain{request.param}"), request.param)
    yield c
    c.sim.close()


@pytest.mark.sim
def test_chain_identity_registers(chain):
    layers = [r.start for r in chain.info.ranges]
    for k in range(chain.chips):
        chain.select(k)
        assert chain.sim.read(regs.CHAIN) == k | chain.chips << 8 | layers[k] << 16
        assert chain.sim.read(regs.LAYERS) == len(chain.info.ranges[k])
        assert chain.sim.read(regs.CHAIN_SEL) & 0xFFFF03FF == k     # selected, no link error bit
    chain.select(0)


@pytest.mark.sim
def test_chain_sel_writes_every_chip_or_only_the_selected_one(chain):
    """Writes reach every chip; with CHAIN_SEL bit 8 only the selected chip; reads come from the selected."""
    sim, last = chain.sim, chain.chips - 1
    sim.write(regs.SEED, 1111)
    sim.write(regs.CHAIN_SEL, last | 1 << 8)
    sim.write(regs.SEED, 2222)
    assert sim.read(regs.SEED) == 2222
    sim.write(regs.CHAIN_SEL, 0)
    assert sim.read(regs.SEED) == 1111
    sim.write(regs.CHAIN_SEL, chain.chips)          # no such chip: the selection stays
    assert sim.read(regs.CHAIN_SEL) & 0xFF == 0
    sim.write(regs.CHAIN_SEL, 0)
    sim.write(regs.SEED, 0)


@pytest.mark.sim
def test_chain_tokens_kv_caches_and_logits_equal_the_golden_model(chain):
    sim, g = chain.sim, GoldenModel(chain.model, context=chain.sim.ident["context"])
    sim.reset_state()
    want = list(g.generate(PROMPT, 6))
    assert sim.generate(PROMPT, 6) == want
    # a second run continues at the position the first left, sampled: the seed reaches the last chip
    more = list(g.generate([want[-1]], 4, temperature=0.8, top_k=5, seed=1234))
    assert sim.generate([want[-1]], 4, temperature=0.8, top_k=5, seed=1234) == more
    pos = len(PROMPT) + len(want) - 1 + 1 + len(more) - 1
    for k, r in enumerate(chain.info.ranges):
        for local, layer in enumerate(r):
            for p in (0, pos // 2, pos - 1):
                kk, vv = chain.kv(k, local, p)
                assert np.array_equal(kk, g.key_cache[layer, p]), (k, layer, p)
                assert np.array_equal(vv, g.value_cache[layer, p]), (k, layer, p)
    # the last chip's logits are those of the last forward pass the golden model ran
    ref = GoldenModel(chain.model, context=g.context)
    for tok in PROMPT + want[:-1] + [want[-1]] + more[:-1]:
        logits = ref.forward(tok)
    chain.select(chain.chips - 1)
    assert np.array_equal(sim.logits(), logits)
    chain.select(0)


@pytest.mark.sim
def test_chain_fills_the_context_and_resets(chain):
    sim, ctx = chain.sim, chain.sim.ident["context"]
    g = GoldenModel(chain.model, context=ctx)
    sim.reset_state()
    want = list(g.generate([1, 2], ctx))            # stops when the context is full
    assert sim.generate([1, 2], ctx) == want
    assert sim.position() == ctx == g.pos
    sim.reset_state()
    assert sim.position() == 0
    g.reset()
    assert sim.generate([1, 7, 3], 5, temperature=1.0, seed=99) == list(g.generate([1, 7, 3], 5, temperature=1.0,
                                                                                     seed=99))


@pytest.mark.sim
def test_chain_link_faults_are_retransmitted_never_turned_into_wrong_tokens(chain):
    """CHAIN_SEL bit 9 glitches every link's wires both ways (hw_chain_wire: flipped data and sof
    lines, added and dropped lclk edges, at random clocks): every run's tokens stay the golden
    model's, none of the links gives up, and within a few runs the glitches have cost
    retransmissions (a glitch on an idle wire costs nothing, so one short run may see none)."""
    sim, faults = chain.sim, 1 << 9

    def retransmissions() -> list[int]:
        words = []
        for k in range(chain.chips):
            sim.write(regs.CHAIN_SEL, faults | k)
            words.append(sim.read(regs.CHAIN_SEL))
        sim.write(regs.CHAIN_SEL, faults)
        assert all(w >> 16 == 0 for w in words)             # no link gave up
        return [w >> 10 & 63 for w in words]

    sim.write(regs.CHAIN_SEL, faults)
    before = retransmissions()
    try:
        for run in range(6):
            g = GoldenModel(chain.model, context=sim.ident["context"])
            sim.reset_state()
            assert sim.generate(PROMPT, 10, temperature=0.9, seed=5 + run) == list(
                g.generate(PROMPT, 10, temperature=0.9, seed=5 + run)), run
            if sum(retransmissions()) > sum(before):
                break
        else:
            pytest.fail("six runs over glitching wires and not one retransmission: are the faults injected?")
    finally:
        sim.write(regs.CHAIN_SEL, 0)


def remote(sim, chip: int, word: int, value: int | None = None) -> tuple[int, int]:
    """One access of chip `chip`'s register `word` through the first chip's mailbox (hw_chain_bus):
    (CHAIN_REMOTE, CHAIN_REMOTE_DATA) once it is done."""
    if value is not None:
        sim.write(regs.CHAIN_REMOTE_DATA, value)
    sim.write(regs.CHAIN_REMOTE, (1 << 16 if value is not None else 0) | chip << 8 | word)
    for _ in range(200):
        status = sim.read(regs.CHAIN_REMOTE)
        if not status >> 31:
            return status, sim.read(regs.CHAIN_REMOTE_DATA)
        sim.tick(64)
    pytest.fail(f"the access of chip {chip} register {word} never came back")


@pytest.mark.sim
def test_every_chips_registers_through_the_first_chips_mailbox(chain):
    """CHAIN_REMOTE on the first chip (CHAIN_SEL 0) reads and writes any chip's registers over the links,
    as a board chain's host does: the words equal those CHAIN_SEL reads there, a write reaches only that
    chip, a chip the ring does not have is reported (bit 30), and accesses while the chain generates
    leave its tokens the golden model's."""
    sim, last = chain.sim, chain.chips - 1
    words = [regs.MAGIC, regs.CHAIN, regs.LAYERS, regs.FINGERPRINT, regs.GEN_VERSION, regs.SEED]
    for k in range(chain.chips):
        chain.select(k)
        want = [sim.read(w) for w in words]
        chain.select(0)
        for w, v in zip(words, want):
            status, got = remote(sim, k, w)
            assert got == v and status == k << 8 | w, (k, w)
    sim.write(regs.SEED, 1234)                                   # every chip's SEED
    status, got = remote(sim, last, regs.SEED, 4321)
    assert status == 1 << 16 | last << 8 | regs.SEED and got == 4321
    assert sim.read(regs.SEED) == 1234                           # chip 0 kept its own
    chain.select(last)
    assert sim.read(regs.SEED) == 4321
    chain.select(0)
    sim.write(regs.SEED, 0)
    status, _ = remote(sim, chain.chips, regs.MAGIC)              # no such chip: back untaken
    assert status >> 30 & 1
    assert remote(sim, 0, regs.MAGIC)[0] >> 30 & 1 == 0          # the first chip's own, no frame
    # while the chain generates: control frames go between the core's, the tokens stay the golden model's
    g = GoldenModel(chain.model, context=sim.ident["context"])
    sim.reset_state()
    want = list(g.generate(PROMPT, 8))
    got = []
    for ev in sim.stream(PROMPT, 8):
        got.append(ev.token)
        assert remote(sim, last, regs.CHAIN)[1] & 0xFF == last
    assert got == want


@pytest.mark.sim
def test_chain_cycles_per_token_meet_the_estimate(chain):
    """The first chip's CYCLES_LAST_TOKEN of a sampled token spans the whole chain (its layers, every
    hop, the others' layers, the token's way back): the estimate (hw/rtlgen/chain.py) within 5 %."""
    sim = chain.sim
    sim.reset_state()
    events = list(sim.stream(PROMPT, 4))
    for ev in events[1:]:
        est = chain_cycles(chain.model, CHAIN_KNOBS.resolved(sim.ident["context"]), chain.chips, ev.position - 1)
        assert abs(ev.cycles - est) <= 0.05 * est, (ev.position, ev.cycles, est)


@pytest.mark.sim
def test_chain_top_and_every_chip_are_lint_clean(chain):
    """The chain top, and each chip's own design (chip<k>/: hw_core and its two link ends, the link
    pins as ports: what one board of the chain holds)."""
    from hw.sim.build import design_sources
    verilator_lint(design_sources(chain.info.out_dir), top="hardwire_top")
    for k in range(chain.chips):
        chip = chain.info.out_dir / f"chip{k}"
        top = (chip / "rtl" / "hardwire_top.v").read_text()
        assert "hw_chain_ends" in top
        assert re.search(r"output\s+wire\s+\[7:0\]\s+next_tx_d", top) and re.search(r"input\s+wire\s+\[7:0\]\s+prev_rx_d", top)
        verilator_lint(design_sources(chip), top="hardwire_top")


# ---------------------------------------------------------------- stories260K: too big for one chip

@pytest.fixture(scope="module")
def stories8(shared_models):
    """stories260K with every weight 8-bit at its whole 512-token context, 8 x 8 LUT MACs: the fit
    check refuses it on one ECP5-85F (block RAM)."""
    from hw.calibrate import calibrate_model
    from hw.frontend.llama2c import load_llama2c
    from hw.quantize import quantize

    fm = load_llama2c(shared_models / "stories260K.bin")
    im = quantize(fm, calibrate_model(fm, "generate"), source=str(shared_models / "stories260K.bin"),
                  bits={"embedding": 8, "attention": 8, "mlp": 8, "classifier": 8})
    return im, Knobs(lanes=8, values_per_lane=8, macs="lut").resolved(512)


@pytest.mark.sim
@pytest.mark.parametrize("chips", [2, 3])
def test_stories260k_8bit_full_context_over_chips(stories8, chips, tmp_path):
    """Refused on one ECP5-85F, each chip of the split passes the fit check on its own (it counts the
    embedding and classifier every chip still carries), and the chain runs bit-exact: 24 greedy
    tokens from BOS and every chip's KV cache at the first and last positions."""
    from hw.boards import get_board, fit_report

    im, knobs = stories8
    board = get_board("ulx3s-85f")
    assert not fit_report(im, knobs, board).fits
    ranges = split_layers(im, knobs, chips)
    assert all(fit_report(chip_model(im, ranges, k), knobs, board).fits for k in range(chips))
    info = generate_chain(im, tmp_path, knobs, chips)
    g = GoldenModel(im, context=512)
    want = list(g.generate([1], 24))
    with SimSession(tmp_path) as sim:
        assert sim.generate([1], 24) == want
        cfg = im.config
        for k, r in enumerate(info.ranges):
            sim.write(regs.CHAIN_SEL, k)
            for local, layer in enumerate(r):
                for p in (0, g.pos - 1):
                    idx = kv_debug_index(len(r), cfg.n_kv_heads, cfg.head_dim, 512, sim.read(regs.ATT_ENGINES),
                                         local, p, 1, 0)
                    kk = sim.debug_read(regs.DBG_KCACHE, idx).reshape(cfg.n_kv_heads, cfg.head_dim)
                    vv = sim.debug_read(regs.DBG_VCACHE, idx).reshape(cfg.n_kv_heads, cfg.head_dim)
                    assert np.array_equal(kk, g.key_cache[layer, p]) and np.array_equal(vv, g.value_cache[layer, p])


# ---------------------------------------------------------------- the host over a chain

def host_on(chain, board_path: bool = False):
    """host.Device on the chain's simulation with the build's metadata; `board_path`: the first chip's
    register writes reach only it (CHAIN_SEL bit 8 on chip 0), as each board of a chain has its own bus."""
    from host import registers as R
    from host.device import open_device
    from host.metadata import metadata_for_build

    dev = open_device(f"sim:{chain.info.out_dir}", metadata=metadata_for_build(chain.info.out_dir).path)
    if board_path:
        dev.transport.write(R.CHAIN_SEL, 1 << 8)
    return dev


@pytest.mark.sim
def test_the_host_drives_a_chain_as_one_device(chain):
    """host.Device on the chain (sim: transport, the build's metadata): it reads every chip's identity
    through the first chip's mailbox (CHAIN_REMOTE), reports the whole model (all layers, its fingerprint) and generates the golden
    model's tokens."""
    from host import registers as R
    from host.errors import DeviceError

    with host_on(chain) as dev:
        assert dev.chips == chain.chips
        assert dev.info().layers == LAYERS and dev.info().fingerprint == chain.model.fingerprint
        for k in range(chain.chips):            # through the first chip's mailbox, as on boards
            assert R.chain_place(dev.chip(k).read(R.CHAIN))[0] == k
        with pytest.raises(DeviceError, match=f"no chip {chain.chips}"):
            dev.chip(chain.chips)
        g = GoldenModel(chain.model, context=dev.info().context)
        assert dev.generate_ids(PROMPT, 6, temperature=0.7, seed=3) == list(g.generate(PROMPT, 6, temperature=0.7,
                                                                                        seed=3))


@pytest.mark.sim
def test_the_host_loads_lora_into_every_chip_of_a_chain(chain):
    """host.Device.load_lora on a chain: each chip's LoRA memory takes its own layers' adapters through
    the first chip's mailbox and every chip runs them (LORA_ENABLE on each); the tokens are the golden
    model's with the adapters, cleared they are the base model's again; the chain's cycles with LoRA
    meet the estimate's LoRA passes (every chip's) within 5 %."""
    from host import registers as R
    from hw.rtlgen.chain import chain_estimate
    from hw.rtlgen.fixture import random_adapters

    m = chain.model
    adapters = random_adapters(m.config, CHAIN_KNOBS.lora_targets, CHAIN_KNOBS.lora_rank, seed=4)
    with host_on(chain) as dev:
        base = GoldenModel(m, context=dev.info().context)
        adapted = GoldenModel(m, context=dev.info().context)
        for (layer, t), a in adapters.items():
            adapted.set_lora(layer, t, a)
        kw = {"temperature": 0.9, "seed": 5}
        want = list(adapted.generate(PROMPT, 8, **kw))
        assert want != list(base.generate(PROMPT, 8, **kw))      # the adapters change the tokens
        dev.load_lora(adapters)
        for k in range(chain.chips):
            assert dev.chip(k).read(R.LORA_ENABLE) == (1 << CHAIN_STREAMS) - 1     # every stream's slot
        assert dev.generate_ids(PROMPT, 8, **kw) == want
        with_lora = dev.last_run.cycles_last_token
        dev.clear_lora()
        for k in range(chain.chips):
            assert dev.chip(k).read(R.LORA_ENABLE) == 0
        base.reset()
        assert dev.generate_ids(PROMPT, 8, **kw) == list(base.generate(PROMPT, 8, **kw))
        without = dev.last_run.cycles_last_token
    est = chain_estimate(m, CHAIN_KNOBS.resolved(dev.info().context), chain.chips)
    pos = len(PROMPT) + 8 - 2                   # the input position of the last sampled token
    assert with_lora - without > 0.8 * (est.cycles(pos, lora=True) - est.cycles(pos))
    assert abs(with_lora - est.cycles(pos, lora=True)) <= 0.05 * est.cycles(pos, lora=True)


@pytest.mark.sim
def test_the_host_drives_a_chain_as_boards_do(chain):
    """The board path: the first chip's registers reach only it (CHAIN_SEL bit 8 on chip 0, as each board
    has its own bus). The sampler runs on the last chip, so the host writes its settings there and reads
    its RNG_STATE (a sampled generation and a chunked stream equal the golden model's), and an ABORT at
    any moment of a token (a residual frame half sent, a token frame owed to the first chip) leaves the
    chain whole: the next runs are the golden model's and every chip still answers."""
    from host import registers as R

    with host_on(chain, board_path=True) as dev:
        g = GoldenModel(chain.model, context=dev.info().context)
        kw = {"temperature": 0.9, "seed": 5}
        want = list(g.generate(PROMPT, 8, **kw))
        assert want != list(GoldenModel(chain.model, context=dev.info().context).generate(PROMPT, 8))
        assert dev.generate_ids(PROMPT, 8, **kw) == want
        assert dev.open_stream(chunk=3).generate_ids(PROMPT, 8, **kw) == want   # three runs, RNG_STATE between
        greedy = list(GoldenModel(chain.model, context=dev.info().context).generate([1, 7], 6))
        for trial in range(8):
            run = dev.generate(PROMPT, 10, temperature=0.8, seed=trial)
            for _ in range(1 + trial % 2):
                next(run)
            dev.transport.session.tick(250 * trial)        # into the next token: frames on the links
            run.close()                                     # ABORT
            assert dev.generate_ids([1, 7], 6) == greedy, trial
        for k in range(chain.chips):
            assert R.chain_place(dev.chip(k).read(R.CHAIN))[0] == k


@pytest.mark.sim
def test_streams_take_turns_on_a_chain(chain):
    """Two streams on the chain, on the board path (writes reach chip 0 only): the frames carry the run's
    stream, so every chip uses that stream's KV cache slot and LoRA slot. The streams generate at once in
    turns of 2 tokens (threads), one with adapters in its slot on every chip, one without; each equals the
    golden model's generation alone, and continuing one does not disturb the other."""
    from host import registers as R
    from hw.rtlgen.fixture import random_adapters
    from tests.test_host_streams import run_threads

    m = chain.model
    adapters = random_adapters(m.config, CHAIN_KNOBS.lora_targets, CHAIN_KNOBS.lora_rank, seed=9)
    with host_on(chain, board_path=True) as dev:
        assert dev.streams == CHAIN_STREAMS
        base, tuned = dev.open_stream(chunk=2), dev.open_stream(chunk=2)
        tuned.load_lora(adapters)
        golden = {s.index: GoldenModel(m, context=dev.info().context) for s in (base, tuned)}
        for (layer, t), a in adapters.items():
            golden[tuned.index].set_lora(layer, t, a)
        jobs = [(base, PROMPT, 7, {"temperature": 0.8, "seed": 3}), (tuned, [1, 11], 7, {"temperature": 0.8, "seed": 3})]
        want = {i: list(golden[s.index].generate(p, n, **kw)) for i, (s, p, n, kw) in enumerate(jobs)}
        assert run_threads(jobs, lock=base.pool.lock) == want
        more = base.generate_ids([want[0][-1]], 3, reset=False)    # the base stream's context goes on
        assert more == list(golden[base.index].generate([want[0][-1]], 3))


class _Rewired:
    """A transport to the chain that makes chip `chip`'s CHAIN register read `value` through the first
    chip's mailbox: a board cabled in another place, or a bitstream of another split."""

    def __init__(self, transport, chip: int, value: int):
        self.t, self.chip, self.value, self.asked = transport, chip, value, None
        self.name = transport.name

    def write(self, addr, value):
        if addr == regs.CHAIN_REMOTE * 4:
            self.asked = (value >> 8 & 0xFF, value & 0xFF)
        self.t.write(addr, value)

    def read(self, addr):
        return self.read_block([addr])[addr]

    def read_block(self, addrs):
        words = self.t.read_block(addrs)
        if self.asked == (self.chip, regs.CHAIN) and regs.CHAIN_REMOTE_DATA * 4 in words:
            words[regs.CHAIN_REMOTE_DATA * 4] = self.value
        return words

    def close(self):
        self.t.close()

    def __getattr__(self, name):
        return getattr(self.t, name)


@pytest.mark.sim
def test_a_chain_whose_chips_are_not_one_split_is_refused(chain):
    from host.device import Device
    from host.metadata import IdentityMismatch
    from host.sim_transport import SimTransport

    last = chain.chips - 1
    base = chain.info.ranges[last].start
    for value, words in [(0 | chain.chips << 8 | base << 16, "says it is chip 0"),           # cabled out of order
                         (last | (chain.chips + 1) << 8 | base << 16, f"of {chain.chips + 1}"),   # another split
                         (last | chain.chips << 8 | (base - 1) << 16, f"layer {base - 1}")]:
        t = _Rewired(SimTransport(chain.info.out_dir), last, value)
        try:
            with pytest.raises(IdentityMismatch, match=words):
                Device(t)
        finally:
            t.close()


# ---------------------------------------------------------------- a chip on its board

def test_a_chip_of_a_chain_gets_its_board_top_and_link_pins(tmp_path):
    """The open flow's board top for one chip of a chain (bitstreams/common/hw_board_uart_chain.v: the
    UART bridge, the chip's core and link ends, the link pins): verilator -Wall clean, and its .lpf
    is the board's plus every link pin on the docs/chip_link.md site, each port placed once."""
    from hw.boards import ULX3S_CHAIN_PINS, get_board
    from hw.flows.open_flow import FlowError, constraints_for, design_sources, write_board_top

    info = generate_chain(model(), tmp_path, KNOBS, 2)
    board = get_board("ulx3s-85f")
    for k in range(2):
        chip = info.out_dir / f"chip{k}"
        top = write_board_top(chip, board).read_text()
        assert "hw_board_uart_chain #(" in top and "output wire [7:0] next_tx_d" in top
        verilator_lint(design_sources(chip, board), top="board_top")
        lpf = constraints_for(chip, board).read_text()
        placed = re.findall(r'^LOCATE COMP "([^"]+)" SITE "([^"]+)";', lpf, re.M)
        assert len({p for p, _ in placed}) == len(placed)
        assert dict(placed) == {**board.pins, **ULX3S_CHAIN_PINS}
    assert ULX3S_CHAIN_PINS["prev_rx_lclk"] == "B11" and ULX3S_CHAIN_PINS["next_tx_d[7]"] == "D13"
    with pytest.raises(FlowError, match="link pins"):
        write_board_top(info.out_dir / "chip0", get_board("icebreaker"))


@pytest.mark.sim
def test_one_board_of_a_chain_reached_by_its_own_link_is_that_chip(tmp_path):
    """chip<k>/ alone (a board of a chain on its own UART, the link pins idle): the host sees that chip,
    its layers and place (Device.chain), the whole model's fingerprint, and its own metadata agrees."""
    from host.device import open_device
    from host.metadata import metadata_for_build

    m = model()
    info = generate_chain(m, tmp_path, KNOBS, 2)
    chip = info.out_dir / "chip1"
    meta = metadata_for_build(chip)
    with open_device(f"sim:{chip}", metadata=meta.path) as dev:
        assert dev.chips == 1 and dev.chain == (1, 2, info.ranges[1].start)
        assert dev.info().layers == len(info.ranges[1]) and dev.info().fingerprint == m.fingerprint


def test_build_chips_runs_the_open_flow_per_chip(tmp_path, monkeypatch):
    """`hardwire build --chips 2` glue without the tools (the open flow replaced by a fake that writes its
    files): every chip's fit check, each chip's board top with the link pins and its own bitstream,
    manifest (with its place in the chain) and host metadata, the committed bitstreams left alone."""
    import json
    from hw.cli import main
    from hw.flows import open_flow

    built = []

    def fake_build(info, board, fit=None, freq_mhz=None, log=print, router=None, seed=1, baud=None):
        open_flow.write_board_top(info.out_dir, board)
        built.append(info.out_dir.name)
        bit = info.out_dir / f"{board.name}.bit"
        bit.write_bytes(info.out_dir.name.encode())
        doc = {"bitstream": {"file": bit.name, "bytes": 5}, "utilisation": {}, "fmax_mhz": 50.0, "clock_mhz": 25.0,
               "speed_at_fmax": {"cycles_first": 1, "cycles_last": 2, "tokens_per_s_mean": 2.0},
               "speed_at_clock": {"tokens_per_s_mean": 1.0}, "fit_check": fit}
        (info.out_dir / "manifest.json").write_text(json.dumps(doc))
        return info.out_dir / "manifest.json"

    monkeypatch.setattr(open_flow, "build", fake_build)
    m = model()
    m.save(tmp_path / "m.npz")
    main(["build", "--board", "ulx3s-85f", "--model", str(tmp_path / "m.npz"), "--lanes", "5", "--vpl", "4",
          "--chips", "2", "--out", str(tmp_path / "out"), "--build-dir", str(tmp_path / "b")])
    assert built == ["chip0", "chip1"]
    for k in range(2):
        assert (tmp_path / "out" / f"ulx3s-85f-chip{k}.bit").read_bytes() == f"chip{k}".encode()
        doc = json.loads((tmp_path / "out" / f"manifest-chip{k}.json").read_text())
        assert doc["chain"]["chip"] == k and doc["fit_check"]["fits"]
        # the speed is the chain's (every chip's layers and the hops), not the chip's alone
        built_knobs = Knobs(lanes=5, values_per_lane=4, macs="lut", debug_vectors=False).resolved(m.config.seq_len)
        assert doc["speed_at_clock"]["cycles_first"] == chain_cycles(m, built_knobs, 2, 0)
        meta = json.loads((tmp_path / "out" / f"ulx3s-85f-chip{k}.hardwire.json").read_text())
        assert meta["identity"]["fingerprint"] == m.fingerprint
        assert "hw_board_uart_chain" in (tmp_path / "b" / f"chip{k}" / "board_top.v").read_text()
    # chip 0's metadata is the chain's (the host reaches every chip through it), chip 1's its own
    assert [json.loads((tmp_path / "out" / f"ulx3s-85f-chip{k}.hardwire.json").read_text())["identity"]["layers"]
            for k in range(2)] == [3, 1]
    # --chip K: chip K's open flow only (chains built one chip per machine, or several at once)
    built.clear()
    main(["build", "--board", "ulx3s-85f", "--model", str(tmp_path / "m.npz"), "--lanes", "5", "--vpl", "4",
          "--chips", "2", "--chip", "1", "--out", str(tmp_path / "out1"), "--build-dir", str(tmp_path / "b1")])
    assert built == ["chip1"]
    assert sorted(p.name for p in (tmp_path / "out1").glob("*.bit")) == ["ulx3s-85f-chip1.bit"]


@pytest.mark.parametrize("argv, why", [
    (["--chip", "0"], "--chips is 1"),
    (["--chips", "2", "--chip", "2"], "pick one of 0..1"),
    (["--chips", "2", "--chip", "-1"], "pick one of 0..1"),
])
def test_build_chip_refused(argv, why, tmp_path, capsys):
    """--chip without a chain, or naming a chip the chain does not have, is refused before any work."""
    from hw.cli import EXIT_ERROR, main

    m = model()
    m.save(tmp_path / "m.npz")
    assert main(["build", "--board", "ulx3s-85f", "--model", str(tmp_path / "m.npz"), "--lanes", "5", "--vpl", "4",
                 "--check", *argv]) == EXIT_ERROR
    assert why in capsys.readouterr().err
