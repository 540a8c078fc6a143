"""Normalisations applied to both tracers' output before comparing, for values that
legitimately differ between two runs (pids, wall-clock times, sample counts).

Each normaliser takes the text and the run's RunResult; every case names the ones it uses.
"""
from __future__ import annotations

import re
from typing import Callable

from .case import Case


def _pid(text: str, run) -> str:
    """The workload's pid (== its tid, it is single-threaded) becomes <PID>."""
    if run.workload_pid is None:
        return text
    return re.sub(rf"(?<![0-9]){run.workload_pid}(?![0-9])", "<PID>", text)


def _clock(text: str, run) -> str:
    """Wall-clock HH:MM:SS becomes <HH:MM:SS>."""
    return re.sub(r"\b\d\d:\d\d:\d\d\b", "<HH:MM:SS>", text)


def _date(text: str, run) -> str:
    """A YYYY-MM-DD date becomes <DATE>."""
    return re.sub(r"\b\d{4}-\d\d-\d\d\b", "<DATE>", text)


def _sort_lines(text: str, run) -> str:
    """Lines sorted, for outputs whose order bpftrace leaves unspecified (equal map values)."""
    return "".join(sorted(text.splitlines(keepends=True)))


NORMALISERS: dict[str, Callable[[str, object], str]] = {
    "pid": _pid,
    "clock": _clock,
    "date": _date,
    "sort": _sort_lines,
}


def _printf_percent(text: str, run) -> str:
    """docs/deviations.md, printf `%%`: 0.17 prints `%%` literally when no conversion follows
    it; we print `%` (C semantics).  The only deviation the suite encodes."""
    return text.replace("%%", "%")


# Deliberate, documented differences (docs/deviations.md): each maps bpftrace 0.17's output
# to what pybpftrace prints instead.  Applied to bpftrace's runs only, never to ours, so a
# case that names one still fails if pybpftrace prints anything else.
DEVIATIONS: dict[str, Callable[[str, object], str]] = {
    "printf_percent": _printf_percent,
}


def normalise(case: Case, text: str, run) -> str:
    """Apply the case's deviations (to bpftrace's output), normalisers and regex
    substitutions to one output channel."""
    if getattr(run, "tracer", None) == "bpftrace":
        for name in case.deviations:
            text = DEVIATIONS[name](text, run)
    for name in case.normalise:
        text = NORMALISERS[name](text, run)
    for pattern, replacement in case.subs:
        text = re.sub(pattern, replacement, text)
    return text
