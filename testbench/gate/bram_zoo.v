// bram_zoo: one memory of each kind hardwire's core maps onto ECP5 block RAM (synth_ecp5), for
// tests/test_gate.py's cell-model check: its netlist, simulated with testbench/gate/DP16KD.v,
// must read what this RTL reads, cycle by cycle (testbench/gate/bram_zoo_tb.v).
//   wide ROM   36-bit words, one registered read: $__PDPW16KD_ (write port tied off, clock 0)
//   narrow ROM 16-bit words, two registered reads: $__DP16KD_, 18 bits a port
//   RAM        64-bit words, one write and one enabled read port: two $__PDPW16KD_ (the KV cache)
//   byte RAM   9-bit words, read-before-write on one port: $__DP16KD_, 9 bits a port
`default_nettype none
module bram_zoo (
    input  wire        clk,
    input  wire [8:0]  a,           // ROM addresses and the RAMs' write address
    input  wire [8:0]  b,           // the second ROM address and the RAM read address
    input  wire        we,
    input  wire        re,
    input  wire [63:0] d,
    output reg  [35:0] wide_q,
    output reg  [15:0] narrow_qa,
    output reg  [15:0] narrow_qb,
    output reg  [63:0] ram_q,
    output reg  [8:0]  byte_q
);
    (* rom_style = "block" *) reg [35:0] wide [0:511];
    (* rom_style = "block" *) reg [15:0] narrow [0:511];
    (* ram_style = "block" *) reg [63:0] ram [0:511];
    (* ram_style = "block" *) reg [8:0]  bytes [0:511];

    integer i;
    initial begin
        for (i = 0; i < 512; i = i + 1) begin
            wide[i]   = {i[8:0], ~i[8:0], i[8:0] ^ 9'h15a, i[8:0] + 9'd77};
            narrow[i] = {i[7:0] * 8'd37, ~i[7:0]};
            bytes[i]  = i[8:0] ^ 9'h0f3;
        end
    end

    always @(posedge clk) wide_q <= wide[a];
    always @(posedge clk) narrow_qa <= narrow[a];
    always @(posedge clk) narrow_qb <= narrow[b];
    always @(posedge clk) if (we) ram[a] <= d;
    always @(posedge clk) if (re) ram_q <= ram[b];
    always @(posedge clk) begin
        byte_q <= bytes[a];
        if (we) bytes[a] <= d[8:0];
    end
endmodule
`default_nettype wire
