`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_chain_ends: the two link ends of one chip of a chain (docs/chain.md). The core's frames go out
// through `next` (to the next chip, the last chip's to the first: a ring) and come in through
// `prev`; each is one hw_chip_link end (docs/chip_link.md) of which one direction carries DATA
// frames and the other only their ACKs, NACKs and POLLs. Pins: next_tx_* drive the next chip's
// prev_rx_*, its prev_tx_* come back on next_rx_*.
module hw_chain_ends #(
    parameter W         = 8,    // data pins per direction
    parameter DIM       = 66,   // words per frame: hw_core's CHAIN_WORDS (D + 2)
    parameter BEAT_CLKS = 4     // clk cycles per beat (>= 4 between two boards)
) (
    input  wire         clk,
    input  wire         rst,            // all chips leave reset together (the links' sequence numbers)
    // the core's side
    input  wire [15:0]  tx_data,
    input  wire         tx_valid,
    output wire         tx_ready,
    output wire [15:0]  rx_data,
    output wire         rx_valid,
    input  wire         rx_ready,
    // pins to and from the next chip
    output wire [W-1:0] next_tx_d,
    output wire         next_tx_sof,
    output wire         next_tx_lclk,
    input  wire [W-1:0] next_rx_d,
    input  wire         next_rx_sof,
    input  wire         next_rx_lclk,
    // pins from and to the previous chip
    input  wire [W-1:0] prev_rx_d,
    input  wire         prev_rx_sof,
    input  wire         prev_rx_lclk,
    output wire [W-1:0] prev_tx_d,
    output wire         prev_tx_sof,
    output wire         prev_tx_lclk,
    // status
    output wire         link_error,     // either end gave up (sticky until rst)
    output wire [15:0]  retransmits     // DATA frames sent again to the next chip
);
    wire [15:0]   next_out;             // nothing comes back as DATA from the next chip
    wire          next_out_valid, prev_in_ready;
    wire          err_next, err_prev;
    wire [4*16-1:0] cnt_next;
    wire [5*16-1:0] cnt_prev;

    hw_chip_link #(.W(W), .DIM(DIM), .BEAT_CLKS(BEAT_CLKS)) next (
        .clk(clk), .rst(rst),
        .in_data(tx_data), .in_valid(tx_valid), .in_ready(tx_ready),
        .out_data(next_out), .out_valid(next_out_valid), .out_ready(1'b1),
        .tx_d(next_tx_d), .tx_sof(next_tx_sof), .tx_lclk(next_tx_lclk),
        .rx_d(next_rx_d), .rx_sof(next_rx_sof), .rx_lclk(next_rx_lclk),
        .link_error(err_next),
        .cnt_tx_frames(cnt_next[0 +: 16]), .cnt_rx_frames(cnt_next[16 +: 16]),
        .cnt_retransmits(retransmits), .cnt_crc_errors(cnt_next[32 +: 16]),
        .cnt_timeouts(cnt_next[48 +: 16]));

    hw_chip_link #(.W(W), .DIM(DIM), .BEAT_CLKS(BEAT_CLKS)) prev (
        .clk(clk), .rst(rst),
        .in_data(16'd0), .in_valid(1'b0), .in_ready(prev_in_ready),
        .out_data(rx_data), .out_valid(rx_valid), .out_ready(rx_ready),
        .tx_d(prev_tx_d), .tx_sof(prev_tx_sof), .tx_lclk(prev_tx_lclk),
        .rx_d(prev_rx_d), .rx_sof(prev_rx_sof), .rx_lclk(prev_rx_lclk),
        .link_error(err_prev),
        .cnt_tx_frames(cnt_prev[0 +: 16]), .cnt_rx_frames(cnt_prev[16 +: 16]),
        .cnt_retransmits(cnt_prev[32 +: 16]), .cnt_crc_errors(cnt_prev[48 +: 16]),
        .cnt_timeouts(cnt_prev[64 +: 16]));

    assign link_error = err_next || err_prev;
    wire unused_ends = &{1'b0, next_out, next_out_valid, prev_in_ready, cnt_next, cnt_prev};

endmodule

`resetall
