"""Semantic errors print exactly like bpftrace 0.17 (messages captured from the real binary)."""
import textwrap

import pytest

from bpftrace_compiler.diagnostics import CompileError
from bpftrace_compiler.passes.semantic import analyse
from bpftrace_compiler.pipeline import CompileOptions, compile_source
from bpftrace_compiler.tracepoints import StaticKernelInfo

OPENAT = """name: sys_enter_openat
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
"""

KERNEL = StaticKernelInfo({"syscalls:sys_enter_openat": OPENAT})


def error_of(src, **opts):
    with pytest.raises(CompileError) as info:
        compile_source(src, options=CompileOptions(kernel=KERNEL, **opts))
    return str(info.value)


CASES = [
    ('BEGIN { foo(1); }', "stdin:1:9-12: ERROR: Unknown function: foo\nBEGIN { foo(1); }\n        ~~~\n"),
    ('BEGIN { @x = 1; @x = "str"; }',
     "stdin:1:17-19: ERROR: Type mismatch for @x: trying to assign value of type 'string[4]' when map "
     "already contains a value of type 'int64\nBEGIN { @x = 1; @x = \"str\"; }\n                ~~\n"),
    ('BEGIN { print(@nosuch); }',
     "stdin:1:9-22: ERROR: Undefined map: @nosuch\nBEGIN { print(@nosuch); }\n        ~~~~~~~~~~~~~\n"),
    ('BEGIN { @a[1] = 1; @a["a"] = 2; }',
     "stdin:1:20-27: ERROR: Argument mismatch for @a: trying to access with arguments: [string[2]] when "
     "map expects arguments: [unsigned int64]\nBEGIN { @a[1] = 1; @a[\"a\"] = 2; }\n"
     "                   ~~~~~~~\n"),
    ('BEGIN { @x[1,"a"] = 1; @x[1] = 1; }',
     "stdin:1:24-29: ERROR: Argument mismatch for @x: trying to access with arguments: [unsigned int64] "
     "when map expects arguments: [unsigned int64, string[2]]\n"
     "BEGIN { @x[1,\"a\"] = 1; @x[1] = 1; }\n                       ~~~~~\n"),
    ('BEGIN { printf("%d\\n", "a"); }',
     "stdin:1:9-28: ERROR: printf: %d specifier expects a value of type integer (string supplied)\n"
     "BEGIN { printf(\"%d\\n\", \"a\"); }\n        ~~~~~~~~~~~~~~~~~~~\n"),
    ('BEGIN { printf("%d %d\\n", 1); }',
     "stdin:1:9-29: ERROR: printf: Not enough arguments for format string (1 supplied, 2 expected)\n"
     "BEGIN { printf(\"%d %d\\n\", 1); }\n        ~~~~~~~~~~~~~~~~~~~~\n"),
    ('BEGIN { printf("%d\\n", 1, 2); }',
     "stdin:1:9-29: ERROR: printf: Too many arguments for format string (2 supplied, 1 expected)\n"
     "BEGIN { printf(\"%d\\n\", 1, 2); }\n        ~~~~~~~~~~~~~~~~~~~~\n"),
    ('BEGIN { printf("%d\\n", count()); }',
     "stdin:1:24-31: ERROR: count() should be directly assigned to a map\n"
     "BEGIN { printf(\"%d\\n\", count()); }\n                       ~~~~~~~\n"),
    ('BEGIN { @x = count(); $y = @x > 1; }',
     "stdin:1:28-34: ERROR: Type mismatch for '>': comparing 'count' with 'int64'\n"
     "BEGIN { @x = count(); $y = @x > 1; }\n                           ~~~~~~\n"),
    ('BEGIN { clear(@nosuch); zero(@n2); }',
     "stdin:1:9-22: ERROR: Undefined map: @nosuch\nBEGIN { clear(@nosuch); zero(@n2); }\n"
     "        ~~~~~~~~~~~~~\nstdin:1:25-33: ERROR: Undefined map: @n2\n"
     "BEGIN { clear(@nosuch); zero(@n2); }\n                        ~~~~~~~~\n"),
    ('BEGIN { $x = 1 ? 1 : "a"; }',
     "stdin:1:14-25: ERROR: Ternary operator must return the same type: have 'integer' and 'string'\n"
     "BEGIN { $x = 1 ? 1 : \"a\"; }\n             ~~~~~~~~~~~\n"),
    ('BEGIN { unroll(101) { } }',
     "stdin:1:9-20: ERROR: unroll maximum value is 100\nBEGIN { unroll(101) { } }\n        ~~~~~~~~~~~\n"),
    ('BEGIN { system("ls"); }',
     "stdin:1:9-21: ERROR: system() is an unsafe function being used in safe mode\n"
     "BEGIN { system(\"ls\"); }\n        ~~~~~~~~~~~~\n"),
    ('BEGIN { printf("%d\\n", $b); }',
     "stdin:1:24-26: ERROR: Undefined or undeclared variable: $b\n"
     "BEGIN { printf(\"%d\\n\", $b); }\n                       ~~\n"),
    ('BEGIN { @x = arg0; }',
     "stdin:1:14-18: ERROR: The arg0 builtin can only be used with 'kprobes', 'uprobes' and 'usdt' "
     "probes\nBEGIN { @x = arg0; }\n             ~~~~\n"),
    ('BEGIN { @x = func; }',
     "stdin:1:14-18: ERROR: The func builtin can not be used with 'BEGIN' probes\n"
     "BEGIN { @x = func; }\n             ~~~~\n"),
    ('BEGIN { @a[(1,2)] = 1; }',
     "stdin:1:9-18: ERROR: tuple cannot be used as a map key. Try a multi-key associative array instead "
     "(eg `@map[$1, $2] = ...)`.\nBEGIN { @a[(1,2)] = 1; }\n        ~~~~~~~~~\n"),
    ('tracepoint:nosuch:event { exit(); }',
     "stdin:1:1-24: ERROR: tracepoint not found: nosuch:event\ntracepoint:nosuch:event { exit(); }\n"
     "~~~~~~~~~~~~~~~~~~~~~~~\n"),
    ('tracepoint:syscalls:sys_enter_openat { @x = args->nosuch; }',
     "stdin:1:45-57: ERROR: Struct/union of type 'struct _tracepoint_syscalls_sys_enter_openat' does not "
     "contain a field named 'nosuch'\ntracepoint:syscalls:sys_enter_openat { @x = args->nosuch; }\n"
     "                                            ~~~~~~~~~~~~\n"),
    ('BEGIN { $x = (1,2); $y = $x.5; }',
     "stdin:1:26-30: ERROR: Invalid tuple index: 5. Found 2 elements in tuple.\n"
     "BEGIN { $x = (1,2); $y = $x.5; }\n                         ~~~~\n"
     "stdin:1:24-25: ERROR: Undefined variable: $y\n"
     "BEGIN { $x = (1,2); $y = $x.5; }\n                       ~\n"
     "stdin:1:26-30: ERROR: Invalid expression for assignment: none\n"
     "BEGIN { $x = (1,2); $y = $x.5; }\n                         ~~~~\n"),
]


