"""Fuzz targets: one per file format the project reads. Each takes the bytes of one file,
writes them where the loader expects them and loads them; it may succeed or raise only the
loader's own errors (LoaderEscape otherwise), and its peak traced allocation must stay
within 4x the file plus a fixed floor (MemoryBlowup otherwise).

The floor (FLOOR bytes) covers what a loader allocates whatever the input: the tiny model's
own arrays, a tokenizer's 256 byte tokens, Python's small objects; 4x the input bounds what
the input itself can make the loader allocate (issue 16).

Used by testbench/fuzz/campaign.py (atheris, `make fuzz`) and tests/test_fuzz_corpus.py
(replays the committed corpus in tests/fuzz_corpus/<target>/ in every `make test`).
"""
from __future__ import annotations

import json
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from host.metadata import IdentityMismatch, Metadata, MetadataError, check_identity
from host.registers import Identity
from host.tokenizer import Tokenizer as HostTokenizer
from host.tokenizer import TokenizerError as HostTokenizerError
from hw.frontend.llama2c import load_llama2c, save_llama2c
from hw.errors import HardwireError
from hw.frontend.hf_folder import INDEX_NAME, load_hf_folder, read_header, read_tensor, save_hf_folder
from hw.tokenizer import Tokenizer

FLOOR = 1 << 20                 # bytes a loader may allocate whatever its input (see above)
# CPU seconds a case may take: CPU, not wall time, so that a starved process on a loaded
# machine is not taken for a hang (the campaign's wall-clock watchdog catches endless loops)
HANG_S = 5.0
HOST_ERRORS = (MetadataError, IdentityMismatch, HostTokenizerError)


class LoaderEscape(AssertionError):
    """A loader raised something other than the project's own errors."""


class MemoryBlowup(AssertionError):
    """A loader's peak allocation exceeded FLOOR + 4x the input file."""


class LoaderHang(AssertionError):
    """A load took more than HANG_S seconds of CPU time."""


IDENT = Identity(fingerprint="ab" * 32, gen_version=1, dim=24, hidden=44, layers=2, heads=3, kv_heads=1,
                 vocab=265, context=16, lanes=4, vpl=4, bits={"embedding": 8, "attention": 4, "mlp": 5,
                                                              "classifier": 8}, lora_rank=2,
                 lora_targets=("wq", "w2"), k_max=8)


@dataclass
class Workspace:
    """A scratch folder with one valid file of every format, the seeds of the campaign."""
    root: Path

    @classmethod
    def create(cls, root: Path | None = None) -> "Workspace":
        from tests.conftest import make_tiny_model  # the suite's tiny random llama
        root = Path(root or tempfile.mkdtemp(prefix="hardwire-fuzz-"))
        root.mkdir(parents=True, exist_ok=True)
        model = make_tiny_model(n_layers=1, vocab=20, seq_len=8)
        save_llama2c(model, root / "model.bin")
        vocab = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % b for b in range(256)]
        vocab += [b" ", b"a", b"b", b" a", b"ab", b" ab"]
        Tokenizer(vocab, [0.0] * 259 + [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]).save(root / "tok.bin")
        save_hf_folder(model, root / "hf")          # config.json + model.safetensors
        (root / "hf_index").mkdir()                 # index fuzz: the shard stays valid
        (root / "hf_index" / "config.json").write_bytes((root / "hf" / "config.json").read_bytes())
        (root / "hf_index" / "model.safetensors").write_bytes((root / "hf" / "model.safetensors").read_bytes())
        (root / "hf_config").mkdir()                # config fuzz: the weights stay valid
        (root / "hf_config" / "model.safetensors").write_bytes((root / "hf" / "model.safetensors").read_bytes())
        (root / "tokenizer.json").write_text(json.dumps({
            "model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4,
                                               "\u2581a": 5}, "merges": ["\u2581 a"]},
            "added_tokens": [{"id": 0, "content": "<unk>"}]}))
        meta = Metadata(IDENT, tokenizer="tok.bin", model="m", board="b", clock_hz=1, uart_baud=9600)
        (root / "meta.hardwire.json").write_text(json.dumps(meta.to_json()))
        return cls(root)

    def seeds(self) -> dict[str, list[bytes]]:
        r = self.root
        tensors = sorted(read_header(r / "hf" / "model.safetensors"))
        index = {"metadata": {}, "weight_map": {t: "model.safetensors" for t in tensors}}
        return {"llama2c": [(r / "model.bin").read_bytes()],
                "tokenizer_bin": [(r / "tok.bin").read_bytes()],
                "safetensors": [(r / "hf" / "model.safetensors").read_bytes()],
                "st_index": [json.dumps(index).encode()],
                "config_json": [(r / "hf" / "config.json").read_bytes()],
                "tokenizer_json": [(r / "tokenizer.json").read_bytes()],
                "metadata": [(r / "meta.hardwire.json").read_bytes()]}


