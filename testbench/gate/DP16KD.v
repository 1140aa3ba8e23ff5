// Simulation model of the ECP5 DP16KD (18-kbit block RAM) in the configurations Yosys's
// synth_ecp5 maps onto it (share/lattice/brams_map_16kd.v): true dual port at 9 or 18 bits a port
// ($__DP16KD_, byte enables on the low address bits), and the 36-bit pseudo dual port ($__PDPW16KD_:
// port A writes {DIB, DIA}, port B reads {DOB, DOA}); NOREG or OUTREG; NORMAL, WRITETHROUGH or
// READBEFOREWRITE; each port on its own clock. Yosys ships this cell as an
// empty black box (its outputs read 0), so the gate-level check (hw/gate.py) needs its function.
// The contents: 1,024 entries of 18 bits, entry e in INITVAL_(e / 16) bits [20 (e % 16) +: 18];
// a 9-bit word a is entry a / 2, bits [9 (a % 2) +: 9], a 36-bit word a entries 2a + 1 and 2a
// (the bit order of Yosys's INIT: bit k of the block is bit k % 18 of entry k / 18).
// Any other configuration (1/2/4-bit ports, chip-select decoding, inverted clocks) stops the
// simulation rather than computing something else.
`default_nettype none
// string parameters are compared with literals of other lengths (zero-extended, as Verilog does)
/* verilator lint_off WIDTHEXPAND */

module DP16KD(
    input  wire DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
    input  wire ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
    input  wire CEA, OCEA, CLKA, WEA, RSTA,
    input  wire CSA2, CSA1, CSA0,
    output wire DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
    input  wire DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
    input  wire ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
    input  wire CEB, OCEB, CLKB, WEB, RSTB,
    input  wire CSB2, CSB1, CSB0,
    output wire DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    /* verilator lint_off UNUSEDPARAM */
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter DIA17MUX = "DIA17";
    parameter DIA16MUX = "DIA16";
    parameter DIA15MUX = "DIA15";
    parameter DIA14MUX = "DIA14";
    parameter DIA13MUX = "DIA13";
    parameter DIA12MUX = "DIA12";
    parameter DIA11MUX = "DIA11";
    parameter DIA10MUX = "DIA10";
    parameter DIA9MUX = "DIA9";
    parameter DIA8MUX = "DIA8";
    parameter DIA7MUX = "DIA7";
    parameter DIA6MUX = "DIA6";
    parameter DIA5MUX = "DIA5";
    parameter DIA4MUX = "DIA4";
    parameter DIA3MUX = "DIA3";
    parameter DIA2MUX = "DIA2";
    parameter DIA1MUX = "DIA1";
    parameter DIA0MUX = "DIA0";
    parameter ADA13MUX = "ADA13";
    parameter ADA12MUX = "ADA12";
    parameter ADA11MUX = "ADA11";
    parameter ADA10MUX = "ADA10";
    parameter ADA9MUX = "ADA9";
    parameter ADA8MUX = "ADA8";
    parameter ADA7MUX = "ADA7";
    parameter ADA6MUX = "ADA6";
    parameter ADA5MUX = "ADA5";
    parameter ADA4MUX = "ADA4";
    parameter ADA3MUX = "ADA3";
    parameter ADA2MUX = "ADA2";
    parameter ADA1MUX = "ADA1";
    parameter ADA0MUX = "ADA0";
    parameter CEAMUX = "CEA";
    parameter OCEAMUX = "OCEA";
    parameter CLKAMUX = "CLKA";
    parameter WEAMUX = "WEA";
    parameter RSTAMUX = "RSTA";
    parameter CSA2MUX = "CSA2";
    parameter CSA1MUX = "CSA1";
    parameter CSA0MUX = "CSA0";
    parameter DOA17MUX = "DOA17";
    parameter DOA16MUX = "DOA16";
    parameter DOA15MUX = "DOA15";
    parameter DOA14MUX = "DOA14";
    parameter DOA13MUX = "DOA13";
    parameter DOA12MUX = "DOA12";
    parameter DOA11MUX = "DOA11";
    parameter DOA10MUX = "DOA10";
    parameter DOA9MUX = "DOA9";
    parameter DOA8MUX = "DOA8";
    parameter DOA7MUX = "DOA7";
    parameter DOA6MUX = "DOA6";
    parameter DOA5MUX = "DOA5";
    parameter DOA4MUX = "DOA4";
    parameter DOA3MUX = "DOA3";
    parameter DOA2MUX = "DOA2";
    parameter DOA1MUX = "DOA1";
    parameter DOA0MUX = "DOA0";
    parameter DIB17MUX = "DIB17";
    parameter DIB16MUX = "DIB16";
    parameter DIB15MUX = "DIB15";
    parameter DIB14MUX = "DIB14";
    parameter DIB13MUX = "DIB13";
    parameter DIB12MUX = "DIB12";
    parameter DIB11MUX = "DIB11";
    parameter DIB10MUX = "DIB10";
    parameter DIB9MUX = "DIB9";
    parameter DIB8MUX = "DIB8";
    parameter DIB7MUX = "DIB7";
    parameter DIB6MUX = "DIB6";
    parameter DIB5MUX = "DIB5";
    parameter DIB4MUX = "DIB4";
    parameter DIB3MUX = "DIB3";
    parameter DIB2MUX = "DIB2";
    parameter DIB1MUX = "DIB1";
    parameter DIB0MUX = "DIB0";
    parameter ADB13MUX = "ADB13";
    parameter ADB12MUX = "ADB12";
    parameter ADB11MUX = "ADB11";
    parameter ADB10MUX = "ADB10";
    parameter ADB9MUX = "ADB9";
    parameter ADB8MUX = "ADB8";
    parameter ADB7MUX = "ADB7";
    parameter ADB6MUX = "ADB6";
    parameter ADB5MUX = "ADB5";
    parameter ADB4MUX = "ADB4";
    parameter ADB3MUX = "ADB3";
    parameter ADB2MUX = "ADB2";
    parameter ADB1MUX = "ADB1";
    parameter ADB0MUX = "ADB0";
    parameter CEBMUX = "CEB";
    parameter OCEBMUX = "OCEB";
    parameter CLKBMUX = "CLKB";
    parameter WEBMUX = "WEB";
    parameter RSTBMUX = "RSTB";
    parameter CSB2MUX = "CSB2";
    parameter CSB1MUX = "CSB1";
    parameter CSB0MUX = "CSB0";
    parameter DOB17MUX = "DOB17";
    parameter DOB16MUX = "DOB16";
    parameter DOB15MUX = "DOB15";
    parameter DOB14MUX = "DOB14";
    parameter DOB13MUX = "DOB13";
    parameter DOB12MUX = "DOB12";
    parameter DOB11MUX = "DOB11";
    parameter DOB10MUX = "DOB10";
    parameter DOB9MUX = "DOB9";
    parameter DOB8MUX = "DOB8";
    parameter DOB7MUX = "DOB7";
    parameter DOB6MUX = "DOB6";
    parameter DOB5MUX = "DOB5";
    parameter DOB4MUX = "DOB4";
    parameter DOB3MUX = "DOB3";
    parameter DOB2MUX = "DOB2";
    parameter DOB1MUX = "DOB1";
    parameter DOB0MUX = "DOB0";
    parameter WID = 0;
    parameter GSR = "ENABLED";
    parameter INIT_DATA = "STATIC";
    /* verilator lint_on UNUSEDPARAM */
    parameter [319:0] INITVAL_00 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_01 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_02 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_03 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_04 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_05 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_06 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_07 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_08 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_09 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_0A = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_0B = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_0C = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_0D = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_0E = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_0F = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_10 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_11 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_12 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_13 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_14 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_15 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_16 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_17 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_18 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_19 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_1A = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_1B = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_1C = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_1D = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_1E = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_1F = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_20 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_21 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_22 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_23 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_24 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_25 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_26 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_27 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_28 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_29 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_2A = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_2B = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_2C = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_2D = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_2E = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_2F = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_30 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_31 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_32 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_33 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_34 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_35 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_36 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_37 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_38 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_39 = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_3A = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_3B = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_3C = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_3D = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_3E = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;
    parameter [319:0] INITVAL_3F = 320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000;


    // written by both ports, each in the process of its clock
    /* verilator lint_off MULTIDRIVEN */
    reg [17:0] mem [0:1023];
    /* verilator lint_on MULTIDRIVEN */
    reg  [35:0] q_a, q_b;           // the read registers (NOREG: the outputs)
    reg  [35:0] o_a, o_b;           // the output registers of OUTREG

    task automatic load_row(input integer row, input [319:0] v);
        integer i;
        for (i = 0; i < 16; i = i + 1) mem[row * 16 + i] = v[i * 20 +: 18];
    endtask

    initial begin
        if ((DATA_WIDTH_A != 9 && DATA_WIDTH_A != 18 && DATA_WIDTH_A != 36)
            || (DATA_WIDTH_B != 9 && DATA_WIDTH_B != 18 && DATA_WIDTH_B != 36))
            $fatal(1, "DP16KD %m: data widths %0d / %0d; this model has 9, 18 and 36", DATA_WIDTH_A, DATA_WIDTH_B);
        if (CSDECODE_A != "0b000" || CSDECODE_B != "0b000" || CLKAMUX != "CLKA" || CLKBMUX != "CLKB")
            $fatal(1, "DP16KD %m: chip-select decoding or an inverted clock; not modelled");
        if ((REGMODE_A != "NOREG" && REGMODE_A != "OUTREG") || (REGMODE_B != "NOREG" && REGMODE_B != "OUTREG"))
            $fatal(1, "DP16KD %m: REGMODE must be NOREG or OUTREG");
        q_a = 36'd0;                    // rdinit zero (brams_16kd.txt): outputs read 0 until a read
        q_b = 36'd0;
        o_a = 36'd0;
        o_b = 36'd0;
        load_row(0, INITVAL_00);
        load_row(1, INITVAL_01);
        load_row(2, INITVAL_02);
        load_row(3, INITVAL_03);
        load_row(4, INITVAL_04);
        load_row(5, INITVAL_05);
        load_row(6, INITVAL_06);
        load_row(7, INITVAL_07);
        load_row(8, INITVAL_08);
        load_row(9, INITVAL_09);
        load_row(10, INITVAL_0A);
        load_row(11, INITVAL_0B);
        load_row(12, INITVAL_0C);
        load_row(13, INITVAL_0D);
        load_row(14, INITVAL_0E);
        load_row(15, INITVAL_0F);
        load_row(16, INITVAL_10);
        load_row(17, INITVAL_11);
        load_row(18, INITVAL_12);
        load_row(19, INITVAL_13);
        load_row(20, INITVAL_14);
        load_row(21, INITVAL_15);
        load_row(22, INITVAL_16);
        load_row(23, INITVAL_17);
        load_row(24, INITVAL_18);
        load_row(25, INITVAL_19);
        load_row(26, INITVAL_1A);
        load_row(27, INITVAL_1B);
        load_row(28, INITVAL_1C);
        load_row(29, INITVAL_1D);
        load_row(30, INITVAL_1E);
        load_row(31, INITVAL_1F);
        load_row(32, INITVAL_20);
        load_row(33, INITVAL_21);
        load_row(34, INITVAL_22);
        load_row(35, INITVAL_23);
        load_row(36, INITVAL_24);
        load_row(37, INITVAL_25);
        load_row(38, INITVAL_26);
        load_row(39, INITVAL_27);
        load_row(40, INITVAL_28);
        load_row(41, INITVAL_29);
        load_row(42, INITVAL_2A);
        load_row(43, INITVAL_2B);
        load_row(44, INITVAL_2C);
        load_row(45, INITVAL_2D);
        load_row(46, INITVAL_2E);
        load_row(47, INITVAL_2F);
        load_row(48, INITVAL_30);
        load_row(49, INITVAL_31);
        load_row(50, INITVAL_32);
        load_row(51, INITVAL_33);
        load_row(52, INITVAL_34);
        load_row(53, INITVAL_35);
        load_row(54, INITVAL_36);
        load_row(55, INITVAL_37);
        load_row(56, INITVAL_38);
        load_row(57, INITVAL_39);
        load_row(58, INITVAL_3A);
        load_row(59, INITVAL_3B);
        load_row(60, INITVAL_3C);
        load_row(61, INITVAL_3D);
        load_row(62, INITVAL_3E);
        load_row(63, INITVAL_3F);
    end

    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
    wire [35:0] di36 = {dib, dia};

    /* verilator lint_off UNUSEDSIGNAL */
    // a port's word (up to 36 bits) at address ad in a mode of width w, before this edge's writes
    function automatic [35:0] word(input integer w, input [13:0] ad);
        if (w == 36)      word = {mem[{ad[13:5], 1'b1}], mem[{ad[13:5], 1'b0}]};
        else if (w == 18) word = {18'd0, mem[ad[13:4]]};
        else              word = {27'd0, ad[3] ? mem[ad[13:4]][17:9] : mem[ad[13:4]][8:0]};
    endfunction

    // the word after a write of d: byte enables on the low address bits (36 bits: ad[3:0], 18: ad[1:0])
    function automatic [35:0] merged(input integer w, input [13:0] ad, input [35:0] old, input [35:0] d);
        integer k;
        merged = old;
        if (w == 9) merged[8:0] = d[8:0];
        else for (k = 0; k < w / 9; k = k + 1) if (ad[k]) merged[9 * k +: 9] = d[9 * k +: 9];
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    localparam RBW_A = WRITEMODE_A == "READBEFOREWRITE", WT_A = WRITEMODE_A == "WRITETHROUGH";
    localparam RBW_B = WRITEMODE_B == "READBEFOREWRITE", WT_B = WRITEMODE_B == "WRITETHROUGH";
    // what a read returns while its port writes: the old word, the new one, or (NORMAL) the
    // output keeps its value
    function automatic [35:0] read_out(input rbw, input wt, input we, input [35:0] old, input [35:0] new_,
                                       input [35:0] q);
        if (!we || rbw) read_out = old;
        else if (wt) read_out = new_;
        else read_out = q;
    endfunction

    // port A writes with WEA (the 36-bit write port: {DIB, DIA}); port B unless it is the 36-bit read port
    wire        we_a = CEA && WEA;
    wire        we_b = CEB && WEB && DATA_WIDTH_B != 36;
    wire [35:0] old_a = word(DATA_WIDTH_A, ada);
    wire [35:0] old_b = word(DATA_WIDTH_B, adb);
    wire [35:0] new_a = merged(DATA_WIDTH_A, ada, old_a, (DATA_WIDTH_A == 36) ? di36 : {18'd0, dia});
    wire [35:0] new_b = merged(DATA_WIDTH_B, adb, old_b, {18'd0, dib});
    wire [17:0] ent_a = mem[ada[13:4]];     // the entry a 9-bit write changes half of
    wire [17:0] ent_b = mem[adb[13:4]];

    // each port on its own clock: Yosys ties an unused port's clock to 0 (a PDP ROM's write
    // port), so one process on CLKA would never read a ROM whose reads are on CLKB. Both ports
    // write `mem` (a true dual port); nonblocking writes let a read on the other port at the
    // same edge return the old word.
    always @(posedge CLKA) begin
        if (RSTA) q_a <= 36'd0;
        else if (CEA && DATA_WIDTH_A != 36) q_a <= read_out(RBW_A, WT_A, we_a, old_a, new_a, q_a);
        if (RSTA) o_a <= 36'd0; else if (OCEA) o_a <= q_a;
        if (we_a) begin
            if (DATA_WIDTH_A == 36) begin
                mem[{ada[13:5], 1'b0}] <= new_a[17:0];
                mem[{ada[13:5], 1'b1}] <= new_a[35:18];
            end else if (DATA_WIDTH_A == 18) mem[ada[13:4]] <= new_a[17:0];
            else mem[ada[13:4]] <= ada[3] ? {new_a[8:0], ent_a[8:0]} : {ent_a[17:9], new_a[8:0]};
        end
    end

    always @(posedge CLKB) begin
        if (RSTB) q_b <= 36'd0;
        else if (CEB) q_b <= read_out(RBW_B, WT_B, we_b, old_b, new_b, q_b);
        if (RSTB) o_b <= 36'd0; else if (OCEB) o_b <= q_b;
        if (we_b) begin
            if (DATA_WIDTH_B == 18) mem[adb[13:4]] <= new_b[17:0];
            else mem[adb[13:4]] <= adb[3] ? {new_b[8:0], ent_b[8:0]} : {ent_b[17:9], new_b[8:0]};
        end
    end

    wire [35:0] out_a = (RESETMODE == "ASYNC" && RSTA) ? 36'd0 : (REGMODE_A == "OUTREG") ? o_a : q_a;
    wire [35:0] out_b = (RESETMODE == "ASYNC" && RSTB) ? 36'd0 : (REGMODE_B == "OUTREG") ? o_b : q_b;
    wire [17:0] doa = (DATA_WIDTH_B == 36) ? out_b[17:0] : out_a[17:0];
    wire [17:0] dob = (DATA_WIDTH_B == 36) ? out_b[35:18] : out_b[17:0];
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;

    wire unused = &{1'b0, CSA2, CSA1, CSA0, CSB2, CSB1, CSB0, out_a[35:18]};
endmodule
/* verilator lint_on WIDTHEXPAND */
`default_nettype wire
