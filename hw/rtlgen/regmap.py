"""The register map's generated copies, from host/regmap.py's table (the one source).

    hw/rtl/hardwire_regs.vh        `localparam [7:0] R_<NAME>` word indices (+ MAGIC_VALUE),
                                   included by hw_core.v inside its module body
    docs/register_map.md           the "Registers" table, between the BEGIN/END markers

`python -m hw.rtlgen.regmap` (`make regmap`) rewrites both; `--check` only says whether
they are current (tests/test_regmap.py does the same, and `hardwire compile` refuses a stale
header). The header is checked in under hw/rtl/ rather than written into each build folder:
`make lint` lints hw/rtl/*.v alone, and a build's Verilog names hw/rtl/hw_core.v where it is,
so the library needs its header beside it; every tool run gets each source's folder on its
include path (hw/tools.py include_dirs).
"""
from __future__ import annotations

import sys
from pathlib import Path

from host.regmap import BUILD, MAGIC_VALUE, REGISTERS, Register
from hw.rtlgen.generated import generator_main

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = REPO_ROOT / "hw" / "rtl" / "hardwire_regs.vh"
DOC = REPO_ROOT / "docs" / "register_map.md"
DOC_BEGIN = "<!-- BEGIN registers: generated from host/regmap.py by `make regmap`; edit the table there -->"
DOC_END = "<!-- END registers -->"
ADDR_BITS = 8                      # hw_core reg_addr: word index


def _ascii(text: str) -> str:
    """A description as a Verilog comment: no backticks (compiler directives), ASCII only."""
    return text.replace("`", "").encode("ascii", "replace").decode()


def verilog_header(regs: tuple[Register, ...] = REGISTERS) -> str:
    """hardwire_regs.vh: one localparam per register (word index), then MAGIC_VALUE."""
    width = max(len(r.name) for r in regs) + 2
    out = [
        "// hardwire_regs.vh: hw_core's register map as word indices (byte offset / 4).",
        "// GENERATED from host/regmap.py by make regmap (python -m hw.rtlgen.regmap): do not edit;",
        "// tests/test_regmap.py checks that this file equals what the table gives.",
        "// Included inside a module body; no include guard, so that each module can include it.",
        "// Every name is used by hw_core: Verilator -Wall reports one that is not (UNUSEDPARAM).",
        "",
    ]
    for r in regs:
        span = f"0x{r.offset:02X}" + (f"..0x{r.last:02X}, {r.words} words" if r.words > 1 else "")
        out.append(f"// {span} {r.access}: {_ascii(r.description)}")
        out.append(f"localparam [{ADDR_BITS - 1}:0] {('R_' + r.name).ljust(width)} = {ADDR_BITS}'d{r.index};")
        if r.words > 1:
            out.append(f"localparam [{ADDR_BITS - 1}:0] {('R_' + r.name + '_WORDS').ljust(width)} = "
                       f"{ADDR_BITS}'d{r.words};")
    out += ["", "// what MAGIC reads", f"localparam [31:0] MAGIC_VALUE = 32'h{MAGIC_VALUE:08X};", ""]
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _reset(r: Register) -> str:
    if r.reset is None:
        return "–"
    if r.reset == BUILD:
        return BUILD
    return str(r.reset) if r.reset < 10 else f"0x{r.reset:08X}"


def doc_table(regs: tuple[Register, ...] = REGISTERS) -> str:
    """docs/register_map.md's register table (Markdown), markers included."""
    out = [DOC_BEGIN, "", "| offset | name | access | reset | meaning |", "| --- | --- | --- | --- | --- |"]
    for r in regs:
        span = f"0x{r.offset:02X}" + (f"..0x{r.last:02X}" if r.words > 1 else "")
        out.append(f"| {span} | {r.name} | {r.access} | {_reset(r)} | {_cell(r.description)} |")
    return "\n".join([*out, "", DOC_END])


def doc_with_table(text: str) -> str:
    """`text` (docs/register_map.md) with its table between the markers replaced by doc_table()."""
    begin, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if begin < 0 or end < begin:
        raise ValueError(f"docs/register_map.md has no {DOC_BEGIN!r} ... {DOC_END!r} section")
    return text[:begin] + doc_table() + text[end + len(DOC_END):]


def stale(header: Path = HEADER, doc: Path = DOC) -> list[Path]:
    """The generated files that differ from what the table gives."""
    out = []
    if not header.is_file() or header.read_text() != verilog_header():
        out.append(header)
    if doc.is_file() and doc.read_text() != doc_with_table(doc.read_text()):
        out.append(doc)
    return out


def write(header: Path = HEADER, doc: Path = DOC) -> list[Path]:
    """Rewrite the stale generated files; return them."""
    changed = stale(header, doc)
    if header in changed:
        header.write_text(verilog_header())
    if doc in changed:
        doc.write_text(doc_with_table(doc.read_text()))
    return changed


def main(argv: list[str] | None = None) -> int:
    return generator_main(argv, "python -m hw.rtlgen.regmap", "Write hw/rtl/hardwire_regs.vh and "
                          "docs/register_map.md's register table from host/regmap.py", "host/regmap.py",
                          stale, write)


if __name__ == "__main__":
    sys.exit(main())
