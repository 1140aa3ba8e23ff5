"""Register access over a UART (pyserial), to hw/rtl/hw_uart_bridge.v.

Request / response frames (host/framing.py: COBS, seq, type, CRC32), one
request in flight:

    WRITE 0x01  addr u8 (word) | flags u8 (bit0 increment) | 1..32 x u32 LE  -> ACK 0x04
    READ  0x02  addr u8 (word) | flags u8 | count u8 (1..32)              -> READ_RESPONSE 0x03
    PING  0x06  (no body)                                                 -> ACK
    NACK  0x05  reason u8: 1 bad CRC, 2 malformed, 3 not understood, 4 UART error
    STREAM 0x07 (device -> host, unasked, while STREAM_CTRL is on): seq = stream id,
                first token number u32 | 1..32 x token u16

Stream frames are kept apart from answers: stream_frames() hands them to the driver
(host/device.py), which checks their id and numbers and falls back to the numbered read.

Every request goes out as 0x00 + frame, so garbage the device holds is ended
first. A NACK or a damaged frame with no good answer behind it once the line
is quiet, or silence past the deadline, re-sends the same frame (same seq):
the device executes a given (seq, CRC) only once and answers a repeat from
its cache, so a retried TOKEN_POP read or PROMPT_PUSH write is never doubled.
A request that keeps failing gets sturdier: from its third attempt on, each
attempt sends the frame twice, a few idle bytes apart (the copy is answered
from the cache, never executed again), and a read without side effects of 8
words or more is read as two halves, which are shorter exchanges. After
`retries` re-sends the request (or any part of a split read) fails with
DeviceTimeout (no answer) or DeviceError (refused). docs/uart_protocol.md
("When the host resends", "When a request keeps failing") has the details.
"""
from __future__ import annotations

import random
import struct
import time
from typing import Dict, Iterable, List, Optional, Tuple

from host.errors import DeviceError, DeviceTimeout, FrameError
from host.framing import FrameDecoder, encode_frame, max_encoded_size
from host.registers import REREADABLE_WORDS, word_index
from host.transport import Transport, check_u32
from host.transports import Opened, typed_options

T_WRITE, T_READ, T_READ_RESPONSE, T_ACK, T_NACK, T_PING = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
T_STREAM = 0x07                 # device -> host, unasked: tokens pushed while the stream is on
FLAG_INCREMENT = 0x01
MAX_WORDS = 32                  # words per WRITE or READ frame (the device's limit)
MAX_PAYLOAD = 2 + 4 * MAX_WORDS  # longest payload either side sends
NACK_REASONS = {1: "bad CRC", 2: "malformed frame", 3: "request not understood",
                4: "UART framing error"}
DEFAULT_BAUD = 115200
DEFAULT_RESPONSE_TIMEOUT = 0.5  # seconds past the transfer time before a request is resent


READ_SLICE = 0.02               # longest single blocking read: deadlines are checked between reads
GUARD_REQUESTS = 256            # requests that end in two 0x00 after an attempt failed
SETTLE = 0.02                   # quiet time (plus 8 byte times) after a bad frame before a resend
# a request that failed this many attempts escalates: each further attempt sends its frame twice, and
# a read free of side effects (of SPLIT_MIN_WORDS words or more) is read as two halves instead
ESCALATE_AFTER = 2
SPLIT_MIN_WORDS = 8             # shorter reads are not split: their halves are barely shorter exchanges
# idle 0x00s between the two copies: the bridge drops bytes that arrive while it still executes the first
# copy (up to the next 0x00; a 0x00 itself is harmless). Its longest execution, a 32-word write, takes
# ~425 cycles (13 a word); at its fastest divisor, 4 clocks per bit, a byte lasts 40
COPY_GAP = 12
MAX_WIRE = max_encoded_size(MAX_PAYLOAD) + 3   # one copy of a frame: leading, closing and guard 0x00


