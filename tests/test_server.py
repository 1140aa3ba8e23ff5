"""`hardwire serve` (host/server.py) answering the official `openai` client, on the simulated e2e
device of tests/host_e2e_build.py (no new Verilator build): streamed tokens equal the golden
model's for the same settings and adapter, concurrent requests queue and are never mixed, a client
that disconnects mid-stream frees the device, and bad requests get OpenAI-style 4xx errors."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

from host import registers as R  # noqa: E402
from host.device import open_device  # noqa: E402
from host.server import create_app  # noqa: E402
from host.tokenizer import BOS, TextStream, Tokenizer  # noqa: E402
from tests.host_e2e_build import CONTEXT, K_MAX, accelerator, lora_adapters  # noqa: E402
from tests.host_fakes import golden_reply  # noqa: E402

PROMPT = [1, 5, 9, 2]
ADAPTER = "tiny-lora"
BASE = "tiny-base"

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def tiny_tokenizer(vocab: int) -> Tokenizer:
    """A llama2.c vocabulary of `vocab` pieces for the e2e model (whose vocabulary is 37)."""
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n", b" "] + [bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz"]
    pieces += [b".", b",", b" t", b"he", b" the", b"ed", b"\n"]
    pieces = pieces[:vocab]
    return Tokenizer(pieces, [float(-i) for i in range(len(pieces))], source="tiny")


def golden(prompt, n, adapter=False, temperature=0.0, top_k=0, seed=0, stop_token=BOS):
    model, _, _ = accelerator()
    return golden_reply(model, lora_adapters(model) if adapter else None, prompt, n, CONTEXT, K_MAX,
                        temperature, top_k, seed, stop_token)


def text_of(tok: Tokenizer, prompt, ids) -> str:
    ts = TextStream(tok, prompt[-1])
    return "".join(ts.push(i) for i in ids) + ts.flush()


class SlowPops:
    """Make token reads (TOKEN_WINDOW) slow while `on`, so a client can leave mid-generation."""

    def __init__(self, transport, delay: float):
        self.transport, self.delay, self.on = transport, delay, False
        self.inner = transport.read_many

    def __call__(self, addr, count, increment=False):
        if self.on and (addr == R.TOKEN_POP or addr >= R.TOKEN_WINDOW):
            time.sleep(self.delay)
        return self.inner(addr, count, increment)


@contextmanager
def running_server(app, timeout: float = 120):
    """`app` served by uvicorn on a free local port in a thread; yields an openai client of it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield openai.OpenAI(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}/v1", api_key="none",
                            max_retries=0, timeout=timeout)
    finally:
        srv.should_exit = True
        th.join(timeout=30)


@pytest.fixture(scope="module")
def server():
    model, out, _ = accelerator()
    tok = tiny_tokenizer(model.config.vocab_size)
    dev = open_device(f"sim:{out}", tokenizer=tok)
    slow = SlowPops(dev.transport, 0.25)
    dev.transport.read_many = slow
    app = create_app(dev, {ADAPTER: lora_adapters(model)}, model_name=BASE)
    with running_server(app) as client:
        port = int(str(client.base_url).split(":")[2].split("/")[0])
        yield {"client": client, "dev": dev, "tok": tok, "app": app, "port": port, "slow": slow}
    dev.close()


def test_models_lists_the_base_model_and_the_adapters(server):
    ids = [m.id for m in server["client"].models.list().data]
    assert ids == [BASE, ADAPTER]


def test_streamed_completion_equals_the_golden_model(server):
    c, tok = server["client"], server["tok"]
    want = golden(PROMPT, 10)
    stream = c.completions.create(model=BASE, prompt=PROMPT, max_tokens=10, temperature=0, stream=True,
                                  stream_options={"include_usage": True}, extra_body={"return_token_ids": True})
    ids, text, finish, usage = [], "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            ids += ch.model_extra.get("token_ids", [])
            text += ch.text
            finish = ch.finish_reason or finish
    assert ids == want and text == text_of(tok, PROMPT, want)
    assert finish == ("length" if len(want) == 10 else "stop")
    assert usage.prompt_tokens == 4 and usage.completion_tokens == len(want) + (len(want) < 10)


def test_sampled_text_prompt_and_adapter_equal_the_golden_model(server):
    c, tok = server["client"], server["tok"]
    prompt = "the cat"
    ids = tok.encode(prompt, bos=True)
    for model, adapter in ((BASE, False), (ADAPTER, True), (BASE, False)):      # switching adapters
        want = golden(ids, 8, adapter=adapter, temperature=0.8, top_k=4, seed=11)
        r = c.completions.create(model=model, prompt=prompt, max_tokens=8, temperature=0.8, seed=11,
                                 extra_body={"top_k": 4, "return_token_ids": True})
        assert r.choices[0].model_extra["token_ids"] == want, model
        assert r.choices[0].text == text_of(tok, ids, want) and r.model == model
    assert golden(ids, 8, True, 0.8, 4, 11) != golden(ids, 8, False, 0.8, 4, 11)


