"""Read an untrusted .npz (numpy's zip of arrays with a JSON header) so that the only thing
that can go wrong is the caller's error.

hardwire's .npz files (an integer model, hw/intmodel.py; LoRA adapters, hw/lora.py) hold a
`__header__` entry, UTF-8 JSON as a uint8 array, and integer arrays. `read_npz` returns
(header, {name: int64 array}, {name: bytes}) or raises `error(message)` naming the file:

  * the zip and each .npy are read with numpy (allow_pickle=False): anything they raise
    (a truncated zip, a bad CRC, an unknown compression, a malformed .npy header, a .npy
    instead of an .npz) becomes `error`;
  * size: the entries' uncompressed sizes, from the zip's directory, may add up to at most
    `max_bytes` (zipfile never inflates an entry past its recorded size, so this bounds what
    reading costs), and the arrays to at most `max_values` values (each becomes an int64);
  * the header: at most `header_bytes`, a 1-D uint8 array, parsed by host/jsonfile.py's
    `parse_json` (strict UTF-8, no lone surrogates, no 1,000-digit integers, nesting at most
    64 deep); the caller type-checks its fields (check_type and friends);
  * arrays must be integers (a float, bool, complex or string array is refused, not cast);
    entries named in `raw` must be 1-D uint8 and come back as bytes.

Standard library and numpy only (the driver installs on a board without hw/).
"""
from __future__ import annotations

import os
import stat
from typing import Any, Dict, Iterable, Tuple, Type, Union

from host.jsonfile import check_path, parse_json, short

HEADER = "__header__"


def read_npz(path: Union[str, os.PathLike], error: Type[Exception], max_bytes: int, max_values: int,
             what: str = "file", header_bytes: int = 8 << 20, raw: Iterable[str] = (),
             missing: str = "", hint: str = "re-create the file") -> Tuple[Any, Dict[str, Any], Dict[str, bytes]]:
    """(parsed header, {name: int64 array}, {raw name: bytes}) of the .npz at `path`; `error` for
    anything wrong. `missing`: the message for a file that does not exist."""
    import numpy as np

    path = check_path(path, error, what)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise error(f"{path}: {missing or f'no such {what}'}") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file; pass the {what} (.npz)")
    raw = tuple(raw)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc
    if magic[:2] != b"PK":      # a zip; np.load would read a whole .npy (or refuse a pickle)
        raise error(f"{path}: not a readable {what} (not an .npz: no zip signature); {hint}")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:    # no zip, a pickle, a truncated file: all the same to a user
        raise error(f"{path}: not a readable {what} ({short(str(exc), 120)}); {hint}") from exc
    if not isinstance(z, np.lib.npyio.NpzFile):    # (cannot happen after the zip signature)
        raise error(f"{path}: not a {what} (.npz); {hint}")
    with z:
        try:
            infos = z.zip.infolist()
            total = sum(info.file_size for info in infos)
            if total > max_bytes:
                raise error(f"{path}: its arrays unpack to {total} bytes, more than any real {what} "
                            f"(the cap is {max_bytes} bytes, see docs/loaders.md); wrong file?")
            sizes = {info.filename[:-4] if info.filename.endswith(".npy") else info.filename: info.file_size
                     for info in infos}
            if HEADER not in z.files:
                raise error(f"{path}: no {HEADER} entry; not a hardwire {what}. {hint}")
            if sizes.get(HEADER, 0) > header_bytes:
                raise error(f"{path}: a header of {sizes[HEADER]} bytes; no real {what} has one above "
                            f"{header_bytes} bytes. {hint}")
            header_bytes_ = _bytes_entry(z, HEADER, path, error, what, hint)
            raw_entries = {name: _bytes_entry(z, name, path, error, what, hint)
                           for name in raw if name in z.files}
            arrays: Dict[str, Any] = {}
            values = 0
            for name in z.files:
                if name == HEADER or name in raw:
                    continue
                a = z[name]
                if a.dtype.kind not in "iu":
                    raise error(f"{path}: the array {short(name)} holds {a.dtype} values; the arrays of "
                                f"a hardwire .npz are integers. {hint}")
                values += a.size
                if values > max_values:
                    raise error(f"{path}: more than {max_values} values in its arrays, more than any "
                                f"real {what} (see docs/loaders.md); wrong file?")
                arrays[name] = a.astype(np.int64, copy=False)
        except Exception as exc:
            if isinstance(exc, error):
                raise
            raise error(f"{path}: not a readable {what} ({short(str(exc) or type(exc).__name__, 120)}); "
                        f"{hint}") from exc
    header = parse_json(header_bytes_, f"{path} ({what} header)", error, what=f"{what} header", hint=hint)
    return header, arrays, raw_entries


def _bytes_entry(z, name: str, path, error, what: str, hint: str) -> bytes:
    a = z[name]
    if a.dtype.kind != "u" or a.dtype.itemsize != 1 or a.ndim != 1:
        raise error(f"{path}: entry {short(name)} must be bytes (a 1-D uint8 array), found "
                    f"{a.dtype} of shape {a.shape}; not a hardwire {what}. {hint}")
    return a.tobytes()
