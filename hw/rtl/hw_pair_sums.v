`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_pair_sums: x_2p + x_2p+1 for each pair of N signed XW-bit values (the last pair
// x_N-1 alone when N is odd), XW + 1 bits each: hw_plane_sums' shared pair terms.
// Combinational.
module hw_pair_sums #(
    parameter N  = 8,
    parameter XW = 8
) (
    input  wire [N*XW-1:0]              x,
    output wire [(N+1)/2*(XW+1)-1:0]    pairs
);
    localparam SW = XW + 1;
    genvar gp;
    generate
        for (gp = 0; gp < (N + 1) / 2; gp = gp + 1) begin : g_pair
            wire signed [SW-1:0] xa = {x[2*XW*gp+XW-1], x[2*XW*gp +: XW]};
            wire signed [SW-1:0] xb;
            if (2 * gp + 1 < N) begin : g_two
                assign xb = {x[2*XW*gp+2*XW-1], x[2*XW*gp+XW +: XW]};
            end else begin : g_one
                assign xb = {SW{1'b0}};
            end
            assign pairs[SW*gp +: SW] = xa + xb;
        end
    endgenerate
endmodule

`resetall
