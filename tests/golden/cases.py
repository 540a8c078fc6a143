"""Hand-built inputs for the golden cases in cases/*.bt.

Each case lists what the bpftrace program prints, as renderer inputs: the print() events
in order (a map snapshot with top/div, or a value with its type) and the snapshots of every
map at exit.  The snapshots are written out by hand from the program text; bucket indexes
come from `hist_index` / `lhist_index`, which follow bpftrace 0.17's BPF bucket functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bpftrace_compiler.artifact import MapSpec
from bpftrace_compiler.types import Int, Kind, Simple, SizedType, Str, TupleOf, UInt
from bpftrace_loader.values import MapSnapshot, Stats

I64, U64 = Int(64), UInt(64)
COUNT = Simple(Kind.COUNT)
SUM = Simple(Kind.SUM, signed=True)
MIN = Simple(Kind.MIN, signed=True)
MAX = Simple(Kind.MAX, signed=True)
AVG = Simple(Kind.AVG, signed=True)
STATS = Simple(Kind.STATS, signed=True)
HIST = Simple(Kind.HIST, params=(0,))
IPV4 = SizedType(Kind.ARRAY, 4, elems=(Int(8),))


def LHIST(lo: int, hi: int, step: int) -> SizedType:
    return Simple(Kind.LHIST, params=(lo, hi, step))


def hist_index(v: int) -> int:
    """0.17's hist bucket (its log2 stops at 2^31: bigger values land in [2G, 4G))."""
    if v < 0:
        return 0
    if v == 0:
        return 1
    return min(v.bit_length() - 1, 31) + 2


def lhist_index(v: int, lo: int, hi: int, step: int) -> int:
    if v < lo:
        return 0
    if v >= hi:
        return (hi - lo) // step + 1
    return (v - lo) // step + 1


