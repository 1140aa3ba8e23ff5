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
    assert DSP_FIXED == {"ecp5": 60, "zynq7": 60, "zynqmp": 60}            # iCE40: multipliers in LUTs