def test_chat_streams_the_golden_tokens(server):
    c, tok = server["client"], server["tok"]
    messages = [{"role": "system", "content": "hi"}, {"role": "user", "content": "a dog"}]
    ids = tok.encode("hi\na dog", bos=True)            # the contents joined by newlines
    assert len(ids) <= CONTEXT - 6
    want = golden(ids, 6, adapter=True)
    stream = c.chat.completions.create(model=ADAPTER, messages=messages, max_tokens=6, temperature=0, stream=True,
                                       extra_body={"return_token_ids": True})
    got, text, roles = [], "", []
    for chunk in stream:
        for ch in chunk.choices:
            got += ch.model_extra.get("token_ids", [])
            text += ch.delta.content or ""
            roles += [ch.delta.role] if ch.delta.role else []
    assert got == want and text == text_of(tok, ids, want) and roles == ["assistant"]
    r = c.chat.completions.create(model=ADAPTER, messages=messages, max_tokens=6, temperature=0)
    assert r.choices[0].message.content == text and r.choices[0].message.role == "assistant"


def test_stop_strings_cut_the_text(server):
    c, tok = server["client"], server["tok"]
    want = golden(PROMPT, 12, stop_token=None)
    full = text_of(tok, PROMPT, want)
    stop = full[len(full) // 2:len(full) // 2 + 2]
    assert stop.strip(), full
    for stream in (False, True):
        r = c.completions.create(model=BASE, prompt=PROMPT, max_tokens=12, temperature=0, stop=[stop, "@@"],
                                 stream=stream, extra_body={"ignore_eos": True})
        chunks = list(r) if stream else [r]
        text = "".join(ch.text for x in chunks for ch in x.choices)
        assert text == full[:full.index(stop)]
        assert [ch.finish_reason for x in chunks for ch in x.choices if ch.finish_reason] == ["stop"]


def test_concurrent_requests_queue_and_are_never_mixed(server):
    c = server["client"]
    cases = [(BASE, 0.0, 0, 1), (ADAPTER, 0.9, 4, 2), (BASE, 1.0, 8, 3), (ADAPTER, 0.0, 0, 4)]
    results = {}

    def one(i, model, temp, k, seed):
        stream = c.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=temp, seed=seed,
                                      stream=True, extra_body={"top_k": k, "return_token_ids": True})
        results[i] = [t for ch in stream for x in ch.choices for t in x.model_extra.get("token_ids", [])]

    threads = [threading.Thread(target=one, args=(i, *case)) for i, case in enumerate(cases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for i, (model, temp, k, seed) in enumerate(cases):
        assert results[i] == golden(PROMPT, 8, model == ADAPTER, temp, k, seed), (i, model)


def test_a_client_that_disconnects_frees_the_device(server):
    c, dev, slow = server["client"], server["dev"], server["slow"]
    worker = server["app"].state.worker
    cancelled = worker.cancelled
    slow.on = True                          # 0.25 s per token: 12 tokens take 3 s
    try:
        stream = c.completions.create(model=BASE, prompt=PROMPT, max_tokens=12, temperature=0, stream=True,
                                      extra_body={"ignore_eos": True})
        next(iter(stream))
        stream.close()                      # the client goes away mid-stream
        deadline = time.monotonic() + 30
        while worker.cancelled == cancelled:
            assert time.monotonic() < deadline, "the server kept generating for a client that left"
            time.sleep(0.05)
    finally:
        slow.on = False
    # the generation was stopped (ABORT), well before its 12 tokens
    assert dev.last_run.stopped_by == "abort" and dev.last_run.tokens < 6, dev.last_run
    r = c.completions.create(model=BASE, prompt=PROMPT, max_tokens=5, temperature=0,
                             extra_body={"return_token_ids": True, "ignore_eos": True})
    assert r.choices[0].model_extra["token_ids"] == golden(PROMPT, 5, stop_token=None)
    assert worker.cancelled == cancelled + 1


def _post(port, path, body) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("body, status, param, match", [
    ({"model": "nope", "prompt": [1]}, 404, "model", "The model 'nope' does not exist"),
    ({"model": BASE, "prompt": [1] * (CONTEXT + 1)}, 400, "prompt", f"maximum context length is {CONTEXT}"),
    ({"model": BASE, "prompt": [1, 99]}, 400, "prompt", "outside the vocabulary 0..36"),
    ({"model": BASE, "prompt": [1], "max_tokens": "ten"}, 400, "max_tokens", "valid integer"),
    ({"model": BASE, "prompt": [1], "temperature": "hot"}, 400, "temperature", "valid number"),
    ({"model": BASE, "prompt": [1], "temperature": 3.0}, 400, "temperature", r"in \[0, 2\]"),
    ({"model": BASE, "prompt": [1], "top_p": 0.5}, 400, "top_p", "top_p is not supported"),
    ({"model": BASE, "prompt": [1], "n": 2}, 400, "n", "one completion per request"),
    ({"model": BASE, "prompt": [1], "top_k": 99}, 400, "top_k", f"1..{K_MAX}"),
    ({"model": BASE, "prompt": [1], "frobnicate": 1}, 400, "frobnicate", "Unrecognized request argument"),
    ({"model": BASE, "prompt": [[1], [1, 5]]}, 400, "prompt", "2 prompts in one request"),
    ({"prompt": [1]}, 400, "model", "model: Field required"),
])
def test_bad_requests_get_openai_style_errors(server, body, status, param, match):
    import re
    code, err = _post(server["port"], "/v1/completions", body)
    assert code == status, err
    e = err["error"]
    assert e["param"] == param and re.search(match, e["message"]), e
    assert e["type"] in ("invalid_request_error",)


def test_the_openai_client_raises_its_own_errors(server):
    c = server["client"]
    with pytest.raises(openai.NotFoundError) as exc:
        c.completions.create(model="nope", prompt=PROMPT)
    assert exc.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as exc:
        c.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "the " * 40}])
    assert exc.value.code == "context_length_exceeded"
    code, err = _post(server["port"], "/v1/chat/completions", {"model": BASE, "messages": [
        {"role": "tool", "content": "x"}]})
    assert code == 400 and "role(s) tool" in err["error"]["message"]
    code, err = _post(server["port"], "/v1/completions", {"model": BASE, "prompt": "caf\u00e9"})
    assert code == 400 and "cannot be tokenized" in err["error"]["message"]


