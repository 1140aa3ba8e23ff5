`resetall
`timescale 1ns / 1ps
`default_nettype none

// chip_link_pair: two hw_chip_link ends, a and b, for testbench/chiplink/harness.cpp. Their pins
// are this top's ports, so the harness carries each direction's wire itself (and breaks it: bit
// flips, dropped beats, a stuck line). Both ends share clk and rst, as two boards with the same
// oscillator frequency released from reset together.
module chip_link_pair #(
    parameter W         = 8,
    parameter DIM       = 16,
    parameter BEAT_CLKS = 4,
    parameter TXW       = 2,
    parameter RXF       = 2,
    parameter MAX_RETRY = 15
) (
    input  wire          clk,
    input  wire          rst,
    // end a: user side
    input  wire [15:0]   a_in_data,
    input  wire          a_in_valid,
    output wire          a_in_ready,
    output wire [15:0]   a_out_data,
    output wire          a_out_valid,
    input  wire          a_out_ready,
    // end a: pins
    output wire [W-1:0]  a_tx_d,
    output wire          a_tx_sof,
    output wire          a_tx_lclk,
    input  wire [W-1:0]  a_rx_d,
    input  wire          a_rx_sof,
    input  wire          a_rx_lclk,
    // end a: status
    output wire          a_link_error,
    output wire [15:0]   a_cnt_tx_frames,
    output wire [15:0]   a_cnt_rx_frames,
    output wire [15:0]   a_cnt_retransmits,
    output wire [15:0]   a_cnt_crc_errors,
    output wire [15:0]   a_cnt_timeouts,
    // end b
    input  wire [15:0]   b_in_data,
    input  wire          b_in_valid,
    output wire          b_in_ready,
    output wire [15:0]   b_out_data,
    output wire          b_out_valid,
    input  wire          b_out_ready,
    output wire [W-1:0]  b_tx_d,
    output wire          b_tx_sof,
    output wire          b_tx_lclk,
    input  wire [W-1:0]  b_rx_d,
    input  wire          b_rx_sof,
    input  wire          b_rx_lclk,
    output wire          b_link_error,
    output wire [15:0]   b_cnt_tx_frames,
    output wire [15:0]   b_cnt_rx_frames,
    output wire [15:0]   b_cnt_retransmits,
    output wire [15:0]   b_cnt_crc_errors,
    output wire [15:0]   b_cnt_timeouts
);

    hw_chip_link #(.W(W), .DIM(DIM), .BEAT_CLKS(BEAT_CLKS), .TXW(TXW), .RXF(RXF),
                   .MAX_RETRY(MAX_RETRY)) a (
        .clk(clk), .rst(rst),
        .in_data(a_in_data), .in_valid(a_in_valid), .in_ready(a_in_ready),
        .out_data(a_out_data), .out_valid(a_out_valid), .out_ready(a_out_ready),
        .tx_d(a_tx_d), .tx_sof(a_tx_sof), .tx_lclk(a_tx_lclk),
        .rx_d(a_rx_d), .rx_sof(a_rx_sof), .rx_lclk(a_rx_lclk),
        .link_error(a_link_error), .cnt_tx_frames(a_cnt_tx_frames), .cnt_rx_frames(a_cnt_rx_frames),
        .cnt_retransmits(a_cnt_retransmits), .cnt_crc_errors(a_cnt_crc_errors),
        .cnt_timeouts(a_cnt_timeouts));

    hw_chip_link #(.W(W), .DIM(DIM), .BEAT_CLKS(BEAT_CLKS), .TXW(TXW), .RXF(RXF),
                   .MAX_RETRY(MAX_RETRY)) b (
        .clk(clk), .rst(rst),
        .in_data(b_in_data), .in_valid(b_in_valid), .in_ready(b_in_ready),
        .out_data(b_out_data), .out_valid(b_out_valid), .out_ready(b_out_ready),
        .tx_d(b_tx_d), .tx_sof(b_tx_sof), .tx_lclk(b_tx_lclk),
        .rx_d(b_rx_d), .rx_sof(b_rx_sof), .rx_lclk(b_rx_lclk),
        .link_error(b_link_error), .cnt_tx_frames(b_cnt_tx_frames), .cnt_rx_frames(b_cnt_rx_frames),
        .cnt_retransmits(b_cnt_retransmits), .cnt_crc_errors(b_cnt_crc_errors),
        .cnt_timeouts(b_cnt_timeouts));

endmodule

`resetall
