// hw_vecbuf: a vector buffer of N elements in G banks of distributed (LUT) RAM.
//
// Element e lives in bank e mod G at address e / G. Up to NW writers store one
// element each per cycle (at distinct banks: consecutive indices, NW <= G), and
// NR read ports each return a window of R consecutive elements (R <= G), read
// asynchronously like a register array; elements past N read 0.
//
// Why: as flip-flops, a buffer is written through a decoder at every element and
// read through an N:1 multiplexer per bit, which spreads across the core and
// was the worst routing congestion of the ECP5 build. In G banks each bank has
// one write port and per read port one small LUT RAM (TRELLIS_DPR16X4 on ECP5,
// RAM32M-style on Xilinx); iCE40 has no LUT RAM and builds it from flip-flops.
// Indices are 32 bits wide; synthesis drops the constant upper bits.
module hw_vecbuf #(
    parameter N  = 176,     // elements
    parameter W  = 8,       // bits per element
    parameter G  = 4,       // banks, a power of two
    parameter NW = 4,       // writers
    parameter NR = 1,       // read ports
    parameter R  = 4,       // elements per read window
    parameter PORTS_ON = -1 // bit p: port p is built; a port left out reads 0
) (
    input  wire              clk,
    input  wire [NW-1:0]     wr_valid,
    input  wire [NW*32-1:0]  wr_idx,      // an index of N or more is not written
    input  wire [NW*W-1:0]   wr_data,
    input  wire [NR*32-1:0]  rd_start,
    output reg  [NR*R*W-1:0] rd_data
);
    localparam GW    = (G > 1) ? $clog2(G) : 1;
    localparam DEPTH = (N + G - 1) / G;
    localparam AW    = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam [31:0] N_I = N;

    // the read port p's word of bank b
    wire [NR*G*W-1:0] bank_q;
    wire unused_start = &{1'b0, rd_start};  // the starts of ports left out

    genvar gb, gp;
    generate
        for (gb = 0; gb < G; gb = gb + 1) begin : g_bank
            (* ram_style = "distributed" *)
            reg [W-1:0] mem [0:DEPTH-1];

            // the writer (if any) whose element falls in this bank
            reg          we;
            reg [AW-1:0] waddr;
            reg [W-1:0]  wdata;
            reg [31:0]   widx;
            integer j;
            always @* begin
                we    = 1'b0;
                waddr = {AW{1'b0}};
                wdata = {W{1'b0}};
                widx  = 32'd0;
                for (j = 0; j < NW; j = j + 1) begin
                    widx = wr_idx[j*32 +: 32];
                    if (wr_valid[j] && widx < N_I && (widx % G) == gb) begin
                        we    = 1'b1;
                        waddr = widx[GW +: AW];
                        wdata = wr_data[j*W +: W];
                    end
                end
            end
            always @(posedge clk) begin
                if (we) begin
                    mem[waddr] <= wdata;
                end
            end

            // the window [s, s + R) holds this bank's element of word s / G, or of
            // the next word where the bank lies below s's own
            // (a word past the last is only addressed for elements past N, which read 0)
            for (gp = 0; gp < NR; gp = gp + 1) begin : g_port
                if (((PORTS_ON >> gp) & 1) != 0) begin : g_on
                    wire [31:0] start = rd_start[gp*32 +: 32];
                    wire [31:0] raddr = (start / G) + (((start % G) > gb) ? 32'd1 : 32'd0);
                    assign bank_q[(gp*G + gb)*W +: W] = mem[raddr[AW-1:0]];
                    wire unused_raddr = &{1'b0, raddr[31:AW]};
                end else begin : g_off
                    assign bank_q[(gp*G + gb)*W +: W] = {W{1'b0}};
                end
            end
            wire unused_widx = &{1'b0, widx};
        end
    endgenerate

    // window element k of port p comes from bank (s + k) mod G
    integer p, k;
    reg [31:0] e;
    always @* begin
        rd_data = {(NR*R*W){1'b0}};
        e       = 32'd0;
        for (p = 0; p < NR; p = p + 1) begin
            for (k = 0; k < R; k = k + 1) begin
                e = rd_start[p*32 +: 32] + k;
                if (((PORTS_ON >> p) & 1) != 0 && e < N_I) begin
                    rd_data[(p*R + k)*W +: W] = bank_q[(p*G + (e % G))*W +: W];
                end
            end
        end
    end
endmodule
