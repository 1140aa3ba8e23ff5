`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_lane_rq: requantizes the row sums of SHARE lanes (1 or 2) with one hw_rq,
//   y = (total * m + 2**(sh-1)) >>> sh   at full width (ACC_W + 16 bits, no saturation),
// every lane's y LATENCY = 3 cycles after their common in_valid.
//
// Why share: a lane has a row sum only once per row, and a row is several ROM words
// long, so one requantizer (two multipliers and a 6-level barrel shifter, ~450 LUT
// slots on the ECP5) can take two lanes' sums on consecutive cycles. SHARE = 2 needs
// in_valid at most every other cycle (rows of two words or more; the generator
// checks). Lane 0 goes first: its total in the cycle of in_valid, lane 1's a cycle
// later from a register; hw_rq runs with LATENCY 2 (no output register), lane 0's
// result is held a cycle, and both come out together, as SHARE = 1's hw_rq does.
module hw_lane_rq #(
    parameter SHARE = 1,            // lanes per requantizer: 1 or 2
    parameter ACC_W = 24            // bits of a row sum
) (
    input  wire                            clk,
    input  wire                            rst,        // sync, clears out_valid
    input  wire                            in_valid,
    input  wire [SHARE*ACC_W-1:0]          total,      // lane i's sum at [i*ACC_W +: ACC_W], signed
    input  wire [SHARE*21-1:0]             scale,      // lane i's {sh, m} at [21i +: 21]
    output wire                            out_valid,
    output wire [SHARE*(ACC_W+16)-1:0]     y           // lane i's result at [i*(ACC_W+16) +: ACC_W+16]
);

    localparam YW = ACC_W + 15;     // hw_rq's full-width result

    generate
        if (SHARE == 1) begin : g_own
            wire signed [YW-1:0] rq_y;
            hw_rq #(.XW(ACC_W), .OW(0)) rq (
                .clk(clk), .rst(rst), .in_valid(in_valid), .x(total),
                .m(scale[14:0]), .sh(scale[20:15]), .out_valid(out_valid), .y(rq_y));
            assign y = {rq_y[YW-1], rq_y};
        end else begin : g_pair
            reg  [ACC_W-1:0] second_total;      // lane 1's sum, taken a cycle after lane 0's
            reg  [20:0]      second_scale;
            reg              v1, v2, v3;         // in_valid 1, 2, 3 cycles ago
            always @(posedge clk) begin
                if (in_valid) begin
                    second_total <= total[ACC_W +: ACC_W];
                    second_scale <= scale[21 +: 21];
                end
            end
            wire [ACC_W-1:0] rq_x = v1 ? second_total : total[0 +: ACC_W];
            wire [20:0]      rq_s = v1 ? second_scale : scale[0 +: 21];

            wire signed [YW-1:0] rq_y;
            wire                 rq_valid;
            hw_rq #(.XW(ACC_W), .OW(0), .OUT_REG(0)) rq (
                .clk(clk), .rst(rst), .in_valid(in_valid || v1), .x(rq_x),
                .m(rq_s[14:0]), .sh(rq_s[20:15]), .out_valid(rq_valid), .y(rq_y));

            // lane 0's result is hw_rq's output 2 cycles after in_valid, lane 1's 3 cycles after
            reg [YW-1:0] first_y;
            always @(posedge clk) begin
                v1 <= in_valid;
                v2 <= v1;
                v3 <= v2;
                if (v2) begin
                    first_y <= rq_y;
                end
                if (rst) begin
                    v1 <= 1'b0;
                    v2 <= 1'b0;
                    v3 <= 1'b0;
                end
            end
            wire unused_rq_valid = &{1'b0, rq_valid};
            assign out_valid = v3;
            assign y = {rq_y[YW-1], rq_y, first_y[YW-1], first_y};
        end
    endgenerate

endmodule

`resetall
