"""Stack plumbing without BPF: stack map sizing, dropped-stack accounting, pid tracking of
user stacks, %%flamegraph parsing, and stack-keyed maps shown as flame graphs in a cell."""
from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest

from bpftrace_compiler import types as T
from bpftrace_compiler.artifact import MapSpec
from bpftrace_compiler.passes.resources import STACK_MAP_BYTES, stack_map_entries
from bpftrace_kernel import display, magics
from bpftrace_kernel.engine import Trace
from bpftrace_kernel.render import flamegraph as F
from bpftrace_kernel.render import text as render_text
from bpftrace_loader.decode import Decoder
from bpftrace_loader.pid_watch import UserPidWatch, pid_offsets
from bpftrace_loader.values import MapSnapshot, Stack

KSTACK = T.Simple(T.Kind.KSTACK, params=(127, 0))
USTACK = T.Simple(T.Kind.USTACK, params=(127, 0))


@pytest.mark.parametrize("limit", [1, 3, 20, 127, 1024])
def test_stack_maps_fit_the_memory_budget(limit):
    n = stack_map_entries(limit)
    assert n & (n - 1) == 0 and 1024 <= n <= 131072          # a power of two: kernel buckets
    assert n * (8 * limit + 16) <= STACK_MAP_BYTES or n == 1024
    assert stack_map_entries(3) == 131072                   # bpftrace's size for short stacks
    assert stack_map_entries(127) >= 8 * 4096


def test_dropped_stacks_are_counted_and_print_empty():
    d = Decoder(SimpleNamespace(actions=[]), read_stack=lambda t, i: [0xffffffff81000000])
    pid = 4242 << 32
    assert d.stack(KSTACK, pid | (2**32 - 17)).frames == ()       # -EEXIST: slot taken
    assert d.stack(KSTACK, pid | (2**32 - 12)).frames == ()       # -ENOMEM: map full
    assert d.stack(KSTACK, pid | (2**32 - 14)).frames == ()       # -EFAULT: user-mode sample
    assert d.stack(KSTACK, pid | (2**32 - 17)).frames == ()       # the same value again
    assert len(d.dropped_stacks) == 2

    session = SimpleNamespace(dropped_stacks=2, stack_map_entries=lambda: 32768)
    trace = Trace("BEGIN {}")
    assert trace.stack_warning() == ""
    trace.session = session
    warning = trace.stack_warning()
    assert warning.startswith("WARNING: 2 stack trace(s) could not be stored")
    assert "32768 slots" in warning and warning.endswith("\n")


def test_pid_offsets_and_watch_remember_each_process_once():
    key = T.TupleOf([T.Str(16), USTACK, KSTACK, T.Simple(T.Kind.USYM, size=16)])
    offs = key.tuple_offsets()
    assert pid_offsets(key) == [offs[1] + 4, offs[3] + 8]
    assert pid_offsets(KSTACK) == [] and pid_offsets(None) == []

    spec = MapSpec("@", "percpu_hash", key.size, 8, 64, key_type=key,
                   value_type=T.Simple(T.Kind.COUNT))

    def raw_key(pid_stack: int, pid_usym: int) -> bytes:
        b = bytearray(key.size)
        b[offs[1]:offs[1] + 8] = (7 | pid_stack << 32).to_bytes(8, "little")
        b[offs[3] + 8:offs[3] + 16] = pid_usym.to_bytes(8, "little")
        return bytes(b)

    items = [(raw_key(100, 200), b"\0" * 8), (raw_key(100, 0), b"\0" * 8)]
    remembered = []
    watch = UserPidWatch([spec], lambda name: items, remembered.append)
    watch.scan()
    items.append((raw_key(300, 100), b"\0" * 8))
    watch.scan()
    assert sorted(remembered) == [100, 200, 300]


def test_record_pids_are_read_before_decoding():
    """The session snapshots these pids' mappings before formatting a batch (a process that
    exits right after its uprobe event still gets its symbols)."""
    from bpftrace_compiler.artifact import ActionSpec
    usym = T.Simple(T.Kind.USYM, size=16)
    acts = [ActionSpec(1, "printf", fmt="%s %s %d\n", args=(usym, USTACK, T.Int(64)),
                       offsets=(8, 24, 32), record_size=40),
            ActionSpec(2, "printf", fmt="%d\n", args=(T.Int(64),), offsets=(8,), record_size=16)]
    d = Decoder(SimpleNamespace(actions=acts))
    assert d.pid_fields == {1: [16, 28]}
    rec = ((1).to_bytes(8, "little") + (0x401000).to_bytes(8, "little") + (4321).to_bytes(8, "little")
           + (5 | 1234 << 32).to_bytes(8, "little") + (7).to_bytes(8, "little"))
    assert d.record_pids(rec) == [4321, 1234]
    assert d.record_pids((2).to_bytes(8, "little") + bytes(8)) == []
    assert d.record_pids(b"\1") == []


