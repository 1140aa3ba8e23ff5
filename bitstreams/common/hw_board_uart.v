// Language: Verilog 2001

`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_board_uart: the top of a UART board (ULX3S, iCEBreaker): the generated hardwire_top behind
// hw/rtl/hw_board_uart_bus.v (the power-on and button reset, hw_uart_bridge), and two status
// LEDs. The simulations of
// the UART link (tests/test_host_e2e_uart.py, testbench/uart/uart_soak_top.v) run this module.
// The design runs on the board oscillator directly (no PLL): CLKS_PER_BIT is
// that clock over the baud rate (hw/flows/open_flow.py sets it per board).
module hw_board_uart #(
    parameter CLKS_PER_BIT = 217,   // clk cycles per UART bit (25 MHz / 115200 baud)
    parameter RST_ACTIVE_LOW = 1,   // 1: the reset button pulls its pin low when pressed
    parameter LED_ACTIVE_LOW = 0,   // 1: an LED lights when its pin is low
    parameter ROM_DIR = "rom"       // the build's hex files, relative to the synthesis folder
) (
    input  wire       clk,          // board oscillator
    input  wire       rst_btn,      // reset button (polarity: RST_ACTIVE_LOW)
    input  wire       uart_rxd,     // from the host's USB-serial chip
    output wire       uart_txd,     // to the host's USB-serial chip
    output wire [1:0] led           // [0] busy (generating), [1] a token is waiting
);

    // ------------------------------------------------------------ reset and UART bridge
    wire        rst_reg, reg_wr, reg_rd;
    wire [7:0]  reg_addr;
    wire [31:0] reg_wdata, reg_rdata;
    hw_board_uart_bus #(.CLKS_PER_BIT(CLKS_PER_BIT), .ACTIVE_LOW(RST_ACTIVE_LOW)) bus (
        .clk(clk), .rst_btn(rst_btn), .uart_rxd(uart_rxd), .uart_txd(uart_txd), .rst(rst_reg),
        .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata), .reg_rd(reg_rd), .reg_rdata(reg_rdata));

    // ------------------------------------------------------------ accelerator
    wire        busy, token_avail;
    hardwire_top #(.ROM_DIR(ROM_DIR)) accel (
        .clk(clk), .rst(rst_reg), .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata), .busy(busy), .token_avail(token_avail));

    wire [1:0] led_on = {token_avail, busy};
    assign led = LED_ACTIVE_LOW ? ~led_on : led_on;

endmodule

`resetall
