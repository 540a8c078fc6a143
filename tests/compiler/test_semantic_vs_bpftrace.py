"""Compile errors and warnings are byte-identical to the ones bpftrace 0.17 prints.

Each program is compiled by the real bpftrace (its stderr, minus the RLIMIT_MEMLOCK noise)
and by compile_source() (the CompileError text); the two must be equal.
"""
import subprocess

import pytest

from bpftrace_compiler.diagnostics import CompileError
from bpftrace_compiler.pipeline import CompileOptions, compile_source

PROGRAMS = [
    'BEGIN { @x = count(); @x = sum(5); }',
    'BEGIN { $x = count(); }',
    'BEGIN { printf("%s\\n", pid); }',
    'BEGIN { printf(pid); }',
    'BEGIN { print(1, 2); }',
    'BEGIN { @x = 1; print(@x, "a"); }',
    'BEGIN { clear(1); }',
    'BEGIN { exit(1); }',
    'BEGIN { str(1, 2, 3); }',
    'BEGIN { @x = hist(); }',
    'BEGIN { @x = sum("a"); }',
    'BEGIN { @x = lhist(1, 0, 10); }',
    'BEGIN { @x = "a"; @x++; }',
    'BEGIN { $x = (struct nosuch_struct *)1; }',
    # bpftrace 0.17 prints columns one further right after each `struct NAME` type
    'BEGIN { $t = (struct task_struct *)curtask; $u = (struct task_struct *)curtask;'
    ' if ($t->pid == pid) {} exit(); }',
    'BEGIN { $y = sizeof(struct task_struct); print(@x); }',
    'BEGIN { $y = sizeof(struct nosuch) + sizeof(struct nosuch2); }',
    'BEGIN { $t = (struct task_struct *)curtask; @a = 1; @a = "x"; }',
    'BEGIN { $x = -comm; }',
    'BEGIN { $x = *comm; }',
    'BEGIN { $x = comm[1]; }',
    'BEGIN { $x = pid.foo; }',
    'BEGIN { $x = 1; $x.1; }',
    'BEGIN { break; }',
    'BEGIN { $x = strncmp("a", 1, 1); }',
    'BEGIN { $x = ntop("a"); }',
    'BEGIN { time(1); }',
    'BEGIN { join("a"); }',
    'BEGIN { $x = kstack(1000000); }',
    'BEGIN { @x = (1, "a"); @x = (1, 2); }',
    'tracepoint:syscalls:sys_enter_openat { @x = retval; }',
    'interval:s:1 { @x = args->foo; }',
    'BEGIN { @x[1] = 1; print(@x[1]); }',
    'BEGIN { signal("FOO"); }',
    'interval:s:1 { signal(9); }',
    'BEGIN { @a[1] = 1; @a["a"] = 2; }',
    'BEGIN { $a = pid / -1; $v = -1; $g = $v == pid; $h = (uint64)5 % -2; exit(); }',
    'tracepoint:syscalls:nosuch* { exit(); }',
    'software:nosuch:1 { exit(); }',
    'BEGIN { printf("[%+d] [%i]\\n", 42); }',
    'BEGIN { $x = ($b); }',
    'BEGIN { printf("%d\\n",$b); }',
    'BEGIN { @c = count(); if (@c > 1) { exit(); } }',
    'BEGIN { @x = count(); $y = (1 + (@x > 1)); }',
    'BEGIN { @s = stats(1); print(@s, 1, 2); exit(); }',
    'BEGIN { $a = pid == $1; exit(); }',
]


def bpftrace_errors(src):
    out = subprocess.run(["bpftrace", "-e", src], capture_output=True, text=True, timeout=30)
    return "".join(l + "\n" for l in out.stderr.splitlines() if "RLIMIT_MEMLOCK" not in l)


def our_errors(src):
    try:
        prog = compile_source(src, options=CompileOptions())
    except CompileError as exc:
        return str(exc)
    return prog.warnings


@pytest.mark.root
@pytest.mark.bpftrace
def test_errors_and_warnings_match_bpftrace():
    mismatches = {src: (our_errors(src), bpftrace_errors(src)) for src in PROGRAMS}
    mismatches = {k: v for k, v in mismatches.items() if v[0] != v[1]}
    assert mismatches == {}
