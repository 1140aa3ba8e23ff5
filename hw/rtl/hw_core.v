`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_core: the accelerator. A static, parameterized sequencer that runs, per
// token, exactly golden.GoldenModel.forward:
//   embedding -> per layer [rmsnorm -> q, k, v (+LoRA) -> RoPE -> KV write ->
//   attention per head -> wo + residual -> rmsnorm -> w1, w3 -> SiLU gate ->
//   w2 + residual] -> final rmsnorm -> classifier -> sampler
// and GoldenModel.generate around it (prompt FIFO in, token FIFO out). The
// classifier and sampler run only where a token is sampled. Matrices go
// through hw_matvec (weights in per-lane ROMs); vectors live in register
// arrays; the KV cache, the logits and the LoRA adapters in block RAM.
// The host sees one register interface (docs/register_map.md).
// With CONTEXTS > 1 the generated top holds CONTEXTS of these cores, one sequencer context
// each, sharing one matrix engine (hw_mv_share) through the mvx_* ports: stream s runs on
// context s % CONTEXTS, and STREAM_SEL picks the context the other registers reach.
module hw_core #(
    // model
    parameter D            = 64,        // residual width
    parameter H            = 172,       // MLP width
    parameter L            = 5,         // layers
    parameter NH           = 8,         // query heads
    parameter NKV          = 4,         // key/value heads
    parameter HD           = 8,         // head dimension = D / NH
    parameter V            = 512,       // vocabulary
    parameter CTX          = 512,       // KV cache positions (build context)
    // matrix-vector engine (hw/rtlgen/layout.py)
    parameter LANES        = 16,        // rows computed in parallel
    parameter VPL          = 4,         // values per lane per cycle
    parameter MAC_LUT      = 0,         // 1: lane MACs and attention q . k from LUT adders, not multipliers
    parameter MAC_DSP_V    = 0,         // with MAC_LUT: each lane's last MAC_DSP_V values on multipliers
    parameter RQ_SHARE     = 1,         // lanes per requantizer (hw_matvec): 2 needs every row >= 2 words
    parameter ATT_E        = 1,         // attention engines: divides NKV, or a multiple of NKV dividing NH
    parameter ATT_P        = 1,         // positions per cycle of each engine: a power of two dividing CTX
    parameter NORM_W       = 2,         // rmsnorm elements per cycle: a power of two <= VPL, D
    parameter EMB_W        = 1,         // embedding elements per cycle: a power of two dividing D, <= LANES
    parameter ROPE_W       = 1,         // RoPE pairs per cycle: 2 needs HD, D and KVD multiples of 4
    parameter WB           = 8,         // weight bits of the lane MACs (the widest class)
    parameter BITS_EMB     = 8,         // embedding weight bits
    parameter BITS_ATT     = 4,         // attention weight bits (identity only)
    parameter BITS_MLP     = 4,         // MLP weight bits (identity only)
    parameter BITS_CLS     = 8,         // classifier weight bits (identity only)
    parameter ROM_DEPTH    = 16,        // words of the deepest lane weight ROM
    parameter ROM_GROUPS   = 1,         // lane weight ROMs, one per weight width (hw/rtlgen/layout.py)
    parameter ROM_GROUP_WB = WB,        // bits per weight of ROM group g at [8g +: 8]
    parameter ROM_GROUP_DEPTH = ROM_DEPTH,  // words of ROM group g at [32g +: 32]
    parameter GROUP_ATT    = 0,         // ROM group of the attention matrices
    parameter GROUP_MLP    = 0,         // ROM group of the MLP matrices
    parameter GROUP_CLS    = 0,         // ROM group of the classifier
    parameter SCALE_DEPTH  = 4,         // entries per lane scale ROM
    parameter ACC_W        = 24,        // lane accumulator bits
    parameter ROWS_W       = 10,        // bits of a row count
    parameter COLS_W       = 10,        // bits of a column count
    // sampler, LoRA
    parameter K_MAX        = 16,        // top-k capacity
    parameter DBG_VECTORS  = 1,         // 1: the debug window reads the vector buffers; 0: they read 0
    parameter LORA_RANK    = 0,         // 0 = no LoRA hardware
    parameter LORA_TARGETS = 0,         // bit i: LoRA on (wq, wk, wv, wo, w1, w3, w2)[i]
    // streams: sequences held at once, each with its KV cache slot and position (STREAM_SEL)
    parameter STREAMS      = 1,         // this context's; the device holds STREAMS * CONTEXTS
    parameter CONTEXTS     = 1,         // sequencer contexts of the device (> 1: the matrix engine is outside)
    parameter CONTEXT      = 0,         // this one's index
    // a chain of chips (hardwire compile --chips, docs/chain.md); 1, 1: one chip holds the model
    parameter CHIP_FIRST   = 1,         // holds the embedding, the prompt and the token loop
    parameter CHIP_LAST    = 1,         // holds the final rmsnorm, the classifier and the sampler
    parameter CHIP_INDEX   = 0,         // place in the chain (CHAIN register)
    parameter CHIP_COUNT   = 1,         // chips in the chain
    // numerics
    parameter QKW          = 8,         // bits of q, k and the key cache (8, or 16: knobs qk_bits)
    parameter LAYER_BASE   = 0,         // the whole model's index of this chip's first layer
    // identity (the model's fingerprint and global constants are in ROM_DIR/model.hex)
    parameter [31:0]  GEN_VERSION = 32'd0,      // generator version
    parameter ROM_DIR      = "rom",     // folder of the hex files
    // FIFOs
    parameter PROMPT_DEPTH = 0,         // prompt FIFO words (power of 2); 0 = CTX rounded up
    parameter OUT_DEPTH    = 64         // output token ring words (a power of 2 >= 2; TOKEN_WINDOW shows 64)
) (
    input  wire        clk,
    input  wire        rst,             // synchronous, active high
    input  wire        reg_wr,
    input  wire [7:0]  reg_addr,        // word index (byte offset / 4)
    input  wire [31:0] reg_wdata,
    input  wire        reg_rd,
    output wire [31:0] reg_rdata,       // valid the cycle after reg_rd
    output wire        busy,            // STATUS.BUSY
    output wire        token_avail,     // STATUS.TOKEN_AVAIL
    // chain frames (hw_chip_link's user side; tied off on one chip): CHAIN_WORDS words each
    output wire [15:0] chain_tx_data,
    output wire        chain_tx_valid,
    input  wire        chain_tx_ready,
    input  wire [15:0] chain_rx_data,
    input  wire        chain_rx_valid,
    output wire        chain_rx_ready,
    // the shared matrix engine (CONTEXTS > 1, hw_mv_share; tied off otherwise): hw_matvec's command,
    // x and result ports, ready / busy / results already this context's
    output wire        mvx_start,
    output wire [7:0]  mvx_tag,
    output wire [15:0] mvx_rows,
    output wire [15:0] mvx_cols,
    output wire        mvx_rewind,
    output wire        mvx_flush,
    input  wire        mvx_ready,
    input  wire        mvx_busy,
    input  wire [15:0] mvx_x_word,
    input  wire [7:0]  mvx_x_tag,
    output wire [511:0] mvx_x_data,     // VPL int8 values at [8j +: 8], one cycle after the x request
    input  wire [LANES-1:0] mvx_out_valid,
    input  wire [LANES*ROWS_W-1:0] mvx_out_row,
    input  wire [LANES*(ACC_W+16)-1:0] mvx_out_data,
    input  wire [7:0]  mvx_out_tag
);

    // ================================================================ sizes
    localparam KVD      = NKV * HD;                         // key/value width
    localparam GROUP    = NH / NKV;                         // query heads per kv head
    localparam HALF     = HD / 2;                           // RoPE pairs per head
    localparam TOKW     = 16;                               // token id bits
    localparam RQ_W     = ACC_W + 16;                       // matvec output bits
    localparam LYW      = (L > 1) ? $clog2(L) : 1;          // layer index bits
    localparam PW       = $clog2(CTX + 1);                  // position bits (0..CTX)
    localparam DIW      = $clog2(D);                        // index into D
    localparam HIW      = $clog2(H);                        // index into H
    localparam KVIW     = (KVD > 1) ? $clog2(KVD) : 1;      // index into KVD
    localparam HDIW     = (HD > 1) ? $clog2(HD) : 1;        // index into HD
    localparam NHW      = (NH > 1) ? $clog2(NH) : 1;        // index into the query heads
    localparam KVHW     = (NKV > 1) ? $clog2(NKV) : 1;      // index into the kv heads
    localparam ATT_B    = (ATT_E < NKV) ? ATT_E : NKV;      // KV cache banks (engines of a kv group share one)
    localparam KPB      = NKV / ATT_B;                      // kv heads per bank
    localparam HPE      = NH / ATT_E;                       // query heads per attention engine
    localparam KV_SSTEP = L * KPB * CTX;                    // KV cache words per bank of one stream
    localparam KV_DEPTH = STREAMS * KV_SSTEP;               // KV cache words per bank
    localparam SW       = (STREAMS > 1) ? $clog2(STREAMS) : 1;  // stream index bits
    localparam NSTREAMS = STREAMS * CONTEXTS;               // the device's streams
    localparam CXW      = (CONTEXTS > 1) ? $clog2(CONTEXTS) : 1;    // context index bits
    localparam KV_AW    = $clog2(KV_DEPTH);
    localparam EBW      = (ATT_B > 1) ? $clog2(ATT_B) : 1;  // bank index bits
    localparam LG_WORDS = (V + LANES - 1) / LANES;          // logit RAM words
    localparam LG_AW    = (LG_WORDS > 1) ? $clog2(LG_WORDS) : 1;
    localparam LNW      = (LANES > 1) ? $clog2(LANES) : 1;
    localparam [HDIW-1:0] ROPE_STEP = ROPE_W[HDIW-1:0];
    localparam ROPE_AW  = (CTX * HALF > 1) ? $clog2(CTX * HALF) : 1;
    localparam RPW      = $clog2((D + KVD) / 2 + 1);        // RoPE pair counter bits
    localparam PDEPTH   = (PROMPT_DEPTH > 0) ? PROMPT_DEPTH : (1 << $clog2(CTX > 2 ? CTX : 2));
    localparam PFW      = $clog2(PDEPTH) + 2;               // prompt FIFO count bits
    localparam OAW      = $clog2(OUT_DEPTH);                // output ring address bits
    localparam VECN     = (H > D) ? H : D;                  // longest int8 vector
    localparam WPP      = (D + VPL - 1) / VPL;              // matvec words per pass of a D-column matrix
    // rmsnorm elements per cycle (3 multipliers each), the matrix after it starts
    // NORM_LEAD groups into the scale pass so that its x reads trail the writes:
    // word w (read w cycles after the first) needs the group of its last element
    // written. When VPL is no multiple of NORM_W the last word is not the one
    // that needs the most (VPL 12, NORM_W 8, D 64: word 4, not 5)
    function integer norm_lead_f;
        input integer d, vpl, nw;
        integer w, last, need;
        begin
            norm_lead_f = 0;
            for (w = 0; w < (d + vpl - 1) / vpl; w = w + 1) begin
                last = (vpl * (w + 1) < d) ? vpl * (w + 1) : d;
                need = (last + nw - 1) / nw - 1 - w;
                if (need > norm_lead_f) begin
                    norm_lead_f = need;
                end
            end
        end
    endfunction
    localparam NORM_NW  = NORM_W;
    localparam NORM_LEAD = norm_lead_f(D, VPL, NORM_NW);
    localparam SILU_W0  = (LANES + WPP - 1) / WPP;          // w3 rows per cycle, rounded up
    localparam SILU_W   = (SILU_W0 < H) ? SILU_W0 : H;      // SiLU gates per cycle
    // the int8 vector buffers in LUT RAM (hw_vecbuf): VB_R elements per read
    // window (the matvec's VPL, the SiLU's SILU_W, LoRA's 4), VB_G banks
    localparam VB_R0    = (VPL > SILU_W) ? VPL : SILU_W;
    localparam VB_R     = (VB_R0 > 4) ? VB_R0 : 4;
    localparam VB_G0    = (LANES > NORM_NW) ? LANES : NORM_NW;
    localparam VB_G1    = (VB_G0 > VB_R) ? VB_G0 : VB_R;
    localparam VB_G     = 1 << $clog2(VB_G1);

    // LoRA memory: one block per (layer, target) in order, see hw_lora
    localparam [6:0] LORA_MASK = LORA_TARGETS[6:0];
    localparam LORA_ON  = (LORA_RANK > 0) && (LORA_MASK != 7'd0);
    localparam LORA_MAXN = VECN;
    localparam LORA_DW  = 32 + $clog2(((LORA_MAXN > LORA_RANK) ? LORA_MAXN : LORA_RANK) + 1);
    localparam LORA_NW  = $clog2(LORA_MAXN + 1);
    localparam LORA_PAW = ((LORA_MAXN + LANES - 1) / LANES > 1) ? $clog2((LORA_MAXN + LANES - 1) / LANES) : 1;

    function integer lora_layer_words;
        input integer dummy;
        integer t, n_in, n_out;
        begin
            lora_layer_words = 0;
            for (t = 0; t < 7; t = t + 1) begin
                n_in  = (t == 6) ? H : D;
                n_out = (t == 1 || t == 2) ? NKV * HD : (t == 4 || t == 5) ? H : D;
                if (LORA_MASK[t]) begin
                    lora_layer_words = lora_layer_words + 2 + LORA_RANK * ((n_in + 3) / 4)
                                       + n_out * ((LORA_RANK + 3) / 4);
                end
            end
            lora_layer_words = lora_layer_words + 0 * dummy;
        end
    endfunction

    localparam LORA_WORDS = LORA_ON ? L * lora_layer_words(0) : 0;    // one adapter slot (LORA_WORDS)
    localparam LORA_MEM   = STREAMS * LORA_WORDS;                      // a slot per stream
    localparam LORA_AW    = (LORA_MEM > 1) ? $clog2(LORA_MEM) : 1;
    localparam LORA_GMEM  = NSTREAMS * LORA_WORDS;                     // the device's LoRA address space
    localparam LORA_GAW   = (LORA_GMEM > 1) ? $clog2(LORA_GMEM) : 1;

    // integer copies of parameters for comparisons without width warnings
    localparam integer KV_LSTEP = KPB * CTX;
    localparam integer KPB_I = KPB, HPE_I = HPE;
    localparam integer D_I = D, H_I = H, KVD_I = KVD, HD_I = HD, V_I = V, CTX_I = CTX,
                       L_I = L, NH_I = NH, NKV_I = NKV, GROUP_I = GROUP, HALF_I = HALF,
                       LANES_I = LANES, VPL_I = VPL, NORM_NW_I = NORM_NW;

    // ================================================================ matrices
    // TAG_W, the matrix tags T_<NAME>, mat_rows / mat_cols and each tag's ROM group (TAG_GROUP),
    // generated from hw/architecture.py (make regmap)
    `include "hardwire_arch.vh"

    // ================================================================ register map
    // R_<NAME> word indices and MAGIC_VALUE, generated from host/regmap.py (make regmap)
    `include "hardwire_regs.vh"

    // ================================================================ state
    localparam [4:0] S_IDLE     = 5'd0,
                     S_FETCH    = 5'd1,     // take the next input token
                     S_EMB      = 5'd2,     // embedding row -> residual
                     S_NORM     = 5'd3,     // start an rmsnorm
                     S_NORM_W   = 5'd4,     // wait for it
                     S_MV_NEXT  = 5'd5,     // next matrix of a group
                     S_MV_LORA  = 5'd6,     // LoRA delta of that matrix
                     S_MV_START = 5'd7,     // hand it to hw_matvec
                     S_MV_DRAIN = 5'd8,     // wait for the group's results
                     // 5'd9: no longer used (RoPE is waited for in S_MV_DRAIN)
                     S_KVW      = 5'd10,    // k, v into the cache
                     S_ATT      = 5'd11,    // start the heads, one as soon as the attention takes it
                     S_ATT_W    = 5'd12,    // wait for the last head's outputs
                     S_SILU     = 5'd13,    // SiLU gate
                     S_LAYER    = 5'd14,    // end of a layer
                     S_SAMPLE   = 5'd15,    // start the sampler
                     S_SAMPLE_W = 5'd16,    // wait for it
                     S_EMIT     = 5'd17,    // token into the output FIFO
                     S_LORA_W   = 5'd18,    // wait for the matvec to drain before a LoRA delta
                     S_FINISH   = 5'd19,    // end of the run
                     S_TOKEN_END = 5'd20,   // end of a token that is not sampled
                     S_RX_POS   = 5'd21,    // chain, not the first chip: the frame's position
                     S_RX_BEGIN = 5'd22,    // the token begins (pos_reg holds the frame's position)
                     S_RX_RES   = 5'd23,    // the residual words into res
                     S_TX       = 5'd24,    // chain: a frame to the next chip
                     S_RX_TOK   = 5'd25;    // chain, the first chip: the sampled token's frame

    reg [4:0]       state_reg;
    reg             busy_reg;
    reg             done_reg;
    reg             err_context_reg, err_token_reg, err_prompt_reg, err_overflow_reg;

    // run settings
    reg [31:0]      prompt_len_reg, max_new_reg, top_k_reg, seed_reg, stop_token_reg;
    reg [15:0]      inv_temp_reg;
    reg [LORA_GAW-1:0] lora_addr_reg;   // LORA_ADDR: the device's address (every context follows it)
    reg [NSTREAMS-1:0] lora_enable_reg; // LORA_ENABLE: bit s, stream s runs the LoRA passes (lora_run_reg)
    reg [SW-1:0]    stream_sel_reg;     // STREAM_SEL: the stream of START, RESET_STATE, POSITION (this context's)
    reg [CXW-1:0]   sel_ctx_reg;        // STREAM_SEL's context: the registers reach that context's core
    reg [31:0]      dbg_addr_reg;

    // run state
    reg [PW-1:0]    pos_reg;            // tokens in the KV cache of the run's stream
    reg [PW-1:0]    stream_pos [0:STREAMS-1];   // POSITION of each stream
    reg [SW-1:0]    run_stream_reg;     // the stream of the run
    reg [KV_AW-1:0] kv_sbase_reg;       // its KV cache slot: run_stream * KV_SSTEP
    reg [LORA_AW-1:0] lora_sbase_reg;   // its LoRA adapter slot: run_stream * LORA_WORDS
    wire [PW-1:0]   sel_pos = stream_pos[stream_sel_reg];
    reg [31:0]      prompt_left_reg;    // prompt tokens still to take
    reg [31:0]      gen_left_reg;       // tokens still to generate
    reg [TOKW-1:0]  tok_reg;            // the token being processed
    reg [TOKW-1:0]  sampled_reg;        // the last sampled token
    reg             cls_reg;            // this token's logits are sampled
    reg [LYW-1:0]   layer_reg;
    reg [31:0]      cycles_tok_reg, cycles_last_reg, cycles_total_reg, tokens_done_reg;

    // ================================================================ register writes
    // with contexts, every context sees STREAM_SEL and the LoRA memory's registers; the others are the
    // selected context's alone (its reads too: the others answer 0, the top ORs the answers)
    wire sel_me    = (CONTEXTS == 1) || (sel_ctx_reg == CONTEXT[CXW-1:0]);
    wire wr_shared = (reg_addr == R_STREAM_SEL) || (reg_addr == R_LORA_ADDR) || (reg_addr == R_LORA_DATA)
                     || (reg_addr == R_LORA_ENABLE);
    wire reg_wr_me = reg_wr && (sel_me || wr_shared);
    wire reg_rd_me = reg_rd && sel_me;
    // the bit of this context's stream s in the device's stream numbering (LORA_ENABLE)
    function integer dev_stream;
        input integer local_s;
        begin
            dev_stream = local_s * CONTEXTS + CONTEXT;
        end
    endfunction
    wire [31:0] sel_dev32 = dev_stream({{(32-SW){1'b0}}, stream_sel_reg});
    // the device stream STREAM_SEL writes: its index in its context, and its context
    wire [31:0] wsel_local = reg_wdata / CONTEXTS;
    wire [31:0] wsel_ctx   = reg_wdata % CONTEXTS;
    // CONTROL's commands act a cycle after the write: the bus's address compare in front of the
    // sequencer's next state and the abort's reset of every unit was one path (generator 1.15)
    wire wr_control = reg_wr_me && (reg_addr == R_CONTROL);
    reg  cmd_start_q, ctrl_reset_q, ctrl_abort_q;
    always @(posedge clk) begin
        cmd_start_q  <= !rst && wr_control && reg_wdata[0] && !reg_wdata[1] && !reg_wdata[2];
        ctrl_reset_q <= !rst && wr_control && reg_wdata[1];
        ctrl_abort_q <= !rst && wr_control && (reg_wdata[2] || (reg_wdata[1] && busy_reg));
    end
    wire cmd_start  = cmd_start_q;
    wire ctrl_reset = ctrl_reset_q;
    wire ctrl_abort = ctrl_abort_q;
    // The first chip of a chain stops a run (ABORT, RESET_STATE) only where no frame is half sent
    // and no token frame is owed to it: a frame cut short, or a token frame arriving after the
    // stop, would be taken as the next run's (the other chips never see the stop; each board has
    // its own bus). The stop waits for that frame, at most a token's cycles, BUSY still up.
    wire chain_owed = (CHIP_FIRST != 0) && (CHIP_LAST == 0) && (state_reg == S_TX || state_reg == S_RX_TOK);
    reg  abort_wait_reg, reset_wait_reg;    // a stop that waits for the chain
    wire cmd_reset  = (ctrl_reset || reset_wait_reg) && !chain_owed;
    wire cmd_abort  = (ctrl_abort || abort_wait_reg) && !chain_owed;
    always @(posedge clk) begin
        abort_wait_reg <= !rst && (ctrl_abort || abort_wait_reg) && chain_owed;
        reset_wait_reg <= !rst && (ctrl_reset || reset_wait_reg) && chain_owed;
    end
    // sub-units are reset by an abort, so a run can stop at any cycle
    wire soft_rst   = rst || cmd_abort;

    wire push_prompt = reg_wr_me && (reg_addr == R_PROMPT_PUSH) && (CHIP_FIRST != 0);
    wire pop_token   = reg_rd_me && (reg_addr == R_TOKEN_POP);
    wire ack_write   = reg_wr_me && (reg_addr == R_TOKEN_ACK);
    wire lora_wr     = reg_wr_me && (reg_addr == R_LORA_DATA);

    // the LoRA memory holds this context's streams' slots: device slot s (from word s * LORA_WORDS)
    // is context s % CONTEXTS's slot s / CONTEXTS
    reg               lora_mine;
    reg [LORA_AW-1:0] lora_local_addr;
    integer           ls, lora_a, lora_l;
    always @* begin
        lora_a          = {{(32-LORA_GAW){1'b0}}, lora_addr_reg};
        lora_l          = lora_a;
        lora_mine       = (CONTEXTS == 1);
        if (CONTEXTS > 1) begin
            for (ls = 0; ls < NSTREAMS; ls = ls + 1) begin
                if (lora_a >= ls * LORA_WORDS && lora_a < (ls + 1) * LORA_WORDS) begin
                    lora_mine = (ls % CONTEXTS == CONTEXT);
                    lora_l    = lora_a - ls * LORA_WORDS + (ls / CONTEXTS) * LORA_WORDS;
                end
            end
        end
        lora_local_addr = lora_l[LORA_AW-1:0];
    end

    always @(posedge clk) begin
        if (reg_wr_me) begin
            case (reg_addr)
                R_PROMPT_LEN:  prompt_len_reg <= reg_wdata;
                R_MAX_NEW:     max_new_reg    <= reg_wdata;
                R_INV_TEMP_Q8: inv_temp_reg   <= reg_wdata[15:0];
                R_TOP_K:       top_k_reg      <= reg_wdata;
                R_SEED:        seed_reg       <= reg_wdata;
                R_STOP_TOKEN:  stop_token_reg <= reg_wdata;
                R_LORA_ADDR:   lora_addr_reg  <= reg_wdata[LORA_GAW-1:0];
                R_LORA_ENABLE: lora_enable_reg <= LORA_ON ? reg_wdata[NSTREAMS-1:0] : {NSTREAMS{1'b0}};
                R_STREAM_SEL:  if (reg_wdata < NSTREAMS) begin
                                   stream_sel_reg <= wsel_local[SW-1:0];
                                   sel_ctx_reg    <= wsel_ctx[CXW-1:0];
                               end
                R_DBG_ADDR:    dbg_addr_reg   <= reg_wdata;
                default: ;
            endcase
        end
        if (lora_wr) begin
            lora_addr_reg <= lora_addr_reg + 1'b1;
        end
        if (rst) begin
            prompt_len_reg <= 32'd0;
            max_new_reg    <= 32'd0;
            inv_temp_reg   <= 16'd0;
            top_k_reg      <= 32'd0;
            seed_reg       <= 32'd0;
            stop_token_reg <= 32'hFFFFFFFF;
            lora_addr_reg  <= {LORA_GAW{1'b0}};
            lora_enable_reg <= {NSTREAMS{1'b0}};
            stream_sel_reg <= {SW{1'b0}};
            sel_ctx_reg    <= {CXW{1'b0}};
            dbg_addr_reg   <= 32'd0;
        end
    end

    // ================================================================ FIFOs
    wire             pf_full, pf_valid;
    wire [15:0]      pf_data;
    wire [PFW-1:0]   pf_count;
    reg              pf_pop;
    reg              pf_clear;
    wire             of_full, of_valid;
    reg              of_push;
    reg              of_clear;

    hw_fifo #(
        .WIDTH(16),
        .DEPTH(PDEPTH)
    ) prompt_fifo (
        .clk(clk),
        .rst(rst),
        .clear(pf_clear),
        .wr_en(push_prompt),
        .wr_data(reg_wdata[15:0]),
        .full(pf_full),
        .rd_en(pf_pop),
        .rd_data(pf_data),
        .rd_valid(pf_valid),
        .count(pf_count)
    );

    // the output tokens, kept until the host acknowledges them (hw_token_ring)
    wire [31:0]      tok_count, tok_ack;        // TOKEN_COUNT, TOKEN_ACK
    wire [31:0]      tok_rd_word;               // a window / TOKEN_POP read's answer
    reg              tok_sel_q;                 // the last read was of the window or TOKEN_POP
    wire             win_sel  = (reg_addr >= R_TOKEN_WINDOW) && (reg_addr < R_TOKEN_WINDOW + R_TOKEN_WINDOW_WORDS);
    wire [7:0]       win_off  = win_sel ? reg_addr - R_TOKEN_WINDOW : 8'd0;     // TOKEN_POP: word 0

    hw_token_ring #(
        .DEPTH(OUT_DEPTH),
        .AW(OAW)
    ) token_ring (
        .clk(clk),
        .rst(rst),
        .clear(of_clear),
        .push(of_push),
        .token(sampled_reg),
        .full(of_full),
        .avail(of_valid),
        .rd(reg_rd_me),
        .win_off(win_off),
        .rd_word(tok_rd_word),
        .pop(pop_token),
        .ack_wr(ack_write),
        .ack_value(reg_wdata),
        .count(tok_count),
        .acked(tok_ack)
    );

    assign busy        = busy_reg;
    assign token_avail = of_valid;

    // ================================================================ ROMs of the model
    // Every model-specific value is in a block RAM ROM (rom_style), never in logic, so that
    // `hardwire respin` can rewrite it in a finished bitstream (docs/respin.md).

    // model.hex: the fingerprint and the global constants, in registers after reset
    wire [255:0]      fingerprint;          // word i (most significant first) at [32i +: 32]
    wire [30:0]       model_eps_q;
    wire signed [5:0] model_final_gs;
    wire [14:0]       model_logit_m;
    wire [5:0]        model_logit_sh;
    hw_model_consts #(
        .ROM_DIR(ROM_DIR)
    ) model_consts (
        .clk(clk),
        .rst(rst),
        .fingerprint(fingerprint),
        .eps_q(model_eps_q),
        .final_gshift(model_final_gs),
        .logit_m(model_logit_m),
        .logit_sh(model_logit_sh)
    );

    // per layer: att_gshift[5:0], ffn_gshift[11:6], att_m[26:12], att_sh[32:27],
    // attout_m[47:33], attout_sh[53:48], g_m[68:54], g_sh[74:69]; word L (never read) is the
    // complement of word 0, so that no field bit is the same in every word: synthesis would make
    // such a bit a constant in logic, which a respin cannot change
    localparam LRW = $clog2(L + 1);                             // layer ROM address bits (L + 1 words)
    wire [95:0] layer_q;
    wire [31:0] layer_a32 = {{(32-LYW){1'b0}}, layer_reg};
    hw_rom #(
        .WIDTH(96),
        .DEPTH(L + 1),
        .FILE({ROM_DIR, "/layer.hex"}),
        .AW(LRW)
    ) layer_rom (
        .clk(clk),
        .en(1'b1),
        .addr(layer_a32[LRW-1:0]),
        .q(layer_q)
    );
    wire signed [5:0] att_gshift = layer_q[5:0];
    wire signed [5:0] ffn_gshift = layer_q[11:6];
    wire [14:0] att_m     = layer_q[26:12];
    wire [5:0]  att_sh    = layer_q[32:27];
    wire [14:0] attout_m  = layer_q[47:33];
    wire [5:0]  attout_sh = layer_q[53:48];
    wire [14:0] g_m       = layer_q[68:54];
    wire [5:0]  g_sh      = layer_q[74:69];

    // ================================================================ vector buffers
    // flip-flop arrays, read by head
    reg signed [QKW-1:0] qb [0:D-1];    // q (RoPE in place)
    reg signed [QKW-1:0] kb [0:KVD-1];  // k (RoPE in place)
    reg signed [7:0]  vb  [0:KVD-1];    // v
    // LUT RAM (hw_vecbuf, instances below the buffer writes): written a few
    // elements per cycle and read in windows. Read port 0 is the matvec's x
    // (xn, att, h1), port 1 LoRA's x (xn, att, h1), port 2 the debug window,
    // port 3 the SiLU (h1, h3).
    //   xn   normalized activation (xa, xf, xc)
    //   att  attention output
    //   h1   h1, then the gate g in place
    //   h3   h3
    // and the int16 residual stream res: port 0 the lanes' rows of a wo / w2 pass
    // (a window of LANES from lane 0's row), port 1 the rmsnorm, port 2 the debug window
    wire [4*VB_R*8-1:0] xn_rd, att_rd, h1_rd, h3_rd;
    localparam RES_R = (LANES > NORM_NW) ? LANES : NORM_NW;
    wire [3*RES_R*16-1:0] res_rd;
    wire unused_vb_rd = &{1'b0, xn_rd, att_rd, h1_rd, h3_rd, res_rd};  // window elements past a reader's width
    localparam [3:0] VB_LORA = LORA_ON ? 4'b0010 : 4'b0000;
    localparam [3:0] VB_DBG  = (DBG_VECTORS != 0) ? 4'b0100 : 4'b0000;

    // ================================================================ chain frames
    // A chip of a chain (docs/chain.md) takes the residual from the previous chip instead of the
    // embedding and hands it on after its last layer; the last chip samples and sends the token
    // back to the first. A frame is CHAIN_WORDS 16-bit words (hw_chip_link's DIM):
    //   word 0  header: [15:12] kind (K_RES, K_TOKEN), [9:2] the run's stream (its KV cache and
    //           LoRA slot on every chip), [1] seed (the run's first sample: the last chip loads
    //           SEED first), [0] cls (the last chip samples this token)
    //   word 1  K_RES: the token's position; K_TOKEN: the sampled token
    //   2..     K_RES: the int16 residual, element 0 first; K_TOKEN: 0
    localparam integer CHAIN_WORDS = D + 2;
    localparam [3:0]   K_RES = 4'h1, K_TOKEN = 4'h2;
    reg  [31:0]  chain_idx_reg;             // word of the frame being sent or taken
    reg          seed_flag_reg;             // the next sampled token is the run's first
    wire [31:0]  chain_elem = chain_idx_reg - 32'd2;
    wire         chain_tx_on = (CHIP_LAST == 0 || CHIP_FIRST == 0) && state_reg == S_TX;
    wire [7:0]   run_stream8 = {{(8-SW){1'b0}}, run_stream_reg};
    wire [15:0]  chain_hdr = {(CHIP_LAST != 0) ? K_TOKEN : K_RES, 2'd0, run_stream8, seed_flag_reg && cls_reg, cls_reg};
    // a chip after the first: the stream of the frame whose header arrives
    wire [SW-1:0] rx_stream = (STREAMS > 1) ? chain_rx_data[2 +: SW] : {SW{1'b0}};
    wire [31:0]  rx_dev32 = dev_stream({{(32-SW){1'b0}}, rx_stream});
    wire [31:0]  rx_kv_sbase32 = {{(32-SW){1'b0}}, rx_stream} * KV_SSTEP;
    wire [31:0]  rx_lora_sbase32 = {{(32-SW){1'b0}}, rx_stream} * LORA_WORDS;
    // the position of the token just through the layers (S_LAYER counted it already)
    wire [PW-1:0] chain_pos = pos_reg - 1'b1;
    wire [15:0]  chain_word1 = (CHIP_LAST != 0) ? sampled_reg : {{(16-PW){1'b0}}, chain_pos};
    assign chain_tx_valid = chain_tx_on;
    assign chain_tx_data  = (chain_idx_reg == 32'd0) ? chain_hdr :
                            (chain_idx_reg == 32'd1) ? chain_word1 :
                            (CHIP_LAST != 0) ? 16'd0 : res_rd[0 +: 16];
    assign chain_rx_ready = (CHIP_FIRST == 0 && state_reg == S_IDLE) || state_reg == S_RX_POS
                            || state_reg == S_RX_RES || state_reg == S_RX_TOK;
    // residual words into res (in place of the embedding's writes) and counted for the rmsnorm
    wire         chain_res_we  = (CHIP_FIRST == 0) && state_reg == S_RX_RES && chain_rx_valid;


    // ================================================================ matvec
    reg                    mv_start;
    reg [TAG_W-1:0]        mv_tag_reg;      // matrix being started
    reg [TAG_W-1:0]        mv_last_reg;     // last matrix of the group
    reg                    mv_rewind;
    wire                   mv_ready, mv_busy, mv_x_req;
    wire [COLS_W-1:0]      mv_x_word;
    wire [TAG_W-1:0]       mv_x_tag;
    reg  [VPL*8-1:0]       mv_x_data;
    wire [LANES-1:0]       mv_out_valid;
    wire [LANES*ROWS_W-1:0] mv_out_row;
    wire [LANES*RQ_W-1:0]  mv_out_data;
    wire                   mv_out_last;
    wire [TAG_W-1:0]       mv_out_tag;

    wire [31:0] mv_rows32 = mat_rows(mv_tag_reg);
    wire [31:0] mv_cols32 = mat_cols(mv_tag_reg);

    generate
        if (CONTEXTS == 1) begin : g_matvec
            hw_matvec #(
                .LANES(LANES),
                .VPL(VPL),
                .WB(WB),
                .ROM_DEPTH(ROM_DEPTH),
                .SCALE_DEPTH(SCALE_DEPTH),
                .ROWS_W(ROWS_W),
                .COLS_W(COLS_W),
                .ACC_W(ACC_W),
                .MUL_LUT(MAC_LUT),
                .DSP_V(MAC_DSP_V),
                .RQ_SHARE(RQ_SHARE),
                .TAG_W(TAG_W),
                .ROM_DIR(ROM_DIR),
                .GROUPS(ROM_GROUPS),
                .GROUP_WB(ROM_GROUP_WB),
                .GROUP_DEPTH(ROM_GROUP_DEPTH),
                .TAG_GROUP(TAG_GROUP),
                .LATENCY(MATVEC_LATENCY)
            ) matvec (
                .clk(clk),
                .rst(rst),
                .rewind(mv_rewind),
                .flush(soft_rst),
                .start(mv_start),
                .start_ctx(1'b0),
                .start_rows(mv_rows32[ROWS_W-1:0]),
                .start_cols(mv_cols32[COLS_W-1:0]),
                .start_tag(mv_tag_reg),
                .ready(mv_ready),
                .busy(mv_busy),
                .ctx_busy(mv_ctx_busy),
                .x_req(mv_x_req),
                .x_word(mv_x_word),
                .x_tag(mv_x_tag),
                .x_ctx(mv_x_ctx),
                .x_data(mv_x_data),
                .out_valid(mv_out_valid),
                .out_row(mv_out_row),
                .out_data(mv_out_data),
                .out_last(mv_out_last),
                .out_tag(mv_out_tag),
                .out_ctx(mv_out_ctx)
            );
            wire mv_ctx_busy, mv_x_ctx, mv_out_ctx;
            wire unused_ctx = &{1'b0, mv_ctx_busy, mv_x_ctx, mv_out_ctx};
            wire unused_mvx = &{1'b0, mvx_ready, mvx_busy, mvx_x_word, mvx_x_tag, mvx_out_valid, mvx_out_row,
                                mvx_out_data, mvx_out_tag};
            assign mvx_start  = 1'b0;
            assign mvx_tag    = 8'd0;
            assign mvx_rows   = 16'd0;
            assign mvx_cols   = 16'd0;
            assign mvx_rewind = 1'b0;
            assign mvx_flush  = 1'b0;
            assign mvx_x_data = 512'd0;
        end else begin : g_shared_matvec
            // hw_mv_share in the top: this context's side of the engine
            assign mvx_start  = mv_start;
            assign mvx_tag    = {{(8-TAG_W){1'b0}}, mv_tag_reg};
            assign mvx_rows   = mv_rows32[15:0];
            assign mvx_cols   = mv_cols32[15:0];
            assign mvx_rewind = mv_rewind;
            assign mvx_flush  = soft_rst;
            assign mvx_x_data = {{(512-VPL*8){1'b0}}, mv_x_data};
            assign mv_ready     = mvx_ready;
            assign mv_busy      = mvx_busy;
            assign mv_x_req     = 1'b0;
            assign mv_x_word    = mvx_x_word[COLS_W-1:0];
            assign mv_x_tag     = mvx_x_tag[TAG_W-1:0];
            assign mv_out_valid = mvx_out_valid;
            assign mv_out_row   = mvx_out_row;
            assign mv_out_data  = mvx_out_data;
            assign mv_out_last  = 1'b0;
            assign mv_out_tag   = mvx_out_tag[TAG_W-1:0];
            wire unused_mvx = &{1'b0, mvx_x_word[15:COLS_W], mvx_x_tag[7:TAG_W], mvx_out_tag[7:TAG_W]};
        end
    endgenerate

    // x chunk, registered: answers x_req one cycle later. The input vector of
    // wo is att, of w2 the gate (in h1), of every other matrix xn; 0 past the end.
    wire [31:0]     mv_x_start = {{(32-COLS_W){1'b0}}, mv_x_word} * VPL_I;
    wire [VPL*8-1:0] mv_x_next = (mv_x_tag == T_WO) ? att_rd[0 +: VPL*8] :
                                 (mv_x_tag == T_W2) ? h1_rd[0 +: VPL*8] : xn_rd[0 +: VPL*8];
    always @(posedge clk) begin
        mv_x_data <= mv_x_next;
    end

    // ================================================================ LoRA
    // a LoRA pass runs for matrix `tag` when the build adapts it and the run has LoRA on
    // (LORA_ENABLE at START): with it off the sequencer takes the no-LoRA path, cycle for cycle
    reg lora_run_reg;
    function lora_pass;
        input             run;
        input [TAG_W-1:0] tag;
        begin
            lora_pass = LORA_ON && run && (tag != T_WCLS) && LORA_MASK[tag];
        end
    endfunction

    reg                         lora_start;
    reg                         lora_ptr_reset;
    wire                        lora_busy, lora_done;
    wire [LORA_NW-1:0]          lora_x_word;
    reg  [31:0]                 lora_x_data;
    reg  [LORA_PAW-1:0]         lora_pass_reg;  // pass of the LoRA matrix's next result
    wire                        lora_out = lora_pass(lora_run_reg, mv_out_tag) && mv_out_valid[0];
    wire [LORA_PAW-1:0]         lora_d_addr = lora_pass_reg + {{(LORA_PAW-1){1'b0}}, lora_out};
    wire [LANES*LORA_DW-1:0]    lora_d_word;
    wire [31:0]                 lora_dbg_data;
    wire [31:0]                 lora_in32  = (mv_tag_reg == T_W2) ? H_I : D_I;
    wire [31:0]                 lora_out32 = mat_rows(mv_tag_reg);

    // the LoRA engine's input chunk (4 values), same sources as the matvec's
    wire [31:0] lora_x_start = {{(32-LORA_NW){1'b0}}, lora_x_word} * 4;
    wire [31:0] lora_x_next  = (mv_tag_reg == T_WO) ? att_rd[VB_R*8 +: 32] :
                               (mv_tag_reg == T_W2) ? h1_rd[VB_R*8 +: 32] : xn_rd[VB_R*8 +: 32];

    always @(posedge clk) begin
        lora_x_data <= lora_x_next;
        if (lora_out) begin
            lora_pass_reg <= lora_pass_reg + 1'b1;
        end
        if (lora_start) begin
            lora_pass_reg <= {LORA_PAW{1'b0}};
        end
    end

    generate
        if (LORA_ON) begin : g_lora
            hw_lora #(
                .RANK(LORA_RANK),
                .WORDS(LORA_MEM),
                .MAXN(LORA_MAXN),
                .LANES(LANES),
                .AW(LORA_AW),
                .NW(LORA_NW),
                .PAW(LORA_PAW),
                .DW(LORA_DW)
            ) lora (
                .clk(clk),
                .rst(soft_rst),
                .wr_en(lora_wr && lora_mine),
                .wr_addr(lora_local_addr),
                .wr_data(reg_wdata),
                .dbg_addr(dbg_addr_reg[LORA_AW-1:0]),
                .dbg_data(lora_dbg_data),
                .ptr_reset(lora_ptr_reset),
                .ptr_base(lora_sbase_reg),
                .start(lora_start),
                .in_dim(lora_in32[LORA_NW-1:0]),
                .out_dim(lora_out32[LORA_NW-1:0]),
                .busy(lora_busy),
                .done(lora_done),
                .x_word(lora_x_word),
                .x_data(lora_x_data),
                .d_addr(lora_d_addr),
                .d_word(lora_d_word)
            );
        end else begin : g_no_lora
            assign lora_dbg_data = 32'd0;
            assign lora_busy     = 1'b0;
            assign lora_done     = 1'b0;
            assign lora_x_word   = {LORA_NW{1'b0}};
            assign lora_d_word   = {(LANES*LORA_DW){1'b0}};
            wire unused_lora = &{1'b0, lora_d_addr, lora_x_data, lora_in32, lora_out32, lora_ptr_reset, lora_sbase_reg};
        end
    endgenerate

    // ================================================================ matvec write-back
    // stage 1: y (+ LoRA delta), saturated to 24 bits; stage 2 (below): into the buffers
    localparam SUMW = ((RQ_W > LORA_DW) ? RQ_W : LORA_DW) + 1;
    reg [LANES-1:0]         wb_valid;
    reg [LANES*ROWS_W-1:0]  wb_row;
    reg [LANES*24-1:0]      wb_val;
    reg [TAG_W-1:0]         wb_tag;
    reg                     wb_any;
    integer wl;
    reg signed [SUMW-1:0]   wsum;
    localparam signed [SUMW-1:0] SAT24_HI = 8388607;
    localparam signed [SUMW-1:0] SAT24_LO = -8388608;
    reg [LANES*24-1:0]      wb_next;
    wire                    wb_lora = lora_pass(lora_run_reg, mv_out_tag);

    always @* begin
        for (wl = 0; wl < LANES; wl = wl + 1) begin
            wsum = {{(SUMW-RQ_W){mv_out_data[wl*RQ_W+RQ_W-1]}}, mv_out_data[wl*RQ_W +: RQ_W]};
            if (wb_lora) begin
                wsum = wsum + {{(SUMW-LORA_DW){lora_d_word[wl*LORA_DW+LORA_DW-1]}}, lora_d_word[wl*LORA_DW +: LORA_DW]};
            end
            wb_next[wl*24 +: 24] = (wsum > SAT24_HI) ? 24'h7FFFFF : (wsum < SAT24_LO) ? 24'h800000 : wsum[23:0];
        end
    end

    always @(posedge clk) begin
        wb_val   <= wb_next;
        wb_valid <= mv_out_valid;
        wb_row   <= mv_out_row;
        wb_tag   <= mv_out_tag;
        wb_any   <= mv_out_valid[0];
        if (soft_rst) begin
            wb_valid <= {LANES{1'b0}};
            wb_any   <= 1'b0;
        end
    end

    function signed [7:0] sat8_24;
        input [23:0] x;
        begin
            sat8_24 = ($signed(x) > 24'sd127) ? 8'sd127 : ($signed(x) < -24'sd128) ? -8'sd128 : x[7:0];
        end
    endfunction

    function signed [QKW-1:0] satq_24;     // to QKW bits (q, k)
        input [23:0] x;
        begin
            if ($signed(x) > $signed({{(25-QKW){1'b0}}, {(QKW-1){1'b1}}}))
                satq_24 = {1'b0, {(QKW-1){1'b1}}};
            else if ($signed(x) < $signed({{(25-QKW){1'b1}}, {(QKW-1){1'b0}}}))
                satq_24 = {1'b1, {(QKW-1){1'b0}}};
            else
                satq_24 = x[QKW-1:0];
        end
    endfunction

    function signed [15:0] sat16_add;
        input signed [15:0] r;
        input [23:0]        x;
        reg signed [24:0]   s;
        begin
            s = {{9{r[15]}}, r} + {x[23], x};
            sat16_add = (s > 25'sd32767) ? 16'sh7FFF : (s < -25'sd32768) ? -16'sd32768 : s[15:0];
        end
    endfunction

    // logit RAM: one word of LANES logits per classifier pass. A few wide words
    // would waste block RAMs (a DP16KD is at most 36 bits wide), so up to
    // LG_LUT_WORDS words it is distributed (LUT) RAM.
    localparam LG_LUT_WORDS = 64;
    wire [LANES*24-1:0] logit_q;
    reg [LG_AW-1:0]    cls_pass_reg;
    reg [LG_AW:0]      lg_ready_reg;        // logit words written (the sampler trails them)
    wire [LG_AW-1:0]   smp_lg_addr;
    wire               smp_busy;
    wire [LG_AW-1:0]   lg_rd_addr;
    wire               lg_we = wb_any && (wb_tag == T_WCLS);

    hw_ram_sdp #(
        .WIDTH(LANES*24),
        .DEPTH(LG_WORDS),
        .STYLE((LG_WORDS <= LG_LUT_WORDS) ? "distributed" : "block"),
        .AW(LG_AW)
    ) logit_mem (
        .clk(clk),
        .wr_en(lg_we),
        .wr_addr(cls_pass_reg),
        .wr_data(wb_val),
        .rd_en(1'b1),
        .rd_addr(lg_rd_addr),
        .rd_data(logit_q)
    );

    // ================================================================ embedding
    // the token's row into the residual (hw_embedding), started in S_EMB for a valid token
    wire               emb_start = (state_reg == S_EMB) && ({{(32-TOKW){1'b0}}, tok_reg} < V_I);
    wire               emb_out_valid;
    wire [DIW-1:0]     emb_out_idx;
    wire [EMB_W*16-1:0] emb_out;            // element emb_out_idx + j at [16j +: 16]

    generate if (CHIP_FIRST != 0) begin : g_embedding
        hw_embedding #(
            .D(D),
            .V(V),
            .W(EMB_W),
            .BITS(BITS_EMB),
            .TOKW(TOKW),
            .ROM_DIR(ROM_DIR),
            .IW(DIW),
            .LATENCY(EMB_LATENCY)
        ) embedding (
            .clk(clk),
            .rst(soft_rst),
            .start(emb_start),
            .token(tok_reg),
            .out_valid(emb_out_valid),
            .out_idx(emb_out_idx),
            .out(emb_out)
        );
    end else begin : g_no_embedding
        // a chip after the first takes its residual from the link: no embedding ROM (16 block
        // RAMs and 8 multipliers on stories260K at 8 bits), which synthesis cannot drop by itself
        assign emb_out_valid = 1'b0;
        assign emb_out_idx   = {DIW{1'b0}};
        assign emb_out       = {EMB_W*16{1'b0}};
        wire unused_emb = &{1'b0, emb_start};
    end endgenerate

    // ================================================================ rmsnorm
    reg  [31:0]       res_ready_reg;        // residual rows already final (rmsnorm pass 1 trails them)
    reg  [31:0]       res_inc_reg;          // rows whose writes land in this cycle
    reg               norm_start;
    reg [1:0]         norm_sel_reg;         // 0 attention, 1 ffn, 2 final
    wire              norm_busy, norm_done, norm_soon;
    wire [DIW-1:0]    norm_res_idx;
    reg [NORM_NW*16-1:0] norm_res_q;
    wire              norm_y_valid;
    wire [DIW-1:0]    norm_y_idx;
    wire [NORM_NW*8-1:0] norm_y;
    wire              norm_lora = (norm_sel_reg == 2'd0) ? lora_pass(lora_run_reg, T_WQ) :
                                  (norm_sel_reg == 2'd1) ? lora_pass(lora_run_reg, T_W1) : 1'b0;
    wire signed [5:0] norm_gshift = (norm_sel_reg == 2'd0) ? att_gshift :
                                    (norm_sel_reg == 2'd1) ? ffn_gshift : model_final_gs;

    // the rmsnorm's index steps by NORM_NW from 0: masking its low bits says so
    wire [31:0] norm_res_start = {{(32-DIW){1'b0}}, norm_res_idx} & ~(NORM_NW_I - 1);
    wire [NORM_NW*16-1:0] norm_res_next = res_rd[RES_R*16 +: NORM_NW*16];
    always @(posedge clk) begin
        norm_res_q <= norm_res_next;
    end

    hw_rmsnorm #(
        .D(D),
        .L(L),
        .ROM_DIR(ROM_DIR),
        .IW(DIW),
        .LW(LYW),
        .NW(NORM_NW),
        .LEAD(NORM_LEAD)
    ) rmsnorm (
        .clk(clk),
        .rst(soft_rst),
        .start(norm_start),
        .sel(norm_sel_reg),
        .layer(layer_reg),
        .gshift(norm_gshift),
        .eps_q(model_eps_q),
        .busy(norm_busy),
        .done(norm_done),
        .soon(norm_soon),
        .res_idx(norm_res_idx),
        .res_ready(res_ready_reg),
        .res_data(norm_res_q),
        .y_valid(norm_y_valid),
        .y_idx(norm_y_idx),
        .y(norm_y)
    );

    // ================================================================ RoPE
    // the sequencer issues a group of ROPE_W pairs once its q (k) rows are written; hw_rope
    // reads, rotates and writes them back
    reg [ROPE_AW-1:0] rope_base_reg;            // pos * HALF
    wire [31:0]       rope_base32 = {{(32-PW){1'b0}}, pos_reg} * HALF_I;
    reg [RPW-1:0]     rp_reg;                   // pair counter: q pairs, then k pairs
    reg [HDIW-1:0]    ri_reg;                   // pair index within the head
    reg               rope_issue;
    reg  [31:0]       q_ready_reg, k_ready_reg;     // wq / wk rows written (RoPE trails them)
    // per group rp_reg: is it k pairs, its first element 2p within q or k, the rows
    // it needs (2p + 2 ROPE_W) and whether it is the last group, all registered with
    // rp_reg (worked out from the group before): rope_go is one comparison
    reg               rope_is_k_reg;
    reg  [31:0]       rope_e_reg;
    reg  [31:0]       rope_need_reg;
    reg               rope_last_reg;
    wire [31:0]       rp_next32  = {{(32-RPW){1'b0}}, rp_reg} + ROPE_W;
    wire              rp_next_k  = (rp_next32 >= D_I / 2);
    wire [31:0]       rp_next_e  = rp_next_k ? 2 * (rp_next32 - D_I / 2) : 2 * rp_next32;
    // the counts never pass RDY_MAX (q / k rows rounded up to the lanes, a group's need): compared
    // at RDY_W bits (at 32 the compare led a 15.5 ns path into the sequencer's drain counter)
    localparam integer RDY_MAX = ((D_I > KVD_I) ? D_I : KVD_I) + LANES_I + 2 * ROPE_W;
    localparam integer RDY_W   = $clog2(RDY_MAX + 1);
    wire [RDY_W-1:0]  rope_have = rope_is_k_reg ? k_ready_reg[RDY_W-1:0] : q_ready_reg[RDY_W-1:0];
    wire              rope_go = rope_issue && (rope_need_reg[RDY_W-1:0] <= rope_have);
    wire [31:0]       rope_addr32 = {{(32-ROPE_AW){1'b0}}, rope_base_reg} + {{(32-HDIW){1'b0}}, ri_reg};
    wire              rope_out_valid;
    wire [ROPE_W*QKW-1:0] rope_a_out, rope_b_out;
    wire [D*ROPE_W-1:0]   rope_q_we_a, rope_q_we_b;     // qb[e] takes pair rw's a / b output
    wire [KVD*ROPE_W-1:0] rope_k_we_a, rope_k_we_b;     // kb[e] likewise
    // q, k and v as flat buses for the units that read them (hw_rope, hw_debug_window)
    wire [D*QKW-1:0]  qb_flat;
    wire [KVD*QKW-1:0] kb_flat;
    wire [KVD*8-1:0]  vb_flat;
    genvar gq;
    generate
        for (gq = 0; gq < D; gq = gq + 1) begin : g_qb_flat
            assign qb_flat[QKW*gq +: QKW] = qb[gq];
        end
        for (gq = 0; gq < KVD; gq = gq + 1) begin : g_kvb_flat
            assign kb_flat[QKW*gq +: QKW] = kb[gq];
            assign vb_flat[8*gq +: 8] = vb[gq];
        end
    endgenerate

    hw_rope #(
        .D(D),
        .KVD(KVD),
        .CTX(CTX),
        .HALF(HALF),
        .W(ROPE_W),
        .QW(QKW),
        .ROM_DIR(ROM_DIR),
        .IW(DIW),
        .KIW(KVIW),
        .AW(ROPE_AW),
        .LATENCY(ROPE_LATENCY)
    ) rope (
        .clk(clk),
        .rst(soft_rst),
        .go(rope_go),
        .is_k(rope_is_k_reg),
        .e(rope_e_reg),
        .addr(rope_addr32),
        .q(qb_flat),
        .k(kb_flat),
        .out_valid(rope_out_valid),
        .a_out(rope_a_out),
        .b_out(rope_b_out),
        .q_we_a(rope_q_we_a),
        .q_we_b(rope_q_we_b),
        .k_we_a(rope_k_we_a),
        .k_we_b(rope_k_we_b)
    );

    // ================================================================ KV cache and attention
    // ATT_E engines beside ATT_B KV cache banks (hw_att_engines): bank b holds kv
    // heads b*KPB ..; engine j runs query heads j*HPE .. one per round.
    reg               kvw_en;
    reg [KV_AW-1:0]   kvw_addr_reg;
    reg [KV_AW-1:0]   kv_lbase_reg;             // layer * KPB * CTX
    reg [ATT_B*HD*QKW-1:0] kvw_k;
    reg [ATT_B*HD*8-1:0] kvw_v;
    reg [31:0]        kvh_reg;                  // kv head within each bank (KV write)
    wire [31:0]       kvw_base32 = {{(32-KV_AW){1'b0}}, kv_lbase_reg} + {{(32-PW){1'b0}}, pos_reg};
    wire              att_busy;
    wire [QKW-1:0]    kv_k;                     // debug reads of the cache: an element
    wire [7:0]        kv_v;
    integer hk, hq, hh, he;

    // bank he's word: kv head he*KPB + kvh_reg. The head is selected with constant
    // element indices (a KPB:1 multiplexer per element) rather than kb[base + hk],
    // which Yosys builds as a KVD:1 multiplexer per element: that crossbar was the
    // worst routing congestion of the core on the ECP5.
    always @* begin
        for (he = 0; he < ATT_B; he = he + 1) begin
            for (hk = 0; hk < HD; hk = hk + 1) begin
                kvw_k[(he*HD + hk)*QKW +: QKW] = {QKW{1'b0}};
                kvw_v[(he*HD + hk)*8 +: 8] = 8'd0;
                for (hh = 0; hh < KPB; hh = hh + 1) begin
                    if (kvh_reg[KVHW-1:0] == hh[KVHW-1:0]) begin
                        kvw_k[(he*HD + hk)*QKW +: QKW] = kb[(he*KPB + hh) * HD + hk];
                        kvw_v[(he*HD + hk)*8 +: 8] = vb[(he*KPB + hh) * HD + hk];
                    end
                end
            end
        end
    end

    reg               att_start;                // level: held in S_ATT until the engines take the round
    reg [31:0]        head_reg;                 // round = query head within each engine
    reg [31:0]        hbase_reg;                // head_reg * HD
    reg [31:0]        grp_reg;                  // head within its kv group
    reg [KV_AW-1:0]   att_base_reg;             // bank address of position 0 of the round's kv head
    reg [ATT_E*HD*QKW-1:0] att_q;
    reg [ATT_E*DIW-1:0]  att_tag;               // head base (head * HD) of each engine's head
    wire              att_ready;
    wire [ATT_E-1:0]  att_out_valid;
    wire [ATT_E*HDIW-1:0] att_out_idx;
    wire [ATT_E*DIW-1:0]  att_out_tag;
    wire [ATT_E*8-1:0]    att_out_data;
    wire [PW-1:0]     att_npos = pos_reg + 1'b1;

    // engine he's query: head he*HPE + head_reg, an HPE:1 multiplexer per element (see kvw_k)
    reg [31:0] att_tag32;
    always @* begin
        att_tag32 = 32'd0;
        for (he = 0; he < ATT_E; he = he + 1) begin
            att_tag32 = hbase_reg + he * HPE * HD;
            att_tag[he*DIW +: DIW] = att_tag32[DIW-1:0];
            for (hq = 0; hq < HD; hq = hq + 1) begin
                att_q[(he*HD + hq)*QKW +: QKW] = {QKW{1'b0}};
                for (hh = 0; hh < HPE; hh = hh + 1) begin
                    if (head_reg[NHW-1:0] == hh[NHW-1:0]) begin
                        att_q[(he*HD + hq)*QKW +: QKW] = qb[(he*HPE + hh) * HD + hq];
                    end
                end
            end
        end
    end

    // wo may start before the last round's outputs are all written: its first pass
    // reads att one word (VPL elements) per cycle, word w in cycle S + 1 + w when the
    // matvec takes wo in cycle S, and each element is written a known number of cycles
    // after engine 0's last head's first output (cycle F): element i of engine j's last
    // head at F + i + j (engine j's stream is delayed j cycles, the engines run in lock
    // step), its earlier heads before F + j. So wo may start in the first S with
    // S + w >= F + t for every element (word w, written at F + t): ATT_LEAD_REQ is the
    // largest t - w, and the sequencer takes wo 3 cycles after att_tail_go (S_ATT_W,
    // S_MV_NEXT, S_MV_START).
    function integer att_lead_req;
        input integer dummy;
        integer j, r, i, t, w;
        begin
            att_lead_req = 0;
            for (j = 0; j < ATT_E; j = j + 1) begin
                for (r = 0; r < HPE; r = r + 1) begin
                    for (i = 0; i < HD; i = i + 1) begin
                        w = ((j * HPE + r) * HD + i) / VPL;
                        t = (r == HPE - 1) ? i + j : j - 1;
                        if (t - w > att_lead_req) begin
                            att_lead_req = t - w;
                        end
                    end
                end
            end
            att_lead_req = att_lead_req + 0 * dummy;
        end
    endfunction
    localparam integer ATT_LEAD_REQ = att_lead_req(0);
    localparam integer ATT_LEAD = (ATT_LEAD_REQ > 3) ? ATT_LEAD_REQ - 3 : 0;
    localparam integer   LAST_HB_I = (HPE - 1) * HD;       // engine 0's last head
    localparam [DIW-1:0] LAST_HB   = LAST_HB_I[DIW-1:0];
    reg         att_last_reg;               // engine 0's last head's first output is written
    reg [7:0]   att_lead_reg;
    wire        att_tail_go = att_last_reg && (att_lead_reg == 8'd0);

    always @(posedge clk) begin
        if (att_lead_reg != 8'd0) begin
            att_lead_reg <= att_lead_reg - 1'b1;
        end
        if (att_out_valid[0] && att_out_idx[HDIW-1:0] == {HDIW{1'b0}} && att_out_tag[DIW-1:0] == LAST_HB) begin
            att_last_reg <= 1'b1;
            att_lead_reg <= ATT_LEAD[7:0];
        end
        if (att_start) begin
            att_last_reg <= 1'b0;
        end
    end

    hw_att_engines #(
        .HD(HD),
        .CTX(CTX),
        .E(ATT_E),
        .B(ATT_B),
        .BANK_DEPTH(KV_DEPTH),
        .BAW(KV_AW),
        .P(ATT_P),
        .EW_BITS(EBW),
        .EXP_FILE({ROM_DIR, "/exp2.hex"}),
        .PW(PW),
        .IW(HDIW),
        .TAGW(DIW),
        .MUL_LUT(MAC_LUT),
        .QW(QKW)
    ) attention (
        .clk(clk),
        .rst(soft_rst),
        .kv_wr_en(kvw_en),
        .kv_wr_addr(kvw_addr_reg),
        .kv_wr_k(kvw_k),
        .kv_wr_v(kvw_v),
        .start(att_start),
        .q(att_q),
        .base(att_base_reg),
        .npos(att_npos),
        .m_att(att_m),
        .sh_att(att_sh),
        .m_out(attout_m),
        .sh_out(attout_sh),
        .tag(att_tag),
        .ready(att_ready),
        .busy(att_busy),
        .dbg_word(dbg_word32[EBW+KV_AW-1:0]),
        .dbg_elem(dbg_addr_reg[HDIW-1:0]),
        .dbg_k(kv_k),
        .dbg_v(kv_v),
        .out_valid(att_out_valid),
        .out_idx(att_out_idx),
        .out_tag(att_out_tag),
        .out_data(att_out_data)
    );

    // ================================================================ SiLU gate
    // SILU_W gates per cycle (hw_silu_stage), started with w3, trailing its h3 rows
    reg  [31:0]       h3_ready_reg;         // h3 rows written (the SiLU gate trails them)
    wire              silu_begin = (state_reg == S_MV_START) && mv_start && mv_ready && (mv_tag_reg == T_W3);
    wire [31:0]       silu_start;           // the gate's h1 / h3 read window
    wire              silu_issue, silu_last_go;
    wire              silu_out_valid;
    wire [HIW-1:0]    silu_out_idx;
    wire [SILU_W*8-1:0] silu_out;

    hw_silu_stage #(
        .H(H),
        .W(SILU_W),
        .L(L),
        .LYW(LYW),
        .IW(HIW),
        .ROM_DIR(ROM_DIR),
        .LATENCY(SILU_LATENCY)
    ) silu_stage (
        .clk(clk),
        .rst(soft_rst),
        .start(silu_begin),
        .layer(layer_reg),
        .m(g_m),
        .sh(g_sh),
        .h3_ready(h3_ready_reg),
        .rd_start(silu_start),
        .h1(h1_rd[3*VB_R*8 +: SILU_W*8]),
        .h3(h3_rd[3*VB_R*8 +: SILU_W*8]),
        .issuing(silu_issue),
        .last_go(silu_last_go),
        .out_valid(silu_out_valid),
        .out_idx(silu_out_idx),
        .out(silu_out)
    );

    // w2 starts before the gate is done, as early as its x reads cannot overtake the
    // gate's writes. Its schedule is fixed relative to cycle E, when w3's last word is
    // read: w3 streams a pass every WPP cycles, so pass k is written in cycle
    // E + MV_WRITE - (K - 1 - k) * WPP (K passes); the gate issues a group of SILU_W
    // elements in the cycle after its h3 rows are written (and after the group before),
    // and element i is in h1 8 cycles after its issue; w2, taken in cycle S >= E (on
    // w3's last word at the earliest), reads element i in cycle S + 1 + i / VPL.
    // w2_delay is the least S - E with every read after its write; the sequencer counts
    // W2_WAIT cycles from taking w3 (w3's walk: K * WPP words). A LoRA delta on w2
    // reads all of the gate first.
    // x_req of a pass's last word -> its rows written (end of that cycle): hw_matvec, the write-back's first stage
    localparam integer MV_WRITE = MATVEC_LATENCY + 1;
    localparam integer W3_WALK  = ((H + LANES - 1) / LANES) * WPP;
    function integer w2_delay;
        input integer dummy;
        integer g, first, last, c, i, t;
        begin
            w2_delay = 0;
            c = -8 * H;                                     // the gate is ahead of w3's first pass
            for (g = 0; g * SILU_W < H; g = g + 1) begin
                first = g * SILU_W;
                last  = (first + SILU_W < H) ? first + SILU_W - 1 : H - 1;
                t     = MV_WRITE + 1 - ((H - 1) / LANES - last / LANES) * WPP;  // its last row written, + 1
                c     = (t > c + 1) ? t : c + 1;
                for (i = first; i <= last; i = i + 1) begin
                    t = c + SILU_LATENCY + H1_WRITE - i / VPL;
                    if (t > w2_delay) begin
                        w2_delay = t;
                    end
                end
            end
            w2_delay = w2_delay + 0 * dummy;
        end
    endfunction
    localparam integer W2_WAIT = W3_WALK + w2_delay(0) - 1;
    reg  [31:0] w2_wait_reg;            // cycles left (S_SILU) before S_MV_START takes w2

    // ================================================================ sampler
    reg               smp_start;
    reg               seed_load;
    wire [31:0]       rng_state;
    wire              smp_done;
    wire [TOKW-1:0]   smp_token;

    hw_sampler #(
        .V(V),
        .LANES(LANES),
        .K_MAX(K_MAX),
        .EXP_FILE({ROM_DIR, "/exp2.hex"}),
        .WAW(LG_AW),
        .TW(TOKW)
    ) sampler (
        .clk(clk),
        .rst(soft_rst),
        .seed_load(seed_load),
        .seed(seed_reg),
        .rng_state(rng_state),
        .start(smp_start),
        .inv_temp(inv_temp_reg),
        .top_k(top_k_reg),
        .logit_m(model_logit_m),
        .logit_sh(model_logit_sh),
        .busy(smp_busy),
        .done(smp_done),
        .token(smp_token),
        .lg_addr(smp_lg_addr),
        .lg_ready(lg_ready_reg),
        .lg_data(logit_q)
    );

    // ================================================================ buffer writes
    // Once per lane, not once per element: a pass's rows are consecutive (lane l
    // has lane 0's row + l), so the lanes' residual rows are one window of the res
    // buffer and one saturating adder per lane serves every row.
    reg [LANES*8-1:0]  wb_sat8;             // lane result saturated to int8 (v, h1, h3; q, k at QKW 8)
    reg [LANES*QKW-1:0] wb_satq;            // lane result saturated to QKW bits (q, k)
    reg [LANES*16-1:0] wb_res_sum;          // residual row of the lane + lane result (wo, w2)
    // The residual rows are read a stage early, at the matrix engine's output (its lane 0 row
    // starts the window), and registered beside wb_val: the read window's bank pick and the
    // write's rotation into the banks (hw_vecbuf CONSEC) are then on two paths, not one
    // read-add-write path (with lanes that do not line up with the banks, 11 over 16, that
    // path was 40 ns by hw.backends.ecp5_timing). No write lands between the read and its
    // use: a pass's rows are written once, and the next pass reads other rows.
    reg [LANES*16-1:0] wb_res;
    always @(posedge clk) begin
        wb_res <= res_rd[0 +: LANES*16];
    end
    integer rl;
    always @* begin
        for (rl = 0; rl < LANES; rl = rl + 1) begin
            wb_sat8[rl*8 +: 8] = sat8_24(wb_val[rl*24 +: 24]);
            wb_satq[rl*QKW +: QKW] = satq_24(wb_val[rl*24 +: 24]);
            wb_res_sum[rl*16 +: 16] = sat16_add(wb_res[rl*16 +: 16], wb_val[rl*24 +: 24]);
        end
    end

    integer e, rw;

    always @(posedge clk) begin
        for (e = 0; e < D; e = e + 1) begin
            // q: wq results, RoPE
            if (wb_valid[e % LANES] && wb_tag == T_WQ && {{(32-ROWS_W){1'b0}}, wb_row[(e % LANES)*ROWS_W +: ROWS_W]} == e) begin
                qb[e] <= wb_satq[(e % LANES)*QKW +: QKW];
            end
            for (rw = 0; rw < ROPE_W; rw = rw + 1) begin
                if (rope_out_valid && rope_q_we_a[e*ROPE_W + rw]) begin
                    qb[e] <= rope_a_out[QKW*rw +: QKW];
                end
                if (rope_out_valid && rope_q_we_b[e*ROPE_W + rw]) begin
                    qb[e] <= rope_b_out[QKW*rw +: QKW];
                end
            end
        end
        for (e = 0; e < KVD; e = e + 1) begin
            if (wb_valid[e % LANES] && wb_tag == T_WK && {{(32-ROWS_W){1'b0}}, wb_row[(e % LANES)*ROWS_W +: ROWS_W]} == e) begin
                kb[e] <= wb_satq[(e % LANES)*QKW +: QKW];
            end
            for (rw = 0; rw < ROPE_W; rw = rw + 1) begin
                if (rope_out_valid && rope_k_we_a[e*ROPE_W + rw]) begin
                    kb[e] <= rope_a_out[QKW*rw +: QKW];
                end
                if (rope_out_valid && rope_k_we_b[e*ROPE_W + rw]) begin
                    kb[e] <= rope_b_out[QKW*rw +: QKW];
                end
            end
            if (wb_valid[e % LANES] && wb_tag == T_WV && {{(32-ROWS_W){1'b0}}, wb_row[(e % LANES)*ROWS_W +: ROWS_W]} == e) begin
                vb[e] <= wb_sat8[(e % LANES)*8 +: 8];
            end
        end
    end

    // the LUT RAM buffers' writers: xn NORM_NW rmsnorm outputs, att one attention
    // output, h3 the w3 lanes, h1 the w1 lanes or (later, never in the same cycle)
    // the SiLU gates in place, res the wo / w2 lanes or (before the first layer)
    // the embedding
    reg [NORM_NW-1:0]    xn_wv;
    reg [NORM_NW*32-1:0] xn_wi;
    reg [LANES-1:0]      h3_wv;
    reg [LANES*32-1:0]   wb_idx;
    // h1: its writers' mux registered too (h1_w*_next -> h1_w*), as res below: the SiLU gates'
    // index, their mux with the w1 lanes and the rotation into the banks were one path
    // (generator 1.15); a gate is readable a cycle later (H1_WRITE)
    reg [LANES-1:0]      h1_wv_next, h1_wv;
    reg [LANES*32-1:0]   h1_wi_next, h1_wi;
    reg [LANES*8-1:0]    h1_wd_next, h1_wd;
    // res: the writers' mux is registered (res_w*_next -> res_w*): the residual sum (a carry
    // chain) and hw_vecbuf's rotation into the banks were one routed path of 15.8 ns, the
    // longest of stories260K at 11 x 16 (docs/boards.md); res_ready counts the writes as they land
    reg [LANES-1:0]      res_wv_next, res_wv;
    reg [LANES*32-1:0]   res_wi_next, res_wi;
    reg [LANES*16-1:0]   res_wd_next, res_wd;
    integer wj;
    always @* begin
        for (wj = 0; wj < NORM_NW; wj = wj + 1) begin
            xn_wv[wj]          = norm_y_valid;
            xn_wi[wj*32 +: 32] = {{(32-DIW){1'b0}}, norm_y_idx} + wj;
        end
        for (wj = 0; wj < LANES; wj = wj + 1) begin
            wb_idx[wj*32 +: 32] = {{(32-ROWS_W){1'b0}}, wb_row[wj*ROWS_W +: ROWS_W]};
            h3_wv[wj]           = wb_valid[wj] && wb_tag == T_W3;
            h1_wv_next[wj]          = wb_valid[wj] && wb_tag == T_W1;
            h1_wi_next[wj*32 +: 32] = wb_idx[wj*32 +: 32];
            h1_wd_next[wj*8 +: 8]   = wb_sat8[wj*8 +: 8];
            res_wv_next[wj]          = wb_valid[wj] && (wb_tag == T_WO || wb_tag == T_W2);
            res_wi_next[wj*32 +: 32] = wb_idx[wj*32 +: 32];
            res_wd_next[wj*16 +: 16] = wb_res_sum[wj*16 +: 16];
            if (chain_res_we) begin
                res_wv_next[wj]          = (wj == 0);
                res_wi_next[wj*32 +: 32] = chain_idx_reg;
                res_wd_next[wj*16 +: 16] = (wj == 0) ? chain_rx_data : 16'd0;
            end
            if (emb_out_valid) begin
                res_wv_next[wj]          = (wj < EMB_W);
                res_wi_next[wj*32 +: 32] = {{(32-DIW){1'b0}}, emb_out_idx} + wj;
                res_wd_next[wj*16 +: 16] = (wj < EMB_W) ? emb_out[16*(wj % EMB_W) +: 16] : 16'd0;
            end
            if (silu_out_valid) begin
                h1_wv_next[wj]          = (wj < SILU_W);
                h1_wi_next[wj*32 +: 32] = {{(32-HIW){1'b0}}, silu_out_idx} + wj;
                h1_wd_next[wj*8 +: 8]   = (wj < SILU_W) ? silu_out[8*(wj % SILU_W) +: 8] : 8'd0;
            end
        end
    end
    always @(posedge clk) begin
        res_wv <= soft_rst ? {LANES{1'b0}} : res_wv_next;
        res_wi <= res_wi_next;
        res_wd <= res_wd_next;
        h1_wv  <= soft_rst ? {LANES{1'b0}} : h1_wv_next;
        h1_wi  <= h1_wi_next;
        h1_wd  <= h1_wd_next;
    end
    reg [ATT_E*32-1:0] att_wi;             // element of each engine's output
    integer wa;
    always @* begin
        for (wa = 0; wa < ATT_E; wa = wa + 1) begin
            att_wi[wa*32 +: 32] = {{(32-DIW){1'b0}}, att_out_tag[wa*DIW +: DIW]}
                                  + {{(32-HDIW){1'b0}}, att_out_idx[wa*HDIW +: HDIW]};
        end
    end
    wire [31:0] dbg_vb_start;
    wire [4*32-1:0] vb_start = {silu_start, dbg_vb_start, lora_x_start, mv_x_start};

    hw_vecbuf #(.N(D), .W(16), .G(VB_G), .NW(LANES), .NR(3), .R(RES_R), .PORTS_ON(3'b011 | VB_DBG[2:0]), .CONSEC(1))
        res_buf (.clk(clk), .wr_valid(res_wv), .wr_idx(res_wi), .wr_data(res_wd),
                 .rd_start({dbg_vb_start, norm_res_start,
                            chain_tx_on ? chain_elem : {{(32-ROWS_W){1'b0}}, mv_out_row[0 +: ROWS_W]}}),
                 .rd_data(res_rd));
    hw_vecbuf #(.N(D), .W(8), .G(VB_G), .NW(NORM_NW), .NR(4), .R(VB_R), .PORTS_ON(4'b0001 | VB_LORA | VB_DBG), .CONSEC(1))
        xn_buf (.clk(clk), .wr_valid(xn_wv), .wr_idx(xn_wi), .wr_data(norm_y),
                .rd_start(vb_start), .rd_data(xn_rd));
    hw_vecbuf #(.N(D), .W(8), .G(VB_G), .NW(ATT_E), .NR(4), .R(VB_R), .PORTS_ON(4'b0001 | VB_LORA | VB_DBG))
        att_buf (.clk(clk), .wr_valid(att_out_valid), .wr_idx(att_wi), .wr_data(att_out_data),
                 .rd_start(vb_start), .rd_data(att_rd));
    hw_vecbuf #(.N(H), .W(8), .G(VB_G), .NW(LANES), .NR(4), .R(VB_R), .PORTS_ON(4'b1001 | VB_LORA | VB_DBG), .CONSEC(1),
                .REG_PORTS(4'b1000))
        h1_buf (.clk(clk), .wr_valid(h1_wv), .wr_idx(h1_wi), .wr_data(h1_wd),
                .rd_start(vb_start), .rd_data(h1_rd));
    hw_vecbuf #(.N(H), .W(8), .G(VB_G), .NW(LANES), .NR(4), .R(VB_R), .PORTS_ON(4'b1000 | VB_DBG), .CONSEC(1),
                .REG_PORTS(4'b1000))
        h3_buf (.clk(clk), .wr_valid(h3_wv), .wr_idx(wb_idx), .wr_data(wb_sat8),
                .rd_start(vb_start), .rd_data(h3_rd));

    // ================================================================ sequencer
    wire mv_idle   = !mv_busy && !wb_any && (wb_valid == {LANES{1'b0}}) && !mv_start && (res_wv == {LANES{1'b0}});
    // the matrix engine holds no result beyond the write-back stage: all of them are in
    // the buffers from the next cycle on (the residual's a cycle later: mv_idle waits for
    // res_wv; mv_flush serves the qkv drain, which writes no residual)
    wire mv_flush  = !mv_busy && !mv_start;
    // RoPE's last pair is in q / k from the next cycle on
    wire rope_done = !rope_issue && wait_reg <= 5'd1;
    // the KV write of the last kv head of each bank: the engines take the layer's first
    // round in the same cycle (their first key read comes a cycle later)
    // (the head counters stay below NH: compared at HCW bits, the 32-bit compare of kvh_reg led a
    // 15.4 ns path through the sequencer into the engines' base)
    localparam integer HCW = $clog2(NH_I + 2);
    wire kvw_last  = ({{(32-HCW){1'b0}}, kvh_reg[HCW-1:0]} + 1 >= KPB_I);
    wire att_last_head = ({{(32-HCW){1'b0}}, head_reg[HCW-1:0]} + 1 >= HPE_I);     // the round taken now is the layer's last
    // S_EMIT: the token goes into the ring now, and the run ends with it
    wire emit_now  = (state_reg == S_EMIT) && !of_full && !of_push;
    wire emit_last = ({{(32-TOKW){1'b0}}, sampled_reg} == stop_token_reg || {{(32-PW){1'b0}}, pos_reg} >= CTX_I
                      || gen_left_reg == 32'd1);
    wire token_begin = (state_reg == S_FETCH) || (state_reg == S_RX_BEGIN)
                       || (emit_now && !emit_last && prompt_left_reg == 32'd0);
    wire rope_last = rope_last_reg;
    wire [31:0] start_end = {{(32-PW){1'b0}}, sel_pos} + prompt_len_reg;
    // START's checks, registered: PROMPT_LEN, POSITION and STREAM_SEL are written at least a cycle
    // before START acts (cmd_start_q), so these hold their values then. The 32-bit add and compares
    // sat in front of every register the start loads (15.6 ns by hw.backends.ecp5_timing).
    reg start_no_prompt_q, start_past_ctx_q;
    always @(posedge clk) begin
        start_no_prompt_q <= (prompt_len_reg == 32'd0);
        start_past_ctx_q  <= (start_end > CTX_I || prompt_len_reg > CTX_I);
    end
    reg  [4:0]  wait_reg;               // drain counter of the element pipelines
    // what it counts from after a unit's last issue: RoPE's last pairs are written as the count
    // reaches 1, the gate's as it reaches 0 with a cycle to spare (its h1 write, then w2's read)
    localparam integer SILU_DRAIN_I = SILU_LATENCY + H1_WRITE + 2;
    localparam [4:0] ROPE_DRAIN = ROPE_LATENCY[4:0];
    localparam [4:0] SILU_DRAIN = SILU_DRAIN_I[4:0];
    integer     si;
    // the selected stream's KV cache slot (stream * KV_SSTEP < KV_DEPTH: the low KV_AW bits hold it)
    wire [31:0] kv_sbase32 = {{(32-SW){1'b0}}, stream_sel_reg} * KV_SSTEP;
    wire [31:0] lora_sbase32 = {{(32-SW){1'b0}}, stream_sel_reg} * LORA_WORDS;

    always @(posedge clk) begin
        // pulses
        mv_rewind      <= 1'b0;
        norm_start     <= 1'b0;
        lora_start     <= 1'b0;
        lora_ptr_reset <= 1'b0;
        smp_start      <= 1'b0;
        seed_load      <= 1'b0;
        kvw_en         <= 1'b0;
        pf_pop         <= 1'b0;
        pf_clear       <= 1'b0;
        of_push        <= 1'b0;
        of_clear       <= 1'b0;
        if (busy_reg) begin
            cycles_tok_reg   <= cycles_tok_reg + 1'b1;
            cycles_total_reg <= cycles_total_reg + 1'b1;
        end
        if (wait_reg != 5'd0) begin
            wait_reg <= wait_reg - 1'b1;
        end
        if (wb_any && wb_tag == T_WCLS) begin
            cls_pass_reg <= cls_pass_reg + 1'b1;
            lg_ready_reg <= lg_ready_reg + 1'b1;
        end
        // rows whose final value is written: the consumers below trail them
        // (the residual's writes land a cycle later: res_wv, registered)
        res_inc_reg <= emb_out_valid ? EMB_W : chain_res_we ? 32'd1
                       : (wb_any && (wb_tag == T_WO || wb_tag == T_W2)) ? LANES_I : 32'd0;
        res_ready_reg <= res_ready_reg + res_inc_reg;
        if (wb_any && wb_tag == T_W3) begin
            h3_ready_reg <= h3_ready_reg + LANES_I;
        end
        if (wb_any && wb_tag == T_WQ) begin
            q_ready_reg <= q_ready_reg + LANES_I;
        end
        if (wb_any && wb_tag == T_WK) begin
            k_ready_reg <= k_ready_reg + LANES_I;
        end
        // RoPE starts with wq and trails the q, then k rows as they are written
        if (rope_go) begin
            rp_reg        <= rp_next32[RPW-1:0];
            rope_is_k_reg <= rp_next_k;
            rope_e_reg    <= rp_next_e;
            rope_need_reg <= rp_next_e + 2 * ROPE_W;
            rope_last_reg <= (rp_next32 + ROPE_W >= (D_I + KVD_I) / 2);
            ri_reg <= ({{(32-HDIW){1'b0}}, ri_reg} + ROPE_W >= HALF_I) ? {HDIW{1'b0}} : ri_reg + ROPE_STEP;
            if (rope_last) begin
                // the last group's pairs are in q / k after hw_rope's pipeline: the KV write
                // may read k when wait_reg has counted down from 1
                rope_issue <= 1'b0;
                wait_reg   <= ROPE_DRAIN;
            end
        end
        if (silu_last_go) begin
            wait_reg <= SILU_DRAIN;         // the last group's gates are in h1 after the pipeline
        end

        // a token begins: S_FETCH, or S_EMIT when the sampled token is the next input
        if (token_begin) begin
            cycles_tok_reg <= 32'd0;
            res_ready_reg  <= 32'd0;
            layer_reg      <= {LYW{1'b0}};
            kv_lbase_reg   <= kv_sbase_reg;
            rope_base_reg  <= rope_base32[ROPE_AW-1:0];
            mv_rewind      <= 1'b1;
            lora_ptr_reset <= 1'b1;
            wait_reg       <= 5'd0;
        end

        // the engines take a round (S_ATT, or S_KVW's last cycle): the next one's head
        if (att_start && att_ready && !att_last_head) begin
            head_reg  <= head_reg + 1'b1;
            hbase_reg <= hbase_reg + HD_I;
            if (grp_reg + 1 >= GROUP_I) begin
                grp_reg      <= 32'd0;
                att_base_reg <= att_base_reg + CTX_I[KV_AW-1:0];
            end else begin
                grp_reg <= grp_reg + 1'b1;
            end
        end

        case (state_reg)
            S_IDLE: begin
                if (CHIP_FIRST == 0) begin
                    // a chip after the first runs a token per frame (the first chip's START
                    // started the run); the header word is taken now
                    if (chain_rx_valid) begin
                        cls_reg        <= chain_rx_data[0];
                        seed_flag_reg  <= chain_rx_data[1];
                        busy_reg       <= 1'b1;
                        done_reg       <= 1'b0;
                        lora_run_reg   <= lora_enable_reg[rx_dev32];
                        run_stream_reg <= rx_stream;
                        kv_sbase_reg   <= rx_kv_sbase32[KV_AW-1:0];
                        lora_sbase_reg <= rx_lora_sbase32[LORA_AW-1:0];
                        state_reg      <= S_RX_POS;
                    end
                end else if (cmd_start && !busy_reg) begin
                    err_context_reg  <= 1'b0;
                    err_token_reg    <= 1'b0;
                    err_prompt_reg   <= 1'b0;
                    err_overflow_reg <= 1'b0;
                    done_reg         <= 1'b0;
                    if (start_no_prompt_q) begin
                        err_prompt_reg <= 1'b1;
                    end else if (start_past_ctx_q) begin
                        err_context_reg <= 1'b1;
                    end else begin
                        busy_reg         <= 1'b1;
                        prompt_left_reg  <= prompt_len_reg;
                        gen_left_reg     <= max_new_reg;
                        tokens_done_reg  <= 32'd0;
                        cycles_total_reg <= 32'd0;
                        seed_load        <= 1'b1;
                        seed_flag_reg    <= 1'b1;
                        lora_run_reg     <= lora_enable_reg[sel_dev32];
                        run_stream_reg   <= stream_sel_reg;
                        pos_reg          <= sel_pos;
                        kv_sbase_reg     <= kv_sbase32[KV_AW-1:0];
                        lora_sbase_reg   <= lora_sbase32[LORA_AW-1:0];
                        state_reg        <= S_FETCH;
                    end
                end
            end

            S_FETCH: begin
                // the next input token: a prompt token, or the last sampled one
                if (prompt_left_reg != 32'd0) begin
                    if (pf_valid && !pf_pop) begin
                        pf_pop          <= 1'b1;
                        tok_reg         <= pf_data;
                        prompt_left_reg <= prompt_left_reg - 1'b1;
                        cls_reg         <= (prompt_left_reg == 32'd1) && (gen_left_reg != 32'd0);
                        state_reg       <= S_EMB;
                    end
                end else begin
                    tok_reg   <= sampled_reg;
                    cls_reg   <= 1'b1;
                    state_reg <= S_EMB;
                end
            end

            S_RX_POS: begin
                if (chain_rx_valid) begin
                    pos_reg   <= chain_rx_data[PW-1:0];
                    seed_load <= (CHIP_LAST != 0) && cls_reg && seed_flag_reg;
                    state_reg <= S_RX_BEGIN;
                end
            end

            S_RX_BEGIN: begin
                // token_begin: the token's KV and RoPE bases from pos_reg
                chain_idx_reg <= 32'd0;
                state_reg     <= S_RX_RES;
            end

            S_RX_RES: begin
                // element chain_idx_reg is written this cycle (chain_res_we); the attention
                // rmsnorm starts after the last
                if (chain_rx_valid) begin
                    chain_idx_reg <= chain_idx_reg + 1'b1;
                    if (chain_idx_reg + 1 >= D_I) begin
                        norm_sel_reg <= 2'd0;
                        norm_start   <= 1'b1;
                        state_reg    <= S_NORM_W;
                    end
                end
            end

            S_TX: begin
                // chain_tx_valid is high in this state
                if (chain_tx_ready) begin
                    chain_idx_reg <= chain_idx_reg + 1'b1;
                    if (chain_idx_reg + 1 >= CHAIN_WORDS) begin
                        if (cls_reg) begin
                            seed_flag_reg <= 1'b0;
                        end
                        if (CHIP_FIRST != 0 && cls_reg) begin
                            chain_idx_reg <= 32'd0;
                            state_reg     <= S_RX_TOK;
                        end else if (CHIP_FIRST != 0) begin
                            cycles_last_reg <= cycles_tok_reg + 1'b1;
                            state_reg       <= (prompt_left_reg != 32'd0) ? S_FETCH : S_FINISH;
                        end else begin
                            cycles_last_reg <= cycles_tok_reg + 1'b1;
                            busy_reg        <= 1'b0;
                            state_reg       <= S_IDLE;
                        end
                    end
                end
            end

            S_RX_TOK: begin
                // the first chip of a chain: the last chip's token frame, word 1 the token
                if (chain_rx_valid) begin
                    chain_idx_reg <= chain_idx_reg + 1'b1;
                    if (chain_idx_reg == 32'd1) begin
                        sampled_reg <= chain_rx_data[TOKW-1:0];
                    end
                    if (chain_idx_reg + 1 >= CHAIN_WORDS) begin
                        state_reg <= S_EMIT;
                    end
                end
            end

            S_EMB: begin
                // the attention rmsnorm starts with the embedding and trails its writes
                if ({{(32-TOKW){1'b0}}, tok_reg} >= V_I) begin
                    // a bad token id ends the run
                    err_token_reg <= 1'b1;
                    pf_clear      <= 1'b1;
                    state_reg     <= S_FINISH;
                end else begin
                    norm_sel_reg <= 2'd0;
                    norm_start   <= 1'b1;
                    state_reg    <= S_NORM_W;
                end
            end

            S_NORM: begin
                norm_start <= 1'b1;
                state_reg  <= S_NORM_W;
            end

            S_NORM_W: begin
                // the first matrix starts while the scale pass still writes xn: its x
                // reads (one VPL word per cycle) trail the writes (hw_rmsnorm soon).
                // A LoRA delta reads all of xn first: wait for done.
                if (norm_done || (norm_soon && !norm_lora)) begin
                    if (norm_sel_reg == 2'd2) begin
                        mv_tag_reg  <= T_WCLS;
                        mv_last_reg <= T_WCLS;
                    end else if (norm_sel_reg == 2'd1) begin
                        mv_tag_reg  <= T_W1;
                        mv_last_reg <= T_W3;
                    end else begin
                        mv_tag_reg  <= T_WQ;
                        mv_last_reg <= T_WV;
                    end
                    cls_pass_reg <= {LG_AW{1'b0}};
                    state_reg    <= S_MV_NEXT;
                end
            end

            S_MV_NEXT: begin
                if (lora_pass(lora_run_reg, mv_tag_reg)) begin
                    state_reg <= S_LORA_W;
                end else begin
                    state_reg <= S_MV_START;
                end
            end

            S_LORA_W: begin
                // the delta store is shared: the previous matrix must be written back
                if (mv_idle) begin
                    lora_start <= 1'b1;
                    state_reg  <= S_MV_LORA;
                end
            end

            S_MV_LORA: begin
                if (lora_done) begin
                    state_reg <= S_MV_START;
                end
            end

            S_MV_START: begin
                if (mv_start && mv_ready) begin
                    if (mv_tag_reg == T_WO || mv_tag_reg == T_W2) begin
                        res_ready_reg <= 32'd0;
                    end
                    if (mv_tag_reg == T_W1) begin
                        h3_ready_reg <= 32'd0;
                    end
                    if (mv_tag_reg == T_WQ) begin
                        q_ready_reg <= 32'd0;
                        k_ready_reg <= 32'd0;
                        rp_reg      <= {RPW{1'b0}};
                        rope_is_k_reg <= (D_I / 2 == 0);
                        rope_e_reg    <= 32'd0;
                        rope_need_reg <= 2 * ROPE_W;
                        rope_last_reg <= (ROPE_W >= (D_I + KVD_I) / 2);
                        ri_reg      <= {HDIW{1'b0}};
                        rope_issue  <= 1'b1;
                    end
                    // T_W3: hw_silu_stage starts (silu_begin)
                    if (mv_tag_reg == T_WCLS) begin
                        lg_ready_reg <= {(LG_AW+1){1'b0}};
                    end
                    if (mv_tag_reg == T_WO) begin
                        // the ffn rmsnorm trails the residual writes of wo
                        norm_sel_reg <= 2'd1;
                        state_reg    <= S_NORM;
                    end else if (mv_tag_reg == T_W2) begin
                        state_reg <= S_LAYER;
                    end else if (mv_tag_reg == T_WCLS) begin
                        // the sampler trails the classifier's logit words
                        state_reg <= S_SAMPLE;
                    end else if (mv_tag_reg == T_W3 && !lora_pass(lora_run_reg, T_W2)) begin
                        // w2 follows W2_WAIT cycles later (S_SILU), its x reads trailing the gate
                        mv_tag_reg  <= T_W2;
                        mv_last_reg <= T_W2;
                        w2_wait_reg <= W2_WAIT;
                        state_reg   <= S_SILU;
                    end else if (mv_tag_reg == mv_last_reg) begin
                        state_reg <= S_MV_DRAIN;
                    end else begin
                        mv_tag_reg <= mv_tag_reg + 1'b1;
                        state_reg  <= S_MV_NEXT;
                    end
                end
            end

            S_MV_DRAIN: begin
                if (mv_last_reg == T_WV) begin
                    // k, v into the cache in the cycle after the last v rows and RoPE's
                    // last k pair are written (S_KVW)
                    if (mv_flush && rope_done) begin
                        kvh_reg      <= 32'd0;
                        kvw_addr_reg <= kvw_base32[KV_AW-1:0];
                        kvw_en       <= 1'b1;
                        head_reg     <= 32'd0;
                        hbase_reg    <= 32'd0;
                        grp_reg      <= 32'd0;
                        att_base_reg <= kv_lbase_reg;
                        state_reg    <= S_KVW;
                    end
                end else if (mv_idle) begin
                    case (mv_last_reg)
                        T_W3: begin
                            state_reg <= S_SILU;
                        end
                        default: begin
                            state_reg <= S_IDLE;    // wo, w2 and wcls do not drain here
                        end
                    endcase
                end
            end

            S_KVW: begin
                // kv head kvh_reg is written this cycle (kvw_en is high); with the last
                // one att_start is high already (S_ATT's work below)
                kvw_addr_reg <= kvw_addr_reg + CTX_I[KV_AW-1:0];
                kvh_reg      <= kvh_reg + 1'b1;
                if (!kvw_last) begin
                    kvw_en <= 1'b1;
                end else begin
                    state_reg <= (att_ready && att_last_head) ? S_ATT_W : S_ATT;
                end
            end

            S_ATT: begin
                // att_start is high in this state: the attention takes this head's q,
                // base and tag when it is ready (the last head still divides or writes)
                if (att_ready && att_last_head) begin
                    state_reg <= S_ATT_W;
                end
            end

            S_ATT_W: begin
                // wo starts once its x reads trail the last head's output writes
                // (att_tail_go); a LoRA delta on wo reads all of att first
                if (!att_busy || (att_tail_go && !lora_pass(lora_run_reg, T_WO))) begin
                    mv_tag_reg  <= T_WO;
                    mv_last_reg <= T_WO;
                    state_reg   <= S_MV_NEXT;
                end
            end

            S_SILU: begin
                // the gate started with w3 and trails its rows: w2 is taken W2_WAIT
                // cycles after w3 (w2_delay after w3's last word), or with a LoRA delta
                // on w2 once the last gate is written
                if (lora_pass(lora_run_reg, T_W2)) begin
                    if (!silu_issue && wait_reg == 5'd0) begin
                        mv_tag_reg  <= T_W2;
                        mv_last_reg <= T_W2;
                        state_reg   <= S_MV_NEXT;
                    end
                end else if (w2_wait_reg <= 32'd1) begin
                    state_reg <= S_MV_START;
                end
                w2_wait_reg <= w2_wait_reg - 1'b1;
            end

            S_LAYER: begin
                if ({{(32-LYW){1'b0}}, layer_reg} + 1 >= L_I) begin
                    // the token is in the KV cache
                    pos_reg <= pos_reg + 1'b1;
                    stream_pos[run_stream_reg] <= pos_reg + 1'b1;
                    if (cls_reg && CHIP_LAST != 0) begin
                        norm_sel_reg <= 2'd2;
                        state_reg    <= S_NORM;
                    end else begin
                        state_reg <= S_TOKEN_END;   // a chip before the last sends the residual on
                    end
                end else begin
                    layer_reg    <= layer_reg + 1'b1;
                    kv_lbase_reg <= kv_lbase_reg + KV_LSTEP[KV_AW-1:0];
                    norm_sel_reg <= 2'd0;
                    state_reg    <= S_NORM;
                end
            end

            S_TOKEN_END: begin
                // a prompt token without sampling, or a chip before the last: w2 must be
                // written back first
                if (mv_idle) begin
                    if (CHIP_LAST == 0) begin
                        chain_idx_reg <= 32'd0;
                        state_reg     <= S_TX;
                    end else if (CHIP_FIRST == 0) begin
                        cycles_last_reg <= cycles_tok_reg + 1'b1;
                        busy_reg        <= 1'b0;
                        state_reg       <= S_IDLE;
                    end else begin
                        cycles_last_reg <= cycles_tok_reg + 1'b1;
                        state_reg       <= (prompt_left_reg != 32'd0) ? S_FETCH : S_FINISH;
                    end
                end
            end

            S_SAMPLE: begin
                smp_start <= 1'b1;
                state_reg <= S_SAMPLE_W;
            end

            S_SAMPLE_W: begin
                if (smp_done) begin
                    sampled_reg <= smp_token;
                    if (CHIP_FIRST != 0) begin
                        state_reg <= S_EMIT;
                    end else begin
                        chain_idx_reg <= 32'd0;     // the token goes back to the first chip
                        state_reg     <= S_TX;
                    end
                end
            end

            S_EMIT: begin
                // wait while the output FIFO is full
                if (!of_full && !of_push) begin
                    of_push         <= 1'b1;
                    tokens_done_reg <= tokens_done_reg + 1'b1;
                    gen_left_reg    <= gen_left_reg - 1'b1;
                    cycles_last_reg <= cycles_tok_reg + 1'b1;
                    if (emit_last) begin
                        wait_reg  <= 5'd3;          // the token reaches the ring (TOKEN_COUNT) first
                        state_reg <= S_FINISH;
                    end else if (prompt_left_reg == 32'd0) begin
                        // the next token is this one: S_FETCH's work here (token_begin)
                        tok_reg   <= sampled_reg;
                        cls_reg   <= 1'b1;
                        state_reg <= S_EMB;
                    end else begin
                        state_reg <= S_FETCH;
                    end
                end
            end

            S_FINISH: begin
                if (wait_reg == 5'd0) begin
                    busy_reg  <= 1'b0;
                    done_reg  <= 1'b1;
                    state_reg <= S_IDLE;
                end
            end

            default: state_reg <= S_IDLE;
        endcase

        if (push_prompt && pf_full) begin
            err_overflow_reg <= 1'b1;
        end
        if (cmd_abort) begin
            state_reg  <= S_IDLE;
            busy_reg   <= 1'b0;
            done_reg   <= busy_reg || done_reg;
            rope_issue <= 1'b0;
            kvw_en     <= 1'b0;
            pf_clear   <= 1'b1;
            // the start pulses the sequencer registered in this very cycle (S_EMB, S_NORM,
            // S_LORA_W, S_SAMPLE): the units see soft_rst now and would see the pulse next
            // cycle, start a pass for a run that no longer exists and still be at it when the
            // next run starts (the rmsnorm then scales that run's first vector with the aborted
            // pass's gains: wrong tokens, no error). RESET_STATE resets no unit while idle.
            norm_start <= 1'b0;
            lora_start <= 1'b0;
            smp_start  <= 1'b0;
            res_inc_reg <= 32'd0;       // the residual write in flight is dropped (res_wv)
        end
        if (cmd_reset) begin
            pos_reg          <= {PW{1'b0}};
            stream_pos[stream_sel_reg] <= {PW{1'b0}};
            done_reg         <= 1'b0;
            err_context_reg  <= 1'b0;
            err_token_reg    <= 1'b0;
            err_prompt_reg   <= 1'b0;
            err_overflow_reg <= 1'b0;
            pf_clear         <= 1'b1;
            of_clear         <= 1'b1;
        end
        if (rst) begin
            state_reg        <= S_IDLE;
            busy_reg         <= 1'b0;
            done_reg         <= 1'b0;
            err_context_reg  <= 1'b0;
            err_token_reg    <= 1'b0;
            err_prompt_reg   <= 1'b0;
            err_overflow_reg <= 1'b0;
            pos_reg          <= {PW{1'b0}};
            for (si = 0; si < STREAMS; si = si + 1) begin
                stream_pos[si] <= {PW{1'b0}};
            end
            run_stream_reg   <= {SW{1'b0}};
            kv_sbase_reg     <= {KV_AW{1'b0}};
            lora_sbase_reg   <= {LORA_AW{1'b0}};
            rope_issue       <= 1'b0;
            layer_reg        <= {LYW{1'b0}};
            cycles_tok_reg   <= 32'd0;
            cycles_last_reg  <= 32'd0;
            cycles_total_reg <= 32'd0;
            tokens_done_reg  <= 32'd0;
            sampled_reg      <= {TOKW{1'b0}};
            seed_flag_reg    <= 1'b0;
            chain_idx_reg    <= 32'd0;
            mv_tag_reg       <= T_WQ;
            lora_run_reg     <= 1'b0;
        end
    end

    // matvec and attention starts are levels held until accepted
    always @* begin
        mv_start  = (state_reg == S_MV_START);
        att_start = (state_reg == S_ATT) || (state_reg == S_KVW && kvw_last);
    end

    // ================================================================ debug window
    wire [31:0] dbg_data;
    wire [31:0] dbg_word32, dbg_lgw32;          // the KV cache / logit RAM word it reads
    assign lg_rd_addr = smp_busy ? smp_lg_addr : dbg_lgw32[LG_AW-1:0];

    hw_debug_window #(
        .D(D),
        .KVD(KVD),
        .HD(HD),
        .QW(QKW),
        .LANES(LANES),
        .VECTORS(DBG_VECTORS),
        .IW(DIW),
        .KIW(KVIW),
        .HDIW(HDIW),
        .LNW(LNW)
    ) debug_window (
        .clk(clk),
        .addr(dbg_addr_reg),
        .index(dbg_vb_start),
        .kv_word(dbg_word32),
        .logit_word(dbg_lgw32),
        .res(res_rd[2*RES_R*16 +: 16]),
        .xn(xn_rd[2*VB_R*8 +: 8]),
        .att(att_rd[2*VB_R*8 +: 8]),
        .h1(h1_rd[2*VB_R*8 +: 8]),
        .h3(h3_rd[2*VB_R*8 +: 8]),
        .q(qb_flat),
        .k(kb_flat),
        .v(vb_flat),
        .kv_k(kv_k),
        .kv_v(kv_v),
        .logits(logit_q),
        .lora(lora_dbg_data),
        .data(dbg_data)
    );

    // ================================================================ register reads
    wire [31:0] status = {24'd0, err_overflow_reg, err_prompt_reg, err_token_reg, err_context_reg,
                          pf_full, of_valid, done_reg, busy_reg};

    reg [31:0] reg_rdata_q;
    reg        rd_me_q;                     // the read was this context's (always, with one context)
    assign reg_rdata = ((CONTEXTS > 1) && !rd_me_q) ? 32'd0 : tok_sel_q ? tok_rd_word : reg_rdata_q;

    always @(posedge clk) begin
        if (reg_rd) begin
            rd_me_q <= sel_me;
        end
        if (reg_rd_me) begin
            tok_sel_q <= win_sel || (reg_addr == R_TOKEN_POP);
            case (reg_addr)
                R_MAGIC:        reg_rdata_q <= MAGIC_VALUE;
                R_GEN_VERSION:  reg_rdata_q <= GEN_VERSION;
                R_STATUS:       reg_rdata_q <= status;
                R_PROMPT_PUSH:  reg_rdata_q <= {{(32-PFW){1'b0}}, pf_count};
                R_TOKEN_ACK:    reg_rdata_q <= tok_ack;
                R_TOKEN_COUNT:  reg_rdata_q <= tok_count;
                // the UART bridge answers these itself (hw_uart_bridge.v); over AXI they read 0
                R_LINK_CAPS, R_STREAM_CTRL, R_CHAIN_SEL,
                R_CHAIN_REMOTE, R_CHAIN_REMOTE_DATA: reg_rdata_q <= 32'd0;   // hw_chain_bus: a chain's first chip
                R_CHAIN:        reg_rdata_q <= {8'd0, LAYER_BASE[7:0], CHIP_COUNT[7:0], CHIP_INDEX[7:0]};
                R_PROMPT_LEN:   reg_rdata_q <= prompt_len_reg;
                R_MAX_NEW:      reg_rdata_q <= max_new_reg;
                R_INV_TEMP_Q8:  reg_rdata_q <= {16'd0, inv_temp_reg};
                R_TOP_K:        reg_rdata_q <= top_k_reg;
                R_SEED:         reg_rdata_q <= seed_reg;
                R_STOP_TOKEN:   reg_rdata_q <= stop_token_reg;
                R_POSITION:     reg_rdata_q <= {{(32-PW){1'b0}}, sel_pos};
                R_STREAM_SEL:   reg_rdata_q <= sel_dev32;
                R_STREAMS:      reg_rdata_q <= NSTREAMS;
                R_CONTEXTS:     reg_rdata_q <= CONTEXTS;
                R_RNG_STATE:    reg_rdata_q <= rng_state;
                R_CYCLES_LAST_TOKEN: reg_rdata_q <= cycles_last_reg;
                R_TOKENS_DONE:  reg_rdata_q <= tokens_done_reg;
                R_CYCLES_TOTAL: reg_rdata_q <= cycles_total_reg;
                R_LORA_ADDR:    reg_rdata_q <= {{(32-LORA_GAW){1'b0}}, lora_addr_reg};
                R_LORA_ENABLE:  reg_rdata_q <= {{(32-NSTREAMS){1'b0}}, lora_enable_reg};
                R_DBG_ADDR:     reg_rdata_q <= dbg_addr_reg;
                R_DBG_DATA:     reg_rdata_q <= dbg_data;
                R_DIM:          reg_rdata_q <= D_I;
                R_HIDDEN:       reg_rdata_q <= H_I;
                R_LAYERS:       reg_rdata_q <= L_I;
                R_HEADS:        reg_rdata_q <= NH_I;
                R_KV_HEADS:     reg_rdata_q <= NKV_I;
                R_VOCAB:        reg_rdata_q <= V_I;
                R_CONTEXT:      reg_rdata_q <= CTX_I;
                R_LANES:        reg_rdata_q <= LANES_I;
                R_VPL:          reg_rdata_q <= VPL_I;
                R_BITS:         reg_rdata_q <= (BITS_EMB & 255) | ((BITS_ATT & 255) << 8)
                                             | ((BITS_MLP & 255) << 16) | ((BITS_CLS & 255) << 24);
                R_LORA_RANK:    reg_rdata_q <= LORA_ON ? LORA_RANK : 0;
                R_LORA_TARGETS: reg_rdata_q <= LORA_ON ? {25'd0, LORA_MASK} : 32'd0;
                R_K_MAX:        reg_rdata_q <= K_MAX;
                R_PROMPT_DEPTH: reg_rdata_q <= PDEPTH + 1;
                R_OUT_DEPTH:    reg_rdata_q <= OUT_DEPTH;
                R_LORA_WORDS:   reg_rdata_q <= LORA_WORDS;
                R_ATT_ENGINES:  reg_rdata_q <= ATT_E;
                default:        reg_rdata_q <= (reg_addr >= R_FINGERPRINT && reg_addr < R_FINGERPRINT + R_FINGERPRINT_WORDS)
                                             ? fingerprint[32*reg_addr[2:0] +: 32] : 32'd0;
            endcase
        end
    end

    wire unused_ok = &{1'b0, q_ready_reg[31:RDY_W], k_ready_reg[31:RDY_W], rope_need_reg[31:RDY_W], wsel_local, wsel_ctx, lora_l, rx_dev32, lora_mine, lora_local_addr, kv_sbase32, lora_sbase32, rx_kv_sbase32, rx_lora_sbase32, layer_a32, mv_out_last, att_tag32, hbase_reg[31:DIW], layer_q[95:75], mv_x_req, norm_busy, lora_busy, dbg_word32, dbg_lgw32,
                       rope_addr32, mv_rows32, mv_cols32, rope_base32,
                       lora_in32, lora_out32, kvw_base32};

endmodule

`resetall