class SerialTransport(Transport):
    """The framed UART link. `port`: a device path or pyserial URL, or an open serial object.

    timeout: seconds to wait for a response beyond its transfer time before resending;
    after `retries` resends the request fails (so a dead device is reported within about
    (retries + 1) * timeout seconds).

    baudrate: of the port this opens; for an open port, its own `baudrate` is used when it
    has one (deadlines scale with the transfer time), else this (default 115200).

    settle: after a damaged frame or a NACK, how long the line must stay quiet before the
    request is resent; a good answer that arrives meanwhile is taken instead (default 20 ms,
    which covers USB adapters' latency timers (FTDI: 16 ms), plus 8 byte times).

    Every read and write has a deadline, also on a port the caller opened: such a port's read
    timeout is capped at READ_SLICE and its write timeout at the response deadline (a port
    without one would block for ever on a dead line or held flow control).
    """

    # one READ frame reads up to 32 tokens of TOKEN_WINDOW (the driver asks for at most half the
    # output ring, 64 tokens by default, so the core fills the other half meanwhile): frames, not
    # tokens, cost on a link slower than the core (docs/link_rate.md)
    token_burst = 32
    # the bridge may push tokens (host/device.py reads LINK_CAPS to know whether it does)
    can_stream = True

    def __init__(self, port, baudrate: Optional[int] = None, timeout: float = DEFAULT_RESPONSE_TIMEOUT,
                 retries: int = 4,
                 seq: Optional[int] = None, settle: Optional[float] = None):
        self.timeout = float(timeout)       # seconds to wait for a response, beyond the transfer
        self.retries = int(retries)
        if self.retries < 0 or not self.timeout > 0:
            raise ValueError(f"retries must be >= 0 and timeout > 0 (got {retries}, {timeout})")
        if isinstance(port, (str, bytes)) or hasattr(port, "__fspath__"):
            self.baudrate = int(baudrate or DEFAULT_BAUD)
            self.name = str(port)
            self._ser = _open_serial(self.name, self.baudrate, self._longest_wait())
        else:                               # an open pyserial-like object
            own = getattr(port, "baudrate", None)
            self.baudrate = own if isinstance(own, int) and own > 0 else int(baudrate or DEFAULT_BAUD)
            self.name = getattr(port, "name", None) or getattr(port, "port", None) or repr(port)
            self._ser = port
            self._bound_port_timeouts()
        self.settle = SETTLE + 80 / self.baudrate if settle is None else float(settle)
        self._decoder = FrameDecoder(max_payload=MAX_PAYLOAD)
        self._salvaged = None               # a frame FrameDecoder.salvage recovered, not yet taken
        self._seq = random.randrange(256) if seq is None else seq & 0xFF
        self._stats = {"requests": 0, "resends": 0, "nacks": 0, "bad_frames": 0, "stale_frames": 0,
                       "timeouts": 0, "late_answers": 0, "salvaged": 0, "doubled": 0, "split_reads": 0,
                       "failed": 0, "stream_frames": 0}
        self._histogram: Dict[object, int] = {}
        self._guard = 0                     # requests left to send with a second closing 0x00
        self._closed = False
        self._streaming = False             # keep stream frames (and a frame in progress) across requests
        self._stream_rx: List = []          # stream frames received, not yet taken
        self._stream_damaged = 0            # damaged frames seen while streaming (each may be a stream frame)
        try:
            self.ping()                     # in step with the device before the first access
        except Exception:
            self.close()
            raise

    def _longest_wait(self) -> float:
        """The deadline of the longest attempt (the longest frame, sent twice)."""
        return self._attempt_wait(2 * MAX_WIRE + COPY_GAP)

    def _attempt_wait(self, wire_bytes: int) -> float:
        """An attempt's deadline: the response timeout plus the transfer time of its `wire_bytes`
        and of the longest response (10 bits per byte), doubled."""
        return self.timeout + 2 * 10 * (wire_bytes + 1 + MAX_PAYLOAD + 12) / self.baudrate

    def _bound_port_timeouts(self) -> None:
        """Cap a caller's port's blocking: reads at READ_SLICE, writes at the longest deadline."""
        ser = self._ser
        try:
            t = getattr(ser, "timeout", 0)
            if t is None or t > READ_SLICE:
                ser.timeout = READ_SLICE
            if hasattr(ser, "write_timeout"):
                w, limit = ser.write_timeout, self._longest_wait()
                if w is None or w > limit:
                    ser.write_timeout = limit
        except Exception as exc:  # a closed or lost port refuses settings
            raise DeviceError(f"{self.name}: cannot set the serial port's timeouts ({exc})") from exc

    # ------------------------------------------------------------ Transport
    def read(self, addr: int) -> int:
        return self.read_many(addr, 1)[0]

    def write(self, addr: int, value: int) -> None:
        self.write_many(addr, [value])

    def read_many(self, addr: int, count: int, increment: bool = False) -> List[int]:
        out: List[int] = []
        word = word_index(addr)
        while len(out) < count:
            n = min(MAX_WORDS, count - len(out))
            start = word + (len(out) if increment else 0)
            if start + (n - 1 if increment else 0) > 0xFF:
                raise ValueError(f"read of {count} words from {addr:#x} runs past register 0x3FC")
            out += self._read_request(start, n, increment)
        return out

    def write_many(self, addr: int, values: Iterable[int], increment: bool = False) -> None:
        # a write is never split: the bridge deduplicates a resent frame by its seq and CRC, but
        # the halves of a write would be new frames, and the long writes (PROMPT_PUSH, LORA_DATA)
        # feed FIFOs, where words the device already took would be pushed twice
        vals = [check_u32(v) for v in values]
        word = word_index(addr)
        for i in range(0, len(vals), MAX_WORDS):
            chunk = vals[i:i + MAX_WORDS]
            start = word + (i if increment else 0)
            if start + (len(chunk) - 1 if increment else 0) > 0xFF:
                raise ValueError(f"write of {len(vals)} words to {addr:#x} runs past register 0x3FC")
            body = bytes((start, FLAG_INCREMENT if increment else 0)) + struct.pack(f"<{len(chunk)}I", *chunk)
            self._request(T_WRITE, body, T_ACK)

    def ping(self) -> None:
        self._request(T_PING, b"", T_ACK)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._ser.close()
            except Exception:  # closing a dead port must not hide the error that got us here
                pass

    # ------------------------------------------------------------ the token stream
    def set_streaming(self, on: bool) -> None:
        """While on, stream frames are kept for stream_frames() (also those that arrive during a
        request), and a frame in progress is not dropped before a request (it is the bridge's:
        the bridge never interleaves frames). Off: what remains is dropped."""
        self._streaming = bool(on)
        if not on:
            self._stream_rx.clear()
            self._stream_damaged = 0

    def stream_frames(self, wait: float) -> Tuple[List, int]:
        """(stream frames received since the last call, damaged frames seen meanwhile); waits up
        to `wait` seconds for a first frame when none is waiting. The caller checks each frame's
        id and numbers: a damaged frame may have been a stream frame."""
        if self._closed:
            raise DeviceError(f"{self.name}: the serial transport is closed")
        deadline = time.monotonic() + wait
        while True:
            data = self._recv(0.0)
            if data:
                self._decoder.feed(data)
            self._sort_frames(count_damaged=True)
            remaining = deadline - time.monotonic()
            if self._stream_rx or self._stream_damaged or remaining <= 0:
                break
            data = self._recv(remaining)
            if data:
                self._decoder.feed(data)
        frames, self._stream_rx = self._stream_rx, []
        damaged, self._stream_damaged = self._stream_damaged, 0
        return frames, damaged

    def _sort_frames(self, count_damaged: bool) -> None:
        """The decoded frames waiting: stream frames kept, damaged ones counted (they may have been
        stream frames) when `count_damaged`, any other frame answers no request now (stale)."""
        while True:
            frame = self._next_frame()
            if frame is None:
                return
            if frame is False:
                self._stream_damaged += int(count_damaged)
            elif frame.type == T_STREAM:
                self._keep_stream(frame)
            else:
                self._stats["stale_frames"] += 1

    def _keep_stream(self, frame) -> None:
        self._stats["stream_frames"] += 1
        if self._streaming:
            self._stream_rx.append(frame)

    def stats(self) -> Dict[str, int]:
        """requests; resends; nacks, bad_frames (damaged) and stale_frames (answers to earlier
        requests) received; timeouts (attempts that got no answer); late_answers (good answers
        found behind a damaged frame or NACK, which would each have cost a resend); failed."""
        return dict(self._stats)

    def retry_histogram(self) -> Dict[object, int]:
        """{resends: requests that succeeded after that many resends, "failed": requests that failed}.
        A split read counts once, with the most failed attempts any of its words went through
        (its halves start from the failures of the whole)."""
        return dict(self._histogram)

    # ------------------------------------------------------------ protocol
    def _request(self, kind: int, body: bytes, expect: int) -> bytes:
        """Send one request until its response arrives; return the response body."""
        self._stats["requests"] += 1
        answer, failed = self._exchange(kind, body, expect, 0, [])
        self._count(failed)
        return answer

    def _read_request(self, start: int, n: int, increment: bool) -> List[int]:
        """One READ of n words from word `start`, split into smaller reads if it keeps failing."""
        self._stats["requests"] += 1
        words, failed = self._read_piece(start, n, increment, 0, [])
        self._count(failed)
        return words

    def _read_piece(self, start: int, n: int, increment: bool, failed: int,
                    nacks: List[int]) -> Tuple[List[int], int]:
        """(n words from word `start`, the most failed attempts any of them went through), after
        `failed` failed attempts of a read these words belong to. A read that may be split and
        fails again past ESCALATE_AFTER is read as two halves: an attempt fails about in
        proportion to its bits, so each half gets through more often than the whole."""
        body = bytes((start, FLAG_INCREMENT if increment else 0, n))
        answer, failed = self._exchange(T_READ, body, T_READ_RESPONSE, failed, nacks,
                                        splittable=self._may_split(start, n, increment))
        if answer is not None:
            return self._words(answer, n), failed
        self._stats["split_reads"] += 1
        half = n // 2
        first, failed_first = self._read_piece(start, half, increment, failed, nacks)
        rest, failed_rest = self._read_piece(start + (half if increment else 0), n - half, increment,
                                             failed, nacks)
        return first + rest, max(failed_first, failed_rest)

    @staticmethod
    def _may_split(start: int, n: int, increment: bool) -> bool:
        """Whether a read may be retried as two smaller ones: long enough for that to pay, and
        of words that reading does not change (a resend of the same frame is answered from the
        bridge's cache, a half is a new frame: a TOKEN_POP read in halves could pop tokens whose
        answer was lost)."""
        words = range(start, start + n) if increment else (start,)
        return n >= SPLIT_MIN_WORDS and all(w in REREADABLE_WORDS for w in words)

    def _words(self, answer: bytes, n: int) -> List[int]:
        if len(answer) != 4 * n:
            raise DeviceError(f"{self.name}: READ of {n} words answered with {len(answer)} bytes; "
                              "the device speaks another protocol version")
        return list(struct.unpack(f"<{n}I", answer))

    def _count(self, failed: int) -> None:
        """A request completed after `failed` resends: the retry histogram."""
        self._histogram[failed] = self._histogram.get(failed, 0) + 1

    def _exchange(self, kind: int, body: bytes, expect: int, failed: int, nacks: List[int],
                  splittable: bool = False) -> Tuple[Optional[bytes], int]:
        """Send one frame (a new seq) until it is answered: (its answer, the failed attempts of
        its data so far, `failed` of earlier frames included). With `splittable`, (None, failed)
        once it failed here and ESCALATE_AFTER attempts in all: the caller splits it. Raises
        once the data failed `retries` + 1 attempts, so splitting never adds attempts for a
        dead device."""
        if self._closed:
            raise DeviceError(f"{self.name}: the serial transport is closed")
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        frame = b"\x00" + encode_frame(seq, kind, body, max_payload=MAX_PAYLOAD)
        self._drop_input()
        while True:
            if failed:
                self._stats["resends"] += 1
            wire, copy_bytes = self._attempt_wire(frame, failed)
            wait = self._attempt_wait(len(wire))
            deadline = time.monotonic() + wait
            self._send(wire, wait)
            # in a doubled attempt whose first copy failed, the copy's answer follows the copy
            patience = self.settle + 10 * copy_bytes / self.baudrate
            answer = self._await(seq, expect, deadline, nacks, kind, body, patience)
            if answer is not None:
                if copy_bytes:
                    self._let_the_copy_answer(deadline)
                self._guard = max(0, self._guard - 1)
                return answer, failed
            self._guard = GUARD_REQUESTS
            failed += 1
            if failed > self.retries:
                self._give_up(nacks, wait)
            if splittable and failed >= ESCALATE_AFTER:
                return None, failed

    def _attempt_wire(self, frame: bytes, failed: int) -> Tuple[bytes, int]:
        """(What one attempt sends, how many of its bytes follow the first copy: 0 unless
        doubled). On a line that lost frames lately the frame ends with a second 0x00: should
        the first one be damaged, the device still sees the frame end (and NACKs it) instead of
        holding it until the next request, which the host would send only after the whole
        deadline. From the ESCALATE_AFTER-th failure on the frame goes out twice, COPY_GAP idle
        bytes apart: the bridge executes a
        (seq, CRC) once and answers the copy from its cache, so the copy is a second chance,
        never a second execution; the attempt fails only if both exchanges do."""
        one = frame + (b"\x00" if self._guard else b"")
        if failed >= ESCALATE_AFTER:
            self._stats["doubled"] += 1
            return one + bytes(COPY_GAP) + one, COPY_GAP + len(one)
        return one, 0

    def _let_the_copy_answer(self, deadline: float) -> None:
        """After a doubled attempt: receive until the line has been quiet for `settle` (or the
        attempt's deadline), so that the copy's answer, or its NACK, lands here and not in the
        next request's exchange, where a NACK would read as a refusal of that request.
        _drop_input discards it."""
        last_rx = time.monotonic()
        while True:
            now = time.monotonic()
            until = min(deadline, last_rx + self.settle)
            if now >= until:
                return
            data = self._recv(until - now)
            if data:
                self._decoder.feed(data)
                last_rx = time.monotonic()

    def _give_up(self, nacks: List[int], wait: float) -> None:
        """Raise the error of a request whose data failed retries + 1 attempts."""
        self._stats["failed"] += 1
        self._histogram["failed"] = self._histogram.get("failed", 0) + 1
        tries = self.retries + 1
        if nacks:
            why = ", ".join(sorted({NACK_REASONS.get(r, f"reason {r}") for r in nacks}))
            raise DeviceError(f"{self.name}: request refused {len(nacks)} times in {tries} attempts "
                              f"({why}); the line is too noisy: check the cable, ground and baud rate "
                              f"({self.baudrate})")
        raise DeviceTimeout(f"{self.name}: no valid answer after {tries} attempts of {wait:.2f} s; "
                            f"is the board powered, programmed with a hardwire UART bitstream and "
                            f"set to {self.baudrate} baud?")

    def _await(self, seq: int, expect: int, deadline: float, nacks: List[int], kind: int,
               body: bytes, patience: float) -> Optional[bytes]:
        """The response body, or None when this attempt failed (resend).

        Everything already received is checked before a resend: a damaged frame or a NACK is
        often followed by the good answer (the tail of an earlier attempt's damaged response,
        line noise between frames, a NACK for a fragment of the request), so the attempt
        fails only once the line has been quiet for `patience` (`settle`; in a doubled attempt
        also one copy's transfer time) with no good answer, or at the deadline. A frame left
        without its closing 0x00 when the line goes quiet is decoded as if it had one
        (FrameDecoder.salvage: a damaged delimiter would otherwise cost the whole deadline);
        its CRC decides, as for any frame. One that does not decode so and
        stays unfinished for half the response timeout (at once after a failure) counts as
        damaged."""
        failed = False          # a NACK or damaged frame arrived: resend once the line is quiet
        last_rx = time.monotonic()
        salvaged = False        # salvage tried since the last bytes arrived
        while True:
            frame = self._next_frame()
            if frame is not None:
                answer = self._take(frame, seq, expect, nacks, kind, body)
                if answer is None:
                    failed = True
                elif isinstance(answer, bytes):
                    if failed:
                        self._stats["late_answers"] += 1
                    return answer
                continue
            now = time.monotonic()
            # a frame in progress may be the good answer: give it its transfer time
            quiet = patience + (10 * (MAX_PAYLOAD + 12) / self.baudrate if self._decoder.buffered else 0.0)
            if now - last_rx >= quiet or now >= deadline:
                # the line is quiet (or time is up): what is waiting, then the frame in progress
                data = self._recv(0.0)
                if not data and self._decoder.buffered:
                    if not salvaged:
                        salvaged = True
                        frame = self._decoder.salvage()
                        if frame is not None:
                            self._stats["salvaged"] += 1
                            self._salvaged = frame
                            continue
                    # it stopped arriving without its 0x00 and is no frame without one either:
                    # damaged (its delimiter and more). Unless something already failed, give a
                    # slow link (a simulation, a network port) half the response timeout first
                    if failed or now - last_rx >= max(quiet, self.timeout / 2):
                        self._decoder.discard_partial()
                        self._stats["bad_frames"] += 1
                        failed = True
                if not data:
                    if failed or now >= deadline:
                        if not failed:
                            self._stats["timeouts"] += 1
                        return None
                    data = self._recv(deadline - now)       # quiet, nothing wrong: wait on
            else:
                data = self._recv(deadline - now)
            if data:
                self._decoder.feed(data)
                last_rx = time.monotonic()
                salvaged = False

    def _drop_input(self) -> None:
        """Forget what arrived before a new request: none of it can answer the request."""
        data = self._recv(0.0)
        if data:
            self._decoder.feed(data)
        self._sort_frames(count_damaged=self._streaming)
        if not self._streaming:
            self._decoder.discard_partial()

    def _next_frame(self):
        """The next decoded frame, False for a damaged one, None when none is complete."""
        if self._salvaged is not None:
            frame, self._salvaged = self._salvaged, None
            return frame
        try:
            return self._decoder.next_frame()
        except FrameError:
            self._stats["bad_frames"] += 1
            return False

    def _take(self, frame, seq: int, expect: int, nacks: List[int], kind: int, body: bytes):
        """What `frame` means for the request `seq`: its answer (bytes), None (refused or
        damaged: this attempt failed), or False (not about it: an earlier request's answer)."""
        if frame is False:
            self._stream_damaged += self._streaming     # it may have been a stream frame
            return None
        if frame.type == T_STREAM:                  # pushed by the device, not an answer
            self._keep_stream(frame)
            return False
        if frame.type == T_NACK:
            # ours, or one whose seq arrived damaged: the device sends no NACK unasked, so it
            # refused (a fragment of) this request
            reason = frame.payload[0] if frame.payload else 0
            self._stats["nacks"] += 1
            nacks.append(reason)
            if reason == 3 and frame.seq == seq:
                raise DeviceError(f"{self.name}: the device did not understand request type "
                                  f"{kind:#04x} ({body[:8].hex()}...): NACK 'request not "
                                  "understood'; host and bitstream speak different protocols")
            return None
        if frame.seq != seq:
            self._stats["stale_frames"] += 1    # a late answer to an earlier request
            return False
        if frame.type == expect:
            return frame.payload
        self._stats["bad_frames"] += 1          # our seq, a type that does not answer it
        return None

    def _send(self, wire: bytes, wait: float) -> None:
        """Write `wire` within `wait` seconds (no flush: tcdrain has no timeout, and the
        response deadline already includes the request's transfer time)."""
        deadline = time.monotonic() + wait
        view = memoryview(wire)
        try:
            while view:
                n = self._ser.write(view)
                if n is None:               # a file-like object that does not count
                    break
                view = view[n:]
                if view:
                    if time.monotonic() >= deadline:
                        raise _WriteTimeout()
                    if not n:
                        time.sleep(0.0005)  # a non-blocking port that is full: do not spin
        except Exception as exc:  # pyserial raises SerialException / OSError on a lost port
            if isinstance(exc, _WriteTimeout) or type(exc).__name__ == "SerialTimeoutException":
                raise DeviceTimeout(f"{self.name}: writing a request did not finish within "
                                    f"{wait:.2f} s; is hardware flow control (RTS/CTS) holding "
                                    "the line, or the adapter stuck?") from exc
            raise DeviceError(f"{self.name}: cannot write to the serial port ({exc})") from exc

    def _recv(self, remaining: float) -> bytes:
        """Bytes received: what is waiting, else what arrives within min(remaining, READ_SLICE)."""
        ser = self._ser
        try:
            waiting = ser.in_waiting
            if waiting:
                return ser.read(waiting)
            if remaining <= 0:
                return b""
            t = getattr(ser, "timeout", READ_SLICE)
            if t is None or t > READ_SLICE:     # the caller reconfigured the port
                ser.timeout = t = READ_SLICE
            t0 = time.monotonic()
            data = ser.read(1)      # blocks until a byte arrives, READ_SLICE at most
        except Exception as exc:
            raise DeviceError(f"{self.name}: cannot read from the serial port ({exc})") from exc
        if not data and time.monotonic() - t0 < 0.0002:
            time.sleep(min(remaining, 0.0005))  # a non-blocking port or a fake: do not spin
        return data


