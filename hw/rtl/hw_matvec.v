`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_matvec: the matrix-vector engine, LANES hw_mac_lane instances behind one
// shared ROM address counter.
// The lane ROMs hold every matrix of a token in walk order (hw/rtlgen/layout.py):
// row r of a matrix is lane r % LANES in pass r / LANES, each pass ceil(C/VPL)
// words. Each weight width has its own ROM (group) in every lane; a matrix's tag
// names its group (TAG_GROUP) and each group has its own address counter, so
// every group ROM is walked from 0 to its end once per token. The core starts the matrices in that order; the walker streams one
// word per cycle, pass after pass and matrix after matrix without a bubble when
// the next start comes while `ready` is high on the last word. The core answers
// each x_req with the VPL int8 values of chunk x_word one cycle later. After
// the last word of a pass, every lane with a row delivers rq(acc, m, sh) at
// full width in the same cycle (LATENCY cycles after that word's x_req); lanes
// share a requantizer by RQ_SHARE (hw_lane_rq).
// CTXS sequencer contexts may share the engine (hw_mv_share, docs/core.md "Contexts"): each
// matrix is started for a context (start_ctx), which comes back on x_ctx and out_ctx; each
// context has its own place in the ROM walk (its addresses are swapped in when its matrix
// starts after another context's), its own rewind and flush, and its own busy.
module hw_matvec #(
    parameter LANES       = 4,      // lanes = rows computed in parallel
    parameter VPL         = 4,      // int8 x values (and weights) per lane per cycle
    parameter WB          = 8,      // weight bits of the lane MACs (widest class)
    parameter ROM_DEPTH   = 16,     // words of the deepest lane weight ROM
    parameter SCALE_DEPTH = 4,      // scale ROM words = passes per token
    parameter ROWS_W      = 10,     // bits of a row count / row index (max R)
    parameter COLS_W      = 10,     // bits of a column count (max C)
    parameter ACC_W       = 24,     // accumulator bits, >= WB + 9
    parameter MUL_LUT     = 0,      // 1: lane products from LUT adders (hw_mac_lane), no DSP
    parameter DSP_V       = 0,      // with MUL_LUT: each lane's last DSP_V values on multipliers, two
                                    // neighbouring lanes' products packed per multiplier when WB <= 4
                                    // (hw_mac_pack)
    parameter TAG_W       = 4,      // bits of the tag that travels with a matrix
    parameter ROM_DIR     = "rom",  // folder of lane_NNN.hex (lane_NNN_gG.hex) and scale.hex
    parameter GROUPS      = 1,      // lane weight ROMs, one per weight width
    parameter GROUP_WB    = WB,     // bits per weight of group g at [8g +: 8]
    parameter GROUP_DEPTH = ROM_DEPTH,  // words of group g at [32g +: 32]
    parameter TAG_GROUP   = 0,      // group of the matrix tagged t at [2t +: 2]
    parameter RQ_SHARE    = 1,      // lanes per requantizer (hw_lane_rq): 2 needs every row >= 2 words
    parameter CTXS        = 1,      // sequencer contexts sharing the engine
    parameter CW          = 1,      // context index bits (>= 1, >= $clog2(CTXS))
    parameter LATENCY     = 9       // x_req -> out_valid: hardwire_arch.vh MATVEC_LATENCY, the stages
                                    // below (S1 x, S2 registers, S3 products, S4 weighed planes / pair
                                    // parts, S5 their sum, S6 row total, hw_lane_rq's 3); the control
                                    // pipeline is sized by it
) (
    input  wire                       clk,
    input  wire                       rst,          // synchronous, active high: everything
    input  wire [CTXS-1:0]            rewind,       // context c's next matrix starts at ROM word 0 (stops its walk)
    input  wire [CTXS-1:0]            flush,        // context c's work is dropped: its walk, results and place
    // command: accepted when start && ready; rows, cols >= 1
    input  wire                       start,
    input  wire [CW-1:0]              start_ctx,    // the context the matrix is for
    input  wire [ROWS_W-1:0]          start_rows,   // R of the matrix
    input  wire [COLS_W-1:0]          start_cols,   // C of the matrix
    input  wire [TAG_W-1:0]           start_tag,    // comes back on x_tag and out_tag
    output wire                       ready,        // idle, or on the last word of a matrix
    output wire                       busy,         // walker or pipeline not empty
    output wire [CTXS-1:0]            ctx_busy,     // the same, for context c's matrices
    // x broadcast: x_data answers x_req one cycle later (registered read in the core)
    output wire                       x_req,
    output wire [COLS_W-1:0]          x_word,       // chunk: columns x_word*VPL .. +VPL-1
    output wire [TAG_W-1:0]           x_tag,
    output wire [CW-1:0]              x_ctx,
    input  wire [VPL*8-1:0]           x_data,       // int8 x[x_word*VPL + j] at [8j +: 8]; columns >= C don't care
    // results of one pass: lane l holds row pass*LANES + l
    output wire [LANES-1:0]           out_valid,    // lane has a row in this pass
    output wire [LANES*ROWS_W-1:0]    out_row,      // row index per lane
    output wire [LANES*(ACC_W+16)-1:0] out_data,    // signed rq(acc, m, sh) per lane, not saturated
    output wire                       out_last,     // last pass of the matrix
    output wire [TAG_W-1:0]           out_tag,
    output wire [CW-1:0]              out_ctx
);

    localparam ROM_AW   = (ROM_DEPTH > 1) ? $clog2(ROM_DEPTH) : 1;
    localparam SCALE_AW = (SCALE_DEPTH > 1) ? $clog2(SCALE_DEPTH) : 1;
    localparam RB_W     = ROWS_W + $clog2(LANES + 1) + 1;           // row base < R + LANES
    localparam CB_W     = COLS_W + $clog2(VPL + 1) + 1;             // column base < C + VPL
    localparam RQ_W     = ACC_W + 16;
    localparam GSEL_W   = (GROUPS > 1) ? $clog2(GROUPS) : 1;
    localparam [2*(1<<TAG_W)-1:0] TAG_GROUPS = TAG_GROUP;
    // control word carried down the pipeline: valid, first, last, pass_last, context, tag, row base, rows,
    // scale address
    localparam CTL_W    = 4 + CW + TAG_W + RB_W + ROWS_W + SCALE_AW;

    // ---------------------------------------------------------------- S0: address walker
    reg                 walk_reg;
    reg [ROWS_W-1:0]    rows_reg;
    reg [COLS_W-1:0]    cols_reg;
    reg [TAG_W-1:0]     tag_reg;
    reg [CW-1:0]        ctx_reg;        // context of the matrix walked (the last one when idle)
    reg [GROUPS*ROM_AW-1:0] addr_reg;   // group g's word address at [g*ROM_AW +: ROM_AW]
    wire [GSEL_W-1:0]   group_reg;      // ROM group of the matrix walked (0 with one group)
    reg [SCALE_AW-1:0]  saddr_reg;
    reg [COLS_W-1:0]    word_reg;       // word index within the row
    reg [CB_W-1:0]      col_reg;        // word_reg * VPL
    reg [RB_W-1:0]      row_base_reg;   // pass * LANES

    wire [CB_W-1:0] col_end    = col_reg + VPL[CB_W-1:0];
    wire [RB_W-1:0] row_end    = row_base_reg + LANES[RB_W-1:0];
    // word_last (col_end >= cols) and pass_last (row_end >= rows) are worked out one
    // word ahead into registers: ready goes straight into the core's sequencer, and
    // the adder and comparison in front of it were a long path at 40+ MHz
    reg             word_last_reg;
    reg             pass_last_reg;
    wire            word_last  = word_last_reg;
    wire            pass_last  = pass_last_reg;
    wire            mat_last   = walk_reg && word_last && pass_last;
    wire [31:0]     cols32     = {{(32-COLS_W){1'b0}}, cols_reg};
    wire [31:0]     rows32     = {{(32-ROWS_W){1'b0}}, rows_reg};
    wire [31:0]     next_col_end  = {{(32-CB_W){1'b0}}, col_end} + VPL;    // the next word's col_end
    wire [31:0]     next_row_end  = {{(32-RB_W){1'b0}}, row_end} + LANES;  // the next pass's row_end

    assign ready  = !walk_reg || mat_last;
    assign x_req  = walk_reg;
    assign x_word = word_reg;
    assign x_tag  = tag_reg;
    assign x_ctx  = ctx_reg;

    // the ROM and scale addresses after this cycle's step of the walk
    reg [GROUPS*ROM_AW-1:0] addr_step;
    reg [SCALE_AW-1:0]      saddr_step;
    always @* begin
        addr_step  = addr_reg;
        saddr_step = saddr_reg;
        if (walk_reg) begin
            addr_step[group_reg*ROM_AW +: ROM_AW] = addr_reg[group_reg*ROM_AW +: ROM_AW] + 1'b1;
            if (word_last) begin
                saddr_step = saddr_reg + 1'b1;
            end
        end
    end
    // a start for another context than the one whose addresses are in addr_reg / saddr_reg
    wire            switch_ctx = (CTXS > 1) && start && ready && (start_ctx != ctx_reg);
    // whose addresses they hold next (one context: always 0, whatever ctx_reg powered up as)
    wire [CW-1:0]   live_ctx   = (CTXS == 1) ? {CW{1'b0}} : (start && ready) ? start_ctx : ctx_reg;

    always @(posedge clk) begin
        addr_reg  <= addr_step;
        saddr_reg <= saddr_step;
        if (walk_reg) begin
            if (word_last) begin
                word_reg      <= {COLS_W{1'b0}};
                col_reg       <= {CB_W{1'b0}};
                word_last_reg <= (VPL >= cols32);
                row_base_reg  <= row_end;
                pass_last_reg <= (next_row_end >= rows32);
                if (pass_last) begin
                    walk_reg <= 1'b0;
                end
            end else begin
                word_reg      <= word_reg + 1'b1;
                col_reg       <= col_end;
                word_last_reg <= (next_col_end >= cols32);
            end
        end
        if (start && ready) begin
            walk_reg     <= 1'b1;
            rows_reg     <= start_rows;
            cols_reg     <= start_cols;
            tag_reg      <= start_tag;
            ctx_reg      <= start_ctx;
            word_reg     <= {COLS_W{1'b0}};
            col_reg      <= {CB_W{1'b0}};
            row_base_reg <= {RB_W{1'b0}};
            word_last_reg <= (VPL >= {{(32-COLS_W){1'b0}}, start_cols});
            pass_last_reg <= (LANES >= {{(32-ROWS_W){1'b0}}, start_rows});
        end
        if (switch_ctx) begin
            addr_reg  <= addr_save[start_ctx];
            saddr_reg <= saddr_save[start_ctx];
        end
        if (rewind[live_ctx] || flush[live_ctx]) begin
            if (!(start && ready) || flush[live_ctx]) begin
                walk_reg <= 1'b0;
            end
            addr_reg  <= {GROUPS*ROM_AW{1'b0}};
            saddr_reg <= {SCALE_AW{1'b0}};
        end
        if (rst) begin
            walk_reg  <= 1'b0;
            ctx_reg   <= {CW{1'b0}};
            addr_reg  <= {GROUPS*ROM_AW{1'b0}};
            saddr_reg <= {SCALE_AW{1'b0}};
        end
    end

    // the saved addresses of the contexts not in addr_reg
    reg [GROUPS*ROM_AW-1:0] addr_save  [0:CTXS-1];
    reg [SCALE_AW-1:0]      saddr_save [0:CTXS-1];
    integer c;
    always @(posedge clk) begin
        if (switch_ctx) begin
            addr_save[ctx_reg]  <= addr_step;
            saddr_save[ctx_reg] <= saddr_step;
        end
        for (c = 0; c < CTXS; c = c + 1) begin
            if (rst || rewind[c] || flush[c]) begin
                addr_save[c]  <= {GROUPS*ROM_AW{1'b0}};
                saddr_save[c] <= {SCALE_AW{1'b0}};
            end
        end
    end

    generate
        if (GROUPS > 1) begin : g_group
            reg [GSEL_W-1:0] group_q;
            always @(posedge clk) begin
                if (start && ready) begin
                    group_q <= TAG_GROUPS[2*start_tag +: GSEL_W];
                end
            end
            assign group_reg = group_q;
        end else begin : g_one_group
            wire unused_tag_groups = &{1'b0, TAG_GROUPS};
            assign group_reg = 1'b0;
        end
    endgenerate

    // ---------------------------------------------------------------- control pipeline S0..S9
    wire [CTL_W-1:0] ctl_s0 = {walk_reg, (word_reg == {COLS_W{1'b0}}), word_last, pass_last,
                               ctx_reg, tag_reg, row_base_reg, rows_reg, saddr_reg};
    // stage s (1..LATENCY) at ctl_q[(s-1)*CTL_W +: CTL_W]
    reg  [LATENCY*CTL_W-1:0] ctl_q;
    integer s;

    always @(posedge clk) begin
        ctl_q <= {ctl_q[(LATENCY-1)*CTL_W-1:0], ctl_s0};
        // a flushed context's words leave the pipeline: no result of it comes out
        for (s = 0; s < LATENCY; s = s + 1) begin
            if (rst || flush[ctl_ctx(s)]) begin
                ctl_q[s*CTL_W + CTL_W - 1] <= 1'b0;
            end
        end
    end

    // field positions, from the top of a control word
    localparam V_BIT  = CTL_W - 1;
    localparam F_BIT  = CTL_W - 2;
    localparam L_BIT  = CTL_W - 3;
    localparam P_BIT  = CTL_W - 4;
    localparam TAG_LO = SCALE_AW + ROWS_W + RB_W;
    localparam CTX_LO = TAG_LO + TAG_W;
    localparam RB_LO  = SCALE_AW + ROWS_W;
    localparam ROW_LO = SCALE_AW;

    // the context of the word that enters stage s + 1 (ctl_q's word s moves on this cycle)
    function [CW-1:0] ctl_ctx;
        input integer st;
        begin
            ctl_ctx = (CTXS == 1) ? {CW{1'b0}} : (st == 0) ? ctx_reg : ctl_q[(st-1)*CTL_W + CTX_LO +: CW];
        end
    endfunction

    reg pipe_busy;
    reg [CTXS-1:0] ctx_busy_c;
    integer b;
    always @* begin
        pipe_busy  = 1'b0;
        ctx_busy_c = {CTXS{1'b0}};
        ctx_busy_c[ctx_reg] = walk_reg;
        for (b = 0; b < LATENCY; b = b + 1) begin
            pipe_busy = pipe_busy | ctl_q[b*CTL_W + V_BIT];
            ctx_busy_c[ctl_q[b*CTL_W + CTX_LO +: CW]] = ctx_busy_c[ctl_q[b*CTL_W + CTX_LO +: CW]]
                                                        | ctl_q[b*CTL_W + V_BIT];
        end
    end
    assign busy     = walk_reg || pipe_busy;
    assign ctx_busy = ctx_busy_c;

    // x arrives at S1 (the core registers its read); registered once more for S2, beside
    // the lanes' ROM output registers
    reg [VPL*8-1:0] x_s2;
    always @(posedge clk) begin
        x_s2 <= x_data;
    end

    // S5 controls of the lanes (the accumulators)
    wire [CTL_W-1:0]    ctl_s5    = ctl_q[4*CTL_W +: CTL_W];
    wire                acc_en    = ctl_s5[V_BIT];
    wire                acc_first = ctl_s5[F_BIT];
    wire                acc_last  = ctl_s5[L_BIT];
    // the scale address a stage early: the lanes register the scale ROM's output before hw_rq's
    // multiplier (block RAM -> multiplier was ~19 ns by hw.backends.ecp5_timing)
    wire [SCALE_AW-1:0] scale_s4  = ctl_q[3*CTL_W +: SCALE_AW];

    // S9 outputs
    wire [CTL_W-1:0]    ctl_o     = ctl_q[(LATENCY-1)*CTL_W +: CTL_W];
    wire                pass_done = ctl_o[V_BIT] && ctl_o[L_BIT];
    wire [RB_W-1:0]     rb_o      = ctl_o[RB_LO +: RB_W];
    wire [ROWS_W-1:0]   rows_o    = ctl_o[ROW_LO +: ROWS_W];
    assign out_last = pass_done && ctl_o[P_BIT];
    assign out_tag  = ctl_o[TAG_LO +: TAG_W];
    assign out_ctx  = ctl_o[CTX_LO +: CW];

    // ---------------------------------------------------------------- lanes
    // S6: each lane's row sum and scale; S9: requantized by hw_lane_rq, RQ_SHARE lanes each
    localparam NRQ = (LANES + RQ_SHARE - 1) / RQ_SHARE;     // requantizers (the last may have one lane)
    wire [LANES-1:0]       total_valid;
    wire [LANES*ACC_W-1:0] total;
    wire [LANES*21-1:0]    total_scale;
    wire [LANES-1:0]       next_valid;       // the same a cycle early (S5), for shared requantizers
    wire [LANES*ACC_W-1:0] next_total;
    wire [LANES*21-1:0]    next_scale;
    wire [NRQ-1:0]         rq_valid;

    // the lanes' scales of a pass in one word (lane l's {sh, m} at [21l +: 21]), read at S4 for S5:
    // one ROM for all lanes (a ROM each took a block RAM each: 11 for 7 at 11 lanes)
    wire [LANES*21-1:0]    scale_s5;
    hw_rom #(
        .WIDTH(LANES*21),
        .DEPTH(SCALE_DEPTH),
        .FILE({ROM_DIR, "/scale.hex"})
    ) scale_rom (
        .clk(clk),
        .en(1'b1),
        .addr(scale_s4),
        .q(scale_s5)
    );

    // one context: a flush is a reset of the whole engine, as before contexts (a lane's pass restarts
    // at acc_first anyway; this keeps a single-context build's registers exactly as they were)
    wire lane_rst = rst || (CTXS == 1 && flush[0]);

    // the multiplier part of the lanes (DSP_V > 0): one hw_mac_pack per two lanes
    localparam DV1    = (DSP_V > 0) ? DSP_V : 1;
    localparam DSP_SW = WB + 11 + $clog2(DV1);              // hw_mac_pack's SUMW
    localparam NPK    = (LANES + 1) / 2;                    // lane pairs (the last may be one lane)
    wire [LANES*DV1*WB-1:0] dsp_w_next;
    wire [LANES*DSP_SW-1:0] dsp_sum;

    genvar l, r;
    generate
        if (DSP_V > 0 && MUL_LUT != 0) begin : g_packs
            for (l = 0; l < NPK; l = l + 1) begin : g_pack
                wire [DSP_V*WB-1:0] b_next;
                wire [DSP_SW-1:0]   sum_b;
                if (2 * l + 1 < LANES) begin : g_pair
                    assign b_next = dsp_w_next[(2*l+1)*DSP_V*WB +: DSP_V*WB];
                    assign dsp_sum[(2*l+1)*DSP_SW +: DSP_SW] = sum_b;
                end else begin : g_lone
                    assign b_next = {(DSP_V*WB){1'b0}};
                    wire unused_sum_b = &{1'b0, sum_b};
                end
                hw_mac_pack #(
                    .N(DSP_V),
                    .WB(WB),
                    .SUMW(DSP_SW)
                ) pack (
                    .clk(clk),
                    .a_next(dsp_w_next[(2*l)*DSP_V*WB +: DSP_V*WB]),
                    .b_next(b_next),
                    .x(x_s2[(VPL-DSP_V)*8 +: DSP_V*8]),
                    .sum_a(dsp_sum[(2*l)*DSP_SW +: DSP_SW]),
                    .sum_b(sum_b)
                );
            end
        end else begin : g_no_packs
            assign dsp_sum = {(LANES*DSP_SW){1'b0}};
            wire unused_dsp_w = &{1'b0, dsp_w_next};
        end
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            // "<ROM_DIR>/lane_NNN.hex": three decimal digits of the lane number
            localparam [7:0] D2 = 8'd48 + ((l / 100) % 10);
            localparam [7:0] D1 = 8'd48 + ((l / 10) % 10);
            localparam [7:0] D0 = 8'd48 + (l % 10);
            wire [RB_W-1:0] row = rb_o + l;

            hw_mac_lane #(
                .VPL(VPL),
                .WB(WB),
                .ACC_W(ACC_W),
                .MUL_LUT(MUL_LUT),
                .DSP_V(MUL_LUT != 0 ? DSP_V : 0),
                .DSP_SW(DSP_SW),
                .ROM_DEPTH(ROM_DEPTH),
                .ROM_FILE({ROM_DIR, "/lane_", D2, D1, D0, ".hex"}),
                .GROUPS(GROUPS),
                .GROUP_WB(GROUP_WB),
                .GROUP_DEPTH(GROUP_DEPTH),
                .ROM_STEM({ROM_DIR, "/lane_", D2, D1, D0})
            ) lane (
                .clk(clk),
                .rst(lane_rst),
                .rom_en(walk_reg),
                .rom_addr(addr_reg),
                .rom_group(group_reg),
                .x_in(x_s2),
                .dsp_w_next(dsp_w_next[l*DV1*WB +: DV1*WB]),
                .dsp_sum(dsp_sum[l*DSP_SW +: DSP_SW]),
                .acc_en(acc_en),
                .acc_first(acc_first),
                .acc_last(acc_last),
                .scale_s5(scale_s5[l*21 +: 21]),
                .next_valid(next_valid[l]),
                .next_total(next_total[l*ACC_W +: ACC_W]),
                .next_scale(next_scale[l*21 +: 21]),
                .total_valid(total_valid[l]),
                .total(total[l*ACC_W +: ACC_W]),
                .total_scale(total_scale[l*21 +: 21])
            );

            // the requantizer's valid equals pass_done; both kept so a mismatch cannot pass silently
            assign out_valid[l]                 = rq_valid[l / RQ_SHARE] && pass_done &&
                                                  (row < {{(RB_W-ROWS_W){1'b0}}, rows_o});
            assign out_row[l*ROWS_W +: ROWS_W]  = row[ROWS_W-1:0];
        end
        for (r = 0; r < NRQ; r = r + 1) begin : g_rq
            localparam integer FIRST = r * RQ_SHARE;
            localparam integer N = (LANES - FIRST < RQ_SHARE) ? LANES - FIRST : RQ_SHARE;
            hw_lane_rq #(
                .SHARE(N),
                .ACC_W(ACC_W)
            ) rq (
                .clk(clk),
                .rst(lane_rst),
                .in_valid(total_valid[FIRST]),
                .next_valid(next_valid[FIRST]),
                .next_total(next_total[FIRST*ACC_W +: ACC_W]),
                .next_scale(next_scale[FIRST*21 +: 21]),
                .total(total[FIRST*ACC_W +: N*ACC_W]),
                .scale(total_scale[FIRST*21 +: N*21]),
                .out_valid(rq_valid[r]),
                .y(out_data[FIRST*RQ_W +: N*RQ_W])
            );
            if (N > 1) begin : g_unused
                wire unused_valid = &{1'b0, total_valid[FIRST + 1 +: N - 1],
                                      next_valid[FIRST + 1 +: N - 1],
                                      next_total[(FIRST + 1)*ACC_W +: (N - 1)*ACC_W],
                                      next_scale[(FIRST + 1)*21 +: (N - 1)*21]};
            end
        end
    endgenerate

endmodule

`resetall
