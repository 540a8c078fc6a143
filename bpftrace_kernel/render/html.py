"""Self-contained HTML for one map, for notebook display (text/html in a display bundle).

Owns `render_map_html(snapshot, top, div)`: keyed maps as a table (one column per key
field, then the value), hist/lhist as horizontal bars drawn with inline CSS next to
bpftrace's bucket labels and counts (one block per key), avg/stats as count / average /
total columns.  No scripts, no external resources and only inline `style` attributes, so
it renders the same in untrusted notebooks.  Every piece of map data is HTML-escaped.
Entry order, `top` and `div` follow bpftrace (see ordering.py).  Stdlib only: no Jupyter
or IPython imports (display.py wraps this into a bundle).
"""
from __future__ import annotations

from html import escape
from typing import Any, Callable

from bpftrace_compiler.types import Kind, SizedType
from bpftrace_loader.values import MapSnapshot, Stats

from .hist import buckets
from .ordering import ordered_entries, value_kind
from .values import format_value, key_field_types, key_fields_text

_TABLE = ("border-collapse:collapse;font-family:monospace;font-size:12px;"
          "margin:2px 0 8px 0")
_CELL = "padding:1px 8px;text-align:left"
_NUM = "padding:1px 8px;text-align:right"
_HEAD = "padding:1px 8px;text-align:left;border-bottom:1px solid #999"
_BAR_TRACK = "width:320px;background-color:#f0f0f0;height:12px"
_BAR = "background-color:#4c78a8;height:12px"
_TITLE = "font-family:monospace;font-weight:bold;margin:4px 0 2px 0"

_DIVIDED = frozenset({Kind.COUNT, Kind.SUM, Kind.INT, Kind.MIN, Kind.MAX, Kind.AVG, Kind.HIST})

# A notebook output stays usable: beyond these, only the largest entries are drawn (the
# text rendering next to it is always complete).
MAX_TABLE_ROWS = 1000
MAX_HIST_BLOCKS = 50


def _td(content: str, style: str = _CELL) -> str:
    return f'<td style="{style}">{content}</td>'


def _th(content: str, style: str = _HEAD) -> str:
    return f'<th style="{style}">{escape(content)}</th>'


def _pre(text: str) -> str:
    return f'<pre style="margin:0;font-family:monospace">{escape(text)}</pre>'


def _key_headers(snapshot: MapSnapshot) -> list[str]:
    n = len(key_field_types(snapshot.spec.key_type))
    return ["key"] if n == 1 else [f"key {i}" for i in range(n)]


def _key_cells(snapshot: MapSnapshot, key: tuple) -> list[str]:
    return [_td(_pre(k.strip("\n")) if "\n" in k else escape(k))
            for k in key_fields_text(snapshot.spec.key_type, key)]


# ---------------------------------------------------------------------------- histograms

def _hist_block(t: SizedType, counts: Any, div: int) -> str:
    rows = buckets(t, counts if isinstance(counts, dict) else {})
    if not rows:
        return '<div style="font-family:monospace;color:#777">(empty)</div>'
    max_count = max(b.count for b in rows) or 1
    divisor = div if div > 1 and t.kind == Kind.HIST else 1
    lines = []
    for b in rows:
        pct = 100.0 * b.count / max_count
        bar = (f'<div style="{_BAR_TRACK}"><div style="{_BAR};width:{pct:.2f}%"></div></div>')
        lines.append("<tr>" + _td(escape(b.label)) + _td(str(b.count // divisor), _NUM)
                     + _td(bar) + "</tr>")
    head = "<tr>" + _th("bucket") + _th("count") + _th("") + "</tr>"
    return f'<table style="{_TABLE}">{head}{"".join(lines)}</table>'


def _render_hist(snapshot: MapSnapshot, entries: list, div: int) -> str:
    t = snapshot.spec.value_type
    parts = []
    for key, counts in entries:
        title = snapshot.name
        fields = key_fields_text(snapshot.spec.key_type, key)
        if fields:
            title += "[" + ", ".join(f.strip("\n") for f in fields) + "]"
        parts.append(f'<div style="{_TITLE}">{escape(title)}</div>' + _hist_block(t, counts, div))
    return "".join(parts)


# ---------------------------------------------------------------------------- tables

def _stats_cells(t: SizedType, v: Any, div: int) -> list[str]:
    s = v if isinstance(v, Stats) else Stats(0, 0)
    return [_td(str(s.count), _NUM), _td(str(s.average), _NUM), _td(str(s.total), _NUM)]


def _value_cells(t: SizedType, v: Any, div: int) -> list[str]:
    text = format_value(t, v, div)
    if "\n" in text:
        return [_td(_pre(text.strip("\n")))]
    numeric = t.kind in _DIVIDED or t.kind == Kind.INT
    return [_td(escape(text), _NUM if numeric else _CELL)]


_VALUE_COLUMNS: dict[Kind, tuple[list[str], Callable[[SizedType, Any, int], list[str]]]] = {
    Kind.STATS: (["count", "average", "total"], _stats_cells),
}


def _render_table(snapshot: MapSnapshot, entries: list, div: int) -> str:
    t = snapshot.spec.value_type or SizedType(Kind.INT, 8, True)
    headers, cells = _VALUE_COLUMNS.get(t.kind, (["value"], _value_cells))
    if t.kind == Kind.AVG:
        headers = ["average"]
    head = "<tr>" + "".join(_th(h) for h in _key_headers(snapshot) if not snapshot.keyless) \
        + "".join(_th(h) for h in headers) + "</tr>"
    rows = ["<tr>" + "".join(_key_cells(snapshot, key)) + "".join(cells(t, v, div)) + "</tr>"
            for key, v in entries]
    return (f'<div style="{_TITLE}">{escape(snapshot.name)}</div>'
            f'<table style="{_TABLE}">{head}{"".join(rows)}</table>')


def _note(shown: int, total: int) -> str:
    return (f'<div style="font-family:monospace;color:#777">showing the last {shown} of '
            f'{total} entries (print order)</div>')


def render_map_html(snapshot: MapSnapshot, top: int = 0, div: int = 0) -> str:
    """One map as an HTML fragment (a titled table, or one bar chart per hist key)."""
    kind = value_kind(snapshot)
    entries = ordered_entries(snapshot, top)
    divisor = div if kind in _DIVIDED else 0
    limit = MAX_HIST_BLOCKS if kind in (Kind.HIST, Kind.LHIST) else MAX_TABLE_ROWS
    note = ""
    if len(entries) > limit:
        note = _note(limit, len(entries))
        entries = entries[-limit:]
    if not entries:
        body = (f'<div style="{_TITLE}">{escape(snapshot.name)}</div>'
                '<div style="font-family:monospace;color:#777">(empty)</div>')
    elif kind in (Kind.HIST, Kind.LHIST):
        body = _render_hist(snapshot, entries, divisor)
    else:
        body = _render_table(snapshot, entries, divisor)
    return f'<div class="bpftrace-map">{body}{note}</div>'
