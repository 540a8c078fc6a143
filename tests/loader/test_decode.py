"""Decoding record, key and value bytes into the values of loader/values.py."""
import os
import struct
import time

import pytest

from bpftrace_compiler.artifact import ActionSpec, CompiledProgram, MapSpec
from bpftrace_compiler.types import (Field, Int, Kind, SizedType, Simple, Str, TupleOf, UInt,
                                     struct_layout)

from bpftrace_loader import events as ev
from bpftrace_loader.decode import Decoder, MapAction, strftime_text
from bpftrace_loader import kallsyms
from bpftrace_loader.values import Stack, Stats

PROGRAM = CompiledProgram(elf=b"", probes=(), maps=(), actions=(),
                          probe_names=("BEGIN", "tracepoint:syscalls:sys_enter_read"),
                          strftime_formats=("%Y-%m-%d %H:%M:%S.%f", "%%f %H"))


@pytest.fixture
def d():
    return Decoder(PROGRAM)


def u64(*v):
    return struct.pack(f"<{len(v)}Q", *v)


@pytest.mark.parametrize("t, raw, value", [
    (Int(8), b"\xff", -1),
    (UInt(8), b"\xff", 255),
    (Int(16), struct.pack("<h", -300), -300),
    (UInt(32), struct.pack("<I", 4000000000), 4000000000),
    (Int(64), struct.pack("<q", -5000000000), -5000000000),
    (Str(8), b"abc\0junk", "abc"),
    (Str(4), b"full", "full"),
    (Str(6), b"\xff\xfeok\0\0", "\udcff\udcfeok"),
    (SizedType(Kind.BUFFER, 12), struct.pack("<I", 3) + b"a\x01bzzzzz", b"a\x01b"),
    (Simple(Kind.USERNAME), u64(0), "root"),
    (Simple(Kind.PROBE), u64(1), "tracepoint:syscalls:sys_enter_read"),
    (Simple(Kind.STRERROR), u64(2), os.strerror(2)),
    (Simple(Kind.KSYM), u64(0), "0"),
    (SizedType(Kind.INET, 24), struct.pack("<q", 2) + bytes([127, 0, 0, 1]) + bytes(12), "127.0.0.1"),
    (SizedType(Kind.INET, 24), struct.pack("<q", 10) + bytes(15) + b"\x01", "::1"),
    (SizedType(Kind.MACADDR, 6), bytes([0, 0x1b, 0x2c, 0xaa, 0xbb, 0xff]), "00:1B:2C:AA:BB:FF"),
    (SizedType(Kind.POINTER, 8), u64(4096), 4096),
])
def test_scalar_types(d, t, raw, value):
    assert d.value(t, raw) == value


def test_tuple_uses_c_layout(d):
    t = TupleOf([Int(8), Int(64), Str(3), UInt(16)])
    offs, size = struct_layout(list(t.elems))
    assert offs == [0, 8, 16, 20] and size == 24
    raw = struct.pack("<b7xq3sxH2x", -2, 7, b"hi\0", 65535)
    assert d.value(t, raw) == (-2, 7, "hi", 65535)


def test_nested_tuple_and_array(d):
    inner = TupleOf([Int(32), Int(32)])
    t = TupleOf([inner, Str(4)])
    assert d.value(t, struct.pack("<ii4s", 1, -2, b"ab\0\0")) == ((1, -2), "ab")
    arr = SizedType(Kind.ARRAY, 12, elems=(Int(32),))
    assert d.value(arr, struct.pack("<3i", 1, 2, 3)) == (1, 2, 3)


def test_record_with_bitfield(d):
    t = SizedType(Kind.RECORD, 8, name="struct s", fields=(
        Field("a", Int(32), 0), Field("b", UInt(32), 4, bitfield=(3, 4))))
    assert d.value(t, struct.pack("<iI", -7, 0b1011000)) == {"a": -7, "b": 0b1011}


def test_ksym_resolves_through_kallsyms(d):
    addr = kallsyms.lookup("vfs_read")
    if addr is None:
        pytest.skip("vfs_read is not in /proc/kallsyms")
    assert d.value(Simple(Kind.KSYM), u64(addr + 3)) == "vfs_read"


