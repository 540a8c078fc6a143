"""The first lab notebook executes headless (nbclient) against the real kernel."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from harness import REAL

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-one-liners.ipynb"


def _text(output) -> str:
    if output["output_type"] == "stream":
        return output["text"]
    return output.get("data", {}).get("text/plain", "")


@pytest.mark.root
@pytest.mark.slow
def test_one_liners_lab_runs_and_shows_results(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name=REAL, timeout=60, interrupt_on_timeout=True,
                            allow_errors=False, coalesce_streams=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    texts = ["".join(_text(o) for o in c.outputs) for c in code]
    by_source = dict(zip((c.source for c in code), texts))

    def output_of(fragment: str) -> str:
        return next(t for s, t in by_source.items() if fragment in s)

    assert output_of("%check").splitlines()[-1] == "ready to trace"
    assert "tracepoint:syscalls:sys_enter_openat" in output_of("%probes tracepoint")
    assert "hello world" in output_of("hello world")
    assert "ls" in output_of("sys_enter_execve")
    assert "/etc/hostname" in output_of("str(args->filename)")
    assert "@[" in output_of("raw_syscalls:sys_enter { @[comm]")
    assert "@bytes" in output_of("@bytes = hist") and "[4K, 8K)" in output_of("@bytes = hist")
    assert "@ns[dd]" in output_of("@ns[comm]")
    assert "@reads" in output_of("interval:s:1")
    for c in code:
        if c.source.startswith("%%trace"):
            status = [o for o in c.outputs if "bpftrace: compiled" in _text(o)]
            assert status, f"no status line under {c.source.splitlines()[1]!r}"
            assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                           for o in c.outputs), "widgets are replaced by static output"
