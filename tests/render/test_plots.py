"""PNG plots: produced for histograms and numeric keyed maps, None otherwise."""
from __future__ import annotations

import io

from bpftrace_compiler.types import Int, Kind, Simple, Str, TupleOf
from bpftrace_kernel.render.plots import render_map_png
from bpftrace_loader.values import Stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    from PIL import Image
    return Image.open(io.BytesIO(png)).size


def test_hist_and_keyed_hist_plot(snapshot):
    h = snapshot("@h", Simple(Kind.HIST, params=(0,)), [((), {3: 4, 7: 2})])
    png = render_map_png(h)
    assert png.startswith(PNG_MAGIC)
    keyed = snapshot("@hk", Simple(Kind.HIST, params=(0,)),
                     [((i,), {3: i}) for i in range(1, 4)], Int(64))
    w1, h1 = _size(png)
    w2, h2 = _size(render_map_png(keyed))
    assert h2 > h1            # one panel per key


def test_lhist_plot(snapshot):
    m = snapshot("@l", Simple(Kind.LHIST, params=(0, 100, 10)), [((), {0: 1, 5: 3, 11: 2})])
    assert render_map_png(m).startswith(PNG_MAGIC)


def test_count_map_plot_and_no_plot_kinds(snapshot):
    c = snapshot("@c", Simple(Kind.COUNT), [((f"k{i}",), i) for i in range(50)], Str(4))
    assert render_map_png(c).startswith(PNG_MAGIC)
    assert render_map_png(snapshot("@s", Str(4), [((1,), "x")], Int(64))) is None
    assert render_map_png(snapshot("@t", TupleOf([Int(64), Int(64)]), [((), (1, 2))])) is None
    assert render_map_png(snapshot("@st", Simple(Kind.STATS), [((), Stats(1, 1))])) is None
    assert render_map_png(snapshot("@one", Simple(Kind.COUNT), [((), 5)])) is None
    assert render_map_png(snapshot("@e", Simple(Kind.HIST, params=(0,)), [])) is None
