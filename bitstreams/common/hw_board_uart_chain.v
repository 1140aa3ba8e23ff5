// Language: Verilog 2001

`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_board_uart_chain: the top of one UART board of a chain of chips (docs/chain.md): the chip's
// generated hardwire_top (hw_core and its two link ends, hw_chain_ends) behind hw_board_uart_bus,
// the link pins on the board's headers (the board's chain pins, docs/chip_link.md "Pins on the
// ULX3S"), the reset and three status LEDs. Each board of a chain keeps its own UART.
module hw_board_uart_chain #(
    parameter CLKS_PER_BIT = 217,   // clk cycles per UART bit
    parameter RST_ACTIVE_LOW = 1,   // 1: the reset button pulls its pin low when pressed
    parameter LED_ACTIVE_LOW = 0,   // 1: an LED lights when its pin is low
    parameter ROM_DIR = "rom"       // the build's hex files, relative to the synthesis folder
) (
    input  wire       clk,
    input  wire       rst_btn,
    input  wire       uart_rxd,
    output wire       uart_txd,
    output wire [2:0] led,          // [0] busy, [1] a token is waiting, [2] a link gave up
    output wire [7:0] next_tx_d,    // J2: frames to the next chip
    output wire       next_tx_sof,
    output wire       next_tx_lclk,
    input  wire [7:0] next_rx_d,    // J2: its ACKs
    input  wire       next_rx_sof,
    input  wire       next_rx_lclk,
    input  wire [7:0] prev_rx_d,    // J1: frames from the previous chip
    input  wire       prev_rx_sof,
    input  wire       prev_rx_lclk,
    output wire [7:0] prev_tx_d,    // J1: ACKs to it
    output wire       prev_tx_sof,
    output wire       prev_tx_lclk
);
    // ------------------------------------------------------------ reset and UART bridge
    wire        rst_reg, reg_wr, reg_rd;
    wire [7:0]  reg_addr;
    wire [31:0] reg_wdata, reg_rdata;
    hw_board_uart_bus #(.CLKS_PER_BIT(CLKS_PER_BIT), .ACTIVE_LOW(RST_ACTIVE_LOW)) bus (
        .clk(clk), .rst_btn(rst_btn), .uart_rxd(uart_rxd), .uart_txd(uart_txd), .rst(rst_reg),
        .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata), .reg_rd(reg_rd), .reg_rdata(reg_rdata));

    // ------------------------------------------------------------ accelerator
    wire        busy, token_avail, link_error;
    hardwire_top #(.ROM_DIR(ROM_DIR)) accel (
        .clk(clk), .rst(rst_reg), .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata), .busy(busy), .token_avail(token_avail),
        .next_tx_d(next_tx_d), .next_tx_sof(next_tx_sof), .next_tx_lclk(next_tx_lclk),
        .next_rx_d(next_rx_d), .next_rx_sof(next_rx_sof), .next_rx_lclk(next_rx_lclk),
        .prev_rx_d(prev_rx_d), .prev_rx_sof(prev_rx_sof), .prev_rx_lclk(prev_rx_lclk),
        .prev_tx_d(prev_tx_d), .prev_tx_sof(prev_tx_sof), .prev_tx_lclk(prev_tx_lclk),
        .link_error(link_error));

    wire [2:0] led_on = {link_error, token_avail, busy};
    assign led = LED_ACTIVE_LOW ? ~led_on : led_on;

endmodule

`resetall
