`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_plane_sums: the bit-plane sums of a dot product without multipliers,
//   plane b = sum_{i: bit b of w_i set} x_i     (N int8 values x_i, N WB-bit weights w_i)
// so that sum_i x_i * w_i = sum_b (+-2**b) * plane b (the caller weighs the planes:
// bit WB-1 weighs -2**(WB-1) for two's complement weights). Combinational.
//
// Why pairs: the values are taken two at a time. A pair's contribution to a plane
// is 0, x_a, x_b or x_a + x_b, picked by the pair's two weight bits; the pair sum
// x_a + x_b is computed once for all WB planes. A plane's leaf is then one 4-way
// pick (a LUT4 pair per bit) instead of two masked values and an adder, and each
// plane's adder tree has half the leaves (hw_add_tree, at the width each level
// needs).
module hw_plane_sums #(
    parameter N   = 8,                  // values
    parameter WB  = 4,                  // weight bits (planes)
    parameter PLW = 9 + $clog2(N)       // bits of a plane sum (>= 9 + log2 N)
) (
    input  wire [N*8-1:0]    x,         // value i at [8i +: 8], int8
    input  wire [N*WB-1:0]   w,         // weight i at [WB*i +: WB]
    output wire [WB*PLW-1:0] planes     // plane b at [b*PLW +: PLW], two's complement
);
    localparam NP = (N + 1) / 2;        // pairs (the last one a single value when N is odd)

    wire [NP*9-1:0] lone_a, lone_b, both;   // per pair: x_a, x_b (0 past N), x_a + x_b; 9 bits each
    genvar gp, gb;
    generate
        for (gp = 0; gp < NP; gp = gp + 1) begin : g_pair
            wire signed [8:0] xa = {x[16*gp+7], x[16*gp +: 8]};
            wire signed [8:0] xb;
            if (2 * gp + 1 < N) begin : g_two
                assign xb = {x[16*gp+15], x[16*gp+8 +: 8]};
            end else begin : g_one
                assign xb = 9'sd0;
            end
            assign lone_a[9*gp +: 9] = xa;
            assign lone_b[9*gp +: 9] = xb;
            assign both[9*gp +: 9]   = xa + xb;
        end
        for (gb = 0; gb < WB; gb = gb + 1) begin : g_plane
            wire [NP*PLW-1:0] leaves;
            for (gp = 0; gp < NP; gp = gp + 1) begin : g_leaf
                wire [1:0] bits;                // {bit gb of w_b, bit gb of w_a}
                reg  [8:0] pick;
                if (2 * gp + 1 < N) begin : g_two
                    assign bits = {w[WB*(2*gp+1) + gb], w[WB*(2*gp) + gb]};
                end else begin : g_one
                    assign bits = {1'b0, w[WB*(2*gp) + gb]};
                end
                always @* begin
                    case (bits)
                        2'b01:   pick = lone_a[9*gp +: 9];
                        2'b10:   pick = lone_b[9*gp +: 9];
                        2'b11:   pick = both[9*gp +: 9];
                        default: pick = 9'd0;
                    endcase
                end
                assign leaves[gp*PLW +: PLW] = {{(PLW-9){pick[8]}}, pick};
            end
            hw_add_tree #(.N(NP), .W(PLW), .LEAF_W(9)) tree (.leaves(leaves), .sum(planes[gb*PLW +: PLW]));
        end
    endgenerate

endmodule

`resetall
