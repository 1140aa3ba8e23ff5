`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_lora: the LoRA adapters' memory (written by the host) and the engine that
// computes one adapter's delta, golden.LoraInt.delta:
//   u = sat8(rq(A x, m_a, sh_a))   A: (RANK, in) int8
//   d = rq(B u, m_b, sh_b)         B: (out, RANK) int8, d at full width
// Memory layout (docs/register_map.md), 32-bit words of 4 int8 (value j at
// [8j +: 8]): for each layer, for each target of TARGETS in the order wq wk wv
// wo w1 w3 w2 one block: word 0 {sh_a[21:16], m_a[14:0]}, word 1 {sh_b, m_b},
// then A row by row (ceil(in/4) words each, zero padded), then B row by row
// (ceil(RANK/4) words each). The core computes the adapters in that same order
// every token, so one pointer walks the memory (ptr_reset at token start) from
// the first word of the run's slot (ptr_base: a slot per stream, each the layout above).
// The delta of output row r is kept in lane memory r % LANES at word r / LANES,
// so the core reads the LANES deltas of a matvec pass as one word.
module hw_lora #(
    parameter RANK    = 4,                                  // adapter rank (>= 1)
    parameter WORDS   = 64,                                 // memory words
    parameter MAXN    = 64,                                 // largest in / out dimension
    parameter LANES   = 4,                                  // matvec lanes
    parameter AW      = (WORDS > 1) ? $clog2(WORDS) : 1,    // memory address bits
    parameter NW      = $clog2(MAXN + 1),                   // bits of a dimension
    parameter PAW     = ((MAXN + LANES - 1) / LANES > 1) ? $clog2((MAXN + LANES - 1) / LANES) : 1, // pass bits
    parameter DW      = 32 + $clog2((MAXN > RANK ? MAXN : RANK) + 1)  // delta bits
) (
    input  wire                clk,
    input  wire                rst,         // synchronous: abort, back to idle
    // host writes (LORA_ADDR / LORA_DATA)
    input  wire                wr_en,
    input  wire [AW-1:0]       wr_addr,
    input  wire [31:0]         wr_data,
    // debug read (while idle): dbg_data = mem[dbg_addr] two cycles later
    input  wire [AW-1:0]       dbg_addr,
    output wire [31:0]         dbg_data,
    // compute one adapter
    input  wire                ptr_reset,   // token start: back to the first word of ptr_base's slot
    input  wire [AW-1:0]       ptr_base,    // the run's adapter slot (one per stream)
    input  wire                start,
    input  wire [NW-1:0]       in_dim,
    input  wire [NW-1:0]       out_dim,
    output wire                busy,
    output reg                 done,
    // input vector: x_data = x[4*x_word .. +3] one cycle after x_word (core)
    output wire [NW-1:0]       x_word,
    input  wire [31:0]         x_data,
    // deltas of one matvec pass: d_word = {d[pass*LANES + LANES-1], ..., d[pass*LANES]}
    input  wire [PAW-1:0]      d_addr,
    output wire [LANES*DW-1:0] d_word       // registered: one cycle after d_addr
);

    localparam LACC = DW - 16;                              // A x and B u sums
    localparam PW   = DW;                                   // acc * m
    localparam RW4  = (RANK + 3) / 4;                       // words per B row
    localparam UN   = RW4 * 4;                              // u padded to whole words
    localparam RKW  = $clog2(RANK + 1);
    localparam LNW  = (LANES > 1) ? $clog2(LANES) : 1;
    localparam PD   = (MAXN + LANES - 1) / LANES;           // delta words per lane
    localparam integer RANK_I  = RANK;
    localparam integer RW4_I   = RW4;
    localparam integer LANES_I = LANES;

    // ---------------------------------------------------------------- memory
    wire [31:0] mem_q;
    reg [AW-1:0] ptr_reg;

    wire         issue;                 // compute reads a word this cycle

    wire [AW-1:0] rd_addr = busy ? ptr_reg : dbg_addr;

    // power-up contents: all zero = no adapter (block RAM initial values)
    hw_ram_sdp #(
        .WIDTH(32),
        .DEPTH(WORDS),
        .INIT_ZERO(1),
        .AW(AW)
    ) mem (
        .clk(clk),
        .wr_en(wr_en),
        .wr_addr(wr_addr),
        .wr_data(wr_data),
        .rd_en(1'b1),
        .rd_addr(rd_addr),
        .rd_data(mem_q)
    );

    reg [31:0] dbg_reg;
    always @(posedge clk) begin
        dbg_reg <= mem_q;
    end
    assign dbg_data = dbg_reg;

    // ---------------------------------------------------------------- sequencing
    localparam [2:0] ST_IDLE  = 3'd0,
                     ST_SCALE = 3'd1,
                     ST_A     = 3'd2,
                     ST_AWAIT = 3'd3,
                     ST_B     = 3'd4,
                     ST_BWAIT = 3'd5;

    reg [2:0]    state_reg;
    reg [NW-1:0] in_reg, out_reg;
    reg [NW-1:0] w_reg;                 // word within a row
    reg [NW-1:0] row_reg;               // row (A: 0..RANK-1, B: 0..out-1)
    reg [1:0]    sc_reg;                // scale words read
    reg          issuing_reg;
    reg [14:0]   m_a, m_b;
    reg [5:0]    sh_a, sh_b;

    assign busy   = (state_reg != ST_IDLE);
    assign x_word = w_reg;
    assign issue  = issuing_reg;

    wire [NW:0]   in_words = ({1'b0, in_reg} + {{(NW-1){1'b0}}, 2'd3}) >> 2;
    wire row_word_last = (state_reg == ST_A) ? ({{(32-NW){1'b0}}, w_reg} + 1 >= {{(31-NW){1'b0}}, in_words})
                                             : ({{(32-NW){1'b0}}, w_reg} + 1 >= RW4_I);
    wire row_last      = (state_reg == ST_A) ? ({{(32-NW){1'b0}}, row_reg} + 1 >= RANK_I)
                                             : (row_reg + 1'b1 >= out_reg);

    // ---------------------------------------------------------------- dot-4 pipeline
    // issue (c) -> word, x (c+1) -> both registered (c+2) -> 4 products (c+3) -> their sum
    // (c+4) -> accumulate (c+5) -> * m (c+6) -> + rounding (c+7) -> shift (c+8) -> saturated
    // u or d written (c+9). The rounding add, the shift and the write in one cycle were the
    // design's longest path; then block RAM -> multiplier -> adder (25.1 ns routed, 16x8 + LoRA
    // bitstream of generator 1.4): operands and products now have registers of their own.
    reg               q1_valid, q1_first, q1_last, q1_b;
    reg [NW-1:0]      q1_w;
    reg               qa_valid, qa_first, qa_last, qa_b;      // operands registered
    reg [31:0]        w_a, x_a;
    reg               qp_valid, qp_first, qp_last, qp_b;      // products registered
    reg signed [15:0] prod_p [0:3];
    reg               q2_valid, q2_first, q2_last, q2_b;
    reg signed [LACC-1:0] psum2;
    reg               q3_valid, q3_b;
    reg [14:0]        m3;               // q3_b's multiplier, picked a stage early: no LUT before the product
    reg signed [LACC-1:0] acc3;
    reg signed [LACC-1:0] tot3;
    reg               q4_valid, q4_b;
    reg signed [PW-1:0] prod4;
    reg [5:0]         sh4;
    reg signed [PW:0] rnd4;             // the rounding term of sh4, decoded with it
    reg               zero4;            // sh4 >= PW: the result is 0
    reg               q5_valid, q5_b;
    reg signed [PW:0] rsum5;
    reg [5:0]         sh5;
    reg               zero5;
    reg               q6_valid, q6_b;
    reg signed [PW:0] rq6;
    wire [5:0]        sh3 = q3_b ? sh_b : sh_a;
    // rq: (p + 2**(sh-1)) >>> sh; sh = 0 leaves p; sh >= PW gives 0 (|p| < 2**(PW-1))
    wire signed [PW:0] rsh5   = rsum5 >>> sh5;      // a separate signed wire: arithmetic shift
    wire signed [PW:0] rq5    = zero5 ? {(PW+1){1'b0}} : rsh5;

    reg signed [7:0]  u_mem [0:UN-1];
    reg [31:0]        u_chunk;
    reg signed [LACC-1:0] dot4;
    integer k;

    integer ku;
    always @* begin
        for (ku = 0; ku < 4; ku = ku + 1) begin
            u_chunk[8*ku +: 8] = u_mem[q1_w * 4 + ku];
        end
    end

    wire [31:0] opnd = q1_b ? u_chunk : x_data;

    always @* begin
        dot4 = {LACC{1'b0}};
        for (k = 0; k < 4; k = k + 1) begin
            dot4 = dot4 + {{(LACC-16){prod_p[k][15]}}, prod_p[k]};
        end
    end

    integer kp;
    always @(posedge clk) begin
        w_a <= mem_q;
        x_a <= opnd;
        for (kp = 0; kp < 4; kp = kp + 1) begin
            prod_p[kp] <= $signed(w_a[8*kp +: 8]) * $signed(x_a[8*kp +: 8]);
        end
    end

    wire signed [LACC-1:0] acc_sum = q2_first ? psum2 : acc3 + psum2;

    always @(posedge clk) begin
        q1_valid <= issue && (state_reg == ST_A || state_reg == ST_B);
        q1_first <= (w_reg == {NW{1'b0}});
        q1_last  <= row_word_last;
        q1_b     <= (state_reg == ST_B);
        q1_w     <= w_reg;
        qa_valid <= q1_valid;
        qa_first <= q1_first;
        qa_last  <= q1_last;
        qa_b     <= q1_b;
        qp_valid <= qa_valid;
        qp_first <= qa_first;
        qp_last  <= qa_last;
        qp_b     <= qa_b;
        q2_valid <= qp_valid;
        q2_first <= qp_first;
        q2_last  <= qp_last;
        q2_b     <= qp_b;
        psum2    <= dot4;
        q3_valid <= q2_valid && q2_last;
        q3_b     <= q2_b;
        m3       <= q2_b ? m_b : m_a;
        if (q2_valid) begin
            acc3 <= acc_sum;
        end
        tot3     <= acc_sum;
        q4_valid <= q3_valid;
        q4_b     <= q3_b;
        prod4    <= tot3 * $signed({1'b0, m3});
        sh4      <= sh3;
        rnd4     <= (sh3 == 6'd0) ? {(PW+1){1'b0}} : $signed({{PW{1'b0}}, 1'b1} << (sh3 - 1'b1));
        zero4    <= ({26'd0, sh3} >= PW);
        q5_valid <= q4_valid;
        q5_b     <= q4_b;
        rsum5    <= {prod4[PW-1], prod4} + rnd4;
        sh5      <= sh4;
        zero5    <= zero4;
        q6_valid <= q5_valid;
        q6_b     <= q5_b;
        rq6      <= rq5;
        if (rst) begin
            q1_valid <= 1'b0;
            qa_valid <= 1'b0;
            qp_valid <= 1'b0;
            q2_valid <= 1'b0;
            q3_valid <= 1'b0;
            q4_valid <= 1'b0;
            q5_valid <= 1'b0;
            q6_valid <= 1'b0;
        end
    end

    wire signed [7:0]  u_sat  = (rq6 > 127) ? 8'sd127 : (rq6 < -128) ? -8'sd128 : rq6[7:0];

    // outputs: u (phase A) and d (phase B), written in row order
    reg [RKW-1:0] u_idx;
    wire [31:0]   u_idx32 = {{(32-RKW){1'b0}}, u_idx};
    reg [LNW-1:0] d_lane;
    reg [PAW-1:0] d_pass;
    integer ui;

    always @(posedge clk) begin
        if (q6_valid && !q6_b) begin
            u_mem[u_idx32] <= u_sat;
            u_idx        <= u_idx + 1'b1;
        end
        if (q6_valid && q6_b) begin
            if ({{(32-LNW){1'b0}}, d_lane} + 1 >= LANES_I) begin
                d_lane <= {LNW{1'b0}};
                d_pass <= d_pass + 1'b1;
            end else begin
                d_lane <= d_lane + 1'b1;
            end
        end
        if (start && state_reg == ST_IDLE) begin
            u_idx  <= {RKW{1'b0}};
            d_lane <= {LNW{1'b0}};
            d_pass <= {PAW{1'b0}};
            for (ui = 0; ui < UN; ui = ui + 1) begin
                u_mem[ui] <= 8'sd0;         // zero padding of the last B word
            end
        end
    end

    // deltas: one bank per lane (row pass * LANES + lane sits in bank lane at address pass), so a
    // pass-wide read is one read port per bank. One RAM with LANES read ports made Yosys's memory
    // mapping throw (synth_ecp5 at 16 lanes: an uncaught exception in the WebAssembly build)
    genvar gl;
    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : g_dbank
            localparam [LNW-1:0] LANE = gl;
            hw_ram_sdp #(
                .WIDTH(DW),
                .DEPTH(PD),
                .AW(PAW)
            ) bank (
                .clk(clk),
                .wr_en(q6_valid && q6_b && d_lane == LANE),
                .wr_addr(d_pass),
                .wr_data(rq6[DW-1:0]),
                .rd_en(1'b1),
                .rd_addr(d_addr),
                .rd_data(d_word[gl*DW +: DW])
            );
        end
    endgenerate

    // ---------------------------------------------------------------- control
    wire drained = !q1_valid && !qa_valid && !qp_valid && !q2_valid && !q3_valid && !q4_valid && !q5_valid && !q6_valid;

    always @(posedge clk) begin
        done <= 1'b0;
        if (issuing_reg) begin
            ptr_reg <= ptr_reg + 1'b1;
        end
        case (state_reg)
            ST_IDLE: begin
                if (start) begin
                    in_reg      <= in_dim;
                    out_reg     <= out_dim;
                    sc_reg      <= 2'd0;
                    issuing_reg <= 1'b1;
                    state_reg   <= ST_SCALE;
                end
            end
            ST_SCALE: begin
                // scale words are issued at sc 0, 1 and arrive one cycle later
                sc_reg <= sc_reg + 1'b1;
                if (sc_reg == 2'd1) begin
                    w_reg   <= {NW{1'b0}};
                    row_reg <= {NW{1'b0}};
                    state_reg <= ST_A;
                end
                if (sc_reg == 2'd1) begin
                    m_a  <= mem_q[14:0];
                    sh_a <= mem_q[21:16];
                end
            end
            ST_A, ST_B: begin
                if (state_reg == ST_A && sc_reg == 2'd2) begin
                    m_b    <= mem_q[14:0];
                    sh_b   <= mem_q[21:16];
                    sc_reg <= 2'd3;
                end
                if (issuing_reg) begin
                    if (row_word_last) begin
                        w_reg   <= {NW{1'b0}};
                        row_reg <= row_reg + 1'b1;
                        if (row_last) begin
                            issuing_reg <= 1'b0;
                            state_reg   <= (state_reg == ST_A) ? ST_AWAIT : ST_BWAIT;
                        end
                    end else begin
                        w_reg <= w_reg + 1'b1;
                    end
                end
            end
            ST_AWAIT: begin
                if (drained) begin
                    w_reg       <= {NW{1'b0}};
                    row_reg     <= {NW{1'b0}};
                    issuing_reg <= 1'b1;
                    state_reg   <= ST_B;
                end
            end
            ST_BWAIT: begin
                if (drained) begin
                    done      <= 1'b1;
                    state_reg <= ST_IDLE;
                end
            end
            default: state_reg <= ST_IDLE;
        endcase
        if (ptr_reset) begin
            ptr_reg <= ptr_base;
        end
        if (rst) begin
            state_reg   <= ST_IDLE;
            issuing_reg <= 1'b0;
            done        <= 1'b0;
            ptr_reg     <= {AW{1'b0}};
        end
    end

    wire unused_ok = &{1'b0, u_idx32};   // only the low bits index u_mem

endmodule

`resetall
