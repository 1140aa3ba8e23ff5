"""Issue 16 A: the small readers the loader-hardening pass left.

read_lora_file (host/device.py), hw.lora.load_adapters, IntModel.load (hw/intmodel.py),
`hardwire info` on a build folder (hw/cli.py), `hardwire sim`'s build.json (hw/sim/run.py,
hw/sim/build.py). Each crafted file must end in the reader's own error (hw's HardwireError
subclasses, host's LoraError), naming the file; each case here raised something else before
(OverflowError, TypeError, AttributeError, KeyError, JSONDecodeError) or passed a malformed
model or adapter on to code that then failed.
"""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest

from host import registers as R
from host.device import Device, LoraError, read_lora_file
from hw.errors import HardwireError
from hw.golden import LoraInt, LoraShapeError
from hw.intmodel import IntModel, IntModelError
from hw.lora import load_adapters, save_adapters
from hw.rtlgen.fixture import random_int_model
from tests.host_fakes import FakeCore, FakeTransport


@pytest.fixture(scope="module")
def model():
    return random_int_model(3)


def write_npz(path, header_text: str, arrays: dict) -> str:
    buf = io.BytesIO()
    np.savez(buf, __header__=np.frombuffer(header_text.encode(), dtype=np.uint8), **arrays)
    path.write_bytes(buf.getvalue())
    return str(path)


def lora_header(**entry_raw: str) -> str:
    """A LoRA header with one adapter whose fields may be raw JSON text (Infinity, 1e400)."""
    entry = {"layer": "0", "target": '"wq"', "m_a": "100", "sh_a": "8", "m_b": "200", "sh_b": "9",
             **entry_raw}
    body = ", ".join(f'"{k}": {v}' for k, v in entry.items())
    return '{"format": "hardwire-lora-v1", "model_fingerprint": null, "adapters": [{' + body + "}]}"


A0 = np.ones((2, 24), dtype=np.int8)
B0 = np.ones((24, 2), dtype=np.int8)


# ---------------------------------------------------------------- LoRA files

@pytest.mark.parametrize("field, raw", [
    ("m_a", "Infinity"), ("sh_b", "-Infinity"), ("layer", "1e400"), ("m_b", "NaN"), ("m_a", "1.5"),
    ("layer", "true"), ("layer", "-1"), ("target", "7"), ("target", "null"), ("m_a", "[1]"),
    ("sh_a", '"8"'), ("layer", "1" + "0" * 50),
], ids=lambda v: v if len(str(v)) < 12 else "long")
def test_lora_entry_fields_are_type_checked(tmp_path, field, raw):
    path = write_npz(tmp_path / "l.npz", lora_header(**{field: raw}), {"a0": A0, "b0": B0})
    with pytest.raises(LoraError, match=rf"adapters\[0\]\.{field}") as e:
        read_lora_file(path)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(LoraShapeError, match=rf"adapters\[0\]\.{field}"):
        load_adapters(path, random_int_model(3))


@pytest.mark.parametrize("header", [
    "[1, 2]", '"hardwire-lora-v1"', '{"format": 5}', '{"format": "hardwire-lora-v1", "adapters": 5}',
    '{"format": "hardwire-lora-v1", "adapters": [5]}',
    '{"format": "hardwire-lora-v1", "adapters": [], "model_fingerprint": 5}',
])
def test_lora_header_shapes_are_checked(tmp_path, header):
    path = write_npz(tmp_path / "l.npz", header, {"a0": A0, "b0": B0})
    with pytest.raises(LoraError):
        read_lora_file(path)
    with pytest.raises(LoraShapeError):
        load_adapters(path, random_int_model(3))


@pytest.mark.parametrize("arrays, why", [
    ({"a0": A0[0], "b0": B0}, "1-D"),
    ({"a0": A0, "b0": B0.astype(np.float32)}, "float32"),
    ({"a0": A0, "b0": np.array([["x"] * 2] * 24)}, "<U1"),
    ({"b0": B0}, "missing"),
])
def test_lora_arrays_must_be_integer_matrices(tmp_path, arrays, why):
    path = write_npz(tmp_path / "l.npz", lora_header(), arrays)
    with pytest.raises(LoraError, match=why):
        read_lora_file(path)


def test_device_load_lora_refuses_a_1d_adapter_with_lora_error(tmp_path, model):
    core = FakeCore(model, lora_rank=2, lora_targets=("wq",))
    dev = Device(FakeTransport(core))
    path = write_npz(tmp_path / "l.npz", lora_header(), {"a0": A0[0], "b0": B0})
    with pytest.raises(LoraError, match="1-D"):      # was: TypeError from the register packing
        dev.load_lora(path)


