"""An OpenAI-compatible HTTP server for one hardwire device (`hardwire serve`).

    /v1/models              the base model and every resident LoRA adapter, by name
    /v1/completions         prompt (text or token ids) -> text; stream=true: server-sent events
    /v1/chat/completions    messages -> text (the message contents joined by newlines: the small
                            llama models hardwire runs have no chat template)

Request fields map to the device's generate(): max_tokens, temperature, seed, stop (strings,
cut on the host), top_k (an extension, as vLLM's), model (the base model or an adapter's name).
Options the device cannot honour (n > 1, top_p < 1, penalties, logprobs, ...) are refused with
a 400 naming the field, never dropped.

Concurrent requests map to the device's streams (a `--streams N` build holds N sequences): one
worker thread per stream takes queued requests in arrival order and generates on its stream, the
streams taking turns on the device chunk by chunk (host/streams.py), so N users are served at
once and two requests are never mixed; with one stream the requests run one after another. Each
stream has its own LoRA adapter slot: a request runs with its adapter (uploaded into its stream's
slot when the slot holds another; no bitstream reload) or the base model (LORA_ENABLE bit off).
A client that goes away mid-stream sets its request's cancel flag; its worker stops that
generation at the next token (the chunk's run aborted) and takes the next request.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from host.device import Device, PromptError
from host.errors import DeviceError
from host.tokenizer import BOS, TextStream

DEFAULT_MAX_TOKENS = 16          # OpenAI's default for /v1/completions
DEFAULT_MAX_QUEUE = 64           # requests waiting for the device before 429
DISCONNECT_POLL = 0.5            # seconds between checks that a waiting client is still there


class ApiError(Exception):
    """An OpenAI-style error: HTTP status, message, type, param, code."""

    def __init__(self, status: int, message: str, param: Optional[str] = None,
                 code: Optional[str] = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> Dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


# ---------------------------------------------------------------- one generation request

@dataclass
class Job:
    """One request for the worker: what to generate and where the results go."""
    ids: List[int]
    adapter: Optional[str]
    max_tokens: int
    temperature: float
    top_k: int
    seed: int
    stop: Tuple[str, ...]
    stop_token: Optional[int]
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)

    def send(self, kind: str, value: Any = None) -> None:
        """Hand an event to the request's coroutine (from the worker thread)."""
        try:
            self.loop.call_soon_threadsafe(self.out.put_nowait, (kind, value))
        except RuntimeError:        # the event loop is closed: the server is shutting down
            pass