# ---------------------------------------------------------------- the loads, one per format

def _llama2c(ws: Workspace, path: Path) -> None:
    load_llama2c(path)


def _tokenizer_bin(ws: Workspace, path: Path) -> None:
    tok = Tokenizer.load(path)
    tok.encode("ab a\u00e9")                 # a loaded tokenizer must also encode/decode
    tok.decode_all(list(range(tok.vocab_size)))


def _host_tokenizer_bin(ws: Workspace, path: Path) -> None:
    HostTokenizer.load(path)


def _safetensors(ws: Workspace, path: Path) -> None:
    for ref in read_header(path).values():
        read_tensor(ref)


def _st_index(ws: Workspace, path: Path) -> None:
    load_hf_folder(path.parent, read_tokenizer=False)


def _config_json(ws: Workspace, path: Path) -> None:
    load_hf_folder(path.parent, read_tokenizer=False)


def _tokenizer_json(ws: Workspace, path: Path) -> None:
    Tokenizer.from_hf_json(path).encode("a a")


def _metadata(ws: Workspace, path: Path) -> None:
    meta = Metadata.load(path)
    check_identity(IDENT, meta)             # a loaded file compares (IdentityMismatch) cleanly
    if meta.tokenizer_path() is not None:   # and names a tokenizer that loads or is refused
        HostTokenizer.load(meta.tokenizer_path(), vocab_size=meta.identity.vocab)


@dataclass(frozen=True)
class Target:
    name: str
    file: str                       # where the input is written, relative to the workspace (never a seed)
    load: Callable[[Workspace, Path], None]
    errors: tuple[type[BaseException], ...]
    extra: int = 0                  # bytes of the valid files the load also reads (the shard)


TARGETS = {t.name: t for t in [
    Target("llama2c", "fuzz.bin", _llama2c, (HardwireError,)),
    Target("tokenizer_bin", "fuzz_tok.bin", _tokenizer_bin, (HardwireError,)),
    Target("host_tokenizer_bin", "fuzz_tok.bin", _host_tokenizer_bin, HOST_ERRORS),
    Target("safetensors", "fuzz.safetensors", _safetensors, (HardwireError,)),
    Target("st_index", f"hf_index/{INDEX_NAME}", _st_index, (HardwireError,), extra=1),
    Target("config_json", "hf_config/config.json", _config_json, (HardwireError,), extra=1),
    Target("tokenizer_json", "fuzz_tokenizer.json", _tokenizer_json, (HardwireError,)),
    Target("metadata", "fuzz.hardwire.json", _metadata, HOST_ERRORS),
]}
# the host tokenizer reads the same files as tokenizer_bin: it shares that corpus
CORPUS_OF = {"host_tokenizer_bin": "tokenizer_bin"}


def limit(ws: Workspace, target: Target, data: bytes) -> int:
    """The allowed peak allocation for one case."""
    shard = (ws.root / "hf" / "model.safetensors").stat().st_size if target.extra else 0
    return FLOOR + 4 * (len(data) + shard)


def run_case(ws: Workspace, target: Target, data: bytes) -> str:
    """Load `data` as `target`'s file: 'loaded' or the error type; raises LoaderEscape or
    MemoryBlowup. tracemalloc must be running (the campaign starts it once)."""
    path = ws.root / target.file
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise LoaderEscape(f"{target.name}: cannot write the case ({exc})") from exc
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    outcome = "loaded"
    t0 = time.process_time()
    try:
        target.load(ws, path)
    except target.errors as exc:
        outcome = type(exc).__name__
    except Exception as exc:        # noqa: BLE001 - the point: anything else is an escape
        raise LoaderEscape(f"{target.name}: {type(exc).__name__} escaped: {exc!s:.200}") from exc
    cpu = time.process_time() - t0
    if cpu > HANG_S:
        raise LoaderHang(f"{target.name}: {cpu:.1f} s of CPU on a {len(data)}-byte input (limit {HANG_S:g} s)")
    _, peak = tracemalloc.get_traced_memory()
    if peak - base > limit(ws, target, data):
        raise MemoryBlowup(f"{target.name}: peak allocation {peak - base} bytes on a {len(data)}-byte "
                           f"input (limit {limit(ws, target, data)})")
    return outcome


def corpus_dir(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "tests" / "fuzz_corpus" / CORPUS_OF.get(name, name)


def ensure_tracing() -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start()

