`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_token_ring: the core's output tokens, kept until the host acknowledges them, so that a
// read whose answer is lost can be repeated, over a new link too (docs/register_map.md,
// "Reading tokens"). Tokens are numbered from the last clear (RESET_STATE): the ring holds
// numbers `acked` .. `count` - 1, and the core waits while it is full. A read of window word
// `win_off` (TOKEN_WINDOW word i, or TOKEN_POP as word 0) returns, the cycle after `rd`,
// {1, the token's number (15 bits), the token} when that token is held, else 0; `pop` (a
// TOKEN_POP read) acknowledges word 0, `ack_wr` sets `acked` to `ack_value` when that lies
// between `acked` and `count` (other values are ignored).
module hw_token_ring #(
    parameter DEPTH = 64,                       // tokens held (a power of 2 >= 2)
    parameter AW    = $clog2(DEPTH)
) (
    input  wire        clk,
    input  wire        rst,                     // synchronous: empty, numbering from 0
    input  wire        clear,                   // the same (RESET_STATE)
    // the core's side
    input  wire        push,                    // a token out (only while !full)
    input  wire [15:0] token,
    output reg         full,                    // a cycle late for an acknowledgement (never for a push)
    // the host's side
    output wire        avail,                   // a token is held (STATUS.TOKEN_AVAIL)
    input  wire        rd,                      // a register read ...
    input  wire [7:0]  win_off,                 // ... of this window word (0 for anything else)
    output wire [31:0] rd_word,                 // its answer, the cycle after rd
    input  wire        pop,                     // TOKEN_POP read
    input  wire        ack_wr,                  // TOKEN_ACK write ...
    input  wire [31:0] ack_value,               // ... of this value
    output reg  [31:0] count,                   // TOKEN_COUNT: tokens out since the last clear
    output reg  [31:0] acked                    // TOKEN_ACK: tokens the host acknowledged
);

    localparam [31:0] DEPTH32 = DEPTH;
    wire [31:0] held   = count - acked;
    wire [14:0] win_no = acked[14:0] + {7'd0, win_off};     // low bits of the read token's number
    wire [15:0] win_tok_q;
    reg  [14:0] win_no_q;
    reg         win_valid_q;

    assign avail   = (held != 32'd0);
    assign rd_word = win_valid_q ? {1'b1, win_no_q, win_tok_q} : 32'd0;

    hw_ram_sdp #(
        .WIDTH(16),
        .DEPTH(DEPTH),
        .STYLE("distributed"),
        .AW(AW)
    ) ring (
        .clk(clk),
        .wr_en(push),
        .wr_addr(count[AW-1:0]),
        .wr_data(token),
        .rd_en(rd),
        .rd_addr(win_no[AW-1:0]),
        .rd_data(win_tok_q)
    );

    always @(posedge clk) begin
        if (rd) begin
            win_no_q    <= win_no;
            win_valid_q <= {24'd0, win_off} < held;
        end
    end

    // `full` registered: the ring's count difference and compare sat in front of the sequencer's
    // whole S_EMIT decision (16.1 ns by hw.backends.ecp5_timing). It counts this cycle's push, so a
    // push never finds the ring full; an acknowledgement frees a place a cycle later.
    always @(posedge clk) begin
        full <= !(rst || clear) && (held + {31'd0, push} >= DEPTH32);
        if (push) begin
            count <= count + 32'd1;
        end
        if (pop && avail) begin
            acked <= acked + 32'd1;
        end else if (ack_wr && (ack_value - acked) <= held) begin
            acked <= ack_value;
        end
        if (rst || clear) begin
            count <= 32'd0;
            acked <= 32'd0;
        end
    end

endmodule

`resetall
