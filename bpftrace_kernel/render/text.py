"""bpftrace 0.17's text output for maps and the one-line messages around them.

Owns `render_map` (print(@m, top, div) and the maps printed at exit), `render_maps_at_exit`
(every user map in name order, i.e. what follows the "\\n\\n"), `render_value` (print(x))
and the small fixed messages (`attached_probes`, `lost_events`).  Layout per value kind is
a registry: plain maps are `key: value` lines; stacks, ksym/usym and inet values have no
separator of their own; hist/lhist print `key: ` then the rows and a blank line; avg/stats
end with a blank line.  An empty map prints its (empty) body and terminator only.
No kernel I/O and no Jupyter imports: the CLI and the kernel both call this.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Iterable

from bpftrace_compiler.types import Kind, SizedType
from bpftrace_loader.values import MapSnapshot

from .ordering import ordered_entries, value_kind
from .values import format_value, key_field_types, key_formatter, value_formatter


@dataclass(frozen=True)
class _Layout:
    after_key: str       # between "@m[k]:" and the value
    separator: str       # between entries
    terminator: str      # after the last entry (also printed for an empty map)


_PLAIN = _Layout(": ", "\n", "\n")
_HIST = _Layout(": \n", "\n", "\n")
_STATS = _Layout(": ", "\n", "\n\n")
# values that carry their own line breaks (or, in 0.17, none at all) get no separator
_UNSEPARATED = _Layout(": ", "", "\n")

_LAYOUTS: dict[Kind, _Layout] = {
    Kind.HIST: _HIST, Kind.LHIST: _HIST,
    Kind.AVG: _STATS, Kind.STATS: _STATS,
    Kind.KSTACK: _UNSEPARATED, Kind.USTACK: _UNSEPARATED, Kind.KSYM: _UNSEPARATED,
    Kind.USYM: _UNSEPARATED, Kind.INET: _UNSEPARATED,
}

# print()'s div applies to these; lhist and stats ignore it in 0.17
_DIVIDED = frozenset({Kind.COUNT, Kind.SUM, Kind.INT, Kind.MIN, Kind.MAX, Kind.AVG, Kind.HIST})


def render_map(snapshot: MapSnapshot, top: int = 0, div: int = 0) -> str:
    """Exact 0.17 text for one map, including its trailing newline(s)."""
    kind = value_kind(snapshot)
    layout = _LAYOUTS.get(kind, _PLAIN)
    value_type = snapshot.spec.value_type or SizedType(Kind.INT, 8, True)
    divisor = div if kind in _DIVIDED else 0
    after = layout.after_key
    entries = ordered_entries(snapshot, top)
    items = _int_key_lines(snapshot, entries, after, value_type, divisor)
    if items is None:
        key_text = key_formatter(snapshot.name, snapshot.spec.key_type)
        value_text = value_formatter(value_type, divisor)
        items = [f"{key_text(key)}{after}{value_text(value)}" for key, value in entries]
    return layout.separator.join(items) + layout.terminator


_PLAIN_COUNTS = frozenset({Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX})


def _int_key_lines(snapshot: MapSnapshot, entries: list, after: str, value_type: SizedType,
                   divisor: int) -> list[str] | None:
    """The lines of a map with integer keys and count/sum/min/max values (big maps are
    nearly always this shape) in one f-string each, when every key field already holds its
    printed value (0.17 prints integer keys as signed numbers of their width); None for any
    other map."""
    fields = key_field_types(snapshot.spec.key_type)
    if not fields or value_type.kind not in _PLAIN_COUNTS or divisor not in (0, 1) \
            or any(f.kind != Kind.INT for f in fields):
        return None
    values = list(map(itemgetter(1), entries))
    if set(map(type, values)) - {int}:
        return None
    keys = list(map(itemgetter(0), entries))
    columns = []
    for pos, f in enumerate(fields):
        column = list(map(itemgetter(pos), keys))
        half = 1 << ((f.size or 8) * 8 - 1)
        if column and (set(map(type, column)) - {int} or min(column) < -half
                       or max(column) >= half):
            return None
        columns.append(column)
    head = (snapshot.name + "[").replace("%", "%%")
    line = head + ", ".join(["%d"] * len(fields)) + "]" + after.replace("%", "%%") + "%d"
    return list(map(line.__mod__, zip(*columns, values)))


def render_maps_at_exit(snapshots: Iterable[MapSnapshot]) -> str:
    """Every user map in name order, as 0.17 prints them after the exit "\\n\\n"."""
    user = [s for s in snapshots if not s.spec.internal]
    return "".join(render_map(s) for s in sorted(user, key=lambda s: s.name))


def render_value(t: SizedType, value: Any) -> str:
    """print(value): the value and a newline."""
    return format_value(t, value) + "\n"


def attached_probes(n: int) -> str:
    return f"Attaching {n} probe...\n" if n == 1 else f"Attaching {n} probes...\n"


def lost_events(n: int) -> str:
    return f"Lost {n} events\n"


EXIT_SEPARATOR = "\n\n"      # 0.17 writes this before printing the maps at exit
