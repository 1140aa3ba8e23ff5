"""Register access over a UART (pyserial), to hw/rtl/hw_uart_bridge.v.

Request / response frames (host/framing.py: COBS, seq, type, CRC32), one
request in flight:

    WRITE 0x01  addr u8 (word) | flags u8 (bit0 increment) | 1..32 x u32 LE  -> ACK 0x04
    READ  0x02  addr u8 (word) | flags u8 | count u8 (1..32)              -> READ_RESPONSE 0x03
    PING  0x06  (no body)                                                 -> ACK
    NACK  0x05  reason u8: 1 bad CRC, 2 malformed, 3 not understood, 4 UART error

Every request goes out as 0x00 + frame, so garbage the device holds is ended
first. A NACK, a damaged response or silence past the deadline re-sends the
same frame (same seq): the device executes a given (seq, CRC) only once and
answers a repeat from its cache, so a retried TOKEN_POP read or PROMPT_PUSH
write is never doubled. After `retries` re-sends the request fails with
DeviceTimeout (no answer) or DeviceError (refused). docs/uart_protocol.md has
the details.
"""
from __future__ import annotations

import random
import struct
import time
from typing import Dict, Iterable, List, Optional

from host.errors import DeviceError, DeviceTimeout, FrameError
from host.framing import FrameDecoder, encode_frame
from host.registers import word_index
from host.transport import Transport, check_u32

T_WRITE, T_READ, T_READ_RESPONSE, T_ACK, T_NACK, T_PING = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
FLAG_INCREMENT = 0x01
MAX_WORDS = 32                  # words per WRITE or READ frame (the device's limit)
MAX_PAYLOAD = 2 + 4 * MAX_WORDS  # longest payload either side sends
NACK_REASONS = {1: "bad CRC", 2: "malformed frame", 3: "request not understood",
                4: "UART framing error"}
DEFAULT_BAUD = 115200
DEFAULT_RESPONSE_TIMEOUT = 0.5  # seconds past the transfer time before a request is resent


