`resetall
`timescale 1ns / 1ps
`default_nettype none

// regfile_stub: a stand-in for hw_core's control interface in the bridge testbenches.
// 256 plain 32-bit registers, except: word 0 reads the magic "HWIR" and ignores
// writes; word 5 (TOKEN_POP) reads {1'b1, 15'b0, n} and increments n on every
// read, so a doubled read shows up as a skipped number. reg_rdata is registered:
// valid the cycle after reg_rd, like hw_core.
module regfile_stub (
    input  wire        clk,
    input  wire        rst,
    input  wire        reg_wr,
    input  wire [7:0]  reg_addr,
    input  wire [31:0] reg_wdata,
    input  wire        reg_rd,
    output reg  [31:0] reg_rdata
);

    localparam [31:0] MAGIC = 32'h48574952;     // "HWIR"
    localparam [7:0]  POP_WORD = 8'd5;          // TOKEN_POP = byte offset 0x14

    reg [31:0] regs [0:255];
    reg [15:0] pops;

    always @(posedge clk) begin
        if (reg_wr && reg_addr != 8'd0) regs[reg_addr] <= reg_wdata;
    end

    always @(posedge clk) begin
        if (reg_rd) begin
            if (reg_addr == 8'd0)           reg_rdata <= MAGIC;
            else if (reg_addr == POP_WORD)  reg_rdata <= {16'h8000, pops};
            else                            reg_rdata <= regs[reg_addr];
            if (reg_addr == POP_WORD) pops <= pops + 16'd1;
        end
        if (rst) begin
            pops      <= 16'd0;
            reg_rdata <= 32'd0;
        end
    end

endmodule

`resetall
