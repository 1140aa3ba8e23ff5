`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_embedding: a token's embedding row into the int16 residual, golden.GoldenModel's
// `embed`: each element x * m >> sh (hw_rq, round half away from zero, saturated to int16)
// with the row's (m, sh) from emb_scale.hex. W elements a cycle (one emb.hex word), so that
// the first rmsnorm, which trails these writes, is not held back by them.
//
// start (with `token` < V, held until the last element is out) -> elements 0..D-1 in order,
// W at a time: `out_idx` is the first of the W at `out`, LATENCY cycles after each issue
// (issue -> ROM read -> its output registered, as block RAM straight into a multiplier was
// ~18 ns by hw.backends.ecp5_timing -> hw_rq's 3 stages: 5). rst stops a row at any cycle.
module hw_embedding #(
    parameter D       = 64,             // residual width
    parameter V       = 512,            // vocabulary
    parameter W       = 1,              // elements per cycle: a power of two dividing D
    parameter BITS    = 8,              // embedding weight bits
    parameter TOKW    = 16,             // token id bits
    parameter ROM_DIR = "rom",
    parameter IW      = $clog2(D),      // element index bits
    parameter LATENCY = 5               // issue -> out: hardwire_arch.vh EMB_LATENCY, the data path's
                                        // stages (the index pipeline is this long)
) (
    input  wire              clk,
    input  wire              rst,       // synchronous: stop, nothing more comes out
    input  wire              start,     // begin `token`'s row
    input  wire [TOKW-1:0]   token,
    output wire              out_valid,
    output wire [IW-1:0]     out_idx,
    output wire [W*16-1:0]   out        // element out_idx + j at [16j +: 16]
);

    localparam WORDS = V * D / W;                   // emb.hex words of W elements
    localparam AW    = $clog2(WORDS);
    localparam VAW   = $clog2(V);
    localparam integer D_I = D;
    localparam [IW:0] STEP = W[IW:0];

    reg  [AW-1:0]     addr_reg;
    reg  [IW:0]       issue_idx;        // first element of the word being issued
    reg               issuing;
    wire [31:0]       base32 = {{(32-TOKW){1'b0}}, token} * (D_I / W);
    wire              last = ({{(31-IW){1'b0}}, issue_idx} + W >= D_I);
    wire [W*BITS-1:0] emb_q;
    wire [20:0]       scale_q;
    reg               v1, v2;
    reg  [IW-1:0]     idx [1:LATENCY];  // the issued word's first element, beside the data
    reg  [W*BITS-1:0] emb_q2;
    reg  [20:0]       scale_q2;
    wire [W-1:0]      valid_w;

    integer st;
    assign out_valid = valid_w[0];
    assign out_idx   = idx[LATENCY];

    hw_rom #(
        .WIDTH(W*BITS),
        .DEPTH(WORDS),
        .FILE({ROM_DIR, "/emb.hex"}),
        .AW(AW)
    ) emb_rom (
        .clk(clk),
        .en(1'b1),
        .addr(addr_reg),
        .q(emb_q)
    );
    hw_rom #(
        .WIDTH(21),
        .DEPTH(V),
        .FILE({ROM_DIR, "/emb_scale.hex"}),
        .AW(VAW)
    ) emb_scale_rom (
        .clk(clk),
        .en(1'b1),
        .addr(token[VAW-1:0]),
        .q(scale_q)
    );

    always @(posedge clk) begin
        if (issuing) begin
            addr_reg  <= addr_reg + 1'b1;
            issue_idx <= issue_idx + STEP;
            if (last) begin
                issuing <= 1'b0;
            end
        end
        if (start) begin
            addr_reg  <= base32[AW-1:0];
            issue_idx <= {(IW+1){1'b0}};
            issuing   <= 1'b1;
        end
        v1       <= issuing;
        v2       <= v1;
        emb_q2   <= emb_q;
        scale_q2 <= scale_q;
        idx[1]   <= issue_idx[IW-1:0];
        for (st = 2; st <= LATENCY; st = st + 1) begin
            idx[st] <= idx[st-1];
        end
        if (rst) begin
            issuing <= 1'b0;
            v1      <= 1'b0;
            v2      <= 1'b0;
        end
    end

    genvar gj;
    generate
        for (gj = 0; gj < W; gj = gj + 1) begin : g_rq
            hw_rq #(
                .XW(BITS),
                .OW(16)
            ) emb_rq (
                .clk(clk),
                .rst(rst),
                .in_valid(v2),
                .x(emb_q2[gj*BITS +: BITS]),
                .m(scale_q2[14:0]),
                .sh(scale_q2[20:15]),
                .out_valid(valid_w[gj]),
                .y(out[gj*16 +: 16])
            );
        end
    endgenerate
    wire unused_ok = &{1'b0, valid_w, base32};

endmodule

`resetall
