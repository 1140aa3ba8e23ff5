`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_sampler: picks the next token from the int24 logits, numerics.sample:
// greedy (inv_temp = 0): the first index of the largest logit; otherwise the
// top K candidates (hw_topk), e_j = exp2_neg((((l_c0 - l_cj) * logit_m) >>
// logit_sh) * inv_temp >> 8), one xorshift32 step, r = (state * E) >> 32 and
// the first j whose running sum of e exceeds r.
// The logits are read from the core's logit RAM, one word of LANES logits per
// matvec pass (logit r at word r / LANES, field r % LANES), as soon as the
// classifier has written the word (lg_ready): one logit per cycle into hw_topk
// when sampling, G (4, or 2 / 1 below 4 lanes) per cycle when greedy, where a
// running maximum (strictly greater, so the first index wins) replaces top-k.
// A group never spans two words: a word of LANES logits takes ceil(LANES / G)
// cycles, its last group's fields past LANES masked (11 lanes: 4 + 4 + 3), so
// the scan keeps up with a classifier writing a word every D / VPL cycles.
module hw_sampler #(
    parameter V        = 32,                                // vocabulary size
    parameter LANES    = 4,                                 // logits per RAM word
    parameter K_MAX    = 16,                                // top-k capacity
    parameter EXP_FILE = "exp2.hex",                        // hw_exp2 table
    parameter WAW      = 4,                                 // logit RAM address bits
    parameter TW       = 16                                 // token bits
) (
    input  wire               clk,
    input  wire               rst,          // synchronous: abort, back to idle
    // sampler state: load at the start of a run, stepped here
    input  wire               seed_load,
    input  wire [31:0]        seed,
    output wire [31:0]        rng_state,    // RNG_STATE: a later run's seed continues the sequence
    // command
    input  wire               start,
    input  wire [15:0]        inv_temp,     // Q8 inverse temperature, 0 = greedy
    input  wire [31:0]        top_k,        // 1..K_MAX, else K_MAX
    // the model's exponent scale (held in registers loaded from the model ROM, not
    // parameters, so that a respin can change them)
    input  wire [14:0]        logit_m,
    input  wire [5:0]         logit_sh,
    output wire               busy,
    output reg                done,         // one-cycle pulse, token valid from then on
    output reg  [TW-1:0]      token,
    // logit RAM read port (registered in the core: data one cycle after the address);
    // lg_ready = words written so far, so the scan can trail the classifier
    output wire [WAW-1:0]     lg_addr,
    input  wire [WAW:0]       lg_ready,
    input  wire [LANES*24-1:0] lg_data
);

    localparam LNW = (LANES > 1) ? $clog2(LANES) : 1;       // lane field bits
    localparam KW  = $clog2(K_MAX + 1);                     // bits of a count 0..K_MAX
    localparam JW  = (K_MAX > 1) ? $clog2(K_MAX) : 1;       // candidate index bits
    localparam EW  = 16 + KW;                               // E <= K_MAX * 2**15
    localparam integer LANES_I = LANES;
    localparam integer VI      = V;
    localparam integer G       = (LANES >= 4) ? 4 : (LANES >= 2) ? 2 : 1;

    localparam [2:0] ST_IDLE = 3'd0,
                     ST_SCAN = 3'd1,
                     ST_SORT = 3'd2,
                     ST_EXP  = 3'd3,
                     ST_RAND = 3'd4,
                     ST_MUL  = 3'd5,
                     ST_PICK = 3'd6,
                     ST_LOAD = 3'd7;                        // the pick's first candidate and remainder

    reg [2:0]     state_reg;
    reg [15:0]    inv_reg;
    reg [KW-1:0]  k_reg;                // candidates used
    reg [TW:0]    i_reg;                // logit counter (scan)
    reg [WAW-1:0] w_reg;                // its RAM word
    reg [LNW-1:0] lane_reg;             // and lane
    reg           issuing_reg;
    reg [3:0]     wait_reg;

    assign busy    = (state_reg != ST_IDLE);
    assign lg_addr = w_reg;
    wire   scan_go = issuing_reg && (state_reg == ST_SCAN) && ({1'b0, w_reg} < lg_ready);
    // greedy or not, registered at the start (inv_temp == 0): the compare of inv_reg led the scan
    // control, which routed as the critical path (16.9 ns, generator 1.16 at 62.5 MHz)
    reg    greedy_reg;
    wire   greedy  = greedy_reg;

    // ---------------------------------------------------------------- scan: logits -> top-k
    reg            s1_valid;
    reg [LNW-1:0]  s1_lane;
    reg [TW-1:0]   s1_index;
    reg            topk_clear;
    wire [K_MAX*24-1:0] top_values;
    wire [K_MAX*16-1:0] top_indices;
    wire [KW-1:0]  top_count;
    wire [15:0]    s1_index16 = {{(16 > TW ? 16 - TW : 0){1'b0}}, s1_index[((TW < 16) ? TW : 16)-1:0]};

    // greedy scan, three stages so that no path chains more than two 24-bit
    // comparisons (the logit RAM's output straight into four chained compares was
    // the design's critical path): g1 the G logits of this cycle, registered;
    // g2 the group's first maximum; then the running maximum. Elements past the
    // vocabulary never win; strictly greater keeps the first index.
    reg            g1_valid;            // greedy: G logits in lg_data this cycle
    reg            ga_valid;            // their lane fields registered
    reg [G*24-1:0] ga_val;
    reg [G-1:0]    ga_ok;               // index < V and field < LANES
    reg [TW-1:0]   ga_index;            // index of field 0
    reg            gb_valid;            // the group's maximum registered
    reg signed [23:0] gb_val;
    reg            gb_ok;
    reg [TW-1:0]   gb_idx;
    reg signed [23:0] best_reg;         // greedy: largest logit so far
    reg [TW-1:0]   best_idx;            // and its (first) index
    reg signed [23:0] grp_val;
    reg            grp_ok;
    reg [TW-1:0]   grp_idx;
    reg [31:0]     gidx;
    integer gj;

    always @(posedge clk) begin
        s1_valid <= scan_go && !greedy;
        g1_valid <= scan_go && greedy;
        s1_lane  <= lane_reg;
        s1_index <= i_reg[TW-1:0];
        if (rst) begin
            s1_valid <= 1'b0;
            g1_valid <= 1'b0;
        end
    end

    // the group's first maximum: a tree for G = 4 (pairs, then the pair winners),
    // so two comparisons deep; the later element wins only when strictly greater
    function [24+1+TW-1:0] first_max;   // {ok, value, index} of the winner of a, b (a first)
        input        a_ok;
        input [23:0] a_val;
        input [TW-1:0] a_idx;
        input        b_ok;
        input [23:0] b_val;
        input [TW-1:0] b_idx;
        begin
            if (b_ok && (!a_ok || $signed(b_val) > $signed(a_val)))
                first_max = {b_ok, b_val, b_idx};
            else
                first_max = {a_ok, a_val, a_idx};
        end
    endfunction

    // G = 4: the pair winners are registered (stage gc) before the final compare,
    // so each stage has one 24-bit comparison (two chained ones were the next
    // long path at 40+ MHz); G = 2 and 1 register their winner there too, so the
    // scan has the same latency for every G
    localparam WGW = 24 + 1 + TW;       // {ok, value, index}
    wire [2*WGW-1:0] wc_next;           // what stage gc registers
    reg  [2*WGW-1:0] gc_w;
    reg              gc_valid;
    wire [WGW-1:0]   wg;                // {ok, value, index} of the group's winner
    generate
        if (G == 4) begin : g_tree4
            wire [TW-1:0] i1 = ga_index + {{(TW-1){1'b0}}, 1'b1};
            wire [TW-1:0] i2 = ga_index + {{(TW-2){1'b0}}, 2'd2};
            wire [TW-1:0] i3 = ga_index + {{(TW-2){1'b0}}, 2'd3};
            assign wc_next = {first_max(ga_ok[2], ga_val[48 +: 24], i2, ga_ok[3], ga_val[72 +: 24], i3),
                              first_max(ga_ok[0], ga_val[0 +: 24], ga_index, ga_ok[1], ga_val[24 +: 24], i1)};
            assign wg = first_max(gc_w[24+TW], gc_w[TW +: 24], gc_w[TW-1:0],
                                  gc_w[WGW+24+TW], gc_w[WGW+TW +: 24], gc_w[WGW +: TW]);
        end else if (G == 2) begin : g_tree2
            wire [TW-1:0] i1 = ga_index + {{(TW-1){1'b0}}, 1'b1};
            assign wc_next = {{WGW{1'b0}},
                              first_max(ga_ok[0], ga_val[0 +: 24], ga_index, ga_ok[G-1], ga_val[24*(G-1) +: 24], i1)};
            assign wg = gc_w[WGW-1:0];
        end else begin : g_tree1
            assign wc_next = {{WGW{1'b0}}, ga_ok[0], ga_val[0 +: 24], ga_index};
            assign wg = gc_w[WGW-1:0];
        end
    endgenerate
    always @* begin
        grp_ok  = wg[24+TW];
        grp_val = wg[TW +: 24];
        grp_idx = wg[TW-1:0];
    end
    wire unused_gc = &{1'b0, gc_w};     // G < 4 leaves the upper half unused

    reg [G-1:0]    g1_ok;
    always @* begin
        for (gj = 0; gj < G; gj = gj + 1) begin
            gidx      = {{(32-TW){1'b0}}, s1_index} + gj;
            g1_ok[gj] = (gidx < VI) && ({{(32-LNW){1'b0}}, s1_lane} + gj < LANES_I);
        end
    end
    // the word with G empty fields above it: a word's last group may reach past LANES
    wire [24*(LANES+G)-1:0] lg_pad = {{(24*G){1'b0}}, lg_data};

    integer ga;
    always @(posedge clk) begin
        ga_valid <= g1_valid;
        ga_index <= s1_index;
        ga_ok    <= g1_ok;
        for (ga = 0; ga < G; ga = ga + 1) begin
            ga_val[24*ga +: 24] <= lg_pad[24*({{(32-LNW){1'b0}}, s1_lane} + ga) +: 24];
        end
        gc_valid <= ga_valid;
        gc_w     <= wc_next;
        gb_valid <= gc_valid;
        gb_val   <= grp_val;
        gb_ok    <= grp_ok;
        gb_idx   <= grp_idx;
        if (gb_valid && gb_ok && gb_val > best_reg) begin
            best_reg <= gb_val;
            best_idx <= gb_idx;
        end
        if (start && state_reg == ST_IDLE) begin
            best_reg <= 24'sh800000;
            best_idx <= {TW{1'b0}};
        end
        if (rst) begin
            ga_valid <= 1'b0;
            gc_valid <= 1'b0;
            gb_valid <= 1'b0;
        end
    end

    // the lane's logit is registered before the top-k list: the lane multiplexer
    // and the list's comparisons were one long path into its clock enables
    reg               t1_valid;
    reg signed [23:0] t1_value;
    reg [15:0]        t1_index;
    always @(posedge clk) begin
        t1_valid <= s1_valid;
        t1_value <= lg_data[24*s1_lane +: 24];
        t1_index <= s1_index16;
        if (rst) t1_valid <= 1'b0;
    end

    hw_topk #(
        .K_MAX(K_MAX),
        .VW(24),
        .IW(16)
    ) topk (
        .clk(clk),
        .rst(rst),
        .clear(topk_clear),
        .in_valid(t1_valid),
        .in_value(t1_value),
        .in_index(t1_index),
        .out_values(top_values),
        .out_indices(top_indices),
        .count(top_count)
    );

    // ---------------------------------------------------------------- exp of the candidates
    // issue j (c) -> l_j (c+1) -> l0 - lj (c+2) -> * M (c+3) -> >> SH, at most 2**20 (c+4)
    // -> * inv (c+5) -> z (c+6) -> hw_exp2 (c+8); the shift has its own stage, as logit_sh is
    // a register, and so has the difference: a subtraction in front of a two-block product was
    // the sampler's long path. z0 stops at 2**20 because z = z0 * inv >> 8 saturates at 4096
    // for every inv >= 1 from there on (inv = 0 is greedy, which never gets here): the same z
    // from a 21-bit instead of a 40-bit operand.
    reg [JW:0]            j_reg;
    reg                   x1_valid, xd_valid, x2_valid, xs_valid, x3_valid, x4_valid;
    reg [JW-1:0]          x1_j, xd_j, x2_j, xs_j, x3_j, x4_j, x5_j, x6_j;
    reg signed [23:0]     l_j;
    wire signed [23:0]    l_0 = top_values[23:0];
    reg [23:0]            ldiff;                    // 0 <= l0 - lj < 2**24 (unsigned)
    reg [39:0]            zprod;
    wire [39:0]           zshift = zprod >> logit_sh;
    reg [36:0]            ztemp;
    reg [12:0]            z_reg;
    reg [20:0]            z0;                       // min(zprod >> sh, 2**20)
    wire [28:0]           zt = ztemp[36:8];
    wire                  e_valid;
    wire [15:0]           e_val;
    reg [15:0]            e_mem [0:K_MAX-1];
    reg [EW-1:0]          e_sum;

    always @(posedge clk) begin
        x1_valid <= issuing_reg && (state_reg == ST_EXP);
        x1_j     <= j_reg[JW-1:0];
        l_j      <= top_values[24*j_reg[JW-1:0] +: 24];
        xd_valid <= x1_valid;
        xd_j     <= x1_j;
        ldiff    <= l_0 - l_j;
        x2_valid <= xd_valid;
        x2_j     <= xd_j;
        zprod    <= ldiff * logit_m;
        xs_valid <= x2_valid;
        xs_j     <= x2_j;
        z0       <= (|zshift[39:20]) ? 21'h100000 : zshift[20:0];
        x3_valid <= xs_valid;
        x3_j     <= xs_j;
        ztemp    <= z0 * inv_reg;
        x4_valid <= x3_valid;
        x4_j     <= x3_j;
        z_reg    <= (zt >= 29'd4096) ? 13'd4096 : zt[12:0];
        x5_j     <= x4_j;
        x6_j     <= x5_j;
        if (e_valid) begin
            e_mem[x6_j] <= e_val;
            e_sum       <= e_sum + {{(EW-16){1'b0}}, e_val};
        end
        if (start && state_reg == ST_IDLE) begin
            e_sum <= {EW{1'b0}};
        end
        if (rst) begin
            x1_valid <= 1'b0;
            xd_valid <= 1'b0;
            x2_valid <= 1'b0;
            xs_valid <= 1'b0;
            x3_valid <= 1'b0;
            x4_valid <= 1'b0;
        end
    end

    hw_exp2 #(
        .ZW(13),
        .TABLE_FILE(EXP_FILE)
    ) exp2 (
        .clk(clk),
        .rst(rst),
        .in_valid(x4_valid),
        .z(z_reg),
        .out_valid(e_valid),
        .e(e_val)
    );

    // ---------------------------------------------------------------- random draw
    reg         lfsr_step;
    wire [31:0] lfsr_state;
    reg [EW+31:0] r_prod;
    reg [EW-1:0]  mb_reg;               // one-hot: the bit of e_sum added in this ST_MUL cycle
    reg [5:0]     mb_idx;               // its index
    wire [EW-1:0] r_val   = r_prod[EW+31:32];                // (state * E) >> 32 < E
    // The pick walks the candidates until their running sum passes r_val. It keeps what is left,
    // rem = r_val - sum so far, and the candidate's weight read a cycle ahead (e_cur), so that
    // "sum + e > r_val" is the borrow of one subtraction: a LUT-RAM read, an add and a compare in
    // one cycle were a long path.
    reg [EW-1:0]  rem_reg;
    reg [15:0]    e_cur;
    wire [EW:0]   rem_next = {1'b0, rem_reg} - {{(EW-15){1'b0}}, e_cur};
    wire [JW:0]   j_next   = j_reg + 1'b1;

    hw_xorshift32 lfsr (
        .clk(clk),
        .rst(rst),
        .load(seed_load),
        .seed(seed),
        .step(lfsr_step),
        .state(lfsr_state)
    );
    assign rng_state = lfsr_state;

    // ---------------------------------------------------------------- control
    // The scan's steps are counted, not compared (the lane wrap and the scan's end by adds and compares
    // in front of the state routed as the critical path, 16.9 ns, generator 1.16 at 62.5 MHz). A word
    // takes ceil(LANES / step) steps (its last group takes the logits left in it: fewer than G when G
    // does not divide LANES), and the V logits V / LANES whole words and ceil((V % LANES) / step)
    // steps of the last one: both per mode (greedy: G logits a step; sampling: 1) from the parameters.
    localparam integer WSTEPS_G = (LANES + G - 1) / G;
    localparam integer NSTEPS_G = (V / LANES) * WSTEPS_G + ((V % LANES) + G - 1) / G;
    localparam integer NSTEPS_1 = V;
    localparam integer SNW = $clog2(V + 1);                 // bits of a step count 1..V
    localparam integer SWW = $clog2(LANES + 1);             // bits of a step within a word
    localparam integer SCW = TW + 2;                        // bits of a logit count plus a step
    localparam [31:0]  G32 = G, LANES32 = LANES, NSG32 = NSTEPS_G, NS132 = NSTEPS_1,
                       WSG32 = WSTEPS_G - 1, WS132 = LANES - 1;
    localparam [LNW:0] STEP_G = G32[LNW:0], STEP_1 = 1, LANES_N = LANES32[LNW:0];
    reg  [SNW-1:0] scan_left;                               // scan steps left, the next one included
    reg  [SWW-1:0] wstep_reg, wlast_reg;                    // step within the word, a word's last step
    wire [LNW:0]   step      = greedy ? STEP_G : STEP_1;    // logits per scan cycle
    wire [LNW:0]   lane_step = {1'b0, lane_reg} + step;
    wire           lane_wrap = (wstep_reg == wlast_reg);
    wire [LNW:0]   lane_left = LANES_N - {1'b0, lane_reg};
    wire [LNW:0]   i_add     = lane_wrap ? lane_left : step;
    wire [SCW-1:0] i_step    = {1'b0, i_reg} + {{(SCW-LNW-1){1'b0}}, i_add};
    wire           scan_last = (scan_left == {{(SNW-1){1'b0}}, 1'b1});
    wire           start_greedy = (inv_temp == 16'd0);     // the run about to start samples greedily
    wire [KW-1:0] k_req  = (top_k >= 1 && top_k <= K_MAX) ? top_k[KW-1:0] : K_MAX[KW-1:0];

    always @(posedge clk) begin
        done       <= 1'b0;
        topk_clear <= 1'b0;
        lfsr_step  <= 1'b0;
        case (state_reg)
            ST_IDLE: begin
                if (start) begin
                    inv_reg     <= inv_temp;
                    greedy_reg  <= start_greedy;
                    scan_left   <= start_greedy ? NSG32[SNW-1:0] : NS132[SNW-1:0];
                    wlast_reg   <= start_greedy ? WSG32[SWW-1:0] : WS132[SWW-1:0];
                    wstep_reg   <= {SWW{1'b0}};
                    k_reg       <= k_req;
                    i_reg       <= {(TW+1){1'b0}};
                    w_reg       <= {WAW{1'b0}};
                    lane_reg    <= {LNW{1'b0}};
                    issuing_reg <= 1'b1;
                    topk_clear  <= 1'b1;
                    state_reg   <= ST_SCAN;
                end
            end
            ST_SCAN: begin
                // logit i_reg is RAM word w_reg, lane lane_reg
                if (scan_go) begin
                    i_reg     <= i_step[TW:0];
                    scan_left <= scan_left - 1'b1;
                    if (lane_wrap) begin
                        lane_reg  <= {LNW{1'b0}};
                        wstep_reg <= {SWW{1'b0}};
                        w_reg     <= w_reg + 1'b1;
                    end else begin
                        lane_reg  <= lane_step[LNW-1:0];
                        wstep_reg <= wstep_reg + 1'b1;
                    end
                    if (scan_last) begin
                        issuing_reg <= 1'b0;
                        wait_reg    <= 4'd5;     // g1 -> ga -> gc -> gb -> best (greedy); s1 -> t1 -> top-k
                        state_reg   <= ST_SORT;
                    end
                end
            end
            ST_SORT: begin
                // wait for the last logit to enter the top-k list
                if (wait_reg != 4'd0) begin
                    wait_reg <= wait_reg - 1'b1;
                end else if (greedy) begin
                    token     <= best_idx;
                    done      <= 1'b1;
                    state_reg <= ST_IDLE;
                end else begin
                    if (top_count < k_reg) begin
                        k_reg <= top_count;
                    end
                    j_reg       <= {(JW+1){1'b0}};
                    issuing_reg <= 1'b1;
                    state_reg   <= ST_EXP;
                end
            end
            ST_EXP: begin
                if (issuing_reg) begin
                    j_reg <= j_reg + 1'b1;
                    if ({{(31-JW){1'b0}}, j_reg} + 1 >= {{(32-KW){1'b0}}, k_reg}) begin
                        issuing_reg <= 1'b0;
                        wait_reg    <= 4'd9;
                    end
                end else if (wait_reg != 4'd0) begin
                    wait_reg <= wait_reg - 1'b1;
                end else begin
                    lfsr_step <= 1'b1;
                    state_reg <= ST_RAND;
                end
            end
            ST_RAND: begin
                // lfsr_state is stepped at this edge
                r_prod    <= {(EW+32){1'b0}};
                mb_reg    <= {{(EW-1){1'b0}}, 1'b1};
                mb_idx    <= 6'd0;
                state_reg <= ST_MUL;
            end
            ST_MUL: begin
                // r_prod = lfsr_state * e_sum by shift-and-add, one bit of e_sum per
                // cycle (EW cycles per sampled token: no block multiplier for it)
                if (|(e_sum & mb_reg)) begin
                    r_prod <= r_prod + ({{EW{1'b0}}, lfsr_state} << mb_idx);
                end
                mb_reg <= mb_reg << 1;
                mb_idx <= mb_idx + 1'b1;
                if (mb_reg[EW-1]) begin
                    j_reg     <= {(JW+1){1'b0}};
                    state_reg <= ST_LOAD;
                end
            end
            ST_LOAD: begin
                rem_reg   <= r_val;
                e_cur     <= e_mem[j_reg[JW-1:0]];
                state_reg <= ST_PICK;
            end
            ST_PICK: begin
                rem_reg <= rem_next[EW-1:0];
                e_cur   <= e_mem[j_next[JW-1:0]];
                j_reg   <= j_next;
                if (rem_next[EW] || {{(31-JW){1'b0}}, j_reg} + 1 >= {{(32-KW){1'b0}}, k_reg}) begin
                    token     <= top_indices[16*j_reg[JW-1:0] +: TW];
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
            lfsr_step   <= 1'b0;
        end
    end

    wire unused_ok = &{1'b0, ztemp[7:0], r_prod[31:0], i_step, lane_step};

endmodule

`resetall
