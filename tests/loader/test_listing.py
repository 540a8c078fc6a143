"""-l / -lv output: a fake tracefs for the format, and bpftrace 0.17 itself for fidelity."""
import subprocess

import pytest

from bpftrace_loader.listing import list_probes

FORMAT = """name: sys_enter_openat
ID: 700
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:32;\tsize:4;\tsigned:0;
\tfield:char comm[16];\toffset:36;\tsize:16;\tsigned:0;

print fmt: "..."
"""


@pytest.fixture
def tracefs(tmp_path):
    events = ["syscalls:sys_enter_openat", "syscalls:sys_exit_openat", "sched:sched_switch"]
    (tmp_path / "available_events").write_text("\n".join(reversed(events)) + "\n")
    for ev in events:
        cat, name = ev.split(":")
        d = tmp_path / "events" / cat / name
        d.mkdir(parents=True)
        (d / "format").write_text(FORMAT)
    return str(tmp_path)


def test_tracepoints_sorted_and_filtered(tracefs):
    assert list_probes("tracepoint:syscalls:*", tracefs=tracefs) == (
        "tracepoint:syscalls:sys_enter_openat\ntracepoint:syscalls:sys_exit_openat\n")
    assert list_probes("t:*:sched_*", tracefs=tracefs) == "tracepoint:sched:sched_switch\n"


def test_verbose_lists_fields_without_common_ones(tracefs):
    assert list_probes("tracepoint:syscalls:sys_enter_openat", verbose=True, tracefs=tracefs) == (
        "tracepoint:syscalls:sys_enter_openat\n"
        "    int __syscall_nr\n"
        "    const char * filename\n"
        "    __data_loc char[] name\n"
        "    char comm[16]\n")


def test_everything_and_the_software_hardware_quirk(tracefs):
    text = list_probes("", tracefs=tracefs)
    assert text.splitlines()[:4] == ["hardware:*:", "iter:task", "iter:task_file", "software:*:"]
    assert list_probes("software:cpu*", tracefs=tracefs) == "software:cpu*:\n"
    assert list_probes("*switch*", tracefs=tracefs) == (
        "hardware:*switch*:\nsoftware:*switch*:\ntracepoint:sched:sched_switch\n")


def test_a_bare_word_is_searched_everywhere(tracefs):
    assert list_probes("sched_switch", tracefs=tracefs) == list_probes("*sched_switch*",
                                                                        tracefs=tracefs)


def test_uprobe_functions_of_a_binary(uprobe_target):
    assert list_probes(f"uprobe:{uprobe_target}:work*") == (
        f"uprobe:{uprobe_target}:work_a\nuprobe:{uprobe_target}:work_b\n")


def test_usdt_probes_of_a_binary(usdt_target):
    assert list_probes(f"usdt:{usdt_target}:*") == (
        f"usdt:{usdt_target}:myprov:done\nusdt:{usdt_target}:myprov:start\n"
        f"usdt:{usdt_target}:other:tick\n")
    assert list_probes(f"U:{usdt_target}:st*") == f"usdt:{usdt_target}:myprov:start\n"
    assert list_probes(f"usdt:{usdt_target}:other:tick") == f"usdt:{usdt_target}:other:tick\n"
    assert list_probes(f"usdt:{usdt_target}:nothing:here") == ""


@pytest.mark.root
@pytest.mark.bpftrace
@pytest.mark.parametrize("suffix", [":*", ":st*", ":other:tick", ":nothing:here"])
def test_usdt_listing_as_bpftrace(usdt_target, suffix):
    pattern = f"usdt:{usdt_target}{suffix}"
    ref = subprocess.run(["bpftrace", "-l", pattern], capture_output=True, text=True,
                         timeout=30).stdout
    assert list_probes(pattern) == ref


@pytest.mark.root
@pytest.mark.bpftrace
@pytest.mark.parametrize("pattern, verbose", [
    ("", False), ("tracepoint:sched:*", False), ("*sched_process*", True),
    ("tracepoint:syscalls:sys_enter_open*", True), ("h:*", False), ("iter:*", False),
])
def test_same_output_as_bpftrace(pattern, verbose):
    args = ["bpftrace", "-lv" if verbose else "-l"] + ([pattern] if pattern else [])
    ref = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
    assert list_probes(pattern, verbose=verbose) == ref