def test_cli_run_and_serve_take_adapters(tmp_path, capsys, monkeypatch):
    """`hardwire run --lora` and `hardwire serve --lora NAME=PATH` on the same simulated device."""
    import host.server
    from hw.cli import main
    from hw.lora import save_adapters
    from tests.test_peft import write_peft

    model, out, _ = accelerator()
    npz = tmp_path / "a.npz"
    save_adapters(lora_adapters(model), npz, model)
    assert main(["run", "--device", f"sim:{out}", "--prompt-ids", "1 5 9 2", "--steps", "6", "--stop-token", "-1",
                 "--lora", str(npz)]) == 0
    assert [int(t) for t in capsys.readouterr().out.split()] == golden(PROMPT, 6, adapter=True, stop_token=None)
    peft = write_peft(tmp_path / "peft", {(0, "wq"): ([[0.0] * 24] * 2, [[0.0] * 2] * 24)}, r=2,
                      target_modules=["q_proj"])
    assert main(["run", "--device", f"sim:{out}", "--prompt-ids", "1", "--lora", str(peft)]) == 1
    assert "needs the device's integer model" in capsys.readouterr().err

    seen = {}
    monkeypatch.setattr(host.server, "serve", lambda dev, **kw: seen.update(kw))
    assert main(["serve", "--device", f"sim:{out}", "--port", "9", "--lora", f"mine={npz}"]) == 0
    assert seen["port"] == 9 and seen["model_name"] == "random_int_model(3)" and list(seen["adapters"]) == ["mine"]
    for bad, msg in ((f"{npz}", "give NAME=PATH"), (f"x={tmp_path / 'none.npz'}", "no such LoRA adapter file")):
        assert main(["serve", "--device", f"sim:{out}", "--lora", bad]) == 1
        assert msg in capsys.readouterr().err


def test_a_queued_request_whose_client_left_never_reaches_the_device(server):
    c, dev, slow = server["client"], server["dev"], server["slow"]
    worker = server["app"].state.worker
    cancelled, served, uploads = worker.cancelled, worker.served, worker.uploads
    got = {}

    def long_request(i):
        r = c.completions.create(model=BASE, prompt=PROMPT, max_tokens=10, temperature=0, stream=True,
                                 extra_body={"ignore_eos": True, "return_token_ids": True})
        got[i] = [t for ch in r for x in ch.choices for t in x.model_extra.get("token_ids", [])]

    busy = len(worker.streams)              # a long request on every stream of the device
    slow.on = True                          # 0.25 s per token: they hold the device ~2.5 s each
    try:
        threads = [threading.Thread(target=long_request, args=(i,)) for i in range(busy)]
        for th in threads:
            th.start()
        time.sleep(0.5)
        with pytest.raises(openai.APITimeoutError):      # waits behind them, gives up after 1 s
            c.with_options(timeout=1.0).completions.create(model=ADAPTER, prompt=PROMPT, max_tokens=10)
        for th in threads:
            th.join(timeout=60)
    finally:
        slow.on = False
    assert got == {i: golden(PROMPT, 10, stop_token=None) for i in range(busy)}
    deadline = time.monotonic() + 10
    while worker.served + worker.cancelled < served + cancelled + busy + 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (worker.served, worker.cancelled) == (served + busy, cancelled + 1)
    assert worker.uploads == uploads        # the adapter of the abandoned request was never loaded
