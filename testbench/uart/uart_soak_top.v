`resetall
`timescale 1ns / 1ps
`default_nettype none

// uart_soak_top: the UART boards' top, hw_board_uart (bitstreams/common/hw_board_uart.v: reset
// synchroniser, hw_uart_bridge in front of a generated hardwire_top, LEDs), with read-only taps
// into the bridge for the bit-level soak (testbench/uart/soak_harness.cpp).
// The taps change nothing in the design; they let the harness know
//   - when the bridge is idle (nothing received in part, no frame waiting, nothing to send),
//     so a simulated exchange can stop as soon as the line is quiet;
//   - which request each response answers (the seq and CRC field of every frame the bridge
//     checks) and the exact bytes the bridge hands its transmitter (before the line's noise),
//     so the soak can tell a corrupt answer the host accepted from the one the bridge built.
module uart_soak_top #(
    parameter CLKS_PER_BIT = 13,    // 3 Mbaud at 40 MHz, the fastest configuration a board runs
    parameter ROM_DIR = "rom"       // the build's hex files, relative to the harness's folder
) (
    input  wire        clk,
    input  wire        rst,             // the board's reset button, pressed high
    input  wire        uart_rxd,
    output wire        uart_txd,
    output wire        busy,
    output wire        token_avail,
    output wire        bridge_idle,     // the bridge has nothing in progress
    output wire        check,           // the bridge decides on a received frame this cycle
    output wire [7:0]  check_seq,       // ... its seq byte
    output wire [31:0] check_crc,       // ... its last four bytes (the CRC field)
    output wire        tx_take,         // the transmitter takes tx_byte this cycle
    output wire [7:0]  tx_byte
);

    wire [1:0] led;                     // [0] busy, [1] a token is waiting

    hw_board_uart #(.CLKS_PER_BIT(CLKS_PER_BIT), .RST_ACTIVE_LOW(0), .LED_ACTIVE_LOW(0), .ROM_DIR(ROM_DIR)) dut (
        .clk(clk), .rst_btn(rst), .uart_rxd(uart_rxd), .uart_txd(uart_txd), .led(led));
    assign busy        = led[0];
    assign token_avail = led[1];

    // hw_uart_bridge: M_IDLE = 0, M_CHECK = 1, the stream's states have bit 4 set (a poll that
    // builds no frame is idle: the bridge polls for as long as its stream is on); hw_uart_rx: S_IDLE = 0
    assign bridge_idle = dut.bus.bridge.uart_rx_inst.state == 2'd0 && !dut.bus.bridge.frame_ready
                         && (dut.bus.bridge.m_state == 5'd0 || (dut.bus.bridge.m_state[4] && !dut.bus.bridge.is_stream))
                         && !dut.bus.bridge.tx_start && !dut.bus.bridge.tx_busy
                         && !dut.bus.bridge.tx_valid && dut.bus.bridge.tx_ready;
    assign check     = dut.bus.bridge.m_state == 5'd1;
    assign check_seq = dut.bus.bridge.h_seq;
    assign check_crc = dut.bus.bridge.h_tail;
    assign tx_take   = dut.bus.bridge.tx_valid && dut.bus.bridge.tx_ready;
    assign tx_byte   = dut.bus.bridge.tx_data;

endmodule

`resetall
