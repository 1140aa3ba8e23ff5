`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_attention: one attention head over positions 0..npos-1, exactly
// numerics.attention_head:
//   s_t = (q . k_t) >>> 2*(QW-8)        (a full head_dim dot product per cycle; QW = 16: int16
//                                        q and k, the score in the units of int8 ones)
//   z_t = ((max_s - s_t) * m_att) >> sh_att;  e_t = exp2_neg(z_t)  (Q15)
//   E = sum e_t;  recip = floor(2**40 / E);  o_i = sum_t e_t * v_t,i
//   w_i = (o_i * recip + 2**15) >> 16;  out_i = sat8(rq(w_i, m_out, sh_out))
// The front is two stages, each holding one head: the score stage streams the
// keys (scores to one of two score buffers, running max), the value stage then
// streams the values (exp2 and the HD weighted sums) while the score stage
// takes the next head (keys and values are separate RAMs, so both read every
// cycle); the value stage hands E and the sums to the back.
// The score stage hands a head whose keys are all issued to a scored slot and
// takes the next head (`ready`) while the first one's scores drain; the value
// stage takes the slot's head once its scores are final. The back is two stages,
// one head each: the divider (2 quotient bits per cycle, 13 cycles) and the HD
// outputs (one per cycle). Each stage takes the next head as soon as it is free,
// so, once the stages overlap, a head costs max(positions + a few, divider, HD)
// cycles.
// Each output carries the `tag` given with its start.
// The KV cache read port (hw_kv_cache, 1 cycle latency) is driven from here.
// Both stages take P positions per cycle (a row of P cache words): P dot products,
// P exp2 lookups and P weighted values per element each cycle, so a pass over
// the positions costs ceil(npos / P) cycles. Positions past npos in the last row
// are masked: they take no part in the maximum and their exponent is forced to
// the table's zero (z = 4096). Integer sums do not depend on their order, so
// every P gives exactly numerics.attention_head.
module hw_attention #(
    parameter HD       = 8,                                 // head dimension
    parameter CTX      = 16,                                // positions (score RAM depth)
    parameter KV_AW    = 8,                                 // KV cache row address bits
    parameter P        = 1,                                 // positions per cycle (a power of two dividing CTX)
    parameter EXP_FILE = "exp2.hex",                        // hw_exp2 table
    parameter PW       = $clog2(CTX + 1),                   // bits of a position count 0..CTX
    parameter IW       = (HD > 1) ? $clog2(HD) : 1,         // bits of an element index
    parameter TAGW     = 8,                                 // bits of the tag of a head
    parameter MUL_LUT  = 0,                                 // 1: q . k from LUT adders (bit planes of k), no DSP
    parameter QW       = 8                                  // bits of a q / k element: 8, or 16
) (
    input  wire              clk,
    input  wire              rst,           // synchronous: abort, back to idle
    // command (sampled on start)
    input  wire              start,
    input  wire [HD*QW-1:0]  q,             // q_i at [QW*i +: QW]
    input  wire [KV_AW-1:0]  base,          // KV row of position 0 of this (layer, kv head)
    input  wire [PW-1:0]     npos,          // positions 0..npos-1, 1 <= npos <= CTX
    input  wire [14:0]       m_att,
    input  wire [5:0]        sh_att,
    input  wire [14:0]       m_out,
    input  wire [5:0]        sh_out,
    input  wire [TAGW-1:0]   tag,           // returned with this head's outputs
    output wire              ready,         // a start is accepted now (the front is idle)
    output wire              busy,          // a head is in the front or the back
    output reg               done,          // one-cycle pulse after a head's last output
    // KV cache read ports: keys for the score stage, values for the value stage
    output wire              kv_k_en,
    output wire [KV_AW-1:0]  kv_k_addr,
    output wire              kv_v_en,
    output wire [KV_AW-1:0]  kv_v_addr,
    input  wire [P*HD*QW-1:0] kv_k,         // registered cache rows (1 cycle after the enable), position p
    input  wire [P*HD*8-1:0] kv_v,          //   of the row at [p*HD*QW +: HD*QW] (values [p*HD*8 +: HD*8])
    // kv_k and kv_v as registered here, a cycle later (the debug window's KV reads while idle)
    output wire [P*HD*QW-1:0] kv_k_q,
    output wire [P*HD*8-1:0] kv_v_q,
    // outputs, one element per cycle
    output wire              out_valid,
    output wire [IW-1:0]     out_idx,
    output wire [TAGW-1:0]   out_tag,
    output wire signed [7:0] out_data
);

    localparam LP  = (P > 1) ? $clog2(P) : 0;               // bits of a position within a row
    localparam ROWS = CTX / P;                              // rows of P positions
    localparam TW  = (ROWS > 1) ? $clog2(ROWS) : 1;         // score RAM address bits (rows)
    // |q.k| <= HD * 2**14 in int8 units, the top only from q = k = -128 throughout: stored
    // less 1 (every use is a difference: max - s), the scores fit a bit fewer, and a score row
    // of P = 1 or 2 fits one 18 / 36-bit wide block RAM (two fewer an engine at 512 positions)
    localparam SCW = 15 + $clog2(HD);
    localparam DW  = 2 * QW + $clog2(HD);                   // the full dot product
    localparam QSH = 2 * (QW - 8);                          // numerics.score_shift
    localparam DPW = SCW + 15;                              // (max - s) * m_att
    localparam ZW  = 13;                                    // z clamped to 4096 (= 2**-16 -> 0)
    localparam OW  = 24 + $clog2(CTX);                      // o_i: CTX terms of |e*v| <= 2**22
    localparam EW  = 17 + $clog2(CTX);                      // E <= CTX * 2**15
    localparam RW  = 26;                                    // recip <= 2**40 / 2**15
    localparam MPW = OW + RW + 1;                           // o * recip
    localparam WW  = 34;                                    // |w| <= 2**31 (|o| <= 128 E)
    localparam CW  = (PW > IW + 1) ? PW : IW + 1;           // issue counter bits
    localparam PRW = 25;                                    // e * v: 17 x 8 bits signed
    localparam RSW = PRW + LP;                              // a row's sum of P products
    localparam ESW = 16 + LP;                               // a row's sum of P exponents

    // ---------------------------------------------------------------- front: score and value stages
    // score stage (S): a head from start until its last key is issued; then the scored
    // slot (T) holds it until its scores are final and the value stage takes it
    reg              s_issuing;
    reg [CW-1:0]     s_t;               // position issued
    reg              s_buf;             // score buffer this head writes (the heads alternate)
    reg [HD*QW-1:0]  q_reg;
    reg [KV_AW-1:0]  s_base;
    reg [PW-1:0]     s_npos;
    reg [14:0]       s_m_att, s_m_out;
    reg [5:0]        s_sh_att, s_sh_out;
    reg [TAGW-1:0]   s_tag;
    reg              t_full;            // T holds a head
    reg              t_done;            // its last score is written: it may go to V
    reg              t_buf;
    reg [KV_AW-1:0]  t_base;
    reg [PW-1:0]     t_npos;
    reg [14:0]       t_m_att, t_m_out;
    reg [5:0]        t_sh_att, t_sh_out;
    reg [TAGW-1:0]   t_tag;
    reg signed [SCW-1:0] t_max;
    // value stage (V): a head while its values are issued
    reg              v_issuing;
    reg [CW-1:0]     v_t;
    reg              v_buf;
    reg [KV_AW-1:0]  v_base;
    reg [PW-1:0]     v_npos;
    reg [14:0]       v_m_att, v_m_out;
    reg [5:0]        v_sh_att, v_sh_out;
    reg [TAGW-1:0]   v_tag;
    reg [TAGW-1:0]   tag_back;
    reg [CW-1:0]     u_reg;             // back issue counter (elements)
    reg              out_issuing;

    // a new head's q replaces q_reg once the last one's last row has left p1 (the
    // dot product reads q_reg in p2)
    assign ready = !s_issuing && !p1_valid;
    wire   back_busy;
    assign busy  = s_issuing || t_full || v_issuing || acc_pending || back_busy;

    // the last row holds position npos - 1
    wire [31:0] s_end = ({{(32-CW){1'b0}}, s_t} + 32'd1) << LP;
    wire [31:0] v_end = ({{(32-CW){1'b0}}, v_t} + 32'd1) << LP;
    wire s_last = (s_end >= {{(32-PW){1'b0}}, s_npos});
    wire v_last = (v_end >= {{(32-PW){1'b0}}, v_npos});
    wire s_go   = start && ready;
    // the last key of a head is issued when T is free (or freed now): the head moves to T
    wire s_adv  = s_issuing && (!s_last || !t_full || v_take);

    // KV_AW >= TW: the cache holds at least CTX / P rows
    assign kv_k_en   = s_adv;
    assign kv_k_addr = s_base + {{(KV_AW-TW){1'b0}}, s_t[TW-1:0]};
    assign kv_v_en   = v_issuing;
    assign kv_v_addr = v_base + {{(KV_AW-TW){1'b0}}, v_t[TW-1:0]};

    // ---------------------------------------------------------------- score RAM: two buffers
    // S writes buffer s_buf while V reads the other (the last head's); address {buffer, position}
    wire [P*SCW-1:0]     score_q;                       // position p's score at [p*SCW +: SCW]
    reg                  sc_we;
    reg [TW:0]           sc_waddr;
    reg [P*SCW-1:0]      sc_wdata;
    wire [TW:0]          sc_raddr = {v_buf, v_t[TW-1:0]};

    hw_ram_sdp #(
        .WIDTH(P*SCW),
        .DEPTH(2 << TW),                                // a buffer per 2**TW rows (CTX / P rounded up)
        .AW(TW + 1)
    ) score_mem (
        .clk(clk),
        .wr_en(sc_we),
        .wr_addr(sc_waddr),
        .wr_data(sc_wdata),
        .rd_en(v_issuing),
        .rd_addr(sc_raddr),
        .rd_data(score_q)
    );

    // ---------------------------------------------------------------- phase 1: scores
    // issue (c) -> cache register (c+1) -> k register (c+2) -> partial sums (c+3)
    // -> dot products (c+4) -> RAM, the row's maximum (c+5) -> the running maximum
    reg              p1_valid, p2_valid, p3_valid, p4_valid, p5_valid;
    reg [TW-1:0]     p1_t, p2_t, p3_t, p4_t;
    // each row's head: its first row (the running maximum restarts), its last row (the
    // maximum is final: to T), its score buffer
    reg              p1_f, p2_f, p3_f, p4_f, p5_f;
    reg              p1_l, p2_l, p3_l, p4_l, p5_l;
    reg              p1_b, p2_b, p3_b, p4_b;
    reg [P*HD*QW-1:0] k_reg;
    reg [P*SCW-1:0]  s_reg;
    reg signed [SCW-1:0] max_reg;
    reg signed [SCW-1:0] row_max;
    wire [P*DW-1:0]  dot;                           // full dot products
    wire [P*SCW-1:0] score_next;                    // >>> QSH, in SCW bits

    // The dot product takes two stages (a head_dim-wide sum in one cycle was the
    // longest path of the core): NP partial sums are registered, then added.
    // MUL_LUT = 1: the parts are the QW bit planes of k, each a balanced adder tree
    //   q . k = sum_b (+-2**b) * sum_{i: bit b of k_i} q_i (bit QW-1 weighs -2**(QW-1)),
    // masked adds only (as hw_mac_lane's bit planes), no multiplier.
    // MUL_LUT = 0: the parts are the HD products (one multiplier each).
    localparam NP  = (MUL_LUT != 0) ? QW : HD;      // partial sums per position
    wire [P*NP*DW-1:0] parts_next;
    reg  [P*NP*DW-1:0] parts;

    genvar gp, gb, gi;
    generate
        for (gp = 0; gp < P; gp = gp + 1) begin : g_pos
            wire [HD*QW-1:0] k_p = k_reg[gp*HD*QW +: HD*QW];
            if (MUL_LUT != 0) begin : g_dot_planes
                localparam PLW = QW + 1 + $clog2(HD);
                wire [QW*PLW-1:0] planes;           // plane gb: the sum of q_i where bit gb of k_i is set
                hw_plane_sums #(.N(HD), .WB(QW), .XW(QW), .PLW(PLW)) plane_sums (.x(q_reg), .w(k_p), .planes(planes));
                for (gb = 0; gb < QW; gb = gb + 1) begin : g_plane
                    wire signed [PLW-1:0] plane = planes[gb*PLW +: PLW];
                    wire signed [DW-1:0] pl_ext = {{(DW-PLW){plane[PLW-1]}}, plane};
                    assign parts_next[(gp*NP + gb)*DW +: DW] = (gb == QW - 1) ? -(pl_ext <<< gb) : (pl_ext <<< gb);
                end
            end else begin : g_dot_mults
                for (gi = 0; gi < HD; gi = gi + 1) begin : g_prod
                    wire signed [2*QW-1:0] prod = $signed(q_reg[QW*gi +: QW]) * $signed(k_p[QW*gi +: QW]);
                    assign parts_next[(gp*NP + gi)*DW +: DW] = {{(DW-2*QW){prod[2*QW-1]}}, prod};
                end
            end
            hw_add_tree #(.N(NP), .W(DW)) dot_tree (.leaves(parts[gp*NP*DW +: NP*DW]),
                                                   .sum(dot[gp*DW +: DW]));
            // floor shift to the int8 units, less 1 (-HD * 2**14 < (q.k >> QSH) - 1 < HD * 2**14 fits SCW)
            wire signed [DW-1:0] dot_p = dot[gp*DW +: DW];
            wire signed [DW-1:0] dot_sh = (dot_p >>> QSH) - 1;
            assign score_next[gp*SCW +: SCW] = dot_sh[SCW-1:0];
            if (DW > SCW) begin : g_high            // copies of the sign after the shift
                wire unused_sh = &{1'b0, dot_sh[DW-1:SCW]};
            end
        end
    endgenerate

    always @(posedge clk) begin
        parts <= parts_next;
    end

    // the largest score of the row among positions below npos (the rest: the smallest value);
    // s_npos may already be the next head's: every head of a round of starts (a layer of a
    // token) has the same position count
    reg signed [SCW-1:0] row_max_next;
    reg signed [SCW-1:0] sc_p;
    reg [31:0]           pos4;
    integer im;
    always @* begin
        row_max_next = {1'b1, {(SCW-1){1'b0}}};
        for (im = 0; im < P; im = im + 1) begin
            pos4 = ({{(32-TW){1'b0}}, p4_t} << LP) + im;
            sc_p = s_reg[im*SCW +: SCW];
            if (pos4 < {{(32-PW){1'b0}}, s_npos} && sc_p > row_max_next) begin
                row_max_next = sc_p;
            end
        end
    end

    // the head's maximum with this row (p5)
    wire signed [SCW-1:0] max_next = (p5_f || row_max > max_reg) ? row_max : max_reg;

    always @(posedge clk) begin
        p1_valid <= s_adv;
        p1_t     <= s_t[TW-1:0];
        p1_f     <= (s_t == {CW{1'b0}});
        p1_l     <= s_last;
        p1_b     <= s_buf;
        p2_f     <= p1_f;
        p2_l     <= p1_l;
        p2_b     <= p1_b;
        p3_f     <= p2_f;
        p3_l     <= p2_l;
        p3_b     <= p2_b;
        p4_f     <= p3_f;
        p4_l     <= p3_l;
        p4_b     <= p3_b;
        p5_f     <= p4_f;
        p5_l     <= p4_l;
        p2_valid <= p1_valid;
        p2_t     <= p1_t;
        k_reg    <= kv_k;
        p3_valid <= p2_valid;
        p3_t     <= p2_t;
        p4_valid <= p3_valid;
        p4_t     <= p3_t;
        s_reg    <= score_next;
        sc_we    <= p4_valid;
        sc_waddr <= {p4_b, p4_t};
        sc_wdata <= s_reg;
        p5_valid <= p4_valid;
        row_max  <= row_max_next;
        if (p5_valid) begin
            max_reg <= max_next;
        end
        if (rst) begin
            p1_valid <= 1'b0;
            p2_valid <= 1'b0;
            p3_valid <= 1'b0;
            p4_valid <= 1'b0;
            p5_valid <= 1'b0;
            sc_we    <= 1'b0;
        end
    end

    // ---------------------------------------------------------------- phase 2: exp2, sums
    // issue (c) -> v, score (c+1) -> max - s (c+2) -> * m (c+3) -> z (c+4) -> hw_exp2 (c+6)
    // -> e * v (c+7) -> the row's sums (c+8) -> accumulated (c+9); P positions each. The
    // score RAM's output, subtraction, multiplier and its adders in one cycle were a routed path
    // of 25 ns (16x8 + LoRA bitstream of generator 1.4): max - s has a register of its own.
    reg               e1_valid, ed_valid, e2_valid, e3_valid;   // then hw_exp2 (2 cycles)
    reg [TW-1:0]      e1_t, ed_t, e2_t;             // row (positions past npos are masked at z)
    reg [P*HD*8-1:0]  vd, v2, v3, v4, v5;
    assign kv_k_q = k_reg;
    assign kv_v_q = vd;
    reg [P*SCW-1:0]   diff_d;                       // max - s, registered
    reg [P*DPW-1:0]   prod2;
    reg [P*ZW-1:0]    z3;
    reg signed [SCW-1:0] v_max;                     // the value stage head's maximum score
    wire [P*ZW-1:0]   z_next;
    wire              e_valid;
    wire [P*16-1:0]   e_val;

    generate
        for (gp = 0; gp < P; gp = gp + 1) begin : g_exp
            // 0 <= max - s < 2**SCW (unsigned) for the positions below npos
            wire [SCW-1:0] diff1 = v_max - score_q[gp*SCW +: SCW];
            always @(posedge clk) begin
                diff_d[gp*SCW +: SCW] <= diff1;
            end
            wire [DPW-1:0] zfull = prod2[gp*DPW +: DPW] >> v_sh_att;
            wire [31:0]    pos2  = ({{(32-TW){1'b0}}, e2_t} << LP) + gp;
            wire           live  = pos2 < {{(32-PW){1'b0}}, v_npos};
            assign z_next[gp*ZW +: ZW] = (!live || zfull >= 4096) ? 13'd4096 : zfull[ZW-1:0];

            always @(posedge clk) begin
                prod2[gp*DPW +: DPW] <= diff_d[gp*SCW +: SCW] * v_m_att;
            end
        end
    endgenerate

    // the P positions' exponents from one table (two per block RAM: its two read ports)
    hw_exp2 #(
        .ZW(ZW),
        .TABLE_FILE(EXP_FILE),
        .N(P)
    ) exp2 (
        .clk(clk),
        .rst(rst),
        .in_valid(e3_valid),
        .z(z3),
        .out_valid(e_valid),
        .e(e_val)
    );

    always @(posedge clk) begin
        e1_valid <= v_issuing;
        e1_t     <= v_t[TW-1:0];
        ed_valid <= e1_valid;
        ed_t     <= e1_t;
        vd       <= kv_v;
        e2_valid <= ed_valid;
        e2_t     <= ed_t;
        v2       <= vd;
        e3_valid <= e2_valid;
        v3       <= v2;
        z3       <= z_next;
        v4       <= v3;
        v5       <= v4;
        if (rst) begin
            e1_valid <= 1'b0;
            ed_valid <= 1'b0;
            e2_valid <= 1'b0;
            e3_valid <= 1'b0;
        end
    end

    // e * v for each position and element (registered), then each element's sum over the row
    reg                  a_valid, b_valid;
    reg [P*HD*PRW-1:0]   prod_a;
    reg [ESW-1:0]        es_a, es_b;
    reg [HD*RSW-1:0]     row_b;
    reg [ESW-1:0]        es_next;
    reg [HD*RSW-1:0]     row_next;
    reg signed [RSW-1:0] rs;
    integer ip, ie;

    always @* begin
        es_next  = {ESW{1'b0}};
        for (ip = 0; ip < P; ip = ip + 1) begin
            es_next = es_next + {{(ESW-16){1'b0}}, e_val[ip*16 +: 16]};
        end
        for (ie = 0; ie < HD; ie = ie + 1) begin
            rs = {RSW{1'b0}};
            for (ip = 0; ip < P; ip = ip + 1) begin
                rs = rs + {{(RSW-PRW){prod_a[(ip*HD + ie)*PRW + PRW - 1]}}, prod_a[(ip*HD + ie)*PRW +: PRW]};
            end
            row_next[ie*RSW +: RSW] = rs;
        end
    end

    generate
        for (gp = 0; gp < P; gp = gp + 1) begin : g_ev
            for (gi = 0; gi < HD; gi = gi + 1) begin : g_el
                always @(posedge clk) begin
                    prod_a[(gp*HD + gi)*PRW +: PRW] <= $signed({1'b0, e_val[gp*16 +: 16]})
                                                       * $signed(v5[(gp*HD + gi)*8 +: 8]);
                end
            end
        end
    endgenerate

    always @(posedge clk) begin
        a_valid <= e_valid;
        es_a    <= es_next;
        b_valid <= a_valid;
        es_b    <= es_a;
        row_b   <= row_next;
        if (rst) begin
            a_valid <= 1'b0;
            b_valid <= 1'b0;
        end
    end

    // The value stage takes T's head (v_take) once its scores are final (t_done: the last
    // score RAM write lands before the first read) and the last head's values are issued.
    // Each row carries its head's first and last flags down the value pipeline: the
    // first row of a head loads the sums, the last one completes them (acc_done), and
    // the sums are handed to the divider (hand) when it is free. The next head may be
    // taken while the last one's rows still drain when the hand-over is sure to come
    // first: the divider is free (only that head can fill it) and the new head has at
    // least V_EARLY_ROWS rows (its first row reaches the sums 8 cycles after its issue,
    // after the hand-over; its last issue, which records its tag, after it too).
    // Otherwise it waits for the hand-over (acc_pending).
    localparam integer V_EARLY_ROWS = 9;
    localparam integer V_EARLY_NPOS = (V_EARLY_ROWS - 1) * P;       // npos above this: enough rows
    reg                 acc_pending;        // a head whose values are issued is not yet handed over
    reg                 acc_done;           // its sums are complete
    reg [TAGW-1:0]      tag_acc;
    reg [14:0]          m_out_acc;
    reg [5:0]           sh_out_acc;
    reg                 div_full;           // a head is in the division stage
    reg                 e1_f, ed_f, e2_f, e3_f, e4_f, e5_f, a_f, b_f;   // the row is its head's first
    reg                 e1_l, ed_l, e2_l, e3_l, e4_l, e5_l, a_l, b_l;   // the row is its head's last
    wire                hand = acc_pending && acc_done && !div_full;
    wire                t_rows_ok = ({{(32-PW){1'b0}}, t_npos} > V_EARLY_NPOS);
    wire                v_take = t_full && t_done && !v_issuing && (!acc_pending || (!div_full && t_rows_ok));

    always @(posedge clk) begin
        e1_f <= (v_t == {CW{1'b0}});
        e1_l <= v_last;
        ed_f <= e1_f;
        ed_l <= e1_l;
        e2_f <= ed_f;
        e2_l <= ed_l;
        e3_f <= e2_f;
        e3_l <= e2_l;
        e4_f <= e3_f;
        e4_l <= e3_l;
        e5_f <= e4_f;                   // with e_valid (hw_exp2: 2 cycles after e3)
        e5_l <= e4_l;
        a_f  <= e5_f;
        a_l  <= e5_l;
        b_f  <= a_f;
        b_l  <= a_l;
    end

    reg signed [OW-1:0] o_acc [0:HD-1];
    reg [EW-1:0]        e_sum;
    integer ia;                         // loop index of this block only

    always @(posedge clk) begin
        if (b_valid) begin
            for (ia = 0; ia < HD; ia = ia + 1) begin
                o_acc[ia] <= (b_f ? {OW{1'b0}} : o_acc[ia]) + {{(OW-RSW){row_b[ia*RSW + RSW - 1]}}, row_b[ia*RSW +: RSW]};
            end
            e_sum <= (b_f ? {EW{1'b0}} : e_sum) + {{(EW-ESW){1'b0}}, es_b};
        end
    end


    // ---------------------------------------------------------------- hand-over to the back
    // The back is two stages, each holding one head: the division (o_div; the divider holds E)
    // and the outputs (o_hold, recip_reg). A head moves on as soon as the next
    // stage is free, so up to three heads are in flight (front, divide, output).
    reg signed [OW-1:0] o_div [0:HD-1];
    reg [14:0]          m_out_div;
    reg [5:0]           sh_out_div;
    reg [TAGW-1:0]      tag_div;
    reg                 div_ready;          // the division stage's quotient is ready
    reg signed [OW-1:0] o_hold [0:HD-1];
    reg [14:0]          m_out_back;
    reg [5:0]           sh_out_back;
    // the output stage takes a new head in the cycle of the last issue of the current one
    wire                out_last_issue = out_issuing && ({{(32-CW){1'b0}}, u_reg} + 1 >= HD);
    // (the quotient is ready from div_done on: the head moves in that cycle when it can)
    wire                move = (div_ready || div_done) && (!out_issuing || out_last_issue);
    integer ih;

    always @(posedge clk) begin
        if (hand) begin
            for (ih = 0; ih < HD; ih = ih + 1) begin
                o_div[ih] <= o_acc[ih];
            end
            m_out_div  <= m_out_acc;
            sh_out_div <= sh_out_acc;
            tag_div    <= tag_acc;
        end
        if (move) begin
            for (ih = 0; ih < HD; ih = ih + 1) begin
                o_hold[ih] <= o_div[ih];
            end
            m_out_back  <= m_out_div;
            sh_out_back <= sh_out_div;
            tag_back    <= tag_div;
        end
    end

    // ---------------------------------------------------------------- division
    // E >= EXP2[0] = 2**15 (the largest score gives e = 2**15), so floor(2**40 / E)
    // < 2**26: the divider skips the 15 leading quotient bits and makes 2 per cycle.
    // It starts with the hand-over, from the sum being handed over (the divider is
    // idle then: the stage's last head has moved on).
    wire        div_busy;
    wire        div_done;
    wire [40:0] div_q;
    reg [RW-1:0] recip_reg;

    hw_recip_div #(
        .EW(EW),
        .STEP(2),
        .SKIP(15)
    ) recip_div (
        .clk(clk),
        .rst(rst),
        .start(hand),
        .e(e_sum),
        .busy(div_busy),
        .done(div_done),
        .q(div_q)
    );

    // ---------------------------------------------------------------- phase 4: outputs
    // issue i (c) -> o_i (c+1) -> o_i * recip in two halves (c+2) -> their sum (c+3) -> w (c+4)
    // -> hw_rq (c+7); the head's recip, tag and requant constants travel with each element.
    // o * recip (32 x 26 bits, four multiplier blocks) in one cycle, the blocks' partial
    // products added in carry chains behind them, was a long path: the low 17 bits of o and
    // the rest each make a product of their own, added a cycle later (generator 1.6.1).
    localparam OLO = 17;                                // bits of o in the low half (unsigned)
    reg               ov1, ov2, ov2b, ov3;
    reg [IW-1:0]      oi1, oi2, oi2b, oi3, oi4, oi5, oi6;
    reg [TAGW-1:0]    tg1, tg2, tg2b, tg3, tg4, tg5, tg6;
    reg [RW-1:0]      recip1;
    reg [14:0]        m1, m2, m2b, m3;
    reg [5:0]         sh1, sh2, sh2b, sh3;
    reg signed [OW-1:0]  o_sel;
    reg signed [OLO+RW+1:0]  oprod_lo;                  // o[16:0] * recip, >= 0
    reg signed [OW-OLO+RW:0] oprod_hi;                  // o[OW-1:17] * recip
    reg signed [MPW-1:0] oprod;
    reg signed [WW-1:0]  w3;
    wire signed [MPW-1:0] oround = oprod + {{(MPW-16){1'b0}}, 16'h8000};
    wire signed [MPW-1:0] wfull  = oround >>> 16;

    always @(posedge clk) begin
        ov1      <= out_issuing;
        oi1      <= u_reg[IW-1:0];
        tg1      <= tag_back;
        recip1   <= recip_reg;
        m1       <= m_out_back;
        sh1      <= sh_out_back;
        o_sel    <= o_hold[u_reg[IW-1:0]];
        ov2      <= ov1;
        oi2      <= oi1;
        tg2      <= tg1;
        m2       <= m1;
        sh2      <= sh1;
        oprod_lo <= $signed({1'b0, o_sel[OLO-1:0]}) * $signed({1'b0, recip1});
        oprod_hi <= $signed(o_sel[OW-1:OLO]) * $signed({1'b0, recip1});
        ov2b     <= ov2;
        oi2b     <= oi2;
        tg2b     <= tg2;
        m2b      <= m2;
        sh2b     <= sh2;
        oprod    <= $signed({oprod_hi, {OLO{1'b0}}})
                    + $signed({{(MPW-OLO-RW-2){1'b0}}, oprod_lo});
        ov3      <= ov2b;
        oi3      <= oi2b;
        tg3      <= tg2b;
        m3       <= m2b;
        sh3      <= sh2b;
        w3       <= wfull[WW-1:0];
        oi4      <= oi3;
        oi5      <= oi4;
        oi6      <= oi5;
        tg4      <= tg3;
        tg5      <= tg4;
        tg6      <= tg5;
        if (rst) begin
            ov1  <= 1'b0;
            ov2  <= 1'b0;
            ov2b <= 1'b0;
            ov3  <= 1'b0;
        end
    end

    wire rq_valid;

    hw_rq #(
        .XW(WW),
        .OW(8)
    ) out_rq (
        .clk(clk),
        .rst(rst),
        .in_valid(ov3),
        .x(w3),
        .m(m3),
        .sh(sh3),
        .out_valid(rq_valid),
        .y(out_data)
    );

    assign out_valid = rq_valid;
    assign out_idx   = oi6;
    assign out_tag   = tg6;

    // ---------------------------------------------------------------- control
    localparam integer LAST_I = HD - 1;
    wire last_out  = rq_valid && (oi6 == LAST_I[IW-1:0]);

    always @(posedge clk) begin
        if (s_adv) begin
            s_t <= s_t + 1'b1;
            if (s_last) begin
                // the head moves to T
                s_issuing <= 1'b0;
                t_full    <= 1'b1;
                t_done    <= 1'b0;
                t_buf     <= s_buf;
                t_base    <= s_base;
                t_npos    <= s_npos;
                t_m_att   <= s_m_att;
                t_sh_att  <= s_sh_att;
                t_m_out   <= s_m_out;
                t_sh_out  <= s_sh_out;
                t_tag     <= s_tag;
            end
        end
        // T's head's last row is at p5 (T was loaded 5 cycles ago and V needs t_done)
        if (p5_valid && p5_l) begin
            t_done <= 1'b1;
            t_max  <= max_next;
        end
        if (v_issuing) begin
            v_t <= v_t + 1'b1;
            if (v_last) begin
                v_issuing   <= 1'b0;
                acc_pending <= 1'b1;
                tag_acc     <= v_tag;
                m_out_acc   <= v_m_out;
                sh_out_acc  <= v_sh_out;
            end
        end
        if (s_go) begin
            q_reg     <= q;
            s_base    <= base;
            s_npos    <= npos;
            s_m_att   <= m_att;
            s_sh_att  <= sh_att;
            s_m_out   <= m_out;
            s_sh_out  <= sh_out;
            s_tag     <= tag;
            s_t       <= {CW{1'b0}};
            s_issuing <= 1'b1;
            s_buf     <= !s_buf;        // the heads write the two buffers in turn
        end
        if (v_take) begin
            v_base    <= t_base;
            v_npos    <= t_npos;
            v_m_att   <= t_m_att;
            v_sh_att  <= t_sh_att;
            v_m_out   <= t_m_out;
            v_sh_out  <= t_sh_out;
            v_tag     <= t_tag;
            v_max     <= t_max;
            v_buf     <= t_buf;
            v_t       <= {CW{1'b0}};
            v_issuing <= 1'b1;
            if (!(s_adv && s_last)) begin
                t_full <= 1'b0;
            end
        end
        if (b_valid && b_l) begin
            acc_done <= 1'b1;
        end
        if (hand) begin
            acc_pending <= 1'b0;
            acc_done    <= 1'b0;
        end
        if (rst) begin
            acc_pending <= 1'b0;
            acc_done    <= 1'b0;
            s_issuing   <= 1'b0;
            t_full      <= 1'b0;
            v_issuing   <= 1'b0;
            s_buf       <= 1'b0;
        end
    end

    // outputs issued and not yet out of hw_rq (busy until the last one is written)
    reg [3:0] pend_reg;
    assign back_busy = div_full || out_issuing || (pend_reg != 4'd0);
    always @(posedge clk) begin
        pend_reg <= pend_reg + {3'd0, out_issuing} - {3'd0, rq_valid};
        if (rst) begin
            pend_reg <= 4'd0;
        end
    end

    always @(posedge clk) begin
        done      <= 1'b0;
        if (out_issuing) begin
            u_reg <= u_reg + 1'b1;
            if (out_last_issue) begin
                out_issuing <= 1'b0;
            end
        end
        if (last_out) begin
            done <= 1'b1;
        end
        if (hand) begin
            div_full  <= 1'b1;
        end
        if (div_done && !move) begin
            div_ready <= 1'b1;
        end
        if (move) begin
            recip_reg   <= div_q[RW-1:0];
            u_reg       <= {CW{1'b0}};
            out_issuing <= 1'b1;
            div_full    <= 1'b0;
            div_ready   <= 1'b0;
        end
        if (rst) begin
            out_issuing <= 1'b0;
            div_full    <= 1'b0;
            div_ready   <= 1'b0;
            done        <= 1'b0;
        end
    end

    // div_busy is only observed through div_done; keep lint quiet about it
    wire unused_ok = &{1'b0, div_busy, div_q[40:RW], wfull[MPW-1:WW]};

endmodule

`resetall
