"""bpftrace text for values and maps beyond the golden captures: stacks (keys and values),
symbol values, pointers, buffers, records, hist(n, k) labels, exit ordering."""
from __future__ import annotations

from bpftrace_compiler.types import Field, Int, Kind, Pointer, Simple, SizedType, Str, TupleOf, UInt
from bpftrace_kernel.render import text
from bpftrace_kernel.render.hist import bar_width, buckets
from bpftrace_kernel.render.values import format_value
from bpftrace_loader.values import Stack, Stats

COUNT = Simple(Kind.COUNT)
KSTACK = Simple(Kind.KSTACK, params=(127, 0))


def test_stack_keys_as_captured_from_017(snapshot):
    # reference capture: profile:hz:99 { @[kstack(4)] = count(); @p[kstack(perf, 3)] = count(); }
    m = snapshot("@", COUNT, [
        ((Stack(("damon_pa_prepare_access_checks+384", "kdamond_fn+1663", "kthread+248",
                 "ret_from_fork+337")),), 1),
        ((Stack(()),), 2)], KSTACK)
    assert text.render_map(m) == (
        "@[\n    damon_pa_prepare_access_checks+384\n    kdamond_fn+1663\n    kthread+248\n"
        "    ret_from_fork+337\n]: 1\n@[]: 2\n")
    p = snapshot("@p", COUNT, [((Stack(("ffffffff816a51e0 damon_pa_prepare_access_checks+384",
                                        "ffffffff816a0a4f kdamond_fn+1663"), perf_mode=True),), 1)],
                 KSTACK)
    assert text.render_map(p) == ("@p[\n\tffffffff816a51e0 damon_pa_prepare_access_checks+384\n"
                                  "\tffffffff816a0a4f kdamond_fn+1663\n]: 1\n")


def test_stack_values_and_symbols_have_no_separator(snapshot):
    # 0.17: "@ks[1]: 0@ks[2]: 0" and "@st[1]: \n        f+1\n        g+2\n"
    ks = snapshot("@ks", Simple(Kind.KSYM), [((1,), "0"), ((2,), "0")], Int(64))
    assert text.render_map(ks) == "@ks[1]: 0@ks[2]: 0\n"
    st = snapshot("@st", KSTACK, [((1,), Stack(("f+1", "g+2")))], Int(64))
    assert text.render_map(st) == "@st[1]: \n        f+1\n        g+2\n\n"
    assert text.render_value(KSTACK, Stack(("f+1",))) == "\n        f+1\n\n"


def test_print_value_kinds():
    rec = SizedType(Kind.RECORD, 16, name="struct Foo",
                    fields=(Field("a", Int(32), 0), Field("b", Str(8), 4)))
    assert format_value(rec, {"a": 1, "b": "x"}) == "{ .a = 1, .b = x }"
    assert format_value(SizedType(Kind.ARRAY, 12, elems=(Int(32),)), [1, 2, 3]) == "[1,2,3]"
    assert format_value(SizedType(Kind.BUFFER, 4), b"ab\x01") == "ab\\x01"
    assert format_value(Pointer(Int(64)), 32) == "32"
    assert format_value(UInt(32), 4294967295) == "4294967295"
    assert format_value(Int(8), 200) == "-56"
    assert format_value(Simple(Kind.STATS, signed=True), Stats(2, -15)) == \
        "count 2, average -7, total -15"


def test_pointer_and_buffer_keys(snapshot):
    m = snapshot("@p", Int(64), [((4096,), 1)], Pointer(Int(64)))
    assert text.render_map(m) == "@p[0x1000]: 1\n"
    b = snapshot("@b", Int(64), [((b"a\x02",), 1)], SizedType(Kind.BUFFER, 2))
    assert text.render_map(b) == "@b[a\\x02]: 1\n"


def test_unsigned_keys_print_signed_like_017(snapshot):
    m = snapshot("@u", Int(64), [((2**64 - 1,), 1)], UInt(64))
    assert text.render_map(m) == "@u[-1]: 1\n"


def test_maps_at_exit_in_name_order_without_internal_maps(snapshot):
    maps = [snapshot("@b", Int(64), [((), 2)]), snapshot("@", Int(64), [((), 1)]),
            snapshot("@a", Int(64), [((), 3)]), snapshot("lost", Int(64), [((), 9)], internal=True)]
    assert text.render_maps_at_exit(maps) == "@: 1\n@a: 3\n@b: 2\n"


def test_messages():
    assert text.attached_probes(1) == "Attaching 1 probe...\n"
    assert text.attached_probes(7) == "Attaching 7 probes...\n"
    assert text.lost_events(125) == "Lost 125 events\n"


def test_hist_labels_large_powers():
    t = Simple(Kind.HIST, params=(0,))
    labels = [b.label for b in buckets(t, {12: 1, 32: 1, 42: 1, 52: 1, 64: 1})]
    assert labels[0] == "[1K, 2K)" and "[1G, 2G)" in labels and "[1T, 2T)" in labels
    # 0.17's label code stops at T: 2^50 is "1024T"
    assert buckets(t, {52: 1})[0].label == "[1024T, 2048T)"
    assert buckets(t, {52: 1})[0].low == 2**50


def test_hist_with_sub_buckets_follows_later_bpftrace():
    t = Simple(Kind.HIST, params=(3,))
    # k = 3: values 0..15 get their own bucket, then [16, 18), [18, 20), ...
    assert [b.label for b in buckets(t, {16: 1, 17: 1, 18: 1})] == ["[15]", "[16, 18)", "[18, 20)"]
    one = Simple(Kind.HIST, params=(1,))
    lows = {b.low: b.label for b in buckets(one, {i: 1 for i in range(1, 40)})}
    assert lows[1024] == "[1024, 1536)" and lows[2048] == "[2K, 3K)"


def test_bar_width_uses_single_precision():
    assert bar_width(1, 3) == 17 and bar_width(3, 3) == 52 and bar_width(0, 5) == 0
    assert bar_width(1, 2) == 26


def test_keyless_count_always_has_a_value(snapshot):
    # 0.17 keeps a keyless count() in a one-entry array: "@c: 0" even if never counted
    never = snapshot("@c", COUNT, [])
    assert text.render_map(never) == "@c: 0\n"
    assert text.render_map(snapshot("@s", Simple(Kind.SUM, signed=True), [])) == "\n"
