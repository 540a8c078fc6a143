"""Properties over generated maps: every renderer accepts every map, JSON lines are valid
JSON that agrees with the text, and print()'s top keeps the largest entries."""
from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from bpftrace_compiler.types import Int, Kind, Simple, Str, TupleOf
from bpftrace_kernel.render import html, json_output, text
from bpftrace_loader.values import Stats

from conftest import make_snapshot

_KEY_TYPES = [None, Int(64), Str(8), TupleOf([Int(64), Str(8)])]
_text = st.text(st.characters(min_codepoint=1, max_codepoint=0x2ff), max_size=7)


def _key(key_type):
    if key_type is None:
        return st.just(())
    if key_type.kind == Kind.INT:
        return st.tuples(st.integers(-2**63, 2**63 - 1))
    if key_type.kind == Kind.STRING:
        return st.tuples(_text)
    return st.tuples(st.integers(-2**63, 2**63 - 1), _text)


_VALUES = {
    Kind.COUNT: st.integers(0, 2**64 - 1),
    Kind.SUM: st.integers(-2**63, 2**63 - 1),
    Kind.AVG: st.builds(Stats, st.integers(1, 1000), st.integers(-2**40, 2**40)),
    Kind.STATS: st.builds(Stats, st.integers(1, 1000), st.integers(-2**40, 2**40)),
    Kind.HIST: st.dictionaries(st.integers(0, 65), st.integers(1, 10**6), max_size=6),
    Kind.LHIST: st.dictionaries(st.integers(0, 11), st.integers(1, 10**6), max_size=6),
    Kind.STRING: _text,
}


@st.composite
def snapshots(draw):
    kind = draw(st.sampled_from(sorted(_VALUES, key=lambda k: k.value)))
    vt = {Kind.HIST: Simple(Kind.HIST, params=(0,)),
          Kind.LHIST: Simple(Kind.LHIST, params=(0, 100, 10)),
          Kind.STRING: Str(8)}.get(kind, Simple(kind, signed=kind != Kind.COUNT))
    kt = draw(st.sampled_from(_KEY_TYPES))
    if kt is None:
        entries = draw(st.lists(st.tuples(st.just(()), _VALUES[kind]), max_size=1))
    else:
        keys = draw(st.lists(_key(kt), max_size=12, unique=True))
        entries = [(k, draw(_VALUES[kind])) for k in keys]
    return make_snapshot("@m", vt, entries, kt)


@settings(max_examples=150, deadline=None)
@given(snapshots(), st.integers(0, 5), st.integers(0, 4))
def test_every_renderer_accepts_every_map(snap, top, div):
    out = text.render_map(snap, top, div)
    assert out.endswith("\n")
    line = json_output.map(snap, top, div)
    if snap.entries or (snap.keyless and snap.spec.value_type.kind == Kind.COUNT):
        record = json.loads(line)
        assert list(record["data"]) == ["@m"]
        if not snap.keyless:
            shown = len(record["data"]["@m"])
            expected = len(snap.entries)
            if top and snap.spec.value_type.kind != Kind.STATS:
                expected = min(expected, top)
            # keys are joined text, so distinct keys may print alike; never more than entries
            assert shown <= expected
    else:
        assert line == ""
    assert html.render_map_html(snap, top, div).startswith('<div class="bpftrace-map">')


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=30, unique=True), st.integers(1, 10))
def test_top_keeps_the_largest_in_ascending_order(values, top):
    snap = make_snapshot("@c", Simple(Kind.COUNT), [((i,), v) for i, v in enumerate(values)], Int(64))
    lines = text.render_map(snap, top).splitlines()
    shown = [int(line.rsplit(": ", 1)[1]) for line in lines]
    assert shown == sorted(values)[-top:]
