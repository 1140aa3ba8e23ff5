"""`hardwire reclock`: a finished ECP5 bitstream at another PLL clock, in seconds.

    base .bit + manifest.json (beside it) + host metadata
      -> the new clock checked: the routed Fmax covers it, the EHXPLLL makes it from the
         oscillator, and the UART's divider (logic, fixed at the build's clock) still makes
         the link's rate within what the receivers tolerate
      -> ecpunpack: the base bitstream as a textual config
      -> the EHXPLLL's divider words rewritten (checked to hold the manifest's dividers first)
      -> ecppack --compress
      -> <board>.bit, manifest.json and <board>.hardwire.json at the new clock in --out

Why: a place and route here takes about an hour and often ends a little short of the clock it
was built for (timing not met at 60 MHz, Fmax 59.6). The design clock enters the netlist only
as the PLL's dividers and the UART's clocks per bit; when the divider stays right, the same
placement and routing run at any clock up to the routed Fmax, so only the PLL's words change
(docs/respin.md "Reclock").
"""
from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from hw.errors import HardwireError
from hw.flows.respin import REPO_ROOT, read_manifest

# EHXPLLL fields the clock sets, as ecpunpack names them: (word, how the value is stored, the word
# another field always sets in the same tile, where an absent word is inserted)
_DIVIDER_WORDS = (("CLKI_DIV", "minus_one", "LPF_RESISTOR"), ("CLKFB_DIV", "minus_one", "LPF_RESISTOR"),
                  ("CLKOP_DIV", "minus_one", "CLKOS_DIV"), ("CLKOP_CPHASE", "value", "LPF_RESISTOR"))
_TILE = re.compile(r"^\.tile(?:_group)? (.+)$")     # ecpunpack: one tile; nextpnr's --textcfg: a group
_WORD = re.compile(r"^word: (\S+) ([01]+)$")


class ReclockError(HardwireError):
    """The bitstream cannot run at the asked clock without a new build (the message says why)."""


def _field_values(pll: dict) -> dict[str, int]:
    return {"CLKI_DIV": pll["CLKI_DIV"], "CLKFB_DIV": pll["CLKFB_DIV"], "CLKOP_DIV": pll["CLKOP_DIV"],
            "CLKOP_CPHASE": pll["CLKOP_CPHASE"]}


def _stored(field: str, value: int) -> int:
    kind = next(k for w, k, _ in _DIVIDER_WORDS if w == field)
    return value - 1 if kind == "minus_one" else value


@dataclass
class _Word:
    line: int           # index in the config's lines
    bits: str           # most significant bit first, as ecpunpack writes it


def _pll_words(lines: list[str]) -> dict[str, _Word]:
    """The divider words of the one used EHXPLLL (tiles named ...PLL...), and their anchor words."""
    names = {w for w, _, _ in _DIVIDER_WORDS} | {a for _, _, a in _DIVIDER_WORDS}
    found: dict[str, list[_Word]] = {}
    tile = ""
    for i, line in enumerate(lines):
        if m := _TILE.match(line):
            tile = m.group(1)
        elif (m := _WORD.match(line)) and "PLL" in tile and m.group(1) in names:
            found.setdefault(m.group(1), []).append(_Word(i, m.group(2)))
    twice = sorted(n for n, ws in found.items() if len(ws) > 1)
    if twice:
        raise ReclockError(f"the bitstream sets {twice[0]} in {len(found[twice[0]])} PLL tiles: it uses more than "
                           "one PLL, and a reclock rewrites only the design clock's EHXPLLL; rebuild with --clock")
    return {n: ws[0] for n, ws in found.items()}


def rewrite_pll(config: str, old: dict, new: dict) -> str:
    """`config` (ecpunpack's text) with the EHXPLLL's words changed from `old`'s dividers to `new`'s
    (both as in the manifest's `pll`); refused when the words do not hold `old`'s."""
    lines = config.split("\n")
    words = _pll_words(lines)
    inserts: dict[int, list[str]] = {}
    for field, _, anchor in _DIVIDER_WORDS:
        if anchor not in words:
            raise ReclockError(f"no EHXPLLL in the bitstream ({anchor} is unset): it was built without --clock, "
                               "so its clock is the oscillator's; rebuild with --clock")
        word = words.get(field)
        width = len(word.bits) if word else 7
        have = int(word.bits, 2) if word else 0
        want_old, want_new = _stored(field, old[field]), _stored(field, new[field])
        if have != want_old:
            raise ReclockError(f"the bitstream's {field} holds {have}, its manifest's PLL says {want_old}: the "
                               "manifest is not this bitstream's, or the bitstream was changed after the build")
        if want_new >= 1 << width:
            raise ReclockError(f"{field} {new[field]} does not fit the EHXPLLL's {width}-bit field")
        bits = format(want_new, f"0{width}b")
        if word:
            lines[word.line] = f"word: {field} {bits}"
        else:                   # ecpunpack leaves all-zero words out: set it beside its tile's fellow
            inserts.setdefault(words[anchor].line, []).append(f"word: {field} {bits}")
    out: list[str] = []
    for i, line in enumerate(lines):
        out.extend(inserts.get(i, []))
        out.append(line)
    return "\n".join(out)


