"""Loader tests import their hand-made BPF programs from bpfprog.py next to this file, and
get tiny C programs to put uprobes and USDT probes on."""
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


# A USDT probe written out as <sys/sdt.h> expands STAP_PROBE (that header may be missing).
USDT_SOURCE = r"""
#define USDT(prov, name) __asm__ __volatile__ ("990: nop\n" \
  ".pushsection .note.stapsdt,\"?\",\"note\"\n.balign 4\n" \
  ".4byte 992f-991f, 994f-993f, 3\n991: .asciz \"stapsdt\"\n992: .balign 4\n" \
  "993: .8byte 990b\n.8byte _.stapsdt.base\n.8byte 0\n" \
  ".asciz \"" prov "\"\n.asciz \"" name "\"\n.asciz \"\"\n994: .balign 4\n.popsection\n" \
  ".ifndef _.stapsdt.base\n" \
  ".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
  ".weak _.stapsdt.base\n.hidden _.stapsdt.base\n_.stapsdt.base: .space 1\n" \
  ".size _.stapsdt.base, 1\n.popsection\n.endif\n")
int main(void) { USDT("myprov", "start"); USDT("myprov", "done"); USDT("other", "tick"); return 0; }
"""


def _build(tmp_path_factory, name: str, source: str) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp(name)
    (d / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-O1", "-o", str(d / name), str(d / f"{name}.c")], check=True,
                   timeout=60)
    return str(d / name)


@pytest.fixture(scope="session")
def usdt_target(tmp_path_factory) -> str:
    """Path of a binary with USDT probes myprov:start, myprov:done and other:tick."""
    return _build(tmp_path_factory, "usdt", USDT_SOURCE)


@pytest.fixture(scope="session")
def uprobe_target(tmp_path_factory) -> str:
    """Path of a binary with functions work_a (called argv[1] times) and work_b."""
    return _build(tmp_path_factory, "target", UPROBE_SOURCE)
