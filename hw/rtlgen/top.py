"""Emit hardwire_top.v: a thin wrapper that sets every parameter of hw_core.

The per-model Verilog is only this file: one hw_core instance with the
model's dimensions, the build knobs, the lane ROM geometry and the identity
constants (fingerprint, generator version), plus a header comment a person
can read. Weights live in the ROM hex files next to it, never in Verilog.
Output is deterministic (no dates, sorted nothing implicit).
"""
from __future__ import annotations

from hw.architecture import UNIT_LATENCY
from hw.golden import LORA_TARGETS, qk_bits
from hw.rtlgen import GEN_VERSION_WORD, attention, version_text
from hw.rtlgen.knobs import Knobs
from hw.rtlgen.layout import MATRIX_CLASS, Layout, LayoutError

TOP_MODULE = "hardwire_top"

# hw_core ports (notes/ports.md, confirmed by the core helper): (direction, width, name, comment)
CORE_PORTS = (
    ("input", 1, "clk", ""),
    ("input", 1, "rst", "synchronous, active high"),
    ("input", 1, "reg_wr", "register write strobe"),
    ("input", 8, "reg_addr", "word index (byte offset / 4)"),
    ("input", 32, "reg_wdata", ""),
    ("input", 1, "reg_rd", "register read strobe (TOKEN_POP pops)"),
    ("output", 32, "reg_rdata", "valid the cycle after reg_rd"),
    ("output", 1, "busy", "STATUS.BUSY"),
    ("output", 1, "token_avail", "STATUS.TOKEN_AVAIL"),
)


def _packed(values: list[int], width: int) -> str:
    """A Verilog literal of `values`, `width` bits each, values[0] in the lowest bits."""
    return "{" + ", ".join(f"{width}'d{v}" for v in reversed(values)) + "}"


def _class_group(layout: Layout, cls: str) -> int:
    """The ROM group of a weight class's matrices (one group per class width)."""
    # 0 for the classifier on a chip before a chain's last, whose ROMs leave it out (never walked)
    return next((s.group for s in layout.slots if MATRIX_CLASS[s.name] == cls), 0)


def _dsp_values_text(knobs: Knobs) -> str:
    return f" ({knobs.dsp_values} values a lane on multipliers)" if knobs.dsp_values else ""


