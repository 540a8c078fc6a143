"""JupyterLab in headless Chromium (playwright-core): the Stop button appears under a running
cell, the map table updates while it runs, a click stops the trace, the widget is replaced by
static output, and maps render as HTML.  Skips unless chromium, node and playwright-core exist
(PLAYWRIGHT_CORE_DIR: a folder whose node_modules has playwright-core)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from harness import REAL

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PW_DIR = os.environ.get("PLAYWRIGHT_CORE_DIR", "")
HAVE_PW = bool(PW_DIR) and (Path(PW_DIR) / "node_modules" / "playwright-core").is_dir()

SCRIPT = r"""
import { chromium } from "playwright-core";
const [base, exe] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: exe, args: ["--no-sandbox"] });
const page = await browser.newPage();
const out = {};
try {
  await page.goto(`${base}/lab/tree/demo.ipynb?token=t0ken&reset`);
  await page.waitForFunction(() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === "idle",
                             null, { timeout: 120000 });
  await page.evaluate(() => { void window.jupyterapp.commands.execute("notebook:run-all-cells"); });
  const stop = page.locator("button.jupyter-button", { hasText: "Stop" });
  await stop.waitFor({ timeout: 60000 });
  out.stopVisible = true;
  await page.waitForTimeout(2500);
  out.liveRows = await page.locator(".jp-OutputArea-output table tr").count();
  await stop.click();
  await page.waitForFunction(() => {
    const outs = window.jupyterapp.shell.currentWidget.content.widgets[1].model.outputs;
    for (let i = 0; i < outs.length; i++) { const o = outs.get(i).toJSON(); if (o.output_type === "stream" && o.text.includes("done")) return true; }
    return false;
  }, null, { timeout: 60000 });
  await page.waitForTimeout(500);
  out.buttonsLeft = await page.locator("button.jupyter-button").count();
  out.tables = await page.locator(".jp-OutputArea-output table").count();
  out.status = await page.evaluate(() => {
    const o = window.jupyterapp.shell.currentWidget.content.widgets[0].model.outputs.get(0).toJSON();
    return o.data["text/plain"];
  });
} finally {
  console.log(JSON.stringify(out));
  await browser.close();
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(not (CHROMIUM and shutil.which("node") and HAVE_PW),
                    reason="needs chromium, node and PLAYWRIGHT_CORE_DIR with playwright-core")
def test_stop_button_and_live_tables_in_jupyterlab(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }"),
        nbformat.v4.new_code_cell('BEGIN { @h = hist(5); @c["x"] = count(); printf("done\\n"); exit(); }'),
    ])
    nb.metadata["kernelspec"] = {"name": REAL, "display_name": "bpftrace", "language": "bpftrace"}
    nbformat.write(nb, tmp_path / "demo.ipynb")
    script = Path(PW_DIR) / "bt_kernel_lab_test.mjs"
    script.write_text(SCRIPT)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.token=t0ken", f"--ServerApp.root_dir={tmp_path}",
         "--LabApp.expose_app_in_browser=True"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token=t0ken", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        run = subprocess.run(["node", str(script), base, CHROMIUM], capture_output=True, text=True,
                             timeout=240, cwd=PW_DIR)
        result = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=30)
        script.unlink()
    assert result.get("stopVisible"), run.stderr
    assert result["liveRows"] > 1, "the map table shows while the trace runs"
    assert "stopped by the Stop button" in result["status"]
    assert result["buttonsLeft"] == 0, "widgets are replaced by static output"
    assert result["tables"] >= 3
