"""The workload programs build and do what the conformance and benchmark suites rely on."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from . import build

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def run(*ops: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(build.binary("cfwork")), *ops], capture_output=True, text=True, timeout=30)


def test_builds_static_binaries_with_symbols():
    for path in build.build_all():
        assert path.is_file()
    with open(build.binary("cfwork"), "rb") as f:
        elf = ELFFile(f)
        assert not any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())  # static
        symbols = elf.get_section_by_name(".symtab")
        assert symbols.get_symbol_by_name("cf_work")      # the uprobe target
        assert elf.get_section_by_name(".debug_info")     # -g, for ustack symbolization


def test_rebuild_only_when_stale():
    path = build.binary("cfwork")
    before = path.stat().st_mtime_ns
    assert build.binary("cfwork").stat().st_mtime_ns == before


def test_operations_run_and_timestamps_are_monotonic():
    out = run("N:cfwtest", "D", "r:10", "z:4", "e:3", "w:8", "o:/etc/hostname", "P:2", "G:1", "u:2",
              "f:2", "K:3", "Z:5", "O:2", "R:10:0", "D", "q")
    assert out.returncode == 0, out.stderr
    stamps = [float(x) for x in out.stderr.split()]
    assert len(stamps) == 2 and stamps[1] >= stamps[0]


def test_unknown_operation_is_an_error():
    out = run("y:1")
    assert out.returncode == 2 and "unknown operation y:1" in out.stderr


def test_exec_operation_runs_the_child(tmp_path):
    marker = tmp_path / "ran"
    out = run(f"x:/bin/sh:-c,touch {marker}", "q")
    assert out.returncode == 0 and marker.exists()
