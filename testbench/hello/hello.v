// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

// hello: registers a + b one cycle after in_valid and counts accepted pairs.
// Two files (hello.v, hello_add.v) so the smoke test covers a multi-file build.
module hello #(
    parameter WIDTH = 8  // bits of each operand
) (
    input  wire             clk,
    input  wire             rst,        // sync, active high
    input  wire             in_valid,
    input  wire [WIDTH-1:0] a,
    input  wire [WIDTH-1:0] b,
    output reg              out_valid,
    output reg  [WIDTH:0]   sum,
    output reg  [15:0]      count       // pairs accepted since reset (wraps)
);

wire [WIDTH:0] add_sum;

hello_add #(.WIDTH(WIDTH)) add_inst (.a(a), .b(b), .sum(add_sum));

always @(posedge clk) begin
    out_valid <= in_valid;
    if (in_valid) begin
        sum <= add_sum;
        count <= count + 16'd1;
    end
    if (rst) begin
        out_valid <= 1'b0;
        sum <= {(WIDTH+1){1'b0}};
        count <= 16'd0;
    end
end

endmodule

`resetall
