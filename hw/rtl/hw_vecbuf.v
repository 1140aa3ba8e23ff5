// hw_vecbuf: a vector buffer of N elements in G banks of distributed (LUT) RAM.
//
// Element e lives in bank e mod G at address e / G. Up to NW writers store one
// element each per cycle (at distinct banks: consecutive indices, NW <= G), and
// NR read ports each return a window of R consecutive elements (R <= G), read
// asynchronously like a register array; elements past N read 0.
// A port in REG_PORTS reads its window a cycle later, through registers.
//
// Why: as flip-flops, a buffer is written through a decoder at every element and
// read through an N:1 multiplexer per bit, which spreads across the core and
// was the worst routing congestion of the ECP5 build. In G banks each bank has
// one write port and per read port one small LUT RAM (TRELLIS_DPR16X4 on ECP5,
// RAM32M-style on Xilinx); iCE40 has no LUT RAM and builds it from flip-flops.
// Indices are 32 bits wide; synthesis drops the constant upper bits.
//
// CONSEC = 1 says more: writer j's index is always wr_idx[0] + j (the lanes of a
// matrix pass, the elements of a unit's group). Bank b then takes writer
// (b - wr_idx[0]) mod G, so the writers are rotated into the banks by a barrel
// rotator of log2(G) mux levels, where the general form compares every writer's
// index at every bank and picks the last match, a chain of NW multiplexers per bank:
// with writers that do not line up with the banks (LANES not G: 11 lanes over 16
// banks) that chain was the longest path of the core and ~8,900 LUT slots
// (stories260K 11 x 16, twenty-ninth session). With LANES = G the indices' low bits
// are a constant writer number, synthesis folds either form to wires.
module hw_vecbuf #(
    parameter N  = 176,     // elements
    parameter W  = 8,       // bits per element
    parameter G  = 4,       // banks, a power of two
    parameter NW = 4,       // writers
    parameter NR = 1,       // read ports
    parameter R  = 4,       // elements per read window
    parameter PORTS_ON = -1,// bit p: port p is built; a port left out reads 0
    parameter CONSEC = 0,   // 1: writer j always writes element wr_idx[0] + j (above)
    parameter REG_PORTS = 0 // bit p: port p's bank words are registered, its window a cycle later (below)
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

    // CONSEC: the writers' valid bits and data, padded to G and rotated by the first
    // index's bank, so that entry b of `rot` is what lands in bank b
    wire [31:0]  base_idx = wr_idx[31:0];
    wire [GW-1:0] base_bank = (G > 1) ? base_idx[GW-1:0] : {GW{1'b0}};
    reg  [G*(W+1)-1:0] rot_in;
    integer rb;
    always @* begin
        rot_in = {(G*(W+1)){1'b0}};
        for (rb = 0; rb < NW; rb = rb + 1) begin
            rot_in[rb*(W+1) +: W+1] = {wr_valid[rb], wr_data[rb*W +: W]};
        end
    end
    // rotated up by base_bank banks (bank b takes entry b - base_bank mod G): level lv
    // rotates by 2**lv banks when bit lv of base_bank is set, one 2:1 mux per bit
    localparam LV = (G > 1) ? GW : 0;           // rotator levels
    wire [G*(W+1)-1:0] rot;
    genvar lv;
    generate
        for (lv = 0; lv < LV; lv = lv + 1) begin : g_rotate
            localparam integer SH = (1 << lv) * (W + 1);        // bits of 2**lv banks
            wire [G*(W+1)-1:0] in_lv;
            wire [G*(W+1)-1:0] out_lv;
            if (lv == 0) begin : g_first
                assign in_lv = rot_in;
            end else begin : g_next
                assign in_lv = g_rotate[lv-1].out_lv;
            end
            wire [G*(W+1)-1:0] up_lv = {in_lv[0 +: G*(W+1) - SH], in_lv[G*(W+1) - SH +: SH]};
            assign out_lv = base_bank[lv] ? up_lv : in_lv;
        end
        if (LV == 0) begin : g_no_rotate
            assign rot = rot_in;
        end else begin : g_rotated
            assign rot = g_rotate[LV-1].out_lv;
        end
    endgenerate
    wire unused_one_bank = &{1'b0, base_bank[0]};   // G = 1: nothing to rotate
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
                if (CONSEC != 0) begin
                    // the element of this bank: the first index's word, or the next one's
                    // for a bank below the first index's own
                    widx  = ((base_idx / G) + ((gb < base_idx % G) ? 32'd1 : 32'd0)) * G + gb;
                    we    = rot[gb*(W+1) + W] && widx < N_I;
                    waddr = widx[GW +: AW];
                    wdata = rot[gb*(W+1) +: W];
                end else begin
                    for (j = 0; j < NW; j = j + 1) begin
                        widx = wr_idx[j*32 +: 32];
                        if (wr_valid[j] && widx < N_I && (widx % G) == gb) begin
                            we    = 1'b1;
                            waddr = widx[GW +: AW];
                            wdata = wr_data[j*W +: W];
                        end
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
        if (CONSEC != 0 && NW > 1) begin : g_consec_idx
            wire unused_idx = &{1'b0, wr_idx[NW*32-1:32]};     // writer j's index is the first's + j
        end else if (CONSEC == 0) begin : g_any_idx
            wire unused_rot = &{1'b0, rot, base_bank};
        end
    endgenerate

    // REG_PORTS: a port's bank words and start registered, so that its window of the start
    // given in cycle c comes out in cycle c + 1: the address, the LUT RAM read and the
    // window's rotation were one path (the SiLU stage's read, generator 1.15)
    reg  [NR*G*W-1:0] bank_q_reg;
    reg  [NR*32-1:0]  rd_start_reg;
    always @(posedge clk) begin
        bank_q_reg   <= bank_q;
        rd_start_reg <= rd_start;
    end
    // window element k of port p comes from bank (s + k) mod G
    integer p, k;
    reg [31:0] e;
    reg        reg_port;
    always @* begin
        rd_data  = {(NR*R*W){1'b0}};
        e        = 32'd0;
        reg_port = 1'b0;
        for (p = 0; p < NR; p = p + 1) begin
            reg_port = ((REG_PORTS >> p) & 1) != 0;
            for (k = 0; k < R; k = k + 1) begin
                e = (reg_port ? rd_start_reg[p*32 +: 32] : rd_start[p*32 +: 32]) + k;
                if (((PORTS_ON >> p) & 1) != 0 && e < N_I) begin
                    rd_data[(p*R + k)*W +: W] = reg_port ? bank_q_reg[(p*G + (e % G))*W +: W]
                                                         : bank_q[(p*G + (e % G))*W +: W];
                end
            end
        end
    end
endmodule
