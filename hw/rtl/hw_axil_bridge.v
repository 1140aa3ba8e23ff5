`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_axil_bridge: AXI4-Lite slave -> the control interface of hw_core (Zynq / PYNQ).
//
// Byte address a maps to register word a[9:2]. One access at a time: a write
// needs both its address and its data (accepted in either order), a read is
// issued as one reg_rd pulse and answered from reg_rdata the cycle after it, so
// a read of TOKEN_POP pops exactly one token. A write with a partial WSTRB, or
// any access with address bits above bit 9 set, gets SLVERR and never reaches
// the registers. When a read and a write are both pending, the write goes first.
module hw_axil_bridge #(
    parameter ADDR_WIDTH = 10   // AXI byte-address bits (>= 10; bits above 9 must be 0)
) (
    input  wire                  clk,
    input  wire                  rst,           // synchronous, active high
    // AXI4-Lite slave
    input  wire [ADDR_WIDTH-1:0] s_axil_awaddr,
    input  wire                  s_axil_awvalid,
    output wire                  s_axil_awready,
    input  wire [31:0]           s_axil_wdata,
    input  wire [3:0]            s_axil_wstrb,
    input  wire                  s_axil_wvalid,
    output wire                  s_axil_wready,
    output wire [1:0]            s_axil_bresp,
    output wire                  s_axil_bvalid,
    input  wire                  s_axil_bready,
    input  wire [ADDR_WIDTH-1:0] s_axil_araddr,
    input  wire                  s_axil_arvalid,
    output wire                  s_axil_arready,
    output wire [31:0]           s_axil_rdata,
    output wire [1:0]            s_axil_rresp,
    output wire                  s_axil_rvalid,
    input  wire                  s_axil_rready,
    // control interface of hw_core
    output reg                   reg_wr,
    output reg  [7:0]            reg_addr,
    output reg  [31:0]           reg_wdata,
    output reg                   reg_rd,
    input  wire [31:0]           reg_rdata      // valid the cycle after reg_rd
);

    localparam [1:0] RESP_OKAY = 2'b00, RESP_SLVERR = 2'b10;

    // an address is valid when no bit above the 256-word register space is set
    function addr_ok;
        input [ADDR_WIDTH-1:0] a;
        begin
            addr_ok = (a >> 10) == {ADDR_WIDTH{1'b0}};
        end
    endfunction

    // ------------------------------------------------------------ write channel
    reg                  aw_full, w_full;   // address / data captured, write not done
    reg [ADDR_WIDTH-1:0] aw_addr;
    reg [31:0]           w_data;
    reg [3:0]            w_strb;
    reg                  b_valid;
    reg [1:0]            b_resp;

    assign s_axil_awready = !aw_full && !b_valid;
    assign s_axil_wready  = !w_full && !b_valid;
    assign s_axil_bvalid  = b_valid;
    assign s_axil_bresp   = b_resp;

    // ------------------------------------------------------------ read channel
    reg                  ar_full;   // a read is accepted and not yet answered
    reg [ADDR_WIDTH-1:0] ar_addr;
    reg [1:0]            rd_stage;  // 0 wait to issue, 1 reg_rd out, 2 data next, 3 answered
    reg                  r_valid;
    reg [31:0]           r_data;
    reg [1:0]            r_resp;

    assign s_axil_arready = !ar_full;
    assign s_axil_rvalid  = r_valid;
    assign s_axil_rdata   = r_data;
    assign s_axil_rresp   = r_resp;

    wire do_write = aw_full && w_full && !b_valid;
    wire do_read  = ar_full && rd_stage == 2'd0 && !do_write;

    always @(posedge clk) begin
        reg_wr <= 1'b0;
        reg_rd <= 1'b0;

        if (s_axil_awvalid && s_axil_awready) begin
            aw_full <= 1'b1;
            aw_addr <= s_axil_awaddr;
        end
        if (s_axil_wvalid && s_axil_wready) begin
            w_full <= 1'b1;
            w_data <= s_axil_wdata;
            w_strb <= s_axil_wstrb;
        end
        if (do_write) begin
            aw_full <= 1'b0;
            w_full  <= 1'b0;
            b_valid <= 1'b1;
            if (addr_ok(aw_addr) && w_strb == 4'hF) begin
                reg_wr    <= 1'b1;
                reg_addr  <= aw_addr[9:2];
                reg_wdata <= w_data;
                b_resp    <= RESP_OKAY;
            end else begin
                b_resp <= RESP_SLVERR;
            end
        end
        if (b_valid && s_axil_bready) b_valid <= 1'b0;

        if (s_axil_arvalid && s_axil_arready) begin
            ar_full  <= 1'b1;
            ar_addr  <= s_axil_araddr;
            rd_stage <= 2'd0;
        end
        if (do_read) begin
            if (addr_ok(ar_addr)) begin
                reg_rd   <= 1'b1;
                reg_addr <= ar_addr[9:2];
                rd_stage <= 2'd1;
            end else begin
                r_valid  <= 1'b1;
                r_data   <= 32'd0;
                r_resp   <= RESP_SLVERR;
                rd_stage <= 2'd3;
            end
        end
        if (rd_stage == 2'd1) rd_stage <= 2'd2;     // reg_rd is seen by the core now
        if (rd_stage == 2'd2) begin                 // reg_rdata holds the answer now
            r_valid  <= 1'b1;
            r_data   <= reg_rdata;
            r_resp   <= RESP_OKAY;
            rd_stage <= 2'd3;
        end
        if (r_valid && s_axil_rready) begin
            r_valid <= 1'b0;
            ar_full <= 1'b0;
        end

        if (rst) begin
            aw_full   <= 1'b0;
            w_full    <= 1'b0;
            aw_addr   <= {ADDR_WIDTH{1'b0}};
            w_data    <= 32'd0;
            w_strb    <= 4'd0;
            b_valid   <= 1'b0;
            b_resp    <= RESP_OKAY;
            ar_full   <= 1'b0;
            ar_addr   <= {ADDR_WIDTH{1'b0}};
            rd_stage  <= 2'd0;
            r_valid   <= 1'b0;
            r_data    <= 32'd0;
            r_resp    <= RESP_OKAY;
            reg_wr    <= 1'b0;
            reg_rd    <= 1'b0;
            reg_addr  <= 8'd0;
            reg_wdata <= 32'd0;
        end
    end

endmodule

`resetall
