`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_fifo: synchronous first-word-fall-through FIFO.
// The storage is read through a register (block-RAM friendly); that register
// is the FIFO's head, so rd_data is the oldest word whenever rd_valid is high
// and a pop (rd_en) moves the next word into it one cycle later. DEPTH words
// are held in the memory plus one in the head register.
module hw_fifo #(
    parameter WIDTH = 16,                                   // bits per word
    parameter DEPTH = 16,                                   // memory words, a power of 2 (>= 2)
    parameter AW    = (DEPTH > 1) ? $clog2(DEPTH) : 1       // address bits
) (
    input  wire             clk,
    input  wire             rst,        // synchronous, active high: empty
    input  wire             clear,      // empty the FIFO (same as rst)
    // write side
    input  wire             wr_en,      // ignored while full
    input  wire [WIDTH-1:0] wr_data,
    output wire             full,
    // read side (first word fall through)
    input  wire             rd_en,      // pop the head (ignored while !rd_valid)
    output wire [WIDTH-1:0] rd_data,
    output wire             rd_valid,
    output wire [AW+1:0]    count       // words held, head included
);

    reg [AW:0]      wr_ptr_reg;
    reg [AW:0]      rd_ptr_reg;
    wire [WIDTH-1:0] head_reg;
    reg             head_valid_reg;

    wire [AW:0] stored    = wr_ptr_reg - rd_ptr_reg;          // words in the memory
    wire        mem_empty = (stored == {(AW+1){1'b0}});
    wire        pop       = rd_en && head_valid_reg;
    wire        load_head = !mem_empty && (!head_valid_reg || pop);

    assign full     = stored[AW];                              // stored == DEPTH
    assign rd_data  = head_reg;
    assign rd_valid = head_valid_reg;
    assign count    = {1'b0, stored} + {{(AW+1){1'b0}}, head_valid_reg};

    // the head register is the memory's read register
    hw_ram_sdp #(
        .WIDTH(WIDTH),
        .DEPTH(DEPTH),
        .AW(AW)
    ) mem (
        .clk(clk),
        .wr_en(wr_en && !full),
        .wr_addr(wr_ptr_reg[AW-1:0]),
        .wr_data(wr_data),
        .rd_en(load_head),
        .rd_addr(rd_ptr_reg[AW-1:0]),
        .rd_data(head_reg)
    );

    always @(posedge clk) begin
        if (wr_en && !full) begin
            wr_ptr_reg <= wr_ptr_reg + 1'b1;
        end
        if (load_head) begin
            rd_ptr_reg     <= rd_ptr_reg + 1'b1;
            head_valid_reg <= 1'b1;
        end else if (pop) begin
            head_valid_reg <= 1'b0;
        end
        if (rst || clear) begin
            wr_ptr_reg     <= {(AW+1){1'b0}};
            rd_ptr_reg     <= {(AW+1){1'b0}};
            head_valid_reg <= 1'b0;
        end
    end

endmodule

`resetall