def test_lora_file_too_large_is_refused_before_reading(tmp_path, monkeypatch):
    import host.device
    monkeypatch.setattr(host.device, "LORA_MAX_BYTES", 1 << 20)
    path = write_npz(tmp_path / "big.npz", lora_header(), {"a0": np.zeros((2, 1 << 20), np.int8), "b0": B0})
    with pytest.raises(LoraError, match="the cap is 1048576 bytes"):
        read_lora_file(path)


def test_lora_files_of_save_adapters_still_load(tmp_path, model):
    ad = {(0, "wq"): LoraInt(np.arange(48).reshape(2, 24) % 7 - 3, np.arange(48).reshape(24, 2) % 5 - 2,
                             100, 8, 200, 9)}
    save_adapters(ad, tmp_path / "ok.npz", model)
    got = read_lora_file(tmp_path / "ok.npz", model.fingerprint)
    assert np.array_equal(got[(0, "wq")].a, ad[(0, "wq")].a)
    assert load_adapters(tmp_path / "ok.npz", model)[(0, "wq")].m_a == ad[(0, "wq")].m_a


@pytest.mark.parametrize("content", [b"\x93NUMPY junk", b"PK\x03\x04 not really a zip", b""])
def test_lora_file_that_is_no_npz(tmp_path, content):
    (tmp_path / "x.npz").write_bytes(content)
    with pytest.raises(LoraError, match="not a readable"):
        read_lora_file(tmp_path / "x.npz")


# ---------------------------------------------------------------- integer models

def crafted_model(tmp_path, model, name="m.npz", **changes) -> str:
    """`model` saved with some parts replaced, the fingerprint recomputed to match (a crafted
    file, not a damaged one)."""
    im = IntModel(changes.get("config", model.config), changes.get("arrays", dict(model.arrays)),
                  changes.get("knobs", model.knobs), changes.get("scales", model.scales),
                  changes.get("meta", model.meta))
    im.save(tmp_path / name)
    return str(tmp_path / name)


def raw_header_model(tmp_path, model, edit) -> str:
    """`model` saved, then its JSON header rewritten by edit(dict) -> text."""
    path = tmp_path / "raw.npz"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        header = json.loads(bytes(np.load(io.BytesIO(z.read("__header__.npy")))).decode())
        arrays = {n[:-4]: np.load(io.BytesIO(z.read(n))) for n in z.namelist() if n != "__header__.npy"}
    return write_npz(path, edit(header), arrays)


@pytest.mark.parametrize("edit, match", [
    (lambda h: "[1, 2]", "the header must be an object"),
    (lambda h: json.dumps({**h, "config": {**h["config"], "colour": 1}}), "unknown fields"),
    (lambda h: json.dumps({**h, "config": {k: v for k, v in h["config"].items() if k != "dim"}}), "lacks dim"),
    (lambda h: json.dumps({k: v for k, v in h.items() if k != "knobs"}), "header.knobs must be an object"),
    (lambda h: json.dumps({**h, "meta": [1]}), "header.meta must be an object"),
    (lambda h: json.dumps({**h, "config": 5}), "header.config must be an object"),
    (lambda h: json.dumps({**h, "fingerprint": 5}), "header.fingerprint must be a string"),
    (lambda h: json.dumps({**h, "config": {**h["config"], "dim": "24"}}), "dim must be an integer"),
    (lambda h: json.dumps({**h, "config": {**h["config"], "shared_classifier": "yes"}}), "true or false"),
    (lambda h: json.dumps({**h, "config": {**h["config"], "rope_theta": "@"}}).replace('"@"', "1e400"),
     "rope_theta must be a positive finite number"),
])
def test_intmodel_header_fields_are_checked(tmp_path, model, edit, match):
    path = raw_header_model(tmp_path, model, edit)
    with pytest.raises(IntModelError, match=match):
        IntModel.load(path)


