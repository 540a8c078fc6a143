"""printf-style format strings: parsing and the argument checks of printf/system/cat.

Owns `check_format()`, which reports bpftrace 0.17's messages for argument count and
argument type mismatches (`printf: %d specifier expects a value of type integer (string
supplied)`).  The formatting itself happens in user space (bpftrace_kernel.render).
"""
from __future__ import annotations

import re
from typing import Optional

from ..types import Kind, SizedType

# bpftrace 0.17's conversions: flags '-' and '0' only (no '+', ' ', '#', '*'), no %i/%e/%f;
# anything else is plain text (so `%+d` makes "Too many arguments").
# `%%` is not special to the 0.17 checker: "%%d" holds one %d specifier.
SPEC_RE = re.compile(r"%-?\d*(?:\.\d+)?(?:hh|h|ll|l|j|z|t)?(?P<conv>r[xh]?|[uxXocsdp])")
INTEGER_KINDS = frozenset({Kind.INT, Kind.POINTER, Kind.CTX})
STRING_KINDS = frozenset({Kind.STRING, Kind.PROBE, Kind.USERNAME, Kind.KSYM, Kind.USYM,
                          Kind.INET, Kind.TIMESTAMP, Kind.STRERROR, Kind.CGROUP_PATH,
                          Kind.MACADDR, Kind.KSTACK, Kind.USTACK, Kind.BUFFER})
_EXPECT = {"d": "integer", "i": "integer", "o": "integer", "u": "integer", "x": "integer",
           "X": "integer", "c": "integer", "p": "integer", "s": "string", "r": "buffer",
           "rx": "buffer", "rh": "buffer"}


def conversions(fmt: str) -> list[str]:
    """The conversion letters of `fmt`, in order."""
    return [m["conv"] for m in SPEC_RE.finditer(fmt)]


def _class(t: SizedType) -> str:
    if t.kind in INTEGER_KINDS:
        return "integer"
    if t.kind in STRING_KINDS:
        return "string" if t.kind != Kind.BUFFER else "buffer"
    return t.kind.value


def check_format(func: str, fmt: str, args: list[SizedType]) -> Optional[str]:
    """The error message for `func(fmt, args...)`, or None when it is fine."""
    convs = conversions(fmt)
    if len(args) < len(convs):
        return (f"{func}: Not enough arguments for format string ({len(args)} supplied, "
                f"{len(convs)} expected)")
    if len(args) > len(convs):
        return (f"{func}: Too many arguments for format string ({len(args)} supplied, "
                f"{len(convs)} expected)")
    for conv, t in zip(convs, args):
        want = _EXPECT[conv]
        have = _class(t)
        ok = have == want or (want == "string" and have == "buffer") or (
            want == "buffer" and have == "string")
        if not ok:
            return f"{func}: %{conv} specifier expects a value of type {want} ({have} supplied)"
    return None
