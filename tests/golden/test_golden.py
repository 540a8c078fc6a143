"""Golden tests: our renderers against real bpftrace 0.17 output.

cases/<name>.bt is a program that builds maps in BEGIN; cases/<name>.txt and .json are what
bpftrace 0.17 printed for it (re-capture with capture.py).  cases.py describes the same maps
as hand-built snapshots; here we render them and compare byte for byte.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from bpftrace_kernel.render import json_output, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, Case, PrintMap, PrintValue  # noqa: E402

CASE_DIR = Path(__file__).resolve().parent / "cases"


def _captured(case: Case, ext: str) -> str:
    return (CASE_DIR / f"{case.name}{ext}").read_bytes().decode("utf-8", "surrogateescape")


def render_text(case: Case) -> str:
    out = [text.attached_probes(1)]
    for p in case.prints:
        if isinstance(p, PrintMap):
            out.append(text.render_map(p.snapshot, p.top, p.div))
        else:
            out.append(text.render_value(p.type, p.value))
    out.append(text.EXIT_SEPARATOR)
    out.append(text.render_maps_at_exit(case.at_exit))
    return "".join(out)


def render_json(case: Case) -> str:
    out = [json_output.attached_probes(1)]
    for p in case.prints:
        if isinstance(p, PrintMap):
            out.append(json_output.map(p.snapshot, p.top, p.div))
        else:
            out.append(json_output.value(p.type, p.value))
    out.append("\n\n")      # 0.17 writes the exit separator in JSON mode too
    out.append(json_output.maps_at_exit(case.at_exit))
    return "".join(out)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_text_matches_bpftrace(case: Case) -> None:
    assert render_text(case) == _captured(case, ".txt")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_json_matches_bpftrace(case: Case) -> None:
    expected = _captured(case, ".json")
    for theirs, ours in case.json_deviations:
        assert theirs in expected, "the documented deviation no longer shows in the capture"
        expected = expected.replace(theirs, ours)
    assert render_json(case) == expected


def test_every_program_has_a_case() -> None:
    programs = {p.stem for p in CASE_DIR.glob("*.bt")}
    assert programs == {c.name for c in CASES}


@pytest.mark.bpftrace
@pytest.mark.root
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_captures_are_current(case: Case) -> None:
    """The stored captures are still what the installed bpftrace prints."""
    from capture import run_bpftrace
    program = CASE_DIR / f"{case.name}.bt"
    assert run_bpftrace(program, json=False) == _captured(case, ".txt")
    assert run_bpftrace(program, json=True) == _captured(case, ".json")
