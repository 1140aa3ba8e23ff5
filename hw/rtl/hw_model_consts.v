`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_model_consts: the model's global constants, read from ROM_DIR/model.hex (a block-RAM ROM,
// so that `hardwire respin` can rewrite them, docs/respin.md) into registers in the 13 cycles
// after reset, before the host can reach the core. Words 0-7 are the fingerprint (most
// significant first), 8 EPS_Q, 9 FINAL_GSHIFT (signed), 10 LOGIT_M, 11 LOGIT_SH. The registers,
// not the block RAM's output, feed the bus logic: that was a 20 ns path.
module hw_model_consts #(
    parameter ROM_DIR = "rom"
) (
    input  wire               clk,
    input  wire               rst,                  // synchronous: read the ROM again
    output wire [255:0]       fingerprint,          // word i (most significant first) at [32i +: 32]
    output reg  [30:0]        eps_q,
    output reg  signed [5:0]  final_gshift,
    output reg  [14:0]        logit_m,
    output reg  [5:0]         logit_sh
);

    localparam [3:0] WORDS = 4'd12;
    wire [31:0] model_q;
    reg  [3:0]  ptr;                // word being read, WORDS once all are loaded
    reg         q_valid;            // model_q holds word q_word
    reg  [3:0]  q_word;
    reg  [31:0] fp_reg [0:7];
    wire        loading = (ptr != WORDS);

    hw_rom #(
        .WIDTH(32),
        .DEPTH(16),
        .FILE({ROM_DIR, "/model.hex"})
    ) model_rom (
        .clk(clk),
        .en(loading),
        .addr(ptr),
        .q(model_q)
    );

    always @(posedge clk) begin
        q_valid <= loading;
        q_word  <= ptr;
        if (loading) begin
            ptr <= ptr + 4'd1;
        end
        if (q_valid) begin
            case (q_word)
                4'd8:    eps_q        <= model_q[30:0];
                4'd9:    final_gshift <= model_q[5:0];
                4'd10:   logit_m      <= model_q[14:0];
                4'd11:   logit_sh     <= model_q[5:0];
                default: fp_reg[q_word[2:0]] <= model_q;
            endcase
        end
        if (rst) begin
            ptr     <= 4'd0;
            q_valid <= 1'b0;
        end
    end

    genvar gw;
    generate
        for (gw = 0; gw < 8; gw = gw + 1) begin : g_fp
            assign fingerprint[32*gw +: 32] = fp_reg[gw];
        end
    endgenerate

endmodule

`resetall
