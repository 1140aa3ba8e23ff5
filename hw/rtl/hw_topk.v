`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_topk: keeps the K_MAX largest of a stream of (value, index) pairs, sorted by
// value, largest first (entry 0). A new value equal to a kept one goes after it,
// so with indices fed in ascending order the list is hw/numerics.py
// top_k_candidates (ties: lower index first). One pair per cycle; the outputs are
// registers, updated the cycle after in_valid. clear (or rst) empties the list.
module hw_topk #(
    parameter K_MAX = 16,                   // entries kept
    parameter VW    = 24,                   // value bits (signed)
    parameter IW    = 16,                   // index bits (unsigned)
    parameter CW    = $clog2(K_MAX + 1)     // bits of count
) (
    input  wire                  clk,
    input  wire                  rst,           // sync: empty the list
    input  wire                  clear,         // empty the list (wins over in_valid)
    input  wire                  in_valid,
    input  wire signed [VW-1:0]  in_value,
    input  wire [IW-1:0]         in_index,
    output wire [K_MAX*VW-1:0]   out_values,    // entry j at [j*VW +: VW], signed
    output wire [K_MAX*IW-1:0]   out_indices,   // entry j at [j*IW +: IW]
    output wire [CW-1:0]         count          // valid entries: 0 .. K_MAX
);

    localparam [CW-1:0] FULL = K_MAX[CW-1:0];

    reg [K_MAX*VW-1:0] val_reg;
    reg [K_MAX*IW-1:0] idx_reg;
    reg [K_MAX-1:0]    vld_reg;             // entry j holds a pair (a prefix of ones)
    reg [CW-1:0]       count_reg;

    // stay[j]: entry j is >= the new value, so it keeps its place. The entries
    // that do not stay (a suffix) move down by one; the first of them takes the
    // new pair. Entries are written only when they change (clock enable), so
    // each bit is a 2:1 mux.
    wire [K_MAX-1:0] stay;

    genvar j;
    generate
        for (j = 0; j < K_MAX; j = j + 1) begin : g_entry
            assign stay[j] = vld_reg[j] && ($signed(val_reg[j*VW +: VW]) >= in_value);

            if (j == 0) begin : g_first
                always @(posedge clk) begin
                    if (in_valid && !stay[j]) begin
                        val_reg[j*VW +: VW] <= in_value;
                        idx_reg[j*IW +: IW] <= in_index;
                        vld_reg[j]          <= 1'b1;
                    end
                    if (clear || rst) vld_reg[j] <= 1'b0;
                end
            end else begin : g_next
                always @(posedge clk) begin
                    if (in_valid && !stay[j]) begin
                        val_reg[j*VW +: VW] <= stay[j-1] ? in_value : val_reg[(j-1)*VW +: VW];
                        idx_reg[j*IW +: IW] <= stay[j-1] ? in_index : idx_reg[(j-1)*IW +: IW];
                        vld_reg[j]          <= stay[j-1] | vld_reg[j-1];
                    end
                    if (clear || rst) vld_reg[j] <= 1'b0;
                end
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (in_valid && count_reg != FULL) count_reg <= count_reg + 1'b1;
        if (clear || rst) count_reg <= {CW{1'b0}};
    end

    assign out_values  = val_reg;
    assign out_indices = idx_reg;
    assign count       = count_reg;

endmodule

`resetall
