`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_silu_gate: the SwiGLU gate of one hidden unit, exactly as hw/numerics.py
// silu_gate: g = sat8(rq(SILU[layer][h1 + 128] * h3, m, sh)). The SiLU tables of
// all layers sit in one ROM of LAYERS*256 int16 words, address layer*256 + h1 + 128
// ($readmemh of TABLE_FILE, written by hw/rtl_tables.py silu_hex).
// Pipelined, N items per cycle (N = 1 or 2: the table's block RAM has two read ports, so
// two gates share one copy), LATENCY = 6: S1 table read -> S1b its register ->
// S2 SILU * h3 -> S3..S5 hw_rq (product with m, round and shift, saturate).
module hw_silu_gate #(
    parameter LAYERS     = 1,                                   // tables in TABLE_FILE
    parameter LW         = (LAYERS > 1) ? $clog2(LAYERS) : 1,   // layer index bits
    parameter TABLE_FILE = "silu.hex",                          // LAYERS*256 words of 16 bits
    parameter N          = 1                                    // items per cycle (1 or 2)
) (
    input  wire              clk,
    input  wire              rst,       // sync, clears out_valid
    input  wire              in_valid,
    input  wire [N*8-1:0]    h1,        // SiLU arguments (int8 codes), item j at [8j +: 8]
    input  wire [N*8-1:0]    h3,        // gate multipliers
    input  wire [LW-1:0]     layer,     // selects the table (< LAYERS)
    input  wire [14:0]       m,         // requant multiplier g_m
    input  wire [5:0]        sh,        // requant shift g_sh
    output wire              out_valid,
    output wire [N*8-1:0]    g
);

    localparam LATENCY = 6;     // cycles from in_valid to out_valid (3 here + hw_rq's 3)
    localparam RQ_LATENCY = 3;  // hw_rq's LATENCY
    localparam PW      = 24;    // int16 * int8 product (|p| <= 2**22)
    localparam TAW     = (LAYERS == 1) ? 8 : LW + 8;   // table address bits

    // ---------------------------------------------------------------- S1: table read
    // item j's address layer*256 + (h1 + 128): h1 + 128 is h1 with its sign bit flipped
    wire [N*TAW-1:0]  taddr;
    wire [N*16-1:0]   silu_s1;
    reg  [N*8-1:0]    h3_s1;
    reg  [14:0]       m_s1;
    reg  [5:0]        sh_s1;

    genvar gj;
    generate
        for (gj = 0; gj < N; gj = gj + 1) begin : g_addr
            wire [7:0] code = {~h1[8*gj + 7], h1[8*gj +: 7]};
            if (LAYERS == 1) begin : g_one
                assign taddr[TAW*gj +: TAW] = code;
            end else begin : g_many
                assign taddr[TAW*gj +: TAW] = {layer, code};
            end
        end
        if (LAYERS == 1) begin : g_no_layer
            wire unused_layer = &{1'b0, layer};
        end
    endgenerate

    hw_rom #(
        .WIDTH(16),
        .DEPTH(LAYERS*256),
        .FILE(TABLE_FILE),
        .AW(TAW),
        .N(N)
    ) table_rom (
        .clk(clk),
        .en(1'b1),
        .addr(taddr),
        .q(silu_s1)
    );

    always @(posedge clk) begin
        h3_s1   <= h3;
        m_s1    <= m;
        sh_s1   <= sh;
    end

    // ---------------------------------------------------------------- S1b: the table's output
    // registered before the multiplier (block RAM -> multiplier was ~17 ns by
    // hw.backends.ecp5_timing)
    reg  [N*16-1:0]   silu_s1b;
    reg  [N*8-1:0]    h3_s1b;
    reg  [14:0]       m_s1b;
    reg  [5:0]        sh_s1b;
    always @(posedge clk) begin
        silu_s1b <= silu_s1;
        h3_s1b   <= h3_s1;
        m_s1b    <= m_s1;
        sh_s1b   <= sh_s1;
    end

    // valid of S1, S1b, S2 (hw_rq carries it on)
    wire v_s2;

    hw_valid_pipe #(
        .DEPTH(LATENCY-RQ_LATENCY)
    ) vpipe (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .out_valid(v_s2)
    );

    reg  [14:0]       m_s2;
    reg  [5:0]        sh_s2;
    always @(posedge clk) begin
        m_s2  <= m_s1b;
        sh_s2 <= sh_s1b;
    end

    wire [N-1:0] valid_j;
    assign out_valid = valid_j[0];
    generate
        for (gj = 0; gj < N; gj = gj + 1) begin : g_item
            // ---------------------------------------------------------------- S2: SILU * h3
            wire signed [15:0]   silu_j   = silu_s1b[16*gj +: 16];
            wire signed [7:0]    h3_j     = h3_s1b[8*gj +: 8];
            wire signed [PW-1:0] silu_ext = {{8{silu_j[15]}}, silu_j};
            wire signed [PW-1:0] h3_ext   = {{16{h3_j[7]}}, h3_j};
            reg  signed [PW-1:0] p_s2;
            always @(posedge clk) begin
                p_s2 <= silu_ext * h3_ext;
            end

            // ---------------------------------------------------------------- S3..S5: requant
            hw_rq #(
                .XW(PW),
                .OW(8)
            ) rq (
                .clk(clk),
                .rst(rst),
                .in_valid(v_s2),
                .x(p_s2),
                .m(m_s2),
                .sh(sh_s2),
                .out_valid(valid_j[gj]),
                .y(g[8*gj +: 8])
            );
        end
        if (N > 1) begin : g_unused
            wire unused_valid = &{1'b0, valid_j[N-1:1]};
        end
    endgenerate

endmodule

`resetall
