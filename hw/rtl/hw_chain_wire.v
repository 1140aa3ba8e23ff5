`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_chain_wire: one direction of a chip-to-chip cable in the chain simulation (docs/chain.md).
// With `faults` low it is a wire. With `faults` high it glitches one of its W + 2 lines for one
// clock at random moments (about one clock in 2^RATE_LOG2 (512), chosen by an xorshift32 seeded per
// wire): a flipped data or sof line spoils the beat the receiver takes there, a flipped lclk adds
// or removes an edge (a beat taken twice, or a beat dropped). The link must turn every one of
// them into a retransmission, never into a wrong word. Simulation only; no board has it.
module hw_chain_wire #(
    parameter W        = 8,
    parameter RATE_LOG2 = 9,
    parameter [31:0] SEED = 32'h1234567
) (
    input  wire         clk,
    input  wire         rst,
    input  wire         faults,
    input  wire [W-1:0] in_d,
    input  wire         in_sof,
    input  wire         in_lclk,
    output wire [W-1:0] out_d,
    output wire         out_sof,
    output wire         out_lclk
);
    wire [31:0] rnd;
    hw_xorshift32 #(.DEFAULT_SEED(SEED)) rng (
        .clk(clk), .rst(rst), .load(1'b0), .seed(32'd0), .step(1'b1), .state(rnd));

    // a glitch this clock: the low RATE_LOG2 bits all zero; the line from the next bits
    wire          hit  = faults && rnd[RATE_LOG2-1:0] == {RATE_LOG2{1'b0}};
    wire [31:0]   line = {24'd0, rnd[RATE_LOG2 +: 8]} % (W + 2);
    wire [W+1:0]  flip = hit ? ({{(W+1){1'b0}}, 1'b1} << line[4:0]) : {(W+2){1'b0}};
    assign {out_lclk, out_sof, out_d} = {in_lclk, in_sof, in_d} ^ flip;
    wire unused_rnd = &{1'b0, rnd[31:RATE_LOG2 + 8], line[31:5]};

endmodule

`resetall
