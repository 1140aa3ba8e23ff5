`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_add_tree: the sum of N W-bit two's complement values by a balanced tree of
// two-input adders (ceil(log2 N) levels, combinational). The caller extends the
// leaves to W bits, enough for the sum. When the leaves hold only LEAF_W
// significant bits (the rest sign copies), a node k levels above them adds at
// LEAF_W + k bits, what its sum needs, instead of W: a 16-leaf tree of int8
// values at W = 13 is 146 adder bits instead of 195.
//
// Why a module and (* keep *) on every node: Yosys' alumacc merges a tree of
// single-use additions into one multi-operand $macc cell, which synth_ecp5 maps
// to a gate-level adder array in LUTs (a 16-leaf, 12-bit tree: ~650 LUT4 and
// ~360 wide multiplexers). Kept nodes stay two-input $alu cells, which map onto
// the carry chains (the same tree: 78 CCU2C and no LUT beyond the leaves).
module hw_add_tree #(
    parameter N = 4,        // leaves
    parameter W = 16,       // bits of each leaf and of the sum
    parameter LEAF_W = W    // significant bits of each leaf (<= W; the others copy its sign)
) (
    input  wire [N*W-1:0] leaves,   // leaf i at [i*W +: W]
    output wire [W-1:0]   sum
);
    localparam N2 = (N > 1) ? (1 << $clog2(N)) : 1;    // leaves padded to a power of two
    localparam LG = $clog2(N2);                         // levels

    // node n (1 .. 2*N2-1) in heap order: children 2n and 2n+1, leaves at N2 ..
    genvar n;
    generate
        for (n = 1; n < 2 * N2; n = n + 1) begin : g_node
            (* keep *) wire [W-1:0] s;
            if (n >= N2) begin : g_leaf
                if (n - N2 < N) begin : g_in
                    assign s = leaves[(n - N2) * W +: W];
                end else begin : g_pad
                    assign s = {W{1'b0}};
                end
            end else begin : g_add
                // node n is LG - floor(log2 n) levels above the leaves: its children have NW - 1
                // significant bits, their sum NW
                localparam integer NW0 = LEAF_W + LG - ($clog2(n + 1) - 1);
                localparam integer NW = (NW0 < W) ? NW0 : W;
                wire [NW-1:0] narrow = g_node[2 * n].s[NW-1:0] + g_node[2 * n + 1].s[NW-1:0];
                if (NW < W) begin : g_extend
                    assign s = {{(W-NW){narrow[NW-1]}}, narrow};
                    wire unused_high = &{1'b0, g_node[2 * n].s[W-1:NW], g_node[2 * n + 1].s[W-1:NW]};
                end else begin : g_full
                    assign s = narrow;
                end
            end
        end
    endgenerate

    assign sum = g_node[1].s;

endmodule

`resetall
