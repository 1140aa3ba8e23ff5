`resetall
`timescale 1ns / 1ps
`default_nettype none

// uart_stub_top: hw_uart_bridge driving regfile_stub; the control interface is
// brought out so the testbench can log every register access.
module uart_stub_top #(
    parameter CLKS_PER_BIT = 10     // clk cycles per UART bit in simulation
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        uart_rxd,
    output wire        uart_txd,
    output wire        reg_wr,
    output wire [7:0]  reg_addr,
    output wire [31:0] reg_wdata,
    output wire        reg_rd,
    output wire [31:0] reg_rdata,
    output wire        frame_error
);

    hw_uart_bridge #(.CLKS_PER_BIT(CLKS_PER_BIT)) bridge (
        .clk(clk), .rst(rst), .uart_rxd(uart_rxd), .uart_txd(uart_txd),
        .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata), .frame_error(frame_error));

    regfile_stub stub (
        .clk(clk), .rst(rst), .reg_wr(reg_wr), .reg_addr(reg_addr),
        .reg_wdata(reg_wdata), .reg_rd(reg_rd), .reg_rdata(reg_rdata));

endmodule

`resetall