# ---------------------------------------------------------------- the checks

def check_clock(doc: dict, clock_mhz: float):
    """The EHXPLLL for `clock_mhz` on the manifest's board, refused unless the routing and the UART
    divider allow it."""
    from hw.backends.ecp5_pll import PllError, ecp5_pll

    if doc.get("chain"):
        raise ReclockError("this bitstream is a chip of a chain: its link runs with the other chips' clock, so "
                           "the chain is rebuilt together (hardwire build --chips N --clock MHZ)")
    if not doc.get("pll"):
        raise ReclockError(f"{doc.get('board')}'s bitstream was built without --clock (no PLL: the design runs "
                           "on the oscillator); rebuild with --clock")
    if doc.get("family") != "ecp5":
        raise ReclockError(f"{doc.get('board')} ({doc.get('family')}): a reclock rewrites an ECP5 EHXPLLL; "
                           "rebuild with --clock")
    fmax = float(doc["fmax_mhz"])
    try:
        pll = ecp5_pll(doc["pll"]["in_mhz"], clock_mhz)
    except PllError as exc:
        raise ReclockError(str(exc)) from None
    if pll.out_mhz > fmax:
        raise ReclockError(f"--clock {clock_mhz:g} MHz: the PLL makes {pll.out_mhz:.4g} MHz, above the routed Fmax "
                           f"{fmax:.2f} MHz of this bitstream; reclock to {fmax:.2f} MHz or below, or place and route "
                           "again (hardwire build --clock, another --seed)")
    baud = doc.get("uart_baud")
    if baud:
        from hw.links.uart import MAX_BAUD_ERROR

        clks = round(float(doc["clock_mhz"]) * 1e6 / baud)       # the bridge's CLKS_PER_BIT, set at the build
        error = abs(pll.out_mhz * 1e6 / clks - baud) / baud
        if error > MAX_BAUD_ERROR:
            raise ReclockError(f"--clock {clock_mhz:g} MHz: the UART divider built into this bitstream ({clks} clocks "
                               f"a bit, for {baud:,} baud at {doc['clock_mhz']:g} MHz) would run at "
                               f"{pll.out_mhz * 1e6 / clks:,.0f} baud, {100 * error:.1f} % off, beyond the "
                               f"{100 * MAX_BAUD_ERROR:.1f} % the receivers tolerate; pick a clock within that of "
                               f"{clks * baud / 1e6:g} MHz, or rebuild with --clock {clock_mhz:g}")
    return pll


def reclock_candidates(doc: dict, fmax_mhz: float) -> list[float]:
    """Design clocks (MHz, fastest first) that `hardwire reclock` would accept for this manifest, given
    its routed `fmax_mhz`: for the build's refusal message."""
    from hw.backends.ecp5_pll import ecp5_pll

    doc = {**doc, "fmax_mhz": fmax_mhz}
    out = set()
    step = 0.005 * float(doc["clock_mhz"])
    for k in range(1, 16):                   # down to ~7 % under the design clock, where the UART stops anyway
        f = float(doc["clock_mhz"]) - k * step
        try:
            pll = ecp5_pll(doc["pll"]["in_mhz"], f, tolerance=0.005)
            check_clock(doc, pll.out_mhz)
        except HardwireError:
            continue
        out.add(round(pll.out_mhz, 4))
    return sorted(out, reverse=True)


# ---------------------------------------------------------------- the reclock

def _metadata_path(bitstream: Path, metadata: Path | None) -> Path:
    if metadata is not None:
        if not Path(metadata).is_file():
            raise ReclockError(f"{metadata}: no such host metadata file")
        return Path(metadata)
    for cand in (bitstream.with_name(f"{bitstream.stem}.hardwire.json"), bitstream.with_name("hardwire.json")):
        if cand.is_file():
            return cand
    raise ReclockError(f"no host metadata beside {bitstream} ({bitstream.stem}.hardwire.json or hardwire.json): "
                       "pass --metadata with the one written with this bitstream")


