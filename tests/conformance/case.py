"""The shape of a conformance case: a program, how to drive it, and what to compare."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """One program run under bpftrace 0.17 and pybpftrace, side by side.

    Text fields may hold the placeholders {{CFWORK}}, {{CFEXEC}} (built workload paths) and
    {{BUILD}} (tests/_build, the tracers' working directory).
    """

    name: str
    program: str = ""
    doc: str = ""
    args: tuple[str, ...] = ()           # positional parameters after the program
    flags: tuple[str, ...] = ()          # tracer flags, e.g. ("--unsafe",), ("-f", "json")
    workload: tuple[str, ...] | None = None  # argv started once the probes are attached
    workload_first: bool = False         # start the workload first ({{PID}} is its pid); it runs
                                         # on once the probes are attached (cfwork's W operation)
    end: str = "exit"                    # "exit": the program exits by itself; "sigint": after the workload
    compare: tuple[str, ...] = ("stdout",)   # channels: stdout, stderr, rc, file
    normalise: tuple[str, ...] = ()      # names from normalise.NORMALISERS, applied in order
    deviations: tuple[str, ...] = ()     # names from normalise.DEVIATIONS: documented places
                                         # (docs/deviations.md) where we deliberately differ;
                                         # they rewrite bpftrace 0.17's output only
    subs: tuple[tuple[str, str], ...] = ()   # extra (regex, replacement) pairs, applied last
    env: dict = field(default_factory=dict)
    program_file: bool = False           # pass the program as a file instead of -e
    output_file: bool = False            # add -o FILE and compare its content ("file" channel)
    listing: str | None = None           # for -l/-lv cases: the pattern (flags carry -l/-lv)
    timeout: float = 10.0                # for the workload and for the tracer to finish
    attach_timeout: float = 15.0
    settle: float = 0.2                  # pause before SIGINT for end="sigint"
