"""host/server.py over the register-level fake core (tests/host_fakes.py), in milliseconds: the
answers equal the golden model's, streamed and not, for completions and chat, with adapters, stop
strings and usage; bad requests and device failures become OpenAI-style errors; a full queue is a
429. tests/test_server.py checks the same server against the simulated RTL (slow)."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

uvicorn = pytest.importorskip("uvicorn")

from host import server as S  # noqa: E402
from host.device import Device  # noqa: E402
from host.tokenizer import BOS, TextStream, Tokenizer  # noqa: E402
from hw.golden import LoraInt  # noqa: E402
from hw.rtlgen.fixture import random_int_model  # noqa: E402
from tests.host_fakes import FakeCore, FakeTransport, golden_reply  # noqa: E402

CONTEXT, K_MAX = 16, 8
BASE, ADAPTER = "tiny-base", "tiny-lora"
PROMPT = [1, 5, 9, 2]


def tiny_tokenizer(vocab: int) -> Tokenizer:
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n", b" "] + [bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz"]
    pieces += [b".", b",", b" t", b"he", b" the", b"ed", b"\n"]
    return Tokenizer(pieces[:vocab], [float(-i) for i in range(vocab)], source="tiny")


def adapters_for(model) -> dict:
    cfg, rng = model.config, np.random.default_rng(3)

    def one(out, inp):
        return LoraInt(rng.integers(-127, 128, (2, inp)), rng.integers(-127, 128, (out, 2)),
                       int(rng.integers(1 << 14, 1 << 15)), 13, int(rng.integers(1 << 14, 1 << 15)), 11)

    return {(0, "wq"): one(cfg.dim, cfg.dim), (1, "w2"): one(cfg.dim, cfg.hidden_dim)}


MODEL = random_int_model(3)
TOK = tiny_tokenizer(MODEL.config.vocab_size)


def golden(prompt, n, adapter=False, temperature=0.0, top_k=0, seed=0, stop_token=BOS):
    return golden_reply(MODEL, adapters_for(MODEL) if adapter else None, prompt, n, CONTEXT, K_MAX,
                        temperature, top_k, seed, stop_token)


def text_of(prompt, ids) -> str:
    ts = TextStream(TOK, prompt[-1])
    return "".join(ts.push(i) for i in ids) + ts.flush()


def new_device(tokenizer=TOK) -> tuple[Device, FakeCore]:
    core = FakeCore(MODEL, context=CONTEXT, k_max=K_MAX, lora_rank=2, lora_targets=("wq", "w2"))
    return Device(FakeTransport(core), tokenizer=tokenizer), core


class Server:
    """uvicorn running create_app(...) on a free port in a thread; post/get speak raw HTTP."""

    def __init__(self, app):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port, self.app = sock.getsockname()[1], app
        self.srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.srv.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.srv.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def close(self):
        self.srv.should_exit = True
        self.thread.join(timeout=30)

    def request(self, path, body=None, raw: bytes | None = None) -> tuple[int, bytes]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path, body=None, raw=None) -> tuple[int, dict]:
        code, data = self.request(path, body, raw)
        return code, json.loads(data)

    def events(self, path, body) -> list:
        """The server-sent events of a streamed request, parsed ('[DONE]' kept as a string)."""
        code, data = self.request(path, body)
        assert code == 200, data
        out = []
        for block in data.decode().split("\n\n"):
            if block:
                assert block.startswith("data: "), block
                payload = block[len("data: "):]
                out.append(payload if payload == "[DONE]" else json.loads(payload))
        return out


@pytest.fixture(scope="module")
def srv():
    dev, core = new_device()
    s = Server(S.create_app(dev, {ADAPTER: adapters_for(MODEL)}, model_name=BASE))
    s.dev, s.core = dev, core
    yield s
    s.close()


def test_models_and_one_model(srv):
    code, data = srv.request("/v1/models")
    listed = json.loads(data)["data"]
    assert [m["id"] for m in listed] == [BASE, ADAPTER]
    assert listed[0]["fingerprint"] == MODEL.fingerprint and listed[1]["parent"] == BASE
    code, data = srv.request(f"/v1/models/{ADAPTER}")
    assert code == 200 and json.loads(data)["id"] == ADAPTER
    code, data = srv.request("/v1/models/nope")
    err = json.loads(data)["error"]
    assert code == 404 and err["code"] == "model_not_found" and "tiny-base, tiny-lora" in err["message"]


def test_completion_equals_the_golden_model(srv):
    want = golden(PROMPT, 10)
    code, r = srv.post("/v1/completions", {"model": BASE, "prompt": PROMPT, "max_tokens": 10, "temperature": 0,
                                           "return_token_ids": True})
    assert code == 200 and r["object"] == "text_completion" and r["model"] == BASE
    c = r["choices"][0]
    assert c["token_ids"] == want and c["text"] == text_of(PROMPT, want) and c["logprobs"] is None
    assert c["finish_reason"] == ("length" if len(want) == 10 else "stop")
    assert r["usage"]["prompt_tokens"] == 4 and r["usage"]["total_tokens"] == 4 + r["usage"]["completion_tokens"]
    # one prompt in a list of one, as token ids
    code, r2 = srv.post("/v1/completions", {"model": BASE, "prompt": [PROMPT], "max_tokens": 10, "temperature": 0})
    assert code == 200 and r2["choices"][0]["text"] == c["text"] and "token_ids" not in r2["choices"][0]


def test_streamed_completion_with_usage_equals_the_golden_model(srv):
    want = golden(PROMPT, 7, stop_token=None)
    ev = srv.events("/v1/completions", {"model": BASE, "prompt": PROMPT, "max_tokens": 7, "temperature": 0,
                                        "stream": True, "stream_options": {"include_usage": True},
                                        "return_token_ids": True, "ignore_eos": True})
    assert ev[-1] == "[DONE]"
    chunks = ev[:-1]
    ids = [t for ch in chunks for c in ch["choices"] for t in c.get("token_ids", [])]
    text = "".join(c["text"] for ch in chunks for c in ch["choices"])
    assert ids == want and text == text_of(PROMPT, want)
    assert [c["finish_reason"] for ch in chunks for c in ch["choices"] if c["finish_reason"]] == ["length"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {"prompt_tokens": 4, "completion_tokens": 7,
                                                                  "total_tokens": 11}
    assert len({ch["id"] for ch in chunks}) == 1 and chunks[0]["id"].startswith("cmpl-")


def test_text_prompt_sampled_with_adapter_switching(srv):
    prompt = "the cat"
    ids = TOK.encode(prompt, bos=True)
    for model, adapter in ((ADAPTER, True), (BASE, False), (ADAPTER, True)):
        want = golden(ids, 8, adapter=adapter, temperature=0.8, top_k=4, seed=11)
        code, r = srv.post("/v1/completions", {"model": model, "prompt": prompt, "max_tokens": 8,
                                               "temperature": 0.8, "seed": 11, "top_k": 4,
                                               "return_token_ids": True})
        assert code == 200 and r["model"] == model
        assert r["choices"][0]["token_ids"] == want and r["choices"][0]["text"] == text_of(ids, want)
    assert golden(ids, 8, True, 0.8, 4, 11) != golden(ids, 8, False, 0.8, 4, 11)
    assert srv.app.state.worker.resident == [ADAPTER]


def test_chat_streamed_and_not(srv):
    messages = [{"role": "system", "content": "hi"}, {"role": "user", "content": "a dog"}]
    ids = TOK.encode("hi\na dog", bos=True)
    want = golden(ids, 5, adapter=True)
    ev = srv.events("/v1/chat/completions", {"model": ADAPTER, "messages": messages, "max_tokens": 5,
                                             "temperature": 0, "stream": True, "return_token_ids": True})
    chunks = ev[:-1]
    assert all(ch["object"] == "chat.completion.chunk" and ch["id"].startswith("chatcmpl-") for ch in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    got = [t for ch in chunks for c in ch["choices"] for t in c.get("token_ids", [])]
    text = "".join(c["delta"].get("content", "") for ch in chunks for c in ch["choices"])
    assert got == want and text == text_of(ids, want)
    code, r = srv.post("/v1/chat/completions", {"model": ADAPTER, "messages": messages, "max_tokens": 5,
                                                "temperature": 0})
    assert code == 200 and r["object"] == "chat.completion"
    assert r["choices"][0]["message"] == {"role": "assistant", "content": text} and "delta" not in r["choices"][0]


def test_chat_default_max_tokens_fills_the_context(srv):
    ids = TOK.encode("ab", bos=True)
    code, r = srv.post("/v1/chat/completions", {"model": BASE, "messages": [{"role": "user", "content": "ab"}],
                                                "temperature": 0, "ignore_eos": True})
    assert code == 200 and r["usage"]["completion_tokens"] == CONTEXT - len(ids)


def test_stop_strings_cut_the_text(srv):
    want = golden(PROMPT, 12, stop_token=None)
    full = text_of(PROMPT, want)
    stop = full[len(full) // 2:len(full) // 2 + 2]
    assert stop.strip(), full
    body = {"model": BASE, "prompt": PROMPT, "max_tokens": 12, "temperature": 0, "stop": [stop, "@@"],
            "ignore_eos": True}
    code, r = srv.post("/v1/completions", body)
    assert r["choices"][0]["text"] == full[:full.index(stop)] and r["choices"][0]["finish_reason"] == "stop"
    ev = srv.events("/v1/completions", {**body, "stream": True, "stop": stop})
    assert "".join(c["text"] for ch in ev[:-1] for c in ch["choices"]) == full[:full.index(stop)]


def test_stop_cutter_holds_back_a_possible_start():
    cut = S.StopCutter(["END", ""])
    assert cut.push("abE") == "ab"          # 'E' may start END
    assert cut.push("x") == "Ex"
    assert cut.push("yEN") == "y"
    assert cut.push("D tail") == "" and cut.stopped
    other = S.StopCutter(["zz"])
    assert other.push("az") == "a" and other.flush() == "z" and other.flush() == ""


BAD = [
    ("/v1/completions", {"model": "nope", "prompt": [1]}, 404, "model", "The model 'nope' does not exist"),
    ("/v1/completions", {"model": BASE, "prompt": [1] * (CONTEXT + 1)}, 400, "prompt", "maximum context length"),
    ("/v1/completions", {"model": BASE, "prompt": [1, 99]}, 400, "prompt", "outside the vocabulary 0..36"),
    ("/v1/completions", {"model": BASE, "prompt": []}, 400, "prompt", "the prompt is empty"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "max_tokens": "ten"}, 400, "max_tokens", "valid integer"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "max_tokens": 0}, 400, "max_tokens", "at least 1, got 0"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "max_completion_tokens": 0}, 400, "max_tokens", "got 0"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "temperature": 3.0}, 400, "temperature", r"in \[0, 2\]"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "top_p": 0.5}, 400, "top_p", "use top_k"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "n": 2}, 400, "n", "one completion per request"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "presence_penalty": 1.0}, 400, "presence_penalty",
     "no penalties"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "frequency_penalty": 1.0}, 400, "frequency_penalty",
     "no penalties"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "logit_bias": {"3": 1.0}}, 400, "logit_bias", "no logit"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "echo": True}, 400, "echo", "echo is not supported"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "logprobs": 2}, 400, "logprobs", "log-probabilities"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "best_of": 3}, 400, "best_of", "one completion per request"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "suffix": "x"}, 400, "suffix", "insertion"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "top_k": 99}, 400, "top_k", f"1..{K_MAX}, got 99"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "stop": ["a", "b", "c", "d", "e"]}, 400, "stop",
     "at most 4 stop sequences, got 5"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "seed": 1 << 64}, 400, "seed", "does not fit 64 bits"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "stream_options": {"include_usage": True}}, 400,
     "stream_options", "only allowed with stream=true"),
    ("/v1/completions", {"model": BASE, "prompt": [1], "frobnicate": 1}, 400, "frobnicate",
     "Unrecognized request argument"),
    ("/v1/completions", {"model": BASE, "prompt": [[1], [1, 5]]}, 400, "prompt", "2 prompts in one request"),
    ("/v1/completions", {"model": BASE, "prompt": "caf\u00e9"}, 400, "prompt", "cannot be tokenized"),
    ("/v1/completions", {"prompt": [1]}, 400, "model", "model: Field required"),
    ("/v1/chat/completions", {"model": BASE, "messages": []}, 400, "messages", "messages is empty"),
    ("/v1/chat/completions", {"model": BASE, "messages": [{"role": "tool", "content": "x"}]}, 400, "messages",
     "role.s. tool are not supported"),
    ("/v1/chat/completions", {"model": BASE, "messages": [{"role": "user", "content": "x"}], "logprobs": True},
     400, "logprobs", "log-probabilities"),
    ("/v1/chat/completions", {"model": BASE, "messages": [{"role": "user", "content": "the " * 40}]}, 400,
     "prompt", "maximum context length is 16"),
]


@pytest.mark.parametrize("path, body, status, param, match", BAD, ids=[f"{b[3]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_get_openai_style_errors(srv, path, body, status, param, match):
    code, err = srv.post(path, body)
    assert code == status, err
    e = err["error"]
    assert e["param"] == param and re.search(match, e["message"]), e
    assert e["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_a_400(srv):
    code, err = srv.post("/v1/completions", raw=b"{not json")
    assert code == 400 and "not valid JSON" in err["error"]["message"]


def test_top_k_minus_one_means_all_and_a_negative_seed_is_taken(srv):
    code, r = srv.post("/v1/completions", {"model": BASE, "prompt": PROMPT, "max_tokens": 3, "top_k": -1,
                                           "temperature": 0.5, "seed": -5, "return_token_ids": True})
    assert code == 200 and len(r["choices"][0]["token_ids"]) <= 3


def test_without_a_tokenizer_only_token_ids_are_taken():
    dev, _ = new_device(tokenizer=None)
    s = Server(S.create_app(dev))
    try:
        code, err = s.post("/v1/completions", {"model": "hardwire", "prompt": "hello"})
        assert code == 400 and "has no tokenizer" in err["error"]["message"]
        want = golden(PROMPT, 4, stop_token=None)
        code, r = s.post("/v1/completions", {"model": "hardwire", "prompt": PROMPT, "max_tokens": 4,
                                             "temperature": 0, "ignore_eos": True, "return_token_ids": True})
        assert code == 200 and r["choices"][0]["token_ids"] == want and r["choices"][0]["text"] == ""
    finally:
        s.close()


def test_a_device_failure_is_a_500_and_the_worker_goes_on():
    dev, core = new_device()
    s = Server(S.create_app(dev))
    try:
        core.dead = True
        code, err = s.post("/v1/completions", {"model": "hardwire", "prompt": PROMPT, "max_tokens": 2})
        assert code == 500 and err["error"]["type"] == "server_error" and "no answer" in err["error"]["message"]
        ev = s.events("/v1/completions", {"model": "hardwire", "prompt": PROMPT, "max_tokens": 2, "stream": True})
        assert ev[-1] == "[DONE]" and "no answer" in ev[0]["error"]["message"]
        core.dead = False
        code, r = s.post("/v1/completions", {"model": "hardwire", "prompt": PROMPT, "max_tokens": 2,
                                             "temperature": 0, "ignore_eos": True, "return_token_ids": True})
        assert code == 200 and r["choices"][0]["token_ids"] == golden(PROMPT, 2, stop_token=None)
        deadline = time.monotonic() + 10          # the worker counts a job after its last reply
        while s.app.state.worker.served < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s.app.state.worker.served == 3
    finally:
        s.close()


def test_an_unexpected_exception_is_a_500_naming_it():
    dev, _ = new_device()
    s = Server(S.create_app(dev))
    try:
        def boom(*a, **kw):
            raise KeyError("odd")
        dev.generate = boom
        code, err = s.post("/v1/completions", {"model": "hardwire", "prompt": PROMPT, "max_tokens": 2})
        assert code == 500 and err["error"]["message"] == "KeyError: 'odd'"
    finally:
        s.close()


def test_a_full_queue_is_a_429():
    dev, _ = new_device()
    release, running = threading.Event(), threading.Event()
    inner = dev.generate

    def held(*a, **kw):
        running.set()
        release.wait(30)
        return inner(*a, **kw)

    dev.generate = held
    s = Server(S.create_app(dev, max_queue=1))
    results = []
    body = {"model": "hardwire", "prompt": PROMPT, "max_tokens": 1}
    try:
        first = threading.Thread(target=lambda: results.append(s.post("/v1/completions", body)[0]))
        first.start()
        assert running.wait(10)             # the worker took it and waits in generate
        worker = s.app.state.worker
        second = threading.Thread(target=lambda: results.append(s.post("/v1/completions", body)[0]))
        second.start()                      # waits in the queue (size 1)
        deadline = time.monotonic() + 10
        while worker.jobs.empty():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        code, err = s.post("/v1/completions", body)
        assert code == 429 and err["error"]["code"] == "queue_full" and err["error"]["type"] == "rate_limit_error"
        release.set()
        first.join(30)
        second.join(30)
        assert sorted(results) == [200, 200]
    finally:
        release.set()
        s.close()


def test_create_app_refuses_bad_settings():
    dev, _ = new_device()
    with pytest.raises(ValueError, match="max_queue must be at least 1"):
        S.create_app(dev, max_queue=0)
    with pytest.raises(ValueError, match="is the base model's name"):
        S.create_app(dev, {"hardwire": adapters_for(MODEL)})
    cfg = MODEL.config
    bad = {(0, "wk"): adapters_for(MODEL)[(0, "wq")]}
    with pytest.raises(ValueError, match="adapter 'odd': .*wq, w2"):
        S.create_app(dev, {"odd": bad})
    assert cfg.n_layers == 2


def test_serve_runs_uvicorn_with_the_app(monkeypatch):
    dev, _ = new_device()
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    S.serve(dev, host="0.0.0.0", port=9, model_name="m", log_level="warning")
    assert (seen["host"], seen["port"], seen["log_level"]) == ("0.0.0.0", 9, "warning")
    assert seen["app"].state.worker.device is dev
    seen["app"].state.worker.stop()


def test_a_job_whose_loop_is_closed_is_dropped_quietly():
    import asyncio
    loop = asyncio.new_event_loop()
    job = S.Job(ids=[1], adapter=None, max_tokens=1, temperature=0.0, top_k=0, seed=1, stop=(), stop_token=None,
                loop=loop, out=asyncio.Queue())
    loop.close()
    job.send("token", (1, "a"))             # no RuntimeError: the server is shutting down
    assert job.out.empty()
