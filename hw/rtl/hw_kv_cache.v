`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_kv_cache: the int8 key and value caches, two simple dual-port block RAMs.
// One word holds one head's HD values of one position (value i at [8i +: 8]);
// the word of (layer l, kv head h, position t) is at (l*NKV + h)*CTX + t.
// The core writes k and v of one head per cycle; the attention engine reads a
// key word and a value word per cycle (each its own address), registered (1
// cycle latency).
module hw_kv_cache #(
    parameter HD    = 8,                                    // head dimension (values per word)
    parameter DEPTH = 64,                                   // words = L * NKV * CTX
    parameter AW    = (DEPTH > 1) ? $clog2(DEPTH) : 1       // address bits
) (
    input  wire            clk,
    // write port: k and v words of one (layer, kv head, position)
    input  wire            wr_en,
    input  wire [AW-1:0]   wr_addr,
    input  wire [HD*8-1:0] wr_k,
    input  wire [HD*8-1:0] wr_v,
    // read ports, one per memory: keys and values of different positions (and heads) at once
    input  wire            rd_k_en,
    input  wire [AW-1:0]   rd_k_addr,
    input  wire            rd_v_en,
    input  wire [AW-1:0]   rd_v_addr,
    output reg  [HD*8-1:0] rd_k,        // valid the cycle after rd_k_en
    output reg  [HD*8-1:0] rd_v         // valid the cycle after rd_v_en
);

    (* ram_style = "block" *)
    reg [HD*8-1:0] k_mem [0:DEPTH-1];
    (* ram_style = "block" *)
    reg [HD*8-1:0] v_mem [0:DEPTH-1];

    // one always block per port (separate blocks keep block-RAM inference)
    always @(posedge clk) begin
        if (wr_en) begin
            k_mem[wr_addr] <= wr_k;
        end
    end

    always @(posedge clk) begin
        if (wr_en) begin
            v_mem[wr_addr] <= wr_v;
        end
    end

    always @(posedge clk) begin
        if (rd_k_en) begin
            rd_k <= k_mem[rd_k_addr];
        end
    end

    always @(posedge clk) begin
        if (rd_v_en) begin
            rd_v <= v_mem[rd_v_addr];
        end
    end

endmodule

`resetall
