"""Real-kernel tests of the loader: maps, program loading, attaching, the ring buffer, and
that nothing of ours stays loaded afterwards."""
from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import time

import pytest

from bpftrace_compiler.artifact import ActionSpec, AttachTarget, MapSpec, ProbeSpec
from bpftrace_compiler.types import UInt

from bpftrace_loader import events as ev
from bpftrace_loader.errors import AttachError, LoadError, VerifierError
from bpftrace_loader.maps import BpfMap, possible_cpus
from bpftrace_loader.session import Session

from bpfprog import (COUNT, EVENTS, GET_CURRENT_PID_TGID, LOST, begin,
                     count_into, emit_record, emit_records_counting_lost, end, function,
                     printf_action, probe, program)

pytestmark = pytest.mark.root


def loaded_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         timeout=20, check=True).stdout
    return {p["id"] for p in json.loads(out)}


def assert_unloaded(ids: list[int], within: float = 3.0) -> None:
    """Programs are freed after an RCU grace period: allow a moment."""
    deadline = time.monotonic() + within
    while (left := set(ids) & loaded_prog_ids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"programs still loaded: {left}"


def count_map(name="@c", map_type="percpu_hash", entries=128):
    return MapSpec(name, map_type, 8, 8, entries, key_type=UInt(64), value_type=COUNT,
                   symbol="AT_" + name[1:])


def counting(section: str, target: AttachTarget, prog_type: str, key: str = "1"):
    cm = count_map()
    return program([function(section, count_into("AT_c", key))],
                   [probe(section, prog_type, target)], [EVENTS, LOST, cm])


def run_for(session: Session, seconds: float) -> list:
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.extend(session.poll(0.05))
    return out


def total(snapshot) -> int:
    return sum(v for _, v in snapshot.entries)


# ------------------------------------------------------------------ maps
def test_hash_map_round_trip():
    m = BpfMap.create(MapSpec("@rt", "hash", 8, 16, 8))
    try:
        k = struct.pack("<Q", 5)
        assert m.lookup(k) is None
        m.update(k, b"a" * 16)
        assert m.lookup(k) == b"a" * 16
        assert list(m.keys()) == [k]
        assert m.items() == [(k, b"a" * 16)]
        m.zero()
        assert m.lookup(k) == bytes(16)
        assert m.delete(k) and not m.delete(k)
        assert m.items() == []
    finally:
        m.close()


def test_percpu_map_values_have_one_slot_per_possible_cpu():
    m = BpfMap.create(MapSpec("@pc", "percpu_hash", 4, 8, 8))
    try:
        n = possible_cpus()
        m.update(b"\1\0\0\0", b"".join(struct.pack("<Q", i + 1) for i in range(n)))
        (key, raw), = m.items()
        assert [struct.unpack("<Q", s)[0] for s in m.per_cpu(raw)] == list(range(1, n + 1))
        m.clear()
        assert m.items() == []
    finally:
        m.close()


def test_batch_read_of_100k_keys_matches_a_key_walk():
    n = 100_000
    m = BpfMap.create(MapSpec("@big", "hash", 8, 8, n))
    try:
        for i in range(n):
            m.update(struct.pack("<Q", i), struct.pack("<Q", i * 3))
        t0 = time.monotonic()
        items = m.items()
        batch_secs = time.monotonic() - t0
        assert len(items) == n
        assert {struct.unpack("<Q", k)[0]: struct.unpack("<Q", v)[0] for k, v in items} == \
            {i: i * 3 for i in range(n)}
        assert sorted(m._items_walk()) == sorted(items)
        assert batch_secs < 2.0
    finally:
        m.close()


def test_array_map_clear_zeroes():
    m = BpfMap.create(MapSpec("@arr", "percpu_array", 4, 8, 1))
    try:
        m.update(bytes(4), struct.pack("<Q", 9) * possible_cpus())
        m.clear()
        assert m.items() == [(bytes(4), bytes(8 * possible_cpus()))]
    finally:
        m.close()


# ------------------------------------------------------------------ BEGIN / END / exit
def begin_end_program():
    cm = count_map()
    acts = [printf_action(0, "v=%d\n", [UInt(64)], [8], 16), ActionSpec(1, "exit"),
            ActionSpec(2, "print_map", map_name="@c"), ActionSpec(3, "clear", map_name="@c")]
    body = "\n".join([count_into("AT_c", "7", "cnt"), emit_record([0, 42], "a"),
                      emit_record([2], "b"), emit_record([3], "c"), emit_record([2], "d"),
                      emit_record([1], "e"), emit_record([0, 43], "f")])
    return program([function("s_BEGIN_1", body), function("s_END_1", emit_record([0, 99]))],
                   [begin(), end()], [EVENTS, LOST, cm], acts)


def test_begin_runs_once_and_events_come_in_order_until_exit():
    p = begin_end_program()
    with Session(p) as s:
        s.start()
        assert s.attached == 2
        events = s.poll(1.0)
        kinds = [type(e).__name__ for e in events]
        assert kinds == ["Printf", "PrintMap", "PrintMap", "Exit"]
        assert events[0].args == (42,)
        assert events[1].snapshot.entries == [((7,), 1)]      # print before the clear
        assert events[2].snapshot.entries == []                # clear executed in order
        # the printf after exit() is dropped
        assert s.poll(0.05) == []
        end_events = s.stop()
        assert [e.args for e in end_events if isinstance(e, ev.Printf)] == [(99,)]
        assert s.stop() == []
        ids = list(s.prog_ids)
    assert_unloaded(ids)


def test_fileno_is_readable_when_begin_output_is_pending():
    import select
    with Session(begin_end_program()) as s:
        s.start()
        r, _, _ = select.select([s.fileno()], [], [], 1.0)
        assert r == [s.fileno()]


def test_lost_events_are_reported():
    small_events = MapSpec("events", "ringbuf", 0, 0, 4096, internal=True, role="events",
                           symbol="__bt_events")
    body = emit_records_counting_lost([0] + [7] * 31, 39)
    p = program([function("s_BEGIN_1", body)], [begin()], [small_events, LOST],
                [printf_action(0, "%d\n", [UInt(64)], [8], 256)])
    with Session(p) as s:
        s.start()
        events = s.poll(0.5)
        lost = [e.count for e in events if isinstance(e, ev.Lost)]
        printed = [e for e in events if isinstance(e, ev.Printf)]
        assert len(printed) + sum(lost) == 40
        assert lost and s.lost == sum(lost)
        assert len(printed) == 4096 // (256 + 8)


# ------------------------------------------------------------------ attach
def test_tracepoint_events_arrive_through_the_ring_buffer():
    body = f"""  %pt = inttoptr i64 {GET_CURRENT_PID_TGID} to ptr
  %pidtgid = call i64 %pt()
  %pid = lshr i64 %pidtgid, 32
""" + emit_record([0, "%pid"], "r")
    tp = AttachTarget("tracepoint", "syscalls", "sys_enter_getppid",
                      name="tracepoint:syscalls:sys_enter_getppid")
    p = program([function("s_tp", body)], [probe("s_tp", "tracepoint", tp)], [EVENTS, LOST],
                [printf_action(0, "%d\n", [UInt(64)], [8], 16)])
    with Session(p) as s:
        s.start()
        assert s.attached == 1
        for _ in range(50):
            os.getppid()
        events = run_for(s, 0.3)
        mine = [e for e in events if e.args == (os.getpid(),)]
        assert len(mine) == 50
        after = s.stop()
        ids = list(s.prog_ids)
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 1.0
    assert_unloaded(ids)
    assert not [e for e in after if isinstance(e, ev.Printf) and e.args == (os.getpid(),)]


def test_interval_fires_once_per_period():
    p = counting("s_int", AttachTarget("interval", "ms", freq=20, name="interval:ms:20"),
                 "perf_event")
    with Session(p) as s:
        s.start()
        time.sleep(0.5)
        n = total(s.snapshot()[0])
    assert 10 <= n <= 30


def test_profile_samples_busy_cpus():
    p = counting("s_prof", AttachTarget("profile", "hz", freq=199, name="profile:hz:199"),
                 "perf_event")
    with Session(p) as s:
        s.start()
        assert s.attached == 1
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            pass
        n = total(s.snapshot()[0])
    assert n >= 10


def test_software_event_with_default_period():
    p = counting("s_sw", AttachTarget("software", "page-faults", freq=1,
                                      name="software:page-faults:1"), "perf_event")
    with Session(p) as s:
        s.start()
        import mmap
        with mmap.mmap(-1, 64 * 4096) as fresh:      # new pages: every first write faults
            for i in range(0, len(fresh), 4096):
                fresh[i] = 1
        n = total(s.snapshot()[0])
    assert n >= 64


def test_hardware_probe_error_is_clear():
    p = counting("s_hw", AttachTarget("hardware", "cycles", name="hardware:cycles"),
                 "perf_event")
    s = Session(p)
    with pytest.raises(AttachError) as info:
        s.start()
    assert str(info.value) == ("hardware:cycles: this machine has no hardware performance "
                               "counters (perf_event_open: No such file or directory)")
    assert_unloaded(s.prog_ids)
    s.close()


def test_kprobe_error_is_clear_and_nothing_stays_loaded():
    kp = AttachTarget("kprobe", "", "vfs_read", name="kprobe:vfs_read")
    p = program([function("s_BEGIN_1", ""), function("s_kp", "")],
                [begin(), probe("s_kp", "kprobe", kp)], [EVENTS, LOST])
    s = Session(p)
    with pytest.raises(AttachError) as info:
        s.start()
    assert str(info.value) == ("kprobe:vfs_read: this kernel has no kprobes (CONFIG_KPROBES is "
                               "off); use a tracepoint such as tracepoint:syscalls:sys_enter_read "
                               "instead")
    assert len(s.prog_ids) == 2
    assert_unloaded(s.prog_ids)
    s.close()


def test_missing_tracepoint_is_an_attach_error():
    tp = AttachTarget("tracepoint", "nosuch", "event", name="tracepoint:nosuch:event")
    p = program([function("s_tp", "")], [probe("s_tp", "tracepoint", tp)], [EVENTS, LOST])
    with pytest.raises(AttachError, match="tracepoint:nosuch:event"):
        Session(p).start()


def test_verifier_rejection_is_readable():
    cm = count_map()
    body = """  %k = alloca i64, align 8
  store i64 0, ptr %k
  %look = inttoptr i64 1 to ptr
  %v = call ptr %look(ptr @"AT_c", ptr %k)
  %old = load volatile i64, ptr %v"""
    p = program([function("s_BEGIN_1", body)], [begin()], [EVENTS, LOST, cm])
    s = Session(p)
    with pytest.raises(VerifierError) as info:
        s.start()
    err = info.value
    assert err.probe == "BEGIN"
    assert "map_value_or_null" in err.log
    text = str(err)
    assert text.startswith("Error loading program: BEGIN (the BPF verifier rejected it: "
                           "Permission denied)")
    assert text.splitlines()[1] == "R0 invalid mem access 'map_value_or_null'"
    assert len(text.splitlines()) <= 16
    s.close()


def test_close_without_stop_releases_everything():
    tp = AttachTarget("tracepoint", "syscalls", "sys_enter_getppid",
                      name="tracepoint:syscalls:sys_enter_getppid")
    p = counting("s_tp", tp, "tracepoint")
    s = Session(p)
    s.start()
    ids = list(s.prog_ids)
    s.close()
    s.close()
    assert s.snapshot() == []
    assert_unloaded(ids)


def test_uprobe_and_uretprobe_count_calls(uprobe_target):
    cm, rm = count_map("@c"), count_map("@r")
    up = AttachTarget("uprobe", uprobe_target, "work_a", name=f"uprobe:{uprobe_target}:work_a")
    ur = AttachTarget("uretprobe", uprobe_target, "work_b",
                      name=f"uretprobe:{uprobe_target}:work_b")
    p = program([function("s_up", count_into("AT_c", "1")), function("s_ur", count_into("AT_r", "2"))],
                [probe("s_up", "kprobe", up), probe("s_ur", "kprobe", ur, index=1)],
                [EVENTS, LOST, cm, rm])
    with Session(p) as s:
        s.start()
        assert s.attached == 2
        subprocess.run([uprobe_target, "17"], timeout=10)
        snaps = {m.name: m.entries for m in s.snapshot()}
    assert snaps == {"@c": [((1,), 17)], "@r": [((2,), 1)]}


def test_uprobe_on_a_missing_symbol_is_an_attach_error(uprobe_target):
    up = AttachTarget("uprobe", uprobe_target, "nosuch", name=f"uprobe:{uprobe_target}:nosuch")
    p = program([function("s_up", "")], [probe("s_up", "kprobe", up)], [EVENTS, LOST])
    with pytest.raises(AttachError, match="symbol 'nosuch' not found"):
        Session(p).start()


def test_rawtracepoint_counts_syscalls():
    rt = AttachTarget("rawtracepoint", "", "sys_enter", name="rawtracepoint:sys_enter")
    p = counting("s_rt", rt, "raw_tracepoint")
    with Session(p) as s:
        s.start()
        for _ in range(100):
            os.getppid()
        n = total(s.snapshot()[0])
    assert n >= 100


def test_kfunc_is_refused_with_a_readable_message():
    kf = AttachTarget("kfunc", "", "vfs_read", name="kfunc:vfs_read")
    p = program([function("s_kf", "")],
                [ProbeSpec("s_kf", "tracing", (kf,), 0, expected_attach_type="fentry",
                           attach_btf_name="vfs_read")], [EVENTS, LOST])
    s = Session(p)
    try:
        s.start()
    except LoadError as e:           # this VM's kernel refuses fentry programs
        assert str(e).startswith("kfunc:vfs_read: this kernel refuses fentry programs")
        assert "tracepoint:syscalls:sys_enter_read" in str(e)
    else:                            # a kernel with fentry: it attached for real
        assert s.attached == 1
    finally:
        s.close()


KILLED_CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from bpfprog import *
from bpftrace_compiler.artifact import AttachTarget
from bpftrace_loader.session import Session
tp = AttachTarget("tracepoint", "syscalls", "sys_enter_getppid",
                  name="tracepoint:syscalls:sys_enter_getppid")
p = program([function("s_BEGIN_1", ""), function("s_tp", emit_record([0, 1]))],
            [begin(), probe("s_tp", "tracepoint", tp)], [EVENTS, LOST])
s = Session(p)
s.start()
print(" ".join(map(str, s.prog_ids)), flush=True)
time.sleep(60)
"""


def test_nothing_stays_loaded_after_sigkill():
    import signal
    import sys
    from pathlib import Path
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(Path(__file__).parent)],
                             stdout=subprocess.PIPE, text=True)
    try:
        ids = [int(x) for x in child.stdout.readline().split()]
        assert len(ids) == 2 and set(ids) <= loaded_prog_ids()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert_unloaded(ids, within=10)


NOBODY_CHILD = r"""
import os
from bpftrace_compiler.artifact import MapSpec
from bpftrace_loader.maps import BpfMap
from bpftrace_loader.errors import LoaderError
os.setgid(65534); os.setuid(65534)
try:
    BpfMap.create(MapSpec("@x", "hash", 8, 8, 16))
except LoaderError as e:
    print(e)
"""


def test_missing_privileges_are_named():
    import sys
    out = subprocess.run([sys.executable, "-c", NOBODY_CHILD], capture_output=True, text=True,
                         timeout=30)
    assert out.stdout.strip().endswith("BPF_MAP_CREATE: Operation not permitted "
                                       "(tracing needs root: CAP_BPF and CAP_PERFMON)")


def test_usdt_probe_fires(usdt_target):
    targets = [AttachTarget("usdt", usdt_target, "myprov:start", name=f"usdt:{usdt_target}:myprov:start"),
               AttachTarget("usdt", usdt_target, "tick", name=f"usdt:{usdt_target}:other:tick")]
    cm = count_map()
    p = program([function("s_u", count_into("AT_c", "1"))],
                [probe("s_u", "kprobe", *targets)], [EVENTS, LOST, cm])
    with Session(p) as s:
        s.start()
        assert s.attached == 2
        for _ in range(3):
            subprocess.run([usdt_target], timeout=10)
        assert s.snapshot()[0].entries == [((1,), 6)]
