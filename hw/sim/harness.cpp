// harness.cpp: drive the generated accelerator (Verilator model of hardwire_top)
// through its register interface from a line protocol on stdin/stdout, so that
// Python (hw/sim/session.py, the host driver's sim transport, `hardwire sim`)
// runs it as a child process.
//
//   hardwire_sim [-C DIR] [--trace FILE.fst] [+verilator+PLUSARGS]
//     -C DIR        working directory (the build's output folder: ROM_DIR = "rom")
//     --trace FILE  write a waveform of the whole run (FST when built with lz4, else VCD)
//
// Protocol: one command per line, exactly one answer line per command.
//   W <addr> <data>   register write (word index, 32-bit value)      -> OK
//                     (1 write cycle + 4 idle cycles: the read samples DBG_DATA 5 cycles after)
//   R <addr>          register read (TOKEN_POP pops)                  -> <value>
//   T <n>             run n clock cycles                              -> OK
//   RUN <n>           run until busy is low or a token is available,
//                     at most n cycles                                 -> <cycles> <busy> <token_avail>
//   RST <n>           hold rst high for n cycles                      -> OK
//   CYC               cycles since start                              -> <cycles>
//   Q                 quit                                            -> BYE
// Numbers are decimal or 0x-prefixed hex; answers are decimal. A bad line
// answers "ERR <reason>". At start the harness resets the design and prints READY.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>

#include "Vhardwire_top.h"
#include "verilated.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
typedef VerilatedFstC TraceFile;
#elif VM_TRACE
#include "verilated_vcd_c.h"
typedef VerilatedVcdC TraceFile;
#endif

namespace {

struct Sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vhardwire_top> top;
#if VM_TRACE
    std::unique_ptr<TraceFile> fst;
#endif
    uint64_t cycles = 0;

    void dump() {
#if VM_TRACE
        if (fst) fst->dump(ctx->time());
#endif
    }

    // one clock cycle: inputs are set while clk is low, sampled at the rising edge
    void tick() {
        top->clk = 1;
        top->eval();
        ctx->timeInc(5);
        dump();
        top->clk = 0;
        top->eval();
        ctx->timeInc(5);
        dump();
        ++cycles;
    }

    void reset(uint64_t n) {
        top->rst = 1;
        for (uint64_t i = 0; i < n; ++i) tick();
        top->rst = 0;
        top->eval();
    }

    void write(uint32_t addr, uint32_t data) {
        top->reg_addr = addr & 0xFF;
        top->reg_wdata = data;
        top->reg_wr = 1;
        tick();
        top->reg_wr = 0;
        top->eval();
        for (int i = 0; i < 4; ++i) tick();
    }

    uint32_t read(uint32_t addr) {
        top->reg_addr = addr & 0xFF;
        top->reg_rd = 1;
        tick();
        top->reg_rd = 0;
        top->eval();
        return top->reg_rdata;
    }

    uint64_t run(uint64_t limit) {
        uint64_t n = 0;
        while (n < limit && top->busy && !top->token_avail) {
            tick();
            ++n;
        }
        return n;
    }
};

bool parse_u64(const char* s, uint64_t* out) {
    if (!s || !*s) return false;
    char* end = nullptr;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end != '\0') return false;
    *out = v;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    const char* trace = nullptr;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "-C") && i + 1 < argc) {
            if (chdir(argv[++i]) != 0) {
                fprintf(stderr, "hardwire_sim: cannot enter %s\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--trace") && i + 1 < argc) {
            trace = argv[++i];
        } else if (argv[i][0] == '+') {
            // Verilator plusargs, e.g. +verilator+rand+reset+2 +verilator+seed+7
        } else {
            fprintf(stderr, "usage: %s [-C DIR] [--trace FILE.fst]\n", argv[0]);
            return 2;
        }
    }

    Sim sim;
    sim.ctx = std::make_unique<VerilatedContext>();
    sim.ctx->commandArgs(argc, argv);
    sim.ctx->timeunit(-9);
    sim.ctx->timeprecision(-12);
    if (trace) {
#if VM_TRACE
        sim.ctx->traceEverOn(true);
#else
        fprintf(stderr, "hardwire_sim: built without tracing; rebuild with trace support\n");
        return 2;
#endif
    }
    sim.top = std::make_unique<Vhardwire_top>(sim.ctx.get(), "TOP");
#if VM_TRACE
    if (trace) {
        sim.fst = std::make_unique<TraceFile>();
        sim.top->trace(sim.fst.get(), 99);
        sim.fst->open(trace);
    }
#endif
    sim.top->clk = 0;
    sim.top->reg_wr = 0;
    sim.top->reg_rd = 0;
    sim.top->reg_addr = 0;
    sim.top->reg_wdata = 0;
    sim.top->eval();
    sim.reset(4);
    printf("READY\n");
    fflush(stdout);

    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        char* tok[4] = {nullptr, nullptr, nullptr, nullptr};
        int n = 0;
        for (char* p = strtok(line, " \t\r\n"); p && n < 4; p = strtok(nullptr, " \t\r\n")) tok[n++] = p;
        if (n == 0) {
            printf("ERR empty line\n");
        } else if (!strcmp(tok[0], "W") && n == 3) {
            uint64_t a, d;
            if (parse_u64(tok[1], &a) && parse_u64(tok[2], &d)) {
                sim.write(uint32_t(a), uint32_t(d));
                printf("OK\n");
            } else {
                printf("ERR bad number\n");
            }
        } else if (!strcmp(tok[0], "R") && n == 2) {
            uint64_t a;
            if (parse_u64(tok[1], &a)) {
                printf("%u\n", sim.read(uint32_t(a)));
            } else {
                printf("ERR bad number\n");
            }
        } else if (!strcmp(tok[0], "T") && n == 2) {
            uint64_t c;
            if (parse_u64(tok[1], &c)) {
                for (uint64_t i = 0; i < c; ++i) sim.tick();
                printf("OK\n");
            } else {
                printf("ERR bad number\n");
            }
        } else if (!strcmp(tok[0], "RUN") && n == 2) {
            uint64_t c;
            if (parse_u64(tok[1], &c)) {
                uint64_t ran = sim.run(c);
                printf("%llu %d %d\n", (unsigned long long)ran, int(sim.top->busy), int(sim.top->token_avail));
            } else {
                printf("ERR bad number\n");
            }
        } else if (!strcmp(tok[0], "RST") && n == 2) {
            uint64_t c;
            if (parse_u64(tok[1], &c) && c > 0) {
                sim.reset(c);
                printf("OK\n");
            } else {
                printf("ERR bad number\n");
            }
        } else if (!strcmp(tok[0], "CYC") && n == 1) {
            printf("%llu\n", (unsigned long long)sim.cycles);
        } else if (!strcmp(tok[0], "Q") && n == 1) {
            printf("BYE\n");
            fflush(stdout);
            break;
        } else {
            printf("ERR unknown command %s\n", tok[0]);
        }
        fflush(stdout);
    }
    sim.top->final();
#if VM_COVERAGE
    sim.ctx->coveragep()->write();  // to +verilator+coverage+file+PATH (make coverage)
#endif
#if VM_TRACE
    if (sim.fst) sim.fst->close();
#endif
    return 0;
}
