// bram_zoo_tb: bram_zoo's RTL and its synth_ecp5 netlist (renamed bram_zoo_gate, with the cell
// models) driven by the same pseudo-random inputs; any output that differs stops the run
// naming it. CYCLES cycles, then "bram_zoo: N cycles equal".
`default_nettype none
`timescale 1ns / 1ps
module bram_zoo_tb;
    parameter CYCLES = 4000;
    reg         clk = 1'b0;
    reg  [63:0] lfsr = 64'h9e3779b97f4a7c15;
    wire [8:0]  a  = lfsr[8:0];
    wire [8:0]  b  = lfsr[20:12];
    wire        we = lfsr[30];
    wire        re = lfsr[31] | lfsr[32];
    wire [63:0] d  = {lfsr[31:0], lfsr[63:32]};
    wire [35:0] wide_q, wide_g;
    wire [15:0] na_q, na_g, nb_q, nb_g;
    wire [63:0] ram_q, ram_g;
    wire [8:0]  byte_q, byte_g;

    bram_zoo rtl (.clk(clk), .a(a), .b(b), .we(we), .re(re), .d(d), .wide_q(wide_q),
                  .narrow_qa(na_q), .narrow_qb(nb_q), .ram_q(ram_q), .byte_q(byte_q));
    bram_zoo_gate gate (.clk(clk), .a(a), .b(b), .we(we), .re(re), .d(d), .wide_q(wide_g),
                        .narrow_qa(na_g), .narrow_qb(nb_g), .ram_q(ram_g), .byte_q(byte_g));

    task automatic check(input [63:0] got, input [63:0] want, input [8*10-1:0] name, input integer c);
        if (got !== want) $fatal(1, "bram_zoo: %0s differs at cycle %0d: netlist %h, RTL %h", name, c, got, want);
    endtask

    integer c;
    initial begin
        for (c = 0; c < CYCLES; c = c + 1) begin
            #5 clk = 1'b1;
            #1 lfsr = {lfsr[62:0], lfsr[63] ^ lfsr[62] ^ lfsr[60] ^ lfsr[59]};
            #4 clk = 1'b0;
            // outputs of the edge before: compared a whole cycle after it
            if (c > 0) begin
                check({28'd0, wide_g}, {28'd0, wide_q}, "wide ROM", c);
                check({48'd0, na_g}, {48'd0, na_q}, "ROM A", c);
                check({48'd0, nb_g}, {48'd0, nb_q}, "ROM B", c);
                check(ram_g, ram_q, "RAM", c);
                check({55'd0, byte_g}, {55'd0, byte_q}, "byte RAM", c);
            end
        end
        $display("bram_zoo: %0d cycles equal", CYCLES);
        $finish;
    end
endmodule
`default_nettype wire
