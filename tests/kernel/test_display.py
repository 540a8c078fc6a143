"""Unit tests of display bundles, the printf limiter and the status line."""
from __future__ import annotations

import base64

from bpftrace_compiler.artifact import MapSpec
from bpftrace_compiler.types import Kind, Simple, Str
from bpftrace_loader.values import MapSnapshot

from bpftrace_kernel import display


def _snap():
    spec = MapSpec("@x", "hash", 16, 8, 10, key_type=Str(16), value_type=Simple(Kind.COUNT))
    return MapSnapshot(spec, [(("bash",), 3)])


def test_map_bundle_text_is_exact_and_rich_types_come_from_renderers(monkeypatch):
    monkeypatch.setattr(display, "_render_html", lambda s, t, d: f"<table><tr><td>{s.name}</td></tr></table>")
    monkeypatch.setattr(display, "_render_png", lambda s, t, d: b"\x89PNG fake")
    data, _ = display.map_bundle(_snap(), "@x[bash]: 3\n")
    assert data["text/plain"] == "@x[bash]: 3\n"
    assert data["text/html"].startswith("<table>")
    assert base64.b64decode(data["image/png"]) == b"\x89PNG fake"
    assert "application/json" not in data


def test_map_bundle_carries_bpftraces_json_record_under_a_vendor_type(monkeypatch):
    import bpftrace_kernel.render as render_pkg

    class Json:
        def map_line(self, snap, top, div):
            return '{"type": "map", "data": {"@x": {"bash": 3}}}'
    monkeypatch.setattr(render_pkg, "json_output", Json(), raising=False)
    data, _ = display.map_bundle(_snap(), "@x[bash]: 3\n")
    assert data[display.MAP_MIME] == {"type": "map", "data": {"@x": {"bash": 3}}}
    assert "application/json" not in data


def test_renderer_failures_leave_the_text(monkeypatch):
    import bpftrace_kernel.render as render_pkg

    class Boom:
        def render_map_html(self, *a):
            raise RuntimeError("boom")

        def render_map_png(self, *a):
            raise RuntimeError("boom")

        def map_line(self, *a):
            raise RuntimeError("boom")
    monkeypatch.setattr(render_pkg, "html", Boom(), raising=False)
    monkeypatch.setattr(render_pkg, "plots", Boom(), raising=False)
    monkeypatch.setattr(render_pkg, "json_output", Boom(), raising=False)
    data, _ = display.map_bundle(_snap(), "@x[bash]: 3\n")
    assert data == {"text/plain": "@x[bash]: 3\n"}


def test_json_format_bundles_are_text_only():
    data, _ = display.map_bundle(_snap(), '{"type": "map"}\n', rich=False)
    assert data == {"text/plain": '{"type": "map"}\n'}


def test_limiter_batches_and_caps_lines(tmp_path):
    lim = display.PrintfLimiter(max_lines=3, max_bytes=10_000, spool_dir=tmp_path, spool_name="c.log")
    lim.feed("a\nb\n")
    assert lim.take() == "a\nb\n" and lim.take() == ""
    lim.feed("c\nd\ne\n")
    assert lim.take() == "c\n"
    lim.feed("f\n")
    assert lim.take() == ""
    assert lim.spool_path.read_text() == "d\ne\nf\n"
    lim.close()
    note = lim.summary(lost=7)
    assert "3 lines shown" in note and "3 spooled" in note and "7 events lost" in note
    assert str(tmp_path / "c.log") in note


def test_limiter_caps_bytes_and_needs_no_spool_below_the_cap(tmp_path):
    lim = display.PrintfLimiter(max_lines=100, max_bytes=10, spool_dir=tmp_path, spool_name="c.log")
    lim.feed("12345\n")
    assert lim.summary(0) is None and not (tmp_path / "c.log").exists()
    lim.feed("67890\nabc\n")
    assert lim.take() == "12345\n"
    assert lim.spooled_lines == 2


def test_status_line_running_and_final():
    st = display.RunStatus(probes=3, duration=10.0, compile_seconds=0.25)
    st.events, st.lost = 1234, 5
    line = st.line()
    assert "3 probes attached" in line and "s left" in line and "1,234 output events" in line and "5 lost" in line
    st.ended = st.started + 4.0
    st.reason = "interrupt"
    final = st.line()
    assert "ran 4.0 s" in final and "stopped by interrupt" in final and "left" not in final
    assert st.bundle()["text/plain"] == final + "\n"
