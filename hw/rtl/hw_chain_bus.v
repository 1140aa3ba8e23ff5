`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_chain_bus: register access to every chip of a chain through the first (docs/chain.md
// "Registers of the other chips"). It sits between a chip's register bus and its hw_core, and
// between the core's frames and the link ends (hw_chain_ends). On the first chip, two registers
// start an access of another chip's register: CHAIN_REMOTE_DATA holds the word to write (and
// returns the word read), a write of CHAIN_REMOTE sends a request frame around the ring. The chip
// it names performs the access on its own bus (in a gap of its host's accesses) and sends a reply
// frame on, which comes back to the first chip and ends the access.
//
// Control frames are frames of the chain (DIM words, the link's frame length), told from the
// core's by the header's kind: word 0 {kind, 3'b0, write, chip}, word 1 the register's word
// index, words 2 and 3 the data (low, high), the rest 0. They go out only between two of the
// core's frames and never reach the core. One access is under way at a time, so one frame buffer
// per chip is enough: a control frame is always taken off the link at once.
module hw_chain_bus #(
    parameter integer DIM        = 66,      // words per frame (hw_core's CHAIN_WORDS, D + 2)
    parameter [7:0]   CHIP_INDEX = 8'd0,    // this chip's place in the chain
    parameter integer CHIP_FIRST = 1,       // 1: the chip the host talks to (the mailbox)
    parameter [7:0]   R_REMOTE      = 8'd28,    // host/regmap.py CHAIN_REMOTE
    parameter [7:0]   R_REMOTE_DATA = 8'd29     // host/regmap.py CHAIN_REMOTE_DATA
) (
    input  wire        clk,
    input  wire        rst,
    // the host's register bus (UART bridge, or the chain top)
    input  wire        reg_wr,
    input  wire [7:0]  reg_addr,
    input  wire [31:0] reg_wdata,
    input  wire        reg_rd,
    output wire [31:0] reg_rdata,       // valid the cycle after reg_rd
    // the core's register bus
    output wire        core_wr,
    output wire [7:0]  core_addr,
    output wire [31:0] core_wdata,
    output wire        core_rd,
    input  wire [31:0] core_rdata,
    // the core's frames
    input  wire [15:0] core_tx_data,
    input  wire        core_tx_valid,
    output wire        core_tx_ready,
    output wire [15:0] core_rx_data,
    output wire        core_rx_valid,
    input  wire        core_rx_ready,
    // the link ends' frames
    output wire [15:0] link_tx_data,
    output wire        link_tx_valid,
    input  wire        link_tx_ready,
    input  wire [15:0] link_rx_data,
    input  wire        link_rx_valid,
    output wire        link_rx_ready
);
    localparam [3:0] K_REQUEST = 4'h3, K_REPLY = 4'h4;     // the core's are 1 (residual) and 2 (token)
    localparam integer IW = $clog2(DIM);
    localparam integer  LAST_I = DIM - 1;
    localparam [IW-1:0] WORD0 = 0, WORD1 = 1, WORD2 = 2, WORD3 = 3, LAST_WORD = LAST_I[IW-1:0];

    // ------------------------------------------------------------ the control frame buffer
    // C_FILL: taking a frame in; C_HAVE: one to handle; C_ACCESS / C_READ: this chip's access;
    // C_SEND: the frame goes on to the next chip
    localparam [2:0] C_IDLE = 3'd0, C_FILL = 3'd1, C_HAVE = 3'd2, C_ACCESS = 3'd3, C_READ = 3'd4, C_SEND = 3'd5;
    reg  [2:0]  c_state;
    reg  [3:0]  c_kind;
    reg         c_write;
    reg  [7:0]  c_chip;
    reg  [7:0]  c_addr;
    reg  [31:0] c_data;
    reg         c_back;                 // on the first chip: the frame ends the mailbox's access

    // ------------------------------------------------------------ frames in
    reg  [IW-1:0] rx_idx;               // word of the incoming frame
    reg           rx_ctl;               // the incoming frame (past word 0) is a control frame
    wire [3:0]    rx_kind = link_rx_data[15:12];
    wire          rx_ctl_now = (rx_idx == WORD0) ? (rx_kind == K_REQUEST || rx_kind == K_REPLY) : rx_ctl;
    // a control frame's word 0 waits for a free buffer (never for long: one access at a time)
    wire          rx_ctl_ready = (rx_idx != WORD0) || c_state == C_IDLE;
    assign link_rx_ready = rx_ctl_now ? rx_ctl_ready : core_rx_ready;
    assign core_rx_valid = link_rx_valid && !rx_ctl_now;
    assign core_rx_data  = link_rx_data;
    wire          rx_take = link_rx_valid && link_rx_ready;

    // ------------------------------------------------------------ frames out
    reg  [IW-1:0] core_tx_idx;          // words of the core's frame sent
    reg  [IW-1:0] ctl_tx_idx;           // words of the control frame sent
    reg           ctl_tx_on;            // a control frame is going out
    // a control frame starts only between two of the core's frames
    wire          ctl_tx = ctl_tx_on || (c_state == C_SEND && core_tx_idx == WORD0);
    wire [15:0]   ctl_word = (ctl_tx_idx == WORD0) ? {c_kind, 3'b000, c_write, c_chip} :
                             (ctl_tx_idx == WORD1) ? {8'd0, c_addr} :
                             (ctl_tx_idx == WORD2) ? c_data[15:0] :
                             (ctl_tx_idx == WORD3) ? c_data[31:16] : 16'd0;
    assign link_tx_data  = ctl_tx ? ctl_word : core_tx_data;
    assign link_tx_valid = ctl_tx || core_tx_valid;
    assign core_tx_ready = !ctl_tx && link_tx_ready;
    wire          ctl_tx_last = ctl_tx && link_tx_ready && ctl_tx_idx == LAST_WORD;

    // ------------------------------------------------------------ the host's bus, and the chip's own access
    wire          mb_addr = CHIP_FIRST != 0 && (reg_addr == R_REMOTE || reg_addr == R_REMOTE_DATA);
    reg  [1:0]    host_recent;          // the host used the bus in the last two cycles
    // the host's read data is taken up to two cycles after its reg_rd: the chip's own access waits
    wire          bus_free = !reg_wr && !reg_rd && host_recent == 2'b00;
    wire          own_access = c_state == C_ACCESS && bus_free;
    assign core_wr    = own_access ? c_write : (reg_wr && !mb_addr);
    assign core_rd    = own_access ? !c_write : (reg_rd && !mb_addr);
    assign core_addr  = own_access ? c_addr : reg_addr;
    assign core_wdata = own_access ? c_data : reg_wdata;

    // ------------------------------------------------------------ the mailbox (the first chip)
    reg           mb_busy;              // an access is under way
    reg           mb_missed;            // the last request came back untaken: no chip has that index
    reg           mb_write;
    reg  [7:0]    mb_chip;
    reg  [7:0]    mb_addr_reg;
    reg  [31:0]   mb_data;
    reg           mb_rd_q;
    reg  [31:0]   mb_word_q;
    wire          mb_start = CHIP_FIRST != 0 && reg_wr && reg_addr == R_REMOTE && !mb_busy;
    assign reg_rdata = mb_rd_q ? mb_word_q : core_rdata;

    // a frame in the buffer: do the access (it names this chip), end the mailbox's access (a reply,
    // or a request no chip took, back at the first chip) or send it on
    wire          c_mine   = c_kind == K_REQUEST && c_chip == CHIP_INDEX;
    wire          c_ends   = CHIP_FIRST != 0 && c_back;

    always @(posedge clk) begin
        host_recent <= {host_recent[0], reg_wr || reg_rd};
        if (reg_rd) begin                   // held until the next read, as hw_core's
            mb_rd_q   <= mb_addr;
            mb_word_q <= (reg_addr == R_REMOTE) ? {mb_busy, mb_missed, 13'd0, mb_write, mb_chip, mb_addr_reg}
                                                : mb_data;
        end
        if (CHIP_FIRST != 0 && reg_wr && reg_addr == R_REMOTE_DATA && !mb_busy)
            mb_data <= reg_wdata;

        // frames in
        if (rx_take) begin
            rx_idx <= (rx_idx == LAST_WORD) ? WORD0 : rx_idx + 1'b1;
            if (rx_idx == WORD0)
                rx_ctl <= rx_ctl_now;
            if (rx_ctl_now) begin
                case (rx_idx)
                    WORD0: begin
                        c_kind  <= rx_kind;
                        c_write <= link_rx_data[8];
                        c_chip  <= link_rx_data[7:0];
                        c_back  <= 1'b1;
                    end
                    WORD1: c_addr <= link_rx_data[7:0];
                    WORD2: c_data[15:0]  <= link_rx_data;
                    WORD3: c_data[31:16] <= link_rx_data;
                    default: ;
                endcase
                c_state <= (rx_idx == LAST_WORD) ? C_HAVE : C_FILL;
            end
        end

        // frames out
        if (ctl_tx && link_tx_ready) begin
            ctl_tx_idx <= (ctl_tx_idx == LAST_WORD) ? WORD0 : ctl_tx_idx + 1'b1;
            ctl_tx_on  <= !ctl_tx_last;
        end
        if (core_tx_valid && core_tx_ready)
            core_tx_idx <= (core_tx_idx == LAST_WORD) ? WORD0 : core_tx_idx + 1'b1;

        case (c_state)
            C_HAVE: begin
                if (c_ends) begin
                    // the reply (or an untaken request) is back at the first chip
                    mb_data   <= c_data;
                    mb_missed <= c_kind == K_REQUEST;
                    mb_busy   <= 1'b0;
                    c_state   <= C_IDLE;
                end else if (c_mine) begin
                    c_state <= C_ACCESS;
                end else begin
                    c_state <= C_SEND;
                end
            end
            C_ACCESS: if (own_access) c_state <= c_write ? C_HAVE : C_READ;
            C_READ: begin
                c_data  <= core_rdata;
                c_state <= C_HAVE;
            end
            C_SEND: if (ctl_tx_last) c_state <= C_IDLE;
            default: ;
        endcase
        // the chip's access done: the frame goes on as the reply (on the first chip it ends there)
        if (c_state == C_ACCESS && own_access) begin
            c_kind <= K_REPLY;
            c_back <= 1'b1;
        end

        // the mailbox: a request to the chip named (the first chip's own registers need no frame)
        if (mb_start) begin
            mb_busy     <= 1'b1;
            mb_missed   <= 1'b0;
            mb_write    <= reg_wdata[16];
            mb_chip     <= reg_wdata[15:8];
            mb_addr_reg <= reg_wdata[7:0];
            c_kind      <= K_REQUEST;
            c_write     <= reg_wdata[16];
            c_chip      <= reg_wdata[15:8];
            c_addr      <= reg_wdata[7:0];
            c_data      <= mb_data;
            c_back      <= 1'b0;
            c_state     <= (reg_wdata[15:8] == CHIP_INDEX) ? C_ACCESS : C_SEND;
        end

        if (rst) begin
            c_state     <= C_IDLE;
            rx_idx      <= WORD0;
            rx_ctl      <= 1'b0;
            core_tx_idx <= WORD0;
            ctl_tx_idx  <= WORD0;
            ctl_tx_on   <= 1'b0;
            host_recent <= 2'b00;
            mb_busy     <= 1'b0;
            mb_missed   <= 1'b0;
            mb_write    <= 1'b0;
            mb_chip     <= 8'd0;
            mb_addr_reg <= 8'd0;
            mb_data     <= 32'd0;
            mb_rd_q     <= 1'b0;
        end
    end

endmodule

`resetall
