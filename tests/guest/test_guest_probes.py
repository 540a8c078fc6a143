"""Host side of the guest lane: boots ONE QEMU guest with Debian's stock kernel (guest/run-in-guest)
for the whole session, runs tests/guest/in_guest.py there (every case with bpftrace 0.17 and with
pybpftrace), then judges the outputs here: bpftrace's run must match the workload's known reads
(that checks the lane itself), and pybpftrace's stdout must match bpftrace's.

Run: `pytest tests/guest` (about 4 minutes on a 2-core machine; the first run also downloads
about 72 MB of Debian packages into /var/cache/pybpftrace-guest).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from . import cases as C

pytestmark = [pytest.mark.slow, pytest.mark.root, pytest.mark.bpftrace]

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "guest" / "run-in-guest"
GUEST_TIMEOUT = float(os.environ.get("PYBPFTRACE_GUEST_TIMEOUT", "900"))


def selected_cases(request) -> list[str]:
    """The cases the session's selected tests need (all of them unless -k narrowed it)."""
    names = {item.callspec.params["case"].name for item in request.session.items
             if item.module.__name__ == __name__ and hasattr(item, "callspec")
             and "case" in item.callspec.params}
    if any(item.module.__name__ == __name__ and item.name == "test_guest_runs_the_stock_kernel"
           for item in request.session.items):
        names = {c.name for c in C.CASES}
    return [c.name for c in C.CASES if c.name in names]


@pytest.fixture(scope="session")
def guest_report(request, tmp_path_factory) -> dict:
    """Boot the guest once, run the selected cases there and return the in-guest runner's JSON
    report (also kept as report.json and guest.log in pytest's temporary folder)."""
    python = ROOT / ".venv" / "bin" / "python"
    cmd = [sys.executable, str(RUNNER), str(python if python.exists() else sys.executable),
           str(Path(__file__).with_name("in_guest.py")), *selected_cases(request)]
    env = dict(os.environ, PYBPFTRACE_GUEST_TIMEOUT=str(GUEST_TIMEOUT))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env,
                              timeout=GUEST_TIMEOUT + 300)  # + first-time download and unpack
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"guest/run-in-guest did not return within {GUEST_TIMEOUT + 300:.0f} s:\n"
                    f"{(exc.stderr or b'')[-3000:]!r}")
    if proc.returncode != 0:
        pytest.fail(f"guest/run-in-guest exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"the guest printed no JSON report:\nstdout:\n{proc.stdout[-2000:]}\n"
                    f"stderr:\n{proc.stderr[-3000:]}")
    keep = tmp_path_factory.mktemp("guest")
    (keep / "report.json").write_text(proc.stdout)
    (keep / "guest.log").write_text(proc.stderr)
    report["log"] = proc.stderr
    return report


def case_runs(report: dict, case: C.Case) -> tuple[dict, dict]:
    runs = report["cases"].get(case.name)
    assert runs, f"the guest report has no case {case.name}"
    return runs["bpftrace"], runs["pybpftrace"]


def normalise(run: dict) -> dict:
    """The run with its own workload's pid replaced by a fixed word (each run has its own
    workload process, so `sleep by PID` differs only by that)."""
    pid = run.get("workload_pid")
    if not pid:
        return run
    return dict(run, stdout=re.sub(rf"\b{pid}\b", "WORKLOAD_PID", run["stdout"]))


def test_guest_runs_the_stock_kernel(guest_report):
    assert guest_report["kernel"] != os.uname().release, "the cases ran on the host's kernel"
    assert sorted(guest_report["cases"]) == sorted(c.name for c in C.CASES)


@pytest.mark.parametrize("case", C.CASES, ids=lambda c: c.name)
def test_bpftrace_reference_run(guest_report, case):
    """bpftrace 0.17's own output matches what the workload did: the lane attaches, times the
    workload and transports the output correctly."""
    ref, _ = case_runs(guest_report, case)
    assert ref["lane_error"] is None, ref["lane_error"]
    if case.program.startswith(("kfunc", "kretfunc")) and ref["rc"] != 0 and not ref["timed_out"]:
        # bpftrace 0.17's kfunc support is partial (e.g. no `func`): record its refusal;
        # pybpftrace is then judged against the workload alone
        pytest.skip(f"bpftrace 0.17 refused this kfunc program: {ref['stderr'].strip()[-300:]}")
    problems = C.workload_problems(case, ref)
    if problems:
        pytest.fail("\n".join(problems) + f"\nstdout:\n{ref['stdout']}\nstderr:\n{ref['stderr']}",
                    pytrace=False)


@pytest.mark.parametrize("case", C.CASES, ids=lambda c: c.name)
def test_pybpftrace_matches_bpftrace(guest_report, case):
    ref, ours = case_runs(guest_report, case)
    assert ours["lane_error"] is None, ours["lane_error"]
    if ref["rc"] != 0 or ref["lane_error"]:
        # no reference output: judge pybpftrace against the workload's known reads instead
        problems = C.workload_problems(case, ours, "pybpftrace")
        if problems:
            pytest.fail(f"{case.name}: {case.program}\n" + "\n".join(problems)
                        + f"\nbpftrace gave no reference: {ref['stderr'].strip()[-300:]}"
                        + f"\npybpftrace stdout:\n{ours['stdout']}\nstderr:\n{ours['stderr']}",
                        pytrace=False)
        return
    verdict = C.judge(case, normalise(ref), normalise(ours))
    if verdict is not None:
        pytest.fail(f"{case.name}: {case.program}\n{verdict}", pytrace=False)
