`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_mv_share: one matrix engine (hw_matvec) shared by CTXS sequencer contexts (hw_core
// instances with CONTEXTS > 1, their mvx_* ports). Each context starts its matrices as it
// would on an engine of its own; a start waits while the engine walks another context's
// matrix, and when several contexts start at once the one after the last served goes first
// (round robin). A matrix, once started, runs to its end at full rate, so every schedule a
// context keys on its own start still holds: while one context computes attention or a
// vector step, the engine does another's matrices. The x request goes to every context; the
// one it is for answers (the others' answers are dropped here), and results come back to
// their context only (out_valid per context).
module hw_mv_share #(
    parameter CTXS        = 2,      // contexts
    parameter LANES       = 4,
    parameter VPL         = 4,
    parameter WB          = 8,
    parameter ROM_DEPTH   = 16,
    parameter SCALE_DEPTH = 4,
    parameter ROWS_W      = 10,
    parameter COLS_W      = 10,
    parameter ACC_W       = 24,
    parameter MUL_LUT     = 0,
    parameter DSP_V       = 0,      // hw_matvec DSP_V
    parameter RQ_SHARE    = 1,
    parameter TAG_W       = 3,      // matrix tag bits (hardwire_arch.vh)
    parameter ROM_DIR     = "rom",
    parameter GROUPS      = 1,
    parameter GROUP_WB    = WB,
    parameter GROUP_DEPTH = ROM_DEPTH,
    parameter TAG_GROUP   = 0,
    parameter LATENCY     = 9       // hw_matvec LATENCY (hardwire_arch.vh MATVEC_LATENCY)
) (
    input  wire                        clk,
    input  wire                        rst,
    // context c's side at [c] (hw_core's mvx_* ports)
    input  wire [CTXS-1:0]             start,
    input  wire [CTXS*8-1:0]           tag,
    input  wire [CTXS*16-1:0]          rows,
    input  wire [CTXS*16-1:0]          cols,
    input  wire [CTXS-1:0]             rewind,
    input  wire [CTXS-1:0]             flush,
    output wire [CTXS-1:0]             ready,
    output wire [CTXS-1:0]             busy,
    output wire [15:0]                 x_word,
    output wire [7:0]                  x_tag,
    input  wire [CTXS*512-1:0]         x_data,
    output wire [CTXS*LANES-1:0]       out_valid,
    output wire [LANES*ROWS_W-1:0]     out_row,
    output wire [LANES*(ACC_W+16)-1:0] out_data,
    output wire [7:0]                  out_tag
);

    localparam CW = (CTXS > 1) ? $clog2(CTXS) : 1;

    // ---------------------------------------------------------------- round robin
    reg  [CW-1:0] last_reg;         // the context served last
    reg  [CW-1:0] pick;             // the context whose start goes first now
    reg           any_start;
    integer i, cand;
    always @* begin
        pick      = last_reg;
        any_start = 1'b0;
        for (i = CTXS; i >= 1; i = i - 1) begin
            cand = ({{(32-CW){1'b0}}, last_reg} + i) % CTXS;
            if (start[cand]) begin
                pick      = cand[CW-1:0];
                any_start = 1'b1;
            end
        end
    end

    wire mv_ready;
    wire granted = any_start && mv_ready;
    always @(posedge clk) begin
        if (granted) begin
            last_reg <= pick;
        end
        if (rst) begin
            last_reg <= {CW{1'b0}};
        end
    end

    genvar c;
    generate
        for (c = 0; c < CTXS; c = c + 1) begin : g_ready
            assign ready[c] = mv_ready && any_start && (pick == c);
        end
    endgenerate

    // ---------------------------------------------------------------- the engine
    wire [COLS_W-1:0]          mv_x_word;
    wire [TAG_W-1:0]           mv_x_tag, mv_out_tag;
    wire [CW-1:0]              mv_x_ctx, mv_out_ctx;
    wire [LANES-1:0]           mv_out_valid;
    wire                       mv_busy, mv_x_req, mv_out_last;
    reg  [CW-1:0]              x_ctx_q;     // the context of the x request answered now
    always @(posedge clk) begin
        x_ctx_q <= mv_x_ctx;
    end

    hw_matvec #(
        .LANES(LANES),
        .VPL(VPL),
        .WB(WB),
        .ROM_DEPTH(ROM_DEPTH),
        .SCALE_DEPTH(SCALE_DEPTH),
        .ROWS_W(ROWS_W),
        .COLS_W(COLS_W),
        .ACC_W(ACC_W),
        .MUL_LUT(MUL_LUT),
        .DSP_V(DSP_V),
        .RQ_SHARE(RQ_SHARE),
        .TAG_W(TAG_W),
        .ROM_DIR(ROM_DIR),
        .GROUPS(GROUPS),
        .GROUP_WB(GROUP_WB),
        .GROUP_DEPTH(GROUP_DEPTH),
        .TAG_GROUP(TAG_GROUP),
        .CTXS(CTXS),
        .CW(CW),
        .LATENCY(LATENCY)
    ) matvec (
        .clk(clk),
        .rst(rst),
        .rewind(rewind),
        .flush(flush),
        .start(any_start),
        .start_ctx(pick),
        .start_rows(rows[pick*16 +: ROWS_W]),
        .start_cols(cols[pick*16 +: COLS_W]),
        .start_tag(tag[pick*8 +: TAG_W]),
        .ready(mv_ready),
        .busy(mv_busy),
        .ctx_busy(busy),
        .x_req(mv_x_req),
        .x_word(mv_x_word),
        .x_tag(mv_x_tag),
        .x_ctx(mv_x_ctx),
        .x_data(x_data[x_ctx_q*512 +: VPL*8]),
        .out_valid(mv_out_valid),
        .out_row(out_row),
        .out_data(out_data),
        .out_last(mv_out_last),
        .out_tag(mv_out_tag),
        .out_ctx(mv_out_ctx)
    );

    assign x_word  = {{(16-COLS_W){1'b0}}, mv_x_word};
    assign x_tag   = {{(8-TAG_W){1'b0}}, mv_x_tag};
    assign out_tag = {{(8-TAG_W){1'b0}}, mv_out_tag};
    generate
        for (c = 0; c < CTXS; c = c + 1) begin : g_out
            assign out_valid[c*LANES +: LANES] = (mv_out_ctx == c) ? mv_out_valid : {LANES{1'b0}};
        end
    endgenerate

    wire unused_share = &{1'b0, cand, mv_busy, mv_x_req, mv_out_last, tag, rows, cols};

endmodule

`resetall
