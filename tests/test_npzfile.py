"""host/npzfile.read_npz, the checked .npz reader under every hardwire loader: each malformed file
gets the loader's own error type and a message that names the problem (tests/test_loader_hardening.py
covers it through the loaders; these are the cases the loaders' files never reach)."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from host.npzfile import HEADER, read_npz


class Bad(Exception):
    pass


def header(doc=None) -> np.ndarray:
    return np.frombuffer(json.dumps(doc or {"format": "x"}).encode(), np.uint8)


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def read(path, **kw):
    return read_npz(path, Bad, max_bytes=kw.pop("max_bytes", 1 << 20), max_values=kw.pop("max_values", 1000),
                    what="test file", **kw)


def test_a_good_file_reads_back(tmp_path):
    p = save(tmp_path / "ok.npz", **{HEADER: header({"a": 1}), "w": np.arange(6, dtype=np.int8).reshape(2, 3),
                                     "blob": np.frombuffer(b"xyz", np.uint8)})
    doc, arrays, raw = read(p, raw=("blob", "absent"))
    assert doc == {"a": 1} and raw == {"blob": b"xyz"} and set(arrays) == {"w"}
    assert arrays["w"].dtype == np.int64 and arrays["w"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_malformed_files_are_named(tmp_path):
    with pytest.raises(Bad, match="no such thing here"):
        read(tmp_path / "none.npz", missing="no such thing here")
    with pytest.raises(Bad, match="not a regular file"):
        read(tmp_path)
    (tmp_path / "plain.npz").write_bytes(b"\x93NUMPY...")
    with pytest.raises(Bad, match="no zip signature"):
        read(tmp_path / "plain.npz")
    (tmp_path / "torn.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(Bad, match="not a readable test file"):
        read(tmp_path / "torn.npz")
    with pytest.raises(Bad, match=f"no {HEADER} entry"):
        read(save(tmp_path / "nohead.npz", w=np.zeros(2, np.int8)))
    with pytest.raises(Bad, match="holds float64 values; the arrays of a hardwire .npz are integers"):
        read(save(tmp_path / "float.npz", **{HEADER: header(), "w": np.zeros(2)}))
    with pytest.raises(Bad, match=f"entry '{HEADER}' must be bytes"):
        read(save(tmp_path / "widehead.npz", **{HEADER: np.zeros(3, np.int32)}))
    with pytest.raises(Bad, match="more than 1000 values"):
        read(save(tmp_path / "many.npz", **{HEADER: header(), "w": np.zeros(1001, np.int8)}))
    with pytest.raises(Bad, match=r"unpack to \d+ bytes, more than any real test file"):
        read(save(tmp_path / "big.npz", **{HEADER: header(), "w": np.zeros(4000, np.int8)}), max_bytes=2000)
    with pytest.raises(Bad, match=r"a header of 3\d{3} bytes; no real test file has one above 1000 bytes"):
        read(save(tmp_path / "bighead.npz", **{HEADER: np.zeros(3000, np.uint8)}), header_bytes=1000)


def test_an_entry_that_is_not_an_npy_is_a_readable_error(tmp_path):
    buf = io.BytesIO()
    np.save(buf, header())
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as z:
        z.writestr(f"{HEADER}.npy", buf.getvalue())
        z.writestr("w.npy", b"not an npy")
    with pytest.raises(Bad, match=r"not a readable test file \(.*\); re-create the file"):
        read(tmp_path / "odd.npz")
