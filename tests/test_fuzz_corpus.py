"""The committed fuzz corpus (tests/fuzz_corpus/<format>/, grown by `make fuzz`) replayed through
every loader of its format: each input loads or is refused with the loader's own error, within
the memory bound of testbench/fuzz/targets.py (FLOOR + 4x the file)."""
from __future__ import annotations

import tracemalloc

import pytest

from testbench.fuzz import mutators
from testbench.fuzz.targets import TARGETS, Workspace, corpus_dir, run_case

CASES = [(name, path) for name in TARGETS for path in sorted(corpus_dir(name).glob("*"))]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tracemalloc.start()
    yield Workspace.create(tmp_path_factory.mktemp("fuzz"))
    tracemalloc.stop()


def test_corpus_is_committed_for_every_format():
    for name in TARGETS:
        files = list(corpus_dir(name).glob("*"))
        assert len(files) >= 5, f"tests/fuzz_corpus/{corpus_dir(name).name} has {len(files)} inputs; " \
                                "run `make fuzz` (it refreshes the corpus)"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seed_loads(workspace, name):
    fmt = corpus_dir(name).name
    for data in workspace.seeds()[fmt]:
        assert run_case(workspace, TARGETS[name], data) == "loaded"


def test_replay_corpus(workspace):
    outcomes: dict[str, set[str]] = {}
    for name, path in CASES:
        outcomes.setdefault(name, set()).add(run_case(workspace, TARGETS[name], path.read_bytes()))
    for name, seen in outcomes.items():   # the corpus holds refusals, not only clean files
        assert seen - {"loaded"}, f"{name}: every corpus input loaded; the corpus lost its bad inputs"


@pytest.mark.parametrize("fmt", sorted(mutators.FORMATS))
def test_mutators_change_the_input_and_respect_max_size(workspace, fmt):
    seed = workspace.seeds()[fmt][0]
    outs = {mutators.mutate(fmt, seed, 4096, s) for s in range(40)}
    assert all(len(o) <= 4096 for o in outs)
    assert len(outs) > 20, f"{fmt}: the mutator repeats itself"


def test_run_case_flags_escapes_and_memory(workspace):
    from testbench.fuzz.targets import LoaderEscape, MemoryBlowup, Target

    def escape(ws, path):
        raise TypeError("boom")

    def hog(ws, path):
        blob = bytearray(4 << 20)   # noqa: F841 - 4 MiB on a 3-byte input
    with pytest.raises(LoaderEscape, match="TypeError escaped: boom"):
        run_case(workspace, Target("x", "x.bin", escape, (ValueError,)), b"abc")
    with pytest.raises(MemoryBlowup, match="on a 3-byte input"):
        run_case(workspace, Target("x", "x.bin", hog, (ValueError,)), b"abc")
