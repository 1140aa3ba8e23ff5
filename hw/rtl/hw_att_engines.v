`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_att_engines: E hw_attention engines that run the heads of a layer E at a
// time, each beside its own bank of the KV cache.
//
// B banks (B = E, or B = NKV when there are more engines than kv heads): bank
// b holds kv heads b*KPB .. b*KPB + KPB - 1 (KPB = NKV / B), for every layer,
// the word of (layer l, local kv head c, position t) at (l*KPB + c)*CTX + t.
// Engine j runs query heads j*HPE .. j*HPE + HPE - 1 (HPE = NH / E) beside bank
// j / (E / B). The core starts all engines together (round r: engine j takes
// head j*HPE + r), with the same base address and position count, so they run
// in lock step: hw_attention's timing depends on the position count only. So
// the E / B engines of a bank (query heads of one kv group, GQA) issue the same
// reads in the same cycles: the first of them drives the bank's read ports and
// all of them take its words.
//
// Outputs: engine j's stream is delayed j cycles. In lock step engine j writes
// element (j*HPE + r)*HD + i - j of the att buffer while engine 0 writes
// r*HD + i; the elements differ by multiples of HPE*HD - 1, an odd number
// (HD is even), so the E writes of a cycle fall in E distinct banks of a
// hw_vecbuf with a power-of-two bank count G >= E.
//
// Each engine reads P positions per cycle (hw_kv_cache rows of P words; the
// bank's addresses are word addresses, the engines' are row addresses, base / P).
//
// The debug window reads a bank's word at {bank, address} while idle.
module hw_att_engines #(
    parameter HD         = 8,                       // head dimension
    parameter CTX        = 16,                      // positions
    parameter E          = 1,                       // engines
    parameter B          = E,                       // KV cache banks: divides E
    parameter BANK_DEPTH = 64,                      // words per bank = L * KPB * CTX
    parameter BAW        = (BANK_DEPTH > 1) ? $clog2(BANK_DEPTH) : 1,   // bank address bits
    parameter P          = 1,                       // positions per cycle, a power of two dividing CTX
    parameter EW_BITS    = (B > 1) ? $clog2(B) : 1, // bits of a bank index
    parameter EXP_FILE   = "exp2.hex",
    parameter PW         = $clog2(CTX + 1),         // bits of a position count 0..CTX
    parameter IW         = (HD > 1) ? $clog2(HD) : 1,
    parameter TAGW       = 8,
    parameter MUL_LUT    = 0,                       // hw_attention's q . k from LUT adders
    parameter QW         = 8                        // bits of a q / k element: 8, or 16
) (
    input  wire                 clk,
    input  wire                 rst,
    // KV write: one word per bank, all banks at one address
    input  wire                 kv_wr_en,
    input  wire [BAW-1:0]       kv_wr_addr,
    input  wire [B*HD*QW-1:0]   kv_wr_k,            // bank b's word at [b*HD*QW +: HD*QW]
    input  wire [B*HD*8-1:0]    kv_wr_v,
    // start of one round: engine j takes q[j], tag[j]
    input  wire                 start,
    input  wire [E*HD*QW-1:0]   q,
    input  wire [BAW-1:0]       base,
    input  wire [PW-1:0]        npos,
    input  wire [14:0]          m_att,
    input  wire [5:0]           sh_att,
    input  wire [14:0]          m_out,
    input  wire [5:0]           sh_out,
    input  wire [E*TAGW-1:0]    tag,
    output wire                 ready,              // every engine takes a start now
    output wire                 busy,               // a head in flight or an output not yet out
    // debug read (while not busy): word {bank, address}, data 1 cycle later
    input  wire [EW_BITS+BAW-1:0] dbg_word,
    input  wire [IW-1:0]        dbg_elem,       // the element within that word
    output wire [QW-1:0]        dbg_k,          // its key / value, two cycles after dbg_word
    output wire [7:0]           dbg_v,
    // outputs: engine j's (delayed j cycles) at [j*...]
    output wire [E-1:0]         out_valid,
    output wire [E*IW-1:0]      out_idx,
    output wire [E*TAGW-1:0]    out_tag,
    output wire [E*8-1:0]       out_data
);

    localparam OUTW = 1 + IW + TAGW + 8;            // valid, idx, tag, data
    localparam PER  = E / B;                        // engines per bank
    localparam LP   = (P > 1) ? $clog2(P) : 0;      // bits of a word within a row
    localparam RAW  = BAW - LP;                     // row address bits
    localparam RW_W = P * HD * 8;                   // bits of a value row (P words)
    localparam RK_W = P * HD * QW;                  // bits of a key row

    wire [E-1:0]      eng_ready, eng_busy, eng_done;
    wire [B*RK_W-1:0] bank_k;
    wire [B*RW_W-1:0] bank_v;
    wire [E-1:0]      k_en, v_en;
    wire [E*RAW-1:0]  k_addr, v_addr;
    wire [E-1:0]      delay_busy;

    assign ready = &eng_ready;
    assign busy  = (|eng_busy) || (|delay_busy);

    // the debug read (the core idles; dbg_word and dbg_elem hold): bank b's row as its first engine
    // registers it (hw_attention kv_k_q / kv_v_q), then one select of the element among the B * P
    // words by registered narrow indices (word: bank * P + word in the row). A select straight
    // after the banks' outputs was a 16.8-17.9 ns path by hw.backends.ecp5_timing.
    localparam integer SELS = B * P;                // words the banks read a cycle
    localparam integer SELW = EW_BITS + ((P > 1) ? $clog2(P) : 0);  // any bank field, past B too
    localparam integer NSEL = 1 << (SELW + IW);     // {word, element} indices
    wire [B*RK_W-1:0] row_k;                        // the banks' rows, registered
    wire [B*RW_W-1:0] row_v;
    reg  [SELW-1:0]   dbg_sel_q, dbg_sel_q2;
    reg  [IW-1:0]     dbg_elem_q, dbg_elem_q2;
    wire [31:0]    dbg_addr32 = {{(32-BAW){1'b0}}, dbg_word[BAW-1:0]};
    wire [31:0]    dbg_row32  = dbg_addr32 >> LP;
    wire [RAW-1:0] dbg_row    = dbg_row32[RAW-1:0];
    wire [31:0]    base32     = {{(32-BAW){1'b0}}, base} >> LP;
    wire [RAW-1:0] base_row   = base32[RAW-1:0];
    wire [31:0]    dbg_bank32 = {{(32-EW_BITS){1'b0}}, dbg_word[BAW +: EW_BITS]};
    wire [31:0]    dbg_sel32  = dbg_bank32 * P + (dbg_addr32 & (P - 1));
    always @(posedge clk) begin
        dbg_sel_q   <= dbg_sel32[SELW-1:0];
        dbg_sel_q2  <= dbg_sel_q;
        dbg_elem_q  <= dbg_elem;
        dbg_elem_q2 <= dbg_elem_q;
    end
    wire unused_dbg_sel = &{1'b0, dbg_sel32[31:SELW]};
    // element e of word w at dbg_elems_*[{w, e}] (a bank index past B, an element past HD: 0)
    wire [QW-1:0] dbg_elems_k [0:NSEL-1];
    wire [7:0]    dbg_elems_v [0:NSEL-1];
    genvar w;
    generate
        for (w = 0; w < NSEL; w = w + 1) begin : g_dbg_elem
            localparam integer WD = w >> IW, EL = w % (1 << IW);
            if (WD < SELS && EL < HD) begin : g_read
                assign dbg_elems_k[w] = row_k[(WD*HD + EL)*QW +: QW];
                assign dbg_elems_v[w] = row_v[(WD*HD + EL)*8 +: 8];
            end else begin : g_past
                assign dbg_elems_k[w] = {QW{1'b0}};
                assign dbg_elems_v[w] = 8'd0;
            end
        end
    endgenerate
    assign dbg_k = dbg_elems_k[{dbg_sel_q2, dbg_elem_q2}];
    assign dbg_v = dbg_elems_v[{dbg_sel_q2, dbg_elem_q2}];

    genvar b, j;
    generate
        for (b = 0; b < B; b = b + 1) begin : g_bank
            // the bank's first engine drives its reads; the debug window reads while idle
            wire lead_busy = eng_busy[b*PER];
            hw_kv_cache #(
                .HD(HD),
                .DEPTH(BANK_DEPTH),
                .P(P),
                .KW(QW),
                .AW(BAW),
                .RAW(RAW)
            ) bank (
                .clk(clk),
                .wr_en(kv_wr_en),
                .wr_addr(kv_wr_addr),
                .wr_k(kv_wr_k[b*HD*QW +: HD*QW]),
                .wr_v(kv_wr_v[b*HD*8 +: HD*8]),
                .rd_k_en(lead_busy ? k_en[b*PER] : 1'b1),
                .rd_k_row(lead_busy ? k_addr[b*PER*RAW +: RAW] : dbg_row),
                .rd_v_en(lead_busy ? v_en[b*PER] : 1'b1),
                .rd_v_row(lead_busy ? v_addr[b*PER*RAW +: RAW] : dbg_row),
                .rd_k(bank_k[b*RK_W +: RK_W]),
                .rd_v(bank_v[b*RW_W +: RW_W])
            );
        end

        for (j = 0; j < E; j = j + 1) begin : g_engine
            wire           o_valid;
            wire [IW-1:0]  o_idx;
            wire [TAGW-1:0] o_tag;
            wire [7:0]     o_data;
            wire [RK_W-1:0] eng_k_q;
            wire [RW_W-1:0] eng_v_q;
            if (j % PER == 0) begin : g_bank_rows
                // the bank's first engine: its registered rows serve the debug read
                assign row_k[(j / PER)*RK_W +: RK_W] = eng_k_q;
                assign row_v[(j / PER)*RW_W +: RW_W] = eng_v_q;
            end else begin : g_shared_rows
                wire unused_rows = &{1'b0, eng_k_q, eng_v_q};
            end

            hw_attention #(
                .HD(HD),
                .CTX(CTX),
                .KV_AW(RAW),
                .P(P),
                .EXP_FILE(EXP_FILE),
                .PW(PW),
                .IW(IW),
                .TAGW(TAGW),
                .MUL_LUT(MUL_LUT),
                .QW(QW)
            ) engine (
                .clk(clk),
                .rst(rst),
                .start(start && ready),
                .q(q[j*HD*QW +: HD*QW]),
                .base(base_row),
                .npos(npos),
                .m_att(m_att),
                .sh_att(sh_att),
                .m_out(m_out),
                .sh_out(sh_out),
                .tag(tag[j*TAGW +: TAGW]),
                .ready(eng_ready[j]),
                .busy(eng_busy[j]),
                .done(eng_done[j]),
                .kv_k_en(k_en[j]),
                .kv_k_addr(k_addr[j*RAW +: RAW]),
                .kv_v_en(v_en[j]),
                .kv_v_addr(v_addr[j*RAW +: RAW]),
                .kv_k(bank_k[(j / PER)*RK_W +: RK_W]),
                .kv_v(bank_v[(j / PER)*RW_W +: RW_W]),
                .kv_k_q(eng_k_q),
                .kv_v_q(eng_v_q),
                .out_valid(o_valid),
                .out_idx(o_idx),
                .out_tag(o_tag),
                .out_data(o_data)
            );

            // j cycles of delay (none for engine 0)
            wire [OUTW-1:0] o_now = {o_valid, o_idx, o_tag, o_data};
            wire [OUTW-1:0] o_late;
            if (j == 0) begin : g_direct
                assign o_late        = o_now;
                assign delay_busy[j] = 1'b0;
            end else begin : g_delay
                reg [OUTW-1:0] line [1:j];
                reg [j:1]      line_valid;
                integer s, sv;          // one loop variable per process (a shared one has two drivers)
                always @(posedge clk) begin
                    line[1] <= o_now;
                    for (s = 2; s <= j; s = s + 1) begin
                        line[s] <= line[s-1];
                    end
                    if (rst) begin
                        for (s = 1; s <= j; s = s + 1) begin
                            line[s][OUTW-1] <= 1'b0;
                        end
                    end
                end
                always @* begin
                    for (sv = 1; sv <= j; sv = sv + 1) begin
                        line_valid[sv] = line[sv][OUTW-1];
                    end
                end
                assign o_late        = line[j];
                assign delay_busy[j] = |line_valid;
            end
            assign out_valid[j]              = o_late[OUTW-1];
            assign out_idx[j*IW +: IW]       = o_late[TAGW+8 +: IW];
            assign out_tag[j*TAGW +: TAGW]   = o_late[8 +: TAGW];
            assign out_data[j*8 +: 8]        = o_late[7:0];
        end
    endgenerate

    // the other engines of a bank issue the same reads as its first (lock step)
    wire unused_ok = &{1'b0, k_en, v_en, k_addr, v_addr, eng_done, dbg_row32[31:RAW], base32[31:RAW]};

endmodule

`resetall
