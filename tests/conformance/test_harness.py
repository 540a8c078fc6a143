"""The harness itself: normalisations, comparison and diffs (no kernel needed)."""
from __future__ import annotations

from .case import Case
from .cases import CASES, MARKER
from .compare import compare
from .normalise import NORMALISERS
from .runner import RunResult, filter_stderr


def _run(tracer, stdout="", stderr="", rc=0, pid=None):
    return RunResult(tracer=tracer, stdout=stdout, stderr=stderr, returncode=rc, workload_pid=pid)


def test_pid_normalisation_masks_only_the_workload_pid():
    case = Case("t", normalise=("pid",))
    ref = _run("bpftrace", "cfwork 1234 12345 1234\n", pid=1234)
    cand = _run("pybpftrace", "cfwork 777 12345 777\n", pid=777)
    assert compare(case, ref, cand).ok
    cand_wrong = _run("pybpftrace", "cfwork 777 12346 777\n", pid=777)
    verdict = compare(case, ref, cand_wrong)
    assert not verdict.ok
    assert "-cfwork <PID> 12345 <PID>" in verdict.diff and "+cfwork <PID> 12346 <PID>" in verdict.diff


def test_clock_and_date_masks():
    text = "at 01:02:03 on 2026-12-02\n"
    masked = NORMALISERS["date"](NORMALISERS["clock"](text, None), None)
    assert masked == "at <HH:MM:SS> on <DATE>\n"


def test_exit_code_and_stderr_channels_are_compared():
    case = Case("t", compare=("stdout", "stderr", "rc"))
    ref = _run("bpftrace", "", "stdin:1:1-2: ERROR: x\n", rc=1)
    assert compare(case, ref, _run("pybpftrace", "", "stdin:1:1-2: ERROR: x\n", rc=1)).ok
    verdict = compare(case, ref, _run("pybpftrace", "", "stdin:1:1-2: ERROR: x\n", rc=2))
    assert not verdict.ok and "exit code 2" in verdict.diff


def test_trailing_whitespace_and_missing_newline_are_visible():
    case = Case("t")
    verdict = compare(case, _run("bpftrace", "@h: \nend\n"), _run("pybpftrace", "@h:\nend"))
    assert not verdict.ok
    assert "-@h: $" in verdict.diff and "(no newline)" in verdict.diff


def test_rlimit_noise_and_notify_token_are_filtered():
    err = ("ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace. If ...\n"
           "__BPFTRACE_NOTIFY_PROBES_ATTACHED\nstdin:1:1: WARNING: w\n")
    assert filter_stderr(err) == "stdin:1:1: WARNING: w\n"


def test_case_catalogue_covers_the_brief():
    assert len(CASES) >= 45
    programs = " ".join(c.program for c in CASES)
    for needle in ("printf(", "print(", "exit()", "str(", "count()", "sum(", "avg(", "min(", "max(",
                   "stats(", "hist(", "lhist(", "delete(", "clear(", "zero(", "time(", "strftime(",
                   "join(", "ntop(", "cgroupid(", "strncmp(", "sizeof(", "system(", "cat(", "$1", "$#",
                   "unroll(", "while (", "? ", "else if", "comm", "pid", "tid", "uid", "gid", "username",
                   "cpu", "probe", "args->", "interval:", "profile:", "software:", "uprobe:", "kstack",
                   "ustack", "buf("):
        assert needle in programs, needle
    flags = {f for c in CASES for f in c.flags}
    assert {"-f", "--unsafe", "-q", "-c", "-p", "-l", "-lv"} <= flags
    assert sum("stderr" in c.compare and "rc" in c.compare for c in CASES) >= 10
    assert any(MARKER in c.program for c in CASES)


def test_deviation_rewrites_only_bpftraces_output():
    case = Case("t", deviations=("printf_percent",))
    ref = _run("bpftrace", "[100%%]\n")
    assert compare(case, ref, _run("pybpftrace", "[100%]\n")).ok
    # our side is never rewritten: printing 0.17's `%%` (or anything else) still fails
    assert not compare(case, ref, _run("pybpftrace", "[100%%]\n")).ok
    assert not compare(case, ref, _run("pybpftrace", "[100]\n")).ok
    # without the deviation named, the documented difference is a failure
    assert not compare(Case("t"), ref, _run("pybpftrace", "[100%]\n")).ok
