`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_uart_rx: UART receiver, 8 data bits, no parity, 1 stop bit (8N1), LSB first.
// The line is synchronised by two flip-flops; a start bit is confirmed at its
// middle, then every bit is sampled at its middle. A byte whose stop bit reads
// 0 is reported with `stop_error` instead of `valid` (and the receiver waits for
// the line to go idle before looking for the next start bit), so a framing
// error never looks like good data.
module hw_uart_rx #(
    parameter CLKS_PER_BIT = 868    // clk cycles per bit (>= 4), e.g. 100 MHz / 115200
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rxd,          // serial input, idle high
    output reg  [7:0] data,         // received byte, valid with `valid`
    output reg        valid,        // one-cycle pulse: a good byte is in `data`
    output reg        stop_error    // one-cycle pulse: a byte ended with a bad stop bit
);

    localparam CW = $clog2(CLKS_PER_BIT + 1);   // bit-timer width
    localparam integer FULL_I = CLKS_PER_BIT - 1;       // timer reload for one bit
    localparam integer HALF_I = (CLKS_PER_BIT - 1) / 2; // timer reload to mid start bit
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];
    localparam [CW-1:0] HALF = HALF_I[CW-1:0];

    localparam [1:0] S_IDLE = 2'd0, S_START = 2'd1, S_DATA = 2'd2, S_STOP = 2'd3;

    // two-flop synchroniser (the line is asynchronous to clk); reset to idle high
    reg rx_meta, rx_sync;
    always @(posedge clk) begin
        rx_meta <= rxd;
        rx_sync <= rx_meta;
        if (rst) begin
            rx_meta <= 1'b1;
            rx_sync <= 1'b1;
        end
    end

    reg [1:0]    state;
    reg [CW-1:0] timer;     // counts down to the next sample point
    reg [2:0]    bit_idx;   // data bit being received
    reg [7:0]    shift;
    reg          wait_idle; // after a stop-bit error: wait for a high line first

    always @(posedge clk) begin
        valid      <= 1'b0;
        stop_error <= 1'b0;
        case (state)
            S_IDLE: begin
                if (!rx_sync && !wait_idle) begin
                    state <= S_START;
                    timer <= HALF;
                end
                if (rx_sync) wait_idle <= 1'b0;
            end
            S_START: begin
                if (timer != 0) begin
                    timer <= timer - 1'b1;
                end else if (rx_sync) begin
                    state <= S_IDLE;        // a glitch, not a start bit
                end else begin
                    state   <= S_DATA;
                    timer   <= FULL;
                    bit_idx <= 3'd0;
                end
            end
            S_DATA: begin
                if (timer != 0) begin
                    timer <= timer - 1'b1;
                end else begin
                    shift <= {rx_sync, shift[7:1]};    // LSB first
                    timer <= FULL;
                    if (bit_idx == 3'd7) state <= S_STOP;
                    bit_idx <= bit_idx + 1'b1;
                end
            end
            default: begin  // S_STOP
                if (timer != 0) begin
                    timer <= timer - 1'b1;
                end else begin
                    state <= S_IDLE;
                    data  <= shift;
                    if (rx_sync) begin
                        valid <= 1'b1;
                    end else begin
                        stop_error <= 1'b1;
                        wait_idle  <= 1'b1;
                    end
                end
            end
        endcase
        if (rst) begin
            state      <= S_IDLE;
            timer      <= {CW{1'b0}};
            bit_idx    <= 3'd0;
            shift      <= 8'd0;
            data       <= 8'd0;
            wait_idle  <= 1'b0;
            valid      <= 1'b0;
            stop_error <= 1'b0;
        end
    end

endmodule

`resetall
