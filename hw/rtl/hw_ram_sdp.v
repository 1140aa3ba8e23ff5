`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_ram_sdp: a simple dual-port RAM of DEPTH words of WIDTH bits, one write port and
// one read port read through a register (rd_data is the word at rd_addr the cycle after
// rd_en), the shape every family's block RAM has (iCE40's only one). STYLE sets the
// ram_style attribute: "block", "distributed" (LUT RAM) or "" (the tool chooses by
// size). INIT_ZERO = 1: the power-up contents are all zero (else undefined).
// Each port is its own always block (separate blocks keep block-RAM inference).
// Used by hw_fifo, hw_kv_cache, hw_attention (score buffers), hw_lora and hw_core
// (token ring, logit RAM).
module hw_ram_sdp #(
    parameter WIDTH     = 16,                               // bits per word
    parameter DEPTH     = 16,                               // words
    parameter [8*11-1:0] STYLE = "",                        // ram_style: "block", "distributed", ""
    parameter INIT_ZERO = 0,                                // 1: all-zero power-up contents
    parameter AW        = (DEPTH > 1) ? $clog2(DEPTH) : 1   // address bits
) (
    input  wire             clk,
    // write port
    input  wire             wr_en,
    input  wire [AW-1:0]    wr_addr,
    input  wire [WIDTH-1:0] wr_data,
    // read port (registered)
    input  wire             rd_en,      // rd_data holds otherwise
    input  wire [AW-1:0]    rd_addr,
    output reg  [WIDTH-1:0] rd_data
);

    // The attribute value must be a literal: one memory declaration per style.
    generate
        if (STYLE == "block") begin : g_block
            (* ram_style = "block" *)
            reg [WIDTH-1:0] ram_words [0:DEPTH-1];
            if (INIT_ZERO != 0) begin : g_init
                integer i;
                initial for (i = 0; i < DEPTH; i = i + 1) ram_words[i] = {WIDTH{1'b0}};
            end
            always @(posedge clk) begin
                if (wr_en) begin
                    ram_words[wr_addr] <= wr_data;
                end
            end
            always @(posedge clk) begin
                if (rd_en) begin
                    rd_data <= ram_words[rd_addr];
                end
            end
        end else if (STYLE == "distributed") begin : g_lut
            (* ram_style = "distributed" *)
            reg [WIDTH-1:0] ram_words [0:DEPTH-1];
            if (INIT_ZERO != 0) begin : g_init
                integer i;
                initial for (i = 0; i < DEPTH; i = i + 1) ram_words[i] = {WIDTH{1'b0}};
            end
            always @(posedge clk) begin
                if (wr_en) begin
                    ram_words[wr_addr] <= wr_data;
                end
            end
            always @(posedge clk) begin
                if (rd_en) begin
                    rd_data <= ram_words[rd_addr];
                end
            end
        end else begin : g_any
            reg [WIDTH-1:0] ram_words [0:DEPTH-1];
            if (INIT_ZERO != 0) begin : g_init
                integer i;
                initial for (i = 0; i < DEPTH; i = i + 1) ram_words[i] = {WIDTH{1'b0}};
            end
            always @(posedge clk) begin
                if (wr_en) begin
                    ram_words[wr_addr] <= wr_data;
                end
            end
            always @(posedge clk) begin
                if (rd_en) begin
                    rd_data <= ram_words[rd_addr];
                end
            end
        end
    endgenerate

endmodule

`resetall
