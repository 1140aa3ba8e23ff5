"""The streaming API: one `Device` over every transport (simulation, UART, PYNQ).

    with open_device("serial:/dev/ttyUSB0?baud=115200", metadata="top.hardwire.json") as dev:
        for tok in dev.generate("Once upon a time", max_new_tokens=64):
            print(tok.text, end="", flush=True)

URIs: "sim:<build folder>[?timeout=S]",
"serial:<port or pyserial URL>[?baud=N&retries=N&response_timeout=S&stream=0]",
"pynq:<path to .bit>[?ip=<name>]". On open the identity block is read and
checked against the build's metadata (host/metadata.py) and the tokenizer.

generate() drives the register protocol of docs/register_map.md: settings as
one burst, the prompt into PROMPT_PUSH, CONTROL.START, then TOKEN_WINDOW reads
at the host's own token count, acknowledged through TOKEN_ACK, until the
requested tokens, the stop token or STATUS.DONE. It yields each token as it
arrives. Every wait has a deadline (`timeout`, seconds without progress): a
device that stops answering raises DeviceTimeout, never hangs.

Nothing is lost on the link: the device keeps each token until the host
acknowledges it, and reading the window has no side effect, so a read whose
answer never came is simply read again. When the link fails mid-generation
(a reopened port, a replugged cable) the driver reopens it (`reopen`, which
open_device gives serial devices) and continues at its own count; without
one, `reconnect(transport)` and `resume()` do the same by hand.

Over a UART bridge that can push tokens (LINK_CAPS bit0) the tokens come in
stream frames, no request per read (docs/uart_protocol.md, "Streaming"): the
host checks each frame's stream id and token numbers, still acknowledges in
batches, and reads by number whenever a frame is missing or damaged.
`Device(stream=False)` keeps the request/response read.
"""
from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from host import registers as R
from host.chain import RemoteChip, SelectedChip, chain_top_selects, has_mailbox
from host.errors import DeviceError, DeviceTimeout
from host.metadata import IdentityMismatch, Metadata, check_identity, check_tokenizer, find_metadata
from host.tokenizer import BOS, TextStream, Tokenizer
from host.transport import Transport
from host.transports import examples, opener, split_options

if TYPE_CHECKING:       # pragma: no cover
    from host.streams import Stream, StreamPool

DEFAULT_TIMEOUT = 10.0      # seconds without progress before DeviceTimeout
DEFAULT_RECONNECTS = 3      # link failures a generation survives (reopen the port, continue)
# seconds to wait for a stream frame before reading by number (a lost last frame, a finished run)
DEFAULT_STREAM_WAIT = 0.05
M32 = 0xFFFFFFFF


class PromptError(ValueError):
    """A prompt the device cannot take (too long for the context, bad token ids, empty)."""


class LoraError(ValueError):
    """A LoRA adapter that does not fit the device (target, layer, shape, values)."""


class TokenSequenceError(DeviceError):
    """The device's numbered tokens are not the ones the host expects (the device was reset,
    reprogrammed, or another host acknowledged them): the run cannot continue."""


@dataclass(frozen=True)
class Token:
    """One generated token: its id, its text (run.c's decoding; '' without a tokenizer
    or while a UTF-8 character is incomplete) and its index in this generation."""
    id: int
    text: str
    index: int


@dataclass
class RunStats:
    """Numbers of the last generate(): tokens, wall time, the device's cycle counters."""
    prompt_tokens: int = 0
    tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float = 0.0
    cycles_total: int = 0
    cycles_last_token: int = 0
    stopped_by: str = ""        # "max_new_tokens", "stop_token", "context", "abort", "link"
    reconnects: int = 0         # link failures survived by reopening the link

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Run:
    """A generation in progress: what the streaming loop, and resume() after a link failure, need."""
    max_new: int
    stop_token: Optional[int]
    text: Optional[TextStream]
    stats: RunStats
    start: float
    next_no: int                # number (mod 2^32) of the next token the host expects
    acked: int                  # the device's TOKEN_ACK as the host last set or read it
    count: int = 0              # tokens yielded
    interrupted: bool = False   # the link failed: resume() continues
    stream_id: Optional[int] = None     # the id of the stream the device pushes this run's tokens in
    stream_gap: bool = False            # a stream frame was lost or damaged: read by number first


