"""Flame graphs from stack-keyed maps (`@[kstack] = count()`, `@[comm, ustack] = count()`).

Owns turning stack samples into: folded stacks (Brendan Gregg's `a;b;c 12`), speedscope
JSON (the "sampled" profile of https://www.speedscope.app/file-format-schema.json), a
self-contained HTML icicle graph (nested divs with inline styles and `title` tooltips: no
script, no CDN, so it reads the same in an untrusted notebook), a flamegraph.pl-style
interactive SVG (embedded script for zoom, search and reset; it still renders without it),
and a PNG via matplotlib (imported lazily).

A sample is `(frames innermost-first, other key parts, count)`; the other key parts (comm,
pid, ...) become the outermost frames, as flamegraph tools put the process name at the root.
"""
from __future__ import annotations

import html
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

Sample = tuple[Sequence[str], Sequence[Any], int]

_PERF_FRAME = re.compile(r"^[0-9a-f]+ (.*?)(?: \(([^()]*)\))?$")
_OFFSET = re.compile(r"\+\d+$")


def frame_name(frame: str, keep_offset: bool = False) -> str:
    """The function of one printed stack frame: `vfs_read+5` -> `vfs_read`, perf mode's
    `ffffffff81 vfs_read+5` -> `vfs_read`, `7f12 malloc+3 (/lib/libc.so.6)` -> `malloc`;
    unknown frames (`0x7f12...`) stay as they are.  `;` is reserved by the folded format."""
    text = frame.strip()
    m = _PERF_FRAME.match(text)
    if m and " " in text:
        text = m.group(1)
    if not keep_offset:
        text = _OFFSET.sub("", text)
    return text.replace(";", ":") or "[unknown]"


def samples_from_entries(entries: Iterable[tuple[tuple, Any]],
                         stack_kinds: Optional[Sequence[str]] = None) -> list[Sample]:
    """Samples from decoded map entries (`MapSnapshot.entries`).  Stack values in the key
    (objects with `.frames`) are the frames, the other key parts the root frames, the value
    (an int, or anything with `.count`) the weight.  With both a kernel and a user stack in
    the key the kernel frames sit above the user frames; `stack_kinds` names each key part
    ("kstack", "ustack" or anything else), otherwise the first stack in the key is on top."""
    out: list[Sample] = []
    for key, value in entries:
        stacks: list[tuple[int, tuple[str, ...]]] = []
        other = []
        for i, part in enumerate(key):
            frames = getattr(part, "frames", None)
            if frames is None:
                other.append(part)
            else:
                kind = stack_kinds[i] if stack_kinds and i < len(stack_kinds) else ""
                stacks.append((1 if kind == "ustack" else 0, tuple(frames)))
        stacks.sort(key=lambda s: s[0])          # stable: kernel first, then key order
        count = value if isinstance(value, int) else getattr(value, "count", None)
        if not isinstance(count, int):
            raise ValueError("flame graphs need a map of counts, e.g. @[kstack] = count()")
        out.append((tuple(f for _k, fr in stacks for f in fr), tuple(other), count))
    return out


def samples_from_snapshot(snapshot: Any) -> list[Sample]:
    """Samples from a `MapSnapshot`, using its key type to tell kernel from user stacks."""
    kt = snapshot.spec.key_type
    elems = list(kt.elems) if kt is not None and kt.kind.value == "tuple" else [kt]
    kinds = [e.kind.value if e is not None else "" for e in elems]
    return samples_from_entries(snapshot.entries, kinds)


def fold(samples: Iterable[Sample], keep_offsets: bool = False) -> dict[tuple[str, ...], int]:
    """Merge samples into {root-first path: count}; empty stacks become `[empty]`."""
    folded: dict[tuple[str, ...], int] = {}
    for frames, other, count in samples:
        if count <= 0:
            continue
        path = tuple(str(k).replace(";", ":") for k in other)
        names = tuple(frame_name(f, keep_offsets) for f in reversed(tuple(frames)))
        path += names or ("[empty]",)
        folded[path] = folded.get(path, 0) + count
    return folded


def render_folded(samples: Iterable[Sample], keep_offsets: bool = False) -> str:
    """Folded stacks, one `root;...;leaf count` line per distinct stack, sorted."""
    folded = fold(samples, keep_offsets)
    return "".join(f"{';'.join(p)} {c}\n" for p, c in sorted(folded.items()))