def hist_of(*values: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values:
        out[hist_index(v)] = out.get(hist_index(v), 0) + 1
    return out


def lhist_of(lo: int, hi: int, step: int, *values: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values:
        i = lhist_index(v, lo, hi, step)
        out[i] = out.get(i, 0) + 1
    return out


def stats_of(*values: int) -> Stats:
    return Stats(len(values), sum(values))


def snap(name: str, value_type: SizedType, entries: list, key_type: SizedType | None = None
         ) -> MapSnapshot:
    spec = MapSpec(name, "hash", key_type.size if key_type else 8, value_type.size, 4096,
                   key_type=key_type, value_type=value_type,
                   bucketed=value_type.kind in (Kind.HIST, Kind.LHIST))
    return MapSnapshot(spec, list(entries))


@dataclass
class PrintMap:
    snapshot: MapSnapshot
    top: int = 0
    div: int = 0


@dataclass
class PrintValue:
    type: SizedType
    value: Any


@dataclass
class Case:
    name: str
    at_exit: list[MapSnapshot]
    prints: list = field(default_factory=list)
    # (0.17 text, our text) replacements in the JSON capture: documented deviations
    json_deviations: list[tuple[str, str]] = field(default_factory=list)


def _brief() -> Case:
    return Case("brief", [
        snap("@h", HIST, [((), hist_of(5, 1000))]),
        snap("@k", COUNT, [((1,), 1)], I64),
        snap("@s", STATS, [((), stats_of(10))]),
        snap("@a", AVG, [((), stats_of(4))]),
        snap("@l", LHIST(0, 100, 10), [((), lhist_of(0, 100, 10, 15))]),
        snap("@mk", SUM, [((1, "a"), 3)], TupleOf([I64, Str(2)])),
        snap("@t", TupleOf([I64, Str(4)]), [((), (1, "two"))]),
    ])


def _hist() -> Case:
    return Case("hist", [
        snap("@h", HIST, [((), hist_of(-5, 0, 1, 1, 2, 3, 5, 1000, 1100, 2000000, 3000000000))]),
        # keys 1 and 256 tie on their totals: 0.17 keeps raw key-byte order (256 first)
        snap("@hk", HIST, [((7,), hist_of(3, 70, 700)), ((1,), hist_of(10, 12)),
                           ((256,), hist_of(100, 100))], I64),
        snap("@hs", HIST, [(("write",), hist_of(65536, 8)), (("read",), hist_of(4096))], Str(6)),
        snap("@hz", HIST, [((), hist_of(0, 0, 0, 1))]),
    ], json_deviations=[('{"min": -2147483648, "max": 0, ', '{"min": 2147483648, "max": 4294967295, ')])


def _lhist() -> Case:
    return Case("lhist", [
        snap("@l", LHIST(0, 100, 10), [((), lhist_of(0, 100, 10, -1, 150, 100, 55, 55, 5))]),
        snap("@k", LHIST(0, 4096, 1024), [((), lhist_of(0, 4096, 1024, 3000, 5000))]),
        snap("@m", LHIST(1048576, 3145728, 1048576),
             [((), lhist_of(1048576, 3145728, 1048576, 2097152, 1))]),
        snap("@o", LHIST(0, 10, 3), [((), lhist_of(0, 10, 3, 7))]),
        snap("@e", LHIST(10, 30, 5), [((), lhist_of(10, 30, 5, 20, 29))]),
    ])


def _stats() -> Case:
    return Case("stats", [
        snap("@s", STATS, [((), stats_of(10, 31))]),
        snap("@sn", STATS, [((), stats_of(-10, -5))]),
        snap("@sk", STATS, [(("x",), stats_of(100)), (("y",), stats_of(-7, 2)),
                            (("z",), stats_of(50))], Str(2)),
        snap("@a", AVG, [((), stats_of(4, 7))]),
        snap("@an", AVG, [((), stats_of(-7, 2))]),
        snap("@ak", AVG, [((1,), stats_of(300)), ((2,), stats_of(-30)), ((3,), stats_of(30, 31))],
             I64),
    ])


def _minmax() -> Case:
    return Case("minmax", [
        snap("@mn", MIN, [((), 3)]),
        snap("@mx", MAX, [((), 12)]),
        snap("@mnk", MIN, [((1,), 40), ((2,), -3), ((3,), 7)], I64),
        snap("@mxk", MAX, [(("a",), 1), (("b",), 100), (("c",), 50)], Str(2)),
    ])


def _keys() -> Case:
    return Case("keys", [
        snap("@c", COUNT, [((3,), 3), ((1,), 1), ((2,), 2)], I64),
        snap("@mk", SUM, [((1, "a"), 3), ((2, "b"), -2), ((1, "z"), 10), ((-1, "q"), 5)],
             TupleOf([I64, Str(2)])),
        snap("@s", Str(10), [(("b",), "two"), (("a",), "one"), (("ab",), 'x\ty"z\\')], Str(3)),
        snap("@t", TupleOf([I64, Str(2), I64]),
             [((3,), (1, "x", -2)), ((1,), (5, "y", 7)), ((256,), (0, "z", 0)),
              ((-1,), (9, "w", 9))], I64),
        snap("@sk", Str(2), [(("b", 2), "p"), (("a", 9), "q"), (("b", 1), "r"), (("a", 10), "s")],
             TupleOf([Str(2), I64])),
        snap("@i", I64, [((1,), 10), ((2,), -5), ((3,), 7)], I64),
        snap("@ak", I64, [(((1, 2, 3, 4),), 1)], IPV4),
        snap("@nt", TupleOf([TupleOf([I64, Str(2)]), I64]), [((), ((1, "a"), 2))]),
        snap("@arr", IPV4, [((), (1, 2, 3, 4))]),
        snap("@str", Str(6), [((), "hello")]),
        snap("@neg", I64, [((), -9)]),
        snap("@big", I64, [((), 4294967296)]),
    ])


def _print() -> Case:
    c = snap("@c", COUNT, [((4,), 5), ((1,), 1), ((3,), 3), ((2,), 2)], I64)
    i = snap("@i", I64, [((1,), 10), ((2,), -5), ((3,), 7)], I64)
    a = snap("@a", AVG, [((1,), stats_of(-7, 2)), ((2,), stats_of(100)), ((3,), stats_of(50))], I64)
    s = snap("@s", STATS, [((1,), stats_of(10)), ((2,), stats_of(-30)), ((3,), stats_of(5, 8))],
             I64)
    h = snap("@h", HIST, [((1,), hist_of(1)), ((2,), hist_of(10, 10)),
                          ((3,), hist_of(100, 100, 1000))], I64)
    lh = snap("@l", LHIST(0, 100, 10), [((1,), lhist_of(0, 100, 10, 5)),
                                         ((2,), lhist_of(0, 100, 10, 5, 15))], I64)
    mn = snap("@mn", MIN, [((1,), 5), ((2,), -3)], I64)
    return Case("print", [a, c, h, i, lh, mn, s], prints=[
        PrintMap(c), PrintMap(c, 2), PrintMap(c, 0, 2), PrintMap(c, 10, 3),
        PrintMap(i, 0, 3), PrintMap(i, 1),
        PrintMap(a, 2, 3), PrintMap(h, 1, 2), PrintMap(h, 0, 2), PrintMap(lh, 1, 2),
        PrintMap(mn, 1, 2), PrintMap(s, 1, 2),
        PrintValue(TupleOf([I64, I64, Str(2)]), (1, -2, "s")),
        PrintValue(Str(4), "str"),
        PrintValue(I64, -42),
        PrintValue(UInt(8), 200),
        PrintValue(TupleOf([TupleOf([I64, Str(2)]), I64]), ((1, "a"), 2)),
        PrintValue(IPV4, (1, 2, 3, 4)),
    ])


def _empty() -> Case:
    # the loader reads nothing back for a cleared keyless count; 0.17 still prints "@c: 0"
    maps = [snap("@c", COUNT, []), snap("@k", I64, [], I64), snap("@s", STATS, []),
            snap("@a", AVG, [], I64), snap("@h", HIST, []), snap("@l", LHIST(0, 10, 1), [], I64),
            snap("@str", Str(2), [], Str(2)), snap("@mk", I64, [], TupleOf([I64, Str(2)]))]
    return Case("empty", maps, prints=[PrintMap(m) for m in maps])


def _zeroed() -> Case:
    # zero() keeps the keys with all-zero values: hist keys print no rows, JSON gives []
    return Case("zeroed", [
        snap("@h", HIST, [((), {})]),
        snap("@k", HIST, [((1,), {})], I64),
        snap("@l", LHIST(0, 10, 1), [((), {})]),
        snap("@s", STATS, [((), Stats(0, 0))]),
        snap("@a", AVG, [((1,), Stats(0, 0))], I64),
    ])


def _strings() -> Case:
    strerror, ts = Simple(Kind.STRERROR), Simple(Kind.TIMESTAMP, 16)
    return Case("strings", [
        snap("@pr", I64, [(("BEGIN",), 1)], Simple(Kind.PROBE)),
        snap("@in", Simple(Kind.INET, 24), [((), "127.0.0.1")]),
        snap("@ks", Simple(Kind.KSYM), [((2,), "0"), ((1,), "0")], I64),
        snap("@e", strerror, [((), "No such file or directory")]),
        snap("@un", Simple(Kind.USERNAME), [((), "root")]),
        snap("@ts", ts, [((), "X")]),
        snap("@esc", Str(6), [(('a"b',), "c\\d\te")], Str(4)),
    ], prints=[PrintValue(Simple(Kind.INET, 24), "127.0.0.1"), PrintValue(Simple(Kind.PROBE), "BEGIN"),
               PrintValue(strerror, "Operation not permitted")],
        json_deviations=[  # 0.17 writes these string-like values unquoted (invalid JSON)
            ('"data": Operation not permitted}', '"data": "Operation not permitted"}'),
            ('"@e": No such file or directory}', '"@e": "No such file or directory"}'),
            ('"@ts": X}', '"@ts": "X"}')])


CASES = [_brief(), _hist(), _lhist(), _stats(), _minmax(), _keys(), _print(), _empty(), _zeroed(), _strings()]
