`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_silu_stage: the SwiGLU gate of a layer, g = silu_gate(h1, h3) for the H hidden units
// (hw_silu_gate, hw/numerics.py silu_gate), W gates a cycle: enough to keep up with w3's rows
// (LANES per pass of ceil(D / VPL) words), so the gate trails w3 by its pipeline only.
//
// start (with the layer and its requantizer m, sh; w3 starts in the same cycle) -> each group
// of W units issues once its h3 rows are written (h3_ready, counted by the core from 0 at
// w3's start): rd_start says which elements of h1 and h3 the core's vector buffers show at
// h1 / h3 a cycle later (their read port registers the bank words: hw_vecbuf REG_PORTS), they
// are registered, and LATENCY cycles after its issue (the buffers' read, that register and
// hw_silu_gate's 6)
// the group's gates are at `out` (unit out_idx + j at [8j +: 8]) for the core to write over
// h1. `issuing` stays high until the last group has issued (`last_go` in that cycle).
// rst stops it at any cycle.
module hw_silu_stage #(
    parameter H       = 172,            // hidden units
    parameter W       = 1,              // gates per cycle (<= H)
    parameter L       = 5,              // layers (a SiLU table each, ROM_DIR/silu.hex)
    parameter LYW     = (L > 1) ? $clog2(L) : 1,
    parameter IW      = $clog2(H),      // index into H
    parameter ROM_DIR = "rom",
    parameter LATENCY = 8               // issue -> out: hardwire_arch.vh SILU_LATENCY, the data path's
                                        // stages (the index pipeline is this long)
) (
    input  wire            clk,
    input  wire            rst,         // synchronous: stop issuing, nothing more comes out
    input  wire            start,
    // layer, m, sh: taken at start (the gate may outlive its layer: w2 starts early)
    input  wire [LYW-1:0]  layer,
    input  wire [14:0]     m,
    input  wire [5:0]      sh,
    input  wire [31:0]     h3_ready,    // h3 rows written
    output wire [31:0]     rd_start,    // first element of the group read now
    input  wire [W*8-1:0]  h1,          // h1[rd_start + j] at [8j +: 8]
    input  wire [W*8-1:0]  h3,
    output reg             issuing,
    output wire            last_go,     // the last group issues
    output wire            out_valid,
    output wire [IW-1:0]   out_idx,
    output wire [W*8-1:0]  out
);

    localparam integer H_I = H;

    reg  [IW:0]       si_reg;           // first unit of the group to issue
    reg  [LYW-1:0]    layer_reg;
    reg  [14:0]       m_reg;
    reg  [5:0]        sh_reg;
    // the rows the next group needs, min(si_reg + W, H), and whether it is the last group
    // are registered with si_reg (worked out from the step before), so `go` is one
    // comparison: the adders in front of it were a long path
    reg  [31:0]       need_reg;
    reg               last_reg;
    wire [31:0]       si_next  = {{(31-IW){1'b0}}, si_reg} + W;
    wire [31:0]       si_next2 = si_next + W;                       // si_next's own si_next
    wire              go = issuing && (need_reg <= h3_ready);
    reg               v0, v1;           // v0: the group's window is being read (h1 / h3 next cycle)
    reg  [W*8-1:0]    a1, b1;
    reg  [IW-1:0]     idx [1:LATENCY];
    localparam NG = (W + 1) / 2;                // gate units (two gates each: g_gate below)
    wire [NG-1:0]     valid_w;
    integer sp;

    assign rd_start  = {{(31-IW){1'b0}}, si_reg};
    assign last_go   = go && last_reg;
    assign out_valid = valid_w[0];
    assign out_idx   = idx[LATENCY];

    always @(posedge clk) begin
        if (go) begin
            si_reg   <= si_next[IW:0];
            need_reg <= (si_next2 > H_I) ? H_I : si_next2;
            last_reg <= (si_next2 >= H_I);
            if (last_reg) begin
                issuing <= 1'b0;
            end
        end
        if (start) begin
            si_reg    <= {(IW+1){1'b0}};
            need_reg  <= (W > H_I) ? H_I : W;
            last_reg  <= (W >= H_I);
            issuing   <= 1'b1;
            layer_reg <= layer;
            m_reg     <= m;
            sh_reg    <= sh;
        end
        v0     <= go;
        v1     <= v0;
        a1     <= h1;
        b1     <= h3;
        idx[1] <= si_reg[IW-1:0];
        for (sp = 2; sp <= LATENCY; sp = sp + 1) begin
            idx[sp] <= idx[sp-1];
        end
        if (rst) begin
            issuing <= 1'b0;
            v0      <= 1'b0;
            v1      <= 1'b0;
        end
    end

    // two gates a hw_silu_gate: one table copy (block RAM) serves both through its two ports
    genvar gs;
    generate
        for (gs = 0; gs < NG; gs = gs + 1) begin : g_gate
            localparam integer NI = (2 * gs + 2 <= W) ? 2 : 1;      // the last takes one when W is odd
            hw_silu_gate #(
                .LAYERS(L),
                .LW(LYW),
                .TABLE_FILE({ROM_DIR, "/silu.hex"}),
                .N(NI)
            ) silu (
                .clk(clk),
                .rst(rst),
                .in_valid(v1),
                .h1(a1[16*gs +: 8*NI]),
                .h3(b1[16*gs +: 8*NI]),
                .layer(layer_reg),
                .m(m_reg),
                .sh(sh_reg),
                .out_valid(valid_w[gs]),
                .g(out[16*gs +: 8*NI])
            );
        end
    endgenerate
    wire unused_ok = &{1'b0, valid_w, si_next[31:IW+1]};

endmodule

`resetall