class Device:
    """A hardwire accelerator behind a Transport.

    reopen: a function that opens a new transport to the same device (open_device gives one for
    serial: URIs); a generation that loses its link calls it, checks it reaches the same device,
    and continues where it stood, up to `reconnects` times per generation."""

    def __init__(self, transport: Transport, tokenizer=None, metadata: Optional[Metadata] = None,
                 timeout: float = DEFAULT_TIMEOUT, reopen: Optional[Callable[[], Transport]] = None,
                 reconnects: int = DEFAULT_RECONNECTS, stream: bool = True,
                 stream_wait: float = DEFAULT_STREAM_WAIT):
        self.transport = transport
        # stream: take tokens pushed by the link when it can (LINK_CAPS.STREAM); False: read them
        self.stream = bool(stream)
        self.stream_wait = float(stream_wait)
        self._link_streams: Optional[bool] = None     # LINK_CAPS.STREAM of this transport, once read
        self._stream_id = random.randrange(256)
        self.timeout = float(timeout)
        self.metadata = metadata
        self.reopen = reopen
        self.reconnects = int(reconnects)
        self.last_run = RunStats()
        self._run_state: Optional[_Run] = None
        words = self._read_identity(transport)
        self._identity = R.unpack_identity(words)
        # a chain of chips (docs/chain.md) reached through its first chip answers for all of them: its
        # identity has every chip's layers. One board of a chain reached by its own link is that chip.
        self.chain = R.chain_place(words[R.CHAIN])      # (index, chips, first layer) of the chip reached
        self.chips = 1
        self.chip_layers = [self._identity.layers]     # layers of each chip, in order
        self._mailbox = has_mailbox(words[R.GEN_VERSION])
        if self.chain[1] > 1 and self.chain[0] == 0 and (self._mailbox or chain_top_selects(transport)):
            self.chips = self.chain[1]
            self._identity = self._chain_identity(transport, self._identity)
        # FIFO capacities (0 = not reported): a prompt must fit the prompt FIFO; the host reads
        # at most what the output FIFO holds (more would only bring back empty words)
        self.prompt_depth = words[R.PROMPT_DEPTH]
        self.out_depth = words[R.OUT_DEPTH]
        # sequences held at once (open_stream; bitstreams before generator 1.4 read 0: one), each
        # with its LoRA adapter slot; LORA_ENABLE as last written (bit s: stream s runs its adapter)
        self.streams = max(1, words[R.STREAMS])
        # RNG_STATE (and STREAMS) came with generator 1.4: a run can end and the next continue
        # the sampler, so one generation can be split into several STARTs
        self.resumable = words[R.STREAMS] > 0
        # sequencer contexts sharing the matrix engine (generator 1.10; before: one): stream s runs on
        # context s % contexts, and streams on different contexts run at once (host/streams.py)
        self.contexts = max(1, words[R.CONTEXTS])
        self._streams: Optional["StreamPool"] = None
        self._lora = {"bits": 0}       # LORA_ENABLE as last written; shared with the streams' views
        self.lora_in_slot = [False] * self.streams     # an adapter was written into the slot
        # the numbered token read (TOKEN_WINDOW + TOKEN_ACK); False once the device shows that its
        # bitstream predates it: tokens are then popped (TOKEN_POP), as those bitstreams expect
        self.numbered_read = True
        if metadata is not None:
            check_identity(self._identity, metadata)
        if isinstance(tokenizer, (str, Path)):
            tokenizer = Tokenizer.load(tokenizer, vocab_size=self._identity.vocab)
        elif tokenizer is None and metadata is not None and metadata.tokenizer_path() is not None:
            tokenizer = Tokenizer.load(metadata.tokenizer_path(), vocab_size=self._identity.vocab)
        if tokenizer is not None:
            check_tokenizer(tokenizer, self._identity, metadata)
        self.tokenizer = tokenizer
        self._can_stream()          # once per link: LINK_CAPS, when the transport could stream

    @staticmethod
    def _read_identity(transport: Transport) -> Dict[int, int]:
        magic = transport.read(R.MAGIC)
        if magic != R.MAGIC_VALUE:
            raise DeviceError(f"{transport.name}: register 0x00 reads {magic:#010x}, not the hardwire "
                              f"magic {R.MAGIC_VALUE:#010x} ('HWIR'); this is not a hardwire device "
                              "(wrong port, bitstream or IP address)")
        return transport.read_block([R.GEN_VERSION] + R.identity_addresses()
                                    + [R.PROMPT_DEPTH, R.OUT_DEPTH, R.LORA_WORDS, R.STREAMS, R.CHAIN, R.CONTEXTS])

    def chip(self, k: int):
        """Chip k of the chain this device reaches through its first chip: an object with read(addr),
        read_block(addrs) and write(addr, value) on that chip's registers (host/chain.py)."""
        return self._chip(self.transport, k)

    def _chip(self, transport: Transport, k: int):
        if not 0 <= k < self.chips:
            raise DeviceError(f"{transport.name}: no chip {k}: the device reaches {self.chips} chip(s) "
                              f"(0..{self.chips - 1})")
        if k == 0:
            return transport
        if self._mailbox:
            return RemoteChip(transport, k, timeout=min(self.timeout, 5.0))
        return SelectedChip(transport, k)

    def _chain_identity(self, transport: Transport, first: R.Identity) -> R.Identity:
        """Every chip's identity through the first chip (its CHAIN_REMOTE mailbox; a generator 1.7 chain
        top: CHAIN_SEL), checked to be one split of one model: chip k says it is chip k of the same
        count, its first layer follows the layers before it, and it reports the same model and build as
        chip 0. The chain's identity is chip 0's with all the layers."""
        layers, self.chip_layers = 0, []
        for k in range(self.chips):
            words = self._read_identity(self._chip(transport, k))
            ident = R.unpack_identity(words)
            index, chips, base = R.chain_place(words[R.CHAIN])
            where = f"{transport.name}: chip {k} of the chain"
            if (index, chips, base) != (k, self.chips, layers):
                raise IdentityMismatch(
                    f"{where} says it is chip {index} of {chips} starting at layer {base}, not chip {k} of "
                    f"{self.chips} starting at layer {layers}: the boards are cabled in another order or "
                    "run bitstreams of different splits; load each board with its chip<k> bitstream of one "
                    "`hardwire build --chips` and cable them in order")
            differ = [f.name for f in fields(R.Identity)
                      if f.name != "layers" and getattr(ident, f.name) != getattr(first, f.name)]
            if differ:
                raise IdentityMismatch(
                    f"{where} differs from chip 0 in {', '.join(differ)} (model {ident.fingerprint[:16]}…, "
                    f"chip 0 model {first.fingerprint[:16]}…): its chips do not belong to one split of one "
                    "model; load every board with the bitstreams of one build")
            layers += ident.layers
            self.chip_layers.append(ident.layers)
        return replace(first, layers=layers)

    # ------------------------------------------------------------ the link
    def reconnect(self, transport: Optional[Transport] = None) -> None:
        """Replace the link to the device (a reopened port, a replugged cable, a new session):
        close the old transport, open `transport` (default: `reopen()`) and check that it reaches
        the same device. A generation the old link broke off continues with resume()."""
        if transport is None and self.reopen is None:
            raise DeviceError(f"{self.transport.name}: this Device cannot reopen its link by itself "
                              "(it was not opened by open_device with a serial: URI); pass the new "
                              "transport: dev.reconnect(transport)")
        try:
            self.transport.close()
        except Exception:  # a dead link may refuse to close; the new one matters
            pass
        if transport is None:
            transport = self.reopen()
        self.transport = transport
        self._link_streams = None       # read again at the next run: the bitstream may differ
        ident = R.unpack_identity(self._read_identity(transport))
        if ident.fingerprint != self._identity.fingerprint:
            raise IdentityMismatch(f"{transport.name}: after reconnecting, the device runs model "
                                   f"{ident.fingerprint}, not model {self._identity.fingerprint} it ran "
                                   "before; another board or bitstream is on this port")

    def resume(self) -> Iterator[Token]:
        """Continue the generation a link failure interrupted (after reconnect()): yields the
        tokens after the last one the interrupted generator yielded, none lost, none twice."""
        run = self._run_state
        if run is None or not run.interrupted:
            raise DeviceError(f"{self.transport.name}: no interrupted generation to resume (the last "
                              "one finished, was stopped, or failed on the device's side); generate() again")
        return self._resume(run)

    def _resume(self, run: _Run) -> Iterator[Token]:
        self._resync(run)
        run.interrupted = False
        yield from self._stream(run)

    def _resync(self, run: _Run) -> None:
        """Take the device's TOKEN_ACK / TOKEN_COUNT after a new link; check the host's count fits."""
        ack, count = self.transport.read_many(R.TOKEN_ACK, 2, increment=True)
        if (run.next_no - ack) & M32 > (count - ack) & M32:
            raise TokenSequenceError(
                f"{self.transport.name}: the device holds tokens {ack}..{count - 1} (TOKEN_ACK, TOKEN_COUNT) "
                f"but the host's next token is number {run.next_no}: the device was reset or reprogrammed "
                "while the link was down, and the run cannot continue; generate() again")
        run.acked = ack
        if run.stream_id is not None:
            if self._can_stream():      # a new session: a new stream id (from TOKEN_ACK; the host skips what it has)
                self._start_stream(run)
            else:                       # another bitstream of the same model, without the stream
                run.stream_id = None

    def _link(self, run: _Run, fn, *args):
        """fn(*args) (register accesses through self.transport, looked up at each call); when the link fails, reopen it (`reopen`) and call fn
        again, up to `reconnects` times per generation. Reading tokens is idempotent and the
        device keeps every token until acknowledged, so nothing is lost or doubled."""
        while True:
            try:
                return fn(*args)
            except TokenSequenceError:
                raise
            except DeviceError as exc:
                if self.reopen is None or run.stats.reconnects >= self.reconnects:
                    run.interrupted = True
                    if type(exc) in (DeviceError, DeviceTimeout):
                        raise type(exc)(f"{exc}. The generation is kept: dev.reconnect() then dev.resume() "
                                        "continue it without losing a token") from exc
                    raise
                run.stats.reconnects += 1
                try:
                    self.reconnect()
                    self._resync(run)
                except TokenSequenceError:
                    raise
                except DeviceError:
                    continue            # counted: the next failure of fn or of the reopen decides

    # ------------------------------------------------------------ identity and state
    def info(self) -> R.Identity:
        """The identity block read at open: fingerprint, dimensions, knobs."""
        return self._identity

    def status(self) -> int:
        return self.transport.read(R.STATUS)

    def position(self) -> int:
        """The next KV-cache position (tokens the device holds context for)."""
        return self.transport.read(R.POSITION)

    def counters(self) -> Dict[str, int]:
        v = self.transport.read_block([R.POSITION, R.CYCLES_LAST_TOKEN, R.TOKENS_DONE, R.CYCLES_TOTAL])
        return {"position": v[R.POSITION], "cycles_last_token": v[R.CYCLES_LAST_TOKEN],
                "tokens_done": v[R.TOKENS_DONE], "cycles_total": v[R.CYCLES_TOTAL]}

    def reset(self) -> None:
        """Forget the context (position 0); LoRA adapters stay. Also empties the output FIFO and
        restarts the token numbers at 0."""
        # with ABORT: it resets every unit even while the core is idle, which also recovers a
        # bitstream before generator 1.4 whose last ABORT left a unit running (docs/register_map.md)
        self.transport.write(R.CONTROL, R.CTRL_RESET_STATE | R.CTRL_ABORT)
        self._wait_idle("RESET_STATE")

    # ------------------------------------------------------------ generation
    def generate(self, prompt: Union[str, Sequence[int]], max_new_tokens: int, temperature: float = 0.0,
                 top_k: int = 0, seed: int = 0, stop_token: Optional[int] = None,
                 reset: bool = True) -> Iterator[Token]:
        """Feed `prompt` (text through the tokenizer, with BOS, or token ids), then yield up to
        `max_new_tokens` tokens as the device produces them, with the semantics of
        GoldenModel.generate: stops after `stop_token` (yielded) or when the context is full.

        reset=True starts from position 0; reset=False continues the context (the last
        token yielded was not fed back: put it first in the next prompt).
        """
        ids = self._prompt_ids(prompt)
        ident = self._identity
        if not 0 <= int(max_new_tokens) <= 0xFFFFFFFF:
            raise PromptError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if stop_token is not None and not 0 <= stop_token < ident.vocab:
            raise PromptError(f"stop_token {stop_token} is outside the vocabulary 0..{ident.vocab - 1}")
        if not 0 <= top_k <= 0xFFFF:
            raise PromptError(f"top_k must be 0 (= the device's K_MAX {ident.k_max}) or positive, got {top_k}")
        # validate everything before touching the device: a refused prompt changes nothing
        if reset:
            pos = 0
        else:
            pos = self.position()
        if pos + len(ids) > ident.context:       # first: the limit a rebuild with --context lifts
            raise PromptError(f"prompt of {len(ids)} tokens does not fit the context of {ident.context} "
                              f"positions ({ident.context - pos} left at position {pos}); shorten it "
                              + ("or reset()" if pos else "or build with a longer --context"))
        if self.prompt_depth and len(ids) > self.prompt_depth:
            raise PromptError(f"prompt of {len(ids)} tokens does not fit the device's prompt FIFO of "
                              f"{self.prompt_depth} tokens; shorten it")
        return self._run(ids, int(max_new_tokens), R.inv_temperature_q8(temperature), int(top_k),
                         int(seed) & 0xFFFFFFFF, stop_token, reset)

    def _run(self, ids: List[int], max_new: int, inv_temp: int, top_k: int, seed: int,
             stop_token: Optional[int], reset: bool) -> Iterator[Token]:
        t = self.transport
        self._run_state = None
        if reset:
            self.reset()
        else:
            self._wait_idle("START")
        next_no = self._ack_all()           # tokens an earlier (stopped) run left are dropped
        t.write_many(R.PROMPT_LEN, [len(ids), max_new, inv_temp, top_k, seed,
                                    R.STOP_NONE if stop_token is None else stop_token], increment=True)
        if self.chips > 1:
            # a chain samples on its last chip: on boards the first chip's registers reach only it
            sampler = self._chip(t, self.chips - 1)
            for addr, value in ((R.INV_TEMP_Q8, inv_temp), (R.TOP_K, top_k), (R.SEED, seed)):
                sampler.write(addr, value)
        t.write_many(R.PROMPT_PUSH, ids)
        stats = RunStats(prompt_tokens=len(ids))
        self.last_run = stats
        start = time.monotonic()
        text = TextStream(self.tokenizer, ids[-1]) if self.tokenizer is not None else None
        run = _Run(max_new, stop_token, text, stats, start, next_no, next_no)
        if max_new and self._can_stream():
            self._start_stream(run)     # before START: the first token goes out as soon as it is made
        t.write(R.CONTROL, R.CTRL_START)
        self._run_state = run
        yield from self._stream(run)

    def _stream(self, run: _Run) -> Iterator[Token]:
        """Read, yield and acknowledge the tokens of `run` until it ends."""
        stats = run.stats
        finished = False
        pending: List[int] = []            # tokens read, not yet handed out
        last_progress = time.monotonic()
        stale = 0                           # polls where STATUS said TOKEN_AVAIL but no token came
        try:
            while run.count < run.max_new:
                if not pending:
                    pending = self._link(run, self._read_tokens, run)
                if pending:
                    for tok in pending:
                        if tok >= self._identity.vocab:
                            raise DeviceError(f"{self.transport.name}: the device produced token {tok}, "
                                              f"outside its vocabulary of {self._identity.vocab}")
                        now = time.monotonic()
                        if run.count == 0:
                            stats.first_token_seconds = now - run.start
                        stats.tokens, stats.seconds = run.count + 1, now - run.start
                        index = run.count
                        run.count += 1
                        yield Token(tok, run.text.push(tok) if run.text else "", index)
                        if tok == run.stop_token:
                            stats.stopped_by = "stop_token"
                            finished = True
                            return
                    pending = []
                    last_progress = time.monotonic()
                    stale = 0
                    continue
                # nothing new: the link is idle, so give the device back the room of what the host holds
                self._link(run, self._acknowledge, run)
                status = self._link(run, lambda: self.transport.read(R.STATUS))
                self._raise_on_error(status)
                if not status & (R.ST_BUSY | R.ST_DONE):
                    raise TokenSequenceError(
                        f"{self.transport.name}: the device is idle and its run is gone (STATUS neither BUSY "
                        f"nor DONE after {run.count} of {run.max_new} tokens): it was reset or reprogrammed "
                        "meanwhile; generate() again")
                if status & R.ST_DONE and not status & R.ST_BUSY:
                    # done: one more read catches a token that landed between the two reads
                    pending = self._link(run, self._read_tokens, run)
                    if not pending and status & R.ST_TOKEN_AVAIL and self.numbered_read:
                        self._use_token_pop()
                        continue
                    if not pending:         # finished early: the context is full
                        stats.stopped_by = "context"
                        finished = True
                        return
                    continue
                if status & R.ST_TOKEN_AVAIL and self.numbered_read:
                    stale += 1              # a token landed after the read, or the bitstream predates
                    if stale > 3:           # TOKEN_WINDOW: it never shows there
                        self._use_token_pop()
                        stale = 0
                        continue
                if time.monotonic() - last_progress > self.timeout:
                    raise DeviceTimeout(f"{self.transport.name}: no token for {self.timeout:.1f} s after "
                                        f"{run.count} of {run.max_new} (STATUS {R.status_text(status)}); "
                                        "the device stopped answering. reset() or reload the bitstream")
                self.transport.pause()
            stats.stopped_by = "max_new_tokens"
            finished = True
        finally:
            stats.seconds = time.monotonic() - run.start
            if finished:
                self._run_state = None
                self._link(run, self._acknowledge, run)     # the output FIFO is free for the next run
                if run.stream_id is not None:
                    self._link(run, self._stop_stream, run)
                self._wait_idle("generation end", run)
                c = self._link(run, self.counters)
                stats.cycles_total, stats.cycles_last_token = c["cycles_total"], c["cycles_last_token"]
            elif run.interrupted:           # the link failed: keep the run for resume()
                stats.stopped_by = "link"
            else:                   # the caller stopped early, or an error: leave the device idle
                self._run_state = None
                stats.stopped_by = stats.stopped_by or "abort"
                if run.stream_id is not None:
                    try:
                        self._stop_stream(run)
                    except DeviceError:     # a dead link: the next run's RESET_STATE ends the stream
                        pass
                self._abort_quietly()

    def _use_token_pop(self) -> None:
        """STATUS says a token is waiting but TOKEN_WINDOW shows none: the bitstream predates the
        numbered token read (TOKEN_ACK, TOKEN_COUNT, TOKEN_WINDOW). Pop its tokens instead; such a
        link keeps working but can lose the token of a read whose answer is lost with the port
        (docs/uart_protocol.md): rebuild the bitstream with this hardwire for the lossless read."""
        import warnings

        self.numbered_read = False
        warnings.warn(f"{self.transport.name}: the bitstream predates the numbered token read (TOKEN_WINDOW); "
                      "reading with TOKEN_POP, which can lose a token when the link fails mid-read. Rebuild "
                      "the bitstream with this hardwire for the lossless read", RuntimeWarning, stacklevel=3)

    def _window_depth(self) -> int:
        """Tokens the host may hold un-acknowledged: the output FIFO, at most the window."""
        return min(self.out_depth, R.WINDOW_WORDS) if self.out_depth else R.WINDOW_WORDS

    def _acknowledge(self, run: _Run) -> None:
        """TOKEN_ACK = the host's count: the device frees every token the host has read."""
        if run.acked != run.next_no and self.numbered_read:
            self.transport.write(R.TOKEN_ACK, run.next_no)
            run.acked = run.next_no

    # ------------------------------------------------------------ the token stream
    def _can_stream(self) -> bool:
        """Whether this run takes pushed tokens: asked for, the transport can (SerialTransport), the
        bridge says so (LINK_CAPS bit0; older bitstreams and PYNQ read 0) and the numbered read works."""
        if not (self.stream and self.numbered_read and getattr(self.transport, "can_stream", False)):
            return False
        if self._link_streams is None:
            self._link_streams = bool(self.transport.read(R.LINK_CAPS) & R.CAPS_STREAM)
        return self._link_streams

    def _start_stream(self, run: _Run) -> None:
        """Turn the device's stream on under a new id: it pushes every token from TOKEN_ACK on. The
        id differs from the previous stream's, so a late frame of that one is never taken."""
        self._stream_id = (self._stream_id + 1) & 0xFF
        self.transport.set_streaming(True)
        self.transport.write(R.STREAM_CTRL, R.STREAM_ON | self._stream_id << R.STREAM_ID_SHIFT)
        run.stream_id = self._stream_id

    def _stop_stream(self, run: _Run) -> None:
        self.transport.write(R.STREAM_CTRL, 0)
        self.transport.set_streaming(False)
        run.stream_id = None

    def _stream_tokens(self, run: _Run) -> List[int]:
        """Tokens from run.next_no on taken from stream frames (waiting up to stream_wait for one).
        A frame is taken only with this run's stream id; tokens the host has are skipped, so a frame
        is never taken twice. Empty when none came, or when one was damaged or missing (a gap in
        the numbers): the caller then reads by number, which fetches what was lost."""
        t = self.transport
        depth = self._window_depth()
        if (run.next_no - run.acked) & M32 >= max(1, depth // 2):
            self._acknowledge(run)          # in batches, as for reads: the device keeps the rest
        frames, damaged = t.stream_frames(self.stream_wait)
        out: List[int] = []
        for f in frames:
            p = f.payload
            if f.seq != run.stream_id or len(p) < 6 or len(p) % 2:
                continue                    # another (earlier) stream's frame
            first = struct.unpack_from("<I", p)[0]
            toks = list(struct.unpack_from(f"<{(len(p) - 4) // 2}H", p, 4))
            skip = (run.next_no + len(out) - first) & M32
            if skip > M32 // 2:             # it starts past the host's next token: a frame was lost
                damaged += 1
                break
            out += toks[skip:]              # skip < len(toks): new tokens; else all are held already
        out = out[:run.max_new - run.count]
        run.stream_gap = bool(damaged)      # read by number next: the stream will not resend them
        run.next_no = (run.next_no + len(out)) & M32
        return out

    def _read_tokens(self, run: _Run) -> List[int]:
        """The tokens from number run.next_no on that the device holds (up to a burst), checked
        against their numbers. Reading has no side effect; the acknowledgement (TOKEN_ACK)
        follows once half the output FIFO is held: one frame per burst, one per half ring.
        While the device streams, pushed tokens come first; a read by number only when none came."""
        t = self.transport
        if not self.numbered_read:
            return self._pop_tokens(run)
        if run.stream_id is not None and not run.stream_gap:
            pushed = self._stream_tokens(run)
            if pushed:
                return pushed
        run.stream_gap = False
        depth = self._window_depth()
        if (run.next_no - run.acked) & M32 >= max(1, depth // 2):
            self._acknowledge(run)
        held = (run.next_no - run.acked) & M32
        # at most half the ring per read: the core fills the other half meanwhile
        n = min(getattr(t, "token_burst", 1), max(1, depth // 2), depth - held, run.max_new - run.count)
        if n <= 0:
            return []
        words = t.read_many(R.TOKEN_WINDOW + 4 * held, n, increment=True)
        out: List[int] = []
        for i, w in enumerate(words):
            if not w & R.TOKEN_VALID:
                break
            no = (run.next_no + i) & M32
            if (w >> R.TOKEN_NO_SHIFT) & R.TOKEN_NO_MASK != no & R.TOKEN_NO_MASK:
                raise TokenSequenceError(
                    f"{t.name}: TOKEN_WINDOW word {held + i} holds token number "
                    f"{(w >> R.TOKEN_NO_SHIFT) & R.TOKEN_NO_MASK} (mod 2^15), the host expected {no}: the "
                    "device's output FIFO moved under the host (reset, reprogrammed, or another host "
                    "acknowledged tokens); generate() again")
            out.append(w & R.TOKEN_MASK)
        run.next_no = (run.next_no + len(out)) & M32
        return out

    def _pop_tokens(self, run: _Run) -> List[int]:
        """Bitstreams before the numbered read: a burst of TOKEN_POP reads, each popping a token
        when one is waiting (bit 31 set) or reading an empty word."""
        n = min(getattr(self.transport, "token_burst", 1), max(1, self.out_depth or 1), run.max_new - run.count)
        words = self.transport.read_many(R.TOKEN_POP, n, increment=False) if n > 0 else []
        out = [w & R.TOKEN_MASK for w in words if w & R.TOKEN_VALID]
        run.next_no = run.acked = (run.next_no + len(out)) & M32
        return out

    def generate_ids(self, prompt: Union[str, Sequence[int]], max_new_tokens: int, **kw) -> List[int]:
        """generate() collected into a list of token ids."""
        return [t.id for t in self.generate(prompt, max_new_tokens, **kw)]

    def open_stream(self, block: bool = True, timeout: Optional[float] = None,
                    chunk: Optional[int] = None) -> "Stream":
        """One of the device's `streams` sequences for one user (host/streams.py): its own context
        and sampler, generations on different streams taking turns `chunk` tokens at a time. Waits
        for a free stream (up to `timeout` s) or, with block=False, raises StreamsBusyError."""
        from host.streams import DEFAULT_CHUNK, StreamPool

        if self._streams is None:
            self._streams = StreamPool(self, DEFAULT_CHUNK)
        return self._streams.open(block, timeout, chunk)

    def rng_state(self) -> int:
        """The sampler's xorshift32 state after the last run (RNG_STATE; a chain's is its last chip's,
        where the tokens are sampled): written as the next run's seed, it continues the sequence."""
        return self._chip(self.transport, self.chips - 1).read(R.RNG_STATE)

    # ------------------------------------------------------------ LoRA
    def load_lora(self, adapters: Union[Mapping[Tuple[int, str], object], str, Path], model=None,
                  streams: Optional[Sequence[int]] = None) -> None:
        """Replace the device's LoRA memory with `adapters`: {(layer, target): adapter}, an
        adapter having a (rank, in) and b (out, rank) int8 arrays and m_a, sh_a, m_b, sh_b
        (golden.LoraInt), the path of an .npz written by hw.lora.save_adapters, or a PEFT
        adapter folder (adapter_config.json + adapter_model.safetensors; converting it needs
        the compiler's hw.peft and `model`, the device's integer model or its .npz path).
        Blocks not given are cleared (base model). `streams`: the streams whose adapter slots take
        it (default every one; Stream.load_lora loads one). The LoRA passes run only while an
        adapter is loaded (LORA_ENABLE): with none, the device runs at the speed of a build without LoRA."""
        if isinstance(adapters, (str, Path)):
            adapters = self.read_adapters(adapters, model)
        self._write_lora(self.pack_lora(adapters), enable=any(a is not None for a in adapters.values()),
                         slots=range(self.streams) if streams is None else streams)

    def read_adapters(self, path: Union[str, Path], model=None) -> Dict[Tuple[int, str], object]:
        """{(layer, target): adapter} from a PEFT folder (converted with `model`, see load_lora)
        or an .npz of hw.lora.save_adapters made for this device's model."""
        if Path(path).is_dir():
            return self.convert_peft(path, model)
        return read_lora_file(path, self._identity.fingerprint)

    def pack_lora(self, adapters: Mapping[Tuple[int, str], object]) -> List[int]:
        """The LoRA memory words of `adapters`, every target, layer, shape and value checked."""
        ident = self._identity
        if ident.lora_rank == 0 or not ident.lora_targets:
            raise LoraError(f"{self.transport.name}: this bitstream has no LoRA hardware (rank 0); "
                            "build with --lora-rank and --lora-targets")
        for layer, target in adapters:
            if target not in ident.lora_targets:
                raise LoraError(f"LoRA on {target!r}: the device adapts only "
                                f"{', '.join(ident.lora_targets)}")
            if not 0 <= layer < ident.layers:
                raise LoraError(f"LoRA layer {layer} is outside 0..{ident.layers - 1}")
        words: List[int] = []
        for layer, target, _ in R.lora_blocks(ident):
            try:
                words += R.pack_lora_block(ident, target, adapters.get((layer, target)))
            except ValueError as exc:
                raise LoraError(f"layer {layer}: {exc}") from exc
        return words

    def convert_peft(self, folder: Union[str, Path], model) -> Dict[Tuple[int, str], object]:
        """The integer adapters of a PEFT folder for this device: its model, LoRA rank and targets."""
        ident = self._identity
        if ident.lora_rank == 0 or not ident.lora_targets:
            raise LoraError(f"{self.transport.name}: this bitstream has no LoRA hardware (rank 0); "
                            "build with --lora-rank and --lora-targets")
        if model is None:
            raise LoraError(f"{folder}: a PEFT adapter holds float weights; converting them needs the "
                            "device's integer model (model=IntModel or its .npz; CLI --model MODEL.npz), "
                            "or convert once with hw.peft.load_peft and hw.lora.save_adapters and load "
                            "the .npz")
        try:
            from hw.errors import HardwireError
            from hw.intmodel import IntModel
            from hw.peft import load_peft
        except ImportError as exc:
            raise LoraError(f"{folder}: converting a PEFT adapter needs the compiler (hw/, the full "
                            f"hardwire install): {exc}; or load an .npz of hw.lora.save_adapters") from exc
        try:
            if not isinstance(model, IntModel):
                model = IntModel.load(model)
            if model.fingerprint != ident.fingerprint:
                raise LoraError(f"{folder}: the integer model given for the conversion is model "
                                f"{model.fingerprint}, the device runs model {ident.fingerprint}; pass "
                                "the .npz the bitstream was built from")
            return load_peft(folder, model, ident.lora_rank, ident.lora_targets)
        except HardwireError as exc:
            raise LoraError(str(exc)) from exc

    def clear_lora(self, streams: Optional[Sequence[int]] = None) -> None:
        """Adapters to zero (the base model) in the slots of `streams` (default every one)."""
        if self._identity.lora_rank == 0:
            return
        words: List[int] = []
        for _, target, _ in R.lora_blocks(self._identity):
            words += R.pack_lora_block(self._identity, target, None)
        self._write_lora(words, enable=False, slots=range(self.streams) if streams is None else streams)

    def _write_lora(self, words: List[int], enable: bool, slots: Sequence[int]) -> None:
        """`words`: the whole model's LoRA memory, layer after layer; a chain's chip k takes the words
        of its own layers (its memory holds only those) through the first chip."""
        per_layer = len(words) // max(1, sum(self.chip_layers))
        parts, first = [], 0
        for k, layers in enumerate(self.chip_layers):   # every chip checked before any is written
            chip = self._chip(self.transport, k)
            part = words[first * per_layer:(first + layers) * per_layer]
            first += layers
            have = chip.read(R.LORA_WORDS)
            if have != len(part):
                where = self.transport.name if self.chips == 1 else f"{self.transport.name}: chip {k}"
                raise LoraError(f"{where}: the device's LoRA memory holds {have} words but this driver's "
                                f"layout needs {len(part)}; driver and bitstream disagree on the LoRA layout "
                                "(docs/register_map.md)")
            parts.append((chip, part))
        mask = sum(1 << s for s in slots)
        self._wait_idle("LoRA upload")
        self.set_lora_bits(self.lora_bits & ~mask)     # no stream runs a half-written slot
        for chip, part in parts:
            for s in slots:                             # slot s from word s * LORA_WORDS
                chip.write(R.LORA_ADDR, s * len(part))
                chip.write_many(R.LORA_DATA, part)
        for s in slots:
            self.lora_in_slot[s] = bool(enable)
        # bitstreams before generator 1.4 have no LORA_ENABLE: they ignore the write and run
        # the LoRA passes always, so the tokens are the same either way
        self.set_lora_bits(self.lora_bits | mask if enable else self.lora_bits)

    @property
    def lora_bits(self) -> int:
        """LORA_ENABLE as last written (bit s: stream s runs the adapter in its slot)."""
        return self._lora["bits"]

    @lora_bits.setter
    def lora_bits(self, bits: int) -> None:
        self._lora["bits"] = bits

    def set_lora_bits(self, bits: int) -> None:
        """LORA_ENABLE: bit s, stream s runs the adapter in its slot (the LoRA passes); on every chip
        of a chain (a chip after the first runs its adapter by bit 0)."""
        for k in range(self.chips):
            self._chip(self.transport, k).write(R.LORA_ENABLE, bits)
        self.lora_bits = bits

    # ------------------------------------------------------------ helpers
    def _prompt_ids(self, prompt) -> List[int]:
        if isinstance(prompt, (str, bytes)):
            if self.tokenizer is None:
                raise PromptError("a text prompt needs a tokenizer: open_device(..., tokenizer=path) "
                                  "or metadata that names one; or pass token ids")
            ids = self.tokenizer.encode(prompt, bos=True)
        else:
            ids = [int(i) for i in prompt]
        if not ids:
            raise PromptError("the prompt must hold at least one token (BOS = 1)")
        bad = [i for i in ids if not 0 <= i < self._identity.vocab]
        if bad:
            raise PromptError(f"prompt token ids {bad[:5]} are outside the vocabulary "
                              f"0..{self._identity.vocab - 1}")
        return ids

    def _raise_on_error(self, status: int) -> None:
        if status & R.ST_ERR_CONTEXT:
            raise DeviceError(f"{self.transport.name}: the device reports ERR_CONTEXT (prompt past its "
                              f"context of {self._identity.context}); reset() and shorten the prompt")
        if status & R.ST_ERR_TOKEN:
            raise DeviceError(f"{self.transport.name}: the device reports ERR_TOKEN (a prompt token "
                              f"outside its vocabulary of {self._identity.vocab})")
        if status & R.ST_ERR_OVERFLOW:
            raise DeviceError(f"{self.transport.name}: the device reports ERR_OVERFLOW: prompt tokens "
                              "were pushed into a full prompt FIFO and lost; reset() and retry")
        if status & R.ST_ERR_PROMPT:
            raise DeviceError(f"{self.transport.name}: the device reports ERR_PROMPT (START without "
                              "prompt tokens)")

    def _wait_idle(self, what: str, run: Optional[_Run] = None) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            status = (self._link(run, lambda: self.transport.read(R.STATUS)) if run is not None
                      else self.transport.read(R.STATUS))
            if not status & R.ST_BUSY:
                return
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"{self.transport.name}: still BUSY {self.timeout:.1f} s after "
                                    f"{what} (STATUS {R.status_text(status)}); the device hangs. "
                                    "Reload the bitstream")
            self.transport.pause()

    def _ack_all(self) -> int:
        """Acknowledge every token the output FIFO holds (the device is idle); TOKEN_COUNT."""
        if not self.numbered_read:          # pop what an earlier run left
            while any(w & R.TOKEN_VALID for w in self.transport.read_many(R.TOKEN_POP, 8, increment=False)):
                pass
            return 0
        ack, count = self.transport.read_many(R.TOKEN_ACK, 2, increment=True)
        if ack != count:
            self.transport.write(R.TOKEN_ACK, count)
        return count

    def _abort_quietly(self) -> None:
        try:
            self.transport.write(R.CONTROL, R.CTRL_ABORT)
            self._wait_idle("ABORT")
            self._ack_all()
        except DeviceError:
            pass  # the original error (or the caller's break) matters more

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Device {self.transport.name} model {self._identity.fingerprint[:12]}>"


# ---------------------------------------------------------------- LoRA files

LORA_FORMAT = "hardwire-lora-v1"


LORA_MAX_VALUES = 1 << 25                   # 33 M values (an int64 each once read): see docs/loaders.md
LORA_MAX_BYTES = 8 * LORA_MAX_VALUES + (1 << 20)
LORA_HEADER_BYTES = 1 << 20


def read_lora_file(path: Union[str, Path], fingerprint: Optional[str] = None) -> Dict[Tuple[int, str], object]:
    """{(layer, target): adapter} from an .npz of hw.lora.save_adapters (numpy only, no pickle).
    With `fingerprint`, an adapter file made for another model is refused. Anything wrong with
    the file is a LoraError (host/npzfile.py reads it; every header field is type-checked)."""
    import types

    from host.jsonfile import check_int_range, check_type, short
    from host.npzfile import read_npz

    hint = "write it with hw.lora.save_adapters"
    header, arrays, _ = read_npz(path, LoraError, LORA_MAX_BYTES, LORA_MAX_VALUES,
                                 what="hardwire LoRA file", header_bytes=LORA_HEADER_BYTES,
                                 missing="no such LoRA adapter file", hint=hint)
    path = Path(path)
    if not isinstance(header, dict) or header.get("format") != LORA_FORMAT:
        found = header.get("format") if isinstance(header, dict) else header
        raise LoraError(f"{path}: format {short(found)}, expected {LORA_FORMAT!r}: not a "
                        f"{LORA_FORMAT} file; {hint}")
    made_for = check_type(header.get("model_fingerprint"), "str", f"{path}: model_fingerprint", LoraError,
                          optional=True, hint=hint)
    if fingerprint and made_for and made_for != fingerprint:
        raise LoraError(f"{path}: the adapters were made for model {made_for}, the device runs "
                        f"model {fingerprint}")
    entries = check_type(header.get("adapters", []), "list", f"{path}: adapters", LoraError, hint=hint)
    out: Dict[Tuple[int, str], object] = {}
    for i, e in enumerate(entries):
        where = f"{path}: adapters[{i}]"
        check_type(e, "object", where, LoraError, hint=hint)
        layer = check_int_range(e.get("layer"), 0, 1 << 20, f"{where}.layer", LoraError, hint=hint)
        target = check_type(e.get("target"), "str", f"{where}.target", LoraError, hint=hint)
        scales = {k: check_int_range(e.get(k), -(1 << 63), (1 << 63) - 1, f"{where}.{k}", LoraError, hint=hint)
                  for k in ("m_a", "sh_a", "m_b", "sh_b")}
        ab = {}
        for k in ("a", "b"):
            arr = arrays.get(f"{k}{i}")
            if arr is None or arr.ndim != 2:
                raise LoraError(f"{where} ({target} of layer {layer}): the {k} array is "
                                + ("missing" if arr is None else f"{arr.ndim}-D, not a matrix") + f"; {hint}")
            ab[k] = arr
        out[(layer, target)] = types.SimpleNamespace(a=ab["a"], b=ab["b"], **scales)
    return out


# ---------------------------------------------------------------- opening

def open_device(uri: str, tokenizer=None, metadata: Union[None, bool, str, Path, Metadata] = None,
                timeout: float = DEFAULT_TIMEOUT) -> Device:
    """Open "sim:<build>", "serial:<port>[?baud=N&stream=0]" or "pynq:<file.bit>[?ip=NAME]": the
    scheme's module in host/transports.py SCHEMES opens the link.

    serial: takes tokens pushed by the bridge when its bitstream can (LINK_CAPS); stream=0 reads
    them by request/response instead.

    metadata: None = look beside the build / bitstream (hardwire.json, <name>.hardwire.json),
    a path or a Metadata = use it, False = do not check. tokenizer: a path, a Tokenizer,
    or None = the one the metadata names (if any).
    """
    scheme, _, rest = uri.partition(":")
    target, opts = split_options(rest)
    if not target:
        raise ValueError(f"device URI {uri!r} names no target; examples: {examples()}")
    link = opener(uri, scheme)(target, opts, timeout=timeout,
                               metadata_for=lambda beside: _resolve_metadata(metadata, beside))
    try:
        return Device(link.transport, tokenizer=tokenizer, metadata=link.metadata(), timeout=timeout,
                      reopen=link.reopen, stream=link.stream)
    except BaseException:
        link.transport.close()
        raise


def _resolve_metadata(metadata, beside: Optional[str]) -> Optional[Metadata]:
    if metadata is False:
        return None
    if isinstance(metadata, Metadata):
        return metadata
    if metadata is not None and metadata is not True:
        return Metadata.load(metadata)
    return find_metadata(beside) if beside else None
