"""What a cell shows: mime bundles for maps, the printf stream limiter, the status line.

Owns `map_bundle` (bpftrace's exact text as text/plain, plus HTML and PNG from
`bpftrace_kernel.render` when they can be made; a map keyed by stacks shows as a flame graph
and, when printed for good, writes its folded stacks and speedscope file next to the
notebook), `PrintfLimiter` (batches printf text and
enforces the per-cell line/byte caps, spooling the rest to a file) and `RunStatus` (the
one-line status: probes, elapsed/remaining, events, lost, why it stopped).  No Jupyter
messaging here: the kernel sends what these build.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)

MAP_MIME = "application/vnd.bpftrace.map+json"


def _render_html(snapshot, top: int, div: int) -> Optional[str]:
    try:
        from bpftrace_kernel.render import html as render_html
        return render_html.render_map_html(snapshot, top, div)
    except Exception:  # a renderer bug must never cost the user the text output
        log.exception("HTML rendering of %s failed", getattr(snapshot, "name", "?"))
        return None


def _render_png(snapshot, top: int, div: int) -> Optional[bytes]:
    try:
        from bpftrace_kernel.render import plots
        return plots.render_map_png(snapshot, top, div)
    except Exception:
        log.exception("plot rendering of %s failed", getattr(snapshot, "name", "?"))
        return None


def _render_json(snapshot, top: int, div: int) -> Optional[dict]:
    """bpftrace's `-f json` record for the map, for tools reading saved notebooks."""
    try:
        from bpftrace_kernel.render import json_output
        return json.loads(json_output.map_line(snapshot, top, div))
    except Exception:
        log.debug("JSON rendering of %s failed", getattr(snapshot, "name", "?"), exc_info=True)
        return None


def flamegraph_dir() -> Path:
    """Where stack maps' folded and speedscope files go: the kernel's working directory,
    which Jupyter sets to the notebook's folder."""
    return Path(os.environ.get("BPFTRACE_KERNEL_FLAMEGRAPH_DIR", "."))


def flamegraph_stem(cell: int, map_name: str) -> str:
    """File name stem for one cell's stack map: `flamegraph-3-at` for @ in cell 3."""
    tag = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in map_name.lstrip("@"))
    return f"flamegraph-{cell}-{tag or 'at'}"


def _flame_parts(snapshot, plot: bool, stem: Optional[str]
                 ) -> tuple[Optional[str], Optional[bytes]]:
    """(HTML icicle, PNG) of a stack-keyed map; with `stem`, also writes `<stem>.folded` and
    `<stem>.speedscope.json` in flamegraph_dir() and links them under the graph."""
    try:
        from bpftrace_kernel.render import flamegraph
        samples = flamegraph.samples_from_snapshot(snapshot)
        title = f"{snapshot.name} flame graph"
        page = flamegraph.render_html(samples, title=title)
        if stem:
            links = []
            folder = flamegraph_dir()
            folder.mkdir(parents=True, exist_ok=True)
            for fmt in ("folded", "speedscope"):
                path = folder / (stem + flamegraph.FORMATS[fmt].extension)
                flamegraph.write_file(samples, str(path), fmt, title=title)
                href = html.escape(path.as_posix(), quote=True)
                links.append(f'<a href="{href}" download>{html.escape(path.name)}</a>')
            page += ('<div style="font:11px monospace;color:#555;margin-top:4px">files: '
                     + " · ".join(links) + "</div>")
        png = flamegraph.render_png(samples, title=title) if plot else None
        return page, png
    except Exception:
        log.exception("flame graph of %s failed", getattr(snapshot, "name", "?"))
        return None, None


def render_map_text(snapshot, top: int = 0, div: int = 0) -> str:
    """bpftrace's text for a map snapshot (what print(@m) shows)."""
    from bpftrace_kernel.render import text as render_text
    return render_text.render_map(snapshot, top, div)


