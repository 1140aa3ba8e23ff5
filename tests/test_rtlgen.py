"""The RTL generator: lane ROM layout, hex files, determinism, golden Verilog, estimate, lint.

Regenerate the committed golden files after an intended change with
    HARDWIRE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_rtlgen.py -k golden
and review the diff.
"""
from __future__ import annotations


import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hw import numerics as nx
from hw.rtlgen import GEN_VERSION_WORD
from hw.rtlgen.estimate import bram18_blocks, estimate, format_estimate
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.generate import GenerateError, generate, layer_words, norm_rows, static_sources
from hw.rtlgen.knobs import KnobError, Knobs, engine_counts, kv_banks
from hw.rtlgen.lanes import SCALE_FILE, decode_lanes, lane_file, lane_scale, read_hex, write_lanes
from hw.rtlgen.layout import LayoutError, lane_scales, lane_words, matrix_order, pack_word, rom_layout, unpack_word
from hw.tools import ToolError, verilator_lint

REPO = Path(__file__).resolve().parents[1]
RTL = REPO / "hw" / "rtl"
GOLDEN = Path(__file__).resolve().parent / "golden_rtl"
GOLDEN_KNOBS = Knobs(lanes=5, values_per_lane=3, context=12, k_max=8, lora_rank=2, lora_targets=("wv", "wq"))
GOLDEN_FILES = ("rtl/hardwire_top.v", "rom/lane_000.hex", "rom/scale.hex", "rom/layer.hex")
# (lanes, vpl): remainders in rows and columns, more lanes than rows, VPL wider than a row
SHAPES = [(5, 3), (4, 8), (16, 8), (1, 1), (64, 32), (7, 50)]


@pytest.fixture(scope="module")
def model():
    return random_int_model(1)


def matrices(model):
    return {(n, l): np.asarray(w) for n, l, w in matrix_order(model)}


# ---------------------------------------------------------------- layout

