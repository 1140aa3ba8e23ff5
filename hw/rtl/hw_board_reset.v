`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_board_reset: a board's reset for the core (bitstreams/common/hw_board_uart*.v): a two-flop
// synchroniser on the button, then a 16-cycle stretch; the counter starts at 0 in the bitstream,
// so the core also resets at power-up.
module hw_board_reset #(
    parameter ACTIVE_LOW = 1        // 1: the button pulls its pin low when pressed
) (
    input  wire clk,
    input  wire rst_btn,
    output reg  rst                 // synchronous, active high
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

endmodule

`resetall
