"""Read an untrusted JSON file so that the only thing that can go wrong is the caller's error.

`read_json(path, error, max_bytes=...)` returns the parsed document or raises
`error(message)`, the message naming the file and the problem. It guards
against what Python's `json` module lets through or turns into other
exceptions:

  * size: a file above `max_bytes` is refused from its size, before a byte is
    read (parsing costs memory: 5-15x the file size for real files, up to
    ~34x for crafted ones). Each loader passes the cap its real files need;
    docs/loaders.md lists them and why;
  * containers: Python spends ~200 bytes on a small dict and ~100 on a small
    list, so a file dense in them (`[{"a":0},{"a":0},...]`: 34x its size) is
    refused before parsing: 2 x (number of `{`) + (number of `[`) may be at most
    one per CONTAINER_BYTES bytes (plus CONTAINER_SLACK). Real files stay 3x
    below that, and what passes costs at most ~22x its size (measured; see
    docs/loaders.md);
  * encoding: the text must be UTF-8 (or the UTF-16/32 JSON allows), decoded
    strictly; raw surrogates and invalid bytes are refused;
  * lone surrogates written as `\\udXXX` escapes are refused: no real text
    holds one, and such a string raises UnicodeEncodeError wherever it is
    later encoded (a token, a file name);
  * integers longer than MAX_INT_DIGITS digits are refused (Python refuses
    int strings over 4300 digits with a bare ValueError, and a 400-digit
    integer already overflows float conversion);
  * nesting deeper than MAX_DEPTH is refused (RecursionError otherwise, in
    the parser or in whatever walks the document later).

`check_type` and friends then check each field a loader uses, so a wrong type
is an error naming the field, not a TypeError later.

Shared by the host metadata (host/metadata.py) and the compiler's loaders
(hw/frontend/hf_folder.py, hw/tokenizer.py). It lives in host/ because the
driver installs on a board alone (`pip install ./host`: numpy, pyserial,
pynq), so host/ cannot import hw/, while hw/ already imports host/ modules.
Standard library only; Python 3.8+ like the rest of host/.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Optional, Tuple, Type, Union

MAX_DEPTH = 64              # real files nest 3 (safetensors header) to ~8 (tokenizer.json) levels
MAX_INT_DIGITS = 1000       # the largest real integer is a 20-digit byte offset; < Python's 4300 limit
CONTAINER_BYTES = 10        # 2 x objects + arrays: at most one per 10 bytes of file (real: 1 per 30+) ...
CONTAINER_SLACK = 10_000    # ... beyond this many (small files may be dense)

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")     # where a lone surrogate could come from
_SURROGATE = re.compile("[\ud800-\udfff]")


def short(value: object, limit: int = 60) -> str:
    """repr() capped in length, so crafted values cannot flood a message."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):        # too deep, or an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_json(path: Union[str, os.PathLike], error: Type[Exception], max_bytes: int,
              what: str = "file", missing: Optional[str] = None,
              hint: str = "fix or re-create the file") -> Any:
    """Parse the JSON file at `path` (at most `max_bytes` bytes); anything wrong raises `error`.

    `what` names the kind of file in messages ("tokenizer.json", "metadata");
    `missing`, if given, is the message for a file that does not exist;
    `hint` ends the messages about malformed content.
    """
    path = check_path(path, error, what)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: not a regular file; pass the {what}")
        if st.st_size > max_bytes:
            raise error(f"{path}: {st.st_size} bytes is larger than any real {what} "
                        f"(the cap is {max_bytes} bytes, see docs/loaders.md); wrong file?")
        with open(path, "rb") as f:
            raw = f.read(st.st_size + 1)    # (read(n) allocates n bytes first)
    except FileNotFoundError as e:
        if missing is not None:
            raise error(f"{path}: {missing}") from e
        raise error(f"{path}: cannot read the {what} (no such file); check the path") from e
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror or e}); check the path "
                    "and permissions") from e
    if len(raw) > st.st_size:
        raise error(f"{path}: the {what} grew while being read; try again when it is complete")
    return parse_json(raw, str(path), error, what=what, hint=hint)


def check_path(path: Union[str, os.PathLike], error: Type[Exception], what: str = "file") -> Path:
    """`path` as a Path, or `error` if no file can have that name: the OS takes no NUL, and a
    lone surrogate has no bytes (\\udc80..\\udcff stand for undecodable bytes and are fine).
    Otherwise stat()/open() raise ValueError or UnicodeEncodeError, not OSError."""
    path = Path(path)
    try:
        if b"\0" not in os.fsencode(path):
            return path
        reason = "it holds a NUL character"
    except UnicodeEncodeError:
        reason = "it holds a lone surrogate, which is not Unicode text"
    raise error(f"{short(str(path), 200)} is not a usable file name ({reason}); check the "
                f"path of the {what}")


