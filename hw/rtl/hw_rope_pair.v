`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_rope_pair: rotate one (a, b) pair of an int8 vector by (cos, sin) in Q2.14,
// exactly as hw/numerics.py rope:
//   a_out = sat8((a*c - b*s + 2**13) >>> 14),  b_out = sat8((a*s + b*c + 2**13) >>> 14)
// Pipelined, one pair per cycle, LATENCY = 2: S1 four products -> S2 sums, shift, saturate.
module hw_rope_pair (
    input  wire              clk,
    input  wire              rst,       // sync, clears out_valid
    input  wire              in_valid,
    input  wire signed [7:0] a,         // element 2i
    input  wire signed [7:0] b,         // element 2i + 1
    input  wire signed [15:0] c,        // cos, Q2.14
    input  wire signed [15:0] s,        // sin, Q2.14
    output wire              out_valid,
    output wire signed [7:0] a_out,
    output wire signed [7:0] b_out
);

    localparam LATENCY = 2;     // cycles from in_valid to out_valid
    localparam PW      = 24;    // int8 * int16 product (|p| <= 2**22)
    localparam SW      = 25;    // sum of two products + 2**13 (|sum| < 2**24)
    localparam FRAC    = 14;    // Q2.14 (numerics.ROPE_FRAC)

    // ---------------------------------------------------------------- S1: products
    wire signed [PW-1:0] a_ext = {{16{a[7]}}, a};
    wire signed [PW-1:0] b_ext = {{16{b[7]}}, b};
    wire signed [PW-1:0] c_ext = {{8{c[15]}}, c};
    wire signed [PW-1:0] s_ext = {{8{s[15]}}, s};

    reg signed [PW-1:0] ac_s1, bs_s1, as_s1, bc_s1;

    always @(posedge clk) begin
        ac_s1 <= a_ext * c_ext;
        bs_s1 <= b_ext * s_ext;
        as_s1 <= a_ext * s_ext;
        bc_s1 <= b_ext * c_ext;
    end

    // ---------------------------------------------------------------- S2: sum, shift, saturate
    localparam signed [SW-1:0] HALF = 1 << (FRAC - 1);

    wire signed [SW-1:0] sa = {ac_s1[PW-1], ac_s1} - {bs_s1[PW-1], bs_s1} + HALF;
    wire signed [SW-1:0] sb = {as_s1[PW-1], as_s1} + {bc_s1[PW-1], bc_s1} + HALF;
    wire signed [SW-1:0] qa = sa >>> FRAC;     // fits SW - FRAC = 11 bits
    wire signed [SW-1:0] qb = sb >>> FRAC;

    // sat8 of an 11-bit value: overflow when bits 10..7 are not all the sign.
    function [7:0] sat8;
        input [10:0] v;
        begin
            if (v[10:7] == 4'b0000 || v[10:7] == 4'b1111) sat8 = v[7:0];
            else sat8 = v[10] ? 8'h80 : 8'h7f;
        end
    endfunction

    reg signed [7:0] a_s2, b_s2;

    always @(posedge clk) begin
        a_s2 <= sat8(qa[10:0]);
        b_s2 <= sat8(qb[10:0]);
    end

    // qa/qb bits above 10 are copies of bit 10 (arithmetic shift of a 25-bit sum).
    wire unused_q = &{1'b0, qa[SW-1:11], qb[SW-1:11]};

    // ---------------------------------------------------------------- valid pipe
    hw_valid_pipe #(
        .DEPTH(LATENCY)
    ) vpipe (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .out_valid(out_valid)
    );
    assign a_out = a_s2;
    assign b_out = b_s2;

endmodule

`resetall
