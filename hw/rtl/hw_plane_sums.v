`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_plane_sums: the bit-plane sums of a dot product without multipliers,
//   plane b = sum_{i: bit b of w_i set} x_i     (N XW-bit values x_i, N WB-bit weights w_i)
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
    parameter XW  = 8,                  // value bits (8: int8; 16: int16 queries)
    parameter PLW = XW + 1 + $clog2(N)  // bits of a plane sum (>= XW + 1 + log2 N)
) (
    input  wire [N*XW-1:0]   x,         // value i at [XW*i +: XW], signed
    input  wire [N*WB-1:0]   w,         // weight i at [WB*i +: WB]
    output wire [WB*PLW-1:0] planes     // plane b at [b*PLW +: PLW], two's complement
);
    localparam NP = (N + 1) / 2;        // pairs (the last one a single value when N is odd)

    localparam SW = XW + 1;             // a pair sum's bits
    wire [NP*SW-1:0] lone_a, lone_b, both;  // per pair: x_a, x_b (0 past N), x_a + x_b; SW bits each
    genvar gp, gb;
    generate
        for (gp = 0; gp < NP; gp = gp + 1) begin : g_pair
            wire signed [SW-1:0] xa = {x[2*XW*gp+XW-1], x[2*XW*gp +: XW]};
            wire signed [SW-1:0] xb;
            if (2 * gp + 1 < N) begin : g_two
                assign xb = {x[2*XW*gp+2*XW-1], x[2*XW*gp+XW +: XW]};
            end else begin : g_one
                assign xb = {SW{1'b0}};
            end
            assign lone_a[SW*gp +: SW] = xa;
            assign lone_b[SW*gp +: SW] = xb;
            assign both[SW*gp +: SW]   = xa + xb;
        end
        for (gb = 0; gb < WB; gb = gb + 1) begin : g_plane
            wire [NP*PLW-1:0] leaves;
            for (gp = 0; gp < NP; gp = gp + 1) begin : g_leaf
                wire [1:0] bits;                // {bit gb of w_b, bit gb of w_a}
                reg  [SW-1:0] pick;
                if (2 * gp + 1 < N) begin : g_two
                    assign bits = {w[WB*(2*gp+1) + gb], w[WB*(2*gp) + gb]};
                end else begin : g_one
                    assign bits = {1'b0, w[WB*(2*gp) + gb]};
                end
                always @* begin
                    case (bits)
                        2'b01:   pick = lone_a[SW*gp +: SW];
                        2'b10:   pick = lone_b[SW*gp +: SW];
                        2'b11:   pick = both[SW*gp +: SW];
                        default: pick = {SW{1'b0}};
                    endcase
                end
                assign leaves[gp*PLW +: PLW] = {{(PLW-SW){pick[SW-1]}}, pick};
            end
            hw_add_tree #(.N(NP), .W(PLW), .LEAF_W(SW)) tree (.leaves(leaves), .sum(planes[gb*PLW +: PLW]));
        end
    endgenerate

endmodule

`resetall
