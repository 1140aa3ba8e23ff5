// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

// hello_add: combinational unsigned adder, WIDTH-bit inputs, WIDTH+1-bit sum.
module hello_add #(
    parameter WIDTH = 8  // bits of each operand
) (
    input  wire [WIDTH-1:0] a,
    input  wire [WIDTH-1:0] b,
    output wire [WIDTH:0]   sum
);

assign sum = {1'b0, a} + {1'b0, b};

endmodule

`resetall
