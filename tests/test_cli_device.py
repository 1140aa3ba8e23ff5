"""`hardwire run`, `serve` and `info --device` on the register-level fake core (host.device.open_device
replaced, so no simulation is built): the tokens printed are the golden model's, the errors are one
line and exit 1; the live token counter on a terminal; `info` of a build folder, `bench --golden`."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

import host.device
from host.device import Device
from host.metadata import Metadata
from host.tokenizer import TextStream, Tokenizer
from hw.cli import EXIT_ERROR, _LiveText, main
from hw.golden import GoldenModel, LoraInt
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeCore, FakeTransport

K_MAX = 8
MODEL = random_int_model(5)


def tiny_tokenizer(n=37):
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n", b" "] + [bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz"]
    pieces += [b"ab", b" a", b"ba", b"cd", b"abc", b"xy", b"zz"][:n - len(pieces)]
    return Tokenizer(pieces, [0.0] * 30 + [float(i) for i in range(n - 30)], source="tiny")


def golden(prompt, n, stop_token=None):
    return list(GoldenModel(MODEL, k_max=K_MAX).generate(prompt, n, stop_token=stop_token))


@pytest.fixture
def fake_device(monkeypatch):
    """open_device(URI, ...) -> a Device on a fresh fake core; `opened` records each call's arguments."""
    opened = []

    def open_device(uri, tokenizer=None, metadata=None, timeout=None):
        opened.append({"uri": uri, "tokenizer": tokenizer, "metadata": metadata, "timeout": timeout})
        core = FakeCore(MODEL, k_max=K_MAX, lora_rank=2, lora_targets=("wq",))
        meta = Metadata(core.ident, model="fake-model") if metadata is None else None
        return Device(FakeTransport(core), tokenizer=tiny_tokenizer() if tokenizer else None, metadata=meta)

    monkeypatch.setattr(host.device, "open_device", open_device)
    return opened


def test_run_prints_the_golden_tokens(fake_device, capsys):
    assert main(["run", "--device", "fake:", "--prompt-ids", "1, 5 9 2", "--steps", "6", "--stop-token", "-1",
                 "--timeout", "3"]) == 0
    out, err = capsys.readouterr()
    assert [int(t) for t in out.split()] == golden([1, 5, 9, 2], 6)
    assert "6 tokens in" in err and "prompt 4 tokens, stopped by max_new_tokens" in err
    assert fake_device[0] == {"uri": "fake:", "tokenizer": None, "metadata": None, "timeout": 3.0}


def test_run_a_text_prompt_echoes_it_and_prints_text(fake_device, capsys):
    tok = tiny_tokenizer()
    assert main(["run", "--device", "fake:", "--tokenizer", "tok.bin", "--prompt", "ab cd", "--steps", "4",
                 "--stop-token", "-1"]) == 0
    out = capsys.readouterr().out
    ids = tok.encode("ab cd", bos=True)
    want = golden(ids, 4)
    assert out.startswith("ab cd") and out.endswith("\n")
    ts = TextStream(tok, ids[-1])
    assert out[len("ab cd"):-1] == "".join(ts.push(t) for t in want) + ts.flush()


