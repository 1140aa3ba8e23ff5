`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_xorshift32: the sampler's random state, Marsaglia's xorshift32 (13, 17, 5)
// exactly as hw/numerics.py xorshift32. load sets the state to seed (to
// DEFAULT_SEED when seed is 0, as GoldenModel.generate does); step advances it
// one step. state shows the register (the new value the cycle after load/step).
module hw_xorshift32 #(
    parameter [31:0] DEFAULT_SEED = 32'h2545F491   // numerics.LFSR_DEFAULT_SEED
) (
    input  wire        clk,
    input  wire        rst,         // sync: state = DEFAULT_SEED
    input  wire        load,        // priority over step
    input  wire [31:0] seed,
    input  wire        step,
    output wire [31:0] state
);

    reg [31:0] state_reg;

    wire [31:0] x1 = state_reg ^ (state_reg << 13);
    wire [31:0] x2 = x1 ^ (x1 >> 17);
    wire [31:0] x3 = x2 ^ (x2 << 5);

    always @(posedge clk) begin
        if (load)      state_reg <= (seed == 32'd0) ? DEFAULT_SEED : seed;
        else if (step) state_reg <= x3;
        if (rst) state_reg <= DEFAULT_SEED;
    end

    assign state = state_reg;

endmodule

`resetall
