`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_rope: the RoPE datapath, W pairs a cycle (consecutive pairs of one head: their cos/sin
// are consecutive words of rope.hex, {sin, cos} in Q2.14 per position and pair), so that RoPE
// keeps up with the q and k rows of a wide matrix engine instead of holding attention back.
// The sequencer (hw_core) decides when a group goes; this unit reads its pairs out of q or k,
// rotates them (hw_rope_pair, hw/numerics.py rope) and says where they go back.
//
// go (with is_k, e: the group's first element 2p within q or k, a multiple of 2W, and addr:
// its first pair's ROM word, a multiple of W) -> ROM and q / k read (1) -> registered again
// (2: the ROM's output straight into the multipliers was ~18 ns by hw.backends.ecp5_timing)
// -> hw_rope_pair (2), 4 in all: out_valid with pair j's rotated elements at a_out / b_out [QW*j +: QW],
// and the write enables q_we_a[e*W + j] (element e of q takes pair j's a_out), q_we_b (its
// b_out), k_we_a, k_we_b: decoded a stage before the outputs, so that the element compares
// are not in the write cycle of every q / k enable (once one of the design's longest paths).
module hw_rope #(
    parameter D       = 64,                 // q width
    parameter KVD     = 32,                 // k width
    parameter CTX     = 512,                // positions in rope.hex
    parameter HALF    = 4,                  // pairs per head
    parameter W       = 1,                  // pairs per cycle: 1, or 2 (HALF even)
    parameter QW      = 8,                  // bits of a q / k element: 8, or 16
    parameter ROM_DIR = "rom",
    parameter IW      = $clog2(D),          // index into q
    parameter KIW     = (KVD > 1) ? $clog2(KVD) : 1,    // index into k
    parameter AW      = (CTX * HALF > 1) ? $clog2(CTX * HALF) : 1,
    parameter LATENCY = 4                   // go -> out: hardwire_arch.vh ROPE_LATENCY, the data
                                            // path's stages (the k / e pipeline is this long)
) (
    input  wire              clk,
    input  wire              rst,           // synchronous: nothing more comes out
    input  wire              go,
    input  wire              is_k,
    input  wire [31:0]       e,
    input  wire [31:0]       addr,
    input  wire [D*QW-1:0]   q,             // element i at [QW*i +: QW]
    input  wire [KVD*QW-1:0] k,
    output wire              out_valid,
    output wire [W*QW-1:0]   a_out,
    output wire [W*QW-1:0]   b_out,
    output reg  [D*W-1:0]    q_we_a,
    output reg  [D*W-1:0]    q_we_b,
    output reg  [KVD*W-1:0]  k_we_a,
    output reg  [KVD*W-1:0]  k_we_b
);

    (* rom_style = "block" *)
    reg [31:0]      rope_rom [0:CTX*HALF-1];    // {sin, cos} Q2.14
    initial begin
        $readmemh({ROM_DIR, "/rope.hex"}, rope_rom);
    end

    reg [W*32-1:0]  cs1, cs2;                   // pair j's {sin, cos} at [32j +: 32]
    reg [W*QW-1:0]  a1, b1, a2, b2;             // pair j's elements at [QW*j +: QW]
    reg             v1, v2;
    reg             kp [1:LATENCY-1];           // the group's q / k and first element, beside the data
    reg [IW-1:0]    ep [1:LATENCY-1];
    integer st;
    wire            k_last = kp[LATENCY-1];
    wire [IW-1:0]   e_last = ep[LATENCY-1];
    wire [W-1:0]    valid_w;
    assign out_valid = valid_w[0];

    genvar gr;
    generate
        for (gr = 0; gr < W; gr = gr + 1) begin : g_read
            // e is a multiple of 2W and addr of W: the pairs' elements and addresses are ORs,
            // no adders before the multiplexers
            wire [31:0] ej = e | (2 * gr);
            wire [31:0] oj = ej | 32'd1;
            wire [31:0] aj = addr | gr;
            always @(posedge clk) begin
                cs1[32*gr +: 32] <= rope_rom[aj[AW-1:0]];
                a1[QW*gr +: QW]  <= is_k ? k[QW*ej[KIW-1:0] +: QW] : q[QW*ej[IW-1:0] +: QW];
                b1[QW*gr +: QW]  <= is_k ? k[QW*oj[KIW-1:0] +: QW] : q[QW*oj[IW-1:0] +: QW];
            end
            wire unused_idx = &{1'b0, ej, oj, aj};
        end
    endgenerate

    always @(posedge clk) begin
        v1  <= go;
        v2  <= v1;
        a2  <= a1;
        b2  <= b1;
        cs2 <= cs1;
        kp[1] <= is_k;
        ep[1] <= e[IW-1:0];
        for (st = 2; st < LATENCY; st = st + 1) begin
            kp[st] <= kp[st-1];
            ep[st] <= ep[st-1];
        end
        if (rst) begin
            v1 <= 1'b0;
            v2 <= 1'b0;
        end
    end

    generate
        for (gr = 0; gr < W; gr = gr + 1) begin : g_pair
            hw_rope_pair #(
                .XW(QW)
            ) rope (
                .clk(clk),
                .rst(rst),
                .in_valid(v2),
                .a(a2[QW*gr +: QW]),
                .b(b2[QW*gr +: QW]),
                .c(cs2[32*gr +: 16]),
                .s(cs2[32*gr+16 +: 16]),
                .out_valid(valid_w[gr]),
                .a_out(a_out[QW*gr +: QW]),
                .b_out(b_out[QW*gr +: QW])
            );
        end
    endgenerate
    wire unused_valid = &{1'b0, valid_w};

    integer ei, rw;
    always @(posedge clk) begin
        for (ei = 0; ei < D; ei = ei + 1) begin
            for (rw = 0; rw < W; rw = rw + 1) begin
                q_we_a[ei*W + rw] <= !k_last && {{(32-IW){1'b0}}, e_last} + 2 * rw == ei;
                q_we_b[ei*W + rw] <= !k_last && {{(32-IW){1'b0}}, e_last} + 2 * rw + 1 == ei;
            end
        end
        for (ei = 0; ei < KVD; ei = ei + 1) begin
            for (rw = 0; rw < W; rw = rw + 1) begin
                k_we_a[ei*W + rw] <= k_last && {{(32-IW){1'b0}}, e_last} + 2 * rw == ei;
                k_we_b[ei*W + rw] <= k_last && {{(32-IW){1'b0}}, e_last} + 2 * rw + 1 == ei;
            end
        end
    end

endmodule

`resetall
