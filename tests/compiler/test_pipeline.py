"""compile_source() end to end: isolated LLVM emission, cheap import, and real runs."""
import subprocess
import sys
import time

import pytest

from bpftrace_compiler.diagnostics import CompileError
from bpftrace_compiler.pipeline import CompileOptions, compile_source


def test_isolated_emission_gives_the_same_object():
    src = 'BEGIN { @[comm] = count(); printf("%d\\n", 1); }'
    local = compile_source(src)
    isolated = compile_source(src, options=CompileOptions(isolated_emit=True))
    assert isolated.elf == local.elf


def test_dead_llvm_worker_becomes_a_compile_error():
    from bpftrace_compiler import llvm_worker
    # A helper call with 6 arguments makes the BPF backend call exit(): only the worker dies.
    fatal = ('target triple = "bpfel-unknown-none"\n'
             'define i64 @f(ptr %c) section "s" {\n  %p = inttoptr i64 1 to ptr\n'
             '  %r = call i64 %p(i64 1, i64 2, i64 3, i64 4, i64 5, i64 6)\n  ret i64 %r\n}\n')
    with pytest.raises(CompileError) as info:
        llvm_worker.run_in_worker(fatal)
    assert "LLVM failed" in str(info.value)
    # and the next request starts a fresh worker
    elf, _ = llvm_worker.run_in_worker('target triple = "bpfel-unknown-none"\n')
    assert elf[:4] == b"\x7fELF"


def test_importing_the_pipeline_does_not_load_llvm_or_lark():
    code = ("import sys, bpftrace_compiler.pipeline; "
            "print(any(m.startswith(('llvmlite', 'lark')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False"


def test_registry_documents_every_entry():
    from bpftrace_compiler.builtins import registry
    for name in ("pid", "comm", "printf", "count", "hist", "str", "kstack", "args"):
        doc = registry.documentation(name)
        assert doc and doc.split("\n")[0].startswith(name) or name in doc
    assert "printf" in registry.completions("pri")


def _run(src, seconds=1.0, params=()):
    from bpftrace_loader.session import Session
    prog = compile_source(src, params=params)
    events = []
    with Session(prog) as session:
        session.start()
        end = time.time() + seconds
        while time.time() < end and not any(type(e).__name__ == "Exit" for e in events):
            events.extend(session.poll(0.05))
        events.extend(session.stop())
        maps = {snap.name: snap.entries for snap in session.snapshot()}
    return events, maps


@pytest.mark.root
def test_begin_printf_and_maps_run_in_the_kernel():
    events, maps = _run('BEGIN { printf("hello %d %s\\n", 5, str($1)); @c = count(); @s[1, "a"] = sum(-3);'
                        ' @h = hist(100); @l = lhist(15, 0, 100, 10); @m = max(7); @a = avg(10);'
                        ' $i = 0; while ($i < 5) { $i++; if ($i == 2) { continue; } @w += $i; }'
                        ' @d = 7 / 0; @t = (1, "x"); exit(); }', params=("BPF",))
    printf = next(e for e in events if type(e).__name__ == "Printf")
    assert printf.args == (5, "BPF")
    assert maps["@c"] == [((), 1)]
    assert maps["@s"] == [((1, "a"), -3)]
    assert maps["@h"] == [((), {8: 1})]          # [64, 128)
    assert maps["@l"] == [((), {2: 1})]          # [10, 20)
    assert maps["@m"] == [((), 7)]
    assert maps["@w"] == [((), 1 + 3 + 4 + 5)]
    assert maps["@d"] == [((), 0)]
    assert maps["@t"] == [((), (1, "x"))]


@pytest.mark.root
def test_tracepoint_args_and_data_loc_strings():
    src = ('tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @[str(args->filename)] = count(); }'
           ' tracepoint:sched:sched_process_exec /comm == "cat"/ { @e[str(args->filename)] = count(); }')
    from bpftrace_loader.session import Session
    prog = compile_source(src)
    with Session(prog) as session:
        session.start()
        subprocess.run(["cat", "/etc/hostname"], capture_output=True, timeout=10)
        time.sleep(0.2)
        session.poll(0)
        maps = {snap.name: dict(snap.entries) for snap in session.snapshot()}
        session.stop()
    assert ("/etc/hostname",) in maps["@"]
    assert any(k[0].endswith("/cat") for k in maps["@e"])


BTF = "/sys/kernel/btf/vmlinux"


@pytest.mark.root
@pytest.mark.skipif(not __import__("os").path.exists(BTF), reason="kernel has no BTF")
def test_btf_struct_fields_through_pointers():
    events, _ = _run('BEGIN { $t = (struct task_struct *)curtask;'
                     ' printf("%d %d %s %d\\n", curtask->pid, pid, $t->comm, $t->real_parent->pid);'
                     ' exit(); }')
    printf = next(e for e in events if type(e).__name__ == "Printf")
    task_pid, pid, comm, parent = printf.args
    import os
    # BEGIN runs in this process (BPF_PROG_TEST_RUN), so the task is us
    assert task_pid == pid == os.getpid()
    assert comm == open("/proc/self/comm").read().strip()
    assert parent == os.getppid()


@pytest.mark.skipif(not __import__("os").path.exists(BTF), reason="kernel has no BTF")
def test_unknown_struct_in_a_cast_is_reported():
    with pytest.raises(CompileError) as info:
        compile_source("BEGIN { $x = (struct nosuch_struct *)1; }")
    assert "ERROR: Unknown struct/union: 'struct nosuch_struct'" in str(info.value)
