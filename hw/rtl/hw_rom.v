`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_rom: a block-RAM ROM of DEPTH words of WIDTH bits, initialised by
// $readmemh(FILE) (an all-zero ROM when FILE is "", so that a unit elaborates on its
// own), read through N registered ports: q[j] is rom[addr[j]] the cycle after en (a
// block RAM has two read ports, so N = 2 costs no more blocks than N = 1).
// One memory per instance, so `hardwire respin` finds each ROM as the block RAMs that
// hold its hex file (hw/flows/bram_map.py). Used for the table ROMs (hw_exp2,
// hw_rsqrt, hw_silu_gate), hw_mac_lane's weight ROMs, hw_matvec's scale ROM and hw_core's model,
// layer and embedding ROMs.
module hw_rom #(
    parameter WIDTH = 16,                                   // bits per word
    parameter DEPTH = 256,                                  // words
    parameter FILE  = "",                                   // $readmemh file ("": all zero)
    parameter AW    = (DEPTH > 1) ? $clog2(DEPTH) : 1,      // address bits
    parameter N     = 1                                     // read ports
) (
    input  wire               clk,
    input  wire               en,               // read enable (q holds otherwise)
    input  wire [N*AW-1:0]    addr,             // port j's address at [AW*j +: AW]
    output reg  [N*WIDTH-1:0] q                 // port j's word at [WIDTH*j +: WIDTH]
);

    (* rom_style = "block" *)
    reg [WIDTH-1:0] rom_words [0:DEPTH-1];

    generate
        if (FILE != "") begin : g_file
            initial $readmemh(FILE, rom_words);
        end else begin : g_zero
            integer i;
            initial for (i = 0; i < DEPTH; i = i + 1) rom_words[i] = {WIDTH{1'b0}};
        end
    endgenerate

    integer j;
    always @(posedge clk) begin
        if (en) begin
            for (j = 0; j < N; j = j + 1) begin
                q[WIDTH*j +: WIDTH] <= rom_words[addr[AW*j +: AW]];
            end
        end
    end

endmodule

`resetall
