"""Types from BTF and from the program's own C definitions: struct navigation, casts, sizeof,
enumerators, #include'd header macros, and the Debian tools that need them (runqlat.bt,
tcpdrop.bt), run for real."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import both, pybpftrace

pytestmark = [pytest.mark.root]

DEFINITIONS = r"""
struct foo { int a; char b; long c; char name[16]; unsigned int f1 : 3, f2 : 5; };
union u { int i; char c[12]; };
enum color { RED, GREEN = 5, BLUE };
BEGIN {
  printf("%d %d %d %d\n", sizeof(struct foo), sizeof(union u), BLUE, RED);
  printf("%d %d\n", sizeof(struct task_struct), PIDTYPE_TGID);
  exit();
}
"""


def test_program_definitions_and_btf_sizes_match_bpftrace(need_bpftrace):
    ours, ref = both("-e", DEFINITIONS)
    assert ref.returncode == 0, ref.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout
    assert ours.stdout.splitlines()[1] == "40 12 6 0"


def test_offsetof_through_nested_members():
    out = pybpftrace("-e", "struct s { char a; struct { int x; long y; } in; }; "
                     "BEGIN { printf(\"%d %d\\n\", offsetof(struct s, in), "
                     "offsetof(struct task_struct, pid) > 0); exit(); }")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "8 1"


def test_curtask_parent_pid_and_casts():
    # BEGIN runs in pybpftrace's own task, whose parent is this test process
    out = pybpftrace("-e", 'BEGIN { printf("%d %s %d\\n", curtask->parent->pid, '
                     '((struct task_struct *)curtask)->comm, curtask->pid == tid); exit(); }')
    assert out.returncode == 0, out.stderr
    parent_pid, comm, same = out.stdout.splitlines()[1].split()
    assert int(parent_pid) == os.getpid()
    assert comm.startswith("python") or comm == "pybpftrace"
    assert same == "1"


def test_include_brings_header_macros_and_types_from_btf():
    out = pybpftrace("-e", "#include <linux/sched.h>\n#include <linux/socket.h>\n"
                     'BEGIN { printf("%d %d %d\\n", TASK_RUNNING, TASK_INTERRUPTIBLE, AF_INET6); '
                     'exit(); }')
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "0 1 10"


def test_unknown_struct_is_a_located_error():
    out = pybpftrace("-e", "BEGIN { printf(\"%d\\n\", ((struct no_such_thing *)0)->x); }")
    assert out.returncode == 1
    assert "ERROR: Unknown struct/union: 'struct no_such_thing'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.skipif(not Path("/usr/sbin/runqlat.bt").exists(), reason="bpftrace tools missing")
def test_runqlat_tool_runs():
    out = pybpftrace("/usr/sbin/runqlat.bt", "-c", "sleep 0.3", timeout=90)
    assert out.returncode == 0, out.stderr
    assert "Tracing CPU scheduler... Hit Ctrl-C to end." in out.stdout
    assert "@usecs: \n[" in out.stdout           # a latency histogram in microseconds


@pytest.mark.skipif(not Path("/usr/sbin/tcpdrop.bt").exists(), reason="bpftrace tools missing")
def test_tcpdrop_tool_compiles_and_runs():
    out = pybpftrace("/usr/sbin/tcpdrop.bt", "-c", "sleep 0.2", timeout=90)
    assert out.returncode == 0, out.stderr
    assert "TIME     PID      COMM             SADDR:SPORT" in out.stdout