def test_strftime_with_microseconds(d):
    boot_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    text = d.value(SizedType(Kind.TIMESTAMP, 16), u64(0, boot_ns))
    wall = time.time()
    assert time.strftime("%Y-%m-%d %H:", time.localtime(wall)) in text or \
        abs(time.mktime(time.strptime(text[:19], "%Y-%m-%d %H:%M:%S")) - wall) < 5
    assert len(text.split(".")[-1]) == 6 and text.split(".")[-1].isdigit()
    assert strftime_text("%%f %H", boot_ns).startswith("%f ")


def test_stack_frames_are_read_through_the_stack_map():
    addr = kallsyms.lookup("vfs_read")
    calls = []

    def read_stack(t, stack_id):
        calls.append((t.kind, stack_id))
        return [addr + 16, addr + 1, 0, 0]

    d = Decoder(PROGRAM, read_stack)
    t = SizedType(Kind.KSTACK, 8, params=(127, 0))
    stack = d.value(t, u64(5 | (1234 << 32)))
    assert stack == Stack(("vfs_read+16", "vfs_read+1"))
    assert calls == [(Kind.KSTACK, 5)]
    perf = d.value(SizedType(Kind.KSTACK, 8, params=(127, 1)), u64(5))
    assert perf.perf_mode and perf.frames[0] == f"{addr + 16:x} vfs_read+16"
    # a failed bpf_get_stackid (negative id) is an empty stack, not a lookup
    assert d.value(t, u64((1 << 32) - 14)) == Stack(())
    assert len(calls) == 2


def test_printf_record(d):
    a = ActionSpec(3, "printf", fmt="%d %s\n", args=(Int(32), Str(4)), offsets=(8, 12),
                   record_size=16)
    dec = Decoder(CompiledProgram(elf=b"", probes=(), maps=(), actions=(a,)))
    out = dec.record(u64(3) + struct.pack("<i4s", -9, b"ok\0\0"))
    assert out == ev.Printf(a, (-9, "ok"))
    assert dec.record(u64(99)) is None


def test_action_kinds():
    acts = (ActionSpec(0, "exit"), ActionSpec(1, "exit", args=(Int(64),), offsets=(8,), record_size=16),
            ActionSpec(2, "clear", map_name="@x"), ActionSpec(3, "print_map", map_name="@x", top=2),
            ActionSpec(4, "join", args=(SizedType(Kind.ARRAY, 12, elems=(Str(4),)),), offsets=(8,),
                       record_size=24),
            ActionSpec(5, "time", fmt="%H\n"),
            ActionSpec(6, "print_value", args=(TupleOf([Int(64), Str(4)]),), offsets=(8,),
                       record_size=24))
    dec = Decoder(CompiledProgram(elf=b"", probes=(), maps=(), actions=acts))
    assert dec.record(u64(0)) == ev.Exit(0)
    assert dec.record(u64(1, 3)) == ev.Exit(3)
    assert dec.record(u64(2)) == MapAction("clear", acts[2])
    assert dec.record(u64(3)) == MapAction("print_map", acts[3])
    assert dec.record(u64(4) + b"ls\0\0-l\0\0\0\0\0\0").parts == ("ls", "-l")
    assert dec.record(u64(5)) == ev.Time(acts[5])
    assert dec.record(u64(6, 7) + b"abc\0" + bytes(4)).value == (7, "abc")


def spec(name, key_type, value_type, bucketed=False):
    key_size = key_type.size if key_type else 8
    return MapSpec(name, "percpu_hash", key_size + (8 if bucketed else 0), 8, 64,
                   key_type=key_type, value_type=value_type, bucketed=bucketed)


def test_map_snapshot_counts_and_keys(d):
    s = spec("@k", TupleOf([Int(64), Str(8)]), Simple(Kind.COUNT))
    items = [(struct.pack("<q8s", 1, b"a"), u64(2, 3)), (struct.pack("<q8s", -1, b"bb"), u64(1, 0))]
    snap = d.map_snapshot(s, items, 2)
    assert snap.name == "@k" and not snap.keyless
    assert sorted(snap.entries) == [((-1, "bb"), 1), ((1, "a"), 5)]


