"""PNG plots of maps for notebooks (image/png in a display bundle), drawn with matplotlib.

Owns `render_map_png(snapshot, top, div)`: hist/lhist as horizontal bar charts with
bpftrace's bucket labels (one panel per key, the largest keys when there are many), and
keyed count/sum/int/min/max/avg maps as horizontal bars of their 20 largest entries (or
print()'s `top`).  Returns None when a map has nothing to plot (empty, keyless scalars,
strings, tuples, stats).  matplotlib is imported lazily with the Agg backend, so importing
this module costs nothing and needs no display.  No Jupyter imports.
"""
from __future__ import annotations

import io
from typing import Any, Optional

from bpftrace_compiler.types import Kind, SizedType
from bpftrace_loader.values import MapSnapshot, Stats

from .hist import buckets
from .ordering import ordered_entries, value_kind
from .values import cdiv, key_fields_text

TOP_ENTRIES = 20          # bars in a keyed-map plot when print() gave no top
MAX_HIST_PANELS = 8       # keyed hist: panels for the keys with the largest totals
_COLOR = "#4c78a8"

_BAR_KINDS = frozenset({Kind.COUNT, Kind.SUM, Kind.INT, Kind.MIN, Kind.MAX, Kind.AVG})


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _key_label(snapshot: MapSnapshot, key: tuple) -> str:
    fields = [f.strip("\n").replace("\n", " / ") for f in
              key_fields_text(snapshot.spec.key_type, key)]
    label = ", ".join(fields)
    return label if len(label) <= 48 else label[:45] + "..."


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _plot_hists(snapshot: MapSnapshot, entries: list, div: int) -> Optional[bytes]:
    t = snapshot.spec.value_type
    panels = [(key, buckets(t, counts if isinstance(counts, dict) else {}))
              for key, counts in entries[-MAX_HIST_PANELS:]]
    # largest total first (bpftrace prints it last)
    panels = [(key, rows) for key, rows in reversed(panels) if rows]
    if not panels:
        return None
    divisor = div if div > 1 and t.kind == Kind.HIST else 1
    plt = _pyplot()
    heights = [max(1.2, 0.22 * len(rows) + 0.6) for _, rows in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (key, rows) in zip(axes[:, 0], panels):
        labels = [b.label for b in rows]
        counts = [b.count // divisor for b in rows]
        ax.barh(range(len(rows)), counts, color=_COLOR)
        ax.set_yticks(range(len(rows)), labels, fontfamily="monospace", fontsize=8)
        ax.invert_yaxis()        # smallest bucket on top, as bpftrace prints it
        for y, c in enumerate(counts):
            ax.text(c, y, f" {c}", va="center", fontsize=7)
        title = snapshot.name + (f"[{_key_label(snapshot, key)}]" if key else "")
        ax.set_title(title, fontfamily="monospace", fontsize=9, loc="left")
        ax.set_xlabel("count", fontsize=8)
        _integer_ticks(ax)
        ax.margins(x=0.12)
    fig.tight_layout()
    return _to_png(fig)


def _bar_value(t: SizedType, v: Any, div: int) -> int:
    if isinstance(v, Stats):
        return cdiv(v.average, div)
    return cdiv(int(v), div)


def _plot_bars(snapshot: MapSnapshot, entries: list, div: int) -> Optional[bytes]:
    if snapshot.keyless or not entries:
        return None
    t = snapshot.spec.value_type
    labels = [_key_label(snapshot, key) for key, _ in entries]
    values = [_bar_value(t, v, div) for _, v in entries]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, max(1.5, 0.25 * len(entries) + 0.8)))
    ax.barh(range(len(entries)), values, color=_COLOR)
    ax.set_yticks(range(len(entries)), labels, fontfamily="monospace", fontsize=8)
    ax.invert_yaxis()            # largest first
    for y, v in enumerate(values):
        ax.text(v, y, f" {v}", va="center", fontsize=7)
    ax.set_title(snapshot.name, fontfamily="monospace", fontsize=9, loc="left")
    ax.set_xlabel(t.kind.value, fontsize=8)
    _integer_ticks(ax)
    ax.margins(x=0.12)
    fig.tight_layout()
    return _to_png(fig)


def render_map_png(snapshot: MapSnapshot, top: int = 0, div: int = 0) -> bytes | None:
    """A PNG of the map, or None when it has no plot."""
    kind = value_kind(snapshot)
    if kind in (Kind.HIST, Kind.LHIST):
        return _plot_hists(snapshot, ordered_entries(snapshot, top), div)
    if kind in _BAR_KINDS:
        entries = ordered_entries(snapshot, top or TOP_ENTRIES)
        return _plot_bars(snapshot, list(reversed(entries)), div)
    return None