@pytest.mark.parametrize("argv, message", [
    (["--prompt", "hello"], "no tokenizer: pass --tokenizer tok.bin"),
    (["--prompt-ids", "1 99"], "outside the vocabulary 0..36"),
    (["--prompt-ids", "1", "--metadata", "none", "--lora", "missing.npz"], "no such LoRA adapter file"),
])
def test_run_errors_are_one_line(fake_device, capsys, argv, message):
    assert main(["run", "--device", "fake:", *argv]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("hardwire run: error: ") and message in err and "Traceback" not in err


def test_serve_loads_the_named_adapters(fake_device, capsys, monkeypatch, tmp_path):
    import host.server
    from hw.lora import save_adapters

    ad = LoraInt(np.ones((2, 24), int), np.ones((24, 2), int), 1 << 14, 13, 1 << 14, 11)
    npz = tmp_path / "a.npz"
    save_adapters({(0, "wq"): ad}, npz, MODEL)
    seen = {}
    monkeypatch.setattr(host.server, "serve", lambda dev, **kw: seen.update(kw, dev=dev))
    assert main(["serve", "--device", "fake:", "--port", "9", "--max-queue", "3", "--lora", f"mine={npz}"]) == 0
    assert (seen["port"], seen["max_queue"], seen["model_name"], list(seen["adapters"])) == (9, 3, "fake-model",
                                                                                            ["mine"])
    np.testing.assert_array_equal(seen["adapters"]["mine"][(0, "wq")].a, ad.a)
    assert "serving fake-model and adapters mine from fake on http://127.0.0.1:9/v1" in capsys.readouterr().err
    assert main(["serve", "--device", "fake:", "--metadata", "none", "--name", "base"]) == 0
    assert seen["model_name"] == "base" and seen["adapters"] == {}
    assert main(["serve", "--device", "fake:", "--metadata", "none"]) == 0
    assert seen["model_name"] == "hardwire"                 # no metadata, no --name
    for bad, message in ((["--lora", str(npz)], "give NAME=PATH"),
                         (["--lora", f"a={npz}", "--lora", f"a={npz}"], "the adapter name 'a' is given twice")):
        assert main(["serve", "--device", "fake:", *bad]) == EXIT_ERROR
        assert message in capsys.readouterr().err


def test_info_of_a_device(fake_device, capsys):
    assert main(["info", "--device", "fake:", "--tokenizer", "tok.bin", "--metadata", "none"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("device fake\n") and f"  fingerprint {MODEL.fingerprint}" in out
    assert "  metadata none" in out and "  tokenizer tiny (37 tokens)" in out
    assert "  status " in out and "position 0, tokens done 0" in out


def test_info_without_a_path_or_device_is_an_error(capsys):
    assert main(["info"]) == EXIT_ERROR
    assert "give a PATH (checkpoint, integer model, build folder) or --device URI" in capsys.readouterr().err


def test_info_of_a_build_folder(tmp_path, capsys):
    npz = tmp_path / "m.npz"
    MODEL.save(npz)
    assert main(["compile", str(npz), "--out", str(tmp_path / "b"), "--lanes", "4", "--vpl", "4"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "b")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["fingerprint"] == MODEL.fingerprint and doc["knobs"]["lanes"] == 4 and "estimate" in doc


def test_bench_golden_writes_its_report(tmp_path, capsys):
    npz = tmp_path / "m.npz"
    MODEL.save(npz)
    out = tmp_path / "golden.json"
    assert main(["bench", "--golden", str(npz), "--tokens", "3", "--golden-out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["tokens"] == 3 and doc["model_fingerprint"] == MODEL.fingerprint
    assert "golden model: 3 tokens in" in capsys.readouterr().out


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_live_text_on_terminals():
    out, err = Tty(), Tty()
    live = _LiveText(out, err)                      # both on one terminal: the figure after the text, erased
    live.token("ab", 2, 0.5)
    live.end()
    assert out.getvalue() == "\x1b[Kab\x1b[s\x1b[2m  [2 tok, 4.0 tok/s]\x1b[0m\x1b[u\x1b[K\n" and err.getvalue() == ""
    out, err = io.StringIO(), Tty()                 # text piped, stderr a terminal: the figure on stderr
    live = _LiveText(out, err)
    live.token("ab", 1, 0.0)
    live.end()
    assert out.getvalue() == "ab\n" and err.getvalue() == "\r\x1b[K[1 tok, 0.0 tok/s]\r\x1b[K"
    out, err = io.StringIO(), io.StringIO()         # no terminal: the text only
    live = _LiveText(out, err)
    live.token("ab", 1, 1.0)
    live.end()
    assert out.getvalue() == "ab\n" and err.getvalue() == ""
