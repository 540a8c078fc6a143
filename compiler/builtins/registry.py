"""The registry of bpftrace builtins (variables) and functions.

Owns `Entry` (name, signature, one-paragraph doc, which probe types allow it, the type rule
and the lowering) and the two tables `BUILTINS` and `FUNCTIONS`.  The semantic pass calls
`entry.check`, codegen calls `entry.lower` (or `entry.lower_assign` for aggregations such as
`@x = count()`), and the notebook reads names, signatures and docs for completion and
Shift-Tab help.  The entries themselves live in the sibling modules, imported at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

ANY_PROBE = "any"


@dataclass(frozen=True)
class Entry:
    name: str
    signature: str                  # e.g. "printf(char *fmt, ...)" or "pid: unsigned int64"
    doc: str                        # one paragraph, shown by the notebook
    probes: str = ANY_PROBE         # human-readable list of probe types that allow it
    check: Optional[Callable[[Any, Any], Any]] = None        # (checker, node) -> SizedType
    lower: Optional[Callable[[Any, Any], Any]] = None        # (lowerer, node) -> llvm value
    lower_assign: Optional[Callable[[Any, Any, Any], None]] = None  # aggregations
    # (lowerer, node, dst): write the value straight into zero-filled memory of its size
    # (saves a stack copy when a string goes into an event record)
    lower_into: Optional[Callable[[Any, Any, Any], None]] = None
    kind: str = "function"          # "builtin" | "function" | "aggregation"
    unsafe: bool = False            # needs --unsafe
    is_async: bool = False          # work happens in user space (an event is sent)


BUILTINS: dict[str, Entry] = {}
FUNCTIONS: dict[str, Entry] = {}


def builtin(entry: Entry) -> Entry:
    BUILTINS[entry.name] = entry
    return entry


def function(entry: Entry) -> Entry:
    FUNCTIONS[entry.name] = entry
    return entry


def lookup_builtin(name: str) -> Optional[Entry]:
    return BUILTINS.get(name)


def lookup_function(name: str) -> Optional[Entry]:
    return FUNCTIONS.get(name)


def completions(prefix: str = "") -> list[str]:
    """Every builtin and function name starting with `prefix`, sorted."""
    return sorted({n for n in list(BUILTINS) + list(FUNCTIONS) if n.startswith(prefix)})


def documentation(name: str) -> Optional[str]:
    """`signature` + blank line + doc (+ allowed probes) for the notebook's inspect request."""
    entry = FUNCTIONS.get(name) or BUILTINS.get(name)
    if entry is None:
        return None
    extra = "" if entry.probes == ANY_PROBE else f"\n\nProbe types: {entry.probes}."
    unsafe = "\n\nNeeds --unsafe." if entry.unsafe else ""
    return f"{entry.signature}\n\n{entry.doc}{extra}{unsafe}"


# Import the entry modules so that the tables are filled (they call builtin()/function()).
from . import variables, functions, aggregations, strings, symbols, probe_args  # noqa: E402,F401
