"""The profiling lab (notebooks/02-profiling.ipynb) and a %%flamegraph cell run headless
against the real kernel: flame graphs of the demo's main -> outer -> middle -> leaf chain,
folded and speedscope files next to the notebook, bpftrace's stack text."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "02-profiling.ipynb"
KERNEL_TESTS = ROOT / "tests" / "kernel"

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """The repo's kernel (real engine) installed in a private JUPYTER_PATH."""
    sys.path.insert(0, str(KERNEL_TESTS))
    try:
        from harness import REAL, install_test_specs
    finally:
        sys.path.remove(str(KERNEL_TESTS))
    root = tmp_path_factory.mktemp("specs")
    install_test_specs(root)
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root)
    yield REAL
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def _run(nb, kernel_name: str, cwd: Path, timeout: int = 90):
    NotebookClient(nb, kernel_name=kernel_name, timeout=timeout, interrupt_on_timeout=True,
                   allow_errors=False, resources={"metadata": {"path": str(cwd)}}).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def _flame_outputs(cell) -> list[dict]:
    return [o["data"] for o in cell.outputs if o.get("output_type") == "display_data"
            and "bt-flame" in o.get("data", {}).get("text/html", "")]


def test_flamegraph_cell_profiles_a_program(kernel_name, tmp_path):
    from .conftest import build_chain
    binary = build_chain()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f'%%flamegraph -d 3 -c "{binary}"')])
    cell, = _run(nb, kernel_name, tmp_path)
    flame, = _flame_outputs(cell)
    for name in ("main", "outer", "middle", "leaf"):
        assert f'title="{name} (' in flame["text/html"]
    assert "image/png" in flame
    assert "leaf+" in flame["text/plain"] and flame["text/plain"].startswith("@[chain, ")
    folded = (tmp_path / "flamegraph-1-at.folded").read_text().splitlines()
    top = max(folded, key=lambda ln: int(ln.rsplit(" ", 1)[1]))
    assert top.startswith("chain;") and "main;outer;middle;leaf" in top
    doc = json.loads((tmp_path / "flamegraph-1-at.speedscope.json").read_text())
    assert doc["profiles"][0]["type"] == "sampled"


@pytest.mark.slow
def test_profiling_lab_runs(kernel_name, tmp_path):
    shutil.copytree(NOTEBOOK.parent / "demo", tmp_path / "demo")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = _run(nb, kernel_name, tmp_path)
    by_source = {c.source.split("\n", 1)[0] + c.source: c for c in cells}

    def cell(fragment: str):
        return next(c for s, c in by_source.items() if fragment in s)

    one_step, = _flame_outputs(cell("%%flamegraph"))
    assert all(f'title="{n} (' in one_step["text/html"] for n in ("outer", "middle", "leaf"))
    by_hand = cell("@[ustack] = count()")
    texts = "".join(o.get("data", {}).get("text/plain", "") for o in by_hand.outputs)
    assert re.search(r"@\[\n    leaf\+\d+\n    middle\+\d+\n    outer\+\d+\n    main\+\d+\n", texts)
    assert re.search(r"@perf\[\n\t[0-9a-f]+ leaf\+\d+ \(/", texts)
    assert _flame_outputs(cell("sched_switch"))           # off-CPU graph
    printed = "".join(o.get("text", "") for o in cell("printf(").outputs)
    assert re.search(r"kernel:\n        \w+\+\d+\n", printed)
    assert re.search(r"user:\n        clock_nanosleep\+\d+\n", printed) or "user:\n" in printed
    written = sorted(p.name for p in tmp_path.glob("flamegraph-*"))
    assert any(n.endswith(".folded") for n in written)
    assert any(n.endswith(".speedscope.json") for n in written)
