`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_rope_pair: rotate one (a, b) pair of an int8 (XW = 16: int16) vector by (cos, sin) in
// Q2.14, exactly as hw/numerics.py rope:
//   a_out = sat((a*c - b*s + 2**13) >>> 14),  b_out = sat((a*s + b*c + 2**13) >>> 14) to XW bits
// Pipelined, one pair per cycle, LATENCY = 2: S1 four products -> S2 sums, shift, saturate.
module hw_rope_pair #(
    parameter XW = 8                    // element bits: 8, or 16 (int16 q and k)
) (
    input  wire              clk,
    input  wire              rst,       // sync, clears out_valid
    input  wire              in_valid,
    input  wire signed [XW-1:0] a,      // element 2i
    input  wire signed [XW-1:0] b,      // element 2i + 1
    input  wire signed [15:0] c,        // cos, Q2.14
    input  wire signed [15:0] s,        // sin, Q2.14
    output wire              out_valid,
    output wire signed [XW-1:0] a_out,
    output wire signed [XW-1:0] b_out
);

    localparam LATENCY = 2;         // cycles from in_valid to out_valid
    localparam PW      = XW + 16;   // element * int16 product (|p| <= 2**(XW+14))
    localparam SW      = PW + 1;    // sum of two products + 2**13
    localparam FRAC    = 14;        // Q2.14 (numerics.ROPE_FRAC)
    localparam QW      = SW - FRAC; // bits of the shifted sum (XW + 3)

    // ---------------------------------------------------------------- S1: products
    wire signed [PW-1:0] a_ext = {{16{a[XW-1]}}, a};
    wire signed [PW-1:0] b_ext = {{16{b[XW-1]}}, b};
    wire signed [PW-1:0] c_ext = {{XW{c[15]}}, c};
    wire signed [PW-1:0] s_ext = {{XW{s[15]}}, s};

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
    wire signed [SW-1:0] qa = sa >>> FRAC;     // fits QW bits
    wire signed [SW-1:0] qb = sb >>> FRAC;

    // saturate a QW-bit value to XW bits: overflow when bits QW-1..XW-1 are not all the sign
    function [XW-1:0] sat_x;
        input [QW-1:0] v;
        begin
            if (v[QW-1:XW-1] == {(QW-XW+1){1'b0}} || v[QW-1:XW-1] == {(QW-XW+1){1'b1}}) sat_x = v[XW-1:0];
            else sat_x = v[QW-1] ? {1'b1, {(XW-1){1'b0}}} : {1'b0, {(XW-1){1'b1}}};
        end
    endfunction

    reg signed [XW-1:0] a_s2, b_s2;

    always @(posedge clk) begin
        a_s2 <= sat_x(qa[QW-1:0]);
        b_s2 <= sat_x(qb[QW-1:0]);
    end

    // qa/qb bits above QW-1 are copies of bit QW-1 (arithmetic shift of an SW-bit sum).
    wire unused_q = &{1'b0, qa[SW-1:QW], qb[SW-1:QW]};

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
