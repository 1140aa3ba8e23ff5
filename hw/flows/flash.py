"""`make flash BOARD=...`: put a board's last bitstream on the board.

    ECP5 (ULX3S):  openFPGALoader --board ulx3s BIT           (SRAM; --write-flash: the SPI flash)
    iCE40 (iCEBreaker): openFPGALoader --board ice40_generic BIN  (always the SPI flash)
    Zynq (PYNQ-Z2, KV260): copy hardwire.bit + hardwire.hwh + hardwire.hardwire.json + tokenizer.bin
                     (what `hardwire build` and the Vivado run write in the build folder) to the board (scp)
                     and open them with the driver there: open_device("pynq:hardwire.bit")
                     (docs/boards.md); printed, not run.

The command is printed before it runs; without openFPGALoader on PATH the
step fails with the install command instead.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from hw.boards import get_board
from hw.errors import HardwireError
from hw.flows.vivado import OUTPUT

REPO_ROOT = Path(__file__).resolve().parents[2]
LOADER = "openFPGALoader"
INSTALL = ("install openFPGALoader: `sudo apt install openfpgaloader` (Debian/Ubuntu), "
           "`brew install openfpgaloader` (macOS), or build it from https://github.com/trabucayre/openFPGALoader")


class FlashError(HardwireError):
    """The bitstream or the programmer is missing."""


def bitstream_path(board_name: str, folder: Path | None = None) -> Path:
    board = get_board(board_name)
    folder = folder or REPO_ROOT / "bitstreams" / board.name
    return folder / f"{board.name}{board.backend.bitstream_ext}"


def flash_command(board_name: str, bitstream: Path, to_flash: bool = False) -> list[str]:
    """The openFPGALoader command line for an ECP5 / iCE40 board."""
    board = get_board(board_name)
    args = board.backend.flash_args(to_flash)
    if args is not None:
        return [LOADER, *args, str(bitstream)]
    raise FlashError(f"{board.name} is a Zynq board: copy hardwire.bit, hardwire.hwh and "
                     "hardwire.hardwire.json to it (see docs/boards.md)")


def pynq_steps(board_name: str, folder: Path) -> str:
    """What to type to load a Zynq build (hw/flows/vivado.py: hardwire.bit + .hwh + .hardwire.json)."""
    board = get_board(board_name)
    user, host = ("xilinx", "pynq") if board.name == "pynq-z2" else ("ubuntu", "kria")
    bits = sorted(folder.glob("*.bit")) if folder.is_dir() else []
    stem = bits[0].stem if bits else OUTPUT           # hw/flows/vivado.py writes hardwire.bit + .hwh
    where = os.path.relpath(folder, Path.cwd()) if bits else f"build/boards/{board.name}-..."
    return "\n".join([
        f"{board.name} is loaded by the pynq driver on the board itself (`hardwire build` writes "
        f"{stem}.hardwire.json and tokenizer.bin into the build folder, the Vivado run {stem}.bit and "
        f"{stem}.hwh beside them: bitstreams/{board.name}/README.md):",
        f"  scp {where}/{stem}.bit {where}/{stem}.hwh {where}/{stem}.hardwire.json {where}/tokenizer.bin "
        f"{user}@{host}:hardwire/",
        f"  scp -r host {user}@{host}:hardwire/     # the driver package (numpy, pyserial, pynq)",
        f"  ssh {user}@{host}, then on the board, in hardwire/ (as root, as pynq needs):",
        "    python3 -c \"from host.device import open_device; d = open_device('pynq:"
        f"{stem}.bit'); print(d.info().describe())\"",
        "  open_device loads the Overlay (.bit + .hwh) and checks the identity block against "
        f"{stem}.hardwire.json before any token is generated",
    ])


def flash(board_name: str, bitstream: Path | None = None, to_flash: bool = False, dry_run: bool = False,
          out=None) -> int:
    out = out or sys.stdout
    board = get_board(board_name)
    folder = REPO_ROOT / "bitstreams" / board.name
    if not board.open_flow:
        print(pynq_steps(board.name, folder), file=out)
        return 0
    bit = Path(bitstream) if bitstream else bitstream_path(board.name)
    if not bit.is_file():
        raise FlashError(f"{bit}: no bitstream; build it first with `make bitstream BOARD={board.name}`")
    cmd = flash_command(board.name, bit, to_flash)
    print(" ".join(shlex.quote(c) for c in cmd), file=out)
    if dry_run:
        return 0
    if shutil.which(LOADER) is None:
        raise FlashError(f"{LOADER} is not on PATH; {INSTALL}; then run the command above "
                         "with the board plugged in")
    return subprocess.run(cmd).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.flows.flash", description=__doc__.splitlines()[0])
    ap.add_argument("--board", required=True)
    ap.add_argument("--bitstream", type=Path, help="default: bitstreams/BOARD/BOARD.bit|.bin")
    ap.add_argument("--write-flash", action="store_true", help="ECP5: write the SPI flash, not SRAM")
    ap.add_argument("--dry-run", action="store_true", help="print the command only")
    args = ap.parse_args(argv)
    try:
        return flash(args.board, args.bitstream, args.write_flash, args.dry_run)
    except HardwireError as exc:
        print(f"make flash: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