def core_parameters(model, layout: Layout, knobs: Knobs) -> list[tuple[str, str, str]]:
    """(name, Verilog literal, comment) for every hw_core parameter, in the order of ports.md."""
    cfg, a = model.config, model.arrays
    bits = model.knobs["bits"]
    targets = ",".join(knobs.lora_targets) if knobs.lora_rank and knobs.lora_targets else "none"
    return [
        ("D", str(cfg.dim), "model dim"),
        ("H", str(cfg.hidden_dim), "MLP hidden dim"),
        ("L", str(cfg.n_layers), "layers"),
        ("NH", str(cfg.n_heads), "query heads"),
        ("NKV", str(cfg.n_kv_heads), "key/value heads"),
        ("HD", str(cfg.head_dim), "head dim"),
        ("V", str(cfg.vocab_size), "vocabulary"),
        ("CTX", str(knobs.context), "KV cache positions (build context)"),
        ("LANES", str(layout.lanes), "matrix lanes"),
        ("VPL", str(layout.vpl), "values per lane per cycle"),
        ("MAC_LUT", str(int(knobs.macs == "lut")), "lane MACs from LUT adders (1) or multipliers (0)"),
        ("MAC_DSP_V", str(knobs.dsp_values), "of the LUT MAC lanes' values, the last ones on multipliers"),
        ("RQ_SHARE", str(layout.rq_share), "lanes per requantizer (2: every row is 2 words or more)"),
        *attention.core_parameters(cfg, knobs),
        ("NORM_W", str(knobs.norm_lanes(cfg.dim)), "rmsnorm elements per cycle"),
        ("EMB_W", str(knobs.emb_lanes(cfg.dim)), "embedding elements per cycle (emb.hex word)"),
        ("ROPE_W", str(knobs.rope_lanes(cfg)), "RoPE pairs per cycle"),
        ("WB", str(layout.wb), "lane MAC bits per weight (widest class)"),
        ("BITS_EMB", str(bits["embedding"]), "embedding weight bits"),
        ("BITS_ATT", str(bits["attention"]), "attention weight bits"),
        ("BITS_MLP", str(bits["mlp"]), "MLP weight bits"),
        ("BITS_CLS", str(bits["classifier"]), "classifier weight bits"),
        ("ROM_DEPTH", str(max(g.depth for g in layout.groups)), "words of the deepest lane weight ROM"),
        ("ROM_GROUPS", str(len(layout.groups)), "lane weight ROMs, one per weight width"),
        ("ROM_GROUP_WB", _packed([g.bits for g in layout.groups], 8), "bits per weight of each ROM (group 0 lowest)"),
        ("ROM_GROUP_DEPTH", _packed([g.depth for g in layout.groups], 32), "words of each ROM (group 0 lowest)"),
        ("GROUP_ATT", str(_class_group(layout, "attention")), "ROM group of the attention matrices"),
        ("GROUP_MLP", str(_class_group(layout, "mlp")), "ROM group of the MLP matrices"),
        ("GROUP_CLS", str(_class_group(layout, "classifier")), "ROM group of the classifier"),
        ("SCALE_DEPTH", str(layout.scale_depth), "words per lane scale ROM (passes per token)"),
        ("ACC_W", str(layout.acc_bits), "accumulator bits"),
        ("ROWS_W", str(layout.rows_w), "row count bits"),
        ("COLS_W", str(layout.cols_w), "column count bits"),
        ("K_MAX", str(knobs.k_max), "top-k sampler capacity"),
        ("DBG_VECTORS", str(int(knobs.debug_vectors)), "debug window reads of the vector buffers (0 = off)"),
        ("LORA_RANK", str(knobs.lora_rank), "LoRA rank (0 = none)"),
        ("LORA_TARGETS", f"7'b{knobs.lora_mask:07b}", f"LoRA on {targets} (bit i = {', '.join(LORA_TARGETS)})"),
        ("STREAMS", str(knobs.streams // knobs.contexts), "streams of a context: KV cache slots, each with its position"),
        ("CONTEXTS", str(knobs.contexts), "sequencer contexts sharing the matrix engine"),
        ("CONTEXT", "0", "this context"),
        *chain_parameters(model),
        ("QKW", str(qk_bits(model)), "bits of q, k and the key cache (the model's qk_bits)"),
        ("GEN_VERSION", f"32'h{GEN_VERSION_WORD:08x}", f"generator {version_text()}"),
        ("ROM_DIR", "ROM_DIR", "hex file folder"),
    ]


# hw_core's chain ports (docs/chain.md): (direction, width, name); one chip ties them off
CHAIN_PORTS = (
    ("output", 16, "chain_tx_data"),
    ("output", 1, "chain_tx_valid"),
    ("input", 1, "chain_tx_ready"),
    ("input", 16, "chain_rx_data"),
    ("input", 1, "chain_rx_valid"),
    ("output", 1, "chain_rx_ready"),
)


# hw_core's side of a shared matrix engine (hw_mv_share): (direction, name, width from the layout)
def mv_ports(layout: Layout) -> tuple[tuple[str, str, int], ...]:
    rq_w = layout.acc_bits + 16
    return (("output", "mvx_start", 1), ("output", "mvx_tag", 8), ("output", "mvx_rows", 16),
            ("output", "mvx_cols", 16), ("output", "mvx_rewind", 1), ("output", "mvx_flush", 1),
            ("input", "mvx_ready", 1), ("input", "mvx_busy", 1), ("input", "mvx_x_word", 16),
            ("input", "mvx_x_tag", 8), ("output", "mvx_x_data", 512), ("input", "mvx_out_valid", layout.lanes),
            ("input", "mvx_out_row", layout.lanes * layout.rows_w),
            ("input", "mvx_out_data", layout.lanes * rq_w), ("input", "mvx_out_tag", 8))


def mv_tie_lines(layout: Layout, prefix: str = "mvx_unused_", indent: str = "        ") -> list[str]:
    """A single-context hw_core's mvx_* connections: inputs 0, outputs into `prefix`* wires."""
    zero = "'d0"
    return [f"{indent}.{name}({str(w) + zero if d == 'input' else prefix + name[4:]})"
            for d, name, w in mv_ports(layout)]


def mv_unused_lines(layout: Layout, prefix: str = "mvx_unused_") -> list[str]:
    """The wires mv_tie_lines' outputs go to, and their sink."""
    outs = [(name, w) for d, name, w in mv_ports(layout) if d == "output"]
    return ([f"    wire {f'[{w - 1}:0]' if w > 1 else '':<8} {prefix}{name[4:]};" for name, w in outs]
            + [f"    wire unused_{prefix}sink = &{{1'b0, {', '.join(prefix + n[4:] for n, _ in outs)}}};"])


def chain_place(model) -> dict:
    """The model's place in a chain (hw/rtlgen/chain.py writes model.meta["chain"]): index,
    chips, layer_base; a whole model is chip 0 of 1."""
    c = model.meta.get("chain") or {}
    return {"index": int(c.get("index", 0)), "chips": int(c.get("chips", 1)),
            "layer_base": int(c.get("layer_base", 0))}


def device_fingerprint(model) -> str:
    """The fingerprint the device reports (FINGERPRINT, model.hex): the model's; on a chip of a chain
    the whole model's, its CHAIN register saying which part it holds (the host checks that every chip
    of a chain reports the same)."""
    return (model.meta.get("chain") or {}).get("whole_fingerprint") or model.fingerprint


def chain_parameters(model) -> list[tuple[str, str, str]]:
    c = chain_place(model)
    return [
        ("CHIP_FIRST", str(int(c["index"] == 0)), "holds the embedding and the token loop"),
        ("CHIP_LAST", str(int(c["index"] == c["chips"] - 1)), "holds the final rmsnorm, classifier and sampler"),
        ("CHIP_INDEX", str(c["index"]), "place in the chain"),
        ("CHIP_COUNT", str(c["chips"]), "chips in the chain"),
        ("LAYER_BASE", str(c["layer_base"]), "the whole model's index of this chip's first layer"),
    ]


def chain_bus_lines(model, name: str, conns: dict[str, str], indent: str = "    ") -> list[str]:
    """An hw_chain_bus instance (hw/rtl/hw_chain_bus.v) for `model`'s chip; conns maps each of its
    ports but clk and rst to an expression."""
    from host.regmap import BY_NAME

    c = chain_place(model)
    params = (f".DIM({model.config.dim + 2}), .CHIP_INDEX(8'd{c['index']}), .CHIP_FIRST({int(c['index'] == 0)}), "
              f".R_REMOTE(8'd{BY_NAME['CHAIN_REMOTE'].index}), .R_REMOTE_DATA(8'd{BY_NAME['CHAIN_REMOTE_DATA'].index})")
    ports = ", ".join(f".{p}({e})" for p, e in conns.items())
    return [f"{indent}hw_chain_bus #({params}) {name} (", f"{indent}    .clk(clk), .rst(rst), {ports});"]


CHAIN_BUS_PORTS = ("reg_wr", "reg_addr", "reg_wdata", "reg_rd", "reg_rdata", "core_wr", "core_addr", "core_wdata",
                   "core_rd", "core_rdata", "core_tx_data", "core_tx_valid", "core_tx_ready", "core_rx_data",
                   "core_rx_valid", "core_rx_ready", "link_tx_data", "link_tx_valid", "link_tx_ready",
                   "link_rx_data", "link_rx_valid", "link_rx_ready")


def _roms_text(layout: Layout) -> str:
    roms = [f"{g.depth} words of {layout.vpl * g.bits} bits" for g in layout.groups]
    return roms[0] if len(roms) == 1 else "(" + " + ".join(roms) + ")"


def header_lines(model, layout: Layout, knobs: Knobs) -> list[str]:
    cfg, bits = model.config, model.knobs["bits"]
    src = model.meta.get("source") or "unknown"
    lora = (f"rank {knobs.lora_rank} on {', '.join(knobs.lora_targets) or 'no projection'}"
            if knobs.lora_rank else "none")
    return [
        f"{TOP_MODULE}: one accelerator for one model, hw_core with this model's parameters.",
        f"Generated by hardwire's RTL generator {version_text()}; do not edit, re-run `hardwire compile`.",
        "",
        f"model        {src}",
        f"fingerprint  {model.fingerprint}",
        f"dimensions   dim {cfg.dim}, hidden {cfg.hidden_dim}, layers {cfg.n_layers}, heads {cfg.n_heads}, "
        f"kv heads {cfg.n_kv_heads}, vocab {cfg.vocab_size}, trained context {cfg.seq_len}",
        f"weight bits  embedding {bits['embedding']}, attention {bits['attention']}, mlp {bits['mlp']}, "
        f"classifier {bits['classifier']}",
        f"knobs        lanes {knobs.lanes}, values per lane {knobs.values_per_lane}, context {knobs.context}, "
        f"k_max {knobs.k_max}, LoRA {lora}, debug vectors {'on' if knobs.debug_vectors else 'off'}, "
        f"MACs {knobs.macs}{_dsp_values_text(knobs)}, {attention.header_text(cfg, knobs)}, "
        f"rmsnorm width {knobs.norm_lanes(cfg.dim)}",
        f"lane ROMs    {layout.lanes} x {_roms_text(layout)}, "
        f"accumulator {layout.acc_bits} bits; scale ROM {layout.scale_depth} words of {layout.lanes} x 21 bits",
        "",
        "Weights, scales, tables, the fingerprint and the model's global constants are $readmemh",
        "files in ROM_DIR (lane_NNN.hex, scale.hex, emb.hex, model.hex, ...; see build.json), all",
        "in block RAM so that `hardwire respin` can replace them; hw_core and the library are in hw/rtl/.",
    ]


# a chip of a chain: the pins of its two link ends (hw_chain_ends; docs/chain.md, docs/chip_link.md)
LINK_PINS = (
    ("output", 8, "next_tx_d", "frames to the next chip"),
    ("output", 1, "next_tx_sof", ""),
    ("output", 1, "next_tx_lclk", ""),
    ("input", 8, "next_rx_d", "its ACKs back"),
    ("input", 1, "next_rx_sof", ""),
    ("input", 1, "next_rx_lclk", ""),
    ("input", 8, "prev_rx_d", "frames from the previous chip"),
    ("input", 1, "prev_rx_sof", ""),
    ("input", 1, "prev_rx_lclk", ""),
    ("output", 8, "prev_tx_d", "ACKs to it"),
    ("output", 1, "prev_tx_sof", ""),
    ("output", 1, "prev_tx_lclk", ""),
    ("output", 1, "link_error", "a link end gave up (sticky until rst)"),
)


def port_lines(ports) -> list[str]:
    """A module's port declarations from (direction, width, name, comment) rows."""
    out = []
    for i, (d, w, name, comment) in enumerate(ports):
        rng = f"[{w - 1}:0]" if w > 1 else ""
        decl = f"    {d:<6} wire {rng:<6} {name}" + ("," if i < len(ports) - 1 else "")
        out.append(f"{decl:<36}// {comment}" if comment else decl)
    return out


def param_lines(params, indent: str = "        ") -> list[str]:
    """`.NAME(value), // comment` lines of a parameter list, aligned."""
    nw = max(len(n) for n, _, _ in params)
    vw = max(len(v) for _, v, _ in params if len(v) < 20) + 3     # long literals just overflow
    return [f"{indent}.{name:<{nw}} {(f'({val})' + (',' if i < len(params) - 1 else '')):<{vw}} // {comment}"
            for i, (name, val, comment) in enumerate(params)]


def context_lines(layout: Layout, knobs: Knobs, params) -> list[str]:
    """The body of a top with knobs.contexts sequencer contexts (hw_core instances, stream s on
    context s % C) around one shared matrix engine (hw_mv_share); the register answers ORed (only the
    context STREAM_SEL picks answers), the busy and token_avail pins the selected context's."""
    from host.regmap import BY_NAME
    from hw.architecture import MATRICES, MATRIX_CLASS as CLS

    n = knobs.contexts
    ports = mv_ports(layout)
    tag_w = max(1, (len(MATRICES) - 1).bit_length())
    groups = [_class_group(layout, CLS[m.name]) for m in MATRICES] + [0] * ((1 << tag_w) - len(MATRICES))
    chain_outs = [(f"ctx{k}_{name}", w) for k in range(n) for d, w, name in CHAIN_PORTS if d == "output"]
    out = [f"    // {n} sequencer contexts share one matrix engine (docs/core.md \"Contexts\")",
           f"    wire [{n - 1}:0] ctx_busy, ctx_avail;", f"    wire [{n * 32 - 1}:0] ctx_rdata;"]
    out += [f"    wire [{w - 1}:0] {name};" for d, name, w in ports if name in SHARED_MV]
    out += [f"    wire [{n * w - 1}:0] {name};" for d, name, w in ports if name not in SHARED_MV]
    out += [f"    wire {f'[{w - 1}:0]' if w > 1 else '':<6} {name};" for name, w in chain_outs]
    own = {"reg_rdata": "ctx_rdata[{b32} +: 32]", "busy": "ctx_busy[{k}]", "token_avail": "ctx_avail[{k}]"}
    for k in range(n):
        ps = [(nm, str(k) if nm == "CONTEXT" else v, c) for nm, v, c in params]
        conns = [(name, own.get(name, name).format(k=k, b32=32 * k)) for _, _, name, _ in CORE_PORTS]
        conns += [(name, f"{w}'d0" if d == "input" else f"ctx{k}_{name}") for d, w, name in CHAIN_PORTS]
        conns += [(name, name if name in SHARED_MV else f"{name}[{k * w} +: {w}]") for d, name, w in ports]
        out += ["", "    hw_core #("] + param_lines(ps) + [f"    ) context{k} ("]
        out += [",\n".join(f"        .{name}({e})" for name, e in conns), "    );"]
    share = [("CTXS", str(n)), ("LANES", str(layout.lanes)), ("VPL", str(layout.vpl)), ("WB", str(layout.wb)),
             ("ROM_DEPTH", str(max(g.depth for g in layout.groups))), ("SCALE_DEPTH", str(layout.scale_depth)),
             ("ROWS_W", str(layout.rows_w)), ("COLS_W", str(layout.cols_w)), ("ACC_W", str(layout.acc_bits)),
             ("MUL_LUT", str(int(knobs.macs == "lut"))), ("DSP_V", str(knobs.dsp_values)), ("RQ_SHARE", str(layout.rq_share)), ("TAG_W", str(tag_w)),
             ("ROM_DIR", "ROM_DIR"), ("GROUPS", str(len(layout.groups))),
             ("GROUP_WB", _packed([g.bits for g in layout.groups], 8)),
             ("GROUP_DEPTH", _packed([g.depth for g in layout.groups], 32)), ("TAG_GROUP", _packed(groups, 2)),
             ("LATENCY", str(UNIT_LATENCY["MATVEC_LATENCY"][0]))]
    out += ["", "    hw_mv_share #(", ",\n".join(f"        .{k}({v})" for k, v in share), "    ) matvec (",
            "        .clk(clk),", "        .rst(rst),",
            ",\n".join(f"        .{name[4:]}({name})" for _, name, _ in ports), "    );", "",
            "    assign reg_rdata   = " + " | ".join(f"ctx_rdata[{32 * k} +: 32]" for k in range(n)) + ";",
            "    // the pins are the selected context's (STREAM_SEL's, as its registers): a simulation's clock",
            "    // then runs until the stream the host waits for has a token, not another's",
            f"    reg  [{max(1, (n - 1).bit_length()) - 1}:0] sel_ctx;",
            "    always @(posedge clk) begin",
            f"        if (reg_wr && reg_addr == 8'd{BY_NAME['STREAM_SEL'].index} && reg_wdata < 32'd{knobs.streams}) begin",
            f"            sel_ctx <= reg_wdata[{max(1, (n - 1).bit_length()) - 1}:0];",
            "        end",
            "        if (rst) begin",
            "            sel_ctx <= 0;",
            "        end",
            "    end",
            "    assign busy        = ctx_busy[sel_ctx];", "    assign token_avail = ctx_avail[sel_ctx];",
            f"    wire unused_chain = &{{1'b0, {', '.join(n_ for n_, _ in chain_outs)}}};", "", "endmodule", "",
            "`resetall", ""]
    return out


# the engine's outputs every context sees (the rest is a context's own at [k * width +: width])
SHARED_MV = ("mvx_x_word", "mvx_x_tag", "mvx_out_row", "mvx_out_data", "mvx_out_tag")


def emit_top(model, layout: Layout, knobs: Knobs) -> str:
    """The text of hardwire_top.v: hw_core, and on a chip of a chain its two link ends."""
    params = core_parameters(model, layout, knobs)
    chained = chain_place(model)["chips"] > 1
    ports = [*CORE_PORTS, *(LINK_PINS if chained else ())]
    out = ["`resetall", "`timescale 1ns / 1ps", "`default_nettype none", ""]
    out += [f"// {h}".rstrip() for h in header_lines(model, layout, knobs)]
    out += [f"module {TOP_MODULE} #(",
            '    parameter ROM_DIR = "rom"      // folder of the hex files, relative to the tool\'s working directory',
            ") ("]
    out += port_lines(ports) + [");", ""]
    if knobs.contexts > 1:
        return "\n".join(out + context_lines(layout, knobs, params))
    for d, w, name in CHAIN_PORTS:
        if d == "output" or chained:
            out.append(f"    wire {f'[{w - 1}:0]' if w > 1 else '':<6} {name};")
    if chained:     # the core's bus behind hw_chain_bus, the link ends' frames after it
        out += ["    wire        core_wr, core_rd;", "    wire [7:0]  core_addr;", "    wire [31:0] core_wdata, core_rdata;",
                "    wire [15:0] link_tx_data, link_rx_data;",
                "    wire        link_tx_valid, link_tx_ready, link_rx_valid, link_rx_ready;"]
    out += mv_unused_lines(layout)
    out += ["", "    hw_core #("]
    out += param_lines(params)
    out += ["    ) core ("]
    behind_bus = {"reg_wr": "core_wr", "reg_addr": "core_addr", "reg_wdata": "core_wdata", "reg_rd": "core_rd",
                  "reg_rdata": "core_rdata"} if chained else {}
    for _, _, name, _ in CORE_PORTS:
        out.append(f"        .{name}({behind_bus.get(name, name)}),")
    # one chip: no chain link (its frames ports are tied off)
    for d, w, name in CHAIN_PORTS:
        tie = name if d == "output" or chained else f"{w}'d0"
        out.append(f"        .{name}({tie}),")
    out += [",\n".join(mv_tie_lines(layout)), "    );", ""]
    if chained:
        pins = ",\n".join(f"        .{name}({name})" for _, _, name, _ in LINK_PINS)
        bus = {p: p for p in CHAIN_BUS_PORTS}
        bus.update({f"core_{p}": f"chain_{p}" for p in ("tx_data", "tx_valid", "tx_ready", "rx_data", "rx_valid",
                                                          "rx_ready")})
        out += ["    // registers of the other chips through the first, control frames between the core's",
                *chain_bus_lines(model, "bus", bus), "",
                "    wire [15:0] retransmits;",
                f"    hw_chain_ends #(.W(8), .DIM({model.config.dim + 2}), .BEAT_CLKS(4)) ends (",
                "        .clk(clk),", "        .rst(rst),",
                "        .tx_data(link_tx_data), .tx_valid(link_tx_valid), .tx_ready(link_tx_ready),",
                "        .rx_data(link_rx_data), .rx_valid(link_rx_valid), .rx_ready(link_rx_ready),",
                pins + ",", "        .retransmits(retransmits)", "    );",
                "    wire unused_retransmits = &{1'b0, retransmits};", "", "endmodule", "", "`resetall", ""]
        return "\n".join(out)
    outs = [(w, name) for d, w, name in CHAIN_PORTS if d == "output"]
    out += [f"    wire unused_chain = &{{1'b0, {', '.join(n for _, n in outs)}}};", "", "endmodule", "", "`resetall", ""]
    return "\n".join(out)