def render_speedscope(samples: Iterable[Sample], name: str = "bpftrace") -> str:
    """speedscope's file format with one "sampled" profile (stacks root first)."""
    folded = fold(samples)
    index: dict[str, int] = {}
    stacks, weights = [], []
    for path, count in sorted(folded.items()):
        stacks.append([index.setdefault(f, len(index)) for f in path])
        weights.append(count)
    total = sum(weights)
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": [{"name": f} for f in index]},
        "profiles": [{"type": "sampled", "name": name, "unit": "none", "startValue": 0,
                      "endValue": total, "samples": stacks, "weights": weights}],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "pybpftrace",
    }
    return json.dumps(doc)


# ---- a frame tree laid out once for every graphical renderer

@dataclass
class Node:
    name: str
    count: int = 0
    children: dict[str, "Node"] = field(default_factory=dict)


@dataclass(frozen=True)
class Box:
    """One laid-out frame: `x`/`width` in samples, `depth` 0 at the root."""
    name: str
    x: int
    width: int
    depth: int
    path: tuple[str, ...]


def build_tree(samples: Iterable[Sample]) -> Node:
    root = Node("all")
    for path, count in fold(samples).items():
        root.count += count
        node = root
        for name in path:
            node = node.children.setdefault(name, Node(name))
            node.count += count
    return root


def layout(root: Node, min_fraction: float = 0.0) -> list[Box]:
    """Boxes in depth-first order, children sorted by name (flamegraph.pl's order), dropping
    frames narrower than `min_fraction` of the total."""
    boxes: list[Box] = []
    limit = root.count * min_fraction
    stack = [(root, 0, 0, ("all",))]
    while stack:
        node, x, depth, path = stack.pop()
        boxes.append(Box(node.name, x, node.count, depth, path))
        cx, pending = x, []
        for name in sorted(node.children):
            child = node.children[name]
            if child.count >= limit:
                pending.append((child, cx, depth + 1, path + (name,)))
            cx += child.count
        stack.extend(reversed(pending))
    return boxes


def frame_color(name: str, palette: str = "hot") -> str:
    """flamegraph.pl's palettes, chosen by a hash of the name so colours are stable."""
    h = zlib.crc32(name.encode())
    v1, v2, v3 = (h & 0xFF) / 255, ((h >> 8) & 0xFF) / 255, ((h >> 16) & 0xFF) / 255
    if palette == "hot":
        return f"rgb({205 + int(50 * v3)},{int(230 * v1)},{int(55 * v2)})"
    if palette == "mem":
        return f"rgb(0,{190 + int(50 * v2)},{int(210 * v1)})"
    return f"rgb({int(200 * v1) + 50},{int(80 * v2) + 80},{int(60 * v3)})"


def _tip(box: Box, total: int) -> str:
    pct = 100.0 * box.width / total if total else 0.0
    return f"{box.name} ({box.width:,} samples, {pct:.2f}%)"


# ---- HTML icicle (no script)

# Layout lives in inline styles (sanitisers of untrusted notebooks may drop <style>, and the
# graph must still read correctly); the <style> block only adds the hover outline.
_HTML_CSS = ".bt-flame .fg-label:hover{border-color:#000 !important;}"
_ROW = "display:flex;width:100%"
_HTML_MIN_LABEL = 0.015      # narrower frames keep only their tooltip (a 2-letter stub helps no one)
_LABEL = ("box-sizing:border-box;height:17px;line-height:17px;white-space:nowrap;"
          "overflow:hidden;text-overflow:ellipsis;border:1px solid #fff;border-radius:2px;"
          "padding:0 3px;font:12px Verdana,sans-serif;color:#000")


def render_html(samples: Iterable[Sample], title: str = "Flame graph",
                min_fraction: float = 0.002) -> str:
    """A self-contained icicle graph (root on top) as an HTML fragment: nested flex rows with
    inline widths and colours, full name and counts in each frame's `title` tooltip.  Frames
    narrower than `min_fraction` of all samples are left out."""
    root = build_tree(samples)
    total = root.count
    out = ['<div class="bt-flame" style="background:#fff;color:#000;padding:4px">',
           f"<style>{_HTML_CSS}</style>",
           '<div style="font:bold 14px Verdana,sans-serif;margin:2px 0 6px 0">'
           f"{html.escape(title)} ({total:,} samples)</div>"]
    if total:
        out.append(f'<div style="{_ROW}">{_html_node(root, total, total * min_fraction, total)}'
                   "</div>")
    out.append("</div>")
    return "".join(out)


