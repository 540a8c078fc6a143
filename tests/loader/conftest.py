"""Loader tests import their hand-made BPF programs from bpfprog.py next to this file, and
get a tiny C program to put uprobes on."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

UPROBE_SOURCE = r"""
#include <stdlib.h>
__attribute__((noinline)) int work_a(int x) { return x * 3; }
__attribute__((noinline)) int work_b(int x) { return x + 1; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1, s = 0;
    for (int i = 0; i < n; i++) s += work_a(i);
    return work_b(s) == 0;
}
"""


@pytest.fixture(scope="session")
def uprobe_target(tmp_path_factory) -> str:
    """Path of a binary with functions work_a (called argv[1] times) and work_b."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("uprobe")
    (d / "target.c").write_text(UPROBE_SOURCE)
    subprocess.run(["gcc", "-O1", "-o", str(d / "target"), str(d / "target.c")], check=True,
                   timeout=60)
    return str(d / "target")
