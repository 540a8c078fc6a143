"""Every conformance case: bpftrace 0.17 and pybpftrace on the same program and workload
must print the same thing (after the case's documented normalisations).

Cases outside cases.CORE are marked `slow`; `python -m tests.conformance` runs them all with a
pass/fail summary.
"""
from __future__ import annotations

import pytest

from .cases import CASES, CORE
from .compare import compare
from .runner import run_case


def _param(case):
    marks = [] if case.name in CORE else [pytest.mark.slow]
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.root
@pytest.mark.bpftrace
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_matches_bpftrace(case):
    reference = run_case(case, "bpftrace")
    assert reference.problem is None and not reference.timed_out, (
        f"the reference run itself failed: {reference.problem or 'timed out'}\n{reference.stderr}")
    candidate = run_case(case, "pybpftrace")
    verdict = compare(case, reference, candidate)
    assert verdict.ok, f"pybpftrace differs from bpftrace 0.17 on {case.name}:\n{verdict.diff}"
