`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_chip_link: one end of a full-duplex chip-to-chip link (issue 15, docs/chip_link.md).
// Two boards pass frames of DIM 16-bit words (a residual vector) to each other, exactly once
// and in order, over SERDES-less parallel pins: per direction W data lines, a frame-start
// line (sof) and a forwarded link clock (lclk), one beat of W bits per lclk rising edge
// (hw_chip_link_ser / hw_chip_link_des; a beat lasts BEAT_CLKS cycles).
//
// Wire protocol (docs/chip_link.md, hw/links/chip_link.py):
//   frame  = header word | DIM payload words (DATA only) | crc low word | crc high word
//   header = type[15:12] | credit[11:8] | seq[7:0]
//            DATA 0x1: seq = the frame's sequence number (credit 0)
//            ACK  0x2: seq = the last DATA frame taken in order; credit = frames it can still take
//            NACK 0x3: seq = the DATA frame it expects next (so seq-1 is acknowledged), credit as ACK
//            POLL 0x4: asks for an ACK (seq, credit 0)
//   crc    = zlib's CRC-32 of the frame's words as little-endian bytes (header and payload);
//            a good frame leaves the CRC register at the residue 0xDEBB20E3 after its CRC words.
//   Words go low beat first; the sof line is high in the frame's first beat only.
//
// Transmitter: go-back-N over a window of TXW frames kept in a buffer for retransmission. A
// frame is sent when the receiver's last ACK/NACK granted credit for it (the receiver's
// buffer holds RXF frames and is never overrun); unacknowledged frames are sent again
// from the oldest on a NACK or when no ACK came for TIMEOUT cycles; with frames waiting
// and no credit, a POLL asks again after TIMEOUT cycles (the credit update may have been
// lost). Control frames (ACK, NACK, POLL) go out between DATA frames, before the next one.
// After MAX_RETRY retries in a row without progress, link_error goes high and stays until
// rst: the unacknowledged frames are not delivered (the receiver never hands on a frame
// whose CRC failed), and in_ready stays low.
// Receiver: a DATA frame is written into its slot of the receive buffer as it arrives and
// handed on (committed) only once its CRC checked and its seq is the one expected; a
// duplicate is dropped and acknowledged again, a bad or out-of-order frame is dropped and
// answered by one NACK per expected seq (the sender's timeout covers a lost NACK).
//
// Both ends must leave reset together (a shared reset, or both boards reset by the host):
// the sequence numbers start at 0 on both sides.
module hw_chip_link #(
    parameter W         = 8,    // data pins per direction: 4, 8 or 16
    parameter DIM       = 64,   // words per DATA frame (>= 2)
    parameter BEAT_CLKS = 4,    // clk cycles per beat: even, >= 2 (>= 4 between two boards)
    parameter TXW       = 2,    // frames kept for retransmission: 2, 4 or 8
    parameter RXF       = 2,    // frames the receive buffer holds: 2, 4 or 8
    parameter MAX_RETRY = 15,   // retries in a row without progress before link_error (1..255)
    parameter TIMEOUT   = 3 * (DIM + 3) * (16 / W) * BEAT_CLKS + 64,   // cycles without an ACK
    parameter CW        = 16,   // status counter bits (they wrap)
    // the two buffers' hw_ram_sdp STYLE: "" (the tool chooses; ECP5: a block RAM each at DIM = 64),
    // "distributed" (LUT RAM: for a chip whose block RAM holds weights), "block"
    parameter [8*11-1:0] RAM_STYLE = ""
) (
    input  wire          clk,
    input  wire          rst,           // synchronous, active high; both ends together
    // words to the peer: DIM words make a frame
    input  wire [15:0]   in_data,
    input  wire          in_valid,
    output wire          in_ready,
    // words from the peer, whole checked frames only
    output wire [15:0]   out_data,
    output reg           out_valid,
    input  wire          out_ready,
    // pins to the peer
    output wire [W-1:0]  tx_d,
    output wire          tx_sof,
    output wire          tx_lclk,
    // pins from the peer
    input  wire [W-1:0]  rx_d,
    input  wire          rx_sof,
    input  wire          rx_lclk,
    // status
    output reg           link_error,    // retries exhausted (sticky until rst)
    output reg  [CW-1:0] cnt_tx_frames, // DATA frames the peer acknowledged
    output reg  [CW-1:0] cnt_rx_frames, // DATA frames received, checked and taken
    output reg  [CW-1:0] cnt_retransmits,   // DATA frames sent again
    output reg  [CW-1:0] cnt_crc_errors,    // frames received bad (CRC, cut short, unknown type)
    output reg  [CW-1:0] cnt_timeouts       // no ACK in time for outstanding DATA frames
);

    localparam [3:0] T_DATA = 4'h1, T_ACK = 4'h2, T_NACK = 4'h3, T_POLL = 4'h4;
    localparam [31:0] CRC_RESIDUE = 32'hDEBB20E3;
    localparam IW = $clog2(DIM);                // word index bits in a frame
    localparam TB = $clog2(TXW);                // transmit buffer slot bits
    localparam RB = $clog2(RXF);                // receive buffer slot bits
    localparam TMW = $clog2(TIMEOUT + 1);       // timer bits
    localparam integer LAST_WORD_I = DIM - 1;
    localparam integer TIMEOUT_I   = TIMEOUT - 1;
    localparam integer TXW_I = TXW, RXF_I = RXF, MAX_RETRY_I = MAX_RETRY;
    localparam integer FRAME_LEFT_I = DIM + 2;  // words after a DATA header
    localparam [IW-1:0]  LAST_WORD = LAST_WORD_I[IW-1:0];
    localparam [TMW-1:0] TIMER_END = TIMEOUT_I[TMW-1:0];
    localparam [7:0]     TXW8 = TXW_I[7:0], RXF8 = RXF_I[7:0], MAX_RETRY8 = MAX_RETRY_I[7:0];
    localparam [IW+1:0]  DATA_LEFT = FRAME_LEFT_I[IW+1:0];
    localparam [IW+1:0]  CTRL_LEFT = 2;

    // zlib CRC-32 (reflected, polynomial 0xEDB88320) of one more 16-bit word, low byte first
    function [31:0] crc32_word;
        input [31:0] crc;
        input [15:0] w;
        integer k;
        reg [31:0] c;
        begin
            c = crc ^ {16'd0, w};
            for (k = 0; k < 16; k = k + 1)
                c = c[0] ? ((c >> 1) ^ 32'hEDB88320) : (c >> 1);
            crc32_word = c;
        end
    endfunction

    // ============================================================ transmit buffer (user side)
    reg  [7:0]    wr_seq;       // the frame the user is writing
    reg  [IW-1:0] wr_idx;
    reg  [7:0]    base_seq;     // the oldest frame not acknowledged
    reg  [7:0]    send_seq;     // the next frame to send (moves back on a retransmission)
    reg  [7:0]    hi_seq;       // frames below it were sent at least once
    wire [7:0]    held = wr_seq - base_seq;
    assign in_ready = !link_error && held < TXW8;
    wire          in_take = in_valid && in_ready;

    reg           tb_rd_en;
    wire [15:0]   tb_rd_data;
    reg  [TB-1:0] cur_seq;      // the slot of the DATA frame being sent
    reg  [IW-1:0] pay_idx;

    hw_ram_sdp #(.WIDTH(16), .DEPTH(TXW << IW), .STYLE(RAM_STYLE), .AW(TB + IW)) tx_buf (
        .clk(clk),
        .wr_en(in_take), .wr_addr({wr_seq[TB-1:0], wr_idx}), .wr_data(in_data),
        .rd_en(tb_rd_en), .rd_addr({cur_seq, pay_idx}), .rd_data(tb_rd_data));

    always @(posedge clk) begin
        if (in_take) begin
            if (wr_idx == LAST_WORD) begin
                wr_idx <= {IW{1'b0}};
                wr_seq <= wr_seq + 8'd1;
            end else begin
                wr_idx <= wr_idx + 1'b1;
            end
        end
        if (rst) begin
            wr_seq <= 8'd0;
            wr_idx <= {IW{1'b0}};
        end
    end

    // ============================================================ receive side (words -> frames)
    wire [15:0] rw_word;
    wire        rw_sof, rw_valid;

    hw_chip_link_des #(.W(W)) des (
        .clk(clk), .rst(rst), .pin_d(rx_d), .pin_sof(rx_sof), .pin_lclk(rx_lclk),
        .word(rw_word), .word_sof(rw_sof), .word_valid(rw_valid));

    reg  [7:0]    rx_seq;       // the DATA frame expected next
    reg  [7:0]    rd_seq;       // the frame the user side reads
    reg  [IW-1:0] rd_idx;
    wire [7:0]    rx_held = rx_seq - rd_seq;                // committed frames not yet read out
    wire [7:0]    rx_free = RXF8 - rx_held;
    wire [3:0]    credit  = rx_free[3:0];

    reg           in_frame;     // words of a frame are arriving
    reg  [3:0]    r_type;
    reg  [7:0]    r_seq;
    reg  [3:0]    r_credit;
    reg  [IW+1:0] r_left;       // words still to come
    reg  [IW-1:0] r_idx;        // payload words so far
    reg           r_store;      // this DATA frame is the one expected and has a free slot
    reg  [31:0]   rx_crc;
    wire [31:0]   rx_crc_next = crc32_word(rw_sof ? 32'hFFFFFFFF : rx_crc, rw_word);
    wire          rx_known = rw_word[15:12] == T_DATA || rw_word[15:12] == T_ACK ||
                             rw_word[15:12] == T_NACK || rw_word[15:12] == T_POLL;
    wire          rx_last = in_frame && !rw_sof && r_left == {{(IW+1){1'b0}}, 1'b1};
    wire          rx_good = rx_crc_next == CRC_RESIDUE;
    wire [7:0]    r_behind = rx_seq - r_seq;                // 1..127: a duplicate
    wire          rb_wr_en = rw_valid && in_frame && !rw_sof && r_store && r_left > CTRL_LEFT;

    // pulses to the transmitter
    reg           rx_ack_ev;    // a good ACK or NACK arrived
    reg           rx_ev_nack;
    reg  [7:0]    rx_ev_seq;
    reg  [3:0]    rx_ev_credit;
    reg           ack_req, nack_req;   // answer with an ACK / a NACK
    reg           nack_armed;   // no NACK asked yet for rx_seq (one per expected frame)

    // first word fall through: out_data is the RAM's read register, loaded when it is empty
    // or being taken; a frame's slot is free once its last word is in that register.
    wire          rb_load = rx_held != 8'd0 && (!out_valid || out_ready);

    hw_ram_sdp #(.WIDTH(16), .DEPTH(RXF << IW), .STYLE(RAM_STYLE), .AW(RB + IW)) rx_buf (
        .clk(clk),
        .wr_en(rb_wr_en), .wr_addr({rx_seq[RB-1:0], r_idx}), .wr_data(rw_word),
        .rd_en(rb_load), .rd_addr({rd_seq[RB-1:0], rd_idx}), .rd_data(out_data));

    always @(posedge clk) begin
        rx_ack_ev <= 1'b0;
        ack_req   <= 1'b0;
        nack_req  <= 1'b0;
        if (rw_valid) begin
            if (rw_sof) begin
                // a header (a frame still arriving is cut short: bad)
                if (in_frame) begin
                    cnt_crc_errors <= cnt_crc_errors + 1'b1;
                    nack_req       <= nack_armed;
                    nack_armed     <= 1'b0;
                end
                in_frame <= rx_known;
                r_type   <= rw_word[15:12];
                r_credit <= rw_word[11:8];
                r_seq    <= rw_word[7:0];
                r_left   <= (rw_word[15:12] == T_DATA) ? DATA_LEFT : CTRL_LEFT;
                r_idx    <= {IW{1'b0}};
                r_store  <= rw_word[15:12] == T_DATA && rw_word[7:0] == rx_seq && rx_free != 8'd0;
                rx_crc   <= rx_crc_next;
                if (!rx_known) begin
                    cnt_crc_errors <= cnt_crc_errors + {{(CW-2){1'b0}}, in_frame, !in_frame};
                    nack_req       <= nack_armed;
                    nack_armed     <= 1'b0;
                end
            end else if (in_frame) begin
                rx_crc <= rx_crc_next;
                r_left <= r_left - 1'b1;
                if (rb_wr_en) begin
                    r_idx <= r_idx + 1'b1;
                end
                if (rx_last) begin
                    in_frame <= 1'b0;
                    if (!rx_good) begin
                        cnt_crc_errors <= cnt_crc_errors + 1'b1;
                        nack_req       <= nack_armed;
                        nack_armed     <= 1'b0;
                    end else if (r_type == T_DATA) begin
                        if (r_store) begin
                            rx_seq        <= rx_seq + 8'd1;     // commit: the reader may take it
                            cnt_rx_frames <= cnt_rx_frames + 1'b1;
                            nack_armed    <= 1'b1;
                            ack_req       <= 1'b1;
                        end else if (r_seq == rx_seq || (r_behind != 8'd0 && !r_behind[7])) begin
                            ack_req <= 1'b1;                    // a duplicate (or no room): ACK again
                        end else begin
                            nack_req   <= nack_armed;           // ahead: rx_seq was lost
                            nack_armed <= 1'b0;
                        end
                    end else if (r_type == T_POLL) begin
                        ack_req <= 1'b1;
                    end else begin
                        rx_ack_ev    <= 1'b1;
                        rx_ev_nack   <= r_type == T_NACK;
                        rx_ev_seq    <= r_seq;
                        rx_ev_credit <= r_credit;
                    end
                end
            end
        end
        if (rst) begin
            in_frame       <= 1'b0;
            r_type         <= 4'd0;
            r_seq          <= 8'd0;
            r_credit       <= 4'd0;
            r_left         <= {(IW+2){1'b0}};
            r_idx          <= {IW{1'b0}};
            r_store        <= 1'b0;
            rx_crc         <= 32'hFFFFFFFF;
            rx_seq         <= 8'd0;
            nack_armed     <= 1'b1;
            rx_ack_ev      <= 1'b0;
            rx_ev_nack     <= 1'b0;
            rx_ev_seq      <= 8'd0;
            rx_ev_credit   <= 4'd0;
            ack_req        <= 1'b0;
            nack_req       <= 1'b0;
            cnt_rx_frames  <= {CW{1'b0}};
            cnt_crc_errors <= {CW{1'b0}};
        end
    end

    // ------------------------------------------------------------ receive buffer read side
    reg  credit_up;             // a slot became free: tell the sender

    always @(posedge clk) begin
        credit_up <= 1'b0;
        if (rb_load) begin
            out_valid <= 1'b1;
            if (rd_idx == LAST_WORD) begin
                rd_idx    <= {IW{1'b0}};
                rd_seq    <= rd_seq + 8'd1;
                credit_up <= 1'b1;
            end else begin
                rd_idx <= rd_idx + 1'b1;
            end
        end else if (out_ready) begin
            out_valid <= 1'b0;
        end
        if (rst) begin
            out_valid <= 1'b0;
            rd_seq    <= 8'd0;
            rd_idx    <= {IW{1'b0}};
            credit_up <= 1'b0;
        end
    end

    // ============================================================ transmitter
    // control frames owed to the peer; an ACK or NACK carries the state when it is sent
    reg ack_pending, nack_pending, poll_pending;

    reg  [15:0] nxt_word;       // the next word for the serializer
    reg         nxt_sof, nxt_valid;
    wire        nxt_take;
    reg  [2:0]  f_state;
    reg         rd_wait;        // a payload word is being read from tx_buf
    reg  [31:0] tx_crc;
    localparam [2:0] F_IDLE = 3'd0, F_PAY = 3'd1, F_CRC0 = 3'd2, F_CRC1 = 3'd3;

    hw_chip_link_ser #(.W(W), .BEAT_CLKS(BEAT_CLKS)) ser (
        .clk(clk), .rst(rst), .word(nxt_word), .word_sof(nxt_sof), .word_valid(nxt_valid),
        .word_take(nxt_take), .pin_d(tx_d), .pin_sof(tx_sof), .pin_lclk(tx_lclk));

    reg  [7:0]     limit_seq;   // DATA frames below it have credit
    reg  [7:0]     retries;     // retries in a row without progress
    reg  [TMW-1:0] timer;

    wire [7:0] out_n      = hi_seq - base_seq;             // frames sent, not acknowledged
    wire       outstanding = out_n != 8'd0;
    wire [7:0] lim_gap    = limit_seq - send_seq;
    wire       credit_ok  = lim_gap != 8'd0 && !lim_gap[7];
    wire       frame_ready = send_seq != wr_seq;            // a whole frame is buffered to send
    wire       blocked    = !outstanding && frame_ready && !credit_ok;
    wire       send_data  = !link_error && frame_ready && credit_ok;
    wire       ctrl_owed  = ack_pending || nack_pending || poll_pending;
    wire       start      = f_state == F_IDLE && !nxt_valid && (ctrl_owed || send_data);

    // the acknowledgement an ACK/NACK event carries: frames up to ev_ack_seq are taken
    wire [7:0] ev_ack_seq = rx_ev_nack ? rx_ev_seq - 8'd1 : rx_ev_seq;
    wire [7:0] ev_new_base = ev_ack_seq + 8'd1;
    wire [7:0] ev_span    = ev_new_base - base_seq;
    wire       ev_valid   = rx_ack_ev && ev_span <= out_n;  // acknowledges only frames sent
    wire       ev_advance = ev_valid && ev_span != 8'd0;
    wire       ev_goback  = ev_valid && rx_ev_nack && ev_new_base != hi_seq;
    wire       progress   = ev_advance || (ev_valid && !outstanding);
    wire [7:0] ev_resend  = send_seq - ev_new_base;
    wire       kick       = start && !nack_pending && !ack_pending;     // a DATA frame or a POLL starts
    wire       expire     = !link_error && (outstanding || blocked) && timer == TIMER_END;
    wire       retry      = ev_goback || expire;
    wire [7:0] retries_base = ev_advance ? 8'd0 : retries;

    always @(posedge clk) begin
        // ---- the word builder
        if (nxt_take) begin
            nxt_valid <= 1'b0;
        end
        if (start) begin
            nxt_valid <= 1'b1;
            nxt_sof   <= 1'b1;
            f_state   <= F_CRC0;
            if (nack_pending) begin
                nxt_word     <= {T_NACK, credit, rx_seq};
                tx_crc       <= crc32_word(32'hFFFFFFFF, {T_NACK, credit, rx_seq});
                nack_pending <= 1'b0;
                ack_pending  <= 1'b0;                   // the NACK acknowledges rx_seq - 1 too
            end else if (ack_pending) begin
                nxt_word    <= {T_ACK, credit, rx_seq - 8'd1};
                tx_crc      <= crc32_word(32'hFFFFFFFF, {T_ACK, credit, rx_seq - 8'd1});
                ack_pending <= 1'b0;
            end else if (poll_pending) begin
                nxt_word     <= {T_POLL, 12'd0};
                tx_crc       <= crc32_word(32'hFFFFFFFF, {T_POLL, 12'd0});
                poll_pending <= 1'b0;
            end else begin
                nxt_word <= {T_DATA, 4'd0, send_seq};
                tx_crc   <= crc32_word(32'hFFFFFFFF, {T_DATA, 4'd0, send_seq});
                f_state  <= F_PAY;
                cur_seq  <= send_seq[TB-1:0];
                pay_idx  <= {IW{1'b0}};
                send_seq <= send_seq + 8'd1;
                if (send_seq == hi_seq) begin
                    hi_seq <= hi_seq + 8'd1;
                end else begin
                    cnt_retransmits <= cnt_retransmits + 1'b1;
                end
            end
        end else if (f_state == F_PAY && !nxt_valid) begin
            // read a payload word, then hand it over (the serializer needs it only a word later)
            if (!rd_wait && !tb_rd_en) begin
                tb_rd_en <= 1'b1;
            end else if (tb_rd_en) begin
                tb_rd_en <= 1'b0;
                rd_wait  <= 1'b1;
            end else begin
                rd_wait   <= 1'b0;
                nxt_word  <= tb_rd_data;
                nxt_sof   <= 1'b0;
                nxt_valid <= 1'b1;
                tx_crc    <= crc32_word(tx_crc, tb_rd_data);
                pay_idx   <= pay_idx + 1'b1;
                if (pay_idx == LAST_WORD) begin
                    f_state <= F_CRC0;
                end
            end
        end else if (f_state == F_CRC0 && !nxt_valid) begin
            nxt_word  <= ~tx_crc[15:0];
            nxt_sof   <= 1'b0;
            nxt_valid <= 1'b1;
            f_state   <= F_CRC1;
        end else if (f_state == F_CRC1 && !nxt_valid) begin
            nxt_word  <= ~tx_crc[31:16];
            nxt_sof   <= 1'b0;
            nxt_valid <= 1'b1;
            f_state   <= F_IDLE;
        end
        // ---- control frames owed (after the builder: a request of this cycle is kept)
        if (ack_req || credit_up) begin
            ack_pending <= 1'b1;
        end
        if (nack_req) begin
            nack_pending <= 1'b1;
        end
        // ---- acknowledgements, go-back, timer, retries
        if (ev_valid) begin
            base_seq  <= ev_new_base;
            limit_seq <= ev_new_base + {4'd0, rx_ev_credit};
            cnt_tx_frames <= cnt_tx_frames + {{(CW-8){1'b0}}, ev_span};
            // a frame being resent may already be acknowledged: resend from the new base
            if (ev_goback || ev_resend > hi_seq - ev_new_base) begin
                send_seq <= ev_new_base;
            end
        end
        if (!(outstanding || blocked) || progress || kick || retry) begin
            timer <= {TMW{1'b0}};
        end else begin
            timer <= timer + 1'b1;
        end
        if (retry) begin
            if (retries_base == MAX_RETRY8) begin
                link_error <= 1'b1;
            end else begin
                retries <= retries_base + 8'd1;
            end
            if (expire && outstanding) begin
                cnt_timeouts <= cnt_timeouts + 1'b1;
            end
            if (expire && !outstanding) begin
                poll_pending <= 1'b1;           // credit may have been granted in a lost ACK
            end
            if (expire && outstanding && !ev_valid) begin
                send_seq <= base_seq;           // go back N
            end
        end else if (progress) begin
            retries <= 8'd0;
        end
        if (rst) begin
            ack_pending     <= 1'b0;
            nack_pending    <= 1'b0;
            poll_pending    <= 1'b1;            // ask for the receiver's credit at start
            nxt_word        <= 16'd0;
            nxt_sof         <= 1'b0;
            nxt_valid       <= 1'b0;
            f_state         <= F_IDLE;
            rd_wait         <= 1'b0;
            tb_rd_en        <= 1'b0;
            tx_crc          <= 32'hFFFFFFFF;
            cur_seq         <= {TB{1'b0}};
            pay_idx         <= {IW{1'b0}};
            base_seq        <= 8'd0;
            send_seq        <= 8'd0;
            hi_seq          <= 8'd0;
            limit_seq       <= 8'd0;
            retries         <= 8'd0;
            timer           <= {TMW{1'b0}};
            link_error      <= 1'b0;
            cnt_tx_frames   <= {CW{1'b0}};
            cnt_retransmits <= {CW{1'b0}};
            cnt_timeouts    <= {CW{1'b0}};
        end
    end

endmodule

`resetall
