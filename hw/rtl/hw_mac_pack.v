`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_mac_pack: the multiplier part of two neighbouring LUT-MAC lanes (hw_matvec DSP_V).
// Both lanes multiply the same N broadcast int8 values x_j, each by its own weight
// (a_j for lane a, b_j for lane b). With narrow weights (WB <= 4) one 18 x 18
// multiplier gives both products at once:
//   x_j * (b_j * 2**S + a_j) = x_j * a_j + (x_j * b_j) * 2**S
// The products of two values are summed, and the sum T splits exactly into lane
// a's part, the low S bits read as signed (|sum of two x * a| < 2**(S-1)), and
// lane b's, (T - low) / 2**S = (T >>> S) + T[S-1]. So N values of two lanes
// take N multipliers, not 2 N. Wider weights (PACK = 0) take a multiplier per
// product. Pipeline: S2 registers (x from hw_matvec; the packed weights here,
// from the lanes' S1 ROM words) -> multipliers -> S3 the products, registered (the
// multiplier and the pair sum after it routed as the critical path, 17.5 ns, when
// they shared a stage) -> packed, each pair's sum and split -> S4 registers: each
// pair's split parts -> the two small add trees, combinational in S4 beside the
// lanes' weighed bit planes, into the lanes' S5 sums.
module hw_mac_pack #(
    parameter N    = 4,                         // values per lane on multipliers
    parameter WB   = 4,                         // bits per weight (two's complement)
    parameter PACK = (WB <= 4) ? 1 : 0,         // 1: two lanes' products per multiplier
    parameter SUMW = WB + 11 + $clog2(N)        // bits of each lane's sum (>= lane b's part below)
) (
    input  wire                   clk,
    input  wire [N*WB-1:0]        a_next,       // S1: lane a's weights, registered here (S2)
    input  wire [N*WB-1:0]        b_next,       // S1: lane b's weights (zero for a lone lane)
    input  wire [N*8-1:0]         x,            // S2: the int8 values, value j at [8j +: 8]
    output wire signed [SUMW-1:0] sum_a,        // S4: sum_j x_j * a_j
    output wire signed [SUMW-1:0] sum_b         // S4: sum_j x_j * b_j
);
    localparam S  = WB + 9;                     // a sum of two int8 x WB-bit products fits S signed bits
    localparam BW = (PACK != 0) ? WB + S + 1 : WB;  // a multiplier's weight operand (18 bits at WB = 4)
    localparam PW = 8 + BW;                     // its product
    localparam NG = (N + 1) / 2;                // groups of two products (the last may hold one)
    localparam NM = (PACK != 0) ? N : 2 * N;    // multipliers

    // S2: the weight operands, straight into the multipliers; S3: their products
    reg [NM*BW-1:0] w_s2;
    wire [NM*PW-1:0] p_s2;
    reg [NM*PW-1:0] p_s3;
    always @(posedge clk) begin
        p_s3 <= p_s2;
    end
    genvar g, m;
    generate
        for (g = 0; g < N; g = g + 1) begin : g_operand
            wire [WB-1:0] a = a_next[WB*g +: WB];
            wire [WB-1:0] b = b_next[WB*g +: WB];
            if (PACK != 0) begin : g_packed_operand
                // b * 2**S + a (a's sign copies borrow from b's field; one bit more than b
                // needs, for b = -2**(WB-1) with a < 0)
                always @(posedge clk) begin
                    w_s2[BW*g +: BW] <= {b[WB-1], b, {S{1'b0}}} + {{(S+1){a[WB-1]}}, a};
                end
            end else begin : g_two_operands
                always @(posedge clk) begin
                    w_s2[BW*g +: BW]       <= a;
                    w_s2[BW*(N + g) +: BW] <= b;
                end
            end
        end
        for (m = 0; m < NM; m = m + 1) begin : g_mult
            wire signed [7:0]  xm = x[8*(m % N) +: 8];
            wire signed [BW-1:0] wm = w_s2[BW*m +: BW];
            assign p_s2[PW*m +: PW] = {{BW{xm[7]}}, xm} * {{8{wm[BW-1]}}, wm};
        end
    endgenerate

    generate
        if (PACK != 0) begin : g_packed
            localparam TW = PW + 1;             // a group's sum of two products
            localparam HW = TW - S + 1;         // lane b's part of it
            wire [NG*SUMW-1:0] lo, hi;
            for (g = 0; g < NG; g = g + 1) begin : g_group
                wire signed [PW-1:0] p0 = p_s3[PW*(2*g) +: PW];
                wire signed [PW-1:0] p1;
                if (2 * g + 1 < N) begin : g_two
                    assign p1 = p_s3[PW*(2*g+1) +: PW];
                end else begin : g_one
                    assign p1 = {PW{1'b0}};
                end
                wire signed [TW-1:0] t = {p0[PW-1], p0} + {p1[PW-1], p1};
                // S4: lane a's part, the low S bits; lane b's, what is left above them
                reg signed [S-1:0]  lo_s4;
                reg signed [HW-1:0] hi_s4;
                always @(posedge clk) begin
                    lo_s4 <= t[S-1:0];
                    hi_s4 <= {t[TW-1], t[TW-1:S]} + {{(TW-S){1'b0}}, t[S-1]};
                end
                assign lo[SUMW*g +: SUMW] = {{(SUMW-S){lo_s4[S-1]}}, lo_s4};
                assign hi[SUMW*g +: SUMW] = {{(SUMW-HW){hi_s4[HW-1]}}, hi_s4};
            end
            hw_add_tree #(.N(NG), .W(SUMW)) tree_a (.leaves(lo), .sum(sum_a));
            hw_add_tree #(.N(NG), .W(SUMW)) tree_b (.leaves(hi), .sum(sum_b));
        end else begin : g_separate
            // S3: the products' sums (from their registers); S4: the sums registered (two words,
            // not a second copy of every product)
            wire [N*SUMW-1:0] pa, pb;
            wire signed [SUMW-1:0] sa_s3, sb_s3;
            reg  signed [SUMW-1:0] sa_s4, sb_s4;
            for (g = 0; g < N; g = g + 1) begin : g_product
                wire signed [PW-1:0] a = p_s3[PW*g +: PW];
                wire signed [PW-1:0] b = p_s3[PW*(N + g) +: PW];
                assign pa[SUMW*g +: SUMW] = {{(SUMW-PW){a[PW-1]}}, a};
                assign pb[SUMW*g +: SUMW] = {{(SUMW-PW){b[PW-1]}}, b};
            end
            hw_add_tree #(.N(N), .W(SUMW)) tree_a (.leaves(pa), .sum(sa_s3));
            hw_add_tree #(.N(N), .W(SUMW)) tree_b (.leaves(pb), .sum(sb_s3));
            always @(posedge clk) begin
                sa_s4 <= sa_s3;
                sb_s4 <= sb_s3;
            end
            assign sum_a = sa_s4;
            assign sum_b = sb_s4;
        end
    endgenerate

endmodule

`resetall