def parse_json(raw: bytes, source: str, error: Type[Exception], what: str = "file",
               hint: str = "fix or re-create the file") -> Any:
    """`read_json` for bytes already read (a safetensors header); `source` names them."""
    objects, arrays = raw.count(b"{"), raw.count(b"[")     # (an overcount: [ and { in strings)
    if 2 * objects + arrays > CONTAINER_SLACK + len(raw) // CONTAINER_BYTES:
        raise error(f"{source}: {objects} JSON objects and {arrays} arrays in {len(raw)} bytes "
                    f"(tiny or nested containers); no real {what} is built of so many (each "
                    f"costs 100-200 bytes of memory once parsed). The file is corrupt or crafted")
    encoding = json.detect_encoding(raw)       # UTF-8, or the UTF-16/32 JSON allows
    try:
        text = raw.decode(encoding)             # strict: no invalid bytes, no encoded surrogates
    except UnicodeDecodeError as e:
        raise error(f"{source}: not valid JSON (not {encoding.upper()} text: {e.reason} at byte "
                    f"{e.start}); {hint}") from e
    try:
        doc = json.loads(text, parse_int=_parse_int)
    except _TooManyDigits as e:
        raise error(f"{source}: an integer of {e.args[0]} digits; no real {what} holds one "
                    f"longer than {MAX_INT_DIGITS} digits. {hint}") from e
    except RecursionError as e:
        raise error(f"{source}: nested deeper than {MAX_DEPTH} levels (deeper than Python's "
                    f"parser can follow); no real {what} nests so deep. {hint}") from e
    except ValueError as e:     # json.JSONDecodeError
        raise error(f"{source}: not valid JSON ({short(str(e), 100)}); {hint}") from e
    _check_tree(doc, source, error, what, hint, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return doc


class _TooManyDigits(ValueError):
    pass


def _parse_int(digits: str) -> int:
    n = len(digits) - digits.startswith("-")
    if n > MAX_INT_DIGITS:
        raise _TooManyDigits(n)
    return int(digits)


def _check_tree(doc: Any, source: str, error: Type[Exception], what: str, hint: str,
                strings: bool) -> None:
    """Nesting depth <= MAX_DEPTH; with `strings`, no lone surrogate in any key or string."""
    def check(s: str) -> None:
        if not s.isascii() and _SURROGATE.search(s):
            raise error(f"{source}: the string {short(s)} holds a lone UTF-16 surrogate (a "
                        "\\udXXX escape without its pair), which is not Unicode text; "
                        f"no real {what} holds one. {hint}")

    if strings and isinstance(doc, str):
        check(doc)
    stack = [(doc, 1)] if isinstance(doc, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error(f"{source}: nested deeper than {MAX_DEPTH} levels; no real {what} "
                        f"nests so deep. {hint}")
        if isinstance(node, dict):
            if strings:
                for key in node:
                    check(key)
            children = node.values()
        else:
            children = node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif strings and isinstance(child, str):
                check(child)


# ---------------------------------------------------------------- type checks of fields

_KINDS = {
    "int": "an integer",
    "number": "a finite number",
    "str": "a string",
    "bool": "true or false",
    "list": "a list",
    "object": "an object",
}


def is_kind(value: Any, kind: str) -> bool:
    """Whether `value` (parsed JSON) is of `kind` (a key of _KINDS); bool is never a number."""
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        try:
            return math.isfinite(value)
        except OverflowError:       # an int beyond float range
            return False
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown kind {kind!r}")


def check_type(value: Any, kind: str, where: str, error: Type[Exception],
               optional: bool = False, hint: str = "fix or re-create the file") -> Any:
    """`value` if it is of `kind` (or None when `optional`); else `error` naming `where`."""
    if (optional and value is None) or is_kind(value, kind):
        return value
    wanted = _KINDS[kind] + (" or null" if optional else "")
    raise error(f"{where} must be {wanted}, found {short(value)}; {hint}")


def check_int_range(value: Any, lo: int, hi: int, where: str, error: Type[Exception],
                    optional: bool = False, hint: str = "fix or re-create the file") -> Optional[int]:
    """An integer in lo..hi (or None when `optional`); else `error` naming `where`."""
    check_type(value, "int", where, error, optional, hint)
    if value is not None and not lo <= value <= hi:
        raise error(f"{where} must be in {lo}..{hi}, found {short(value)}; {hint}")
    return value


def check_list_of(value: Any, kind: str, where: str, error: Type[Exception],
                  hint: str = "fix or re-create the file") -> Tuple[Any, ...]:
    """A list whose items are all of `kind`, as a tuple; else `error` naming `where`."""
    check_type(value, "list", where, error, hint=hint)
    for i, item in enumerate(value):
        check_type(item, kind, f"{where}[{i}]", error, hint=hint)
    return tuple(value)
