"""RTL generator: an IntModel + build knobs -> per-model Verilog and ROM hex files.

layout (which weight sits where) -> lanes (lane ROM hex files) -> top
(hardwire_top.v) -> generate (everything, plus build.json); estimate says
what the build will cost before simulation.
"""
GENERATOR_VERSION = (1, 10, 0)      # 1.10: sequencer contexts sharing one matrix engine (--contexts, hw_mv_share, the CONTEXTS register; STREAM_SEL picks the context the registers reach; hw_matvec keeps a ROM place per context); one context: the same cycles and values; 1.9: int16 queries, keys and key cache (QKW, the model's qk_bits; 8: unchanged); 1.8.1: chains with streams (the stream in the frame header) and LoRA; a chain's first chip stops a run (ABORT, RESET_STATE) only with no frame half sent or owed to it, the simulated chain top's CONTROL to the first chip only (as on boards); one chip: unchanged; 1.8: hw_chain_bus on every chip of a chain (CHAIN_REMOTE, CHAIN_REMOTE_DATA: any chip's registers through the first, control frames between the core's), no embedding on a chip after the first, no classifier rows on a chip before the last; one chip: unchanged; 1.7: a model split over a chain of chips (CHIP_FIRST / CHIP_LAST, residual and token frames over hw_chip_link, the CHAIN and CHAIN_SEL registers); one chip: same cycles and values; 1.6.2: hw_core split into units (hw_embedding, hw_rope, hw_silu_stage, hw_token_ring, hw_model_consts, hw_debug_window), same cycles and values; 1.6.1: no logic between a register and the requantizers', sampler's, LoRA's and attention output's multipliers, the attention output product in two halves (Fmax; +1 cycle a layer); 1.6: LUT MACs and LUT q . k by value pairs (hw_plane_sums) and adder trees at the width each level needs (fewer LUTs, same cycles); 1.5: registers before the multipliers and after the block RAMs that fed them (Fmax), DBG_DATA 5 cycles after DBG_ADDR; 1.4: LORA_ENABLE, the LoRA passes skipped while no adapter is loaded; 1.3.1: fewer per-token overhead cycles (rmsnorm, attention start and tail, token turn-around); 1.3: each weight class's ROM at its own width (ROM groups); 1.2.1: two RoPE pairs per cycle; 1.2: several embedding elements per cycle (emb.hex words); 1.1: P positions
                                    # per attention cycle, the numbered token read
GEN_VERSION_WORD = (GENERATOR_VERSION[0] << 16) | (GENERATOR_VERSION[1] << 8) | GENERATOR_VERSION[2]


def version_text() -> str:
    return ".".join(str(v) for v in GENERATOR_VERSION)