class _WriteTimeout(Exception):
    pass


def _open_serial(url: str, baudrate: int, write_timeout: float):
    """Open a port (a path such as /dev/ttyUSB0, or a pyserial URL such as loop://)."""
    try:
        import serial
    except ImportError as exc:  # pragma: no cover - pyserial is a dependency
        raise DeviceError("pyserial is not installed; `pip install pyserial`") from exc
    try:
        # a short read timeout: the transport keeps its own deadlines
        return serial.serial_for_url(url, baudrate=baudrate, timeout=READ_SLICE, write_timeout=write_timeout)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(f"cannot open serial port {url}: {exc}; check the path (ls /dev/ttyUSB* "
                          "/dev/ttyACM*) and that you may use it (group dialout)") from exc


def open_uri(target: str, options, timeout: float, metadata_for) -> Opened:
    """serial:<port or pyserial URL>[?baud=N&retries=N&response_timeout=S&stream=0] (host/transports.py).

    The port opens at the rate the bitstream's bridge was built for (its metadata's uart_baud) unless
    the URI says otherwise; a lost link is opened again (Opened.reopen). stream=0 reads tokens by
    request/response instead of taking those the bridge pushes."""
    o = typed_options(options, {"baud": int, "retries": int, "response_timeout": float, "stream": int})
    meta = metadata_for(None)           # no automatic look-up: a port has no folder beside it
    baud = o.get("baud") or (meta.uart_baud if meta is not None and meta.uart_baud else DEFAULT_BAUD)

    def open_serial() -> Transport:
        return SerialTransport(target, baudrate=baud, timeout=o.get("response_timeout", DEFAULT_RESPONSE_TIMEOUT),
                               retries=o.get("retries", 4))

    return Opened(open_serial(), metadata=lambda: meta, reopen=open_serial, stream=bool(o.get("stream", 1)))
