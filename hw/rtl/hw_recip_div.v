`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_recip_div: q = floor(2**40 / e) for the softmax reciprocal (hw/numerics.py
// attention_head, RECIP_BITS = 40), by a restoring divider that makes STEP
// quotient bits per cycle (STEP restoring steps chained), most significant
// first. SKIP leading quotient bits may be declared zero by the user: that
// holds when e > 2**(SKIP-1) (hw_attention: E >= EXP2[0] = 2**15, SKIP = 15),
// and the divider then starts with the remainder those bits leave.
// With the defaults (STEP 1, SKIP 0) it makes all 41 bits: start (while not
// busy) samples e; done pulses for one cycle STEPS+1 cycles later (start in
// cycle t, done in cycle t + STEPS + 1, STEPS = ceil((41 - SKIP) / STEP), 42
// by default); q holds the quotient from done until the next start. e = 0
// gives q = all ones (SKIP 0 only).
module hw_recip_div #(
    parameter EW   = 32,            // bits of the divisor e (unsigned)
    parameter STEP = 1,             // quotient bits per cycle
    parameter SKIP = 0              // leading quotient bits known to be 0 (e > 2**(SKIP-1))
) (
    input  wire          clk,
    input  wire          rst,       // sync: abort, busy and done low
    input  wire          start,     // ignored while busy
    input  wire [EW-1:0] e,         // divisor, sampled with start
    output wire          busy,
    output wire          done,      // one-cycle pulse: q is ready
    output wire [40:0]   q          // floor(2**40 / e)
);

    localparam QW    = 41;                          // quotient bits: 2**40 / 1 needs 41
    localparam NB    = QW - SKIP;                   // bits to make
    localparam STEPS = (NB + STEP - 1) / STEP;      // cycles
    localparam NBP   = STEPS * STEP;                // bits made (a few leading zeros when padded)
    localparam CW    = 7;                           // bit index width (NBP-1 .. 0, < 64)
    // dividend bits above NBP-1 (only bit 40 of 2**40 is set) are the start remainder
    localparam [63:0] REM0 = (NBP >= 41) ? 64'd0 : (64'd1 << (40 - NBP));

    reg [EW-1:0] div_reg;
    reg [EW-1:0] rem_reg;           // remainder < div_reg
    reg [QW-1:0] q_reg;
    reg [CW-1:0] bit_reg;           // dividend bit of the first step of this cycle
    reg          busy_reg;
    reg          done_reg;

    // STEP restoring steps: bring down dividend bit b (set only for b = 40),
    // subtract the divisor when it fits.
    integer          s;
    reg [EW:0]       shl;
    reg [EW-1:0]     rem_c;
    reg [STEP-1:0]   qbits;
    reg [31:0]       b;
    always @* begin
        rem_c = rem_reg;
        for (s = 0; s < STEP; s = s + 1) begin
            b = {{(32-CW){1'b0}}, bit_reg} - s;
            shl = {rem_c, b == 32'd40};
            qbits[STEP-1-s] = (shl >= {1'b0, div_reg});
            rem_c = qbits[STEP-1-s] ? shl[EW-1:0] - div_reg : shl[EW-1:0];
        end
    end

    localparam integer  FIRST_I = NBP - 1;
    localparam integer  LAST_I  = STEP - 1;
    localparam [CW-1:0] FIRST = FIRST_I[CW-1:0];
    localparam [CW-1:0] LAST  = LAST_I[CW-1:0];

    always @(posedge clk) begin
        done_reg <= 1'b0;
        if (busy_reg) begin
            rem_reg <= rem_c;
            q_reg   <= (q_reg << STEP) | {{(QW-STEP){1'b0}}, qbits};
            bit_reg <= bit_reg - STEP[CW-1:0];
            if (bit_reg == LAST) begin
                busy_reg <= 1'b0;
                done_reg <= 1'b1;
            end
        end else if (start) begin
            div_reg  <= e;
            rem_reg  <= REM0[EW-1:0];
            q_reg    <= {QW{1'b0}};
            bit_reg  <= FIRST;
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
