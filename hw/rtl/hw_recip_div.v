`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_recip_div: q = floor(2**40 / e) for the softmax reciprocal (hw/numerics.py
// attention_head, RECIP_BITS = 40), by a restoring divider that makes one
// quotient bit per cycle, most significant first (41 bits).
// start (while not busy) samples e; done pulses for one cycle 42 cycles later
// (start in cycle t, done in cycle t + 42); q holds the quotient from done until
// the next start. e = 0 gives q = all ones.
module hw_recip_div #(
    parameter EW = 32               // bits of the divisor e (unsigned)
) (
    input  wire          clk,
    input  wire          rst,       // sync: abort, busy and done low
    input  wire          start,     // ignored while busy
    input  wire [EW-1:0] e,         // divisor, sampled with start
    output wire          busy,
    output wire          done,      // one-cycle pulse: q is ready
    output wire [40:0]   q          // floor(2**40 / e)
);

    localparam QW = 41;             // quotient bits: 2**40 / 1 needs 41
    localparam CW = 6;              // bit counter width (40 .. 0)

    reg [EW-1:0] div_reg;
    reg [EW-1:0] rem_reg;           // remainder < div_reg
    reg [QW-1:0] q_reg;
    reg [CW-1:0] bit_reg;           // dividend bit of this step (40 down to 0)
    reg          busy_reg;
    reg          done_reg;

    // One restoring step: bring down dividend bit bit_reg (2**40 has only bit 40
    // set), subtract the divisor when it fits.
    wire          n_bit  = (bit_reg == 6'd40);
    wire [EW:0]   shl    = {rem_reg, n_bit};               // < 2 * div_reg
    wire          fits   = (shl >= {1'b0, div_reg});
    wire [EW:0]   diff   = shl - {1'b0, div_reg};
    wire [EW-1:0] rem_next = fits ? diff[EW-1:0] : shl[EW-1:0];

    // diff[EW] is 0 whenever the difference is used (shl >= div_reg, shl < 2**(EW+1)).
    wire unused_diff = &{1'b0, diff[EW]};

    always @(posedge clk) begin
        done_reg <= 1'b0;
        if (busy_reg) begin
            rem_reg <= rem_next;
            q_reg   <= {q_reg[QW-2:0], fits};
            bit_reg <= bit_reg - 6'd1;
            if (bit_reg == 6'd0) begin
                busy_reg <= 1'b0;
                done_reg <= 1'b1;
            end
        end else if (start) begin
            div_reg  <= e;
            rem_reg  <= {EW{1'b0}};
            q_reg    <= {QW{1'b0}};
            bit_reg  <= 6'd40;
            busy_reg <= 1'b1;
        end
        if (rst) begin
            busy_reg <= 1'b0;
            done_reg <= 1'b0;
        end
    end

    assign busy = busy_reg;
    assign done = done_reg;
    assign q = q_reg;

endmodule

`resetall