class StopCutter:
    """Text in, text out, cut before the first stop string; holds back a tail that may start one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.buf = ""
        self.stopped = False

    def push(self, text: str) -> str:
        self.buf += text
        hits = [i for i in (self.buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.buf, self.stopped = self.buf[:min(hits)], "", True
            return out
        hold = max((k for s in self.stops for k in range(1, len(s)) if self.buf.endswith(s[:k])), default=0)
        out, self.buf = self.buf[:len(self.buf) - hold], self.buf[len(self.buf) - hold:]
        return out

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return out


class DeviceWorker:
    """A thread per device stream, each running queued jobs on its stream in arrival order."""

    def __init__(self, device: Device, adapters: Dict[str, object], max_queue: int = DEFAULT_MAX_QUEUE):
        self.device = device
        self.adapters = adapters            # name -> {(layer, target): integer adapter}
        self.uploads = 0                    # adapters written into the LoRA memory
        self.jobs: "queue.Queue[Optional[Job]]" = queue.Queue(maxsize=max_queue)
        self.served = 0
        self.cancelled = 0
        self.counts = threading.Lock()
        self.streams = [device.open_stream() for _ in range(device.streams)]
        # the adapter in each stream's LoRA slot (None: none loaded)
        self.resident: List[Optional[str]] = [None] * device.streams
        self.threads = [threading.Thread(target=self._loop, args=(s,), name=f"hardwire-stream-{s.index}",
                                         daemon=True) for s in self.streams]
        for t in self.threads:
            t.start()

    def submit(self, job: Job) -> None:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise ApiError(429, f"the device is busy: {self.jobs.maxsize} requests are waiting for its "
                                f"{len(self.streams)} stream(s); retry later", code="queue_full",
                           kind="rate_limit_error") from None

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join(timeout=30)

    def _count(self, what: str) -> None:
        with self.counts:
            setattr(self, what, getattr(self, what) + 1)

    def _loop(self, stream) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if job.cancel.is_set():         # its client left while it waited
                self._count("cancelled")
                continue
            try:
                self._run(job, stream)
            except ApiError as exc:
                job.send("error", exc)
            except (DeviceError, PromptError, ValueError) as exc:
                job.send("error", ApiError(400 if isinstance(exc, PromptError) else 500, str(exc),
                                           kind="invalid_request_error" if isinstance(exc, PromptError)
                                           else "server_error"))
            except Exception as exc:        # never let one request kill the worker
                job.send("error", ApiError(500, f"{type(exc).__name__}: {exc}", kind="server_error"))
            self._count("served")

    def _select_adapter(self, name: Optional[str], stream) -> None:
        """Run `stream` with adapter `name` (None: the base model): its slot is rewritten only when
        it holds another adapter; the other streams keep theirs."""
        if name is None:
            stream.use_lora(False)
        elif self.resident[stream.index] == name:
            stream.use_lora(True)
        else:
            self.resident[stream.index] = "?"       # unknown until the upload finished
            stream.load_lora(self.adapters[name])
            self.resident[stream.index] = name
            self._count("uploads")

    def _run(self, job: Job, stream) -> None:
        self._select_adapter(job.adapter, stream)
        self._generate(job, stream)

    def _generate(self, job: Job, stream) -> None:
        dev = self.device
        gen = stream.generate(job.ids, job.max_tokens, temperature=job.temperature, top_k=job.top_k,
                              seed=job.seed, stop_token=job.stop_token)
        job.send("start")
        cut = StopCutter(job.stop)
        text = TextStream(dev.tokenizer, job.ids[-1]) if dev.tokenizer is not None else None
        count, finish = 0, "length"
        try:
            for tok in gen:
                if job.cancel.is_set():
                    finish = "cancelled"
                    break           # the stream is reset by the next job; the device is free
                count += 1
                if tok.id == job.stop_token:
                    finish = "stop"     # the device's last token: its generator ends by itself
                    continue
                piece = text.push(tok.id) if text is not None else ""
                out = cut.push(piece)
                job.send("token", (tok.id, out))
                if cut.stopped:
                    finish = "stop"
                    break
        finally:
            gen.close()
        if finish == "cancelled":
            self._count("cancelled")
            return
        # an incomplete UTF-8 character at the end, through the stop-string cut like any text
        tail = cut.push(text.flush()) if text is not None and not cut.stopped else ""
        tail += cut.flush()
        if tail:
            job.send("token", (None, tail))
        job.send("end", {"finish_reason": finish, "completion_tokens": count})


# ---------------------------------------------------------------- the HTTP application

# request bodies: unknown fields and wrong types are refused (400), as OpenAI does
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(Strict):
    include_usage: bool = False


class Common(Strict):
    model: str
    max_tokens: Optional[int] = None
    max_completion_tokens: Optional[int] = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: Optional[int] = None
    stop: Union[str, List[str], None] = None
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    n: int = 1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: Optional[Dict[str, float]] = None
    ignore_eos: bool = False
    return_token_ids: bool = False
    user: Optional[str] = None


class CompletionRequest(Common):
    prompt: Union[str, List[int], List[str], List[List[int]]]
    echo: bool = False
    logprobs: Optional[int] = None
    best_of: Optional[int] = None
    suffix: Optional[str] = None


class Message(Strict):
    role: str
    content: str
    name: Optional[str] = None


class ChatRequest(Common):
    messages: List[Message]
    logprobs: bool = False


def create_app(device: Device, adapters: Optional[Dict[str, object]] = None, model_name: str = "hardwire",
               max_queue: int = DEFAULT_MAX_QUEUE):
    """The FastAPI application serving `device` (its base model as `model_name`, plus `adapters`:
    name -> integer adapters as Device.load_lora takes them)."""
    adapters = dict(adapters or {})
    if max_queue < 1:
        raise ValueError(f"max_queue must be at least 1 (requests waiting for the device), got {max_queue}")
    if model_name in adapters:
        raise ValueError(f"adapter name {model_name!r} is the base model's name; rename the adapter")
    for name, ad in adapters.items():     # refuse an adapter that does not fit now, not at its first request
        try:
            device.pack_lora(ad)
        except ValueError as exc:
            raise ValueError(f"adapter {name!r}: {exc}") from exc
    ident = device.info()
    worker = DeviceWorker(device, adapters, max_queue)
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        worker.stop()

    class EventStream(StreamingResponse):
        """Server-sent events whose end, however it comes (done, client gone, server stopping),
        cancels the job: the worker then stops the generation and frees the device."""

        def __init__(self, body, job: Job):
            super().__init__(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            self.job = job

        async def __call__(self, scope, receive, send):
            try:
                await super().__call__(scope, receive, send)
            finally:
                self.job.cancel.set()

    app = FastAPI(title="hardwire", description="OpenAI-compatible API of one hardwire device",
                  lifespan=lifespan)
    app.state.worker = worker

    @app.exception_handler(ApiError)
    async def _api_error(_req, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        if first.get("type") == "extra_forbidden":
            msg = f"Unrecognized request argument supplied: {param} (the hardwire server does not take it)"
        elif first.get("type") == "json_invalid":
            msg = f"the request body is not valid JSON: {first.get('msg')}"
        else:
            msg = f"{param or 'body'}: {first.get('msg', 'invalid value')}"
            if "input" in first and param:
                msg += f" (got {json.dumps(first['input'])[:60]})"
        return JSONResponse(ApiError(400, msg, param=param).body(), status_code=400)

    @app.get("/v1/models")
    async def models():
        names = [model_name, *adapters]
        return {"object": "list", "data": [
            {"id": n, "object": "model", "created": created, "owned_by": "hardwire",
             **({"parent": model_name} if n != model_name else {"fingerprint": ident.fingerprint})}
            for n in names]}

    @app.get("/v1/models/{name}")
    async def model(name: str):
        _adapter_of(name)
        return {"id": name, "object": "model", "created": created, "owned_by": "hardwire"}

    def _adapter_of(name: str) -> Optional[str]:
        if name == model_name:
            return None
        if name in adapters:
            return name
        raise ApiError(404, f"The model {name!r} does not exist; this server has "
                            f"{', '.join([model_name, *adapters])} (GET /v1/models)",
                       param="model", code="model_not_found")

    def _refuse_unsupported(req: Common) -> None:
        checks = [("n", req.n != 1, "one completion per request: send one request per completion (concurrent "
                                     "requests run on the device's streams)"),
                  ("top_p", req.top_p != 1.0, "the device samples top-k; use top_k (extra_body) instead"),
                  ("presence_penalty", req.presence_penalty != 0.0, "the device's sampler has no penalties"),
                  ("frequency_penalty", req.frequency_penalty != 0.0, "the device's sampler has no penalties"),
                  ("logit_bias", bool(req.logit_bias), "the device's sampler takes no logit bias")]
        if isinstance(req, CompletionRequest):
            checks += [("echo", req.echo, "echo is not supported"),
                       ("logprobs", req.logprobs is not None, "the device returns tokens, not log-probabilities"),
                       ("best_of", req.best_of not in (None, 1), "one completion per request"),
                       ("suffix", req.suffix is not None, "insertion is not supported")]
        else:
            checks += [("logprobs", req.logprobs, "the device returns tokens, not log-probabilities")]
        for name, bad, why in checks:
            if bad:
                raise ApiError(400, f"{name} is not supported by the hardwire server: {why}", param=name,
                               code="unsupported_parameter")

    def _job(req: Common, ids: List[int], default_max: int) -> Job:
        _refuse_unsupported(req)
        adapter = _adapter_of(req.model)
        if not ids:
            raise ApiError(400, "the prompt is empty", param="prompt")
        bad = [i for i in ids if not 0 <= i < ident.vocab]
        if bad:
            raise ApiError(400, f"prompt token ids {bad[:5]} are outside the vocabulary 0..{ident.vocab - 1}",
                           param="prompt")
        if len(ids) > ident.context:
            raise ApiError(400, f"This model's maximum context length is {ident.context} tokens. However, "
                                f"your prompt has {len(ids)} tokens; shorten it", param="prompt",
                           code="context_length_exceeded")
        limit = req.max_tokens if req.max_tokens is not None else req.max_completion_tokens
        max_tokens = default_max if limit is None else limit
        if max_tokens < 1:
            raise ApiError(400, f"max_tokens must be at least 1, got {max_tokens}", param="max_tokens")
        if not 0.0 <= req.temperature <= 2.0:
            raise ApiError(400, f"temperature must be in [0, 2], got {req.temperature}", param="temperature")
        top_k = 0 if req.top_k == -1 else req.top_k
        if not 0 <= top_k <= ident.k_max:
            raise ApiError(400, f"top_k must be -1 or 0 (all the device can: K_MAX {ident.k_max}) or "
                                f"1..{ident.k_max}, got {req.top_k}", param="top_k")
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        if len(stops) > 4:
            raise ApiError(400, f"at most 4 stop sequences, got {len(stops)}", param="stop")
        seed = req.seed if req.seed is not None else secrets.randbits(32) | 1
        if not -(1 << 63) <= seed < 1 << 64:
            raise ApiError(400, f"seed {seed} does not fit 64 bits", param="seed")
        if (req.stream_options is not None) and not req.stream:
            raise ApiError(400, "stream_options is only allowed with stream=true", param="stream_options")
        return Job(ids=ids, adapter=adapter, max_tokens=max_tokens, temperature=req.temperature, top_k=top_k,
                   seed=seed, stop=tuple(stops), stop_token=None if req.ignore_eos else BOS,
                   loop=asyncio.get_running_loop())

    def _encode(text: str) -> List[int]:
        if device.tokenizer is None:
            raise ApiError(400, "this device has no tokenizer (start the server with --tokenizer), so the "
                                "prompt must be token ids", param="prompt")
        try:
            return device.tokenizer.encode(text, bos=True)
        except ValueError as exc:          # TokenizerError: a character the vocabulary cannot spell
            raise ApiError(400, f"the prompt cannot be tokenized: {exc}", param="prompt") from exc

    async def _run(job: Job, request: Request, chat: bool, want_ids: bool, include_usage: bool, stream: bool):
        worker.submit(job)
        try:
            kind, value = await _next(job, request)     # waits in the queue; "start" once the device took it
        except BaseException:
            job.cancel.set()
            raise
        if kind == "error":
            raise value
        if kind == "gone":
            return Response(status_code=499)            # nobody reads it (nginx's "client closed request")
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        obj = "chat.completion" if chat else "text_completion"
        base = {"id": rid, "created": int(time.time()), "model": job_model(job)}

        def choice(text: str, ids: List[int], finish: Optional[str], first: bool = False) -> Dict[str, Any]:
            c: Dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                delta = {"role": "assistant", "content": text} if first else ({"content": text} if text else {})
                c["delta"] = delta
            else:
                c["text"], c["logprobs"] = text, None
            if want_ids:
                c["token_ids"] = ids
            return c

        def usage(n: int) -> Dict[str, int]:
            return {"prompt_tokens": len(job.ids), "completion_tokens": n, "total_tokens": len(job.ids) + n}

        if not stream:
            text, ids = [], []
            while True:
                kind, value = await _next(job, request)
                if kind == "gone":
                    return Response(status_code=499)
                if kind == "token":
                    ids += [value[0]] if value[0] is not None else []
                    text.append(value[1])
                elif kind == "error":
                    raise value
                else:
                    body = {**base, "object": obj, "usage": usage(value["completion_tokens"])}
                    c = choice("".join(text), ids, value["finish_reason"])
                    if chat:
                        c["message"] = {"role": "assistant", "content": "".join(text)}
                        del c["delta"]
                    body["choices"] = [c]
                    return JSONResponse(body)

        async def events():
            chunk_obj = "chat.completion.chunk" if chat else "text_completion"
            first = True
            try:
                if chat:
                    yield _sse({**base, "object": chunk_obj, "choices": [choice("", [], None, first=True)]})
                    first = False
                while True:
                    kind, value = await job.out.get()
                    if kind == "token":
                        ids = [value[0]] if value[0] is not None else []
                        yield _sse({**base, "object": chunk_obj, "choices": [choice(value[1], ids, None, first)]})
                        first = False
                    elif kind == "error":
                        yield _sse(value.body())
                        break
                    else:
                        yield _sse({**base, "object": chunk_obj,
                                    "choices": [choice("", [], value["finish_reason"])]})
                        if include_usage:
                            yield _sse({**base, "object": chunk_obj, "choices": [],
                                        "usage": usage(value["completion_tokens"])})
                        break
                yield "data: [DONE]\n\n"
            finally:
                job.cancel.set()            # a finished stream, or one closed early: free the device

        return EventStream(events(), job)

    async def _next(job: Job, request: Request) -> Tuple[str, Any]:
        """The job's next event; ("gone", None) once the client has disconnected (the job is
        cancelled, so a queued request never reaches the device and a running one stops)."""
        while True:
            try:
                return await asyncio.wait_for(job.out.get(), DISCONNECT_POLL)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    job.cancel.set()
                    return "gone", None

    def job_model(job: Job) -> str:
        return job.adapter or model_name

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest, request: Request):
        p = req.prompt
        if isinstance(p, list) and p and isinstance(p[0], (str, list)):
            if len(p) != 1:
                raise ApiError(400, f"{len(p)} prompts in one request: one prompt per request; send one "
                                    "request per prompt (concurrent requests run on the device's streams)", param="prompt")
            p = p[0]
        ids = _encode(p) if isinstance(p, str) else [int(i) for i in p]
        job = _job(req, ids, DEFAULT_MAX_TOKENS)
        return await _run(job, request, False, req.return_token_ids, _usage(req), req.stream)

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatRequest, request: Request):
        if not req.messages:
            raise ApiError(400, "messages is empty", param="messages")
        roles = {m.role for m in req.messages} - {"system", "user", "assistant", "developer"}
        if roles:
            raise ApiError(400, f"message role(s) {', '.join(sorted(roles))} are not supported (system, user, "
                                "assistant, developer)", param="messages")
        ids = _encode("\n".join(m.content for m in req.messages))
        job = _job(req, ids, max(1, ident.context - len(ids)))
        return await _run(job, request, True, req.return_token_ids, _usage(req), req.stream)

    def _usage(req: Common) -> bool:
        return bool(req.stream_options and req.stream_options.include_usage)

    return app


def _sse(obj: Dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"


def serve(device: Device, host: str = "127.0.0.1", port: int = 8000, adapters=None,
          model_name: str = "hardwire", max_queue: int = DEFAULT_MAX_QUEUE, log_level: str = "info") -> None:
    """Run the server until interrupted (uvicorn)."""
    import uvicorn
    uvicorn.run(create_app(device, adapters, model_name, max_queue), host=host, port=port, log_level=log_level)