def reclock(bitstream: Path, clock_mhz: float, out: Path | None = None, manifest: Path | None = None,
            metadata: Path | None = None, log=print) -> dict:
    """The body of `hardwire reclock`; returns {'bitstream', 'manifest', 'metadata', 'doc'}."""
    from hw.tools import run_yowasp, tool_path

    t0 = time.monotonic()
    bitstream = Path(bitstream)
    doc = read_manifest(bitstream, manifest, purpose="a reclock")
    meta_path = _metadata_path(bitstream, metadata)
    pll = check_clock(doc, clock_mhz)
    new_pll = pll.to_json()
    log(f"{doc['board']}: {doc['clock_mhz']:g} -> {pll.out_mhz:.4g} MHz (CLKI_DIV {pll.clki_div}, CLKFB_DIV "
        f"{pll.clkfb_div}, CLKOP_DIV {pll.clkop_div}, VCO {pll.vco_mhz:.4g} MHz); routed Fmax {doc['fmax_mhz']} MHz")

    work = REPO_ROOT / "build" / "reclock" / f"{doc['board']}-{pll.out_mhz:g}"   # not /tmp: YoWASP
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    run_yowasp("ecpunpack", [tool_path(bitstream, work), "base.config"], cwd=work)
    text = rewrite_pll((work / "base.config").read_text(), _field_values(doc["pll"]), _field_values(new_pll))
    (work / "reclock.config").write_text(text)
    name = Path(doc["bitstream"]["file"]).name
    run_yowasp("ecppack", ["--compress", "--input", "reclock.config", "--bit", name], cwd=work)

    new_doc = reclocked_manifest(doc, work / name, new_pll, round(time.monotonic() - t0, 2))
    dest = Path(out) if out else work / "out"
    dest.mkdir(parents=True, exist_ok=True)
    meta = json.loads(meta_path.read_text())
    meta["clock_hz"] = int(round(pll.out_mhz * 1e6))
    if meta.get("tokenizer"):           # relative to the metadata file: re-anchored beside the output
        import os
        meta["tokenizer"] = os.path.relpath((meta_path.parent / meta["tokenizer"]).resolve(), dest.resolve())
    shutil.copy2(work / name, dest / name)
    (dest / "manifest.json").write_text(json.dumps(new_doc, indent=1) + "\n")
    meta_out = dest / f"{Path(name).stem}.hardwire.json"
    meta_out.write_text(json.dumps(meta, indent=1) + "\n")
    speed = new_doc.get("measured") or {}
    at = f", {speed['tokens_per_s_at_clock']:,.0f} tokens/s measured" if "tokens_per_s_at_clock" in speed else ""
    log(f"wrote {dest / name} at {pll.out_mhz:.4g} MHz{at}, its manifest and {meta_out.name} in "
        f"{new_doc['reclock']['seconds']:.1f} s (PLL words only: no synthesis, no place and route)")
    return {"bitstream": dest / name, "manifest": dest / "manifest.json", "metadata": meta_out, "doc": new_doc}


def reclocked_manifest(doc: dict, bit: Path, pll: dict, seconds: float) -> dict:
    """The base manifest at the new clock: PLL, timing, tokens/s (cycles per token do not change)."""
    d = json.loads(json.dumps(doc))
    clock = pll["out_mhz"]
    d["built"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    d["bitstream"] = {"file": bit.name, "bytes": bit.stat().st_size,
                      "sha256": hashlib.sha256(bit.read_bytes()).hexdigest()}
    d["clock_mhz"] = clock
    d["pll"] = pll
    d["timing_met"] = float(d["fmax_mhz"]) >= clock
    s = d.get("speed_at_clock")
    if s:
        for key in ("first", "mean", "last"):
            s[f"tokens_per_s_{key}"] = round(clock * 1e6 / s[f"cycles_{key}"], 1)
    if d.get("measured"):
        d["measured"]["tokens_per_s_at_clock"] = round(clock * 1e6 / d["measured"]["cycles_mean"], 1)
    d["reclock"] = {"base": {"clock_mhz": doc["clock_mhz"], "pll": doc["pll"],
                             "bitstream_sha256": doc["bitstream"]["sha256"], "built": doc.get("built")},
                    "seconds": seconds}
    return d
