"""hw/architecture.py is the one table of the matrices a token walks: the layout, the golden
model's LoRA targets, the RTL header and the host's LoRA shapes all follow it."""
from __future__ import annotations

import pytest

from host import registers as host_regs
from hw import architecture as arch
from hw.golden import LORA_TARGETS
from hw.model import ModelConfig
from hw.rtlgen import arch_header
from hw.rtlgen.fixture import random_int_model
from hw.rtlgen.layout import matrix_order, rom_layout

CFG = ModelConfig(dim=24, hidden_dim=44, n_layers=2, n_heads=3, n_kv_heads=1, vocab_size=37, seq_len=16)


def test_the_header_is_what_the_table_gives():
    assert not arch_header.stale(), "hw/rtl/hardwire_arch.vh is stale; run `make regmap`"
    text = arch_header.HEADER.read_text()
    for i, m in enumerate(arch.MATRICES):
        assert f"localparam [TAG_W-1:0] T_{m.name.upper()}" in text and f"= 3'd{i};" in text
    # hw_core takes its tags and shapes from the header, not from a copy of its own
    core = (arch_header.HEADER.parent / "hw_core.v").read_text()
    assert '`include "hardwire_arch.vh"' in core
    assert "T_WQ =" not in core and "function [31:0] mat_rows" not in core


def test_a_stale_header_is_found(tmp_path):
    stale = tmp_path / "hardwire_arch.vh"
    stale.write_text(arch_header.verilog_header().replace("3'd7", "3'd6"))
    assert arch_header.stale(stale) == [stale]
    assert arch_header.write(stale) == [stale] and arch_header.stale(stale) == []


def test_layout_and_golden_walk_the_table():
    assert LORA_TARGETS == arch.LAYER_MATRICES
    m = random_int_model(0)
    order = matrix_order(m)
    assert [n for n, _, _ in order] == [x.name for x in arch.LAYER] * m.config.n_layers + ["wcls"]
    for name, _, w in order:
        assert w.shape == arch.matrix(name).shape(m.config)
    lay = rom_layout(m, 5, 3)
    assert [s.bits for s in lay.slots] == [m.knobs["bits"][arch.MATRIX_CLASS[s.name]] for s in lay.slots]


@pytest.mark.parametrize("target", arch.LAYER_MATRICES)
def test_host_lora_shapes_equal_the_table(target):
    """host/registers.py keeps its own shapes (the driver installs without hw/): held equal here."""
    ident = host_regs.Identity(fingerprint="0" * 64, gen_version=0, dim=CFG.dim, hidden=CFG.hidden_dim,
                               layers=CFG.n_layers, heads=CFG.n_heads, kv_heads=CFG.n_kv_heads,
                               vocab=CFG.vocab_size, context=CFG.seq_len, lanes=1, vpl=1)
    assert ident.kv_dim == CFG.kv_dim
    assert host_regs.lora_shape(ident, target) == arch.layer_shapes(CFG)[target]
    assert host_regs.LORA_TARGET_NAMES == arch.LAYER_MATRICES


def test_tags_and_classes():
    assert arch.tag("wq") == 0 and arch.tag("wcls") == len(arch.MATRICES) - 1
    assert arch.WEIGHT_CLASSES == ("attention", "mlp", "classifier")
    with pytest.raises(KeyError):
        arch.matrix("w4")


def test_make_regmap_checks_the_header(capsys, monkeypatch, tmp_path):
    assert arch_header.main(["--check"]) == 0
    stale = tmp_path / "hw" / "rtl" / "hardwire_arch.vh"
    stale.parent.mkdir(parents=True)
    stale.write_text("// edited by hand\n")
    monkeypatch.setattr(arch_header, "HEADER", stale)
    monkeypatch.setattr("hw.rtlgen.generated.REPO_ROOT", tmp_path)
    assert arch_header.main(["--check"]) == 1
    assert "hw/rtl/hardwire_arch.vh differs from hw/architecture.py; run `make regmap`" in capsys.readouterr().err