def test_flamegraph_magic_writes_the_profiling_program():
    d = magics.SessionDefaults()
    req = magics.parse_cell("%%flamegraph -p 77 -d 2\n", d)
    assert req.program == "profile:hz:99 /pid == 77/ { @[comm, kstack, ustack] = count(); }\n"
    assert (req.options.pid, req.options.duration) == (77, 2.0)
    assert req.note == "profiling for 2 s: " + req.program
    req = magics.parse_cell("%%flamegraph", d)
    assert req.program == "profile:hz:99 { @[comm, kstack] = count(); }\n"
    assert req.options.duration == magics.FLAMEGRAPH_SECONDS
    req = magics.parse_cell('%%flamegraph -c "sleep 1" --stacks user --hz 49', d)
    assert req.program == "profile:hz:49 /pid == cpid/ { @[comm, ustack] = count(); }\n"
    assert req.options.cmd == "sleep 1"
    with pytest.raises(magics.MagicError, match="leave the rest of the cell"):
        magics.parse_cell("%%flamegraph\nprofile:hz:9 { @[kstack] = count(); }", d)
    with pytest.raises(magics.MagicError, match="cannot be used together"):
        magics.parse_cell('%%flamegraph -p 1 -c "ls"', d)
    assert "%%flamegraph" in magics.help_text()


def _stack_snapshot(value_kind=T.Kind.COUNT, entries=None):
    key = T.TupleOf([T.Str(16), KSTACK])
    spec = MapSpec("@", "percpu_hash", key.size, 8, 64, key_type=key,
                   value_type=T.Simple(value_kind))
    return MapSnapshot(spec, entries if entries is not None else [
        (("chain", Stack(("leaf+12", "middle+9", "outer+9", "main+45"))), 90),
        (("chain", Stack(("clock_nanosleep+35", "main+50"))), 10)])


def test_stack_map_cell_shows_a_flame_graph_and_writes_files(tmp_path, monkeypatch):
    monkeypatch.setenv("BPFTRACE_KERNEL_FLAMEGRAPH_DIR", str(tmp_path))
    snap = _stack_snapshot()
    text = render_text.render_map(snap, 0, 0)
    data, _ = display.map_bundle(snap, text, flame_stem=display.flamegraph_stem(3, "@"))
    assert data["text/plain"] == text                            # bpftrace's text unchanged
    page = data["text/html"]
    assert 'class="bt-flame"' in page and "<script" not in page
    for name in ("main", "outer", "middle", "leaf", "clock_nanosleep"):
        assert f'title="{name} (' in page
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    folded = (tmp_path / "flamegraph-3-at.folded").read_text()
    assert folded == ("chain;main;clock_nanosleep 10\n"
                      "chain;main;outer;middle;leaf 90\n")
    doc = json.loads((tmp_path / "flamegraph-3-at.speedscope.json").read_text())
    assert doc["profiles"][0]["weights"] == [10, 90]
    assert "flamegraph-3-at.folded" in page and "flamegraph-3-at.speedscope.json" in page


def test_live_view_and_non_count_stack_maps(tmp_path, monkeypatch):
    monkeypatch.setenv("BPFTRACE_KERNEL_FLAMEGRAPH_DIR", str(tmp_path))
    data, _ = display.snapshot_bundle(_stack_snapshot())
    assert 'class="bt-flame"' in data["text/html"] and "image/png" not in data
    assert list(tmp_path.iterdir()) == []                        # live views write no files
    hist = _stack_snapshot(T.Kind.HIST, [(("x", Stack(("f+1",))), {0: 1})])
    assert not F.is_stack_map(hist)
    plain = _stack_snapshot(T.Kind.COUNT, [])
    data, _ = display.map_bundle(plain, "", flame_stem="empty")
    assert "bt-flame" not in data.get("text/html", "")


def test_flamegraph_stems_are_file_names():
    assert display.flamegraph_stem(2, "@") == "flamegraph-2-at"
    assert display.flamegraph_stem(5, "@off/cpu") == "flamegraph-5-off_cpu"


# Captured from bpftrace 0.17 (uprobe on the chain program's leaf, once):
#   @[comm, kstack(2), ustack(2)] = count(); @p[ustack(perf, 2), comm] = count();
#   @v[comm] = ustack(2);
GOLDEN_MIXED_KEYS = """\
@[chain, , 
    leaf+0
    middle+9
]: 1
"""
GOLDEN_PERF_FIRST = """\
@p[
\t55fe037dd189 leaf+0 (/work/main/tests/_build/stacks/chain)
\t55fe037dd1c8 middle+9 (/work/main/tests/_build/stacks/chain)
, chain]: 1
"""
GOLDEN_VALUE = "@v[chain]: \n        leaf+0\n        middle+9\n\n"


def _map(name, key, entries, value=T.Simple(T.Kind.COUNT)):
    spec = MapSpec(name, "hash", max(key.size, 8), 8, 64, key_type=key, value_type=value)
    return MapSnapshot(spec, entries)


def test_stack_keys_with_other_keys_golden():
    u2 = T.Simple(T.Kind.USTACK, params=(2, 0))
    key = T.TupleOf([T.Str(16), T.Simple(T.Kind.KSTACK, params=(2, 0)), u2])
    m = _map("@", key, [(("chain", Stack(()), Stack(("leaf+0", "middle+9"))), 1)])
    assert render_text.render_map(m, 0, 0) == GOLDEN_MIXED_KEYS
    perf = T.Simple(T.Kind.USTACK, params=(2, 1))
    p = _map("@p", T.TupleOf([perf, T.Str(16)]), [((Stack((
        "55fe037dd189 leaf+0 (/work/main/tests/_build/stacks/chain)",
        "55fe037dd1c8 middle+9 (/work/main/tests/_build/stacks/chain)"), perf_mode=True),
        "chain"), 1)])
    assert render_text.render_map(p, 0, 0) == GOLDEN_PERF_FIRST
    v = _map("@v", T.Str(16), [(("chain",), Stack(("leaf+0", "middle+9")))], value=u2)
    assert render_text.render_map(v, 0, 0) == GOLDEN_VALUE
