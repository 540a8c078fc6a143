"""Builtins and functions, checked against what the running process knows about itself.

BEGIN programs run in this process (BPF_PROG_TEST_RUN), so pid, tid, uid, gid, comm and the
cgroup are ours; the registry documents every entry the notebook completes.
"""
import os
import time

import pytest

from bpftrace_compiler.builtins import registry
from bpftrace_compiler.diagnostics import CompileError
from bpftrace_compiler.pipeline import compile_source


def run_begin(src, params=()):
    from bpftrace_loader.session import Session
    prog = compile_source(src, params=params)
    out = []
    with Session(prog) as session:
        session.start()
        deadline = time.time() + 5
        while time.time() < deadline and not any(type(e).__name__ == "Exit" for e in out):
            out.extend(session.poll(0.05))
        session.stop()
    return [e.args for e in out if type(e).__name__ == "Printf"]


@pytest.mark.root
def test_task_builtins_describe_this_process():
    (args,) = run_begin('BEGIN { printf("%d %d %d %d %s %d %s\\n", pid, tid, uid, gid, comm, '
                        'cpu, username); exit(); }')
    pid, tid, uid, gid, comm, cpu, username = args
    assert (pid, tid, uid, gid) == (os.getpid(), __import__("threading").get_native_id(),
                                    os.getuid(), os.getgid())
    assert comm == open("/proc/self/comm").read().strip()
    assert 0 <= cpu < os.cpu_count()
    assert username == __import__("pwd").getpwuid(os.getuid()).pw_name


@pytest.mark.root
def test_clock_random_and_cgroup_builtins():
    before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    (args,) = run_begin('BEGIN { printf("%lu %lu %lu %lu\\n", nsecs, rand, rand, cgroup); '
                        'exit(); }')
    after = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    nsecs, r1, r2, cgroup = args
    assert before <= nsecs <= after
    assert 0 <= r1 < 2 ** 32 and 0 <= r2 < 2 ** 32
    path = "/sys/fs/cgroup" + open("/proc/self/cgroup").read().strip().split("::", 1)[-1]
    assert cgroup == os.stat(path).st_ino


@pytest.mark.root
def test_strings_tuples_and_positional_parameters():
    (args,) = run_begin('BEGIN { $t = (7, "seven"); $s = str($1); '
                        'printf("%s %d %s %d %d %s\\n", $s, $2 + 1, $t.1, $t.0, $#, str($3)); '
                        'exit(); }', params=("word", "41"))
    assert args == ("word", 42, "seven", 7, 2, "")


def test_registry_lists_builtins_and_functions_with_docs():
    for name in ("pid", "tid", "uid", "gid", "username", "cpu", "comm", "nsecs", "elapsed",
                 "curtask", "cgroup", "rand", "probe", "args", "arg0", "arg5", "retval", "func",
                 "kstack", "ustack"):
        assert name in registry.BUILTINS, name
    for name in ("str", "printf", "print", "exit", "count", "sum", "avg", "min", "max", "stats",
                 "hist", "lhist", "delete", "clear", "zero", "time", "strftime", "join", "ntop",
                 "cgroupid", "strncmp", "system", "cat", "signal", "ksym", "usym", "kstack"):
        assert name in registry.FUNCTIONS, name
    for entry in list(registry.BUILTINS.values()) + list(registry.FUNCTIONS.values()):
        assert entry.signature and entry.doc.strip(), entry.name
        assert entry.check is not None and (entry.lower or entry.lower_assign), entry.name
    assert registry.FUNCTIONS["system"].unsafe and registry.FUNCTIONS["signal"].unsafe
    assert registry.BUILTINS["retval"].probes != registry.ANY_PROBE
    assert "Needs --unsafe" in registry.documentation("system")


@pytest.mark.parametrize("src,message", [
    ('BEGIN { @x = count(); @x = sum(5); }', "Type mismatch for @x"),
    ('BEGIN { printf("%d\\n", comm); }', "%d specifier expects a value of type integer"),
    ('BEGIN { $x = ksym("a"); }', "ksym() expects an integer argument"),
    ('BEGIN { @x = lhist(1, 0, 10, 0); }', "lhist() step must be >= 1"),
    ('BEGIN { $x = strftime("%H", "a"); }', "strftime() expects an integer"),
    ('BEGIN { $x = cpid; }', "cpid cannot be used without child command"),
])
def test_function_argument_errors(src, message):
    with pytest.raises(CompileError) as info:
        compile_source(src)
    assert message in str(info.value)