def test_intmodel_with_missing_or_misshapen_arrays_is_refused(tmp_path, model):
    arrays = {k: v for k, v in model.arrays.items() if k != "wq"}
    with pytest.raises(IntModelError, match="the array wq is missing"):
        IntModel.load(crafted_model(tmp_path, model, arrays=arrays))
    arrays = dict(model.arrays, wk=model["wk"][:, :4])
    with pytest.raises(IntModelError, match=r"the array wk has shape \(2, 4, 24\)"):
        IntModel.load(crafted_model(tmp_path, model, arrays=arrays))
    arrays = dict(model.arrays, silu=model["silu"].astype(np.float64))
    with pytest.raises(IntModelError, match="silu' holds float64"):
        IntModel.load(crafted_model(tmp_path, model, arrays=arrays))


@pytest.mark.parametrize("field, value", [("n_heads", 0), ("dim", -24), ("n_kv_heads", 2), ("seq_len", 1 << 30)])
def test_intmodel_config_values_are_checked(tmp_path, model, field, value):
    config = dataclasses.replace(model.config, **{field: value})
    with pytest.raises(IntModelError, match=field):
        IntModel.load(crafted_model(tmp_path, model, config=config))


def test_intmodel_round_trip_still_works(tmp_path, model):
    model.save(tmp_path / "ok.npz")
    assert IntModel.load(tmp_path / "ok.npz").fingerprint == model.fingerprint


# ---------------------------------------------------------------- build folders

def build_folder(tmp_path, text: str):
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / "build.json").write_text(text)
    return folder


GOOD_BUILD = {"model": {"config": {"vocab_size": 37, "seq_len": 16}, "source": "m.bin"},
              "knobs": {"context": 16}, "top": "rtl/hardwire_top.v", "static_rtl": [], "rom_dir": "rom"}


@pytest.mark.parametrize("text", [
    "{\"model\": [1, 2",                           # truncated
    "[" * 100_000 + "]" * 100_000,                  # too deep for the parser
    json.dumps({"model": "\ud800"}),                # a lone surrogate
    "{\"n\": 1" + "0" * 5000 + "}",                 # a 5,000-digit integer
    "[1, 2, 3]",                                    # not an object
], ids=["truncated", "deep", "surrogate", "long-int", "list"])
def test_hardwire_info_on_a_malformed_build_folder_is_one_line(tmp_path, capsys, text):
    from hw.cli import EXIT_ERROR, main
    folder = build_folder(tmp_path, text)
    assert main(["info", str(folder)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "hardwire info: error:" in err and "build.json" in err and "Traceback" not in err


@pytest.mark.parametrize("edit, match", [
    (lambda d: {**d, "model": {"source": "m.bin"}}, "model.config must be an object"),
    (lambda d: {**d, "model": 5}, "model must be an object"),
    (lambda d: {**d, "knobs": {"context": "16"}}, "knobs.context must be an integer"),
    (lambda d: {**d, "model": {**d["model"], "config": {"vocab_size": 37.0, "seq_len": 16}}},
     "vocab_size must be an integer"),
    (lambda d: {**d, "model": {**d["model"], "source": ["m.bin"]}}, "model.source must be a string"),
    (lambda d: {**d, "model": {**d["model"], "source": "m\u0000.bin"}}, "not a usable file name"),
])
def test_hardwire_sim_build_json_fields_are_checked(tmp_path, edit, match):
    from hw.rtlgen.knobs import Knobs
    from hw.sim.run import SimRunError, check_prompt_fits, resolve_build
    folder = build_folder(tmp_path, json.dumps(edit(GOOD_BUILD)))
    with pytest.raises(SimRunError, match=match):
        resolve_build(folder, None, Knobs(), None)
        check_prompt_fits([1, 2], folder)           # (when resolve_build passes: the context)


@pytest.mark.parametrize("edit, match", [
    (lambda d: {**d, "static_rtl": 5}, "static_rtl must be a list"),
    (lambda d: {**d, "static_rtl": [5]}, r"static_rtl\[0\] must be a string"),
    (lambda d: {**d, "top": None}, "top must be a string"),
    (lambda d: {**d, "rom_dir": {}}, "rom_dir must be a string"),
    (lambda d: [d], "the document must be an object"),
])
def test_sim_build_design_sources_fields_are_checked(tmp_path, edit, match):
    from hw.sim.build import SimBuildError, design_sources
    folder = build_folder(tmp_path, json.dumps(edit(GOOD_BUILD)))
    with pytest.raises(SimBuildError, match=match):
        design_sources(folder)


def test_reader_errors_are_the_projects_own():
    assert issubclass(IntModelError, HardwireError) and issubclass(LoraShapeError, HardwireError)
    assert issubclass(LoraError, ValueError)
    assert R.LORA_TARGET_NAMES            # (host registers import without hw)
