"""Compares two tracers' runs of one case channel by channel and renders a unified diff."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from .case import Case
from .normalise import normalise
from .runner import RunResult


@dataclass
class Verdict:
    """The outcome of one case: equal, or the diff that shows how it differs."""

    case: str
    ok: bool
    diff: str
    reference: RunResult
    candidate: RunResult


def channels(case: Case, run: RunResult) -> dict[str, str]:
    """The compared channels of one run, normalised."""
    found: dict[str, str] = {}
    for channel in case.compare:
        if channel == "stdout":
            found[channel] = normalise(case, run.stdout, run)
        elif channel == "stderr":
            found[channel] = normalise(case, run.stderr, run)
        elif channel == "file":
            found[channel] = normalise(case, run.output_file or "<no output file>\n", run)
        elif channel == "rc":
            found[channel] = f"exit code {run.returncode}\n"
        else:
            raise ValueError(f"unknown channel {channel!r} in case {case.name}")
    return found


def compare(case: Case, reference: RunResult, candidate: RunResult) -> Verdict:
    """Compare `candidate` with `reference`; problems (timeouts, crashes) count as differences."""
    parts: list[str] = []
    for run in (reference, candidate):
        if run.problem:
            parts.append(f"[{run.tracer}] {run.problem}\n")
    if reference.timed_out != candidate.timed_out:
        parts.append(f"[timed out] {reference.tracer}: {reference.timed_out}, "
                     f"{candidate.tracer}: {candidate.timed_out}\n")
    ref = channels(case, reference)
    cand = channels(case, candidate)
    for channel in case.compare:
        if ref[channel] != cand[channel]:
            diff = difflib.unified_diff(
                ref[channel].splitlines(keepends=True), cand[channel].splitlines(keepends=True),
                fromfile=f"{reference.tracer}/{channel}", tofile=f"{candidate.tracer}/{channel}")
            parts.append("".join(_mark_eol(line) for line in diff))
    if "stderr" not in case.compare and candidate.stderr.strip() and parts:
        parts.append(f"[{candidate.tracer} stderr]\n{candidate.stderr}")
    return Verdict(case=case.name, ok=not parts, diff="".join(parts),
                   reference=reference, candidate=candidate)


def _mark_eol(line: str) -> str:
    """Make a missing final newline or trailing blanks visible in a diff line."""
    if not line.endswith("\n"):
        return line + "\\ (no newline)\n"
    body = line[:-1]
    if body != body.rstrip(" \t") and body[:1] in "+- ":
        return body + "$\n"
    return line
