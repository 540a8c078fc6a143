"""Fuzz suite: generated and mutated programs never crash, hang, show a traceback or give an
unlocated error, and running them leaves nothing loaded.

Seeded and reproducible: FUZZ_SEED (default 20261202) and FUZZ_COUNT (default 3000) choose the
programs (generated, typed, mutated corpus, mutated typed: see generator.py); a failure names
the seed and index, and `programs(seed, count)` replays it.  The in-process checks compile
every program through LLVM (about 1-2 minutes on 2 cores); CI runs the defaults.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.fuzz.generator import call_cases, deep_nesting_cases, programs
from tests.bpf_objects import our_programs, wait_until_none_of

SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
COUNT = int(os.environ.get("FUZZ_COUNT", "3000"))
PER_PROGRAM_SECONDS = 60          # a megabyte program takes ~15 s to parse and refuse
PYBPFTRACE = [sys.executable, "-m", "bpftrace_kernel.cli"]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def _compile(text: str):
    from bpftrace_compiler.pipeline import compile_source
    return compile_source(text)


def _is_global(message: str) -> bool:
    """Errors about the whole program, which bpftrace also prints without a location."""
    return "BPFTRACE_" in message


def _check_all(cases) -> tuple[list, dict]:
    """Compile every (label, text); returns the failures and a count of outcomes."""
    from bpftrace_compiler.diagnostics import CompileError
    failures, outcomes = [], {"compiled": 0, "located error": 0}
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for label, text in cases:
            signal.alarm(PER_PROGRAM_SECONDS)
            try:
                _compile(text)
                outcomes["compiled"] += 1
            except CompileError as exc:
                unlocated = [d for d in exc.diagnostics.errors
                             if (d.span is None or d.span.line == 0) and not _is_global(d.message)]
                if unlocated:
                    failures.append((label, text, f"unlocated error: {unlocated[0].message}"))
                else:
                    outcomes["located error"] += 1
                    str(exc)                       # the rendered text must not crash either
            except Hang:
                failures.append((label, text, f"no answer within {PER_PROGRAM_SECONDS} s"))
            except Exception as exc:       # anything else is a crash the user would see
                failures.append((label, text, f"{type(exc).__name__}: {exc}"))
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return failures, outcomes


def _report(failures) -> str:
    return "\n\n".join(f"{l}\n{t[:300]!r}\n-> {m}" for l, t, m in failures[:10])


def test_compiler_never_crashes_on_fuzzed_programs():
    failures, outcomes = _check_all(programs(SEED, COUNT))
    assert not failures, _report(failures)
    # the typed generator must keep reaching codegen, not only the first semantic error
    assert outcomes["compiled"] >= COUNT // 10, outcomes


def test_every_builtin_function_with_wrong_argument_counts_and_types():
    failures, outcomes = _check_all(call_cases())
    assert not failures, _report(failures)
    assert outcomes["located error"] > outcomes["compiled"] > 0, outcomes


def test_hostile_programs_in_process():
    failures, _ = _check_all(deep_nesting_cases())
    assert not failures, _report(failures)


@pytest.mark.parametrize("label,text", deep_nesting_cases(), ids=[c[0] for c in deep_nesting_cases()])
def test_hostile_programs_get_a_located_error_or_run(label, text):
    """Programs that crash, hang or blow up bpftrace 0.17 are refused cleanly by the CLI
    (fed on stdin as bytes: NULs and a megabyte do not fit in argv)."""
    proc = subprocess.run(PYBPFTRACE + ["-"], input=text.encode("utf-8", "surrogateescape"),
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    assert proc.returncode in (0, 1), (proc.returncode, err[-2000:])
    if proc.returncode == 1:
        first = err.splitlines()[0] if err else ""
        located = first.startswith("stdin:") and ": ERROR: " in first
        global_limit = first.startswith("ERROR: ") and "BPFTRACE_" in err
        assert located or global_limit, err[:2000]


@pytest.mark.root
def test_fuzzed_programs_run_without_traceback_or_leak():
    """A sample of the fuzzed programs that compile and only use BEGIN/END is run for real:
    no traceback, exit code 0 or 1, nothing left loaded."""
    before = {p["id"] for p in our_programs()}
    ran = 0
    for label, text in programs(SEED + 1, COUNT):
        if any(p in text for p in ("tracepoint", "profile", "software", "kprobe", "interval", "system", "signal", "nosuch")):
            continue
        try:
            _compile(text)
        except Exception:
            continue
        proc = subprocess.run(PYBPFTRACE + ["--unsafe", "-e", text], capture_output=True, timeout=60,
                              env={**os.environ, "BPFTRACE_MAX_PROBES": "16"})
        err = proc.stderr.decode("utf-8", "replace")
        assert "Traceback" not in err and "internal error" not in err, f"{label}\n{text}\n{err[-2000:]}"
        assert proc.returncode in (0, 1), f"{label}\n{text}\n{err[-2000:]}"
        ran += 1
        if ran >= 25:
            break
    assert ran >= 20, "the generator produced too few runnable programs"
    assert not wait_until_none_of(before)
