`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_kv_cache: the key (int8, or int16 with KW = 16) and int8 value caches, read P positions at
// a time. A word holds one head's HD values of one position (value i at [8i +: 8], key i at
// [KW*i +: KW]); the
// word of (layer l, kv head h, position t) is at (l*NKV + h)*CTX + t. Each cache
// is P simple dual-port block RAMs, RAM p holding the words whose address is p
// modulo P (at address / P), so a read of row r returns the P words r*P ..
// r*P + P - 1 at once (value word p at [p*HD*8 +: HD*8], key word p at [p*HD*KW +: HD*KW]).
// The core writes k and v of one head per cycle (one RAM each); the attention
// engine reads a key row and a value row per cycle (each its own row address),
// registered (1 cycle latency).
module hw_kv_cache #(
    parameter HD    = 8,                                    // head dimension (values per word)
    parameter DEPTH = 64,                                   // words = L * NKV * CTX, a multiple of P
    parameter P     = 1,                                    // words per read (a power of two)
    parameter KW    = 8,                                    // bits of a key element: 8, or 16
    parameter AW    = (DEPTH > 1) ? $clog2(DEPTH) : 1,      // word address bits
    parameter LP    = (P > 1) ? $clog2(P) : 0,              // bits of a word's RAM index
    parameter RAW   = (DEPTH / P > 1) ? $clog2(DEPTH / P) : 1   // row address bits
) (
    input  wire              clk,
    // write port: k and v words of one (layer, kv head, position)
    input  wire              wr_en,
    input  wire [AW-1:0]     wr_addr,
    input  wire [HD*KW-1:0]  wr_k,
    input  wire [HD*8-1:0]   wr_v,
    // read ports, one per cache: keys and values of different rows (and heads) at once
    input  wire              rd_k_en,
    input  wire [RAW-1:0]    rd_k_row,
    input  wire              rd_v_en,
    input  wire [RAW-1:0]    rd_v_row,
    output wire [P*HD*KW-1:0] rd_k,     // valid the cycle after rd_k_en
    output wire [P*HD*8-1:0] rd_v       // valid the cycle after rd_v_en
);

    localparam ROWS = DEPTH / P;

    wire [31:0]    wr_addr32 = {{(32-AW){1'b0}}, wr_addr};
    wire [31:0]    wr_row32  = wr_addr32 >> LP;
    wire [31:0]    wr_sub32  = wr_addr32 & (P - 1);
    wire [RAW-1:0] wr_row    = wr_row32[RAW-1:0];

    genvar p;
    generate
        for (p = 0; p < P; p = p + 1) begin : g_ram
            wire [HD*KW-1:0] k_q;
            wire [HD*8-1:0]  v_q;
            wire            we = wr_en && (wr_sub32 == p);

            hw_ram_sdp #(
                .WIDTH(HD*KW),
                .DEPTH(ROWS),
                .STYLE("block"),
                .AW(RAW)
            ) k_mem (
                .clk(clk),
                .wr_en(we),
                .wr_addr(wr_row),
                .wr_data(wr_k),
                .rd_en(rd_k_en),
                .rd_addr(rd_k_row),
                .rd_data(k_q)
            );

            hw_ram_sdp #(
                .WIDTH(HD*8),
                .DEPTH(ROWS),
                .STYLE("block"),
                .AW(RAW)
            ) v_mem (
                .clk(clk),
                .wr_en(we),
                .wr_addr(wr_row),
                .wr_data(wr_v),
                .rd_en(rd_v_en),
                .rd_addr(rd_v_row),
                .rd_data(v_q)
            );

            assign rd_k[p*HD*KW +: HD*KW] = k_q;
            assign rd_v[p*HD*8 +: HD*8] = v_q;
        end
    endgenerate

    wire unused_ok = &{1'b0, wr_row32[31:RAW]};

endmodule

`resetall