def _html_node(node: Node, parent_count: int, limit: float, total: int) -> str:
    pct = 100.0 * node.count / parent_count
    tip = html.escape(_tip(Box(node.name, 0, node.count, 0, ()), total), quote=True)
    label = (f'<div class="fg-label" title="{tip}" '
             f'style="{_LABEL};background:{frame_color(node.name)}">'
             f"{html.escape(node.name) if node.count >= total * _HTML_MIN_LABEL else ''}</div>")
    kids = [c for _n, c in sorted(node.children.items()) if c.count >= limit]
    inner = ""
    if kids:
        inner = f'<div style="{_ROW}">' + "".join(
            _html_node(c, node.count, limit, total) for c in kids) + "</div>"
    return (f'<div style="width:{pct:.4f}%;flex:0 0 {pct:.4f}%;min-width:0;overflow:hidden">'
            f"{label}{inner}</div>")


# ---- flamegraph.pl-style interactive SVG

_SVG_SCRIPT = """
var svg=document.documentElement,frames=document.getElementById('frames'),
 details=document.getElementById('details'),matched=document.getElementById('matched'),
 unzoomBtn=document.getElementById('unzoom'),W=%(width)d,XPAD=%(xpad)d,CH=8;
function info(g){return g.getElementsByTagName('title')[0].textContent;}
function rect(g){return g.getElementsByTagName('rect')[0];}
function label(g){var t=g.getElementsByTagName('text')[0],r=rect(g),w=+r.getAttribute('width'),
 name=g.getAttribute('data-name');t.setAttribute('x',+r.getAttribute('x')+3);
 var n=Math.floor((w-6)/7);t.textContent=n<3?'':(name.length<=n?name:name.slice(0,n-2)+'..');}
function each(f){var gs=frames.getElementsByTagName('g');for(var i=0;i<gs.length;i++)f(gs[i]);}
function zoom(g){var r=rect(g),x0=+r.getAttribute('data-x'),w0=+r.getAttribute('data-w'),
 y0=+r.getAttribute('y'),scale=(W-2*XPAD)/w0;unzoomBtn.style.opacity=1;
 each(function(e){var er=rect(e),ex=+er.getAttribute('data-x'),ew=+er.getAttribute('data-w');
  var inside=ex>=x0-1e-9&&ex+ew<=x0+w0+1e-9,below=+er.getAttribute('y')%(cmp)s y0;
  if(inside||(below&&ex<=x0&&ex+ew>=x0+w0)){e.style.display='';
   var nx=XPAD+(Math.max(ex,x0)-x0)*scale,nw=(Math.min(ex+ew,x0+w0)-Math.max(ex,x0))*scale;
   er.setAttribute('x',nx);er.setAttribute('width',Math.max(nw,0.1));label(e);
   e.style.opacity=(inside?1:0.5);}else{e.style.display='none';}});}
function unzoom(){unzoomBtn.style.opacity=0;each(function(e){var er=rect(e);e.style.display='';
 e.style.opacity=1;er.setAttribute('x',er.getAttribute('data-ox'));
 er.setAttribute('width',er.getAttribute('data-ow'));label(e);});}
function search(term){if(!term){reset();return;}var re;try{re=new RegExp(term);}catch(x){return;}
 var spans=[];each(function(e){var r=rect(e);if(re.test(e.getAttribute('data-name'))){
  r.setAttribute('fill','rgb(230,0,230)');spans.push([+r.getAttribute('data-x'),+r.getAttribute('data-w')]);}
  else r.setAttribute('fill',r.getAttribute('data-fill'));});
 spans.sort(function(a,b){return a[0]-b[0]||b[1]-a[1];});var hit=0,end=-1;
 for(var i=0;i<spans.length;i++){var s=spans[i];if(s[0]>=end){hit+=s[1];end=s[0]+s[1];}
  else if(s[0]+s[1]>end){hit+=s[0]+s[1]-end;end=s[0]+s[1];}}
 matched.textContent='Matched: '+(100*hit/%(total)d).toFixed(1)+'%%';}
function reset(){each(function(e){var r=rect(e);r.setAttribute('fill',r.getAttribute('data-fill'));});
 matched.textContent='';}
each(function(g){g.addEventListener('click',function(){zoom(g);});
 g.addEventListener('mouseover',function(){details.textContent=info(g);});
 g.addEventListener('mouseout',function(){details.textContent=' ';});});
unzoomBtn.addEventListener('click',unzoom);
document.getElementById('search').addEventListener('click',function(){
 search(prompt('Enter a search term (regexp allowed, eg: ^ext4_)',''));});
window.addEventListener('keydown',function(e){if(e.keyCode===114||(e.ctrlKey&&e.keyCode===70)){
 e.preventDefault();search(prompt('Enter a search term (regexp allowed, eg: ^ext4_)',''));}
 else if(e.keyCode===27){unzoom();reset();}});
"""


