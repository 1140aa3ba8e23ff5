`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_chip_link_ser: the transmit pins of one chip-to-chip link direction (docs/chip_link.md).
// Cuts 16-bit words into 16/W beats of W bits, low bits first, and drives each beat for
// BEAT_CLKS clk cycles: the data (and the sof line, high in a frame's first beat) change at
// the start of a beat, the forwarded link clock (lclk) is low for the first half of the beat
// and high for the second, so the receiver takes the beat at lclk's rising edge, BEAT_CLKS/2
// cycles after the data settled and BEAT_CLKS/2 before they change again. lclk idles low
// between words that are not back to back (the protocol needs no steady clock: a beat is
// an lclk rising edge). Every pin comes straight from a flip-flop, so lclk never glitches.
// The next word is taken (word_take) while the last beat of the current one ends, so a frame's
// words leave back to back when word_valid is held.
module hw_chip_link_ser #(
    parameter W         = 8,        // pins per beat: 4, 8 or 16
    parameter BEAT_CLKS = 4         // clk cycles per beat, even, >= 2 (>= 4 between boards)
) (
    input  wire         clk,
    input  wire         rst,        // synchronous, active high: idle, lclk low
    // words in
    input  wire [15:0]  word,
    input  wire         word_sof,   // the word is the first of a frame
    input  wire         word_valid,
    output wire         word_take,  // the word is latched this cycle
    // pins
    output reg  [W-1:0] pin_d,
    output reg          pin_sof,
    output reg          pin_lclk
);

    localparam BPW  = 16 / W;                                   // beats per word
    localparam PW   = $clog2(BEAT_CLKS);                        // phase counter bits
    localparam BW   = (BPW > 1) ? $clog2(BPW) : 1;              // beat counter bits
    localparam integer LAST_PHASE_I = BEAT_CLKS - 1;
    localparam integer HALF_I       = BEAT_CLKS / 2;
    localparam integer LAST_BEAT_I  = BPW - 1;
    localparam [PW-1:0] LAST_PHASE = LAST_PHASE_I[PW-1:0];
    localparam [PW-1:0] HALF       = HALF_I[PW-1:0];
    localparam [BW-1:0] LAST_BEAT  = LAST_BEAT_I[BW-1:0];

    reg [15:0]   shift_reg;     // the word; beat k is bits [W-1:0] after k shifts
    reg          sof_reg;       // the current beat is a frame's first
    reg          active_reg;    // a beat is on the pins
    reg [PW-1:0] phase_reg;
    reg [BW-1:0] beat_reg;

    wire word_end = active_reg && phase_reg == LAST_PHASE && beat_reg == LAST_BEAT;
    assign word_take = word_valid && (!active_reg || word_end);

    always @(posedge clk) begin
        if (word_take) begin
            shift_reg  <= word;
            sof_reg    <= word_sof;
            active_reg <= 1'b1;
            phase_reg  <= {PW{1'b0}};
            beat_reg   <= {BW{1'b0}};
        end else if (active_reg) begin
            if (phase_reg == LAST_PHASE) begin
                phase_reg <= {PW{1'b0}};
                if (beat_reg == LAST_BEAT) begin
                    active_reg <= 1'b0;
                end else begin
                    beat_reg  <= beat_reg + 1'b1;
                    shift_reg <= shift_reg >> W;
                    sof_reg   <= 1'b0;
                end
            end else begin
                phase_reg <= phase_reg + 1'b1;
            end
        end
        // the pins: one register stage behind the state, all alike (no skew between them)
        pin_d    <= shift_reg[W-1:0];
        pin_sof  <= active_reg && sof_reg;
        pin_lclk <= active_reg && phase_reg >= HALF;
        if (rst) begin
            active_reg <= 1'b0;
            sof_reg    <= 1'b0;
            phase_reg  <= {PW{1'b0}};
            beat_reg   <= {BW{1'b0}};
            shift_reg  <= 16'd0;
            pin_d      <= {W{1'b0}};
            pin_sof    <= 1'b0;
            pin_lclk   <= 1'b0;
        end
    end

endmodule

`resetall
