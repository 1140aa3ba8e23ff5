`resetall
`timescale 1ns / 1ps
`default_nettype none

// uart_core_top: a generated hardwire_top behind hw_uart_bridge, as on a UART board
// (the end-to-end tests drive uart_rxd / uart_txd from a pseudo-terminal).
module uart_core_top #(
    parameter CLKS_PER_BIT = 4,     // clk cycles per UART bit in simulation
    parameter ROM_DIR = "rom"       // the build's hex files (absolute path in tests)
) (
    input  wire clk,
    input  wire rst,
    input  wire uart_rxd,
    output wire uart_txd,
    output wire frame_error,
    output wire busy,
    output wire token_avail
);

    wire        reg_wr, reg_rd;
    wire [7:0]  reg_addr;
    wire [31:0] reg_wdata, reg_rdata;

    hw_uart_bridge #(.CLKS_PER_BIT(CLKS_PER_BIT)) bridge (
        .clk(clk), .rst(rst), .uart_rxd(uart_rxd), .uart_txd(uart_txd),
        .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata), .frame_error(frame_error));

    hardwire_top #(.ROM_DIR(ROM_DIR)) accel (
        .clk(clk), .rst(rst), .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata), .busy(busy), .token_avail(token_avail));

endmodule

`resetall
