// soak_harness.cpp: the UART bridge's RTL (uart_soak_top: hw_uart_bridge + hardwire_top, Verilator)
// behind a bit-level 8N1 line with random bit errors in both directions, driven from Python
// (testbench/uart/rtl_link.py) through a line protocol on stdin/stdout.
//
//   uart_soak_sim --ber P --seed N [--idle-bits K]     (run in the build folder: ROM_DIR "rom")
//
// The line: time is cut into bit slots of CLKS_PER_BIT cycles, and each slot of each direction is
// inverted with probability P (whole slots: a bit error lasts one bit time, as a burst of noise
// would). The host's transmitter sends its bytes back to back on the slot grid; the host's
// receiver (a PC UART) samples the noisy line at mid-bit like hw_uart_rx.v, passes a byte with a
// bad stop bit on as sampled and then waits for a high line. The bridge's own receiver sees the
// noisy line at its pin. Noise applies to every slot the simulation runs, idle ones included.
//
// Protocol: one command per line, one answer line per command.
//   X <hex>     the host sends these bytes; run until both sides are quiet for K bit times
//   I <n>       run n cycles of idle line (the host polls later), then until quiet
//       both -> OK <received> <sent> <checks>
//                received: hex bytes the host's receiver got ("-" none)
//                sent:     hex bytes the bridge handed its transmitter, before the noise ("-")
//                checks:   seq/crc (hex) of each frame the bridge decided on, in order ("-");
//                          each is answered by the next frame in `sent`
//   S           -> STATS <cycles> <slots> <flips to device> <flips to host>
//   Q           -> BYE
// A bad line answers "ERR <reason>". At start the harness resets the design and prints READY.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "Vuart_soak_top.h"
#include "verilated.h"

#ifndef CLKS_PER_BIT
#define CLKS_PER_BIT 13     // must equal the top's parameter (the build passes both)
#endif

namespace {

const uint64_t kMaxExchangeCycles = 50'000'000;   // a stuck exchange is an error, not a hang

// Bit errors of one direction: which slots are inverted (geometric gaps between them).
struct Noise {
    std::mt19937_64 rng;
    double log1mp;
    uint64_t gap = 0;       // good slots before the next inverted one
    bool inverted = false;  // the current slot
    uint64_t flips = 0;

    Noise(double ber, uint64_t seed) : rng(seed), log1mp(ber > 0 ? std::log1p(-ber) : 0.0) { gap = draw(); }

    uint64_t draw() {
        if (log1mp == 0.0) return UINT64_MAX;
        double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        return uint64_t(std::log(1.0 - u) / log1mp);
    }

    void next_slot() {
        if (gap == 0) {
            inverted = true;
            ++flips;
            gap = draw();
        } else {
            inverted = false;
            if (gap != UINT64_MAX) --gap;
        }
    }
};

// The host's transmitter: bytes back to back, 8N1, LSB first, each bit one slot.
struct HostTx {
    std::string queue;
    size_t next = 0;
    int bit = -1;           // bit of the current byte on the line (0 start .. 9 stop), -1 idle
    uint8_t byte = 0;

    bool active() const { return bit >= 0 || next < queue.size(); }

    // at a slot boundary: move to the next bit
    void next_slot() {
        if (bit >= 0 && ++bit == 10) bit = -1;
        if (bit < 0 && next < queue.size()) {
            byte = uint8_t(queue[next++]);
            bit = 0;
        }
        if (!active()) {
            queue.clear();
            next = 0;
        }
    }

    int level() const {
        if (bit < 0 || bit == 9) return 1;
        if (bit == 0) return 0;
        return (byte >> (bit - 1)) & 1;
    }
};

// The host's receiver: hw_uart_rx.v's sampling, but a bad stop bit still delivers the byte.
struct HostRx {
    enum { IDLE, START, DATA, STOP } state = IDLE;
    int timer = 0, bit = 0;
    uint8_t shift = 0;
    bool wait_idle = false;
    std::string got;

    bool active() const { return state != IDLE; }

    void sample(int line) {
        switch (state) {
            case IDLE:
                if (line) wait_idle = false;
                else if (!wait_idle) { state = START; timer = (CLKS_PER_BIT - 1) / 2; }
                break;
            case START:
                if (timer) --timer;
                else if (line) state = IDLE;            // a glitch, not a start bit
                else { state = DATA; timer = CLKS_PER_BIT - 1; bit = 0; }
                break;
            case DATA:
                if (timer) { --timer; break; }
                shift = uint8_t((shift >> 1) | (line << 7));
                timer = CLKS_PER_BIT - 1;
                if (++bit == 8) state = STOP;
                break;
            case STOP:
                if (timer) { --timer; break; }
                got.push_back(char(shift));
                wait_idle = !line;
                state = IDLE;
                break;
        }
    }
};

struct Sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vuart_soak_top> top;
    Noise to_device, to_host;
    HostTx tx;
    HostRx rx;
    uint64_t cycles = 0, slots = 0;
    std::string sent, checks;     // per exchange: the bridge's clean bytes, its decisions

    Sim(double ber, uint64_t seed) : to_device(ber, seed * 2 + 1), to_host(ber, seed * 2 + 2) {}

