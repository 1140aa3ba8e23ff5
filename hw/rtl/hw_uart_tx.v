`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_uart_tx: UART transmitter, 8 data bits, no parity, 1 stop bit (8N1), LSB first.
// A byte is taken when `valid && ready`; `ready` is low while a byte is on the line.
module hw_uart_tx #(
    parameter CLKS_PER_BIT = 868    // clk cycles per bit (>= 2), e.g. 100 MHz / 115200
) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] data,         // byte to send
    input  wire       valid,        // data is offered
    output wire       ready,        // the transmitter takes data this cycle
    output reg        txd           // serial output, idle high
);

    localparam CW = $clog2(CLKS_PER_BIT + 1);   // bit-timer width
    localparam integer FULL_I = CLKS_PER_BIT - 1;       // timer reload for one bit
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];

    reg          busy;
    reg [CW-1:0] timer;     // cycles left in the current bit
    reg [3:0]    bits_left; // bits still to send after the current one
    reg [8:0]    shift;     // {stop, data}; bit 0 goes out after the start bit

    assign ready = !busy;

    always @(posedge clk) begin
        if (!busy) begin
            if (valid) begin
                busy      <= 1'b1;
                txd       <= 1'b0;          // start bit
                shift     <= {1'b1, data};
                bits_left <= 4'd9;          // 8 data + stop
                timer     <= FULL;
            end
        end else if (timer != 0) begin
            timer <= timer - 1'b1;
        end else if (bits_left != 0) begin
            txd       <= shift[0];
            shift     <= {1'b1, shift[8:1]};
            bits_left <= bits_left - 1'b1;
            timer     <= FULL;
        end else begin
            busy <= 1'b0;                   // stop bit done
        end
        if (rst) begin
            busy      <= 1'b0;
            txd       <= 1'b1;
            timer     <= {CW{1'b0}};
            bits_left <= 4'd0;
            shift     <= 9'h1FF;
        end
    end

endmodule

`resetall
