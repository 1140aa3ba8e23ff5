`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_debug_window: DBG_ADDR / DBG_DATA (docs/register_map.md, "Debug window"). DBG_ADDR[31:28]
// picks a region, [27:0] an index in it; DBG_DATA (sign-extended) is valid 5 cycles after a
// DBG_ADDR write while the core is idle. Regions: 0 logits, 1 residual, 2 xn, 3 q, 4 k, 5 v,
// 6 attention output, 7 h1 / gate, 8 h3, 9 / 10 the KV cache's k / v (index: word * HD +
// element), 11 the LoRA memory. The core points its block RAMs and vector-buffer debug ports
// at `index`, `kv_word` and `logit_word` and hands their outputs back here.
module hw_debug_window #(
    parameter D         = 64,           // q width
    parameter KVD       = 32,           // k, v width
    parameter HD        = 8,            // head dimension (KV cache word: HD elements)
    parameter QW        = 8,            // bits of a q / k element and a cached key: 8, or 16
    parameter LANES     = 16,           // logits per logit RAM word
    parameter VECTORS   = 1,            // 0: regions 1-8 read 0 (board builds: their D:1
                                        // multiplexers across the core cost routing)
    parameter IW        = $clog2(D),
    parameter KIW       = (KVD > 1) ? $clog2(KVD) : 1,
    parameter HDIW      = (HD > 1) ? $clog2(HD) : 1,
    parameter LNW       = (LANES > 1) ? $clog2(LANES) : 1
) (
    input  wire               clk,
    input  wire [31:0]        addr,             // DBG_ADDR
    output wire [31:0]        index,            // its index: the vector buffers' debug read
    output wire [31:0]        kv_word,          // KV cache word of the index
    output wire [31:0]        logit_word,       // logit RAM word of the index
    // what the core reads for it (the buffers' element `index`, the block RAMs' words)
    input  wire signed [15:0] res,
    input  wire [7:0]         xn,
    input  wire [7:0]         att,
    input  wire [7:0]         h1,
    input  wire [7:0]         h3,
    input  wire [D*QW-1:0]    q,                // element i at [QW*i +: QW]
    input  wire [KVD*QW-1:0]  k,
    input  wire [KVD*8-1:0]   v,
    input  wire [QW-1:0]      kv_k,             // KV cache element `index` (two cycles later)
    input  wire [7:0]         kv_v,
    input  wire [LANES*24-1:0] logits,          // logit RAM word logit_word (a cycle later)
    input  wire [31:0]        lora,             // LoRA memory word (three cycles later)
    output reg  [31:0]        data              // DBG_DATA
);

    localparam integer D_I = D, KVD_I = KVD;
    wire [3:0]  region = addr[31:28];
    assign index      = {4'd0, addr[27:0]};
    assign kv_word    = index >> HDIW;
    assign logit_word = index >> LNW;

    function [31:0] sx8;
        input [7:0] x;
        begin
            sx8 = {{24{x[7]}}, x};
        end
    endfunction

    function [31:0] sxq;                // a q / k element, sign-extended
        input [QW-1:0] x;
        begin
            sxq = {{(32-QW){x[QW-1]}}, x};
        end
    endfunction

    reg  [31:0] vec_q, vec_q2, vec_q3;
    reg  [3:0]  region_q, region_q2, region_q3;
    reg  [31:0] sub_q, sub_q2, lg_q2;
    // one 24-bit logit per lane, selected by index (an array: no 24 x index product)
    wire [23:0] logit_words [0:LANES-1];
    wire [23:0] logit = logit_words[sub_q[LNW-1:0]];
    genvar gl;
    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : g_logit_word
            assign logit_words[gl] = logits[24*gl +: 24];
        end
    endgenerate

    always @(posedge clk) begin
        // stage 1: register-array reads (block RAMs read their addresses here too)
        if (VECTORS == 0) begin
            vec_q <= 32'd0;
        end else begin
            case (region)
                4'd1:    vec_q <= {{16{res[15]}}, res};
                4'd2:    vec_q <= sx8(xn);
                4'd3:    vec_q <= (index < D_I)   ? sxq(q[QW*index[IW-1:0] +: QW])  : 32'd0;
                4'd4:    vec_q <= (index < KVD_I) ? sxq(k[QW*index[KIW-1:0] +: QW]) : 32'd0;
                4'd5:    vec_q <= (index < KVD_I) ? sx8(v[8*index[KIW-1:0] +: 8]) : 32'd0;
                4'd6:    vec_q <= sx8(att);
                4'd7:    vec_q <= sx8(h1);
                4'd8:    vec_q <= sx8(h3);
                default: vec_q <= 32'd0;
            endcase
        end
        region_q  <= region;
        sub_q     <= index;
        // stage 2: the logit selected (LUT RAM); the KV banks pick the element of each word
        // they read (hw_att_engines registers it)
        region_q2 <= region_q;
        vec_q2    <= vec_q;
        lg_q2     <= {{8{logit[23]}}, logit};
        // stage 2b: the KV element of the word (hw_att_engines' select among the banks)
        region_q3 <= region_q2;
        vec_q3    <= vec_q2;
        case (region_q2)
            4'd0:    sub_q2 <= lg_q2;
            4'd9:    sub_q2 <= sxq(kv_k);
            4'd10:   sub_q2 <= sx8(kv_v);
            default: sub_q2 <= 32'd0;
        endcase
        // stage 3
        case (region_q3)
            4'd0, 4'd9, 4'd10: data <= sub_q2;
            4'd11:             data <= lora;
            default:           data <= vec_q3;
        endcase
    end
    wire unused_ok = &{1'b0, sub_q};

endmodule

`resetall
