"""HTML tables and bars for notebooks: content, order, escaping, no scripts."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from bpftrace_compiler.types import Int, Kind, Simple, Str, TupleOf
from bpftrace_kernel.render.html import render_map_html
from bpftrace_loader.values import Stats


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def test_keyed_map_is_a_table_in_bpftrace_order(snapshot):
    m = snapshot("@mk", Simple(Kind.SUM, signed=True),
                 [((1, "a"), 3), ((2, "b"), -2), ((1, "z"), 10)], TupleOf([Int(64), Str(2)]))
    p = parse(render_map_html(m))
    assert p.cells == ["key 0", "key 1", "value", "2", "b", "-2", "1", "a", "3", "1", "z", "10"]


def test_top_and_div(snapshot):
    m = snapshot("@c", Simple(Kind.COUNT), [((i,), i * 10) for i in range(1, 6)], Int(64))
    assert parse(render_map_html(m, top=2, div=10)).cells == ["key", "value", "4", "4", "5", "5"]


def test_stats_columns(snapshot):
    m = snapshot("@s", Simple(Kind.STATS, signed=True), [(("x",), Stats(2, -15))], Str(2))
    assert parse(render_map_html(m)).cells == ["key", "count", "average", "total", "x", "2", "-7", "-15"]


def test_hist_bars_with_bpftrace_labels(snapshot):
    m = snapshot("@h", Simple(Kind.HIST, params=(0,)), [((), {4: 4, 6: 1})])
    html = render_map_html(m)
    cells = parse(html).cells
    assert cells[3:] == ["[4, 8)", "4", "", "[8, 16)", "0", "", "[16, 32)", "1", ""]
    widths = re.findall(r"background-color:#4c78a8;height:12px;width:([\d.]+)%", html)
    assert widths == ["100.00", "0.00", "25.00"]


def test_everything_is_escaped_and_there_is_no_script(snapshot):
    m = snapshot("@<m>", Str(32), [(("<script>alert(1)</script>",), "a&b<i>")], Str(32))
    html = render_map_html(m)
    p = parse(html)
    assert "script" not in p.tags and "i" not in p.tags
    assert "<script>alert(1)</script>" in p.cells and "a&b<i>" in p.cells
    assert "@<m>" not in html and "@&lt;m&gt;" in html


def test_empty_map(snapshot):
    assert "(empty)" in render_map_html(snapshot("@e", Int(64), [], Int(64)))


# CSS properties JupyterLab's sanitizer keeps in untrusted notebooks (apputils/sanitizer.ts)
_SANITIZER_SAFE = {"background-color", "border-bottom", "border-collapse", "color",
                   "font-family", "font-size", "font-weight", "height", "margin", "padding",
                   "text-align", "width"}


def test_only_inline_styles_an_untrusted_notebook_keeps(snapshot):
    maps = [snapshot("@h", Simple(Kind.HIST, params=(0,)), [((1,), {3: 1})], Int(64)),
            snapshot("@s", Simple(Kind.STATS), [((), Stats(1, 1))]),
            snapshot("@e", Int(64), [], Int(64))]
    html = "".join(render_map_html(m) for m in maps)
    assert "<style" not in html and "<script" not in html and "src=" not in html
    props = {decl.split(":")[0].strip() for style in re.findall(r'style="([^"]*)"', html)
             for decl in style.split(";") if decl}
    assert props <= _SANITIZER_SAFE


def test_huge_maps_are_cut_to_their_last_rows(snapshot):
    from bpftrace_kernel.render import html as H
    m = snapshot("@c", Simple(Kind.COUNT), [((i,), i) for i in range(H.MAX_TABLE_ROWS + 5)], Int(64))
    out = render_map_html(m)
    cells = parse(out).cells
    assert len(cells) == 2 + 2 * H.MAX_TABLE_ROWS
    assert cells[2] == "5" and cells[-1] == str(H.MAX_TABLE_ROWS + 4)
    assert f"showing the last {H.MAX_TABLE_ROWS} of {H.MAX_TABLE_ROWS + 5} entries" in out
