`resetall
`timescale 1ns / 1ps
`default_nettype none

// hw_rsqrt: 1/sqrt(ss) ~= r * 2**-(23 + k) for an unsigned ss > 0, exactly as
// hw/numerics.py rsqrt_fixed: k = floor((bitlen(ss) - 15) / 2), the mantissa
// mt = ss * 2**-2k lies in [2**14, 2**16), r = RSQRT[mt >> 6] from a 1024 x 16
// table ($readmemh of TABLE_FILE, written by hw/rtl_tables.py rsqrt_hex).
// Pipelined, one item per cycle, LATENCY = 4: S1 input register and the leading
// one -> S2 k and shift amount -> S3 table index (the shift) -> S4 table read; the
// leading one and the shift were one stage, a long path at 40+ MHz on the ECP5, and
// the leading one and its k and shift were 12 LUT levels at 60 MHz (generator 1.15:
// the leading one is found from the input, which the caller holds in a register).
// ss = 0 gives r = 0.
module hw_rsqrt #(
    parameter SSW        = 40,          // bits of ss (unsigned), 2..76
    parameter TABLE_FILE = "rsqrt.hex"  // 1024 words of 16 bits
) (
    input  wire              clk,
    input  wire              rst,       // sync, clears out_valid
    input  wire              in_valid,
    input  wire [SSW-1:0]    ss,        // from a register (the leading one is found from it)
    output wire              out_valid,
    output wire [15:0]       r,         // table value (unsigned)
    output wire signed [5:0] k          // exponent: 1/sqrt(ss) ~= r * 2**-(23 + k)
);

    localparam LATENCY = 4;             // cycles from in_valid to out_valid
    localparam XW      = SSW + 16;      // ss << 16: room for the left shifts (k >= -8)
    localparam AW      = $clog2(XW);    // bits of a right shift amount (< XW)

    // ---------------------------------------------------------------- S1: input register, leading one
    // bitlen b = position of the leading one + 1 (0 for ss = 0). The leading one is one-hot (its
    // bit set, none above), found from ss itself (a register of the caller's) and registered with
    // it, so S2 is only the ORs below. "None above" is a suffix OR by runs of 4, 16, 64 and 128
    // bits (4-input ORs), each kept as a wire: written bit by bit, or as a plain doubling, the
    // tools mapped one OR chain shared by all the bits (11 LUT levels, 17.0 ns by
    // hw.backends.ecp5_timing on stories260K's core; 4 levels this way).
    integer i;
    (* keep *) wire [SSW-1:0] any4;                     // any4[i]  = |ss[i +: 4]
    (* keep *) wire [SSW-1:0] any16;                    // any16[i] = |ss[i +: 16]
    (* keep *) wire [SSW-1:0] any64;                    // any64[i] = |ss[i +: 64]
    wire [SSW-1:0] any_from;                            // any_from[i] = |ss[SSW-1:i] (SSW <= 128)
    // the same with zeros past the top, for the runs that reach beyond it
    wire [SSW+3-1:0]  ss_x    = {3'd0, ss};
    wire [SSW+12-1:0] any4_x  = {12'd0, any4};
    wire [SSW+48-1:0] any16_x = {48'd0, any16};
    wire [SSW+64-1:0] any64_x = {64'd0, any64};
    genvar gi;
    generate
        for (gi = 0; gi < SSW; gi = gi + 1) begin : g_runs
            assign any4[gi]     = |ss_x[gi +: 4];
            assign any16[gi]    = any4_x[gi] | any4_x[gi + 4] | any4_x[gi + 8] | any4_x[gi + 12];
            assign any64[gi]    = any16_x[gi] | any16_x[gi + 16] | any16_x[gi + 32] | any16_x[gi + 48];
            assign any_from[gi] = any64_x[gi] | any64_x[gi + 64];
        end
    endgenerate
    wire unused_runs = &{1'b0, ss_x[SSW+3-1:SSW], any4_x[SSW+12-1:SSW], any16_x[SSW+48-1:SSW], any64_x[SSW+64-1:SSW]};
    wire [SSW-1:0] lead = ss & ~(any_from >> 1);
    reg [SSW-1:0] ss_s1;
    reg [SSW-1:0] lead_s1;

    always @(posedge clk) begin
        ss_s1   <= ss;
        lead_s1 <= lead;
    end

    // ---------------------------------------------------------------- S2: k and shift amount
    // k = (b - 15) >>> 1; index = mt >> 6 = (ss << 16) >> (2k + 22) (2k + 22 >= 6): ORs of
    // per-position constants selected by the one-hot leading one (a priority chain over SSW bits
    // was a long path).
    integer k_int;
    integer amt_int;
    reg  [AW-1:0]  amt;
    reg  [5:0]     k_bits;

    always @* begin
        k_int   = (0 - 15) >>> 1;             // ss = 0: b = 0
        amt_int = 2 * k_int + 22;
        k_bits  = (|lead_s1) ? 6'd0 : k_int[5:0];
        amt     = (|lead_s1) ? {AW{1'b0}} : amt_int[AW-1:0];
        for (i = 0; i < SSW; i = i + 1) begin
            k_int   = (i + 1 - 15) >>> 1;
            amt_int = 2 * k_int + 22;
            k_bits  = k_bits | ({6{lead_s1[i]}} & k_int[5:0]);
            amt     = amt | ({AW{lead_s1[i]}} & amt_int[AW-1:0]);
        end
    end

    reg [SSW-1:0]    ss_s2;
    reg [AW-1:0]     amt_s2;
    reg signed [5:0] k_s2;

    always @(posedge clk) begin
        ss_s2  <= ss_s1;
        amt_s2 <= amt;
        k_s2   <= k_bits;
    end

    wire unused_int = &{1'b0, k_int[31:6], amt_int[31:AW]};

    // ---------------------------------------------------------------- S3: table index
    wire [XW-1:0] ss_ext = {ss_s2, 16'd0};
    wire [XW-1:0] mt_ext = ss_ext >> amt_s2;
    reg [9:0]        idx_s3;
    reg signed [5:0] k_s3;

    always @(posedge clk) begin
        idx_s3 <= mt_ext[9:0];
        k_s3   <= k_s2;
    end

    // mt_ext bits above 9 are zero by construction (mt < 2**16).
    wire unused_mt = &{1'b0, mt_ext[XW-1:10]};

    // ---------------------------------------------------------------- S4: table read
    wire [15:0]      r_s4;
    reg signed [5:0] k_s4;

    hw_rom #(
        .WIDTH(16),
        .DEPTH(1024),
        .FILE(TABLE_FILE)
    ) table_rom (
        .clk(clk),
        .en(1'b1),
        .addr(idx_s3),
        .q(r_s4)
    );

    always @(posedge clk) begin
        k_s4 <= k_s3;
    end

    // ---------------------------------------------------------------- valid pipe
    hw_valid_pipe #(
        .DEPTH(LATENCY)
    ) vpipe (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .out_valid(out_valid)
    );
    assign r = r_s4;
    assign k = k_s4;

endmodule

`resetall
