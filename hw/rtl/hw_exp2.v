`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_exp2: e = 2**(-z/256) in Q15 for an unsigned z, exactly as hw/numerics.py
// exp2_neg: EXP2[z & 255] >> (z >> 8), and 0 once z >> 8 >= 16. EXP2 is a
// 256 x 16 table ($readmemh of TABLE_FILE, written by hw/rtl_tables.py exp2_hex).
// Pipelined, one item per cycle, LATENCY = 2: S1 table read -> S2 shift.
module hw_exp2 #(
    parameter ZW         = 32,          // bits of z (unsigned), >= 8
    parameter TABLE_FILE = "exp2.hex"   // 256 words of 16 bits
) (
    input  wire          clk,
    input  wire          rst,           // sync, clears out_valid
    input  wire          in_valid,
    input  wire [ZW-1:0] z,             // exponent in 1/256 units
    output wire          out_valid,
    output wire [15:0]   e              // Q15, 32768 = 1.0
) ;

    localparam LATENCY = 2;             // cycles from in_valid to out_valid

    // ---------------------------------------------------------------- S1: table read
    // z zero-extended by 12 bits so the fields below exist for any ZW >= 8.
    wire [ZW+11:0] z_ext  = {12'd0, z};
    wire           z_huge = |z_ext[ZW+11:12];  // z >> 8 >= 16: result 0

    wire [15:0] t_s1;
    reg  [3:0]  ip_s1;
    reg         zero_s1;

    hw_rom #(
        .WIDTH(16),
        .DEPTH(256),
        .FILE(TABLE_FILE)
    ) table_rom (
        .clk(clk),
        .en(1'b1),
        .addr(z_ext[7:0]),
        .q(t_s1)
    );

    always @(posedge clk) begin
        ip_s1   <= z_ext[11:8];
        zero_s1 <= z_huge;
    end

    // ---------------------------------------------------------------- S2: shift
    reg [15:0] e_s2;

    always @(posedge clk) begin
        e_s2 <= zero_s1 ? 16'd0 : (t_s1 >> ip_s1);
    end

    // ---------------------------------------------------------------- valid pipe
    hw_valid_pipe #(
        .DEPTH(LATENCY)
    ) vpipe (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .out_valid(out_valid)
    );
    assign e = e_s2;

endmodule

`resetall
