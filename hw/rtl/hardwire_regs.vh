// hardwire_regs.vh: hw_core's register map as word indices (byte offset / 4).
// GENERATED from host/regmap.py by make regmap (python -m hw.rtlgen.regmap): do not edit;
// tests/test_regmap.py checks that this file equals what the table gives.
// Included inside a module body; no include guard, so that each module can include it.
// Every name is used by hw_core: Verilator -Wall reports one that is not (UNUSEDPARAM).

// 0x00 R: "HWIR"
localparam [7:0] R_MAGIC             = 8'd0;
// 0x04 R: generator version, major << 16 | minor << 8 | patch (1.0.0 = 0x00010000)
localparam [7:0] R_GEN_VERSION       = 8'd1;
// 0x08 W: bit0 START, bit1 RESET_STATE, bit2 ABORT (reads 0)
localparam [7:0] R_CONTROL           = 8'd2;
// 0x0C R: bit0 BUSY, bit1 DONE, bit2 TOKEN_AVAIL, bit3 PROMPT_FULL, bits 4-7 errors (below)
localparam [7:0] R_STATUS            = 8'd3;
// 0x10 RW: W: push token [15:0] into the prompt FIFO; R: tokens in the prompt FIFO
localparam [7:0] R_PROMPT_PUSH       = 8'd4;
// 0x14 R: TOKEN_WINDOW's word 0 (the oldest token held), and acknowledges it when valid (TOKEN_ACK + 1)
localparam [7:0] R_TOKEN_POP         = 8'd5;
// 0x18 RW: prompt tokens START takes from the prompt FIFO (>= 1)
localparam [7:0] R_PROMPT_LEN        = 8'd6;
// 0x1C RW: tokens to generate at most
localparam [7:0] R_MAX_NEW           = 8'd7;
// 0x20 RW: [15:0] = numerics.inv_temperature_q8(T); 0 = greedy
localparam [7:0] R_INV_TEMP_Q8       = 8'd8;
// 0x24 RW: candidates; values outside 1..K_MAX mean K_MAX
localparam [7:0] R_TOP_K             = 8'd9;
// 0x28 RW: xorshift32 seed loaded at START; 0 = 0x2545F491
localparam [7:0] R_SEED              = 8'd10;
// 0x2C RW: generation stops after this token (it is still output); all ones = none
localparam [7:0] R_STOP_TOKEN        = 8'd11;
// 0x30 R: tokens in the KV cache = position of the next token
localparam [7:0] R_POSITION          = 8'd12;
// 0x34 R: cycles of the last forward pass (+ classifier and sampler when it sampled)
localparam [7:0] R_CYCLES_LAST_TOKEN = 8'd13;
// 0x38 R: tokens output since the last START
localparam [7:0] R_TOKENS_DONE       = 8'd14;
// 0x3C R: cycles BUSY since the last START
localparam [7:0] R_CYCLES_TOTAL      = 8'd15;
// 0x40 RW: LoRA memory word address
localparam [7:0] R_LORA_ADDR         = 8'd16;
// 0x44 W: one LoRA memory word (4 int8, value j at bits [8j +: 8]); LORA_ADDR increments
localparam [7:0] R_LORA_DATA         = 8'd17;
// 0x48 RW: debug window: region << 28 | index
localparam [7:0] R_DBG_ADDR          = 8'd18;
// 0x4C R: the value DBG_ADDR selects, sign-extended; valid 5 cycles after the DBG_ADDR write
localparam [7:0] R_DBG_DATA          = 8'd19;
// 0x50 RW: tokens acknowledged since RESET_STATE. W: the host holds every token numbered below the value, the output FIFO frees them (ignored unless TOKEN_ACK <= value <= TOKEN_COUNT, mod 2^32)
localparam [7:0] R_TOKEN_ACK         = 8'd20;
// 0x54 R: tokens output since RESET_STATE (the number of the next one); the output FIFO holds tokens TOKEN_ACK .. TOKEN_COUNT - 1
localparam [7:0] R_TOKEN_COUNT       = 8'd21;
// 0x58 R: link features the transport adds: bit0 STREAM (the UART bridge pushes tokens, STREAM_CTRL); hw_core reads 0 (PYNQ, and bitstreams before the stream read 0 here too)
localparam [7:0] R_LINK_CAPS         = 8'd22;
// 0x5C RW: UART bridge: bit0 ON pushes every token from TOKEN_ACK on in stream frames (docs/uart_protocol.md), [15:8] the stream id they carry; RESET_STATE ends it. hw_core ignores it and reads 0
localparam [7:0] R_STREAM_CTRL       = 8'd23;
// 0x60 RW: bit s: stream s runs the LoRA passes (the driver sets it with an adapter loaded and clears it with none); 0 skips them, the speed of a build without LoRA. Taken at START; reads 0 without LoRA hardware
localparam [7:0] R_LORA_ENABLE       = 8'd24;
// 0x64 RW: the stream START runs, RESET_STATE resets and POSITION reads (0..STREAMS-1; other values are ignored)
localparam [7:0] R_STREAM_SEL        = 8'd25;
// 0x68 R: the sampler's xorshift32 state after the last run: written to SEED, the next run continues the sequence
localparam [7:0] R_RNG_STATE         = 8'd26;
// 0x6C RW: a chain top (hardwire compile --chips, docs/chain.md): [7:0] the chip whose registers reads return (0 = the first), bit 8 writes reach only that chip (0: every chip; CONTROL reaches only the first, as on boards), bit 9 glitches the links' wires (simulation). Reads also [15:10] retransmissions of the selected chip's outgoing link (at most 63), [31:16] bit h: link h gave up. hw_core ignores it and reads 0
localparam [7:0] R_CHAIN_SEL         = 8'd27;
// 0x70 RW: the first chip of a chain (hw_chain_bus): W [7:0] a register's word index, [15:8] a chip, bit 16 write: that chip's register is read (into CHAIN_REMOTE_DATA) or written (from it) over the links; ignored while busy. R: the same fields, bit 30 no chip took the last access, bit 31 busy. hw_core reads 0
localparam [7:0] R_CHAIN_REMOTE      = 8'd28;
// 0x74 RW: the first chip of a chain: the word CHAIN_REMOTE writes, and after a read the word it read (writes ignored while busy). hw_core reads 0
localparam [7:0] R_CHAIN_REMOTE_DATA = 8'd29;
// 0x80..0x9C, 8 words R: sha256 of the integer model; word 0 = the first 8 hex digits (read from the model ROM, rom/model.hex, so that a respin changes it: docs/respin.md)
localparam [7:0] R_FINGERPRINT       = 8'd32;
localparam [7:0] R_FINGERPRINT_WORDS = 8'd8;
// 0xA0 R: D
localparam [7:0] R_DIM               = 8'd40;
// 0xA4 R: H
localparam [7:0] R_HIDDEN            = 8'd41;
// 0xA8 R: L
localparam [7:0] R_LAYERS            = 8'd42;
// 0xAC R: query heads
localparam [7:0] R_HEADS             = 8'd43;
// 0xB0 R: key/value heads
localparam [7:0] R_KV_HEADS          = 8'd44;
// 0xB4 R: V
localparam [7:0] R_VOCAB             = 8'd45;
// 0xB8 R: KV cache positions of this build
localparam [7:0] R_CONTEXT           = 8'd46;
// 0xBC R: matrix lanes
localparam [7:0] R_LANES             = 8'd47;
// 0xC0 R: values per lane per cycle
localparam [7:0] R_VPL               = 8'd48;
// 0xC4 R: embedding | attention << 8 | mlp << 16 | classifier << 24 (weight bits)
localparam [7:0] R_BITS              = 8'd49;
// 0xC8 R: 0 = no LoRA hardware
localparam [7:0] R_LORA_RANK         = 8'd50;
// 0xCC R: bit i = LoRA on (wq, wk, wv, wo, w1, w3, w2)[i]
localparam [7:0] R_LORA_TARGETS      = 8'd51;
// 0xD0 R: top-k capacity
localparam [7:0] R_K_MAX             = 8'd52;
// 0xD4 R: prompt FIFO capacity (tokens)
localparam [7:0] R_PROMPT_DEPTH      = 8'd53;
// 0xD8 R: output FIFO capacity (tokens): the core waits while TOKEN_COUNT - TOKEN_ACK equals it
localparam [7:0] R_OUT_DEPTH         = 8'd54;
// 0xDC R: words of one LoRA adapter slot (0 without LoRA); the memory holds a slot per stream, stream s's from LORA_ADDR s * LORA_WORDS
localparam [7:0] R_LORA_WORDS        = 8'd55;
// 0xE0 R: attention engines; the KV cache has min(ATT_ENGINES, KV_HEADS) banks (the debug window's KV addresses)
localparam [7:0] R_ATT_ENGINES       = 8'd56;
// 0xE4 R: streams held at once: KV cache slots, each with its position (bitstreams before generator 1.4 read 0: one)
localparam [7:0] R_STREAMS           = 8'd57;
// 0xE8 R: this chip's place in a chain: [7:0] index (0 = the first), [15:8] chips (1: no chain), [23:16] the whole model's index of its first layer
localparam [7:0] R_CHAIN             = 8'd58;
// 0xEC R: sequencer contexts sharing the matrix engine: stream s runs on context s % CONTEXTS, and streams on different contexts run at once; STREAM_SEL also picks the context every other register but LORA_ADDR, LORA_DATA and LORA_ENABLE reads and writes (bitstreams before generator 1.10 read 0: one)
localparam [7:0] R_CONTEXTS          = 8'd59;
// 0x100..0x1FC, 64 words R: word i: token number TOKEN_ACK + i, bit31 valid, [30:16] the number's low 15 bits, [15:0] the token; 0 past TOKEN_COUNT. No side effect: reading again returns the same words
localparam [7:0] R_TOKEN_WINDOW      = 8'd64;
localparam [7:0] R_TOKEN_WINDOW_WORDS = 8'd64;

// what MAGIC reads
localparam [31:0] MAGIC_VALUE = 32'h48574952;
