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
// checks). Lane 0 goes first, lane 1 a cycle later; hw_rq runs with LATENCY 2 (no
// output register), lane 0's result is held a cycle, and both come out together, as
// SHARE = 1's hw_rq does. The multiplier's operands come straight from a register
// (generator 1.6.1): it loads lane 0's sum from the lane's S5 (next_*, the cycle
// before in_valid), then lane 1's from its S6 register, so the pick between the two
// sits in front of that register and not between a register and the multiplier.
module hw_lane_rq #(
    parameter SHARE = 1,            // lanes per requantizer: 1 or 2
    parameter ACC_W = 24            // bits of a row sum
) (
    input  wire                            clk,
    input  wire                            rst,        // sync, clears out_valid
    input  wire                            in_valid,
    // SHARE = 2: lane 0's sum and scale a cycle before in_valid (hw_mac_lane next_*);
    // lane 0's total and scale below are then not read
    input  wire                            next_valid,
    input  wire [ACC_W-1:0]                next_total,
    input  wire [20:0]                     next_scale,
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
            wire unused_next = &{1'b0, next_valid, next_total, next_scale};
        end else begin : g_pair
            reg  [ACC_W-1:0] rq_x;              // the multiplier's operands: lane 0's, then lane 1's
            reg  [20:0]      rq_s;
            reg              v1, v2, v3;         // in_valid 1, 2, 3 cycles ago
            always @(posedge clk) begin
                if (next_valid) begin
                    rq_x <= next_total;
                    rq_s <= next_scale;
                end else if (in_valid) begin
                    rq_x <= total[ACC_W +: ACC_W];
                    rq_s <= scale[21 +: 21];
                end
            end
            wire unused_first = &{1'b0, total[0 +: ACC_W], scale[0 +: 21]};

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
