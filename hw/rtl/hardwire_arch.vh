// hardwire_arch.vh: the matrices a token walks, as hw_core sees them.
// GENERATED from hw/architecture.py by make regmap (python -m hw.rtlgen.arch_header): do not edit;
// tests/test_architecture.py checks that this file equals what the table gives.
// Included inside hw_core's body, after D_I, KVD_I, H_I, V_I and the GROUP_* parameters.

localparam TAG_W = 3;    // matrix tag bits

// matrix tags: the walk order of a layer, then the classifier
localparam [TAG_W-1:0] T_WQ     = 3'd0;   // attention, dim x dim, times xn
localparam [TAG_W-1:0] T_WK     = 3'd1;   // attention, kv_dim x dim, times xn
localparam [TAG_W-1:0] T_WV     = 3'd2;   // attention, kv_dim x dim, times xn
localparam [TAG_W-1:0] T_WO     = 3'd3;   // attention, dim x dim, times att
localparam [TAG_W-1:0] T_W1     = 3'd4;   // mlp, hidden_dim x dim, times xn
localparam [TAG_W-1:0] T_W3     = 3'd5;   // mlp, hidden_dim x dim, times xn
localparam [TAG_W-1:0] T_W2     = 3'd6;   // mlp, dim x hidden_dim, times gate
localparam [TAG_W-1:0] T_WCLS   = 3'd7;   // classifier, vocab_size x dim, times xn

// rows (outputs) and columns (inputs) of the matrix tagged `tag`
function [31:0] mat_rows;
    input [TAG_W-1:0] tag;
    begin
        case (tag)
            T_WQ: mat_rows = D_I;
            T_WK: mat_rows = KVD_I;
            T_WV: mat_rows = KVD_I;
            T_WO: mat_rows = D_I;
            T_W1: mat_rows = H_I;
            T_W3: mat_rows = H_I;
            T_W2: mat_rows = D_I;
            T_WCLS: mat_rows = V_I;
            default: mat_rows = D_I;
        endcase
    end
endfunction
function [31:0] mat_cols;
    input [TAG_W-1:0] tag;
    begin
        case (tag)
            T_WQ: mat_cols = D_I;
            T_WK: mat_cols = D_I;
            T_WV: mat_cols = D_I;
            T_WO: mat_cols = D_I;
            T_W1: mat_cols = D_I;
            T_W3: mat_cols = D_I;
            T_W2: mat_cols = H_I;
            T_WCLS: mat_cols = D_I;
            default: mat_cols = D_I;
        endcase
    end
endfunction

// lane ROM group of each tag, 2 bits a tag (tag 0 lowest): its weight class's group
localparam [15:0] TAG_GROUP = {GROUP_CLS[1:0], GROUP_MLP[1:0], GROUP_MLP[1:0], GROUP_MLP[1:0], GROUP_ATT[1:0], GROUP_ATT[1:0], GROUP_ATT[1:0], GROUP_ATT[1:0]};

// pipeline latency of the element units: issue -> result at the unit's outputs (cycles)
localparam integer EMB_LATENCY    = 5;   // hw_embedding: emb.hex read, its register, hw_rq (3)
localparam integer ROPE_LATENCY   = 4;   // hw_rope: cos/sin and q / k read, their register, hw_rope_pair (2)
localparam integer SILU_LATENCY   = 8;   // hw_silu_stage: h1 / h3 banks registered (hw_vecbuf REG_PORTS), the window registered, hw_silu_gate (6)
localparam integer H1_WRITE       = 1;   // hw_core: h1's writes registered before its banks (h1_wv): a SiLU gate is readable a cycle later
localparam integer MATVEC_LATENCY = 9;   // hw_matvec: x_req -> out_data: x read, x and ROM registers, products, weighed planes / pair parts, their sum, acc, hw_lane_rq (3)