def render_svg(samples: Iterable[Sample], title: str = "Flame Graph", width: int = 1200,
               frame_height: int = 16, inverted: bool = False, palette: str = "hot") -> str:
    """An interactive SVG like flamegraph.pl's: click to zoom, Ctrl-F/Search to highlight
    with a regexp (and the share matched), Esc/Reset Zoom; tooltips via <title>."""
    root = build_tree(samples)
    total = max(root.count, 1)
    xpad, top, bottom = 10, 48, 34
    scale = (width - 2 * xpad) / total
    boxes = [b for b in layout(root) if b.width * scale >= 0.1]
    depth = max((b.depth for b in boxes), default=0) + 1
    height = top + bottom + depth * frame_height
    esc = lambda s: html.escape(s, quote=True)  # noqa: E731
    parts = [
        '<?xml version="1.0" standalone="no"?>\n',
        f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">\n',
        '<defs><linearGradient id="background" y1="0" y2="1" x1="0" x2="0">'
        '<stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/>'
        '</linearGradient></defs>\n',
        '<style type="text/css">text{font-family:Verdana;font-size:12px;fill:rgb(0,0,0);}'
        '#frames>g:hover>rect{stroke:black;stroke-width:0.5;cursor:pointer;}'
        '#title{text-anchor:middle;font-size:17px;}#search,#unzoom{cursor:pointer;}'
        '#search,#matched{text-anchor:end;}</style>\n',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="url(#background)"/>\n',
        f'<text id="title" x="{width // 2}" y="24">{esc(title)}</text>\n',
        f'<text id="details" x="{xpad}" y="{height - 17}"> </text>\n',
        f'<text id="unzoom" x="{xpad}" y="24" style="opacity:0">Reset Zoom</text>\n',
        f'<text id="search" x="{width - xpad}" y="24">Search</text>\n',
        f'<text id="matched" x="{width - xpad}" y="{height - 17}"></text>\n',
        '<g id="frames">\n',
    ]
    for b in boxes:
        x = xpad + b.x * scale
        w = b.width * scale
        y = (top + b.depth * frame_height) if inverted else \
            (height - bottom - (b.depth + 1) * frame_height)
        fill = frame_color(b.name, palette) if b.depth else "rgb(250,250,250)"
        chars = int((w - 6) / 7)
        text = "" if chars < 3 else (b.name if len(b.name) <= chars else b.name[:chars - 2] + "..")
        parts.append(
            f'<g data-name="{esc(b.name)}"><title>{esc(_tip(b, total))}</title>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{frame_height - 1}" '
            f'fill="{fill}" rx="2" ry="2" data-fill="{fill}" data-x="{b.x}" data-w="{b.width}" '
            f'data-ox="{x:.1f}" data-ow="{w:.1f}"/>'
            f'<text x="{x + 3:.1f}" y="{y + frame_height - 5}">{esc(text)}</text></g>\n')
    script = _SVG_SCRIPT % {"width": width, "xpad": xpad, "total": total,
                            "cmp": ">" if not inverted else "<"}
    parts.append("</g>\n")
    parts.append(f'<script type="text/ecmascript"><![CDATA[{script}]]></script>\n</svg>\n')
    return "".join(parts)


# ---- PNG

