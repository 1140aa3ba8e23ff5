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
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Optional, Type, Union

from host.errors import DeviceError
from host.jsonfile import check_int_range, check_list_of, check_path, check_type, is_kind, read_json, short
from host.registers import BITS_CLASSES, LORA_TARGET_NAMES, Identity, pack_version

FORMAT = "hardwire-host-metadata"
VERSION = 1
BUILD_FILE = "hardwire.json"        # inside a build folder
SUFFIX = ".hardwire.json"           # beside a bitstream: top.bit -> top.hardwire.json
# Size caps (docs/loaders.md): a metadata file is ~1 kB; build.json ~8 kB for a 4-layer model,
# growing ~1.3 kB per layer (its layout lists each layer's matrices): 1.4 MB at 1,024 layers.
# Parsing JSON costs up to ~22x the file in memory, so a crafted file costs at most ~23 / ~185 MB.
MAX_METADATA_BYTES = 1 << 20
MAX_BUILD_JSON_BYTES = 8 << 20
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_U32 = 0xFFFFFFFF                    # the identity block's registers are 32-bit words
_REBUILD = "rebuild it (`hardwire compile` writes it)"


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
        path = check_path(path, MetadataError, "metadata file")
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
        """Read a metadata file (or a build folder's); every field is type-checked, and anything
        wrong with the file is a MetadataError naming it and the field."""
        path = Path(path)
        if path.is_dir():
            path = path / BUILD_FILE
        doc = read_json(path, MetadataError, MAX_METADATA_BYTES, what="metadata file",
                        missing="no metadata file; it is written by `hardwire compile` into the "
                                "build folder and copied beside each bitstream",
                        hint="not a readable metadata file: " + _REBUILD)
        kind = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        if kind != FORMAT:
            raise MetadataError(f"{path}: not a hardwire metadata file (format {short(kind)}, "
                                f"expected {FORMAT!r})")
        version = doc.get("version")
        if not is_kind(version, "int") or version != VERSION:
            raise MetadataError(f"{path}: metadata version {short(version)}, this driver reads "
                                f"version {VERSION}; update the driver or rebuild")
        identity = _identity(doc.get("identity"), f"{path}: identity", _REBUILD)
        values = _check_fields(doc, str(path))
        meta = cls(identity=identity, **values)
        meta.path = path
        return meta


def _check_fields(doc: Dict[str, Any], where: str) -> Dict[str, Any]:
    """The Metadata fields of a metadata file's object (other keys ignored), each type-checked."""
    def at(name: str) -> str:
        return f"{where}: {name}"

    out = {}
    for f in fields(Metadata):
        if f.name in ("identity", "path") or f.name not in doc:
            continue
        value = doc[f.name]
        if f.name in ("model", "board"):
            check_type(value, "str", at(f.name), MetadataError, hint=_REBUILD)
        elif f.name in ("tokenizer", "pynq_ip"):
            check_type(value, "str", at(f.name), MetadataError, optional=True, hint=_REBUILD)
        elif f.name == "tokenizer_fingerprint":
            check_type(value, "str", at(f.name), MetadataError, optional=True, hint=_REBUILD)
            if value and not _SHA256_HEX.fullmatch(value):
                raise MetadataError(f"{at(f.name)} must be 64 lowercase hex digits (a sha256), "
                                    f"found {short(value)}; {_REBUILD}")
        elif f.name in ("clock_hz", "uart_baud"):
            check_int_range(value, 1, 1 << 63, at(f.name), MetadataError, optional=True, hint=_REBUILD)
        elif f.name == "extra":
            check_type(value, "object", at(f.name), MetadataError, hint=_REBUILD)
        else:                               # a field added to Metadata without a check here
            raise AssertionError(f"metadata field {f.name} has no type check")
        out[f.name] = value
    if out.get("tokenizer") and "\0" in out["tokenizer"]:
        raise MetadataError(f"{at('tokenizer')} path {short(out['tokenizer'])} holds a NUL "
                            f"character, which no file name can; {_REBUILD}")
    return out


