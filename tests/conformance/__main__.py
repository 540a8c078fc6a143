"""`python -m tests.conformance`: run the conformance cases and print pass/fail per case.

    python -m tests.conformance                 # every case, bpftrace vs pybpftrace
    python -m tests.conformance -k printf -v    # cases whose name contains "printf", with diffs
    python -m tests.conformance --candidate bpftrace   # bpftrace vs itself (determinism check)
    python -m tests.conformance --list
"""
from __future__ import annotations

import argparse
import sys
import time

from .cases import CASES, CORE
from .compare import compare
from .runner import TRACERS, run_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="pattern", action="append", default=[],
                        help="only cases whose name contains this (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the diff of every failure")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--core", action="store_true", help="only the quick core subset (cases.CORE)")
    parser.add_argument("--reference", default="bpftrace", choices=sorted(TRACERS))
    parser.add_argument("--candidate", default="pybpftrace", choices=sorted(TRACERS))
    opts = parser.parse_args(argv)

    cases = [c for c in CASES if not opts.pattern or any(p in c.name for p in opts.pattern)]
    if opts.core:
        cases = [c for c in cases if c.name in CORE]
    if opts.list:
        for case in cases:
            print(f"{case.name:40s} {case.doc}")
        return 0
    passed = 0
    started = time.monotonic()
    for case in cases:
        reference = run_case(case, opts.reference)
        candidate = run_case(case, opts.candidate)
        verdict = compare(case, reference, candidate)
        passed += verdict.ok
        status = "PASS" if verdict.ok else "FAIL"
        print(f"{status}  {case.name:40s} {reference.seconds:5.2f}s {candidate.seconds:5.2f}s", flush=True)
        if not verdict.ok and opts.verbose:
            print(_indent(verdict.diff), flush=True)
    total = len(cases)
    print(f"\n{passed}/{total} passed ({opts.candidate} against {opts.reference}) "
          f"in {time.monotonic() - started:.1f} s")
    return 0 if passed == total else 1


def _indent(text: str) -> str:
    return "".join("    " + line for line in text.splitlines(keepends=True))


if __name__ == "__main__":
    sys.exit(main())