def map_bundle(snapshot, text: str, top: int = 0, div: int = 0,
               rich: bool = True, plot: bool = True, flame_stem: Optional[str] = None
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, metadata) for one printed map: text/plain is exactly `text`.  `plot=False`
    leaves out the PNG (JupyterLab prefers the HTML anyway; plots cost ~0.2 s each).  A map
    keyed by stacks shows a flame graph instead of a table; `flame_stem` names the folded
    and speedscope files written for it."""
    data: dict[str, Any] = {"text/plain": text}
    metadata: dict[str, Any] = {}
    if not rich or snapshot is None:
        return data, metadata
    if _is_stack_map(snapshot) and getattr(snapshot, "entries", None):
        page, png = _flame_parts(snapshot, plot, flame_stem)
    else:
        page = _render_html(snapshot, top, div)
        png = _render_png(snapshot, top, div) if plot else None
    if page:
        data["text/html"] = page
    if png:
        data["image/png"] = base64.b64encode(png).decode("ascii")
    record = _render_json(snapshot, top, div)
    if record is not None:
        # a vendor type, never application/json: JupyterLab would show a JSON tree instead
        data[MAP_MIME] = record
    return data, metadata


def _is_stack_map(snapshot) -> bool:
    try:
        from bpftrace_kernel.render import flamegraph
        return flamegraph.is_stack_map(snapshot)
    except Exception:
        return False


def snapshot_bundle(snapshot, rich: bool = True) -> Optional[tuple[dict[str, Any], dict[str, Any]]]:
    """Bundle for a live view of a map read while the trace runs: text, HTML, no plot (the
    final print has the plot).  None if it cannot be rendered: the live view is skipped,
    the final print still comes from the engine."""
    try:
        text = render_map_text(snapshot)
    except Exception:
        log.exception("text rendering of %s failed", getattr(snapshot, "name", "?"))
        return None
    return map_bundle(snapshot, text, rich=rich, plot=False)


# ---------------------------------------------------------------------------------------
# printf output: batching and per-cell caps


@dataclass
class PrintfLimiter:
    """Collects printf text, hands it out in batches, and caps what the cell shows.

    Text past `max_lines` lines or `max_bytes` bytes is appended to a spool file instead
    (created on first use in `spool_dir`), so a flood never reaches the browser."""
    max_lines: int
    max_bytes: int
    spool_dir: Path
    spool_name: str
    pending: list[str] = field(default_factory=list)
    shown_lines: int = 0
    shown_bytes: int = 0
    spooled_lines: int = 0
    spool_path: Optional[Path] = None
    _spool: Any = None

    @property
    def capped(self) -> bool:
        return self.spool_path is not None

    def feed(self, text: str) -> None:
        if not text:
            return
        if self.capped:
            self._spill(text)
            return
        room_lines = self.max_lines - self.shown_lines
        room_bytes = self.max_bytes - self.shown_bytes
        cut = _cut_point(text, room_lines, room_bytes)
        shown, rest = text[:cut], text[cut:]
        if shown:
            self.pending.append(shown)
            self.shown_lines += shown.count("\n")
            self.shown_bytes += len(shown.encode("utf-8", "surrogateescape"))
        if rest:
            self._spill(rest)

    def _spill(self, text: str) -> None:
        if self._spool is None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            self.spool_path = (self.spool_dir / self.spool_name).resolve()
            self._spool = open(self.spool_path, "w", encoding="utf-8", errors="surrogateescape")
        self._spool.write(text)
        self.spooled_lines += text.count("\n")

    def take(self) -> str:
        """The text to send now (may be empty)."""
        out = "".join(self.pending)
        self.pending.clear()
        if self._spool is not None:
            self._spool.flush()     # so the spool file can be read while the trace runs
        return out

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def summary(self, lost: int) -> Optional[str]:
        """The note shown when the cap was hit (None otherwise)."""
        if not self.capped:
            return None
        return (f"[output capped: {self.shown_lines:,} lines shown, {self.spooled_lines:,} spooled "
                f"to {self.spool_path}, {lost:,} events lost]\n")


def _cut_point(text: str, room_lines: int, room_bytes: int) -> int:
    """How many characters of `text` fit in the remaining line and byte room."""
    if room_lines <= 0 or room_bytes <= 0:
        return 0
    end = 0
    lines = 0
    size = 0
    while end < len(text):
        nl = text.find("\n", end)
        stop = len(text) if nl < 0 else nl + 1
        chunk = len(text[end:stop].encode("utf-8", "surrogateescape"))
        if size + chunk > room_bytes:
            break
        size += chunk
        end = stop
        if nl >= 0:
            lines += 1
            if lines >= room_lines:
                break
    return end


def default_spool_dir() -> Path:
    return Path(os.environ.get("BPFTRACE_KERNEL_SPOOL_DIR", "bpftrace-out"))


# ---------------------------------------------------------------------------------------
# the status line


STOP_REASONS = {
    "exit": "exit() was called",
    "duration": "its duration ended",
    "interrupt": "stopped by interrupt",
    "button": "stopped by the Stop button",
    "command": "the traced command exited",
    "special": "BEGIN/END only",
}


@dataclass
class RunStatus:
    """Counters for the one-line status shown under a running cell."""
    probes: int = 0
    duration: Optional[float] = None
    started: float = field(default_factory=time.monotonic)
    compile_seconds: float = 0.0
    events: int = 0
    lost: int = 0
    reason: str = ""
    ended: Optional[float] = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def remaining(self) -> Optional[float]:
        if self.duration is None:
            return None
        return max(0.0, self.duration - self.elapsed)

    @property
    def fraction(self) -> Optional[float]:
        if not self.duration:
            return None
        return min(1.0, self.elapsed / self.duration)

    def line(self) -> str:
        probes = f"{self.probes} probe" + ("" if self.probes == 1 else "s")
        parts = [f"compiled in {self.compile_seconds:.2f} s", f"{probes} attached"]
        if self.ended is None:
            t = f"running {self.elapsed:.1f} s"
            if self.remaining is not None:
                t += f", {self.remaining:.1f} s left"
            parts.append(t)
        else:
            parts.append(f"ran {self.elapsed:.1f} s")
        parts.append(f"{self.events:,} output events")
        parts.append(f"{self.lost:,} lost")
        if self.reason:
            parts.append(STOP_REASONS.get(self.reason, self.reason))
        return "bpftrace: " + " · ".join(parts)

    def bundle(self) -> dict[str, Any]:
        text = self.line()
        colour = "#b00" if self.lost else "#555"
        return {"text/plain": text + "\n",
                "text/html": f'<div style="font-family:monospace;font-size:90%;color:{colour}">'
                             f"{html.escape(text)}</div>"}