class SerialTransport(Transport):
    """The framed UART link. `port`: a device path or pyserial URL, or an open serial object.

    timeout: seconds to wait for a response beyond its transfer time before resending;
    after `retries` resends the request fails (so a dead device is reported within about
    (retries + 1) * timeout seconds).
    """

    token_burst = 8             # one READ frame pops up to 8 tokens: frames, not pops, cost

    def __init__(self, port, baudrate: int = DEFAULT_BAUD, timeout: float = DEFAULT_RESPONSE_TIMEOUT,
                 retries: int = 4,
                 seq: Optional[int] = None):
        self.baudrate = int(baudrate)
        self.timeout = float(timeout)       # seconds to wait for a response, beyond the transfer
        self.retries = int(retries)
        if isinstance(port, (str, bytes)) or hasattr(port, "__fspath__"):
            self.name = str(port)
            self._ser = _open_serial(self.name, self.baudrate)
        else:                               # an open pyserial-like object (tests)
            self.name = getattr(port, "name", None) or getattr(port, "port", None) or repr(port)
            self._ser = port
            if getattr(port, "timeout", 0) is None:
                port.timeout = 0.02         # a blocking read would defeat every deadline
        self._decoder = FrameDecoder(max_payload=MAX_PAYLOAD)
        self._seq = random.randrange(256) if seq is None else seq & 0xFF
        self._stats = {"requests": 0, "resends": 0, "nacks": 0, "bad_frames": 0, "stale_frames": 0,
                       "timeouts": 0}
        self._closed = False
        try:
            self.ping()                     # in step with the device before the first access
        except Exception:
            self.close()
            raise

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
            body = self._request(T_READ, bytes((start, FLAG_INCREMENT if increment else 0, n)),
                                 T_READ_RESPONSE)
            if len(body) != 4 * n:
                raise DeviceError(f"{self.name}: READ of {n} words answered with {len(body)} bytes; "
                                  "the device speaks another protocol version")
            out += struct.unpack(f"<{n}I", body)
        return out

    def write_many(self, addr: int, values: Iterable[int], increment: bool = False) -> None:
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

    def stats(self) -> Dict[str, int]:
        return dict(self._stats)

    # ------------------------------------------------------------ protocol
    def _request(self, kind: int, body: bytes, expect: int) -> bytes:
        """Send one request until its response arrives; return the response body."""
        if self._closed:
            raise DeviceError(f"{self.name}: the serial transport is closed")
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        wire = b"\x00" + encode_frame(seq, kind, body, max_payload=MAX_PAYLOAD)
        # transfer time of the request and of the longest response (10 bits per byte), doubled
        wait = self.timeout + 2 * 10 * (len(wire) + MAX_PAYLOAD + 12) / self.baudrate
        self._stats["requests"] += 1
        nacks: List[int] = []
        for attempt in range(self.retries + 1):
            if attempt:
                self._stats["resends"] += 1
            self._send(wire)
            answer = self._await(seq, expect, time.monotonic() + wait)
            if isinstance(answer, bytes):
                return answer
            if answer == "timeout":
                self._stats["timeouts"] += 1
            elif answer >= 0:                       # a NACK with its reason
                nacks.append(answer)
                if answer == 3:
                    raise DeviceError(f"{self.name}: the device did not understand request type "
                                      f"{kind:#04x} ({body[:8].hex()}...): NACK 'request not "
                                      "understood'; host and bitstream speak different protocols")
        tries = self.retries + 1
        if nacks:
            why = ", ".join(sorted({NACK_REASONS.get(r, f"reason {r}") for r in nacks}))
            raise DeviceError(f"{self.name}: request refused {len(nacks)} of {tries} times ({why}); "
                              "the line is too noisy: check the cable, ground and baud rate "
                              f"({self.baudrate})")
        raise DeviceTimeout(f"{self.name}: no valid answer after {tries} attempts of {wait:.2f} s; "
                            f"is the board powered, programmed with a hardwire UART bitstream and "
                            f"set to {self.baudrate} baud?")

    def _await(self, seq: int, expect: int, deadline: float):
        """The response body, a NACK reason (int), -1 for a damaged frame, or "timeout"."""
        while True:
            while True:
                try:
                    frame = self._decoder.next_frame()
                except FrameError:
                    self._stats["bad_frames"] += 1
                    return -1                       # damaged response: ask again at once
                if frame is None:
                    break
                if frame.seq != seq:
                    self._stats["stale_frames"] += 1    # a late answer to an earlier attempt
                    continue
                if frame.type == T_NACK:
                    self._stats["nacks"] += 1
                    return frame.payload[0] if frame.payload else 0
                if frame.type == expect:
                    return frame.payload
                self._stats["bad_frames"] += 1
                return -1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            data = self._recv(remaining)
            if data:
                self._decoder.feed(data)

    def _send(self, wire: bytes) -> None:
        try:
            self._ser.write(wire)
            self._ser.flush()
        except Exception as exc:  # pyserial raises SerialException / OSError on a lost port
            raise DeviceError(f"{self.name}: cannot write to the serial port ({exc})") from exc

    def _recv(self, remaining: float) -> bytes:
        try:
            waiting = self._ser.in_waiting
            if waiting:
                return self._ser.read(waiting)
            # block briefly for the next byte; the port's own timeout bounds this read
            return self._ser.read(1)
        except Exception as exc:
            raise DeviceError(f"{self.name}: cannot read from the serial port ({exc})") from exc


def _open_serial(url: str, baudrate: int):
    """Open a port (a path such as /dev/ttyUSB0, or a pyserial URL such as loop://)."""
    try:
        import serial
    except ImportError as exc:  # pragma: no cover - pyserial is a dependency
        raise DeviceError("pyserial is not installed; `pip install pyserial`") from exc
    try:
        # a short read timeout: the transport keeps its own deadlines
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.02, write_timeout=2.0)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(f"cannot open serial port {url}: {exc}; check the path (ls /dev/ttyUSB* "
                          "/dev/ttyACM*) and that you may use it (group dialout)") from exc