def test_map_snapshot_keyless_and_stats(d):
    s = spec("@s", None, Simple(Kind.STATS, 16, signed=True))
    item = (u64(0), struct.pack("<qQqQ", 10, 2, -40, 1))
    snap = d.map_snapshot(s, [item], 2)
    assert snap.keyless and snap.entries == [((), Stats(3, -30))]
    assert snap.entries[0][1].average == -10


def test_map_snapshot_hist_groups_buckets_per_key(d):
    s = spec("@h", Str(4), Simple(Kind.HIST, params=(0,)), bucketed=True)
    items = [(b"ab\0\0" + bytes(4) + u64(3), u64(1, 1)),
             (b"ab\0\0" + bytes(4) + u64(5), u64(4, 0)),
             (b"ab\0\0" + bytes(4) + u64(6), u64(0, 0)),     # zero buckets are omitted
             (b"cd\0\0" + bytes(4) + u64(0), u64(0, 7))]
    snap = d.map_snapshot(s, items, 2)
    assert sorted(snap.entries) == [(("ab",), {3: 2, 5: 4}), (("cd",), {0: 7})]


def test_plain_values_and_generic_keys(d):
    s = MapSpec("@v", "hash", 8, 8, 64, key_type=Simple(Kind.PROBE), value_type=Str(8))
    snap = d.map_snapshot(s, [(u64(0), b"hi\0\0\0\0\0\0")])
    assert snap.entries == [(("BEGIN",), "hi")]


def test_keyless_hist_bucket_is_the_whole_key(d):
    s = MapSpec("@h", "percpu_hash", 8, 8, 64, value_type=Simple(Kind.LHIST, params=(0, 100, 10)),
                bucketed=True)
    snap = d.map_snapshot(s, [(u64(2), u64(1, 1)), (u64(11), u64(0, 3))], 2)
    assert snap.entries == [((), {2: 2, 11: 3})]


def test_equal_kernel_stacks_merge_into_one_entry():
    d = Decoder(PROGRAM, lambda t, i: [] if i == 9 else None)
    kt = SizedType(Kind.KSTACK, 8, params=(127, 0))
    s = MapSpec("@", "percpu_hash", 8, 8, 64, key_type=kt, value_type=Simple(Kind.COUNT))
    # two processes whose samples had no kernel stack (-EFAULT), and one real empty stack
    items = [(u64(((1 << 32) - 14) | (10 << 32)), u64(2, 0)),
             (u64(((1 << 32) - 14) | (11 << 32)), u64(0, 3)),
             (u64(9 | (12 << 32)), u64(1, 0))]
    snap = d.map_snapshot(s, items, 2)
    assert snap.entries == [((Stack(()),), 6)]
    s_max = MapSpec("@m", "percpu_hash", 8, 16, 64, key_type=kt,
                    value_type=Simple(Kind.MAX, signed=True))
    items = [(u64(1 << 32 | 9), struct.pack("<qQ", 5, 1)), (u64(2 << 32 | 9), struct.pack("<qQ", 7, 1))]
    assert d.map_snapshot(s_max, items, 1).entries == [((Stack(()),), 7)]


def test_usym_of_a_function_in_this_process(d):
    import ctypes
    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    # glibc has aliases (getpid, __getpid): the symboliser picks one as bcc does
    assert d.value(SizedType(Kind.USYM, 16), u64(addr, os.getpid())).endswith("getpid")
    assert d.value(SizedType(Kind.USYM, 16), u64(8, os.getpid())) == "0x8"


def test_cgroup_path_of_the_root_cgroup(d):
    """Every mounted hierarchy holds the root cgroup (id 1), the v2 one ("unified") first."""
    with open("/proc/self/mounts") as f:
        fstypes = [line.split()[2] for line in f]
    hierarchies = fstypes.count("cgroup") + min(1, fstypes.count("cgroup2"))
    parts = d.value(Simple(Kind.CGROUP_PATH), u64(1)).split(",") if hierarchies else []
    assert len(parts) == hierarchies and all(p.endswith(":/") for p in parts)
    if "cgroup2" in fstypes:
        assert parts[0] == "unified:/"
