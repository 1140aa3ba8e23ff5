"""Fakes for the host driver's unit tests: a register-level core over GoldenModel, a
transport to it, and a Python stand-in for the UART bridge (pyserial-like, with faults).

These model the documented register semantics (docs/register_map.md) so the
driver's logic can be tested in milliseconds; the RTL end-to-end tests
(tests/test_host_e2e_*.py) check the same driver against the real hardware.
"""
from __future__ import annotations

import math
import os
import struct
import threading
import zlib
from collections import deque

from host import registers as R
from host.framing import cobs_decode, cobs_encode
from host.transport import Transport
from hw import numerics as nx
from hw.golden import GoldenModel, LoraInt


class TokenRing:
    """hw_core's output ring: numbered tokens kept until the host acknowledges them.

    TOKEN_COUNT tokens were output since RESET_STATE; numbers TOKEN_ACK .. TOKEN_COUNT - 1 are held.
    TOKEN_WINDOW word i reads token TOKEN_ACK + i (bit31 valid, [30:16] its number mod 2^15) without a
    side effect; TOKEN_POP reads word 0 and acknowledges it; a TOKEN_ACK write frees the tokens
    below it (ignored outside TOKEN_ACK..TOKEN_COUNT). `len()` is the number held."""

    WINDOW = R.TOKEN_WINDOW // 4

    def __init__(self, depth: int):
        self.depth = depth
        self.clear()

    def clear(self) -> None:
        self.tokens: dict[int, int] = {}
        self.count = self.ack = 0

    def __len__(self) -> int:
        return (self.count - self.ack) & 0xFFFFFFFF

    @property
    def full(self) -> bool:
        return len(self) >= self.depth

    def append(self, tok: int) -> None:
        self.tokens[self.count] = tok
        self.count = (self.count + 1) & 0xFFFFFFFF

    def extend(self, toks) -> None:
        for t in toks:
            self.append(t)

    def word(self, i: int) -> int:
        if i >= len(self):
            return 0
        no = (self.ack + i) & 0xFFFFFFFF
        return R.TOKEN_VALID | (no & R.TOKEN_NO_MASK) << R.TOKEN_NO_SHIFT | self.tokens[no]

    def read(self, word: int):
        """The value of register `word` when it is one of the ring's, else None."""
        if word == R.TOKEN_POP // 4:
            v = self.word(0)
            if v:
                self.tokens.pop(self.ack, None)
                self.ack = (self.ack + 1) & 0xFFFFFFFF
            return v
        if self.WINDOW <= word < self.WINDOW + R.WINDOW_WORDS:
            return self.word(word - self.WINDOW)
        if word == R.TOKEN_ACK // 4:
            return self.ack
        if word == R.TOKEN_COUNT // 4:
            return self.count
        return None

    def write(self, word: int, value: int) -> bool:
        if word != R.TOKEN_ACK // 4:
            return False
        if (value - self.ack) & 0xFFFFFFFF <= len(self):
            while self.ack != value:
                self.tokens.pop(self.ack, None)
                self.ack = (self.ack + 1) & 0xFFFFFFFF
        return True