@pytest.mark.parametrize("src,expected", CASES, ids=[c[0] for c in CASES])
def test_error_text_matches_bpftrace(src, expected):
    assert error_of(src) == expected


def test_unsafe_flag_allows_system():
    prog = compile_source('BEGIN { system("ls %d", 1); }',
                          options=CompileOptions(kernel=KERNEL, unsafe=True))
    (action,) = prog.actions
    assert action.kind == "system" and action.fmt == "ls %d" and action.offsets == (8,)


def test_strlen_over_200_is_refused():
    message = error_of("BEGIN { exit(); }", strlen=300)
    assert message.startswith("ERROR: 'BPFTRACE_STRLEN' 300 exceeds the current maximum of 200 bytes.\n")


def test_max_probes_limit():
    kernel = StaticKernelInfo({f"syscalls:sys_enter_x{i}": OPENAT for i in range(6)})
    with pytest.raises(CompileError) as info:
        compile_source("tracepoint:syscalls:sys_enter_* { exit(); }",
                       options=CompileOptions(kernel=kernel, max_probes=3))
    assert str(info.value).startswith(
        "ERROR: Can't attach to 6 probes because it exceeds the current limit of 3 probes.\n")


def test_map_read_before_assignment_in_a_later_probe_is_fine():
    prog = compile_source("BEGIN { printf(\"%d\\n\", @x); } END { @x = 5; }",
                          options=CompileOptions(kernel=KERNEL))
    assert prog.map("@x").value_type.kind.value == "int"


def test_several_errors_are_all_reported():
    message = error_of("BEGIN { foo(); bar(); }")
    assert "Unknown function: foo" in message and "Unknown function: bar" in message
