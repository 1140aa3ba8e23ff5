`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_rmsnorm: int16 residual (D) -> int8 normalized vector, numerics.rmsnorm:
//   ss = sum res_i**2 + EPS_Q;  r, k = rsqrt_fixed(ss)
//   y_i = sat8(rq(res_i * gq_i, r, 23 + k + gshift))
// Pass 1 reads the residual (NW elements per cycle, as soon as res_ready says
// they are final, so it overlaps the residual's producer) and sums squares,
// then hw_rsqrt, then pass 2 reads it again with the gains and writes NW y_i
// per cycle. The gains come from one ROM, norm.hex: NW int16 gains a word (a
// group's, read at one address), each norm's row padded to GRW words: the L
// attention norms, the L ffn norms, then the final one (generate.py norm_words).
// Elements past D in the last group of NW are zero in pass 1 and ignored in y.
module hw_rmsnorm #(
    parameter D        = 8,                                 // vector length
    parameter L        = 1,                                 // layers
    parameter ROM_DIR  = "rom",                             // folder of the gain and rsqrt hex files
    parameter IW       = (D > 1) ? $clog2(D) : 1,           // element index bits
    parameter LW       = (L > 1) ? $clog2(L) : 1,           // layer index bits
    parameter NW       = 1,                                 // elements per cycle
    parameter LEAD     = 0                                  // `soon` comes with group LEAD (see below)
) (
    input  wire              clk,
    input  wire              rst,           // synchronous: abort, back to idle
    input  wire              start,
    input  wire [1:0]        sel,           // gains: 0 attention, 1 ffn, 2 final
    input  wire [LW-1:0]     layer,
    input  wire signed [5:0] gshift,        // gain shift of that norm
    input  wire [30:0]       eps_q,         // epsilon in residual units squared (model.hex)
    output wire              busy,
    output reg               done,          // one-cycle pulse after the last y
    // one-cycle pulse 3 cycles before y of group LEAD (elements LEAD*NW ..) is
    // valid. A consumer that reads VPL >= NW elements per cycle in order, from 4
    // cycles after the pulse on, never overtakes the writes when LEAD is at least
    // ceil(min(D, VPL(w+1))/NW) - 1 - w for each of its words w (ceil(D/NW) -
    // ceil(D/VPL) when NW divides VPL; hw_core NORM_LEAD; the core starts a matrix on it)
    output wire              soon,
    // residual read: res_data[16j +: 16] = res[res_idx + j] (0 past D) one cycle later
    // (the core registers it); res_ready = elements 0..res_ready-1 hold their final
    // value (pass 1 waits for them)
    output wire [IW-1:0]     res_idx,
    input  wire [31:0]       res_ready,
    input  wire [NW*16-1:0]  res_data,
    // outputs, NW elements per cycle: y[8j +: 8] is element y_idx + j
    output reg               y_valid,
    output reg  [IW-1:0]     y_idx,
    output reg  [NW*8-1:0]   y
);

    localparam SSW = 32 + $clog2(D + 1);                    // ss <= D * 2**30 + EPS_Q
    localparam GRW = (D + NW - 1) / NW;                     // gain words of a norm's row
    localparam GD  = (2 * L + 1) * GRW;                     // gain ROM depth
    localparam GAW = $clog2(GD);                            // gain ROM address bits
    localparam P2W = 49;                                    // res * gq * r

    localparam [2:0] ST_IDLE = 3'd0,
                     ST_SUM  = 3'd1,
                     ST_RSQ  = 3'd2,
                     ST_NORM = 3'd3,
                     ST_WAIT = 3'd4;

    reg [2:0]     state_reg;
    reg [IW:0]    i_reg;                // issue counter
    reg           issuing_reg;
    reg [GAW-1:0] gbase_reg;            // the norm's row: (sel * L + layer) * GRW
    reg signed [5:0] gshift_reg;

    assign busy    = (state_reg != ST_IDLE);
    assign res_idx = i_reg[IW-1:0];

    localparam integer NWI = NW;
    wire [31:0] i_next  = {{(31-IW){1'b0}}, i_reg} + NWI;
    wire [31:0] i_next2 = i_next + NWI;                      // i_next's own i_next
    // the elements this group needs, min(i_reg + NW, D), and whether it is the last
    // group are registered with i_reg (worked out from the group before): the adder
    // in front of the comparison with res_ready was a long path into the issue
    reg  [31:0] i_need_reg;
    reg         issue_last_reg;
    wire issue_last = issue_last_reg;
    wire sum_wait   = (state_reg == ST_SUM) && (i_need_reg > res_ready);
    wire issue      = issuing_reg && !sum_wait;

    // ---------------------------------------------------------------- gain ROM
    // one word (the NW gains of the group) per cycle: one read port, so one block RAM
    // copy (three ROMs read at NW addresses took 2 blocks each at NW = 4)
    localparam integer NWI_LOG = (NW > 1) ? $clog2(NW) : 0;
    // i_reg steps by NW from 0; past the last row (idle) the address is clamped
    wire [31:0] gword = {{(32-GAW){1'b0}}, gbase_reg} + ({{(31-IW){1'b0}}, i_reg} >> NWI_LOG);
    wire [GAW-1:0] gaddr = (gword >= GD) ? GD[GAW-1:0] - 1'b1 : gword[GAW-1:0];
    wire [16*NW-1:0] gq;                // the group's gains, the cycle after its address

    hw_rom #(
        .WIDTH(16*NW),
        .DEPTH(GD),
        .FILE({ROM_DIR, "/norm.hex"}),
        .AW(GAW)
    ) gain_rom (
        .clk(clk),
        .en(1'b1),
        .addr(gaddr),
        .q(gq)
    );

    // ---------------------------------------------------------------- pass 1: sum of squares
    localparam SQW = 32 + $clog2(NW + 1);                   // NW squares <= NW * 2**30
    // issue (c) -> res (c+1) -> operands registered (c+2) -> res * res registered in p1 (c+3)
    // -> squares summed (c+4) -> accumulated. The product is registered before the adder tree:
    // gain ROM, operand multiplexer, multiplier and tree in one cycle were the routed critical
    // path of the v2 core on the ECP5-85F (25.7 ns, docs/boards.md); the operands are too
    // (gain block RAM -> multiplexers -> multiplier was ~24 ns by hw.backends.ecp5_timing).
    reg              a1_valid, a2_valid, a3_valid, a4_valid;
    reg [SQW-1:0]    sq_reg;
    reg [SSW-1:0]    ss_reg;
    wire [NW*32-1:0] prod;              // res * res (pass 1) or res * gain (pass 2), one multiplier per lane
    wire [NW*32-1:0] prod_q;            // prod a cycle later (each lane's p1)
    // the NW squares (each <= 2**30) summed by a balanced adder tree (log2 NW levels)
    wire [NW*SQW-1:0] sq_leaves;
    wire [SQW-1:0]    square;
    genvar aj;
    generate
        for (aj = 0; aj < NW; aj = aj + 1) begin : g_square
            assign sq_leaves[aj*SQW +: SQW] = {{(SQW-32){1'b0}}, prod_q[32*aj +: 32]};
        end
    endgenerate
    hw_add_tree #(.N(NW), .W(SQW)) squares (.leaves(sq_leaves), .sum(square));

    always @(posedge clk) begin
        a1_valid <= issue && (state_reg == ST_SUM);
        a2_valid <= a1_valid;
        a3_valid <= a2_valid;
        a4_valid <= a3_valid;
        sq_reg   <= square;
        if (a4_valid) begin
            ss_reg <= ss_reg + {{(SSW-SQW){1'b0}}, sq_reg};
        end
        if (start && state_reg == ST_IDLE) begin
            ss_reg <= {{(SSW-31){1'b0}}, eps_q};
        end
        if (rst) begin
            a1_valid <= 1'b0;
            a2_valid <= 1'b0;
            a3_valid <= 1'b0;
            a4_valid <= 1'b0;
        end
    end

    // ---------------------------------------------------------------- rsqrt
    reg              rsq_start;
    wire             rsq_valid;
    wire [15:0]      rsq_r;
    wire signed [5:0] rsq_k;
    reg [15:0]       r_reg;
    reg signed [7:0] sh_reg;            // 23 + k + gshift

    hw_rsqrt #(
        .SSW(SSW),
        .TABLE_FILE({ROM_DIR, "/rsqrt.hex"})
    ) rsqrt (
        .clk(clk),
        .rst(rst),
        .in_valid(rsq_start),
        .ss(ss_reg),
        .out_valid(rsq_valid),
        .r(rsq_r),
        .k(rsq_k)
    );

    // ---------------------------------------------------------------- pass 2: scale
    // issue (c) -> res, gain (c+1) -> operands (c+2) -> res * gq (c+3) -> * r (c+4)
    // -> + rounding (c+5) -> shift (c+6) -> saturate: y (c+7), NW lanes
    reg                  b1_valid, b2_valid, b3_valid, b4_valid, b5_valid, b6_valid;
    reg [IW-1:0]         b1_i, b2_i, b3_i, b4_i, b5_i, b6_i;
    // rq with the shift sh_reg: sh >= 48 leaves 0 (|p2| < 2**47); sh <= 0 never
    // occurs for a valid model (the golden model's rq needs sh >= 1)
    wire [5:0]           sh_u   = (sh_reg < 8'sd1) ? 6'd1 : (sh_reg > 8'sd48) ? 6'd48 : sh_reg[5:0];
    wire signed [P2W:0]  rnd    = $signed({{P2W{1'b0}}, 1'b1} << (sh_u - 1'b1));
    // sh_reg is set once per norm, cycles before its first scale result: the shift,
    // the rounding constant and the all-zero case go through registers, and the
    // shifted sum is registered before the saturation (adder, shifter and
    // saturation were once one path: 66 cells deep, the design's critical path on
    // the ECP5 at about 25 MHz; the shifter and saturation together still ~14)
    reg [5:0]            sh_u_reg;
    reg                  sh_zero_reg;
    reg signed [P2W:0]   rnd_reg;
    always @(posedge clk) begin
        sh_u_reg    <= sh_u;
        sh_zero_reg <= (sh_reg > 8'sd48);
        rnd_reg     <= rnd;
    end
    wire [NW*8-1:0]      y_next;

    genvar yj;
    generate
        for (yj = 0; yj < NW; yj = yj + 1) begin : g_scale
            reg signed [31:0]    p1;
            reg signed [P2W-1:0] p2;
            reg signed [P2W:0]   rsum;
            reg signed [P2W:0]   rshift;
            // > 127: not negative, a bit above bit 6 set; < -128: negative, not all of them set
            wire                 y_hi   = !rshift[P2W] && (|rshift[P2W-1:7]);
            wire                 y_lo   = rshift[P2W] && !(&rshift[P2W-1:7]);
            // passes 1 and 2 never overlap: they share the multiplier
            wire signed [15:0]   mb = (state_reg == ST_SUM) ? res_data[16*yj +: 16] : gq[16*yj +: 16];
            reg signed [15:0]    op_a, op_b;
            assign prod[32*yj +: 32] = op_a * op_b;
            assign prod_q[32*yj +: 32] = p1;
            always @(posedge clk) begin
                op_a <= res_data[16*yj +: 16];
                op_b <= mb;
                p1   <= prod[32*yj +: 32];
                p2   <= p1 * $signed({1'b0, r_reg});
                rsum <= {p2[P2W-1], p2} + rnd_reg;
                rshift <= rsum >>> sh_u_reg;
            end
            assign y_next[8*yj +: 8] = sh_zero_reg ? 8'sd0 : y_hi ? 8'sd127 : y_lo ? -8'sd128 : rshift[7:0];
        end
    endgenerate

    localparam integer LEAD_I = LEAD * NW;
    assign soon = b5_valid && ({{(32-IW){1'b0}}, b5_i} == LEAD_I);

    always @(posedge clk) begin
        b1_valid <= issuing_reg && (state_reg == ST_NORM);
        b1_i     <= i_reg[IW-1:0];
        b2_valid <= b1_valid;
        b2_i     <= b1_i;
        b3_valid <= b2_valid;
        b3_i     <= b2_i;
        b4_valid <= b3_valid;
        b4_i     <= b3_i;
        b5_valid <= b4_valid;
        b5_i     <= b4_i;
        b6_valid <= b5_valid;
        b6_i     <= b5_i;
        y_valid  <= b6_valid;
        y_idx    <= b6_i;
        y        <= y_next;
        if (rst) begin
            b1_valid <= 1'b0;
            b2_valid <= 1'b0;
            b3_valid <= 1'b0;
            b4_valid <= 1'b0;
            b5_valid <= 1'b0;
            b6_valid <= 1'b0;
            y_valid  <= 1'b0;
        end
    end

    // ---------------------------------------------------------------- control
    localparam integer GRWI = GRW;
    localparam integer LI = L;
    // the final norm (sel 2) has one row, after the 2 L per-layer rows
    wire [31:0] grow_next  = (sel == 2'd2) ? 2 * LI : {30'd0, sel} * LI + {{(32-LW){1'b0}}, layer};
    wire [31:0] gbase_next = grow_next * GRWI;

    // pass 2 issues its first group RSQ_LEAD cycles after rsq_start, while hw_rsqrt still
    // works: that group's res * gain product meets r_reg (loaded from rsq_valid) in the
    // next stage, and the rounding shift (sh_reg) two stages later, both just in time
    localparam integer RSQ_LATENCY = 4;                     // hw_rsqrt's LATENCY
    localparam integer RSQ_LEAD_I  = RSQ_LATENCY - 2;       // ST_RSQ cycles before the issue
    localparam [1:0]   RSQ_LEAD    = RSQ_LEAD_I[1:0];
    reg [1:0]   rsq_cnt;

    always @(posedge clk) begin
        done      <= 1'b0;
        rsq_start <= 1'b0;
        if (rsq_valid) begin
            r_reg  <= rsq_r;
            sh_reg <= 8'sd23 + {{2{rsq_k[5]}}, rsq_k} + {{2{gshift_reg[5]}}, gshift_reg};
        end
        if (issue) begin
            i_reg          <= i_next[IW:0];
            i_need_reg     <= (i_next2 > D) ? D : i_next2;
            issue_last_reg <= (i_next2 >= D);
            if (issue_last) begin
                issuing_reg <= 1'b0;
            end
        end
        case (state_reg)
            ST_IDLE: begin
                if (start) begin
                    gbase_reg   <= gbase_next[GAW-1:0];
                    gshift_reg  <= gshift;
                    i_reg       <= {(IW+1){1'b0}};
                    i_need_reg     <= (NWI > D) ? D : NWI;
                    issue_last_reg <= (NWI >= D);
                    issuing_reg <= 1'b1;
                    state_reg   <= ST_SUM;
                end
            end
            ST_SUM: begin
                // the last square is accumulated this cycle (a4) or already: hw_rsqrt
                // samples ss_reg in the cycle after rsq_start
                if (!issuing_reg && !a1_valid && !a2_valid && !a3_valid) begin
                    rsq_start <= 1'b1;
                    rsq_cnt   <= RSQ_LEAD;
                    state_reg <= ST_RSQ;
                end
            end
            ST_RSQ: begin
                rsq_cnt <= rsq_cnt - 1'b1;
                if (rsq_cnt == 2'd0) begin
                    i_reg       <= {(IW+1){1'b0}};
                    i_need_reg     <= (NWI > D) ? D : NWI;
                    issue_last_reg <= (NWI >= D);
                    issuing_reg <= 1'b1;
                    state_reg   <= ST_NORM;
                end
            end
            ST_NORM: begin
                if (!issuing_reg) begin
                    state_reg <= ST_WAIT;
                end
            end
            ST_WAIT: begin
                if (y_valid && !b1_valid && !b2_valid && !b3_valid && !b4_valid && !b5_valid && !b6_valid) begin
                    done      <= 1'b1;
                    state_reg <= ST_IDLE;
                end
            end
            default: state_reg <= ST_IDLE;
        endcase
        if (rst) begin
            state_reg   <= ST_IDLE;
            issuing_reg <= 1'b0;
            done        <= 1'b0;
            rsq_start   <= 1'b0;
        end
    end

    wire unused_ok = &{1'b0, gbase_next[31:GAW], gword[31:GAW]};

endmodule

`resetall
