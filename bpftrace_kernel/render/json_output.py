"""bpftrace 0.17's `-f json` output: one NDJSON line per message, with 0.17's spacing.

Owns the line builders: `attached_probes`, `printf`, `time`, `cat`, `join`, `syscall`
(all `{"type": ..., "data": "text"}`), `lost_events`, `value` (print(x)), `map` (type
"map", "hist" for hist/lhist, "stats" for avg and stats) and `maps_at_exit`.  Every
function returns the complete line *including* its newline; `map` returns "" for an empty
map (0.17 skips them).  Tuples are `[1,"x"]` (no spaces), keys are joined with "," and
quoted.  Deviation: string-like values (strftime, strerror, ...) are always quoted.
Stdlib only (no `json` module: 0.17's spacing is written by hand); no Jupyter imports.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from bpftrace_compiler.types import Kind, SizedType
from bpftrace_loader.values import MapSnapshot, Stats

from .hist import buckets
from .ordering import ordered_entries, value_kind
from .values import (NUMBER_FORMATTERS, format_value, key_fields_text,
                     record_items)


def escape(text: str) -> str:
    """0.17's json_escape: `" \\ \\n \\r \\t` escaped, other control characters as \\u00XX."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < "\x20":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(text: str) -> str:
    return f'"{escape(text)}"'


def _line(kind: str, data: str) -> str:
    return f'{{"type": "{kind}", "data": {data}}}\n'


# ---------------------------------------------------------------------------- messages

def message(kind: str, text: str) -> str:
    """`{"type": kind, "data": "text"}` for printf, time, cat, join and syscall."""
    return _line(kind, _quote(text))


def printf(text: str) -> str:
    return message("printf", text)


def time(text: str) -> str:
    return message("time", text)


def cat(text: str) -> str:
    return message("cat", text)


def join(text: str) -> str:
    """join()'s line; `text` is the joined string without the newline text mode adds."""
    return message("join", text)


def syscall(text: str) -> str:
    """system()'s captured output."""
    return message("syscall", text)


def attached_probes(n: int) -> str:
    return _line("attached_probes", f'{{"probes": {n}}}')


def lost_events(n: int) -> str:
    return _line("lost_events", f'{{"events": {n}}}')


# ---------------------------------------------------------------------------- values

def _stats_object(v: Any) -> str:
    s = v if isinstance(v, Stats) else Stats(0, 0)
    return f'{{"count": {s.count}, "average": {s.average}, "total": {s.total}}}'


def _hist_array(t: SizedType, counts: Any, div: int) -> str:
    divisor = div if div > 1 and t.kind == Kind.HIST else 1
    items = []
    for b in buckets(t, counts if isinstance(counts, dict) else {}):
        bounds = []
        if b.low is not None:
            bounds.append(f'"min": {b.low}')
        if b.high is not None:
            bounds.append(f'"max": {b.high}')
        items.append("{" + ", ".join(bounds + [f'"count": {b.count // divisor}']) + "}")
    return "[" + ", ".join(items) + "]"


_JsonFormatter = Callable[[SizedType, Any, int], str]

_JSON_VALUES: dict[Kind, _JsonFormatter] = {
    **NUMBER_FORMATTERS,
    Kind.STATS: lambda t, v, d: _stats_object(v),
    Kind.HIST: _hist_array,
    Kind.LHIST: _hist_array,
    Kind.TUPLE: lambda t, v, d: "[" + ",".join(json_value(et, ev)
                                               for et, ev in zip(t.elems, v)) + "]",
    Kind.ARRAY: lambda t, v, d: "[" + ",".join(
        json_value(t.elems[0] if t.elems else SizedType(Kind.INT, 8, True), ev)
        for ev in v) + "]",
    Kind.RECORD: lambda t, v, d: "{ " + ", ".join(f'"{n}": {json_value(ft, fv)}'
                                                  for n, ft, fv in record_items(t, v)) + " }",
    Kind.NONE: lambda t, v, d: "null",
}


def json_value(t: SizedType, value: Any, div: int = 0) -> str:
    """A value as 0.17 writes it in JSON: numbers bare, text (strings, stacks, symbols,
    buffers) quoted, tuples and arrays as arrays."""
    formatter = _JSON_VALUES.get(t.kind)
    if formatter is None:
        return _quote(format_value(t, value))
    return formatter(t, value, div)


def value(t: SizedType, v: Any) -> str:
    """print(value)'s line."""
    return _line("value", json_value(t, v))


# ---------------------------------------------------------------------------- maps

_MAP_MESSAGE_TYPES = {Kind.HIST: "hist", Kind.LHIST: "hist", Kind.AVG: "stats",
                      Kind.STATS: "stats"}
_DIVIDED = frozenset({Kind.COUNT, Kind.SUM, Kind.INT, Kind.MIN, Kind.MAX, Kind.AVG, Kind.HIST})


def map(snapshot: MapSnapshot, top: int = 0, div: int = 0) -> str:   # noqa: A001 (0.17's name)
    """print(@m, top, div)'s line, or "" for an empty map."""
    entries = ordered_entries(snapshot, top)
    if not entries:
        return ""
    kind = value_kind(snapshot)
    vt = snapshot.spec.value_type or SizedType(Kind.INT, 8, True)
    divisor = div if kind in _DIVIDED else 0
    if snapshot.keyless:
        body = ", ".join(json_value(vt, v, divisor) for _, v in entries)
    else:
        body = "{" + ", ".join(
            _quote(",".join(key_fields_text(snapshot.spec.key_type, k))) + ": "
            + json_value(vt, v, divisor) for k, v in entries) + "}"
    return _line(_MAP_MESSAGE_TYPES.get(kind, "map"), f"{{{_quote(snapshot.name)}: {body}}}")


def maps_at_exit(snapshots: Iterable[MapSnapshot]) -> str:
    """Every non-empty user map in name order (0.17 still writes "\\n\\n" before them)."""
    user = [s for s in snapshots if not s.spec.internal]
    return "".join(map(s) for s in sorted(user, key=lambda s: s.name))


# The engine, CLI and kernel call the builders by these `*_line` names.
attached_line = attached_probes
lost_line = lost_events
message_line = message
value_line = value
map_line = map
