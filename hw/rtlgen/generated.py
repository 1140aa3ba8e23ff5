"""The command line of a generated, checked-in file (`make regmap`): rewrite it, or `--check` it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[2]


def generator_main(argv: list[str] | None, prog: str, description: str, source: str,
                   stale: Callable[[], list[Path]], write: Callable[[], list[Path]]) -> int:
    """`prog [--check]`: write the stale files (naming them), or with --check only name them (exit 1)."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale()
        for p in bad:
            print(f"{p.relative_to(REPO_ROOT)} differs from {source}; run `make regmap`", file=sys.stderr)
        return 1 if bad else 0
    for p in write():
        print(f"wrote {p.relative_to(REPO_ROOT)}")
    return 0
