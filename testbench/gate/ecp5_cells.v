// The ECP5 cell models for the gate-level check (hw/gate.py): Yosys's share/lattice/cells_sim_ecp5.v
// less its DP16KD, which Yosys ships as an empty black box (its outputs would read 0); the
// functional DP16KD and MULT18X18D models are testbench/gate/DP16KD.v and MULT18X18D.v.
// The include folder (share/lattice) is on Verilator's -I.
`include "common_sim.vh"
`include "ccu2c_sim.vh"
`include "cells_ff.vh"
`include "cells_io.vh"
