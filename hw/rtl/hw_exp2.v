`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_exp2: e = 2**(-z/256) in Q15 for an unsigned z, exactly as hw/numerics.py
// exp2_neg: EXP2[z & 255] >> (z >> 8), and 0 once z >> 8 >= 16. EXP2 is a
// 256 x 16 table ($readmemh of TABLE_FILE, written by hw/rtl_tables.py exp2_hex).
// Pipelined, N items per cycle (z_j at [ZW*j +: ZW], e_j at [16*j +: 16]), LATENCY = 2:
// S1 table read -> S2 shift. The N reads share one table: a block RAM has two read
// ports, so N = 2 (an attention engine's 2 KV positions a cycle) takes one block, not two.
module hw_exp2 #(
    parameter ZW         = 32,          // bits of z (unsigned), >= 8
    parameter TABLE_FILE = "exp2.hex",  // 256 words of 16 bits
    parameter N          = 1            // items per cycle
) (
    input  wire            clk,
    input  wire            rst,         // sync, clears out_valid
    input  wire            in_valid,
    input  wire [N*ZW-1:0] z,           // exponents in 1/256 units
    output wire            out_valid,
    output wire [N*16-1:0] e            // Q15, 32768 = 1.0
) ;

    localparam LATENCY = 2;             // cycles from in_valid to out_valid

    // S1: the table read, N ports of one ROM (z zero-extended by 12 bits so that the fields
    // below exist for any ZW >= 8)
    wire [N*8-1:0]  taddr;
    wire [N*16-1:0] t_s1;

    hw_rom #(
        .WIDTH(16),
        .DEPTH(256),
        .FILE(TABLE_FILE),
        .N(N)
    ) table_rom (
        .clk(clk),
        .en(1'b1),
        .addr(taddr),
        .q(t_s1)
    );

    genvar gj;
    generate
        for (gj = 0; gj < N; gj = gj + 1) begin : g_item
            wire [ZW+11:0] z_ext  = {12'd0, z[gj*ZW +: ZW]};
            wire           z_huge = |z_ext[ZW+11:12];  // z >> 8 >= 16: result 0
            reg  [3:0]     ip_s1;
            reg            zero_s1;
            assign taddr[gj*8 +: 8] = z_ext[7:0];

            always @(posedge clk) begin
                ip_s1   <= z_ext[11:8];
                zero_s1 <= z_huge;
            end

            // ------------------------------------------------------------ S2: shift
            reg [15:0] e_s2;

            always @(posedge clk) begin
                e_s2 <= zero_s1 ? 16'd0 : (t_s1[gj*16 +: 16] >> ip_s1);
            end
            assign e[gj*16 +: 16] = e_s2;
        end
    endgenerate

    // ---------------------------------------------------------------- valid pipe
    hw_valid_pipe #(
        .DEPTH(LATENCY)
    ) vpipe (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .out_valid(out_valid)
    );

endmodule

`resetall
