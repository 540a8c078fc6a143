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


def normalise(case: Case, text: str, run) -> str:
    """Apply the case's normalisers and regex substitutions to one output channel."""
    for name in case.normalise:
        text = NORMALISERS[name](text, run)
    for pattern, replacement in case.subs:
        text = re.sub(pattern, replacement, text)
    return text
