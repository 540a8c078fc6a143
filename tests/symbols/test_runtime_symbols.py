"""Kernel and user address symbolisation and C++ demangling, against live processes."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from bpftrace_compiler import elf_symbols as E
from bpftrace_loader import demangle as D
from bpftrace_loader import kallsyms as K
from bpftrace_loader import user_symbols as U

SAMPLE_KALLSYMS = b"""\
ffffffff81000000 T _stext
ffffffff81000100 t helper_a
ffffffff81000200 D some_data
ffffffff81000180 T helper_b
ffffffffc0001000 t mod_func\t[mymod]
0000000000000000 A fixed_percpu_data
"""


def test_kallsyms_sample():
    ks = K.KernelSymbols(SAMPLE_KALLSYMS)
    assert len(ks) == 4                                  # data and zero-address skipped
    assert ks.resolve(0xffffffff81000105) == ("helper_a", 5)
    assert ks.resolve(0xffffffff81000180) == ("helper_b", 0)
    assert ks.resolve(0xffffffff81000300) == ("helper_b", 0x180)     # data symbol ignored
    assert ks.resolve(0xffffffff80000000) is None
    assert ks.symbolize(0xffffffff80000000) == "0xffffffff80000000"
    assert ks.symbolize(0) == "0"
    assert ks.stack_frame(0xffffffff81000105) == "helper_a+5"
    assert ks.stack_frame(0xffffffff81000105, perf=True) == "ffffffff81000105 helper_a+5"
    assert ks.lookup("some_data") == 0xffffffff81000200 and ks.lookup("nope") is None
    assert ks.module(0xffffffffc0001010) == "mymod" and ks.module(0xffffffff81000101) == ""


@pytest.mark.root
def test_kallsyms_live_matches_proc():
    with open("/proc/kallsyms") as f:
        lines = [ln.split() for ln in f if " T vfs_read" in ln or " T schedule\n" in ln]
    addr = {parts[2]: int(parts[0], 16) for parts in lines}
    assert K.lookup("vfs_read") == addr["vfs_read"] != 0
    assert K.resolve(addr["vfs_read"] + 5) == ("vfs_read", 5)
    assert K.kstack_frame(addr["schedule"] + 9) == "schedule+9"
    assert K.ksym(addr["schedule"]) == "schedule"
    assert K.load() is K.load()


def test_demangle():
    assert D.demangle("_ZN3foo3barEi") == "foo::bar(int)"
    assert D.demangle("main") == "main"
    assert D.demangle("_Zgarbage!") == "_Zgarbage!"
    assert D.demangle_many(["_ZN1a1bEv", "plain"]) == ["a::b()", "plain"]
    if shutil.which("c++filt"):
        assert D._cxxfilt(["_ZN1a1bEv"]) == ["a::b()"]


@pytest.fixture
def running(plain_binaries, tmp_path):
    """A paused copy of the PIE test program, its pid and its path."""
    exe = tmp_path / "victim"
    shutil.copy(plain_binaries["pie"], exe)
    proc = subprocess.Popen([str(exe), "wait"], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        yield proc, pid, exe
    finally:
        proc.kill()
        proc.wait(timeout=10)
        U.forget(pid)


def _runtime_address(pid: int, exe, vaddr: int) -> int:
    elf = E.load_elf(str(exe))
    offset = elf.address_to_file_offset(vaddr)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == str(exe):
                start, end = (int(x, 16) for x in parts[0].split("-"))
                off = int(parts[2], 16)
                if off <= offset < off + (end - start):
                    return start + offset - off
    raise AssertionError("mapping not found")


def test_user_frames_of_pie_process(running):
    proc, pid, exe = running
    leaf = E.load_elf(str(exe)).find("leaf_function")
    addr = _runtime_address(pid, exe, leaf.address) + 3
    assert addr != leaf.address + 3                     # PIE: a load bias applies
    assert U.usym(addr, pid) == "leaf_function"
    assert U.ustack_frame(addr, pid) == "leaf_function+3"
    assert U.ustack_frame(addr, pid, perf_mode=True) == f"{addr:x} leaf_function+3 ({exe})"
    assert U.ustack_frame(0x10, pid) == "0x10"
    assert U.ustack_frame(0x10, pid, perf_mode=True) == "10 0x10 ([unknown])"


def test_exited_process_resolves_from_cache(running):
    proc, pid, exe = running
    main = E.load_elf(str(exe)).find("main")
    addr = _runtime_address(pid, exe, main.address) + 1
    U.remember(pid, preload=True)
    proc.kill()
    proc.wait(timeout=10)
    assert not os.path.exists(f"/proc/{pid}")
    assert U.ustack_frame(addr, pid) == "main+1"
    U.forget(pid)
    assert U.ustack_frame(addr, pid) == f"{addr:#x}"   # nothing cached: bpftrace's fallback


def test_deleted_binary_resolves_through_map_files(running):
    proc, pid, exe = running
    mid = E.load_elf(str(exe)).find("middle_function")
    addr = _runtime_address(pid, exe, mid.address) + 2
    os.unlink(exe)
    assert U.usym(addr, pid) == "middle_function"


def test_perf_map_for_jit_code(running):
    proc, pid, exe = running
    path = f"/tmp/perf-{pid}.map"
    try:
        with open(path, "w") as f:
            f.write("7f0000001000 100 jitted::hot_loop\n7f0000002000 20 LazyCompile:*foo\n")
        assert U.ustack_frame(0x7f0000001010, pid) == "jitted::hot_loop+16"
        assert U.ustack_frame(0x7f0000002004, pid, True) == \
            f"7f0000002004 LazyCompile:*foo+4 ({path})"
        assert U.usym(0x7f0000002040, pid) == "0x7f0000002040"
    finally:
        os.unlink(path)


def test_shared_library_in_this_process():
    import ctypes
    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    sym = U.resolve(addr, os.getpid())
    assert sym is not None and sym.offset == 0 and "getpid" in sym.name
    assert re.search(r"libc[.-]", sym.module)


def test_no_user_symbols_env(running, monkeypatch):
    proc, pid, exe = running
    main = E.load_elf(str(exe)).find("main")
    addr = _runtime_address(pid, exe, main.address)
    monkeypatch.setenv("BPFTRACE_NO_USER_SYMBOLS", "1")
    assert U.usym(addr, pid) == f"{addr:#x}"


def _bpftrace(program: str) -> str:
    r = subprocess.run(["bpftrace", "-e", program], capture_output=True, text=True, timeout=30)
    return r.stdout


@pytest.mark.root
@pytest.mark.bpftrace
def test_frames_match_reference_bpftrace(loop_binary):
    """Our frame text for the addresses bpftrace printed is byte-identical to bpftrace's."""
    proc = subprocess.Popen([str(loop_binary)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        out = _bpftrace(
            f"uprobe:{loop_binary}:leaf_function /pid == {pid}/ {{ @u[ustack(perf)] = count(); }}"
            f" tracepoint:syscalls:sys_enter_clock_nanosleep /pid == {pid}/ "
            f"{{ @k[kstack(perf)] = count(); }} interval:ms:400 {{ exit(); }}")
        frames = re.findall(r"^\t([0-9a-f]+) (.*)$", out, re.M)
        user = [(int(a, 16), text) for a, text in frames if "(" in text]
        kernel = [(int(a, 16), text) for a, text in frames if "(" not in text]
        assert len(user) >= 3 and kernel, out
        assert [U.ustack_frame(a, pid, perf_mode=True) for a, _ in user] == \
            [f"{a:x} {t}" for a, t in user]
        assert U.ustack_frame(user[0][0], pid) == "leaf_function+0"
        assert [K.kstack_frame(a, perf=True) for a, _ in kernel] == \
            [f"{a:x} {t}" for a, t in kernel]
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.root
@pytest.mark.bpftrace
def test_libc_alias_choice_matches_bpftrace(loop_binary):
    """Where several libc symbols share an address (malloc/__libc_malloc/__GI___libc_malloc)
    we name the frame exactly as bpftrace (bcc) does."""
    proc = subprocess.Popen([str(loop_binary)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        probes = ",".join(f"uprobe:libc:{f}" for f in ("malloc", "free", "getpid", "usleep"))
        out = _bpftrace(f"{probes} /pid == {pid}/ {{ @[ustack(perf, 1)] = count(); }} "
                        "interval:ms:300 { exit(); }")
        frames = [(int(a, 16), t) for a, t in re.findall(r"^\t([0-9a-f]+) (.*)$", out, re.M)]
        assert len(frames) == 4, out
        assert [U.ustack_frame(a, pid, perf_mode=True) for a, _ in frames] == \
            [f"{a:x} {t}" for a, t in frames]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_stdlib_sort_matches_sorted_keys():
    import random
    rng = random.Random(7)
    for n in (0, 1, 5, 16, 17, 100, 5000):
        items = [(rng.randrange(50), i) for i in range(n)]
        U.stdlib_sort(items)
        assert [k for k, _ in items] == sorted(k for k, _ in items)
        assert sorted(i for _, i in items) == list(range(n))      # a permutation
    worst = [(0, i) for i in range(3000)]                         # all keys equal
    U.stdlib_sort(worst)
    assert len(worst) == 3000


def test_stdlib_heap_sort_fallback_sorts():
    import random
    rng = random.Random(3)
    items = [(rng.randrange(1000), i) for i in range(777)]
    U._heap_sort(items, 0, len(items))
    assert [k for k, _ in items] == sorted(k for k, _ in items)


@pytest.mark.root
def test_process_in_another_mount_namespace(loop_binary, tmp_path):
    """-p into a container-like mount namespace: the target path exists only there, so
    resolution, uprobe offsets and stack symbols all go through /proc/PID/root."""
    from bpftrace_compiler import libraries as L
    if not shutil.which("unshare"):
        pytest.skip("util-linux unshare is not installed")
    hidden = f"/tmp/bt_ns_{os.getpid()}"
    script = (f"mkdir -p {hidden} && mount -t tmpfs none {hidden} && "
              f"cp {loop_binary} {hidden}/inside && exec {hidden}/inside")
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        target = f"{hidden}/inside"
        assert not os.path.exists(target)                     # invisible from here
        assert L.pid_in_different_mountns(pid)
        assert L.resolve_target(target, pid) == [target]
        site = L.uprobe_sites(target, "leaf_function", pid)[0]
        local = L.uprobe_sites(str(loop_binary), "leaf_function")[0]
        assert site.file_offset == local.file_offset
        leaf = E.load_elf(str(loop_binary)).find("leaf_function")
        with open(f"/proc/{pid}/maps") as f:
            maps = [ln.split() for ln in f if ln.rstrip().endswith(target)]
        start, off = next((int(m[0].split("-")[0], 16), int(m[2], 16)) for m in maps
                          if "x" in m[1])
        addr = start + E.load_elf(str(loop_binary)).address_to_file_offset(leaf.address) - off
        assert U.ustack_frame(addr + 2, pid, perf_mode=True) == \
            f"{addr + 2:x} leaf_function+2 ({target})"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        U.forget()
        if os.path.isdir(hidden):
            os.rmdir(hidden)
