`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_mac_lane: one multiply-accumulate lane of the matrix-vector engine.
// It owns its weight ROMs, one per weight width (ROM group, hw/rtlgen/layout.py):
// group g holds VPL signed weights of GROUP_WB[g] bits a word ($readmemh of
// ROM_FILE for group 0, ROM_STEM_gG.hex for group G), widened to WB bits after
// the read. Its pass's scale ({sh, m}) comes from hw_matvec's one scale ROM. Per cycle it
// multiplies VPL broadcast int8 x values by one ROM word and accumulates; at
// the last word of a row it delivers the row's sum and the pass's {sh, m}; hw_matvec
// requantizes them (hw_lane_rq, one requantizer per lane or per two lanes).
// Pipeline (stage numbers as in hw_matvec): S0 address -> S1 ROM read register
// -> S2 ROM output register + x -> S3 products (bit planes or multipliers)
// -> S4 the planes weighed (the multipliers' pair parts) -> S5 the word's product sum,
// registered, scale read (scale_s5) -> S6 row total + scale register.
// The S5 register splits what routed as the critical path (generator 1.11.1, 16.9 ns):
// the planes' weighing tree and the multipliers' sums into the accumulator, and on into
// a shared requantizer's operand pick; the S4 one keeps the multipliers' S3 product
// register (1.16) from adding a stage to the path after it.
module hw_mac_lane #(
    parameter VPL         = 4,                  // values per word (per cycle)
    parameter WB          = 8,                  // bits per weight (two's complement)
    parameter ACC_W       = 24,                 // accumulator bits, >= WB + 9
    parameter MUL_LUT     = 0,                  // 1: products from LUT adders (bit planes), no DSP
    parameter DSP_V       = 0,                  // with MUL_LUT: the last DSP_V values on multipliers
                                                // (hw_mac_pack in hw_matvec), the others bit planes
    parameter DSP_SW      = 16,                 // bits of the multipliers' sum (hw_mac_pack SUMW)
    parameter ROM_DEPTH   = 16,                 // weight words
    parameter ROM_FILE    = "",                 // weight ROM contents ($readmemh file)
    parameter ROM_AW      = (ROM_DEPTH > 1) ? $clog2(ROM_DEPTH) : 1,       // weight address bits
    parameter GROUPS      = 1,                  // weight ROMs (one per width)
    parameter GROUP_WB    = WB,                 // bits per weight of group g at [8g +: 8] (<= WB)
    parameter GROUP_DEPTH = ROM_DEPTH,          // words of group g at [32g +: 32] (<= ROM_DEPTH)
    parameter ROM_STEM    = "",                 // group G >= 1 reads {ROM_STEM, "_gG.hex"}
    parameter GSEL_W      = (GROUPS > 1) ? $clog2(GROUPS) : 1,              // group select bits
    parameter DV1         = (DSP_V > 0) ? DSP_V : 1                          // dsp_w_next's values (>= 1)
) (
    input  wire                    clk,
    input  wire                    rst,            // sync, clears y_valid
    // S0: read a weight word of group rom_group at that group's address
    input  wire                    rom_en,
    input  wire [GROUPS*ROM_AW-1:0] rom_addr,      // group g's address at [g*ROM_AW +: ROM_AW]
    input  wire [GSEL_W-1:0]       rom_group,
    // S2: the x values of that word (registered by the caller), int8 each, value j at [8j +: 8]
    input  wire [VPL*8-1:0]        x_in,
    // S1: the weights of the last DSP_V values of the word about to be registered (hw_mac_pack's
    // operands), and S4: their products' sum, from hw_mac_pack; unused when DSP_V = 0
    output wire [DV1*WB-1:0]       dsp_w_next,
    input  wire signed [DSP_SW-1:0] dsp_sum,
    // S5: accumulate control of the word
    input  wire                    acc_en,
    input  wire                    acc_first,      // first word of a row: restart the sum
    input  wire                    acc_last,       // last word of a row: deliver the sum (S6)
    // S5: the scale of the word's pass, {sh (6 bits), m (15 bits)} (hw_matvec's scale ROM, read at S4)
    input  wire [20:0]             scale_s5,
    // S5: the same sum and scale a cycle early (still combinational), for a caller that
    // registers them itself (hw_lane_rq's operand register when two lanes share it)
    output wire                    next_valid,
    output wire signed [ACC_W-1:0] next_total,
    output wire [20:0]             next_scale,
    // S6: a row's sum and its pass's scale, the cycle after its acc_last at S5
    output wire                    total_valid,
    output wire signed [ACC_W-1:0] total,
    output wire [20:0]             total_scale   // {sh (6 bits), m (15 bits)}
);

    localparam MW = 15;         // requant multiplier bits (numerics.MULT_BITS)
    localparam SW = 6;          // requant shift bits
    localparam PW = 8 + WB;     // one product's bits
    localparam NL = VPL - DSP_V;            // values on the bit planes (MUL_LUT)

    // ---------------------------------------------------------------- ROMs
    // hw_rom: a file name of "" gives an all-zero ROM, so tools can elaborate the module on its own.

    // S1: each group's BRAM read register, widened to WB bits a weight (sign copies); group 0
    // reads ROM_FILE, a later group {ROM_STEM, "_gG.hex"} (all zero without ROM_STEM)
    wire [GROUPS*VPL*WB-1:0] rom_q_wide;
    genvar gg, gv;
    generate
        for (gg = 0; gg < GROUPS; gg = gg + 1) begin : g_group
            localparam integer GW  = {24'd0, GROUP_WB[8*gg +: 8]};
            localparam integer GD  = GROUP_DEPTH[32*gg +: 32];
            localparam integer GAW = (GD > 1) ? $clog2(GD) : 1;
            localparam [7:0]   GCH = 8'd48 + gg;                 // the group's digit in its file name
            localparam [GSEL_W-1:0] GID = gg;
            wire [VPL*GW-1:0] rom_q;
            wire selected = (GROUPS == 1) || (rom_group == GID);
            if (gg > 0 && ROM_STEM != "") begin : g_file_n
                hw_rom #(
                    .WIDTH(VPL*GW),
                    .DEPTH(GD),
                    .FILE({ROM_STEM, "_g", GCH, ".hex"})
                ) rom (
                    .clk(clk),
                    .en(rom_en && selected),
                    .addr(rom_addr[gg*ROM_AW +: GAW]),
                    .q(rom_q)
                );
            end else begin : g_file_0
                hw_rom #(
                    .WIDTH(VPL*GW),
                    .DEPTH(GD),
                    .FILE((gg == 0) ? ROM_FILE : "")
                ) rom (
                    .clk(clk),
                    .en(rom_en && selected),
                    .addr(rom_addr[gg*ROM_AW +: GAW]),
                    .q(rom_q)
                );
            end
            for (gv = 0; gv < VPL; gv = gv + 1) begin : g_widen
                if (GW < WB) begin : g_sign
                    assign rom_q_wide[(gg*VPL + gv)*WB +: WB] = {{(WB-GW){rom_q[GW*gv + GW-1]}}, rom_q[GW*gv +: GW]};
                end else begin : g_same
                    assign rom_q_wide[(gg*VPL + gv)*WB +: WB] = rom_q[GW*gv +: GW];
                end
            end
        end
    endgenerate
    wire unused_rom_addr = &{1'b0, rom_addr};      // address bits past a shallower group's depth

    reg  [VPL*WB-1:0] w_s2;     // S2: BRAM output register, before the multipliers
    wire [VPL*WB-1:0] w_s1;     // S1: the word of the selected group

    generate
        if (GROUPS > 1) begin : g_pick
            reg [GSEL_W-1:0] group_s1;
            always @(posedge clk) begin
                if (rom_en) begin
                    group_s1 <= rom_group;
                end
            end
            assign w_s1 = rom_q_wide[group_s1*VPL*WB +: VPL*WB];
        end else begin : g_one
            wire unused_group = &{1'b0, rom_group};
            assign w_s1 = rom_q_wide;
        end
        if (DSP_V > 0) begin : g_dsp_w
            assign dsp_w_next = w_s1[NL*WB +: DSP_V*WB];
        end else begin : g_no_dsp_w
            assign dsp_w_next = {WB{1'b0}};
        end
    endgenerate
    always @(posedge clk) begin
        w_s2 <= w_s1;
    end

    // ---------------------------------------------------------------- S2: VPL products
    // MUL_LUT = 0: one multiplier per product (a MULT18X18D / DSP48 each), registered in S3
    // and summed into S4.
    // MUL_LUT = 1: the sum of the VPL products by weight bit planes,
    //   sum_j x_j * w_j = sum_b (+-2**b) * sum_{j: bit b of w_j} x_j
    // (bit WB-1 weighs -2**(WB-1)): masked int8 adds only, so narrow weights cost
    // a few LUTs per MAC and no multiplier, and the lane count is bounded by
    // LUTs instead of the part's DSPs. Each plane is a balanced adder tree
    // (hw_add_tree, log2 VPL levels on the carry chains) in S2; the WB planes are
    // registered, weighted and summed in S3 into the S4 register, and joined by the
    // multipliers' sums in S4 (hw_mac_pack's pair parts) into the S5 register. Both
    // give the same integers.
    wire signed [ACC_W-1:0] psum_s4;

    generate
        if (MUL_LUT != 0) begin : g_planes
            localparam PLW = 9 + $clog2(NL);        // a plane: a sum of up to NL int8 values
            localparam SMW = PLW + WB;              // the weighted planes: |sum| <= NL * 2**(WB+7)
            wire [WB*PLW-1:0] planes_next;
            reg  [WB*PLW-1:0] planes_s3;
            wire [WB*SMW-1:0] weighted_in;
            wire [SMW-1:0]    weighted;
            reg  signed [SMW-1:0] weighted_s4;
            genvar gb;
            hw_plane_sums #(.N(NL), .WB(WB), .PLW(PLW)) plane_sums (
                .x(x_in[NL*8-1:0]), .w(w_s2[NL*WB-1:0]), .planes(planes_next));
            for (gb = 0; gb < WB; gb = gb + 1) begin : g_plane
                // S3: plane gb weighs 2**gb, the sign bit's plane -2**(WB-1)
                wire signed [PLW-1:0] pl = planes_s3[gb*PLW +: PLW];
                wire signed [SMW-1:0] pl_ext = {{(SMW-PLW){pl[PLW-1]}}, pl};
                assign weighted_in[gb*SMW +: SMW] = (gb == WB - 1) ? -(pl_ext <<< gb) : (pl_ext <<< gb);
            end
            always @(posedge clk) begin
                planes_s3   <= planes_next;
                weighted_s4 <= weighted;
            end
            hw_add_tree #(.N(WB), .W(SMW)) weigh (.leaves(weighted_in), .sum(weighted));
            if (DSP_V > 0) begin : g_with_dsp
                // the multipliers' values (hw_mac_pack) join the planes' sum; their x and
                // weights here go unused
                wire unused_dsp_values = &{1'b0, x_in[VPL*8-1:NL*8], w_s2[VPL*WB-1:NL*WB]};
                assign psum_s4 = {{(ACC_W-SMW){weighted_s4[SMW-1]}}, weighted_s4}
                               + {{(ACC_W-DSP_SW){dsp_sum[DSP_SW-1]}}, dsp_sum};
            end else begin : g_planes_only
                wire unused_dsp_sum = &{1'b0, dsp_sum};
                assign psum_s4 = {{(ACC_W-SMW){weighted_s4[SMW-1]}}, weighted_s4};
            end
        end else begin : g_mults
            wire unused_dsp_sum = &{1'b0, dsp_sum};
            // S3: the products, registered after the multipliers; S4: their sum
            wire [VPL*PW-1:0]      prod_s3;
            reg signed [PW-1:0]    prod;
            reg signed [ACC_W-1:0] psum_next, psum_reg;
            genvar gj;
            integer j;
            for (gj = 0; gj < VPL; gj = gj + 1) begin : g_product
                reg signed [PW-1:0] p_s3;
                always @(posedge clk) begin
                    p_s3 <= $signed(x_in[8*gj +: 8]) * $signed(w_s2[WB*gj +: WB]);
                end
                assign prod_s3[PW*gj +: PW] = p_s3;
            end
            always @* begin
                psum_next = {ACC_W{1'b0}};
                for (j = 0; j < VPL; j = j + 1) begin
                    prod = prod_s3[PW*j +: PW];
                    psum_next = psum_next + {{(ACC_W-PW){prod[PW-1]}}, prod};
                end
            end
            always @(posedge clk) begin
                psum_reg <= psum_next;
            end
            assign psum_s4 = psum_reg;
        end
    endgenerate

    // ---------------------------------------------------------------- S5: accumulate
    reg  signed [ACC_W-1:0] psum_s5;    // the word's products summed, registered
    reg  signed [ACC_W-1:0] acc;
    reg  signed [ACC_W-1:0] total_s6;
    reg                     total_valid_s6;
    wire signed [ACC_W-1:0] acc_sum = acc_first ? psum_s5 : acc + psum_s5;
    reg  [MW+SW-1:0]        scale_s6;

    always @(posedge clk) begin
        psum_s5 <= psum_s4;
        if (acc_en) begin
            acc <= acc_sum;
            if (acc_last) begin
                total_s6 <= acc_sum;
            end
        end
        total_valid_s6 <= acc_en && acc_last;
        scale_s6       <= scale_s5;
        if (rst) begin
            total_valid_s6 <= 1'b0;
        end
    end

    assign next_valid  = acc_en && acc_last;
    assign next_total  = acc_sum;
    assign next_scale  = scale_s5;
    assign total_valid = total_valid_s6;
    assign total       = total_s6;
    assign total_scale = scale_s6;

endmodule

`resetall
