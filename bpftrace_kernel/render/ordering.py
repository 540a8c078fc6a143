"""The order bpftrace 0.17 prints map entries in, and print()'s `top` selection.

Owns `ordered_entries(snapshot, top)`, shared by every renderer:
* count/sum/int/min/max maps: ascending by value (ties keep the snapshot's order, which is
  the kernel's key iteration order, as 0.17's sort of a small vector does);
* avg/stats: ascending by average, hist/lhist: ascending by total count; ties in key-byte
  order (0.17 collects these in a std::map keyed by the raw key bytes);
* anything else: stable sort by key fields, last field first, integers compared unsigned
  and strings bytewise (other key field types keep their order);
* `top` keeps the last `top` entries of that order (stats maps ignore it, as in 0.17).
Pure data handling over bpftrace_loader.values; no kernel I/O, no Jupyter.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable

from bpftrace_compiler.types import Kind, SizedType
from bpftrace_loader.values import MapSnapshot, Stats

from .values import key_field_types

Entry = tuple[tuple, Any]

_BY_VALUE = frozenset({Kind.COUNT, Kind.SUM, Kind.INT, Kind.MIN, Kind.MAX})


def _int_value(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def _average(v: Any) -> int:
    return v.average if isinstance(v, Stats) else _int_value(v)


def _hist_total(v: Any) -> int:
    return sum(v.values()) if isinstance(v, dict) else 0


def _field_bytes(t: SizedType, v: Any) -> bytes:
    """A key field's raw bytes as 0.17 stores them (little-endian ints, NUL-padded strings)."""
    if t.kind == Kind.INT and isinstance(v, int):
        size = t.size or 8
        return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).ljust(t.size, b"\0")
    return str(v).encode("utf-8", "surrogateescape").ljust(t.size, b"\0")


def key_bytes(key_type: SizedType | None, key: tuple) -> bytes:
    return b"".join(_field_bytes(t, v) for t, v in zip(key_field_types(key_type), key))


def _sorted_by_key_bytes(snapshot: MapSnapshot, entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: key_bytes(snapshot.spec.key_type, e[0]))


def _field_sort_key(t: SizedType) -> Callable[[Any], Any] | None:
    if t.kind == Kind.INT:
        size = t.size if t.size in (4, 8) else 8
        return lambda v: _int_value(v) & ((1 << (8 * size)) - 1)
    if t.kind == Kind.STRING:
        return lambda v: (v if isinstance(v, bytes)
                          else str(v).encode("utf-8", "surrogateescape")).split(b"\0")[0]
    return None


def _sort_by_key(snapshot: MapSnapshot, entries: list[Entry]) -> list[Entry]:
    out = list(entries)
    fields = key_field_types(snapshot.spec.key_type)
    for pos in reversed(range(len(fields))):
        sort_key = _field_sort_key(fields[pos])
        if sort_key is not None:
            out.sort(key=lambda e: sort_key(e[0][pos]))
    return out


def _by_value(snapshot: MapSnapshot, entries: list[Entry]) -> list[Entry]:
    if set(map(type, map(itemgetter(1), entries))) <= {int}:   # usual: nothing to convert
        return sorted(entries, key=itemgetter(1))
    return sorted(entries, key=lambda e: _int_value(e[1]))


def _by_average(snapshot: MapSnapshot, entries: list[Entry]) -> list[Entry]:
    return sorted(_sorted_by_key_bytes(snapshot, entries), key=lambda e: _average(e[1]))


def _by_total(snapshot: MapSnapshot, entries: list[Entry]) -> list[Entry]:
    return sorted(_sorted_by_key_bytes(snapshot, entries), key=lambda e: _hist_total(e[1]))


_ORDERINGS: dict[Kind, Callable[[MapSnapshot, list[Entry]], list[Entry]]] = {
    **{k: _by_value for k in _BY_VALUE},
    Kind.AVG: _by_average,
    Kind.STATS: _by_average,
    Kind.HIST: _by_total,
    Kind.LHIST: _by_total,
}


def value_kind(snapshot: MapSnapshot) -> Kind:
    t = snapshot.spec.value_type
    return t.kind if t is not None else Kind.INT


def entries_of(snapshot: MapSnapshot) -> list[Entry]:
    """The snapshot's entries as 0.17 sees them: a keyless count() map lives in a one-entry
    array there, so it always has its value (0 when never counted or after clear())."""
    if not snapshot.entries and snapshot.keyless and value_kind(snapshot) == Kind.COUNT:
        return [((), 0)]
    return list(snapshot.entries)


def ordered_entries(snapshot: MapSnapshot, top: int = 0) -> list[Entry]:
    """The snapshot's entries in bpftrace's print order, limited to the last `top`."""
    order = _ORDERINGS.get(value_kind(snapshot), _sort_by_key)
    entries = order(snapshot, entries_of(snapshot))
    # 0.17 ignores top for stats() maps (the compiler warns about it)
    if top and len(entries) > top and value_kind(snapshot) != Kind.STATS:
        entries = entries[len(entries) - top:]
    return entries
