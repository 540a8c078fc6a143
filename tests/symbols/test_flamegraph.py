"""Flame graph renderers: folded stacks, speedscope JSON, HTML icicle, interactive SVG, PNG."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from bpftrace_kernel.render import flamegraph as F
from bpftrace_compiler import types as T
from bpftrace_compiler.artifact import MapSpec
from bpftrace_loader.values import MapSnapshot, Stack

SAMPLES = [
    (("vfs_read+5", "ksys_read+100", "do_syscall_64+50"), ("bash",), 10),
    (("ffffffff81000010 vfs_write+7", "ffffffff81000200 ksys_write+9",
      "ffffffff81000300 do_syscall_64+50"), ("bash",), 5),
    (("vfs_read+9", "ksys_read+100", "do_syscall_64+50"), ("bash",), 4),   # merges with #1
    ((), ("sleep",), 3),
    (("0x7f1234", "7f5500001000 malloc+3 (/lib/x86_64-linux-gnu/libc.so.6)"), ("python3",), 2),
    (("std::vector<int>::push_back(int const&)+12", "main+4"), ("app;x",), 1),
]

GOLDEN_FOLDED = """\
app:x;main;std::vector<int>::push_back(int const&) 1
bash;do_syscall_64;ksys_read;vfs_read 14
bash;do_syscall_64;ksys_write;vfs_write 5
python3;malloc;0x7f1234 2
sleep;[empty] 3
"""


def test_frame_names():
    assert F.frame_name("vfs_read+5") == "vfs_read"
    assert F.frame_name("ffffffff81000010 vfs_write+7") == "vfs_write"
    assert F.frame_name("7f55 malloc+3 (/lib/libc.so.6)") == "malloc"
    assert F.frame_name("7f55 0x7f55 ([unknown])") == "0x7f55"
    assert F.frame_name("foo::bar(int, char)+5") == "foo::bar(int, char)"
    assert F.frame_name("vfs_read+5", keep_offset=True) == "vfs_read+5"


def test_folded_golden():
    assert F.render_folded(SAMPLES) == GOLDEN_FOLDED


def test_folded_from_map_entries_kernel_above_user():
    entries = [(("cc1", Stack(("u_inner+1", "u_outer+2")), Stack(("k_inner+3", "k_outer+4"))), 7)]
    got = F.samples_from_entries(entries, ["string", "ustack", "kstack"])
    assert F.render_folded(got) == "cc1;u_outer;u_inner;k_outer;k_inner 7\n"
    with pytest.raises(ValueError, match="map of counts"):
        F.samples_from_entries([((Stack(("a+1",)),), "text")])


def test_folded_from_snapshot():
    key = T.TupleOf([T.Str(16), T.Simple(T.Kind.KSTACK, params=(127, 0))])
    spec = MapSpec("@", "hash", key.size, 8, 4096, key_type=key,
                   value_type=T.Simple(T.Kind.COUNT))
    snap = MapSnapshot(spec, [(("swapper/0", Stack(("cpu_idle+9", "start_kernel+3"))), 40),
                              (("bash", Stack(())), 2)])
    assert F.render_folded(F.samples_from_snapshot(snap)) == \
        "bash;[empty] 2\nswapper/0;start_kernel;cpu_idle 40\n"


# the parts of speedscope's file-format-spec.ts a "sampled" profile must satisfy
SPEEDSCOPE_SCHEMA = {
    "type": "object",
    "required": ["$schema", "shared", "profiles"],
    "properties": {
        "$schema": {"const": "https://www.speedscope.app/file-format-schema.json"},
        "shared": {"type": "object", "required": ["frames"], "properties": {"frames": {
            "type": "array", "items": {"type": "object", "required": ["name"],
                                       "properties": {"name": {"type": "string"}}}}}},
        "profiles": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["type", "name", "unit", "startValue", "endValue", "samples", "weights"],
            "properties": {
                "type": {"const": "sampled"},
                "unit": {"enum": ["none", "nanoseconds", "microseconds", "milliseconds",
                                  "seconds", "bytes"]},
                "samples": {"type": "array", "items": {"type": "array",
                                                        "items": {"type": "integer"}}},
                "weights": {"type": "array", "items": {"type": "number"}}}}},
        "activeProfileIndex": {"type": "integer"},
    },
}


_JSON_TYPES = {"object": dict, "array": list, "string": str, "integer": int,
               "number": (int, float)}


def _validate(doc, schema, where="$"):
    """The JSON-schema keywords SPEEDSCOPE_SCHEMA uses (jsonschema costs seconds to import)."""
    if "type" in schema:
        assert isinstance(doc, _JSON_TYPES[schema["type"]]) and not isinstance(doc, bool), where
    if "const" in schema:
        assert doc == schema["const"], where
    if "enum" in schema:
        assert doc in schema["enum"], where
    for key in schema.get("required", ()):
        assert key in doc, f"{where}.{key} missing"
    for key, sub in schema.get("properties", {}).items():
        if key in doc:
            _validate(doc[key], sub, f"{where}.{key}")
    if "items" in schema:
        assert len(doc) >= schema.get("minItems", 0), where
        for i, item in enumerate(doc):
            _validate(item, schema["items"], f"{where}[{i}]")


def test_speedscope_json():
    doc = json.loads(F.render_speedscope(SAMPLES, name="profile test"))
    _validate(doc, SPEEDSCOPE_SCHEMA)
    prof = doc["profiles"][0]
    frames = [f["name"] for f in doc["shared"]["frames"]]
    stacks = {";".join(frames[i] for i in s): w for s, w in zip(prof["samples"], prof["weights"])}
    assert stacks == {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1])
                      for line in GOLDEN_FOLDED.splitlines()}
    assert prof["endValue"] == sum(prof["weights"]) == 25
    assert len(frames) == len(set(frames))


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.titles, self.widths, self.tags = [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "title" in a:
            self.titles.append(a["title"])
        m = re.search(r"width:([\d.]+)%", a.get("style", ""))
        if m:
            self.widths.append(float(m.group(1)))


def test_html_icicle():
    page = F.render_html(SAMPLES, title="CPU <profile>")
    p = _Collect()
    p.feed(page)
    assert "script" not in p.tags and "http" not in page.replace(
        "https://www.speedscope", "")                        # self-contained, script-free
    assert "CPU &lt;profile&gt; (25 samples)" in page
    names = {t.split(" (")[0] for t in p.titles}
    assert {"all", "bash", "vfs_read", "vfs_write", "malloc", "0x7f1234", "[empty]",
            "std::vector<int>::push_back(int const&)"} <= names
    assert "vfs_read (14 samples, 56.00%)" in p.titles
    assert all(0 < w <= 100 for w in p.widths)


def test_svg_is_wellformed_and_interactive(tmp_path):
    svg = F.render_svg(SAMPLES, title="Flame Graph")
    root = ET.fromstring(svg.split("\n", 1)[1])
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = root.findall(".//s:g[@id='frames']/s:g", ns)
    titles = [g.find("s:title", ns).text for g in groups]
    assert "bash (19 samples, 76.00%)" in titles
    assert "all (25 samples, 100.00%)" in titles
    widths = {g.get("data-name"): float(g.find("s:rect", ns).get("width")) for g in groups}
    assert widths["vfs_read"] == pytest.approx(widths["all"] * 14 / 25, abs=0.2)
    script = root.find("s:script", ns).text
    for needed in ("zoom", "unzoom", "search", "Matched"):
        assert needed in script
    if shutil.which("node"):
        js = tmp_path / "fg.js"
        js.write_text(script)
        r = subprocess.run(["node", "--check", str(js)], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr


def test_svg_inverted_puts_root_on_top():
    svg = F.render_svg(SAMPLES, inverted=True)
    ys = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'<g data-name="([^"]+)"><title>[^<]*</title><rect x="[\d.]+" y="([\d.]+)"', svg)}
    assert ys["all"] < ys["bash"] < ys["do_syscall_64"]


def test_png():
    pytest.importorskip("matplotlib")
    png = F.render_png(SAMPLES, width_px=800)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import io
    from matplotlib import image
    img = image.imread(io.BytesIO(png))
    assert img.shape[1] == 800 and img.shape[0] > 100
    # a frame colour from the "hot" palette is present: red channel high, blue low
    hot = (img[..., 0] > 0.8) & (img[..., 2] < 0.25)
    assert hot.sum() > 1000


def test_empty_input():
    assert F.render_folded([]) == ""
    assert json.loads(F.render_speedscope([]))["profiles"][0]["samples"] == []
    assert "(0 samples)" in F.render_html([])
    ET.fromstring(F.render_svg([]).split("\n", 1)[1])


BROWSER = shutil.which("chromium-headless-shell") or shutil.which("chromium")


@pytest.mark.skipif(BROWSER is None, reason="no headless chromium to run the SVG's script")
def test_svg_zoom_and_search_in_a_browser(tmp_path):
    """Click a frame and search, in a real browser: the frame fills the width, unrelated
    stacks hide, matches turn magenta and the matched share is reported."""
    svg = F.render_svg(SAMPLES)
    driver = ("<script type=\"text/ecmascript\"><![CDATA["
              "var gs=document.getElementById('frames').getElementsByTagName('g');"
              "for(var i=0;i<gs.length;i++){if(gs[i].getAttribute('data-name')=='do_syscall_64')"
              "gs[i].dispatchEvent(new MouseEvent('click'));}"
              "search('^vfs_');]]></script></svg>")
    page = tmp_path / "fg.svg"
    page.write_text(svg.replace("</svg>", driver))
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=60).stdout
    root = ET.fromstring(dom)
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = {g.get("data-name"): g for g in root.findall(".//s:g[@id='frames']/s:g", ns)}
    zoomed = groups["do_syscall_64"].find("s:rect", ns)
    assert float(zoomed.get("width")) == pytest.approx(1200 - 20, abs=1)
    assert "display: none" in (groups["python3"].get("style") or "")
    assert groups["vfs_read"].find("s:rect", ns).get("fill") == "rgb(230,0,230)"
    assert root.find(".//s:text[@id='matched']", ns).text == "Matched: 76.0%"


def test_render_dispatch():
    assert F.render(SAMPLES, "folded") == GOLDEN_FOLDED
    assert F.render(SAMPLES, "svg", title="T").startswith("<?xml")
    assert F.FORMATS["png"].mime == "image/png"
    with pytest.raises(ValueError, match="unknown flame graph format 'gif'"):
        F.render(SAMPLES, "gif")
