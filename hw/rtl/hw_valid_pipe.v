`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_valid_pipe: the valid bit of a fixed-latency pipeline, a DEPTH-deep shift
// register cleared by rst. out_valid is in_valid DEPTH cycles later (bit i of the
// register: an item is in stage S(i+1)). Used by every pipelined arithmetic unit
// (hw_rq, hw_exp2, hw_rsqrt, hw_silu_gate, hw_rope_pair).
module hw_valid_pipe #(
    parameter DEPTH = 1         // cycles from in_valid to out_valid, >= 1
) (
    input  wire clk,
    input  wire rst,            // sync, clears the pipe
    input  wire in_valid,
    output wire out_valid
);

    reg [DEPTH-1:0] v_pipe;

    generate
        if (DEPTH == 1) begin : g_one
            always @(posedge clk) begin
                v_pipe <= in_valid;
                if (rst) v_pipe <= 1'b0;
            end
        end else begin : g_shift
            always @(posedge clk) begin
                v_pipe <= {v_pipe[DEPTH-2:0], in_valid};
                if (rst) v_pipe <= {DEPTH{1'b0}};
            end
        end
    endgenerate

    assign out_valid = v_pipe[DEPTH-1];

endmodule

`resetall
