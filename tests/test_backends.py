"""hw/backends: every board's family has a backend, and every open-flow backend is complete."""
import pytest

from hw.backends import FAMILIES, UnknownFamily, family, open_flow_families
from hw.boards import BOARDS, DSP_FIXED, LUT_CAL


def test_every_board_family_has_a_backend():
    assert {b.family for b in BOARDS.values()} <= set(FAMILIES)
    assert all(b.backend is FAMILIES[b.family] for b in BOARDS.values())
    with pytest.raises(UnknownFamily, match="unknown FPGA family 'gowin'; hw/backends knows ecp5, ice40"):
        family("gowin")


@pytest.mark.parametrize("fam", open_flow_families(), ids=lambda f: f.name)
def test_open_flow_backends_name_their_tools(fam):
    """The open flow runs the family's nextpnr from its YoWASP tools (hw/tools.py runs those)."""
    assert fam.nextpnr in fam.yowasp_tools and fam.packer
    assert fam.synth_command in fam.synth_script("board_top") and "-top board_top" in fam.synth_script("board_top")
    assert fam.native_env.startswith("HARDWIRE_NEXTPNR_") and "luts" in fam.utilisation_cells
    assert fam.flash_args(False)[0] == "--board"


def test_fit_check_reads_the_backends_factors():
    """The fit check's tables are the backends' numbers, one source (hw/boards.py derives them)."""
    assert LUT_CAL == {name: f.fit.lut for name, f in FAMILIES.items()}
    assert DSP_FIXED == {"ecp5": 61, "zynq7": 59, "zynqmp": 57}            # iCE40: multipliers in LUTs


def test_ecp5_freq_target_overrides_the_lpf_clock(tmp_path):
    """`--freq` must reach nextpnr: it derives the design clock's constraint from the oscillator
    port's and the PLL's dividers, and that wins over --freq (a constraint on the PLL's output net
    is ignored: Yosys renames that net). So the port's frequency is scaled by target / clock: at a
    30 MHz design clock from the 25 MHz oscillator, a 40 MHz target constrains the port to 33.33."""
    from hw.errors import HardwireError
    from hw.flows.open_flow import constraints_file

    board = BOARDS["ulx3s-85f"]
    base = constraints_file(board)
    assert 'FREQUENCY PORT "clk" 25 MHZ;' in base.read_text()
    out = family("ecp5").constraints_at(base, tmp_path, 40.0, 30.0)
    text = out.read_text()
    assert 'FREQUENCY PORT "clk" 33.3333 MHZ;' in text and "25 MHZ" not in text
    assert text.replace('33.3333 MHZ', '25 MHZ').endswith(base.read_text())
    assert family("ice40").constraints_at(base, tmp_path, 75.0, 25.0) == base   # its --freq is enough
    bare = tmp_path / "bare.lpf"
    bare.write_text('LOCATE COMP "clk" SITE "G2";\n')
    with pytest.raises(HardwireError, match="no FREQUENCY PORT line"):
        family("ecp5").constraints_at(bare, tmp_path, 40.0, 30.0)
