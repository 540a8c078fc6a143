"""tracefs format parsing and tracepoint wildcard matching (no root needed)."""
from bpftrace_compiler.tracepoints import StaticKernelInfo, match_tracepoints, parse_format
from bpftrace_compiler.types import Kind

OPENAT = """name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;
"""

EXEC = """name: sched_process_exec
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;
\tfield:u8 addr[4];\toffset:32;\tsize:4;\tsigned:0;
"""


def test_syscall_fields_offsets_and_user_pointers():
    fields, record = parse_format(OPENAT, "syscalls", "sys_enter_openat")
    by_name = {f.name: f for f in fields}
    assert record.name == "struct _tracepoint_syscalls_sys_enter_openat"
    assert by_name["filename"].offset == 24
    assert by_name["filename"].type.kind == Kind.POINTER and by_name["filename"].type.user_ptr
    # `int` widened to 8 bytes by the kernel stays signed (bpftrace calls it int64)
    assert by_name["dfd"].type.size == 8 and by_name["dfd"].type.signed
    assert by_name["mode"].type.signed is False
    assert by_name["common_pid"].type.size == 4


def test_data_loc_char_arrays_and_int_arrays():
    fields, record = parse_format(EXEC, "sched", "sched_process_exec")
    by_name = {f.name: f for f in fields}
    assert by_name["filename"].data_loc and by_name["filename"].type.kind == Kind.POINTER
    assert not by_name["filename"].type.user_ptr
    assert by_name["comm"].type.kind == Kind.STRING and by_name["comm"].type.size == 16
    assert by_name["addr"].type.kind == Kind.ARRAY and by_name["addr"].type.size == 4
    assert record.size == 36


def test_wildcards_match_category_and_event():
    info = StaticKernelInfo({"syscalls:sys_enter_openat": OPENAT, "syscalls:sys_enter_open": OPENAT,
                             "syscalls:sys_exit_open": OPENAT, "sched:sched_process_exec": EXEC})
    assert match_tracepoints(info, "syscalls", "sys_enter_open*") == [
        ("syscalls", "sys_enter_openat"), ("syscalls", "sys_enter_open")]
    assert match_tracepoints(info, "s*", "*exec") == [("sched", "sched_process_exec")]
    assert match_tracepoints(info, "nosuch", "event") == []