def _identity(doc: Any, where: str, hint: str) -> Identity:
    """An Identity from its JSON object; every field type- and range-checked (the device
    reports 32-bit words), each error a MetadataError naming `where`.field."""
    check_type(doc, "object", where, MetadataError, hint=hint)
    known = [f.name for f in fields(Identity)]
    unknown = [k for k in doc if k not in known]
    if unknown:
        raise MetadataError(f"{where} has unknown fields {', '.join(short(k) for k in unknown[:5])} "
                            f"(it has {', '.join(known)}); {hint}")
    missing = [f.name for f in fields(Identity) if f.name not in doc
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise MetadataError(f"{where} lacks {', '.join(missing)}; {hint}")
    values = dict(doc)
    fp = check_type(values["fingerprint"], "str", f"{where}.fingerprint", MetadataError, hint=hint)
    if not _SHA256_HEX.fullmatch(fp):
        raise MetadataError(f"{where}.fingerprint must be 64 lowercase hex digits (a sha256), "
                            f"found {short(fp)}; {hint}")
    for name in known:
        if name not in ("fingerprint", "bits", "lora_targets") and name in values:
            check_int_range(values[name], 0, _U32, f"{where}.{name}", MetadataError, hint=hint)
    if "bits" in values:
        bits = check_type(values["bits"], "object", f"{where}.bits", MetadataError, hint=hint)
        for k, v in bits.items():
            if k not in BITS_CLASSES:
                raise MetadataError(f"{where}.bits has an unknown class {short(k)} (the classes are "
                                    f"{', '.join(BITS_CLASSES)}); {hint}")
            check_int_range(v, 0, 255, f"{where}.bits.{k}", MetadataError, hint=hint)
    if "lora_targets" in values:
        targets = check_list_of(values["lora_targets"], "str", f"{where}.lora_targets", MetadataError,
                                hint=hint)
        bad = [t for t in targets if t not in LORA_TARGET_NAMES]
        if bad:
            raise MetadataError(f"{where}.lora_targets names {short(bad[0])}, not one of "
                                f"{', '.join(LORA_TARGET_NAMES)}; {hint}")
        values["lora_targets"] = targets
    return Identity(**values)


def identity_from_build_json(doc: Dict[str, Any], where: str = "build.json") -> Identity:
    """The identity a build's device reports, from the generator's build.json.

    A build folder of `hardwire compile` carries build.json (model config,
    fingerprint, knobs, generator version); its identity block is a function
    of those, so the simulation needs no separate metadata file.
    """
    hint = "re-run `hardwire compile`"

    def need(node: Dict[str, Any], key: str, name: str, kind: str = "int") -> Any:
        if key not in node:
            raise MetadataError(f"{where}: {name}.{key} is missing; not a build.json of this "
                                f"generator version; {hint}")
        return check_type(node[key], kind, f"{where}: {name}.{key}", MetadataError, hint=hint)

    check_type(doc, "object", f"{where}: the document", MetadataError, hint=hint)
    model, knobs = need(doc, "model", "build", "object"), need(doc, "knobs", "build", "object")
    cfg, bits = need(model, "config", "model", "object"), need(model, "bits", "model", "object")
    version = need(doc, "generator_version", "build", "str")
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 5 for p in parts):
        raise MetadataError(f"{where}: generator_version {short(version)} is not MAJOR.MINOR.PATCH; {hint}")
    try:
        gen_version = pack_version(*(int(p) for p in parts))
    except ValueError as exc:
        raise MetadataError(f"{where}: {exc}; {hint}") from exc
    targets = check_list_of(knobs.get("lora_targets", []), "str", f"{where}: knobs.lora_targets",
                            MetadataError, hint=hint)
    targets = tuple(t for t in LORA_TARGET_NAMES if t in targets)
    rank = check_type(knobs.get("lora_rank", 0), "int", f"{where}: knobs.lora_rank", MetadataError,
                      hint=hint) if targets else 0
    ident = dict(
        fingerprint=need(model, "fingerprint", "model", "str"), gen_version=gen_version,
        dim=need(cfg, "dim", "model.config"), hidden=need(cfg, "hidden_dim", "model.config"),
        layers=need(cfg, "n_layers", "model.config"), heads=need(cfg, "n_heads", "model.config"),
        kv_heads=need(cfg, "n_kv_heads", "model.config"), vocab=need(cfg, "vocab_size", "model.config"),
        context=need(knobs, "context", "knobs"), lanes=need(knobs, "lanes", "knobs"),
        vpl=need(knobs, "values_per_lane", "knobs"),
        bits={k: need(bits, k, "model.bits") for k in BITS_CLASSES}, lora_rank=rank,
        lora_targets=list(targets) if rank else [], k_max=need(knobs, "k_max", "knobs"))
    return _identity(ident, f"{where}: identity", hint)


def _read_build_json(build: Path, hint: str) -> Dict[str, Any]:
    """A build folder's build.json (size-capped, type-checked as an object)."""
    return read_build_json(build, MetadataError, hint)


def read_build_json(path: Union[str, os.PathLike], error: Type[Exception] = MetadataError,
                    hint: str = "re-run `hardwire compile`") -> Dict[str, Any]:
    """The build.json at `path` (hardwire compile's record of a build) as a dict: read by
    host/jsonfile.py (size cap MAX_BUILD_JSON_BYTES), an object, or `error`. The caller
    type-checks the fields it uses."""
    doc = read_json(path, error, MAX_BUILD_JSON_BYTES, what="build.json", hint=hint)
    return check_type(doc, "object", f"{path}: the document", error, hint=hint)


def _model_source(doc: Dict[str, Any], where: Path) -> str:
    """build.json's model.source (the checkpoint's name), after identity_from_build_json."""
    source = doc["model"].get("source", "")
    return check_type(source, "str", f"{where}: model.source", MetadataError,
                      hint="re-run `hardwire compile`")


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
    doc = _read_build_json(build, "run `hardwire compile` first")
    dest = Path(dest) if dest is not None else Path(build_dir) / BUILD_FILE
    meta = Metadata(identity_from_build_json(doc, str(build)), model=_model_source(doc, build),
                    **fields_)
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
        doc = _read_build_json(build, "re-run `hardwire compile`")
        return Metadata(identity_from_build_json(doc, str(build)), path=build,
                        model=_model_source(doc, build))
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
