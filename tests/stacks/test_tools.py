"""Our flame graph files open in their usual tools: the speedscope file loads in speedscope's
own offline web app (npm package `speedscope`, installed by scripts/setup into
.cache/speedscope) in headless Chromium, which names the page after the loaded profile."""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from bpftrace_kernel.render import flamegraph as F

ROOT = Path(__file__).resolve().parents[2]
SPEEDSCOPE = ROOT / ".cache" / "speedscope" / "node_modules" / "speedscope" / "dist" / "release"
CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")

SAMPLES = [(("leaf+12", "middle+9", "outer+9", "main+45"), ("chain",), 90),
           (("clock_nanosleep+35", "main+50"), ("chain",), 10),
           (("std::vector<int>::push_back(int const&)+4", "main+3"), ("app",), 2)]


@pytest.fixture
def served(tmp_path):
    """An HTTP server on 127.0.0.1 for tmp_path, holding speedscope's app as app/."""
    if not (SPEEDSCOPE / "index.html").is_file():
        pytest.skip("speedscope's web app is missing (scripts/setup installs it with npm)")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    (tmp_path / "app").symlink_to(SPEEDSCOPE)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _loaded_title(base: str, name: str) -> str:
    """The page title speedscope shows after importing /name ("" when the import failed)."""
    try:
        dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                              "--virtual-time-budget=4000", "--dump-dom",
                              f"{base}/app/index.html#profileURL={base}/{name}"],
                             capture_output=True, text=True, timeout=45).stdout
    except subprocess.TimeoutExpired:       # an import error dialog can block the page
        return ""
    m = re.search(r"<title>([^<]*)</title>", dom)
    return m.group(1) if m else ""


def test_speedscope_opens_our_profiles(served):
    folder, base = served
    (folder / "ours.speedscope.json").write_text(F.render(SAMPLES, "speedscope",
                                                          name="chain profile"))
    assert _loaded_title(base, "ours.speedscope.json") == "chain profile - speedscope"


def test_speedscope_opens_our_folded_stacks(served):
    """speedscope also imports Brendan Gregg's folded format (its "collapsed stack" import)."""
    folder, base = served
    (folder / "ours.folded").write_text(F.render(SAMPLES, "folded"))
    assert F.render(SAMPLES, "folded").splitlines()[-1] == "chain;main;outer;middle;leaf 90"
    assert _loaded_title(base, "ours.folded") == "ours.folded - speedscope"
