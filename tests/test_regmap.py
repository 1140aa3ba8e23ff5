"""One source for the register map: host/regmap.py's table, and every copy made from it.

The Verilog header hw_core.v includes (hw/rtl/hardwire_regs.vh), the register table of
docs/register_map.md, host/registers.py's byte offsets and hw/sim/regs.py's word indices
all equal what the table gives (`make regmap` rewrites the generated files).
"""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from host import regmap
from host import registers as R
from host.regmap import REGISTERS, Register, check_table
from hw.rtlgen import regmap as gen
from hw.sim import regs as simregs

CORE = gen.REPO_ROOT / "hw" / "rtl" / "hw_core.v"


def test_table_is_well_formed():
    check_table()
    assert [r.offset for r in REGISTERS] == sorted(r.offset for r in REGISTERS)
    assert regmap.BY_NAME["FINGERPRINT"].words == 8 and regmap.BY_NAME["FINGERPRINT"].last == 0x9C
    assert regmap.BY_NAME["MAGIC"].reset == R.MAGIC_VALUE == int.from_bytes(b"HWIR", "big")


@pytest.mark.parametrize("row, message", [
    (Register("magic", 0x200, "R", "x"), "upper case"),
    (Register("MAGIC", 0x200, "R", "x"), "twice"),
    (Register("NEW", 0x202, "R", "x"), "word aligned"),
    (Register("NEW", 0x400, "R", "x"), "word aligned"),
    (Register("NEW", 0x3F8, "R", "x", words=3), "word aligned"),
    (Register("NEW", 0x200, "RO", "x"), "access"),
    (Register("NEW", 0x200, "R", "two\nlines"), "one non-empty line"),
    (Register("NEW", 0x200, "R", "x", reset=-1), "reset"),
    (Register("NEW", 0x9C, "R", "x"), "share word 39"),           # FINGERPRINT's last word
])
def test_table_refuses_bad_rows(row, message):
    with pytest.raises(ValueError, match=message):
        check_table((*REGISTERS, row))


def test_checked_in_header_is_generated_from_the_table():
    assert gen.HEADER.read_text() == gen.verilog_header(), "run `make regmap`"
    assert gen.main(["--check"]) == 0


def test_header_localparams_are_the_word_indices():
    text = gen.HEADER.read_text()
    params = {m.group(1): int(m.group(2)) for m in re.finditer(r"localparam \[7:0\] (\w+)\s*= 8'd(\d+);", text)}
    want = {f"R_{r.name}": r.index for r in REGISTERS}
    want.update({f"R_{r.name}_WORDS": r.words for r in REGISTERS if r.words > 1})
    assert params == want
    assert f"localparam [31:0] MAGIC_VALUE = 32'h{R.MAGIC_VALUE:08X};" in text
    assert "`" not in text and text.isascii()             # comments hold no compiler directive


def test_hw_core_takes_its_register_map_from_the_header():
    text = CORE.read_text()
    assert '`include "hardwire_regs.vh"' in text
    assert not re.search(r"localparam[^;]*\bR_MAGIC\b\s*=", text)       # no hand-written copy
    code = re.sub(r"//[^\n]*", "", text)
    unused = [r.name for r in REGISTERS if not re.search(rf"\bR_{r.name}\b", code)]
    assert not unused, f"registers in host/regmap.py that hw_core.v does not decode: {unused}"


def _doc_rows(text: str) -> list[tuple[str, str, str, str]]:
    """(offset, name, access, reset) of every row of the documentation's register table."""
    section = text[text.index(gen.DOC_BEGIN):text.index(gen.DOC_END)]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 5 and cells[0].startswith("0x"):
            rows.append(tuple(cells[:4]))
    return rows


def test_documentation_table_matches_the_table():
    text = gen.DOC.read_text()
    assert text == gen.doc_with_table(text), "docs/register_map.md's register table is stale: run `make regmap`"
    rows = _doc_rows(text)
    assert [(name, access) for _, name, access, _ in rows] == [(r.name, r.access) for r in REGISTERS]
    for (offset, name, _, _), r in zip(rows, REGISTERS):
        first, _, last = offset.partition("..")
        assert int(first, 16) == r.offset and int(last or first, 16) == r.last, name


def test_python_constants_come_from_the_table():
    for r in REGISTERS:
        assert getattr(R, r.name) == r.offset, r.name
        assert getattr(simregs, r.name) == r.index, r.name
    assert R.REGISTERS is REGISTERS
    # the identity block the driver reads in one burst: FINGERPRINT .. K_MAX
    assert R.identity_addresses() == list(range(R.FINGERPRINT, R.K_MAX + 4, 4))


def test_a_new_row_reaches_every_copy():
    row = Register("SCRATCH", 0x200, "RW", "a `scratch` word | for tests")
    regs = (*REGISTERS, row)
    check_table(regs)
    assert "localparam [7:0] R_SCRATCH" in gen.verilog_header(regs) and "8'd128;" in gen.verilog_header(regs)
    assert "| 0x200 | SCRATCH | RW | 0 | a `scratch` word \\| for tests |" in gen.doc_table(regs)


def test_write_rewrites_only_stale_files(tmp_path):
    header, doc = tmp_path / "regs.vh", tmp_path / "map.md"
    doc.write_text(f"# map\n\n{gen.DOC_BEGIN}\nold\n{gen.DOC_END}\n\ntext after\n")
    assert gen.stale(header, doc) == [header, doc]
    assert gen.write(header, doc) == [header, doc]
    assert header.read_text() == gen.verilog_header()
    assert doc.read_text() == f"# map\n\n{gen.doc_table()}\n\ntext after\n"
    assert gen.stale(header, doc) == [] and gen.write(header, doc) == []
    doc.write_text("no markers")
    with pytest.raises(ValueError, match="BEGIN registers"):
        gen.stale(header, doc)


def test_generate_refuses_a_stale_header(tmp_path, monkeypatch):
    from hw.rtlgen.fixture import random_int_model
    from hw.rtlgen.generate import GenerateError, generate
    from hw.rtlgen.knobs import Knobs

    stale = tmp_path / "hardwire_regs.vh"
    stale.write_text(gen.verilog_header().replace("8'd56;", "8'd57;"))
    monkeypatch.setattr(gen, "HEADER", stale)
    with pytest.raises(GenerateError, match="make regmap"):
        generate(random_int_model(seed=1), tmp_path / "out", Knobs(lanes=2, values_per_lane=2))


def test_builds_find_and_hash_the_header():
    """Verilator gets each source's folder as -I; cache keys hash what the sources include."""
    from hw.rtlgen.generate import static_sources
    from hw.tools import include_dirs, verilog_includes

    srcs = static_sources()
    assert gen.HEADER.parent in include_dirs(srcs)
    assert verilog_includes(srcs) == sorted([gen.HEADER, gen.HEADER.parent / "hardwire_arch.vh"])
    assert verilog_includes(static_sources("hw_matvec")) == []


def test_changed_row_changes_the_header():
    regs = tuple(replace(r, offset=0x1F0) if r.name == "ATT_ENGINES" else r for r in REGISTERS)
    assert "R_ATT_ENGINES       = 8'd124;" in gen.verilog_header(regs)
