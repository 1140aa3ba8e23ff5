`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_chip_link_des: the receive pins of one chip-to-chip link direction (docs/chip_link.md).
// The pins come from another board's clock domain: every pin passes the same two-flip-flop
// synchronizer, and a beat is taken when the synchronized lclk rises, from the data
// synchronized alongside it. The sender holds the data BEAT_CLKS/2 cycles of its clock
// before that edge and BEAT_CLKS/2 after it, so at BEAT_CLKS >= 4 (the same nominal clock on
// both boards) the sampled data are settled whatever the phase between the two clocks: the
// link is oversampled, it needs no PLL, no delay tuning and no asynchronous FIFO.
// Beats are gathered into 16-bit words, low bits first; a beat with sof high starts a word
// (and a frame) afresh, so a lost beat misaligns at most the rest of its frame. Words leave
// as one-cycle pulses (word_valid) with word_sof set on a frame's first word.
module hw_chip_link_des #(
    parameter W = 8             // pins per beat: 4, 8 or 16
) (
    input  wire         clk,
    input  wire         rst,
    // pins
    input  wire [W-1:0] pin_d,
    input  wire         pin_sof,
    input  wire         pin_lclk,
    // words out
    output reg  [15:0]  word,
    output reg          word_sof,
    output reg          word_valid
);

    localparam BPW = 16 / W;                            // beats per word
    localparam BW  = (BPW > 1) ? $clog2(BPW) : 1;
    localparam integer LAST_BEAT_I = BPW - 1;
    localparam [BW-1:0] LAST_BEAT = LAST_BEAT_I[BW-1:0];
    localparam [BW-1:0] ONE       = 1;

    // synchronizer: {lclk, sof, d}, two stages, plus a third lclk stage for the edge
    reg [W+1:0] sync1_reg, sync2_reg;
    reg         lclk3_reg;
    wire        beat     = sync2_reg[W+1] && !lclk3_reg;
    wire        beat_sof = sync2_reg[W];
    wire [W-1:0] beat_d  = sync2_reg[W-1:0];

    reg [BW-1:0] beat_reg;      // beats of the current word so far
    reg          first_reg;     // the current word started with sof
    // the word so far: beats enter at the top and move down
    wire [15:0] acc_next;
    generate
        if (BPW == 1) begin : g_one
            assign acc_next = beat_d;
        end else begin : g_shift
            reg [15-W:0] acc_reg;   // the earlier beats of the word
            assign acc_next = {beat_d, acc_reg};
            always @(posedge clk) begin
                if (beat) begin
                    acc_reg <= acc_next[15:W];
                end
                if (rst) begin
                    acc_reg <= {(16-W){1'b0}};
                end
            end
        end
    endgenerate

    always @(posedge clk) begin
        sync1_reg  <= {pin_lclk, pin_sof, pin_d};
        sync2_reg  <= sync1_reg;
        lclk3_reg  <= sync2_reg[W+1];
        word_valid <= 1'b0;
        if (beat) begin
            if (beat_sof && BPW > 1) begin
                // the first beat of a frame's first word: count afresh
                beat_reg  <= ONE;
                first_reg <= 1'b1;
            end else if (beat_sof || beat_reg == LAST_BEAT) begin
                // the word is complete
                word       <= acc_next;
                word_sof   <= beat_sof || first_reg;
                word_valid <= 1'b1;
                beat_reg   <= {BW{1'b0}};
                first_reg  <= 1'b0;
            end else begin
                beat_reg <= beat_reg + 1'b1;
            end
        end
        if (rst) begin
            sync1_reg  <= {(W+2){1'b0}};
            sync2_reg  <= {(W+2){1'b0}};
            lclk3_reg  <= 1'b0;
            beat_reg   <= {BW{1'b0}};
            first_reg  <= 1'b0;
            word       <= 16'd0;
            word_sof   <= 1'b0;
            word_valid <= 1'b0;
        end
    end

endmodule

`resetall
