`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_board_uart_bus: what a UART board top (bitstreams/common/hw_board_uart*.v) puts in front of the
// core: the reset (a two-flop synchroniser on the button, then a 16-cycle stretch; the counter starts
// at 0 in the bitstream, so the core also resets at power-up) and hw_uart_bridge, which turns the
// host's frames into register reads and writes (hw_uart_rx synchronises the serial line itself).
module hw_board_uart_bus #(
    parameter CLKS_PER_BIT = 217,   // clk cycles per UART bit
    parameter ACTIVE_LOW = 1        // 1: the button pulls its pin low when pressed
) (
    input  wire        clk,
    input  wire        rst_btn,
    input  wire        uart_rxd,
    output wire        uart_txd,
    output reg         rst,         // synchronous, active high
    output wire        reg_wr,
    output wire [7:0]  reg_addr,
    output wire [31:0] reg_wdata,
    output wire        reg_rd,
    input  wire [31:0] reg_rdata
);
    reg [1:0] btn_sync_reg;
    reg [3:0] rst_cnt_reg;
    initial begin                   // power-up values (the bitstream's flip-flop init)
        btn_sync_reg = 2'b00;
        rst_cnt_reg = 4'd0;
        rst = 1'b1;
    end
    wire btn_pressed = ACTIVE_LOW ? !rst_btn : rst_btn;

    always @(posedge clk) begin
        btn_sync_reg <= {btn_sync_reg[0], btn_pressed};
        if (btn_sync_reg[1])
            rst_cnt_reg <= 4'd0;
        else if (rst_cnt_reg != 4'hf)
            rst_cnt_reg <= rst_cnt_reg + 4'd1;
    end

    always @(posedge clk)
        rst <= rst_cnt_reg != 4'hf;

    /* verilator lint_off UNUSEDSIGNAL */
    wire frame_error;               // a NACKed frame (the host retries); no LED left for it
    /* verilator lint_on UNUSEDSIGNAL */
    hw_uart_bridge #(.CLKS_PER_BIT(CLKS_PER_BIT)) bridge (
        .clk(clk), .rst(rst), .uart_rxd(uart_rxd), .uart_txd(uart_txd),
        .reg_wr(reg_wr), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rd(reg_rd), .reg_rdata(reg_rdata), .frame_error(frame_error));

endmodule

`resetall