def render_png(samples: Iterable[Sample], title: str = "Flame graph", width_px: int = 1200,
               dpi: int = 100, min_fraction: float = 0.001) -> bytes:
    """A static flame graph (root at the bottom) as PNG bytes, drawn with matplotlib."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    root = build_tree(samples)
    total = max(root.count, 1)
    boxes = layout(root, min_fraction)
    depth = max((b.depth for b in boxes), default=0) + 1
    row_in = 0.22
    fig = Figure(figsize=(width_px / dpi, max(1.5, depth * row_in + 0.8)), dpi=dpi)
    ax = fig.add_axes((0.005, 0.01, 0.99, 1 - 0.5 / max(1.5, depth * row_in + 0.8)))
    ax.set_xlim(0, total)
    ax.set_ylim(0, depth)
    ax.axis("off")
    chars_per_sample = (width_px * 0.99) / total / 7.0
    for b in boxes:
        colour = _rgb(frame_color(b.name)) if b.depth else (0.96, 0.96, 0.96)
        ax.add_patch(Rectangle((b.x, b.depth), b.width, 0.92, facecolor=colour,
                               edgecolor="white", linewidth=0.5))
        chars = int(b.width * chars_per_sample) - 1
        if chars >= 3:
            text = b.name if len(b.name) <= chars else b.name[:chars - 2] + ".."
            ax.text(b.x + total * 0.002, b.depth + 0.46, text, va="center", ha="left",
                    fontsize=8, family="DejaVu Sans", clip_on=True)
    fig.suptitle(f"{title} ({root.count:,} samples)", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _rgb(css: str) -> tuple[float, float, float]:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    return r, g, b


# ---- one entry point for front ends (CLI --flamegraph FORMAT, notebook display)

@dataclass(frozen=True)
class Format:
    render: Any           # (samples, **options) -> str | bytes
    mime: str
    extension: str


FORMATS: dict[str, Format] = {
    "folded": Format(render_folded, "text/plain", ".folded"),
    "speedscope": Format(render_speedscope, "application/json", ".speedscope.json"),
    "html": Format(render_html, "text/html", ".html"),
    "svg": Format(render_svg, "image/svg+xml", ".svg"),
    "png": Format(render_png, "image/png", ".png"),
}


def render(samples: Iterable[Sample], fmt: str, **options: Any) -> str | bytes:
    """Render samples in one of FORMATS; an unknown format is a one-line ValueError."""
    spec = FORMATS.get(fmt)
    if spec is None:
        raise ValueError(f"unknown flame graph format '{fmt}' (expected one of: "
                         f"{', '.join(FORMATS)})")
    return spec.render(list(samples), **options)


# ---- which maps are flame graphs, and files for the CLI and the notebook

_COUNT_KINDS = ("count", "sum", "int")


def is_stack_map(snapshot: Any) -> bool:
    """True for a map whose key holds a kstack/ustack and whose values are counts (count(),
    sum() or plain integers): the maps a flame graph can show."""
    spec = getattr(snapshot, "spec", None)
    kt, vt = getattr(spec, "key_type", None), getattr(spec, "value_type", None)
    if kt is None or vt is None or vt.kind.value not in _COUNT_KINDS:
        return False
    elems = list(kt.elems) if kt.kind.value == "tuple" else [kt]
    return any(e.kind.value in ("kstack", "ustack") for e in elems)


def format_for_path(path: str, fmt: Optional[str] = None) -> str:
    """The format named by `fmt`, else the one `path`'s extension names (`.json` is
    speedscope, `.txt` folded); a ValueError for anything else."""
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"unknown flame graph format '{fmt}' (expected one of: "
                             f"{', '.join(FORMATS)})")
        return fmt
    name = path.lower()
    for key, spec in sorted(FORMATS.items(), key=lambda kv: -len(kv[1].extension)):
        if name.endswith(spec.extension):
            return key
    aliases = {".json": "speedscope", ".txt": "folded", ".htm": "html"}
    for ext, key in aliases.items():
        if name.endswith(ext):
            return key
    raise ValueError(f"cannot tell the flame graph format of '{path}' from its extension: "
                     f"use one of {', '.join(s.extension for s in FORMATS.values())} or "
                     "--flamegraph-format")


def write_file(samples: Sequence[Sample], path: str, fmt: str, title: str = "Flame graph"
               ) -> None:
    """Render `samples` as `fmt` into `path` (text formats as UTF-8)."""
    options = {"title": title} if fmt in ("html", "svg", "png") else (
        {"name": title} if fmt == "speedscope" else {})
    data = render(samples, fmt, **options)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
        f.write(data)
