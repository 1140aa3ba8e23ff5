`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_uart_bridge: the framed UART front end of the control interface.
//
// Wire protocol (docs/uart_protocol.md, host/serial_transport.py):
//   frame   = 0x00 COBS(payload) 0x00     (the leading 0x00 is optional)
//   payload = seq u8 | type u8 | body | crc32 u32 little endian
//   crc32   = zlib's CRC-32 of seq|type|body; a good payload has the CRC residue.
//   requests : WRITE 0x01 body addr|flags|N x u32 (1..32)   -> ACK 0x04
//              READ  0x02 body addr|flags|count (1..32)     -> READ_RESPONSE 0x03 count x u32
//              PING  0x06 empty                              -> ACK
//   flags bit0: the register address increments per word (else it stays, for FIFOs).
//   Streaming (opt-in): a write of STREAM_CTRL bit0 = 1 makes the bridge push the core's tokens
//   unasked, from TOKEN_ACK on, in STREAM frames 0x07: seq = the stream id (STREAM_CTRL[15:8]),
//   body = number of the first token u32 | 1..32 x token u16. Tokens stay in the core's ring
//   until the host writes TOKEN_ACK; a CONTROL write with RESET_STATE ends the stream.
//   LINK_CAPS reads bit0 = 1 (streaming supported); hw_core answers both registers with 0.
//   A frame with a bad CRC, a bad COBS code, a UART stop-bit error, a bad length
//   or an unknown type is answered with NACK 0x05 (body: reason u8) carrying the
//   received seq, and never touches the registers: the whole frame is buffered
//   and checked before the first register access.
//   Retries are idempotent: a request with the same seq and CRC as the last one
//   executed is not executed again; its cached response is re-sent.
//
// Datapath: hw_uart_rx -> COBS decoder (CRC on the fly) -> rx buffer (256 B) ->
// executor (register reads/writes, builds the response in the tx buffer) ->
// COBS encoder -> hw_uart_tx. The decoder keeps receiving while a response is
// sent; bytes that arrive while a frame waits to be executed are dropped up to
// the next delimiter (the host then retries). One CRC register serves both
// directions (the decoder is frozen while a response is built), and a NACK is
// built like any response, in a corner of the tx buffer (NACK_BASE) that the
// cached response never reaches. A stream frame is built in another corner (STREAM_BASE) with a
// CRC register of its own, since the decoder may be receiving a request meanwhile.
module hw_uart_bridge #(
    parameter CLKS_PER_BIT = 868    // clk cycles per UART bit (100 MHz / 115200 baud)
) (
    input  wire        clk,
    input  wire        rst,
    // serial pins (8N1, idle high)
    input  wire        uart_rxd,
    output wire        uart_txd,
    // control interface of hw_core
    output reg         reg_wr,
    output reg  [7:0]  reg_addr,
    output reg  [31:0] reg_wdata,
    output reg         reg_rd,
    input  wire [31:0] reg_rdata,   // valid the cycle after reg_rd
    // status
    output reg         frame_error  // one-cycle pulse per NACKed frame (for a LED)
);

    // ------------------------------------------------------------ protocol constants
    localparam [7:0] T_WRITE = 8'h01, T_READ = 8'h02, T_RESP = 8'h03,
                     T_ACK   = 8'h04, T_NACK = 8'h05, T_PING = 8'h06, T_STREAM = 8'h07;
    localparam [7:0] R_CRC = 8'd1, R_MALFORMED = 8'd2, R_REQUEST = 8'd3, R_UART = 8'd4;
    localparam [5:0] MAX_WORDS = 6'd32;             // words per WRITE / READ
    localparam [31:0] CRC_RESIDUE = 32'hDEBB20E3;   // CRC register after data + its CRC
    localparam [8:0] BUF_BYTES = 9'd256;            // rx and tx buffer size
    localparam [8:0] NACK_LEN = 9'd7;               // seq, type, reason, crc x4
    localparam [8:0] NACK_BASE = 9'd240;            // NACK bytes in tx_buf (responses <= 134 B)
    localparam [8:0] STREAM_BASE = 9'd136;          // stream frame bytes in tx_buf (<= 74 B)
    localparam [5:0] STREAM_MAX = 6'd32;            // tokens per stream frame
    // word indices the bridge uses or answers itself (host/regmap.py; tests/test_rtl_uart_bridge.py
    // checks them against the table)
    localparam [7:0] W_CONTROL = 8'h02, W_TOKEN_ACK = 8'h14, W_TOKEN_COUNT = 8'h15,
                     W_LINK_CAPS = 8'h16, W_STREAM_CTRL = 8'h17, W_TOKEN_WINDOW = 8'h40;
    localparam [31:0] LINK_CAPS_VALUE = 32'h1;      // bit0: token streaming

    // zlib CRC-32 (reflected, polynomial 0xEDB88320) of one more byte
    function [31:0] crc32_byte;
        input [31:0] crc;
        input [7:0]  b;
        integer k;
        reg [31:0] c;
        begin
            c = crc ^ {24'd0, b};
            for (k = 0; k < 8; k = k + 1)
                c = c[0] ? ((c >> 1) ^ 32'hEDB88320) : (c >> 1);
            crc32_byte = c;
        end
    endfunction

    // ------------------------------------------------------------ UART
    wire [7:0] rx_data;
    wire       rx_valid, rx_stop_error;
    reg  [7:0] tx_data;
    reg        tx_valid;
    wire       tx_ready;

    hw_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) uart_rx_inst (
        .clk(clk), .rst(rst), .rxd(uart_rxd),
        .data(rx_data), .valid(rx_valid), .stop_error(rx_stop_error));

    hw_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) uart_tx_inst (
        .clk(clk), .rst(rst), .data(tx_data), .valid(tx_valid), .ready(tx_ready),
        .txd(uart_txd));

    // ------------------------------------------------------------ buffers (one always per port)
    reg [7:0] rx_buf [0:255];   // decoded payload of the frame being received
    reg [7:0] tx_buf [0:255];   // the last response payload (kept for retries)

    wire       emit_en;         // decoder: store emit_byte at rx_len
    wire [7:0] emit_byte;
    reg  [8:0] rx_len;          // decoded payload bytes so far
    reg  [7:0] rx_rd_addr;
    reg  [7:0] rx_rd_data;
    reg  [7:0] tx_wa, tx_wd;
    reg  [7:0] tx_rd_addr;
    reg  [7:0] tx_rd_data;

    always @(posedge clk) if (emit_en && !rx_len[8]) rx_buf[rx_len[7:0]] <= emit_byte;   // = store
    always @(posedge clk) rx_rd_data <= rx_buf[rx_rd_addr];
    always @(posedge clk) if (tx_we) tx_buf[tx_wa] <= tx_wd;
    always @(posedge clk) tx_rd_data <= tx_buf[tx_rd_addr];

    // ------------------------------------------------------------ COBS decoder
    reg        frame_ready;     // a complete frame waits for the executor
    reg        frame_release;   // executor: the frame is consumed
    reg        resync;          // drop bytes up to the next delimiter
    reg [7:0]  cobs_left;       // data bytes left in the current COBS block
    reg        cobs_zero;       // the current block ends with an implicit zero
    reg        cobs_first;      // no block started yet in this frame
    reg        f_bad_stop, f_overflow, f_truncated;
    reg [7:0]  h_seq, h_type, h_addr, h_flags, h_count;   // first payload bytes
    reg [31:0] h_tail;          // last four decoded bytes = the CRC field at frame end

    wire in_frame   = rx_valid && !frame_ready && !resync;
    wire code_byte  = in_frame && rx_data != 8'h00 && cobs_left == 8'd0;
    assign emit_en   = (code_byte && !cobs_first && cobs_zero) ||
                       (in_frame && rx_data != 8'h00 && cobs_left != 8'd0);
    assign emit_byte = code_byte ? 8'h00 : rx_data;
    wire store = emit_en && rx_len != BUF_BYTES;   // a decoded byte goes into rx_buf

    // ------------------------------------------------------------ CRC-32 (shared)
    // The decoder runs it over a frame's payload; once the frame is checked the
    // executor restarts it (crc_init) over the response it builds.
    reg  [31:0] crc;
    wire        crc_init;                   // executor: checked, start the response CRC
    reg         tx_we, tx_crc_en;           // executor: a response byte (with its CRC) lands
    reg         is_stream;                  // executor: the bytes landing belong to a stream frame
    reg         s_crc_init;                 // executor: a stream frame starts
    // A decoded byte enters the CRC a cycle after it is stored (store_q, emit_q): the decoder's
    // byte logic and the CRC's XOR tree were one path (generator 1.15). The frame's last byte is a
    // byte time (>= 10 bit times) before its delimiter, so the CRC is complete when the frame is.
    reg         store_q;
    reg  [7:0]  emit_q;
    always @(posedge clk) begin
        store_q <= !rst && store;
        emit_q  <= emit_byte;
    end
    wire [7:0]  crc_byte = store_q ? emit_q : tx_wd;
    wire [31:0] crc_next = crc32_byte(crc, crc_byte);

    always @(posedge clk) begin
        if (rst || frame_release || crc_init) begin
            crc <= 32'hFFFFFFFF;
        end else if (store_q || (tx_we && tx_crc_en && !is_stream)) begin
            crc <= crc_next;
        end
    end

    // the stream frame's CRC: its own register, the decoder keeps receiving meanwhile
    reg  [31:0] s_crc;
    always @(posedge clk) begin
        if (rst || s_crc_init) begin
            s_crc <= 32'hFFFFFFFF;
        end else if (tx_we && tx_crc_en && is_stream) begin
            s_crc <= crc32_byte(s_crc, tx_wd);
        end
    end

    always @(posedge clk) begin
        if (frame_release) begin
            frame_ready <= 1'b0;
            rx_len      <= 9'd0;
            cobs_left   <= 8'd0;
            cobs_first  <= 1'b1;
            f_bad_stop  <= 1'b0;
            f_overflow  <= 1'b0;
            f_truncated <= 1'b0;
        end else if (rx_valid && (frame_ready || resync)) begin
            // a frame waits (or this one was cut): skip to the next delimiter
            resync <= rx_data != 8'h00;
        end else if (rx_stop_error && !frame_ready && !resync) begin
            f_bad_stop <= 1'b1;
        end else if (in_frame) begin
            if (rx_data == 8'h00) begin
                if (rx_len != 9'd0 || !cobs_first || f_bad_stop) begin
                    frame_ready <= 1'b1;
                    f_truncated <= cobs_left != 8'd0;
                end
            end else if (cobs_left == 8'd0) begin
                cobs_left  <= rx_data - 8'd1;
                cobs_zero  <= rx_data != 8'hFF;
                cobs_first <= 1'b0;
            end else begin
                cobs_left <= cobs_left - 8'd1;
            end
        end
        if (emit_en) begin
            if (!store) begin
                f_overflow <= 1'b1;
            end else begin
                rx_len <= rx_len + 9'd1;
                h_tail <= {emit_byte, h_tail[31:8]};
                case (rx_len)
                    9'd0: h_seq   <= emit_byte;
                    9'd1: h_type  <= emit_byte;
                    9'd2: h_addr  <= emit_byte;
                    9'd3: h_flags <= emit_byte;
                    9'd4: h_count <= emit_byte;
                    default: ;
                endcase
            end
        end
        if (rst) begin
            frame_ready <= 1'b0;
            resync      <= 1'b0;
            rx_len      <= 9'd0;
            cobs_left   <= 8'd0;
            cobs_zero   <= 1'b0;
            cobs_first  <= 1'b1;
            f_bad_stop  <= 1'b0;
            f_overflow  <= 1'b0;
            f_truncated <= 1'b0;
            h_seq       <= 8'd0;
            h_type      <= 8'd0;
            h_addr      <= 8'd0;
            h_flags     <= 8'd0;
            h_count     <= 8'd0;
            h_tail      <= 32'd0;
        end
    end

    // ------------------------------------------------------------ executor
    localparam [4:0] M_IDLE = 5'd0, M_CHECK = 5'd1, M_HDR0 = 5'd2, M_HDR1 = 5'd3,
                     M_WR_ISSUE = 5'd4, M_WR_WAIT = 5'd5, M_WR_TAKE = 5'd6,
                     M_WR_STROBE = 5'd7, M_RD_STROBE = 5'd8, M_RD_WAIT = 5'd9,
                     M_RD_TAKE = 5'd10, M_RD_BYTES = 5'd11, M_NACK_BODY = 5'd12,
                     M_CRC_WAIT = 5'd13, M_CRC = 5'd14, M_FINISH = 5'd15,
                     // the stream (m_state[4]): poll TOKEN_ACK and TOKEN_COUNT, then build a frame
                     M_ST_ACK = 5'd16, M_ST_ACK_WAIT = 5'd17, M_ST_ACK_TAKE = 5'd18,
                     M_ST_CNT_WAIT = 5'd19, M_ST_CNT_TAKE = 5'd20, M_ST_DECIDE = 5'd21,
                     M_ST_HDR = 5'd22, M_ST_RD = 5'd23, M_ST_RD_WAIT = 5'd24,
                     M_ST_RD_TAKE = 5'd25, M_ST_TOK_HI = 5'd26, M_ST_SUMS = 5'd27;

    wire [8:0] body_len = rx_len - 9'd6;            // payload minus seq, type, crc
    wire [6:0] n_write  = body_len[8:2];            // words of a WRITE: (body_len - 2) / 4

    reg [4:0]  m_state;
    reg        tx_start;        // pulse to the encoder: send send_len bytes from send_base
    reg [7:0]  send_base;
    reg [8:0]  send_len;
    reg [8:0]  resp_len;        // bytes of the cached response (tx_buf from 0)
    reg        have_last;       // a response is cached
    reg [7:0]  last_seq;
    reg [31:0] last_crc;
    reg        is_nack;         // the response being built is a NACK
    reg [7:0]  resp_seq, nack_reason;
    reg [5:0]  words_left;      // words still to write / read after the current one
    reg [1:0]  byte_idx;
    reg [7:0]  rd_ptr;          // next rx_buf byte of WRITE data
    reg [31:0] word;
    reg [8:0]  tx_wptr;         // next tx_buf byte to write
    reg        tx_busy;         // owned by the encoder
    reg [7:0]  rd_word;         // the register a READ word comes from (reg_addr steps meanwhile)
    // the stream
    reg        stream_on;       // STREAM_CTRL bit0
    reg        stream_sync;     // just enabled: the first poll starts the stream at TOKEN_ACK
    reg [7:0]  stream_id;       // STREAM_CTRL[15:8], the seq of every stream frame
    reg [31:0] stream_next;     // number of the next token to push
    reg [31:0] st_ack, st_count;    // TOKEN_ACK, TOKEN_COUNT as polled
    reg [47:0] st_hdr;          // the stream frame's seq, type and first number, sent low byte first
    reg [2:0]  st_hdr_idx;
    reg [5:0]  st_n;            // tokens in the frame being built
    reg [5:0]  st_left;         // tokens still to read after the current one
    reg [31:0] st_no;           // number of the token being read
    reg [7:0]  st_tok_hi;
    // M_ST_SUMS registers the poll's differences before M_ST_DECIDE (two subtractions and the
    // decision's compares in one cycle were a 15.8 ns path by hw.backends.ecp5_timing)
    reg  [31:0] st_held;        // tokens the ring holds
    reg  [31:0] st_sent;        // of which already pushed
    wire [31:0] st_avail = st_held - st_sent;
    wire        st_valid_word = reg_rdata[31] && reg_rdata[30:16] == st_no[14:0];

    assign crc_init = m_state == M_CHECK;
    wire stream_state = m_state[4];     // stream accesses set reg_addr themselves

    // M_CHECK's tests, registered every cycle: the frame, its CRC and the cached
    // response do not change from the cycle frame_ready is seen (in M_IDLE) until
    // M_CHECK, and the tests chained into its decision were a long path
    reg ck_uart, ck_malformed, ck_crc, ck_retry, ck_flags, ck_write, ck_read, ck_ping;
    always @(posedge clk) begin
        ck_uart      <= f_bad_stop;
        ck_malformed <= f_overflow || f_truncated || rx_len < 9'd6;
        ck_crc       <= crc != CRC_RESIDUE;
        ck_retry     <= have_last && h_seq == last_seq && h_tail == last_crc;
        ck_flags     <= h_flags[7:1] != 7'd0 && (h_type == T_WRITE || h_type == T_READ);
        ck_write     <= h_type == T_WRITE && body_len[1:0] == 2'b10 && body_len >= 9'd6
                        && n_write <= {1'b0, MAX_WORDS};
        ck_read      <= h_type == T_READ && body_len == 9'd3 && h_count != 8'd0
                        && h_count <= {2'b00, MAX_WORDS};
        ck_ping      <= h_type == T_PING && body_len == 9'd0;
    end

    // queue one response byte for tx_buf (with the response CRC unless it is the CRC)
    task put_byte;
        input [7:0] b;
        input       crc_too;
        begin
            tx_we     <= 1'b1;
            tx_crc_en <= crc_too;
            tx_wa     <= tx_wptr[7:0];
            tx_wd     <= b;
            tx_wptr   <= tx_wptr + 9'd1;
        end
    endtask

    // answer the frame with a NACK (built at NACK_BASE; the cached response stays)
    task nack;
        input [7:0] reason;
        begin
            is_nack     <= 1'b1;
            nack_reason <= reason;
            tx_wptr     <= NACK_BASE;
            m_state     <= M_HDR0;
        end
    endtask

    always @(posedge clk) begin
        tx_we         <= 1'b0;
        tx_start      <= 1'b0;
        s_crc_init    <= 1'b0;
        frame_release <= 1'b0;
        frame_error   <= 1'b0;
        reg_wr        <= 1'b0;
        reg_rd        <= 1'b0;
        case (m_state)
            M_IDLE: begin
                // wait until the encoder is idle: the tx buffer is free
                if (frame_ready && !frame_release && !tx_busy && !tx_start) m_state <= M_CHECK;
                else if (stream_on && !tx_busy && !tx_start) m_state <= M_ST_ACK;
            end
            M_CHECK: begin
                resp_seq <= (rx_len != 9'd0) ? h_seq : 8'd0;
                is_nack  <= 1'b0;
                tx_wptr  <= 9'd0;
                reg_addr <= h_addr;
                rd_ptr   <= 8'd4;
                byte_idx <= 2'd0;
                if (ck_uart) begin
                    nack(R_UART);
                end else if (ck_malformed) begin
                    nack(R_MALFORMED);
                end else if (ck_crc) begin
                    nack(R_CRC);
                end else if (ck_retry) begin
                    // a retry of the request just executed: send its response again
                    send_base     <= 8'd0;
                    send_len      <= resp_len;
                    tx_start      <= 1'b1;
                    frame_release <= 1'b1;
                    m_state       <= M_IDLE;
                end else if (ck_flags) begin
                    nack(R_REQUEST);            // reserved flag bits must be 0
                end else if (ck_write) begin
                    words_left <= n_write[5:0] - 6'd1;
                    m_state    <= M_HDR0;
                end else if (ck_read) begin
                    words_left <= h_count[5:0] - 6'd1;
                    m_state    <= M_HDR0;
                end else if (ck_ping) begin
                    m_state <= M_HDR0;
                end else begin
                    nack(R_REQUEST);
                end
            end
            M_HDR0: begin
                put_byte(resp_seq, 1'b1);
                m_state <= M_HDR1;
            end
            M_HDR1: begin
                put_byte(is_nack ? T_NACK : (h_type == T_READ) ? T_RESP : T_ACK, 1'b1);
                if (is_nack)                m_state <= M_NACK_BODY;
                else if (h_type == T_WRITE) m_state <= M_WR_ISSUE;
                else if (h_type == T_READ)  m_state <= M_RD_STROBE;
                else                        m_state <= M_CRC_WAIT;
                byte_idx <= 2'd0;
            end
            M_NACK_BODY: begin
                put_byte(nack_reason, 1'b1);
                m_state <= M_CRC_WAIT;
            end
            // WRITE: gather four bytes from rx_buf, then one register write
            M_WR_ISSUE: begin
                rx_rd_addr <= rd_ptr;
                rd_ptr     <= rd_ptr + 8'd1;
                m_state    <= M_WR_WAIT;
            end
            M_WR_WAIT: m_state <= M_WR_TAKE;
            M_WR_TAKE: begin
                word     <= {rx_rd_data, word[31:8]};   // little endian
                byte_idx <= byte_idx + 2'd1;
                m_state  <= (byte_idx == 2'd3) ? M_WR_STROBE : M_WR_ISSUE;
            end
            M_WR_STROBE: begin
                reg_wr    <= reg_addr != W_STREAM_CTRL;     // the bridge's own register
                reg_wdata <= word;
                if (reg_addr == W_STREAM_CTRL) begin
                    stream_on   <= word[0];
                    stream_sync <= 1'b1;
                    stream_id   <= word[15:8];
                end
                // RESET_STATE restarts the token numbers: the stream ends with the run
                if (reg_addr == W_CONTROL && word[1]) stream_on <= 1'b0;
                if (words_left == 6'd0) begin
                    m_state <= M_CRC_WAIT;
                end else begin
                    words_left <= words_left - 6'd1;
                    m_state    <= M_WR_ISSUE;
                end
            end
            // READ: one register read, its four bytes into the response
            M_RD_STROBE: begin
                reg_rd  <= 1'b1;
                rd_word <= reg_addr;
                m_state <= M_RD_WAIT;
            end
            M_RD_WAIT: m_state <= M_RD_TAKE;           // reg_rdata is valid next cycle
            M_RD_TAKE: begin
                if (rd_word == W_LINK_CAPS)        word <= LINK_CAPS_VALUE;
                else if (rd_word == W_STREAM_CTRL) word <= {16'd0, stream_id, 7'd0, stream_on};
                else                               word <= reg_rdata;
                byte_idx <= 2'd0;
                m_state  <= M_RD_BYTES;
            end
            M_RD_BYTES: begin
                put_byte(word[7:0], 1'b1);
                word     <= {8'd0, word[31:8]};
                byte_idx <= byte_idx + 2'd1;
                if (byte_idx == 2'd3) begin
                    if (words_left == 6'd0) begin
                        m_state <= M_CRC_WAIT;
                    end else begin
                        words_left <= words_left - 6'd1;
                        m_state    <= M_RD_STROBE;
                    end
                end
            end
            M_CRC_WAIT: begin       // the last byte's CRC update lands this cycle
                byte_idx <= 2'd0;
                m_state  <= M_CRC;
            end
            M_CRC: begin
                put_byte(is_stream ? ~s_crc[8 * byte_idx +: 8] : ~crc[8 * byte_idx +: 8], 1'b0);
                byte_idx <= byte_idx + 2'd1;
                if (byte_idx == 2'd3) m_state <= M_FINISH;
            end
            // ---- the stream: poll the ring, push what the host has not been sent yet
            M_ST_ACK: begin
                reg_addr <= W_TOKEN_ACK;
                reg_rd   <= 1'b1;
                m_state  <= M_ST_ACK_WAIT;
            end
            M_ST_ACK_WAIT: m_state <= M_ST_ACK_TAKE;
            M_ST_ACK_TAKE: begin
                st_ack   <= reg_rdata;
                reg_addr <= W_TOKEN_COUNT;
                reg_rd   <= 1'b1;
                m_state  <= M_ST_CNT_WAIT;
            end
            M_ST_CNT_WAIT: m_state <= M_ST_CNT_TAKE;
            M_ST_CNT_TAKE: begin
                st_count <= reg_rdata;
                m_state  <= M_ST_SUMS;
            end
            M_ST_SUMS: begin
                st_held <= st_count - st_ack;
                st_sent <= stream_next - st_ack;
                m_state <= M_ST_DECIDE;
            end
            M_ST_DECIDE: begin
                if (stream_sync || st_sent > st_held) begin
                    // just enabled, or the host acknowledged past the stream (it read those
                    // tokens by number), or the ring restarted: go on from TOKEN_ACK
                    stream_next <= st_ack;
                    stream_sync <= 1'b0;
                    m_state     <= M_IDLE;
                end else if (st_avail == 32'd0) begin
                    m_state <= M_IDLE;
                end else begin
                    st_n       <= (st_avail > {26'd0, STREAM_MAX}) ? STREAM_MAX : st_avail[5:0];
                    st_left    <= (st_avail > {26'd0, STREAM_MAX}) ? STREAM_MAX - 6'd1 : st_avail[5:0] - 6'd1;
                    st_no      <= stream_next;
                    st_hdr     <= {stream_next, T_STREAM, stream_id};
                    st_hdr_idx <= 3'd0;
                    reg_addr   <= W_TOKEN_WINDOW + st_sent[7:0];
                    is_stream  <= 1'b1;
                    s_crc_init <= 1'b1;
                    tx_wptr    <= STREAM_BASE;
                    m_state    <= M_ST_HDR;
                end
            end
            M_ST_HDR: begin
                put_byte(st_hdr[7:0], 1'b1);
                st_hdr     <= {8'd0, st_hdr[47:8]};
                st_hdr_idx <= st_hdr_idx + 3'd1;
                if (st_hdr_idx == 3'd5) m_state <= M_ST_RD;
            end
            M_ST_RD: begin
                reg_rd  <= 1'b1;
                m_state <= M_ST_RD_WAIT;
            end
            M_ST_RD_WAIT: m_state <= M_ST_RD_TAKE;
            M_ST_RD_TAKE: begin
                if (!st_valid_word) begin
                    // the ring moved under the poll (a reset): drop this frame, poll again
                    is_stream <= 1'b0;
                    m_state   <= M_IDLE;
                end else begin
                    put_byte(reg_rdata[7:0], 1'b1);
                    st_tok_hi <= reg_rdata[15:8];
                    m_state   <= M_ST_TOK_HI;
                end
            end
            M_ST_TOK_HI: begin
                put_byte(st_tok_hi, 1'b1);
                reg_addr <= reg_addr + 8'd1;
                st_no    <= st_no + 32'd1;
                if (st_left == 6'd0) begin
                    m_state <= M_CRC_WAIT;
                end else begin
                    st_left <= st_left - 6'd1;
                    m_state <= M_ST_RD;
                end
            end
            default: begin  // M_FINISH: the last tx_buf write lands this cycle
                if (is_stream) begin
                    // a stream frame: the rx frame and the cached response stay as they are
                    send_base   <= STREAM_BASE[7:0];
                    send_len    <= tx_wptr - STREAM_BASE;
                    stream_next <= stream_next + {26'd0, st_n};
                    is_stream   <= 1'b0;
                    tx_start    <= 1'b1;
                    m_state     <= M_IDLE;
                end else if (is_nack) begin
                    send_base   <= NACK_BASE[7:0];
                    send_len    <= NACK_LEN;
                    frame_error <= 1'b1;
                end else begin
                    send_base <= 8'd0;
                    send_len  <= tx_wptr;
                    resp_len  <= tx_wptr;
                    have_last <= 1'b1;
                    last_seq  <= h_seq;
                    last_crc  <= h_tail;
                end
                if (!is_stream) begin
                    tx_start      <= 1'b1;
                    frame_release <= 1'b1;
                    m_state       <= M_IDLE;
                end
            end
        endcase
        // the register address steps after each access when flags bit0 is set
        if ((reg_wr || reg_rd) && h_flags[0] && !stream_state) reg_addr <= reg_addr + 8'd1;
        if (rst) begin
            m_state       <= M_IDLE;
            tx_we         <= 1'b0;
            tx_crc_en     <= 1'b0;
            tx_start      <= 1'b0;
            frame_release <= 1'b0;
            frame_error   <= 1'b0;
            reg_wr        <= 1'b0;
            reg_rd        <= 1'b0;
            reg_addr      <= 8'd0;
            reg_wdata     <= 32'd0;
            send_base     <= 8'd0;
            send_len      <= 9'd0;
            resp_len      <= 9'd0;
            have_last     <= 1'b0;
            last_seq      <= 8'd0;
            last_crc      <= 32'd0;
            is_nack       <= 1'b0;
            resp_seq      <= 8'd0;
            nack_reason   <= 8'd0;
            words_left    <= 6'd0;
            byte_idx      <= 2'd0;
            rd_ptr        <= 8'd0;
            rx_rd_addr    <= 8'd0;
            word          <= 32'd0;
            tx_wptr       <= 9'd0;
            tx_wa         <= 8'd0;
            tx_wd         <= 8'd0;
            is_stream     <= 1'b0;
            s_crc_init    <= 1'b0;
            rd_word       <= 8'd0;
            stream_on     <= 1'b0;
            stream_sync   <= 1'b0;
            stream_id     <= 8'd0;
            stream_next   <= 32'd0;
            st_ack        <= 32'd0;
            st_count      <= 32'd0;
            st_hdr        <= 48'd0;
            st_hdr_idx    <= 3'd0;
            st_n          <= 6'd0;
            st_left       <= 6'd0;
            st_no         <= 32'd0;
            st_tok_hi     <= 8'd0;
        end
    end

    // ------------------------------------------------------------ COBS encoder
    // Per block: scan for the next zero (at most 254 bytes), send the code byte,
    // then the block's bytes; a 0x00 delimiter before and after the frame.
    localparam [3:0] E_IDLE = 4'd0, E_LEAD = 4'd1, E_SCAN = 4'd2, E_SCAN_WAIT = 4'd3,
                     E_SCAN_TEST = 4'd4, E_CODE = 4'd5, E_DATA = 4'd6, E_DATA_WAIT = 4'd7,
                     E_DATA_SEND = 4'd8, E_NEXT = 4'd9, E_TAIL = 4'd10, E_SEND = 4'd11,
                     E_SCAN_ZERO = 4'd12;

    reg [3:0] e_state, e_ret;   // e_ret: where E_SEND returns
    reg [7:0] e_base;           // first tx_buf byte of the payload
    reg [8:0] e_len;            // payload bytes to encode
    reg [8:0] e_pos;            // first byte of the current block
    reg [8:0] e_j;              // scan / send pointer
    reg       e_zero;           // the block ends at a zero byte of the payload
    reg       e_last;           // the delimiter after the frame is being sent
    // the scanned byte's "is zero", registered: the block RAM's output, a compare and the
    // next state in one cycle were a long path (a cycle a scanned byte costs nothing at
    // the UART's ~20 cycles a bit)
    reg       e_byte_zero;

    always @(posedge clk) begin
        case (e_state)
            E_IDLE: begin
                if (tx_start) begin
                    tx_busy <= 1'b1;
                    e_base  <= send_base;
                    e_len   <= send_len;
                    e_pos   <= 9'd0;
                    e_j     <= 9'd0;
                    e_last  <= 1'b0;
                    e_state <= E_LEAD;
                end
            end
            E_LEAD: begin
                tx_data  <= 8'h00;
                tx_valid <= 1'b1;
                e_ret    <= E_SCAN;
                e_state  <= E_SEND;
            end
            E_SCAN: begin
                if (e_j == e_len || e_j - e_pos == 9'd254) begin
                    e_zero  <= 1'b0;
                    e_state <= E_CODE;
                end else begin
                    tx_rd_addr <= e_base + e_j[7:0];
                    e_state    <= E_SCAN_WAIT;
                end
            end
            E_SCAN_WAIT: e_state <= E_SCAN_ZERO;
            E_SCAN_ZERO: begin
                e_byte_zero <= (tx_rd_data == 8'h00);
                e_state     <= E_SCAN_TEST;
            end
            E_SCAN_TEST: begin
                if (e_byte_zero) begin
                    e_zero  <= 1'b1;
                    e_state <= E_CODE;
                end else begin
                    e_j     <= e_j + 9'd1;
                    e_state <= E_SCAN;
                end
            end
            E_CODE: begin
                tx_data  <= e_j[7:0] - e_pos[7:0] + 8'd1;
                tx_valid <= 1'b1;
                e_ret    <= E_DATA;
                e_state  <= E_SEND;
                e_j      <= e_pos;      // now walk the block's bytes
                e_pos    <= e_j;        // and remember where the block ends
            end
            // (from here e_pos = block end, e_j = byte to send)
            E_DATA: begin
                if (e_j == e_pos) begin
                    e_state <= E_NEXT;
                end else begin
                    tx_rd_addr <= e_base + e_j[7:0];
                    e_state    <= E_DATA_WAIT;
                end
            end
            E_DATA_WAIT: e_state <= E_DATA_SEND;
            E_DATA_SEND: begin
                tx_data  <= tx_rd_data;
                tx_valid <= 1'b1;
                e_j      <= e_j + 9'd1;
                e_ret    <= E_DATA;
                e_state  <= E_SEND;
            end
            E_NEXT: begin
                if (e_zero) begin
                    e_pos   <= e_pos + 9'd1;    // skip the zero; a new block follows
                    e_j     <= e_pos + 9'd1;
                    e_state <= E_SCAN;
                end else if (e_pos == e_len) begin
                    e_state <= E_TAIL;
                end else begin
                    e_state <= E_SCAN;          // a full 254-byte block: no zero to skip
                end
            end
            E_TAIL: begin
                tx_data  <= 8'h00;
                tx_valid <= 1'b1;
                e_last   <= 1'b1;
                e_ret    <= E_IDLE;
                e_state  <= E_SEND;
            end
            default: begin  // E_SEND: hold the byte until the transmitter takes it
                if (tx_valid && tx_ready) begin
                    tx_valid <= 1'b0;
                    e_state  <= e_ret;
                    if (e_last) tx_busy <= 1'b0;
                end
            end
        endcase
        if (rst) begin
            e_state    <= E_IDLE;
            e_ret      <= E_IDLE;
            tx_busy    <= 1'b0;
            tx_valid   <= 1'b0;
            tx_data    <= 8'h00;
            tx_rd_addr <= 8'd0;
            e_base     <= 8'd0;
            e_len      <= 9'd0;
            e_pos      <= 9'd0;
            e_j        <= 9'd0;
            e_zero     <= 1'b0;
            e_byte_zero <= 1'b0;
            e_last     <= 1'b0;
        end
    end

endmodule

`resetall