    void tick() {
        if (cycles % CLKS_PER_BIT == 0) {
            ++slots;
            to_device.next_slot();
            to_host.next_slot();
            tx.next_slot();
        }
        top->uart_rxd = tx.level() ^ int(to_device.inverted);
        top->eval();
        // the taps, as the rising edge will see them
        if (!top->rst) {
            if (top->tx_take) sent.push_back(char(top->tx_byte));
            if (top->check) {
                char buf[32];
                snprintf(buf, sizeof buf, "%s%02x/%08x", checks.empty() ? "" : ",", top->check_seq,
                         top->check_crc);
                checks += buf;
            }
        }
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        rx.sample(top->uart_txd ^ int(to_host.inverted));
        ++cycles;
    }

    bool quiet() const { return !tx.active() && !rx.active() && top->bridge_idle; }

    // run until the line and both ends have been quiet for `idle_bits` bit times
    bool settle(uint64_t idle_bits) {
        uint64_t still = 0, start = cycles;
        while (still < idle_bits * CLKS_PER_BIT) {
            tick();
            still = quiet() ? still + 1 : 0;
            if (cycles - start > kMaxExchangeCycles) return false;
        }
        return true;
    }
};

std::string hex(const std::string& s) {
    if (s.empty()) return "-";
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(d[c >> 4]);
        out.push_back(d[c & 15]);
    }
    return out;
}

bool unhex(const char* s, std::string* out) {
    size_t n = strlen(s);
    if (n % 2) return false;
    for (size_t i = 0; i < n; i += 2) {
        char b[3] = {s[i], s[i + 1], 0};
        char* end = nullptr;
        long v = strtol(b, &end, 16);
        if (*end) return false;
        out->push_back(char(v));
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    double ber = 0.0;
    uint64_t seed = 1, idle_bits = 20;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--ber") && i + 1 < argc) ber = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], nullptr, 0);
        else if (!strcmp(argv[i], "--idle-bits") && i + 1 < argc) idle_bits = strtoull(argv[++i], nullptr, 0);
        else if (argv[i][0] == '+') continue;     // Verilator plusargs
        else {
            fprintf(stderr, "usage: %s [--ber P] [--seed N] [--idle-bits K]\n", argv[0]);
            return 2;
        }
    }
    if (!(ber >= 0.0 && ber < 1.0)) {
        fprintf(stderr, "uart_soak_sim: --ber must be in [0, 1)\n");
        return 2;
    }
    Sim sim(ber, seed);
    sim.ctx = std::make_unique<VerilatedContext>();
    sim.ctx->commandArgs(argc, argv);
    sim.top = std::make_unique<Vuart_soak_top>(sim.ctx.get(), "TOP");
    sim.top->clk = 0;
    sim.top->uart_rxd = 1;
    sim.top->rst = 1;
    sim.top->eval();
    for (int i = 0; i < 4; ++i) {
        sim.top->clk = 1;
        sim.top->eval();
        sim.top->clk = 0;
        sim.top->eval();
    }
    sim.top->rst = 0;
    sim.top->eval();
    // the released button through the board's synchroniser and 16-cycle stretch (hw_board_uart)
    for (int i = 0; i < 24; ++i) {
        sim.top->clk = 1;
        sim.top->eval();
        sim.top->clk = 0;
        sim.top->eval();
    }
    printf("READY\n");
    fflush(stdout);

    std::string line;
    char buf[4096];
    while (fgets(buf, sizeof buf, stdin)) {
        line += buf;
        if (line.empty() || line.back() != '\n') continue;   // a long X line comes in pieces
        line.pop_back();
        const char* cmd = line.c_str();
        bool run = false, ok = true;
        if (!strncmp(cmd, "X ", 2)) {
            std::string data;
            if (!unhex(cmd + 2, &data) || data.empty()) {
                printf("ERR bad hex\n");
            } else {
                sim.tx.queue += data;
                run = true;
            }
        } else if (!strncmp(cmd, "I ", 2)) {
            uint64_t n = strtoull(cmd + 2, nullptr, 0);
            for (uint64_t i = 0; i < n; ++i) sim.tick();
            run = true;
        } else if (!strcmp(cmd, "S")) {
            printf("STATS %llu %llu %llu %llu\n", (unsigned long long)sim.cycles, (unsigned long long)sim.slots,
                   (unsigned long long)sim.to_device.flips, (unsigned long long)sim.to_host.flips);
        } else if (!strcmp(cmd, "Q")) {
            printf("BYE\n");
            fflush(stdout);
            break;
        } else {
            printf("ERR unknown command\n");
        }
        if (run) {
            ok = sim.settle(idle_bits);
            if (ok) printf("OK %s %s %s\n", hex(sim.rx.got).c_str(), hex(sim.sent).c_str(),
                           sim.checks.empty() ? "-" : sim.checks.c_str());
            else printf("ERR the bridge did not go quiet within %llu cycles\n",
                        (unsigned long long)kMaxExchangeCycles);
            sim.rx.got.clear();
            sim.sent.clear();
            sim.checks.clear();
        }
        fflush(stdout);
        line.clear();
    }
    sim.top->final();
#if VM_COVERAGE
    sim.ctx->coveragep()->write();  // to +verilator+coverage+file+PATH (make coverage)
#endif
    return 0;
}
