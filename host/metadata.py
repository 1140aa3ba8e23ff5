"""Host-side metadata of a build: what the device behind a bitstream must say it is.

The generator writes `hardwire.json` into a build folder and the board flows
copy it beside each bitstream as `<name>.hardwire.json`. It records the
integer model's fingerprint, the dimensions and knobs of the identity block,
and the tokenizer (path relative to the file, and its fingerprint). When a
device is opened, `check_identity` compares the identity block read from the
hardware with it and refuses a mismatch, naming both fingerprints: a stale
bitstream, a stale cached .hwh or the wrong board answer with the wrong
model, and would otherwise stream plausible but wrong tokens.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Optional, Union

from host.errors import DeviceError
from host.registers import BITS_CLASSES, LORA_TARGET_NAMES, Identity, pack_version

FORMAT = "hardwire-host-metadata"
VERSION = 1
BUILD_FILE = "hardwire.json"        # inside a build folder
SUFFIX = ".hardwire.json"           # beside a bitstream: top.bit -> top.hardwire.json


class MetadataError(ValueError):
    """A metadata file is missing, unreadable or malformed."""


class IdentityMismatch(DeviceError):
    """The device is not the build the metadata (or tokenizer) describes."""


@dataclass
class Metadata:
    identity: Identity                          # what the device must report
    tokenizer: Optional[str] = None             # tokenizer.bin, relative to the metadata file
    tokenizer_fingerprint: Optional[str] = None
    model: str = ""                             # a name for humans (checkpoint file, ...)
    board: str = ""
    clock_hz: Optional[int] = None              # design clock, for cycles -> seconds
    uart_baud: Optional[int] = None             # UART builds: the bridge's baud rate
    pynq_ip: Optional[str] = None               # PYNQ builds: the IP's name in the block design
    extra: Dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None                 # where it was loaded from (not saved)

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint

    def tokenizer_path(self) -> Optional[Path]:
        """The tokenizer file, resolved against the metadata file's folder (an absolute path
        without '..': it is shown to users, e.g. by `hardwire info --device`)."""
        if not self.tokenizer:
            return None
        p = Path(self.tokenizer)
        return (p if p.is_absolute() or self.path is None else self.path.parent / p).resolve()

    # ------------------------------------------------------------ file
    def to_json(self) -> Dict[str, Any]:
        ident = asdict(self.identity)
        ident["lora_targets"] = list(ident["lora_targets"])
        out = {"format": FORMAT, "version": VERSION, "identity": ident}
        for f in fields(self):
            if f.name not in ("identity", "path"):
                out[f.name] = getattr(self, f.name)
        return out

    def save(self, path: Union[str, os.PathLike]) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise MetadataError(f"{path}: cannot write the metadata ({exc})") from exc
        self.path = path
        return path

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Metadata":
        path = Path(path)
        if path.is_dir():
            path = path / BUILD_FILE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise MetadataError(f"{path}: no metadata file; it is written by `hardwire compile` "
                                "into the build folder and copied beside each bitstream") from exc
        except (OSError, ValueError) as exc:
            raise MetadataError(f"{path}: not a readable metadata file ({exc})") from exc
        kind = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        if kind != FORMAT:
            raise MetadataError(f"{path}: not a hardwire metadata file (format {kind!r}, "
                                f"expected {FORMAT!r})")
        if doc.get("version") != VERSION:
            raise MetadataError(f"{path}: metadata version {doc.get('version')}, this driver reads "
                                f"version {VERSION}; update the driver or rebuild")
        try:
            ident = dict(doc["identity"])
            ident["lora_targets"] = tuple(ident.get("lora_targets", ()))
            identity = Identity(**ident)
            known = {f.name for f in fields(cls)} - {"identity", "path"}
            meta = cls(identity=identity, **{k: v for k, v in doc.items() if k in known})
        except (KeyError, TypeError) as exc:
            raise MetadataError(f"{path}: malformed metadata ({exc}); rebuild it") from exc
        meta.path = path
        return meta


def identity_from_build_json(doc: Dict[str, Any], where: str = "build.json") -> Identity:
    """The identity a build's device reports, from the generator's build.json.

    A build folder of `hardwire compile` carries build.json (model config,
    fingerprint, knobs, generator version); its identity block is a function
    of those, so the simulation needs no separate metadata file.
    """
    try:
        model, knobs = doc["model"], doc["knobs"]
        cfg, bits = model["config"], model["bits"]
        major, minor, patch = (int(v) for v in str(doc["generator_version"]).split("."))
        targets = tuple(t for t in LORA_TARGET_NAMES if t in knobs.get("lora_targets", ()))
        rank = int(knobs.get("lora_rank", 0)) if targets else 0
        return Identity(
            fingerprint=model["fingerprint"], gen_version=pack_version(major, minor, patch),
            dim=cfg["dim"], hidden=cfg["hidden_dim"], layers=cfg["n_layers"], heads=cfg["n_heads"],
            kv_heads=cfg["n_kv_heads"], vocab=cfg["vocab_size"], context=knobs["context"],
            lanes=knobs["lanes"], vpl=knobs["values_per_lane"],
            bits={k: int(bits[k]) for k in BITS_CLASSES}, lora_rank=rank,
            lora_targets=targets if rank else (), k_max=knobs["k_max"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MetadataError(f"{where}: not a build.json of this generator version ({exc!r}); "
                            "re-run `hardwire compile`") from exc


def metadata_for_build(build_dir: Union[str, os.PathLike], tokenizer: Optional[Union[str, os.PathLike]] = None,
                       dest: Optional[Union[str, os.PathLike]] = None, **fields_: Any) -> Metadata:
    """Write the host metadata of a `hardwire compile` build folder and return it.

    The identity comes from the folder's build.json; `tokenizer` (a
    tokenizer.bin) is recorded relative to the metadata file with its
    fingerprint, so a board opened with this file refuses another tokenizer.
    `dest` defaults to <build_dir>/hardwire.json (beside a bitstream:
    <name>.hardwire.json); `fields_` fill board, clock_hz, uart_baud, pynq_ip.
    """
    from host.tokenizer import Tokenizer

    build = Path(build_dir) / "build.json"
    try:
        doc = json.loads(build.read_text())
    except (OSError, ValueError) as exc:
        raise MetadataError(f"{build}: not readable ({exc}); run `hardwire compile` first") from exc
    dest = Path(dest) if dest is not None else Path(build_dir) / BUILD_FILE
    meta = Metadata(identity_from_build_json(doc, str(build)),
                    model=str(doc.get("model", {}).get("source", "")), **fields_)
    if tokenizer is not None:
        tok = Tokenizer.load(tokenizer, vocab_size=meta.identity.vocab)
        meta.tokenizer = os.path.relpath(Path(tokenizer).resolve(), dest.resolve().parent)
        meta.tokenizer_fingerprint = tok.fingerprint()
    meta.save(dest)
    return meta


def metadata_path(target: Union[str, os.PathLike]) -> Path:
    """Where the metadata of a build folder or a bitstream file lives."""
    target = Path(target)
    if target.is_dir():
        return target / BUILD_FILE
    return target.with_name(target.stem + SUFFIX)


def find_metadata(target: Union[str, os.PathLike]) -> Optional[Metadata]:
    """The metadata beside a build folder / bitstream (a build folder's build.json will
    do), or None when there is none."""
    p = metadata_path(target)
    if p.is_file():
        return Metadata.load(p)
    build = Path(target) / "build.json"
    if build.is_file():
        try:
            doc = json.loads(build.read_text())
        except (OSError, ValueError) as exc:
            raise MetadataError(f"{build}: not readable ({exc})") from exc
        return Metadata(identity_from_build_json(doc, str(build)), path=build,
                        model=str(doc.get("model", {}).get("source", "")))
    return None


# ---------------------------------------------------------------- checks

def check_identity(identity: Identity, metadata: Metadata) -> None:
    """Raise IdentityMismatch unless the device's identity is the one the metadata describes."""
    where = f" ({metadata.path})" if metadata.path else ""
    if identity.fingerprint != metadata.fingerprint:
        raise IdentityMismatch(
            f"the device runs model {identity.fingerprint} but the metadata{where} describes "
            f"model {metadata.fingerprint}: load the bitstream built from this metadata's model, "
            "or open the device with the metadata of the bitstream it runs")
    diffs = [f"{f.name}: device {getattr(identity, f.name)!r}, metadata {getattr(metadata.identity, f.name)!r}"
             for f in fields(Identity) if getattr(identity, f.name) != getattr(metadata.identity, f.name)]
    if diffs:
        raise IdentityMismatch(f"the device and the metadata{where} agree on fingerprint "
                               f"{identity.fingerprint[:16]}… but not on the build: " + "; ".join(diffs)
                               + ". The bitstream was built with other knobs: rebuild or use its metadata")


def check_tokenizer(tokenizer, identity: Identity, metadata: Optional[Metadata] = None) -> None:
    """Raise IdentityMismatch unless the tokenizer belongs to the device (and the metadata)."""
    if tokenizer.vocab_size != identity.vocab:
        raise IdentityMismatch(f"the tokenizer {getattr(tokenizer, 'source', '')} has {tokenizer.vocab_size} "
                               f"tokens but the device's model has a vocabulary of {identity.vocab}; "
                               "use the tokenizer the model was built with")
    want = metadata.tokenizer_fingerprint if metadata is not None else None
    if want:
        got = tokenizer.fingerprint()
        if got != want:
            raise IdentityMismatch(f"tokenizer fingerprint {got} does not match {want} recorded in "
                                   f"the metadata ({metadata.path}); use the tokenizer the model was "
                                   "built with")