class FakeCore:
    """hw_core's control interface (word-addressed) in Python, computing with GoldenModel."""

    def __init__(self, int_model, context: int | None = None, k_max: int = 8, lanes: int = 4, vpl: int = 4,
                 lora_rank: int = 0, lora_targets: tuple = (), fingerprint: str | None = None,
                 out_depth: int = 4, streams: int = 1):
        # out_depth: the output ring's capacity (hw_core's OUT_DEPTH); streams: sequences held
        # (a golden model each, STREAM_SEL picks one)
        cfg = int_model.config
        self.goldens = [GoldenModel(int_model, context, k_max) for _ in range(streams)]
        self.sel = 0
        self.ident = R.Identity(
            fingerprint=fingerprint or int_model.fingerprint, gen_version=7, dim=cfg.dim,
            hidden=cfg.hidden_dim, layers=cfg.n_layers, heads=cfg.n_heads, kv_heads=cfg.n_kv_heads,
            vocab=cfg.vocab_size, context=self.golden.context, lanes=lanes, vpl=vpl,
            bits=dict(int_model.knobs.get("bits", {"embedding": 8, "attention": 4, "mlp": 4,
                                                    "classifier": 8})),
            lora_rank=lora_rank if lora_targets else 0, lora_targets=tuple(lora_targets), k_max=k_max)
        self.regs = {a // 4: v for a, v in R.pack_identity(self.ident).items()}
        self.regs[R.LORA_WORDS // 4] = sum(R.lora_block_words(self.ident, t) for _, t, _ in
                                           R.lora_blocks(self.ident)) if self.ident.lora_rank else 0
        self.out_depth = out_depth
        self.regs[R.OUT_DEPTH // 4] = out_depth
        self.regs[R.STREAMS // 4] = streams
        self.out = TokenRing(out_depth)
        self.dead = False                 # stop answering (transport raises / times out)
        self.hang = False                 # answer, but never produce a token
        self.lora_words: dict[int, int] = {}
        self.lora_ptr = 0
        self._reset_state()
        self.writes: list[tuple[int, int]] = []

    @property
    def golden(self) -> GoldenModel:
        """The selected stream's model."""
        return self.goldens[self.sel]

    def _reset_state(self):
        self.golden.reset()
        self.prompt = deque()
        if hasattr(self, "out"):
            self.out.clear()
        self.job = None
        self.busy = False
        self.done = False
        self.err = 0
        self.tokens_done = 0

    # ------------------------------------------------------------ registers
    def read(self, word: int) -> int:
        self._step()
        addr = 4 * word
        if addr == R.STATUS:
            return ((R.ST_BUSY if self.busy else 0) | (R.ST_DONE if self.done else 0)
                    | (R.ST_TOKEN_AVAIL if self.out else 0) | self.err)
        ring = self.out.read(word)
        if ring is not None:
            return ring
        if addr == R.POSITION:
            return self.golden.pos
        if addr == R.STREAM_SEL:
            return self.sel
        if addr == R.TOKENS_DONE:
            return self.tokens_done
        if addr in (R.CYCLES_TOTAL, R.CYCLES_LAST_TOKEN):
            return 1000 * self.tokens_done
        return self.regs.get(word, 0)

    def write(self, word: int, value: int) -> None:
        addr = 4 * word
        self.writes.append((addr, value))
        if self.out.write(word, value):
            pass
        elif addr == R.PROMPT_PUSH:
            self.prompt.append(value)
        elif addr == R.CONTROL:
            # as hw_core: an abort ends the run (DONE), a reset in the same write then clears DONE
            if value & R.CTRL_ABORT:
                self.job, self.busy, self.done = None, False, self.busy or self.done
            if value & R.CTRL_RESET_STATE:
                self._reset_state()
            if value & R.CTRL_START:
                self._start()
        elif addr == R.LORA_ADDR:
            self.lora_ptr = value
        elif addr == R.LORA_DATA:
            self.lora_words[self.lora_ptr] = value
            self.lora_ptr += 1
        elif addr == R.LORA_ENABLE:
            self.regs[word] = value & ((1 << len(self.goldens)) - 1) if self.ident.lora_rank else 0
        elif addr == R.STREAM_SEL:
            if value < len(self.goldens):
                self.sel = value
        elif addr < 0x48:
            self.regs[word] = value

    # ------------------------------------------------------------ generation
    def _start(self):
        n = self.regs.get(R.PROMPT_LEN // 4, 0)
        prompt = [self.prompt.popleft() for _ in range(min(n, len(self.prompt)))]
        self.done, self.err = False, 0
        if any(not 0 <= t < self.ident.vocab for t in prompt):
            self.err, self.done = R.ST_ERR_TOKEN, True
            return
        if self.golden.pos + len(prompt) > self.golden.context:
            self.err, self.done = R.ST_ERR_CONTEXT, True
            return
        self._apply_lora(self.golden, self.regs.get(R.LORA_ENABLE // 4, 0) >> self.sel & 1)
        self.busy = True
        self.job = self._generate(self.golden, prompt)

    def _generate(self, g, prompt):
        max_new = self.regs.get(R.MAX_NEW // 4, 0)
        inv_temp = self.regs.get(R.INV_TEMP_Q8 // 4, 0)
        top_k = self.regs.get(R.TOP_K // 4, 0)
        stop = self.regs.get(R.STOP_TOKEN // 4, R.STOP_NONE)
        state = self.regs.get(R.SEED // 4, 0) or nx.LFSR_DEFAULT_SEED
        for tok in prompt:
            logits = g.forward(tok)
            yield None
        self.regs[R.RNG_STATE // 4] = state
        for i in range(max_new):
            tok, state = g.sample(logits, inv_temp, top_k, state)
            self.regs[R.RNG_STATE // 4] = state
            yield tok
            if tok == stop or g.pos >= g.context or i == max_new - 1:
                return
            logits = g.forward(tok)

    def _step(self):
        """Each register access lets the 'hardware' run one step (while the FIFO has room)."""
        if self.job is None or self.hang or self.out.full:
            return
        try:
            tok = next(self.job)
        except StopIteration:
            self.job, self.busy, self.done = None, False, True
            return
        if tok is not None:
            self.out.append(tok)
            self.tokens_done += 1

    def _apply_lora(self, golden, enabled):
        golden.clear_lora()
        if not enabled:
            return                      # LoRA passes off: the base model whatever the memory holds
        ident = self.ident
        slot = self.sel * self.regs[R.LORA_WORDS // 4]     # the selected stream's adapter slot
        for layer, target, base in R.lora_blocks(ident):
            n = R.lora_block_words(ident, target)
            words = [self.lora_words.get(slot + base + i, 0) for i in range(n)]
            out, inp = R.lora_shape(ident, target)
            r = ident.lora_rank
            vals = []
            for w in words[2:]:
                vals += [((w >> (8 * j)) & 0xFF) - (256 if (w >> (8 * j)) & 0x80 else 0) for j in range(4)]
            row_a, row_b = (inp + 3) // 4 * 4, (r + 3) // 4 * 4
            a = [vals[i * row_a:i * row_a + inp] for i in range(r)]
            off = r * row_a
            b = [vals[off + i * row_b:off + i * row_b + r] for i in range(out)]
            if any(v for row in a + b for v in row):
                import numpy as np
                golden.set_lora(layer, target, LoraInt(
                    np.array(a), np.array(b), words[0] & 0x7FFF, words[0] >> 16 & 0x3F,
                    words[1] & 0x7FFF, words[1] >> 16 & 0x3F))


class FakeTransport(Transport):
    """Direct register access to a FakeCore (what PYNQ MMIO does on a board)."""

    def __init__(self, core: FakeCore, token_burst: int = 1):
        self.core, self.name, self.token_burst = core, "fake", token_burst
        self.reads = 0

    def read(self, addr: int) -> int:
        if self.core.dead:
            from host.errors import DeviceTimeout
            raise DeviceTimeout("fake: no answer")
        self.reads += 1
        return self.core.read(addr // 4)

    def write(self, addr: int, value: int) -> None:
        if self.core.dead:
            from host.errors import DeviceTimeout
            raise DeviceTimeout("fake: no answer")
        self.core.write(addr // 4, value)


# ---------------------------------------------------------------- UART bridge stand-in

class FakeBridge:
    """The protocol of hw_uart_bridge.v in Python: frames in, frames out, faults on demand.

    Bytes written by the host go through `receive(data)`; response bytes come out of
    `pending` (bytes). Fault knobs: corrupt_responses (flip a bit in the next N
    responses), drop_requests (drop one byte of the next N requests), silent.

    The token stream (STREAM_CTRL, LINK_CAPS) as hw_uart_bridge.v has it: `stream_poll()` is the
    bridge's poll while idle (TOKEN_ACK, TOKEN_COUNT, then a stream frame of the tokens not yet
    pushed, at most STREAM_MAX); the ports below call it whenever the host looks for input.
    `streams=False` is a bridge from before the stream (LINK_CAPS and STREAM_CTRL go to the core).
    Stream fault knobs: corrupt_stream / drop_stream (the next N stream frames), stream_fault (a
    function of the frame's wire bytes returning the bytes to send instead).
    """

    STREAM_MAX = 32

    def __init__(self, core: FakeCore):
        self.core = core
        self.buf = bytearray()
        self.pending = bytearray()
        self.last = None                # (seq, crc, response bytes)
        self.corrupt_responses = 0
        self.drop_requests = 0
        self.silent = False
        self.executed = 0
        self.replayed = 0               # retries answered from the cache
        self.bad_stop = False           # a stop-bit error in the frame being received
        self.log = None                 # a dict: (seq, request CRC) -> response payload, when set
        self.lock = threading.Lock()
        self.streams = True
        self.stream_on = self.stream_sync = False
        self.stream_id = self.stream_next = 0
        self.corrupt_stream = self.drop_stream = 0
        self.stream_fault = None
        self.stream_frames = 0          # stream frames sent (before the faults)

    def receive(self, data: bytes, stop_errors=()) -> None:
        """Bytes from the host; `stop_errors`: indices into `data` of bytes that ended with a
        bad stop bit (hw_uart_rx drops such a byte and flags the frame: NACK reason 4)."""
        with self.lock:
            for i, b in enumerate(data):
                if stop_errors and i in stop_errors:
                    self.bad_stop = True
                    continue
                if b:
                    self.buf.append(b)
                    continue
                frame, self.buf = bytes(self.buf), bytearray()
                bad_stop, self.bad_stop = self.bad_stop, False
                if (frame or bad_stop) and not self.silent:
                    if self.drop_requests:
                        self.drop_requests -= 1
                        frame = frame[:len(frame) // 2] + frame[len(frame) // 2 + 1:]
                    self._frame(frame, bad_stop)

    def _frame(self, wire: bytes, bad_stop: bool = False) -> None:
        # the order of checks and the NACK's seq are hw_uart_bridge.v's: the seq is the first
        # byte the COBS decoder emitted (0 when none), whatever went wrong afterwards
        seq = _first_decoded_byte(wire)
        if bad_stop:
            return self._send(bytes([seq, 5, 4]))
        if len(wire) > 1 + 256 + 256 // 254:
            return self._send(bytes([seq, 5, 2]))
        try:
            raw = cobs_decode(wire)
        except Exception:
            return self._send(bytes([seq, 5, 2]))
        if len(raw) < 6 or len(raw) > 256:
            return self._send(bytes([seq, 5, 2]))
        seq, kind, body, crc = raw[0], raw[1], raw[2:-4], raw[-4:]
        if zlib.crc32(raw[:-4]).to_bytes(4, "little") != crc:
            return self._send(bytes([seq, 5, 1]))
        if self.last and self.last[:2] == (seq, crc):
            self.replayed += 1
            return self._send(self.last[2])
        if kind in (1, 2) and len(body) >= 2 and body[1] & 0xFE:
            return self._send(bytes([seq, 5, 3]))
        if kind == 1 and len(body) >= 6 and (len(body) - 2) % 4 == 0 and len(body) <= 2 + 4 * 32:
            addr, inc = body[0], body[1] & 1
            for i, v in enumerate(struct.unpack(f"<{(len(body) - 2) // 4}I", body[2:])):
                self._write(addr + i * inc, v)
            resp = bytes([seq, 4])
        elif kind == 2 and len(body) == 3 and 1 <= body[2] <= 32:
            addr, inc, n = body
            resp = bytes([seq, 3]) + b"".join(struct.pack("<I", self._read(addr + i * (inc & 1)))
                                               for i in range(n))
        elif kind == 6 and not body:
            resp = bytes([seq, 4])
        else:
            return self._send(bytes([seq, 5, 3]))
        self.executed += 1
        self.last = (seq, crc, resp)
        if self.log is not None:
            self.log[(seq, bytes(crc))] = resp
        self._send(resp)

    def _send(self, payload: bytes) -> None:
        wire = bytearray(b"\x00" + cobs_encode(payload + zlib.crc32(payload).to_bytes(4, "little")) + b"\x00")
        if self.corrupt_responses:
            self.corrupt_responses -= 1
            wire[len(wire) // 2] ^= 0x04
        self.pending += wire

    # ------------------------------------------------------------ the token stream
    def _write(self, word: int, value: int) -> None:
        if self.streams and word == R.STREAM_CTRL // 4:
            self.stream_on, self.stream_sync = bool(value & R.STREAM_ON), True
            self.stream_id = value >> R.STREAM_ID_SHIFT & 0xFF
            return
        if self.streams and word == R.CONTROL // 4 and value & R.CTRL_RESET_STATE:
            self.stream_on = False      # the token numbers restart: the stream ends with the run
        self.core.write(word, value)

    def _read(self, word: int) -> int:
        if self.streams and word == R.LINK_CAPS // 4:
            return R.CAPS_STREAM
        if self.streams and word == R.STREAM_CTRL // 4:
            return self.stream_id << R.STREAM_ID_SHIFT | int(self.stream_on)
        return self.core.read(word)

    def stream_poll(self) -> bool:
        """One poll of the stream (the bridge does it whenever it is idle): a stream frame of the
        tokens from stream_next on that the core holds, appended to `pending`. True if one went."""
        with self.lock:
            if not self.stream_on or self.silent:
                return False
            ack, count = self.core.read(R.TOKEN_ACK // 4), self.core.read(R.TOKEN_COUNT // 4)
            held, sent = (count - ack) & 0xFFFFFFFF, (self.stream_next - ack) & 0xFFFFFFFF
            if self.stream_sync or sent > held:
                self.stream_next, self.stream_sync = ack, False     # from TOKEN_ACK on
                return False
            n = min(held - sent, self.STREAM_MAX)
            if not n:
                return False
            toks = []
            for i in range(n):
                w = self.core.read(R.TOKEN_WINDOW // 4 + sent + i)
                no = (self.stream_next + i) & 0xFFFFFFFF
                if not w & R.TOKEN_VALID or (w >> R.TOKEN_NO_SHIFT) & R.TOKEN_NO_MASK != no & R.TOKEN_NO_MASK:
                    return False        # the ring moved under the poll
                toks.append(w & 0xFFFF)
            payload = bytes([self.stream_id, 7]) + struct.pack(f"<I{n}H", self.stream_next, *toks)
            self.stream_next = (self.stream_next + n) & 0xFFFFFFFF
            self.stream_frames += 1
            wire = bytearray(b"\x00" + cobs_encode(payload + zlib.crc32(payload).to_bytes(4, "little")) + b"\x00")
            if self.drop_stream:
                self.drop_stream -= 1
                return True
            if self.corrupt_stream:
                self.corrupt_stream -= 1
                wire[len(wire) // 2] ^= 0x10
            if self.stream_fault is not None:
                wire = bytearray(self.stream_fault(bytes(wire)))
            self.pending += wire
            return True


def _first_decoded_byte(wire: bytes) -> int:
    """The first payload byte hw_uart_bridge.v's streaming COBS decoder emits (its h_seq), 0 if none."""
    left, zero, first = 0, False, True
    for b in wire:
        if left == 0:
            if not first and zero:
                return 0                # the implied zero of the previous block
            left, zero, first = b - 1, b != 0xFF, False
        else:
            return b
    return 0


class FakeSerial:
    """A pyserial-like port wired to a FakeBridge (in-process, no threads)."""

    def __init__(self, bridge: FakeBridge):
        self.bridge, self.name, self.timeout = bridge, "fake-serial", 0.001
        self.closed = False

    @property
    def in_waiting(self) -> int:
        self.bridge.stream_poll()       # the host looks for input: the bridge may push tokens
        return len(self.bridge.pending)

    def write(self, data: bytes) -> int:
        self.bridge.receive(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def read(self, n: int = 1) -> bytes:
        out = bytes(self.bridge.pending[:n])
        del self.bridge.pending[:n]
        return out

    def close(self) -> None:
        self.closed = True


class UartLine:
    """One direction of an 8N1 serial line with independent bit errors, and the UART receiver
    at its far end.

    Each burst of bytes goes out as start bit (0), 8 data bits LSB first, stop bit (1), back to
    back, followed by `idle_bits` of idle line (1); every bit of that, idle included, is flipped
    with probability `ber`. The receiver is hw_uart_rx.v's: it hunts for a low level, samples
    8 data bits and the stop bit one bit apart, and after a stop-bit error waits for a high line
    before it hunts again. So a flipped data bit alters one byte, a flipped stop bit is a stop-bit
    error, a flipped start bit or an idle glitch shifts the byte boundaries (garbage bytes, lost
    or merged bytes) until the line is idle again. The receiver restarts idle at each burst.

    `transmit(data)` returns (bytes received, indices of the bytes that had a stop-bit error).
    A PC UART (Linux tty, pyserial clears INPCK) passes such a byte on as sampled; the bridge
    drops it and NACKs the frame.
    """

    def __init__(self, ber: float, seed: int = 0, idle_bits: int = 20):
        import random
        self.ber = float(ber)
        self.idle_bits = idle_bits
        self._rng = random.Random(seed)
        self._log1mp = math.log1p(-self.ber) if 0 < self.ber < 1 else None
        self._gap = self._draw()        # error-free bits before the next flipped bit
        self.bits = 0                   # bits sent (idle included)
        self.flips = 0                  # bits flipped
        self.damaged = 0                # bursts that had a flipped bit

    def _draw(self) -> int:
        if self._log1mp is None:
            return 0 if self.ber >= 1 else 1 << 62
        return int(math.log(1.0 - self._rng.random()) / self._log1mp)

    def transmit(self, data: bytes):
        data = bytes(data)
        n = 10 * len(data) + self.idle_bits
        self.bits += n
        if self._gap >= n:                      # the common case: nothing flipped
            self._gap -= n
            return data, ()
        self.damaged += 1
        bits = []
        for b in data:
            bits.append(0)
            bits.extend((b >> i) & 1 for i in range(8))
            bits.append(1)
        bits.extend([1] * self.idle_bits)
        pos = self._gap
        while pos < n:
            bits[pos] ^= 1
            self.flips += 1
            pos += 1 + self._draw()
        self._gap = pos - n
        return self._receive(bits)

    @staticmethod
    def _receive(bits):
        out, stop_errors = bytearray(), []
        i, n, wait_idle = 0, len(bits), False

        def bit(k):
            return bits[k] if k < n else 1      # the line stays idle after the burst

        while i < n:
            if wait_idle:
                if bits[i]:
                    wait_idle = False
                i += 1
                continue
            if bits[i]:
                i += 1
                continue
            value = sum(bit(i + 1 + k) << k for k in range(8))      # start bit at i
            if not bit(i + 9):
                stop_errors.append(len(out))
                wait_idle = True
            out.append(value)
            i += 10
        return bytes(out), tuple(stop_errors)


class NoisySerial(FakeSerial):
    """FakeSerial with an 8N1 line of bit error rate `ber` in each direction (UartLine).

    Bytes the bridge sends in answer to one write travel as one burst. `wasted_resends` counts
    writes that repeat the previous request while a valid answer to it (a frame with its seq
    and not a NACK) already waits unread, in this port or in the transport's frame decoder
    (`transport` must be set for that)."""

    def __init__(self, bridge: FakeBridge, ber: float, seed: int = 0, idle_bits: int = 20):
        super().__init__(bridge)
        self.to_device = UartLine(ber, seed * 2 + 1, idle_bits)
        self.to_host = UartLine(ber, seed * 2 + 2, idle_bits)
        self.rx = bytearray()               # received by the host's UART, not yet read
        self.transport = None
        self.last_write = None
        self.writes = 0
        self.wasted_resends = 0

    @property
    def in_waiting(self) -> int:
        if self.bridge is not None and self.bridge.stream_poll():      # pushed tokens cross the noisy line too
            out, self.bridge.pending = bytes(self.bridge.pending), bytearray()
            self.rx += self.to_host.transmit(out)[0]
        return len(self.rx)

    def write(self, data: bytes) -> int:
        data = bytes(data)
        if self.last_write and request_frame(data) == request_frame(self.last_write) \
                and self._answer_waiting(data):
            self.wasted_resends += 1
        self.last_write = data
        self.writes += 1
        got, stop_errors = self.to_device.transmit(data)
        self.bridge.receive(got, set(stop_errors))
        out, self.bridge.pending = bytes(self.bridge.pending), bytearray()
        if out:
            self.rx += self.to_host.transmit(out)[0]
        return len(data)

    def read(self, n: int = 1) -> bytes:
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def _answer_waiting(self, request: bytes) -> bool:
        from host.errors import FrameError
        from host.framing import decode_frame, decode_stream
        try:
            seq = decode_frame(request_frame(request)).seq
        except FrameError:
            return False
        dec = getattr(self.transport, "_decoder", None)
        pending = list(getattr(dec, "_ready", ()))
        head = bytes(getattr(dec, "_buf", b""))
        frames = [f for f in decode_stream(head + bytes(self.rx))[0]]
        for item in pending:
            if isinstance(item, bytes):
                try:
                    frames.append(decode_frame(item, getattr(dec, "max_payload", 1024)))
                except FrameError:
                    pass
        return any(f.seq == seq and f.type != 5 for f in frames)


def request_frame(wire: bytes) -> bytes:
    """The encoded bytes of the first frame in what the host wrote: an attempt is one frame
    between 0x00s, or the same frame twice (SerialTransport's doubled attempts)."""
    return next((chunk for chunk in bytes(wire).split(b"\x00") if chunk), b"")


class PtyBridge:
    """A FakeBridge behind a real pseudo-terminal: the host opens `slave_path` with pyserial."""

    def __init__(self, bridge: FakeBridge):
        import tty
        self.bridge = bridge
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.slave_path = os.ttyname(slave)
        self._slave = slave
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self):
        import select
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.01)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                self.bridge.receive(data)
            self.bridge.stream_poll()
            with self.bridge.lock:
                out, self.bridge.pending = bytes(self.bridge.pending), bytearray()
            if out:
                os.write(self.master, out)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self._slave)


def golden_reply(model, adapters, prompt, n, context, k_max, temperature=0.0, top_k=0, seed=0, stop_token=1):
    """The golden model's tokens for a server request: `adapters` ({(layer, target): LoraInt}) applied
    when given, the stop token itself not returned (the server does not send it)."""
    from hw.golden import GoldenModel

    g = GoldenModel(model, context=context, k_max=k_max)
    for (layer, target), ad in (adapters or {}).items():
        g.set_lora(layer, target, ad)
    ids = list(g.generate(prompt, n, temperature=temperature, top_k=top_k, seed=seed, stop_token=stop_token))
    return ids[:-1] if ids and ids[-1] == stop_token else ids

