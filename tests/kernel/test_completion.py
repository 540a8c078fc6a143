"""Completion, inspection and is_complete (pure functions over the cell text)."""
from __future__ import annotations

import pytest

from bpftrace_kernel import completion as c


class FakeCatalog(c.ProbeCatalog):
    tracepoints = {"sched": ["sched_switch", "sched_wakeup"], "syscalls": ["sys_enter_openat"]}

    def listing(self, pattern, verbose):
        return f"{pattern}\n    int __syscall_nr\n" if verbose else f"{pattern}\n"


CAT = FakeCatalog()


def complete(code, cursor=None):
    return c.complete(code, len(code) if cursor is None else cursor, CAT)


def test_providers_and_special_probes():
    assert complete("kpro") == (["kprobe:"], 0, 4)
    assert complete("inter")[0] == ["interval:"]
    assert complete("BE")[0] == ["BEGIN"]


def test_tracepoint_levels_keep_the_typed_alias():
    assert complete("tracepoint:s")[0] == ["tracepoint:sched:", "tracepoint:syscalls:"]
    assert complete("t:sched:sched_w") == (["t:sched:sched_wakeup"], 0, 15)
    assert complete("rawtracepoint:sched_s")[0] == ["rawtracepoint:sched_switch"]
    assert "interval:ms:" in complete("interval:")[0]
    assert "software:page-faults:" in complete("software:page")[0]


def test_second_probe_in_a_list_completes_from_its_own_start():
    code = "BEGIN, tracepoint:sys"
    matches, start, end = complete(code)
    assert matches == ["tracepoint:syscalls:"] and start == code.index("tracepoint")


def test_inside_blocks_maps_variables_and_builtins():
    code = "BEGIN { @reads = count(); $val = 1; } END { print(@re"
    matches, start, end = complete(code)
    assert matches == ["@reads"] and code[start:end] == "@re"
    assert complete("BEGIN { $val = 1; $v")[0] == ["$val"]
    names = complete("BEGIN { prin")[0]
    assert "printf" in names and "print" in names
    assert all(n.startswith("prin") for n in names)


def test_magic_completion():
    assert complete("%%tr")[0] == ["%%trace"]
    assert complete("%pro")[0] == ["%probes"]
    assert complete("%%trace --dur")[0] == ["--duration"]


def test_real_tracefs_catalog_when_mounted():
    real = c.ProbeCatalog()
    if not real.tracepoints:
        pytest.skip("tracefs is not mounted")
    assert "tracepoint:syscalls:" in c.complete("tracepoint:sysc", 15, real)[0]


def test_inspect_builtin_function_probe_and_magic():
    code = 'BEGIN { printf("%d\\n", pid); }'
    doc = c.inspect(code, code.index("printf") + 2, CAT)
    assert doc is not None and doc.text.startswith("printf(")
    doc = c.inspect(code, code.index("pid") + 1, CAT)
    assert doc is not None and "pid" in doc.text
    doc = c.inspect("tracepoint:syscalls:sys_enter_openat { }", 5, CAT)
    assert "__syscall_nr" in doc.text
    assert "--duration" in c.inspect("%%trace -d 1", 3, CAT).text
    assert c.inspect("BEGIN { nosuchthing }", 10, CAT) is None


@pytest.mark.parametrize("code, status", [
    ("BEGIN { exit(); }", "complete"),
    ("tracepoint:syscalls:sys_enter_read {", "incomplete"),
    ("BEGIN { printf(\"}\"", "incomplete"),
    ("BEGIN { printf(\"abc", "incomplete"),
    ("BEGIN { /* a } comment", "incomplete"),
    ("}", "invalid"),
    ("BEGIN { (] }", "invalid"),
    ("%%trace -d 1", "incomplete"),
    ("%help", "complete"),
    ("// just a comment {", "complete"),
])
def test_is_complete(code, status):
    assert c.is_complete(code)[0] == status


def test_is_complete_indents_per_open_block():
    assert c.is_complete("BEGIN { if (1) {") == ("incomplete", "        ")


def test_completion_types_for_frontend_icons():
    assert c.kind_of("tracepoint:sched:") == "path" and c.kind_of("BEGIN") == "path"
    assert c.kind_of("@reads") == "instance" and c.kind_of("$x") == "param"
    assert c.kind_of("%%trace") == "magic" and c.kind_of("while") == "keyword"
    assert c.kind_of("printf") == "function" and c.kind_of("pid") == "instance"
