"""hw/rtl/hardwire_arch.vh: hw_core's matrix tags, shapes and weight classes and its element units'
latencies, from hw/architecture.py.

`python -m hw.rtlgen.arch_header` (`make regmap`) rewrites it; `--check` only says whether it
is current (tests/test_architecture.py does the same, `make lint` runs the check and
`hardwire compile` refuses a stale header). Checked in beside hw_core.v for the same reason as
hardwire_regs.vh (hw/rtlgen/regmap.py): the library lints and builds where it lies.
"""
from __future__ import annotations

import sys
from pathlib import Path

from hw.architecture import MATRICES, UNIT_LATENCY, WEIGHT_CLASSES
from hw.rtlgen.generated import generator_main

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = REPO_ROOT / "hw" / "rtl" / "hardwire_arch.vh"
TAG_BITS = max(1, (len(MATRICES) - 1).bit_length())
# hw_core's integer copies of the dimensions a shape names
DIMENSION = {"dim": "D_I", "kv_dim": "KVD_I", "hidden_dim": "H_I", "vocab_size": "V_I"}
# hw_core's ROM group parameter of each weight class (hw/rtlgen/top.py sets them)
CLASS_GROUP = {"attention": "GROUP_ATT", "mlp": "GROUP_MLP", "classifier": "GROUP_CLS"}


def _shape_function(name: str, axis: str) -> list[str]:
    out = [f"function [31:0] {name};", f"    input [TAG_W-1:0] tag;", "    begin", "        case (tag)"]
    for m in MATRICES:
        out.append(f"            T_{m.name.upper()}: {name} = {DIMENSION[getattr(m, axis)]};")
    out += [f"            default: {name} = {DIMENSION['dim']};", "        endcase", "    end", "endfunction"]
    return out


def verilog_header() -> str:
    """hardwire_arch.vh: TAG_W, one T_<NAME> per matrix, mat_rows/mat_cols and TAG_GROUP."""
    w = max(len(m.name) for m in MATRICES) + 2
    out = [
        "// hardwire_arch.vh: the matrices a token walks, as hw_core sees them.",
        "// GENERATED from hw/architecture.py by make regmap (python -m hw.rtlgen.arch_header): do not edit;",
        "// tests/test_architecture.py checks that this file equals what the table gives.",
        "// Included inside hw_core's body, after D_I, KVD_I, H_I, V_I and the GROUP_* parameters.",
        "",
        f"localparam TAG_W = {TAG_BITS};    // matrix tag bits",
        "",
        "// matrix tags: the walk order of a layer, then the classifier",
    ]
    for i, m in enumerate(MATRICES):
        out.append(f"localparam [TAG_W-1:0] {('T_' + m.name.upper()).ljust(w + 2)} = {TAG_BITS}'d{i};"
                   f"   // {m.weight_class}, {m.rows} x {m.cols}, times {m.x}")
    out += ["", "// rows (outputs) and columns (inputs) of the matrix tagged `tag`"]
    out += _shape_function("mat_rows", "rows") + _shape_function("mat_cols", "cols")
    pad = (1 << TAG_BITS) - len(MATRICES)
    parts = ([f"{2 * pad}'d0"] if pad else []) + [f"{CLASS_GROUP[m.weight_class]}[1:0]" for m in reversed(MATRICES)]
    out += ["", "// lane ROM group of each tag, 2 bits a tag (tag 0 lowest): its weight class's group",
            f"localparam [{2 * (1 << TAG_BITS) - 1}:0] TAG_GROUP = {{{', '.join(parts)}}};", ""]
    out += ["// pipeline latency of the element units: issue -> result at the unit's outputs (cycles)"]
    lw = max(len(n) for n in UNIT_LATENCY)
    out += [f"localparam integer {name.ljust(lw)} = {cycles};   // {why}"
            for name, (cycles, why) in UNIT_LATENCY.items()]
    out += [""]
    assert set(CLASS_GROUP) == set(WEIGHT_CLASSES)
    return "\n".join(out)


def stale(header: Path | None = None) -> list[Path]:
    """[the header] when it differs from what the table gives, else []."""
    header = header or HEADER
    return [] if header.is_file() and header.read_text() == verilog_header() else [header]


def write(header: Path | None = None) -> list[Path]:
    """Rewrite the header when it is stale; returns what was written."""
    header = header or HEADER
    changed = stale(header)
    if changed:
        header.write_text(verilog_header())
    return changed


def main(argv: list[str] | None = None) -> int:
    return generator_main(argv, "python -m hw.rtlgen.arch_header",
                          "Write hw/rtl/hardwire_arch.vh from hw/architecture.py", "hw/architecture.py",
                          stale, write)


if __name__ == "__main__":
    sys.exit(main())
