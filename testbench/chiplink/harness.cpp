// harness.cpp: two hw_chip_link ends (chip_link_pair.v, Verilator) joined by a wire that breaks
// things on purpose, driven by tests/test_rtl_chip_link.py.
//
//   chip_link_sim --in FRAMES [--ber P] [--drop P] [--seed N] [--stuck DIR:FROM:LEN:MODE]
//                 [--busy PERIOD:BUSY] [--gap P] [--settle N] [--max-cycles N]
//
// FRAMES: first line "NA NB", then NA lines of DIM hex words (end a sends them to b), then NB
// lines (b to a). Each direction's wire, every beat (an lclk rising edge at the sender's pins):
//   --ber P     each data line and the sof line of the beat is inverted with probability P
//   --drop P    the beat is lost (lclk stays low through it) with probability P
//   --stuck     direction ab or ba, from cycle FROM for LEN cycles: MODE "clk" holds lclk low
//               (a dead link), MODE "bit" holds data line 0 high (a short)
//   --busy      the receiving user sides refuse words (out_ready low) for BUSY cycles of every PERIOD
//   --gap P     the sending user sides withhold a word (in_valid low) with probability P a cycle
// The run stops when every frame arrived and the counters settled (--settle cycles of quiet),
// or --settle cycles after an end raised link_error, or at --max-cycles.
// Output (stdout):
//   FB <words>    a frame delivered at b (from a), DIM hex words, in delivery order; FA likewise at a
//   PB / PA       words delivered that do not complete a frame (there should be none)
//   CNT <end> <link_error> <tx_frames> <rx_frames> <retransmits> <crc_errors> <timeouts>
//   WIRE <dir> <beats sent> <lines inverted> <beats dropped> <DATA frames sent>
//   BEATS <dir> <hex of (sof << W | data) per beat as the receiving pins saw it>
//   CYCLES <total> <cycle the last frame was delivered, or -1>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Vchip_link_pair.h"
#include "verilated.h"

#ifndef LINK_W
#define LINK_W 8            // must equal the top's W (the build passes both)
#endif

namespace {

const int kBeatsPerWord = 16 / LINK_W;
const uint32_t kDataMask = (1u << LINK_W) - 1;

struct Wire {               // one direction: the sender's pins in, the receiver's pins out
    std::mt19937_64 rng;
    double ber = 0, drop = 0;
    uint64_t stuck_from = UINT64_MAX, stuck_len = 0;
    bool stuck_clk = false;
    bool prev_lclk = false, prev_out_lclk = false, dropping = false;
    uint32_t mask = 0;
    uint64_t beats = 0, flips = 0, drops = 0, data_frames = 0;
    int hdr_beats = -1;
    uint32_t hdr = 0;
    std::vector<uint32_t> seen;     // beats at the receiver's pins

    explicit Wire(uint64_t seed) : rng(seed) {}
    double u() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

