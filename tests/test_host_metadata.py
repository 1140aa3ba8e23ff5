"""host/metadata.py: the file round-trips; a device of another build is refused, naming both."""
from __future__ import annotations

import dataclasses
import json

import pytest

from host.metadata import (IdentityMismatch, Metadata, MetadataError, check_identity, check_tokenizer,
                           find_metadata, metadata_path)
from host.registers import Identity
from host.tokenizer import Tokenizer

IDENT = Identity(fingerprint="ab" * 32, gen_version=1, dim=24, hidden=44, layers=2, heads=3, kv_heads=1,
                 vocab=37, context=16, lanes=4, vpl=4, bits={"embedding": 8, "attention": 4, "mlp": 5,
                                                             "classifier": 8}, lora_rank=2,
                 lora_targets=("wq", "w2"), k_max=8)


def _tok(n=37):
    return Tokenizer([b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [bytes([65 + i]) for i in range(n - 3)],
                     [0.0] * n, source="tiny")


def test_round_trip_and_locations(tmp_path):
    tok = _tok()
    (tmp_path / "tok.bin").write_bytes(b"")
    meta = Metadata(IDENT, tokenizer="tok.bin", tokenizer_fingerprint=tok.fingerprint(), model="tiny",
                    board="ulx3s-85f", clock_hz=50_000_000, uart_baud=115200)
    build = tmp_path / "build"
    build.mkdir()
    meta.save(build / "hardwire.json")
    back = Metadata.load(build)
    assert back.identity == IDENT and back.uart_baud == 115200 and back.tokenizer == "tok.bin"
    assert back.tokenizer_path() == build / "tok.bin"
    assert metadata_path(build) == build / "hardwire.json"
    assert metadata_path(tmp_path / "top.bit") == tmp_path / "top.hardwire.json"
    assert find_metadata(tmp_path / "top.bit") is None
    assert find_metadata(build).identity == IDENT


def test_fingerprint_mismatch_names_both(tmp_path):
    meta = Metadata(IDENT)
    meta.save(tmp_path / "x.hardwire.json")
    other = dataclasses.replace(IDENT, fingerprint="cd" * 32)
    with pytest.raises(IdentityMismatch) as exc:
        check_identity(other, Metadata.load(tmp_path / "x.hardwire.json"))
    msg = str(exc.value)
    assert "cd" * 32 in msg and "ab" * 32 in msg and "x.hardwire.json" in msg
    check_identity(IDENT, meta)


def test_knob_mismatch_is_named():
    with pytest.raises(IdentityMismatch, match="context: device 32, metadata 16"):
        check_identity(dataclasses.replace(IDENT, context=32), Metadata(IDENT))


def test_tokenizer_checks():
    tok = _tok()
    check_tokenizer(tok, IDENT, Metadata(IDENT, tokenizer_fingerprint=tok.fingerprint()))
    with pytest.raises(IdentityMismatch, match="40 tokens but the device's model has a vocabulary of 37"):
        check_tokenizer(_tok(40), IDENT)
    other = Tokenizer(tok.vocab, [1.0] * 37)
    with pytest.raises(IdentityMismatch, match=f"tokenizer fingerprint {other.fingerprint()}"):
        check_tokenizer(other, IDENT, Metadata(IDENT, tokenizer_fingerprint=tok.fingerprint()))


def test_bad_files(tmp_path):
    with pytest.raises(MetadataError, match="no metadata file"):
        Metadata.load(tmp_path / "none.json")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(MetadataError, match="not a readable"):
        Metadata.load(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(MetadataError, match="not a hardwire metadata file"):
        Metadata.load(tmp_path / "b.json")
    doc = Metadata(IDENT).to_json()
    doc["version"] = 99
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(MetadataError, match="version 99"):
        Metadata.load(tmp_path / "c.json")
    doc = Metadata(IDENT).to_json()
    del doc["identity"]["dim"]
    (tmp_path / "d.json").write_text(json.dumps(doc))
    with pytest.raises(MetadataError, match="identity lacks dim"):
        Metadata.load(tmp_path / "d.json")


def test_generator_version_word_round_trips_with_the_generator():
    """build.json's "1.0.0", the GEN_VERSION parameter of the generated top and the text shown all agree."""
    from host.registers import pack_version, version_text
    from hw.rtlgen import GEN_VERSION_WORD, GENERATOR_VERSION
    from hw.rtlgen import version_text as generator_text

    assert pack_version(*GENERATOR_VERSION) == GEN_VERSION_WORD
    assert version_text(GEN_VERSION_WORD) == generator_text()
    assert version_text(pack_version(2, 13, 255)) == "2.13.255"
    ident = dataclasses.replace(IDENT, gen_version=GEN_VERSION_WORD)
    assert f"(generator {generator_text()})" in ident.describe()
    with pytest.raises(ValueError, match="does not fit"):
        pack_version(1, 256, 0)


def test_tokenizer_path_is_resolved(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tok.bin").write_bytes(b"")
    meta = Metadata(IDENT, tokenizer="../../models/tok.bin")
    meta.save(tmp_path / "build" / "x" / "hardwire.json")
    assert Metadata.load(tmp_path / "build" / "x").tokenizer_path() == (tmp_path / "models" / "tok.bin").resolve()
