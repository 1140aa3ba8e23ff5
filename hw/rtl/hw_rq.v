`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_rq: requantize y = (x * m + 2**(sh-1)) >>> sh (hw/numerics.py rq), then
// saturate to OW signed bits (OW = 0: full width XW + 15, no saturation).
// Computed as ((x*m >>> (sh-1)) + 1) >>> 1, the same floor for every sh >= 1
// (and 0 for every shift past the product), so no rounding constant is needed.
// Pipelined, one item per cycle; y and out_valid come LATENCY = 3 cycles after
// in_valid: S1 product x*m -> S2 shift by sh-1 -> S3 add 1, halve, saturate.
// sh is 1..63 (numerics uses 1..62); sh = 0 gives y = 0.
// The + 1 sits in S3 (generator 1.6.1): behind the 6-level barrel shifter it made S2 one
// of the design's longest paths; S3 had only the saturation.
// OUT_REG = 0 (full width only): no S3 register, S2 adds the 1 and y is its register
// halved (wiring), LATENCY 2; hw_lane_rq uses it to requantize two lanes' rows in the
// time of one.
module hw_rq #(
    parameter XW = 24,      // signed input width
    parameter OW = 8,       // signed output width with saturation; 0 = XW + 15 bits, no saturation
    parameter OUT_REG = 1   // 0: y straight from S2 (OW = 0 only), LATENCY 2
) (
    input  wire                                         clk,
    input  wire                                         rst,        // sync, clears out_valid
    input  wire                                         in_valid,
    input  wire signed [XW-1:0]                         x,
    input  wire [14:0]                                  m,          // unsigned multiplier < 2**15
    input  wire [5:0]                                   sh,         // shift, 1..63
    output wire                                         out_valid,
    output wire signed [((OW == 0) ? XW + 15 : OW)-1:0] y
);

    localparam LATENCY = (OUT_REG != 0) ? 3 : 2;    // cycles from in_valid to out_valid
    localparam YW = (OW == 0) ? XW + 15 : OW;   // output bits
    localparam PW = XW + 15;                    // x*m: |x| <= 2**(XW-1), m < 2**15
    localparam QW = PW - 1;                     // bits of the result for any sh >= 1

    // ---------------------------------------------------------------- S1: product
    // Operands extended to PW bits so the multiply is exactly PW bits wide.
    wire signed [PW-1:0] x_ext = {{15{x[XW-1]}}, x};
    wire signed [PW-1:0] m_ext = {{XW{1'b0}}, m};

    reg signed [PW-1:0] p_s1;
    reg [5:0]           sh_m1_s1;   // sh - 1, worked out here so that S2 starts with the shift

    always @(posedge clk) begin
        p_s1     <= x_ext * m_ext;
        sh_m1_s1 <= sh - 6'd1;
    end

    // ---------------------------------------------------------------- S2: shift (and add 1)
    // p >>> (sh-1) <= p < 2**(PW-1) - 1, so the + 1 cannot overflow PW bits.
    wire signed [PW-1:0] p_shift = p_s1 >>> sh_m1_s1;

    reg signed [PW-1:0] t_s2;   // OUT_REG = 0: (p >>> (sh-1)) + 1; else p >>> (sh-1)
    wire signed [PW-1:0] t_round;   // (p >>> (sh-1)) + 1

    generate
        if (OUT_REG == 0) begin : g_add_s2
            always @(posedge clk) t_s2 <= p_shift + {{(PW-1){1'b0}}, 1'b1};
            assign t_round = t_s2;
        end else begin : g_add_s3
            always @(posedge clk) t_s2 <= p_shift;
            assign t_round = t_s2 + {{(PW-1){1'b0}}, 1'b1};
        end
    endgenerate

    // ---------------------------------------------------------------- S3: halve, saturate
    wire signed [QW-1:0] q = t_round[PW-1:1];   // = t >>> 1, the rounded result
    wire unused_t = &{1'b0, t_round[0]};        // the halved-away bit

    reg signed [YW-1:0] y_s3;

    generate
        if (OUT_REG == 0) begin : g_comb
            // OW must be 0: no saturation without a register after it
            always @* y_s3 = {q[QW-1], q};
        end else if (OW == 0 || OW == QW + 1) begin : g_full
            always @(posedge clk) y_s3 <= {q[QW-1], q};
        end else if (OW > QW) begin : g_extend
            always @(posedge clk) y_s3 <= {{(OW-QW){q[QW-1]}}, q};
        end else if (OW == QW) begin : g_same
            always @(posedge clk) y_s3 <= q;
        end else begin : g_sat
            // Overflow when the bits above OW-1 are not all copies of the sign.
            wire ovf = (q[QW-1:OW-1] != {(QW-OW+1){q[QW-1]}});
            always @(posedge clk) begin
                if (ovf) y_s3 <= q[QW-1] ? {1'b1, {(OW-1){1'b0}}} : {1'b0, {(OW-1){1'b1}}};
                else     y_s3 <= q[OW-1:0];
            end
        end
    endgenerate

    // ---------------------------------------------------------------- valid pipe
    hw_valid_pipe #(
        .DEPTH(LATENCY)
    ) vpipe (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .out_valid(out_valid)
    );
    assign y = y_s3;

endmodule

`resetall