    void step(uint64_t cycle, uint32_t d, bool sof, bool lclk, uint32_t& od, uint8_t& osof, uint8_t& olclk) {
        if (lclk && !prev_lclk) {           // a beat: its faults are drawn now, for its high half
            ++beats;
            if (sof) { hdr_beats = 0; hdr = 0; }
            if (hdr_beats >= 0) {
                hdr |= d << (LINK_W * hdr_beats);
                if (++hdr_beats == kBeatsPerWord) {
                    if ((hdr >> 12) == 0x1) ++data_frames;
                    hdr_beats = -1;
                }
            }
            dropping = drop > 0 && u() < drop;
            drops += dropping;
            mask = 0;
            if (ber > 0)
                for (int i = 0; i <= LINK_W; ++i)
                    if (u() < ber) { mask |= 1u << i; ++flips; }
        }
        if (!lclk) { mask = 0; dropping = false; }
        prev_lclk = lclk;
        uint32_t outd = (d ^ mask) & kDataMask;
        bool outs = sof ^ ((mask >> LINK_W) & 1);
        bool outc = lclk && !dropping;
        if (cycle >= stuck_from && cycle - stuck_from < stuck_len) {
            if (stuck_clk) outc = false; else outd |= 1;
        }
        if (outc && !prev_out_lclk) seen.push_back((uint32_t(outs) << LINK_W) | outd);
        prev_out_lclk = outc;
        od = outd; osof = outs; olclk = outc;
    }
};

struct Stream {             // one direction's user sides
    std::vector<uint16_t> words;
    size_t sent = 0;
    std::vector<uint16_t> got;
};

void die(const char* msg) { std::fprintf(stderr, "chip_link_sim: %s\n", msg); std::exit(2); }

void print_frames(const char* tag, const char* part, const std::vector<uint16_t>& got, int dim) {
    size_t n = got.size() / dim * dim;
    for (size_t i = 0; i < n; i += dim) {
        std::printf("%s", tag);
        for (int k = 0; k < dim; ++k) std::printf(" %04x", got[i + k]);
        std::printf("\n");
    }
    if (n < got.size()) {
        std::printf("%s", part);
        for (size_t i = n; i < got.size(); ++i) std::printf(" %04x", got[i]);
        std::printf("\n");
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* in_path = nullptr;
    double ber = 0, drop = 0, gap = 0;
    uint64_t seed = 1, settle = 3000, max_cycles = 20'000'000, busy_period = 0, busy_len = 0;
    std::string stuck;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* { if (i + 1 >= argc) die("missing value"); return argv[++i]; };
        if (a == "--in") in_path = next();
        else if (a == "--ber") ber = std::atof(next());
        else if (a == "--drop") drop = std::atof(next());
        else if (a == "--gap") gap = std::atof(next());
        else if (a == "--seed") seed = std::strtoull(next(), nullptr, 10);
        else if (a == "--settle") settle = std::strtoull(next(), nullptr, 10);
        else if (a == "--max-cycles") max_cycles = std::strtoull(next(), nullptr, 10);
        else if (a == "--stuck") stuck = next();
        else if (a == "--busy") {
            if (std::sscanf(next(), "%lu:%lu", &busy_period, &busy_len) != 2) die("--busy PERIOD:BUSY");
        } else if (a.rfind("+verilator", 0) == 0) {
        } else die(("unknown argument " + a).c_str());
    }
    if (!in_path) die("--in FRAMES is required");
    FILE* f = std::fopen(in_path, "r");
    if (!f) die("cannot open --in");
    unsigned na = 0, nb = 0;
    if (std::fscanf(f, "%u %u", &na, &nb) != 2) die("bad FRAMES header");
    Stream ab, ba;          // ab: a sends, b receives
    std::vector<unsigned> counts = {na, nb};
    int dim = -1;
    for (int s = 0; s < 2; ++s) {
        Stream& st = s == 0 ? ab : ba;
        for (unsigned fr = 0; fr < counts[s]; ++fr) {
            char line[1 << 16];
            int words = 0;
            while (words == 0) {
                if (!std::fgets(line, sizeof line, f)) die("FRAMES ends early");
                char* p = line;
                char* end;
                for (unsigned long v; (v = std::strtoul(p, &end, 16)), end != p; p = end) {
                    st.words.push_back(uint16_t(v));
                    ++words;
                }
            }
            if (dim < 0) dim = words;
            if (words != dim) die("frames of different lengths");
        }
    }
    std::fclose(f);
    if (dim < 0) dim = 1;

    Wire wab(seed * 2 + 1), wba(seed * 2 + 2);
    wab.ber = wba.ber = ber;
    wab.drop = wba.drop = drop;
    if (!stuck.empty()) {
        char dir[8], mode[8];
        unsigned long from, len;
        if (std::sscanf(stuck.c_str(), "%2s:%lu:%lu:%3s", dir, &from, &len, mode) != 4) die("--stuck DIR:FROM:LEN:MODE");
        Wire& w = std::string(dir) == "ab" ? wab : wba;
        w.stuck_from = from;
        w.stuck_len = len;
        w.stuck_clk = std::string(mode) == "clk";
    }
    std::mt19937_64 gaps(seed * 2 + 3);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    auto top = std::make_unique<Vchip_link_pair>(ctx.get());
    top->rst = 1;
    for (int i = 0; i < 4; ++i) { top->clk = 0; top->eval(); top->clk = 1; top->eval(); }
    top->rst = 0;

    uint64_t cycle = 0, quiet_since = 0, done_at = UINT64_MAX, error_at = UINT64_MAX;
    size_t last_progress = 0;
    for (; cycle < max_cycles; ++cycle) {
        // user sides
        bool ga = gap > 0 && std::uniform_real_distribution<double>(0, 1)(gaps) < gap;
        bool gb = gap > 0 && std::uniform_real_distribution<double>(0, 1)(gaps) < gap;
        top->a_in_valid = ab.sent < ab.words.size() && !ga;
        top->a_in_data = ab.sent < ab.words.size() ? ab.words[ab.sent] : 0;
        top->b_in_valid = ba.sent < ba.words.size() && !gb;
        top->b_in_data = ba.sent < ba.words.size() ? ba.words[ba.sent] : 0;
        bool busy = busy_period > 0 && (cycle % busy_period) < busy_len;
        top->a_out_ready = !busy;
        top->b_out_ready = !busy;
        // the wires
        uint32_t d;
        uint8_t s, c;
        wab.step(cycle, top->a_tx_d, top->a_tx_sof, top->a_tx_lclk, d, s, c);
        top->b_rx_d = d; top->b_rx_sof = s; top->b_rx_lclk = c;
        wba.step(cycle, top->b_tx_d, top->b_tx_sof, top->b_tx_lclk, d, s, c);
        top->a_rx_d = d; top->a_rx_sof = s; top->a_rx_lclk = c;
        top->clk = 0;
        top->eval();
        bool a_take = top->a_in_valid && top->a_in_ready;
        bool b_take = top->b_in_valid && top->b_in_ready;
        bool b_got = top->b_out_valid && top->b_out_ready;
        bool a_got = top->a_out_valid && top->a_out_ready;
        uint16_t b_word = top->b_out_data, a_word = top->a_out_data;
        top->clk = 1;
        top->eval();
        if (a_take) ++ab.sent;
        if (b_take) ++ba.sent;
        if (b_got) ab.got.push_back(b_word);
        if (a_got) ba.got.push_back(a_word);
        size_t progress = ab.got.size() + ba.got.size() + ab.sent + ba.sent;
        if (progress != last_progress) { last_progress = progress; quiet_since = cycle; }
        bool all = ab.got.size() == ab.words.size() && ba.got.size() == ba.words.size();
        if (all && done_at == UINT64_MAX) done_at = cycle;
        if ((top->a_link_error || top->b_link_error) && error_at == UINT64_MAX) error_at = cycle;
        if (all && cycle - quiet_since >= settle) break;
        if (error_at != UINT64_MAX && cycle - error_at >= settle && cycle - quiet_since >= settle) break;
    }
    print_frames("FB", "PB", ab.got, dim);
    print_frames("FA", "PA", ba.got, dim);
    std::printf("CNT a %d %u %u %u %u %u\n", top->a_link_error, top->a_cnt_tx_frames, top->a_cnt_rx_frames,
                top->a_cnt_retransmits, top->a_cnt_crc_errors, top->a_cnt_timeouts);
    std::printf("CNT b %d %u %u %u %u %u\n", top->b_link_error, top->b_cnt_tx_frames, top->b_cnt_rx_frames,
                top->b_cnt_retransmits, top->b_cnt_crc_errors, top->b_cnt_timeouts);
    for (int k = 0; k < 2; ++k) {
        Wire& w = k == 0 ? wab : wba;
        const char* name = k == 0 ? "ab" : "ba";
        std::printf("WIRE %s %lu %lu %lu %lu\n", name, (unsigned long)w.beats, (unsigned long)w.flips,
                    (unsigned long)w.drops, (unsigned long)w.data_frames);
        std::printf("BEATS %s", name);
        for (uint32_t b : w.seen) std::printf(" %x", b);
        std::printf("\n");
    }
    std::printf("CYCLES %lu %ld\n", (unsigned long)cycle, done_at == UINT64_MAX ? -1L : (long)done_at);
    top->final();
    return 0;
}