@pytest.mark.parametrize("lanes,vpl", SHAPES)
def test_layout_covers_every_weight_once(model, lanes, vpl):
    lay = rom_layout(model, lanes, vpl)
    owner = {}                                            # (group, lane, addr, j) -> (slot, row, col)
    for k, s in enumerate(lay.slots):
        for r in range(s.rows):
            for c in range(s.cols):
                key = (s.group, r % lanes, s.address(r // lanes, c // vpl), c % vpl)
                assert key not in owner, f"{s.label} ({r}, {c}) collides with {owner[key]}"
                owner[key] = (k, r, c)
    assert len(owner) == lay.weight_macs == sum(w.size for w in matrices(model).values())
    # each group's slots tile its ROM without gaps, in walk order; a group per class width
    for g, rom in enumerate(lay.groups):
        mine = [s for s in lay.slots if s.group == g]
        assert {s.bits for s in mine} == {rom.bits}
        assert [s.word_base for s in mine] == list(np.cumsum([0] + [s.passes * s.words for s in mine])[:-1])
        assert rom.depth == sum(s.passes * s.words for s in mine)
    assert lay.depth == sum(s.passes * s.words for s in lay.slots)
    assert lay.scale_depth == sum(s.passes for s in lay.slots)
    # every owned position holds its weight, every other one is zero padding
    mats = list(matrices(model).values())
    for lane in range(lanes):
        for g, rom in enumerate(lay.groups):
            words = lane_words(model, lay, lane, g)       # (group depth, VPL)
            assert words.shape == (rom.depth, vpl)
            for addr in range(rom.depth):
                for j in range(vpl):
                    hit = owner.get((g, lane, addr, j))
                    want = 0 if hit is None else mats[hit[0]][hit[1], hit[2]]
                    assert words[addr, j] == want


def test_layout_widths(model):
    lay = rom_layout(model, 5, 3)
    assert lay.wb == 8                                    # classifier 8 > mlp 5 > attention 4
    assert [s.bits for s in lay.slots[:7]] == [4, 4, 4, 4, 5, 5, 5] and lay.slots[-1].bits == 8
    # each class at its own width: one ROM group per width, in order of first use
    assert [g.bits for g in lay.groups] == [4, 5, 8]
    assert [s.group for s in lay.slots[:7]] == [0, 0, 0, 0, 1, 1, 1] and lay.slots[-1].group == 2
    assert lay.lane_rom_bits == sum(s.passes * s.words * 3 * s.bits for s in lay.slots)
    assert lay.lane_rom_bits < lay.depth * lay.word_bits                # narrower than padding to 8 bits
    # the accumulator holds the worst row sum: C * 128 * qmax
    worst = max(s.cols for s in lay.slots) * 128 * 127
    assert worst < 1 << (lay.acc_bits - 1)
    assert lay.rows_w == (37).bit_length() and lay.cols_w == (44).bit_length()


def test_pack_unpack_roundtrip():
    rng = np.random.default_rng(0)
    for bits in (2, 4, 5, 8):
        q = (1 << (bits - 1)) - 1
        v = rng.integers(-q - 1, q + 1, size=7)
        w = pack_word(v, bits)
        assert 0 <= w < 1 << (7 * bits)
        assert (unpack_word(w, 7, bits) == v).all()
    assert pack_word(np.array([-1, 1]), 4) == 0x1F


def test_layout_rejects_bad_models(model):
    bad = random_int_model(1)
    bad.arrays["w1"] = bad.arrays["w1"].copy()
    bad.arrays["w1"][1, 3, 2] = 16                         # mlp is 5 bits: qmax 15
    with pytest.raises(LayoutError, match=r"w1 holds \|w\| = 16.*mlp's 5 bits"):
        rom_layout(bad, 4, 4)
    nobits = random_int_model(1)
    nobits.knobs = {}
    with pytest.raises(LayoutError, match="no weight bits"):
        rom_layout(nobits, 4, 4)
    badsh = random_int_model(1)
    badsh.arrays["wo_sh"] = badsh.arrays["wo_sh"].copy()
    badsh.arrays["wo_sh"][0, 0] = 64
    with pytest.raises(LayoutError, match=r"wo\[0\] row 0: requant"):
        lane_scales(badsh, rom_layout(badsh, 4, 4), 0)


# ---------------------------------------------------------------- hex files

@pytest.mark.parametrize("lanes,vpl", [(5, 3), (16, 8), (7, 50)])
def test_lane_hex_decodes_to_the_model(model, tmp_path, lanes, vpl):
    lay = rom_layout(model, lanes, vpl)
    write_lanes(model, lay, tmp_path)
    back = decode_lanes(lay, tmp_path)
    for key, w in matrices(model).items():
        assert np.array_equal(back[key], w), key
    # scales: every row's (m, sh) at (lane, pass) of its slot; (0, 1) where the lane is idle
    scale_words = read_hex(tmp_path / SCALE_FILE)
    assert len(scale_words) == lay.scale_depth and all(w < 1 << (21 * lanes) for w in scale_words)
    for lane in range(lanes):
        for s in lay.slots:
            sel = (lambda a: a) if s.layer is None else (lambda a: a[s.layer])
            m, sh = sel(model[s.name + "_m"]), sel(model[s.name + "_sh"])
            for p in range(s.passes):
                r = p * lanes + lane
                want = (int(m[r]), int(sh[r])) if r < s.rows else (0, 1)
                assert lane_scale(scale_words[s.pass_base + p], lane) == want
        for g, rom in enumerate(lay.groups):
            words = read_hex(tmp_path / lane_file(lane, g))
            assert len(words) == rom.depth and all(w < 1 << (vpl * rom.bits) for w in words)


def test_lane_header_names_matrices(model, tmp_path):
    lay = rom_layout(model, 5, 3)
    write_lanes(model, lay, tmp_path)
    head = [l for l in (tmp_path / "lane_003.hex").read_text().splitlines() if l.startswith("//")]
    assert "lane 3 of 5" in head[0] and model.fingerprint in head[1]
    body = "\n".join(head)
    for s in lay.slots[:4]:                                   # group 0: the 4-bit attention matrices
        assert f"\n// {s.label:<9} {s.word_base:>7}" in body
    assert "w1[0]" not in body and "ROM group 0 of 3 (4-bit classes)" in head[0]
    cls = [l for l in (tmp_path / "lane_003_g2.hex").read_text().splitlines() if l.startswith("//")]
    assert "ROM group 2 of 3 (8-bit classes)" in cls[0] and "x 8-bit weights" in cls[2]
    assert "3..33 step 5 (7)" in "\n".join(cls)                # wcls rows of lane 3 (37 rows)


def test_layer_words_hold_signed_gshift():
    m = random_int_model(2)
    m.arrays["att_gshift"] = np.array([-3, 5])
    w = layer_words(m)
    assert w[0] & 0x3F == (-3) & 0x3F and w[1] & 0x3F == 5
    assert (w[1] >> 12) & 0x7FFF == m["att_m"][1] and (w[1] >> 69) & 0x3F == m["g_sh"][1]
    m.arrays["ffn_gshift"] = np.array([40, 1])
    with pytest.raises(GenerateError, match="ffn_gshift holds values in 1..40"):
        layer_words(m)


# ---------------------------------------------------------------- generate

def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_is_deterministic(tmp_path):
    a = generate(random_int_model(0), tmp_path / "a", GOLDEN_KNOBS)
    b = generate(random_int_model(0), tmp_path / "b", GOLDEN_KNOBS)
    ta, tb = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert ta == tb
    names = {p.name for p in a.rom_files}
    assert {"lane_004.hex", "scale.hex", "emb.hex", "emb_scale.hex", "norm.hex",
            "rope.hex", "layer.hex", "model.hex", "silu.hex", "exp2.hex", "rsqrt.hex"} <= names
    assert len(names) == 3 * 5 + 1 + 9                         # per lane 3 weight ROMs (4, 5, 8 bits); scales; tables
    assert {"lane_004_g1.hex", "lane_004_g2.hex"} <= names
    assert set(ta) == {"build.json", "rtl/hardwire_top.v", *(f"rom/{n}" for n in names)}
    # a rebuild with fewer lanes removes the old lane files
    generate(random_int_model(0), tmp_path / "a", Knobs(lanes=2, values_per_lane=3))
    assert not (tmp_path / "a" / "rom" / "lane_004.hex").exists()
    assert b.knobs.context == 12 and b.fingerprint == random_int_model(0).fingerprint


def test_generate_rom_contents(tmp_path):
    m = random_int_model(0)
    info = generate(m, tmp_path, GOLDEN_KNOBS)
    rom = tmp_path / "rom"
    ew = GOLDEN_KNOBS.emb_lanes(24)             # elements a word (element i at bits [8 * (i % ew) +: 8])
    assert ew == 2
    emb = np.array([unpack_word(w, ew, 8) for w in read_hex(rom / "emb.hex")]).reshape(37, 24)
    assert np.array_equal(emb, m["emb"])
    es = read_hex(rom / "emb_scale.hex")
    assert [(w & 0x7FFF, w >> 15) for w in es] == list(zip(m["emb_m"].tolist(), m["emb_sh"].tolist()))
    nw = GOLDEN_KNOBS.norm_lanes(24)            # gains a word: each norm's row is 24 / nw words
    assert 24 % nw == 0 and nw > 1
    g = np.array([unpack_word(w, nw, 16) for w in read_hex(rom / "norm.hex")]).reshape(5, 24)
    assert norm_rows(read_hex(rom / "norm.hex"), 24, nw) == (g & 0xFFFF).tolist()     # respin's inverse
    assert np.array_equal(g[:2], m["att_gq"]) and np.array_equal(g[2:4], m["ffn_gq"])
    assert np.array_equal(g[4], m["final_gq"])
    rope = read_hex(rom / "rope.hex")
    assert len(rope) == 12 * 4                              # the build's context, not the model's 16
    cs = np.array([unpack_word(w, 2, 16) for w in rope])    # (ctx*hd/2, 2): cos, sin
    assert np.array_equal(cs[:, 0], m["rope_cos"][:12].ravel()) and np.array_equal(cs[:, 1], m["rope_sin"][:12].ravel())
    assert read_hex(rom / "exp2.hex") == nx.EXP2.tolist()
    silu = np.array([unpack_word(w, 1, 16)[0] for w in read_hex(rom / "silu.hex")]).reshape(2, 256)
    assert np.array_equal(silu, m["silu"])
    bj = json.loads((tmp_path / "build.json").read_text())
    assert bj["model"]["fingerprint"] == m.fingerprint
    assert bj["knobs"]["lora_targets"] == ["wq", "wv"] and bj["knobs"]["context"] == 12
    assert bj["layout"]["rom_depth"] == info.layout.depth
    assert bj["static_rtl"] == [p.relative_to(REPO).as_posix() for p in info.static_sources]
    assert bj["estimate"]["matrix_cycles"] == info.estimate.matrix_cycles


def test_top_parameters(tmp_path):
    m = random_int_model(0)
    info = generate(m, tmp_path, GOLDEN_KNOBS)
    text = info.top.read_text()
    assert f".{'GEN_VERSION':<15} (32'h{GEN_VERSION_WORD:08x})" in text
    assert f".{'LORA_TARGETS':<15} (7'b0000101)" in text     # wq = bit 0, wv = bit 2
    g = info.layout.groups                                     # attention 4, mlp 5, classifier 8 bits
    for name, val in (("D", 24), ("H", 44), ("L", 2), ("NH", 3), ("NKV", 1), ("HD", 8), ("V", 37),
                      ("CTX", 12), ("LANES", 5), ("VPL", 3), ("WB", 8), ("ROM_DEPTH", max(x.depth for x in g)),
                      ("ROM_GROUPS", 3), ("ROM_GROUP_WB", "{8'd8, 8'd5, 8'd4}"),
                      ("ROM_GROUP_DEPTH", "{" + ", ".join(f"32'd{x.depth}" for x in reversed(g)) + "}"),
                      ("GROUP_ATT", 0), ("GROUP_MLP", 1), ("GROUP_CLS", 2),
                      ("ACC_W", info.layout.acc_bits), ("K_MAX", 8), ("LORA_RANK", 2)):
        assert f".{name:<15} ({val})" in text, name
    # model-specific values are ROM contents, never parameters (a respin rewrites only block RAM)
    for gone in ("FINGERPRINT", "EPS_Q", "FINAL_GSHIFT", "LOGIT_M", "LOGIT_SH"):
        assert f".{gone} " not in text, gone


def test_model_rom_holds_the_fingerprint_and_global_constants(tmp_path):
    m = random_int_model(0)
    m.arrays["final_gshift"] = np.array([-3])
    info = generate(m, tmp_path, GOLDEN_KNOBS)
    words = [int(w) for w in read_hex(tmp_path / "rom" / "model.hex")]
    assert len(words) == 16 and "model.hex" in {p.name for p in info.rom_files}
    assert "".join(f"{w:08x}" for w in words[:8]) == m.fingerprint
    assert words[8:12] == [int(m["eps_q"][0]), (-3) & 0x3F, int(m["logit_m"][0]), int(m["logit_sh"][0])]
    assert words[12:] == [0] * 4


def test_golden_rtl_regenerates_identically(tmp_path):
    generate(random_int_model(0), tmp_path, GOLDEN_KNOBS)
    if os.environ.get("HARDWIRE_UPDATE_GOLDEN") == "1":
        for rel in GOLDEN_FILES:
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes((tmp_path / rel).read_bytes())
    for rel in GOLDEN_FILES:
        assert (GOLDEN / rel).is_file(), f"{GOLDEN / rel} missing; regenerate (see this file's docstring)"
        assert (tmp_path / rel).read_bytes() == (GOLDEN / rel).read_bytes(), \
            f"{rel} differs from the committed golden copy; if intended, regenerate and review the diff"


# ---------------------------------------------------------------- knobs

def test_knob_errors(model):
    with pytest.raises(KnobError, match="lanes must be in 1..999"):
        Knobs(lanes=0)
    with pytest.raises(KnobError, match="values per lane"):
        Knobs(values_per_lane=100)
    with pytest.raises(KnobError, match="unknown LoRA target.*wz"):
        Knobs(lora_targets=("wq", "wz"))
    with pytest.raises(KnobError, match=r"context 17 is longer than the model's 16 positions; use --context 16"):
        Knobs(context=17).resolved(16)
    with pytest.raises(KnobError, match="attention positions per cycle must be 1, 2, 4 or 8, got 3"):
        Knobs(attention_positions=3)
    with pytest.raises(KnobError, match=r"\(4\) must divide the context \(14\).*--context 12 or --attention-positions 2"):
        Knobs(context=14, attention_positions=4).resolved(16)
    with pytest.raises(KnobError, match="embedding width must be 1, 2, 4, 8 or 16"):
        Knobs(embedding_width=3)
    with pytest.raises(KnobError, match=r"embedding width 8 must divide the model dim \(20\)"):
        Knobs(embedding_width=8).emb_lanes(20)
    with pytest.raises(KnobError, match=r"at most the lanes \(4\)"):
        Knobs(lanes=4, embedding_width=8).emb_lanes(64)
    # automatic: the rmsnorm's width, at most the lanes, dividing the dim
    assert Knobs(lanes=16, values_per_lane=16, macs="lut").emb_lanes(64) == 8
    assert Knobs(lanes=16, values_per_lane=16, macs="lut").emb_lanes(44) == 4
    assert Knobs(lanes=2, values_per_lane=16, macs="lut").emb_lanes(64) == 2
    assert Knobs(lanes=16, values_per_lane=4).emb_lanes(64) == 2
    assert Knobs(lanes=16, values_per_lane=4).emb_lanes(63) == 1
    assert Knobs(lora_rank=1, lora_targets=("w2", "wq")).lora_targets == ("wq", "w2")
    assert Knobs(lora_rank=1, lora_targets=("w2", "wq")).lora_mask == 0b1000001
    with pytest.raises(KnobError, match="LoRA needs both a rank and target"):
        Knobs(lora_rank=0, lora_targets=("wq",))
    with pytest.raises(KnobError, match="got rank 4 and targets none"):
        Knobs(lora_rank=4)
    with pytest.raises(GenerateError, match="not a folder"):
        f = Path(os.devnull)
        generate(model, f, Knobs())


# ---------------------------------------------------------------- estimate

def test_estimate_stories260k_worksheet():
    # DESIGN.md's sizing worksheet: dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads, vocab 512
    m = random_int_model(0, dim=64, hidden=172, n_layers=5, n_heads=8, n_kv_heads=4, vocab=512, seq_len=256,
                         bits={"attention": 4, "mlp": 4, "classifier": 8})
    k = Knobs(lanes=64, values_per_lane=8).resolved(256)
    lay = rom_layout(m, 64, 8)
    est = estimate(m, lay, k)
    assert est.weight_macs == 226_560 + 32_768
    assert est.ideal_matrix_cycles == -(-259_328 // 512)
    assert est.matrix_cycles == sum(s.passes * s.words for s in lay.slots) >= est.ideal_matrix_cycles
    # per layer wq, wk, wv, wo 1 pass x 8 words (k, v use 32 of 64 lanes), w1, w3 3 passes x 8
    # (172 rows), w2 1 pass x 22 words (172 columns); wcls 8 passes x 8 words
    assert est.matrix_cycles == 5 * (4 * 8 + 2 * 24 + 22) + 64 == 574
    # one attention engine per kv head: 4 engines of 2 heads each; per position the first head's
    # key and each head's value (the second head's keys stream beside the first head's values)
    assert est.attention_engines == 4
    assert est.attention_per_pos == 5 * (2 + 1)
    assert est.cycles(100) - est.cycles(99) == est.attention_per_pos
    one = estimate(m, lay, replace(k, attention_engines=1))
    assert one.attention_per_pos == 5 * (8 + 1) and one.cycles(100) > est.cycles(100)
    with pytest.raises(KnobError, match="must divide the model's 4 kv heads, or be a multiple of them "
                                        "dividing its 8 query heads; use --attention-engines with one of 1, 2, 4, 8"):
        estimate(m, lay, replace(k, attention_engines=3))
    # eight engines, one per query head: the two of a kv head share its bank (GQA), so a position
    # costs every head's key and value pass once per layer
    shared = estimate(m, lay, replace(k, attention_engines=8))
    assert shared.attention_per_pos == 5 * (1 + 1) and shared.cycles(300) < est.cycles(300)
    assert shared.kv_cache_bits == est.kv_cache_bits
    assert engine_counts(4, 8) == [1, 2, 4, 8] and engine_counts(2, 6) == [1, 2, 6]
    assert kv_banks(8, 4) == 4 and kv_banks(2, 4) == 2
    assert est.kv_cache_bits == 5 * 2 * 256 * 32 * 8       # 0.65 Mbit at 256, as in the worksheet
    # 4-bit attention/MLP and the 8-bit classifier each at its own width (half of padding all to 8)
    assert [(g.bits, g.depth) for g in lay.groups] == [(4, 510), (8, 64)]
    assert est.weight_rom_bits == 64 * 8 * (510 * 4 + 64 * 8)
    assert est.weight_bits_used == 226_560 * 4 + 32_768 * 8
    # per lane 510 words x 32 bits (one 512 x 36 block) and 64 words x 64 bits (two blocks 36 wide)
    assert est.weight_rom_blocks == 64 * 3
    assert bram18_blocks(512, 36) == 1 and bram18_blocks(513, 36) == 2 and bram18_blocks(100, 3) == 1
    assert bram18_blocks(3000, 4) == 1 and bram18_blocks(3000, 5) == 2          # two 4096 x 4
    # rows of >= 2 words: two lanes share a requantizer (hw_lane_rq)
    assert lay.rq_share == 2 and est.mac_multipliers == 512 and est.requant_multipliers == 32
    lut = estimate(m, lay, replace(k, macs="lut"))
    assert lut.mac_multipliers == 0 and lut.requant_multipliers == 32 and lut.luts > est.luts
    assert est.lora_bits == 0
    kl = Knobs(lanes=64, values_per_lane=8, lora_rank=4, lora_targets=("wq", "wv")).resolved(256)
    assert estimate(m, lay, kl).lora_bits == 5 * 4 * ((64 + 64) + (32 + 64)) * 8
    table = format_estimate(est, 256)
    assert "cycles at position 255" in table and "KV cache BRAM" in table


# ---------------------------------------------------------------- lint

@pytest.mark.parametrize("params", [
    {},
    {"LANES": 1, "VPL": 1, "ROM_DEPTH": 1, "SCALE_DEPTH": 1, "ROWS_W": 1, "COLS_W": 1, "ACC_W": 17},
    {"LANES": 64, "VPL": 8, "WB": 4, "ROM_DEPTH": 1000, "SCALE_DEPTH": 70, "ROWS_W": 10, "COLS_W": 8, "ACC_W": 20},
    {"LANES": 16, "VPL": 16, "WB": 4, "MUL_LUT": 1, "ROM_DEPTH": 64, "SCALE_DEPTH": 8, "ACC_W": 20, "RQ_SHARE": 2},
    {"LANES": 3, "VPL": 5, "WB": 8, "MUL_LUT": 1, "RQ_SHARE": 2},
    {"LANES": 4, "VPL": 3, "WB": 8, "MUL_LUT": 1, "ROM_DEPTH": 16, "GROUPS": 3, "GROUP_WB": "24'h080504",
     "GROUP_DEPTH": "96'h00000005_00000010_00000009", "TAG_GROUP": "32'h24"},
    {"LANES": 2, "VPL": 2, "WB": 6, "ROM_DEPTH": 40, "GROUPS": 2, "GROUP_WB": "16'h0306",
     "GROUP_DEPTH": "64'h00000001_00000028", "TAG_GROUP": "32'h4"},
])
def test_matvec_lint(params):
    args = ["-Wall", *(f"-G{k}={v}" for k, v in params.items())]
    verilator_lint(static_sources("hw_matvec"), top="hw_matvec", args=args)


def test_generated_top_lint(tmp_path):
    info = generate(random_int_model(0), tmp_path, GOLDEN_KNOBS)
    if not (RTL / "hw_core.v").is_file():
        pytest.skip("hw/rtl/hw_core.v is not written yet")
    assert {"hw_core.v", "hw_matvec.v", "hw_mac_lane.v"} <= {p.name for p in info.static_sources}
    try:
        verilator_lint(info.sources, top="hardwire_top")
    except ToolError as exc:
        pytest.fail(str(exc))


def test_static_sources_follow_instances(tmp_path):
    (tmp_path / "hw_a.v").write_text("module hw_a; hw_b u (); /* hw_c */ endmodule\n")
    (tmp_path / "hw_b.v").write_text("module hw_b; // hw_c\n hw_d #(.X(1)) d (); endmodule\n")
    (tmp_path / "hw_c.v").write_text("module hw_c; endmodule\n")
    (tmp_path / "hw_d.v").write_text("module hw_d; hw_b loop (); endmodule\n")
    assert [p.name for p in static_sources("hw_a", tmp_path)] == ["hw_a.v", "hw_b.v", "hw_d.v"]
    assert static_sources("hw_x", tmp_path) == []


def test_rope_wait_model():
    """RoPE trails the q and k rows at ROPE_W pairs per cycle: a wide engine (one word per pass,
    LANES rows a cycle) outruns one pair per cycle, and two pairs wait less; a narrow one never waits."""
    from hw.rtlgen.estimate import rope_wait

    m = random_int_model(0)                         # dim 24, head dim 8, kv dim 8
    assert Knobs().rope_lanes(m.config) == 2 and Knobs(rope_width=1).rope_lanes(m.config) == 1
    odd = replace(m.config, dim=18)                                 # head dim 6
    with pytest.raises(KnobError, match="RoPE width 2 needs head dim, dim and kv dim multiples of 4"):
        Knobs(rope_width=2).rope_lanes(odd)
    assert Knobs().rope_lanes(odd) == 1
    wide, narrow = rom_layout(m, 24, 24), rom_layout(m, 5, 4)
    assert rope_wait(wide, 0, 1) > rope_wait(wide, 0, 2)
    assert rope_wait(wide, 0, 1) > 0
    assert rope_wait(narrow, 0, 1) == rope_wait(narrow, 0, 2) == 0
