"""Completion, Shift-Tab inspection and is_complete for bpftrace cells.

Owns `ProbeCatalog` (probe providers, tracepoints from tracefs, software/hardware events,
probe listing for `%probes`), `complete` (probe names outside action blocks; builtins,
functions, the cell's @maps and $variables inside them; magic names and options after `%`),
`inspect` (a builtin's or function's signature and doc from the compiler's registry, a
tracepoint's arguments, a magic's usage) and `is_complete` (bracket/string/comment balance,
for `jupyter console`).  Reads tracefs and the registry; never compiles or loads BPF.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Optional

from . import magics

TRACEFS_ROOTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
MAX_MATCHES = 500

# provider -> its short alias in bpftrace 0.17 (parser/ast attachpoint_parser)
PROVIDER_ALIASES = {
    "tracepoint": "t", "rawtracepoint": "rt", "kprobe": "k", "kretprobe": "kr", "uprobe": "u",
    "uretprobe": "ur", "usdt": "U", "profile": "p", "interval": "i", "software": "s",
    "hardware": "h", "kfunc": "f", "kretfunc": "fr", "iter": "it", "watchpoint": "w",
}
ALIAS_PROVIDERS = {alias: name for name, alias in PROVIDER_ALIASES.items()}
SPECIAL_PROBES = ("BEGIN", "END")
TIME_UNITS = ("s", "ms", "us", "hz")
SOFTWARE_EVENTS = ("alignment-faults", "bpf-output", "context-switches", "cs", "cpu-clock", "cpu",
                   "cpu-migrations", "dummy", "emulation-faults", "major-faults", "minor-faults",
                   "page-faults", "faults", "task-clock")
HARDWARE_EVENTS = ("backend-stalls", "branch-instructions", "branches", "branch-misses",
                   "bus-cycles", "cache-misses", "cache-references", "cpu-cycles", "cycles",
                   "frontend-stalls", "instructions", "ref-cycles")
KEYWORDS = ("if", "else", "unroll", "while", "return", "config")

_WORD = re.compile(r"[\w@$:*./\-]*$")
_IDENT_AT = re.compile(r"%{0,2}[\w@$:*./\-]+")


def _tracefs() -> Optional[Path]:
    for root in TRACEFS_ROOTS:
        if (root / "available_events").is_file():
            return root
    return None


class ProbeCatalog:
    """Probe names this machine offers, read lazily and cached for the kernel's lifetime."""

    @cached_property
    def tracepoints(self) -> dict[str, list[str]]:
        """category -> sorted event names."""
        root = _tracefs()
        cats: dict[str, list[str]] = {}
        if root is None:
            return cats
        try:
            text = (root / "available_events").read_text()
        except OSError:
            return cats
        for line in text.splitlines():
            cat, _, event = line.partition(":")
            if event:
                cats.setdefault(cat, []).append(event)
        for events in cats.values():
            events.sort()
        return cats

    def probe_matches(self, word: str) -> list[str]:
        parts = word.split(":")
        if len(parts) == 1:
            names = [p + ":" for p in PROVIDER_ALIASES] + list(SPECIAL_PROBES)
            return sorted(n for n in names if n.startswith(word))
        head = parts[0]
        provider = ALIAS_PROVIDERS.get(head, head)
        producer = _PROBE_LEVELS.get(provider)
        if producer is None:
            return []
        return [m for m in producer(self, head, parts[1:]) if m.startswith(word)]

    def listing(self, pattern: str, verbose: bool) -> str:
        """`bpftrace -l PATTERN` (with -v: tracepoint arguments), for `%probes`."""
        try:
            from bpftrace_loader import listing
        except ImportError as e:
            raise magics.MagicError(f"%probes: probe listing is unavailable ({e})") from None
        try:
            from bpftrace_compiler.probe_catalog import LISTERS
            return listing.list_probes(pattern or "*", verbose=verbose, pid=None,
                                       extra_listers=LISTERS)
        except Exception as e:  # a bad pattern is the user's error, shown in one line
            raise magics.MagicError(f"%probes: {e}") from None


def _tracepoint_level(cat: ProbeCatalog, head: str, rest: list[str]) -> list[str]:
    if len(rest) == 1:
        return [f"{head}:{c}:" for c in sorted(cat.tracepoints)]
    if len(rest) == 2:
        return [f"{head}:{rest[0]}:{e}" for e in cat.tracepoints.get(rest[0], [])]
    return []


def _rawtracepoint_level(cat: ProbeCatalog, head: str, rest: list[str]) -> list[str]:
    if len(rest) != 1:
        return []
    return sorted({f"{head}:{e}" for events in cat.tracepoints.values() for e in events})


def _timed_level(cat: ProbeCatalog, head: str, rest: list[str]) -> list[str]:
    return [f"{head}:{u}:" for u in TIME_UNITS] if len(rest) == 1 else []


def _events_level(events: tuple[str, ...]):
    def level(cat: ProbeCatalog, head: str, rest: list[str]) -> list[str]:
        return [f"{head}:{e}:" for e in events] if len(rest) == 1 else []
    return level


def _catalog_level(provider: str, fields: int):
    """uprobe/usdt/kfunc names from the compiler's probe catalog (the data behind -l): the
    last of `fields` fields is completed, the ones before it (a binary) kept as typed."""
    def level(cat: ProbeCatalog, head: str, rest: list[str]) -> list[str]:
        if fields > 1 and len(rest) == 1:
            return _path_level(head, rest)
        if len(rest) != fields and not (provider == "usdt" and len(rest) == 3):
            return []
        from bpftrace_compiler.probe_catalog import LISTERS
        try:
            lines = LISTERS[provider](":".join(rest) + "*", False, None, "")
        except Exception:       # an unreadable binary just completes nothing
            return []
        keep = fields - 1
        out = []
        for line in lines:
            tail = line.split(":")[1 + keep:] if provider != "usdt" else line.split(":")[2:]
            out.append(":".join([head, *rest[:keep], *tail]))
        return sorted(set(out))
    return level


def _path_level(head: str, rest: list[str]) -> list[str]:
    """A binary or library path being typed: matching files and folders."""
    import glob
    import os
    return sorted(f"{head}:{p}{'/' if os.path.isdir(p) else ':'}"
                  for p in glob.glob(rest[0] + "*")[:200] if p.startswith("/"))


_PROBE_LEVELS = {
    "uprobe": _catalog_level("uprobe", 2),
    "uretprobe": _catalog_level("uretprobe", 2),
    "usdt": _catalog_level("usdt", 2),
    "kfunc": _catalog_level("kfunc", 1),
    "kretfunc": _catalog_level("kretfunc", 1),
    "tracepoint": _tracepoint_level,
    "rawtracepoint": _rawtracepoint_level,
    "interval": _timed_level,
    "profile": _timed_level,
    "software": _events_level(SOFTWARE_EVENTS),
    "hardware": _events_level(HARDWARE_EVENTS),
}


# ---------------------------------------------------------------------------------------
# the builtin/function registry


@dataclass(frozen=True)
class Doc:
    text: str
    markdown: str


def registry_names() -> list[str]:
    try:
        from bpftrace_compiler.builtins import registry
    except Exception:   # the registry is optional for completion; never break the kernel
        return []
    return sorted(set(registry.BUILTINS) | set(registry.FUNCTIONS))


def registry_doc(name: str) -> Optional[Doc]:
    try:
        from bpftrace_compiler.builtins import registry
    except Exception:
        return None
    entry = registry.FUNCTIONS.get(name) or registry.BUILTINS.get(name)
    if entry is None:
        return None
    text = registry.documentation(name) or f"{entry.signature}\n\n{entry.doc}"
    head, _, body = text.partition("\n\n")
    return Doc(text=text + "\n", markdown=f"```\n{head}\n```\n\n{body}\n")


# ---------------------------------------------------------------------------------------
# complete


def _block_depth(code: str) -> int:
    """Brace depth at the end of `code`, ignoring strings and comments."""
    depth = 0
    for ch in _code_chars(code):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
    return depth


def _cell_names(code: str, sigil: str) -> list[str]:
    return sorted(set(re.findall(re.escape(sigil) + r"[A-Za-z_]\w*", code)))


def complete(code: str, cursor_pos: int, catalog: ProbeCatalog) -> tuple[list[str], int, int]:
    """(matches, cursor_start, cursor_end) for the word before the cursor."""
    before = code[:cursor_pos]
    line = before.rsplit("\n", 1)[-1]
    if line.lstrip().startswith("%"):
        return _complete_magic(line, cursor_pos)
    word = _WORD.search(before).group(0)
    start = cursor_pos - len(word)
    if _block_depth(before) == 0:
        matches = catalog.probe_matches(word)
    elif word.startswith("@"):
        matches = [m for m in _cell_names(code, "@") if m.startswith(word) and m != word]
    elif word.startswith("$"):
        matches = [m for m in _cell_names(code, "$") if m.startswith(word) and m != word]
    else:
        names = registry_names() + list(KEYWORDS) + _cell_names(code, "@")
        matches = sorted({n for n in names if n.startswith(word)}) if word else []
    return matches[:MAX_MATCHES], start, cursor_pos


def kind_of(match: str) -> str:
    """The type JupyterLab shows next to a completion (its `_jupyter_types_experimental`)."""
    if match.startswith("%"):
        return "magic"
    if match.startswith("@"):
        return "instance"       # maps: global state
    if match.startswith("$"):
        return "param"
    if ":" in match or match in SPECIAL_PROBES:
        return "path"
    if match in KEYWORDS:
        return "keyword"
    try:
        from bpftrace_compiler.builtins import registry
    except Exception:
        return "text"
    if match in registry.FUNCTIONS:
        return "function"
    return "instance" if match in registry.BUILTINS else "text"


def _complete_magic(line: str, cursor_pos: int) -> tuple[list[str], int, int]:
    stripped = line.lstrip()
    word = line.rsplit(" ", 1)[-1]
    start = cursor_pos - len(word)
    if " " not in stripped:
        names = ["%%trace", "%%flamegraph"] + ["%" + n for n in magics.LINE_MAGICS]
        return [n for n in names if n.startswith(word)], start, cursor_pos
    usage = {"%%trace": magics.TRACE_USAGE, "%%flamegraph": magics.FLAMEGRAPH_USAGE}.get(
        stripped.split(" ", 1)[0])
    if usage and word.startswith("-"):
        opts = re.findall(r"(--?[\w-]+)", usage)
        return sorted({o for o in opts if o.startswith(word) and o.startswith("--")}), start, cursor_pos
    return [], cursor_pos, cursor_pos


# ---------------------------------------------------------------------------------------
# inspect


def _word_at(code: str, cursor_pos: int) -> str:
    for m in _IDENT_AT.finditer(code):
        if m.start() <= cursor_pos <= m.end():
            return m.group(0)
    return ""


def inspect(code: str, cursor_pos: int, catalog: ProbeCatalog) -> Optional[Doc]:
    word = _word_at(code, cursor_pos)
    if not word:
        return None
    if word.startswith("%"):
        return _magic_doc(word.lstrip("%"))
    name = re.split(r"[^\w]", word.lstrip("@$"), maxsplit=1)[0]
    if ":" in word:
        doc = _probe_doc(word.rstrip(":"), catalog)
        if doc:
            return doc
    return registry_doc(name) if name else None


def _magic_doc(name: str) -> Optional[Doc]:
    if name == "%trace" or name == "trace":
        text = magics.TRACE_USAGE
    elif name in magics.LINE_MAGICS:
        m = magics.LINE_MAGICS[name]
        text = f"{m.usage}\n\n{m.doc}\n"
    else:
        return None
    return Doc(text=text, markdown=f"```\n{text}```\n")


def _probe_doc(word: str, catalog: ProbeCatalog) -> Optional[Doc]:
    parts = word.split(":")
    provider = ALIAS_PROVIDERS.get(parts[0], parts[0])
    if provider != "tracepoint" or len(parts) != 3 or "*" in word:
        return None
    if parts[2] not in catalog.tracepoints.get(parts[1], []):
        return None
    try:
        text = catalog.listing(f"tracepoint:{parts[1]}:{parts[2]}", verbose=True)
    except magics.MagicError:
        return None
    return Doc(text=text, markdown=f"```\n{text}```\n") if text.strip() else None


# ---------------------------------------------------------------------------------------
# is_complete


def _code_chars(code: str):
    """The characters of `code` outside strings and comments (a small scanner)."""
    i, n = 0, len(code)
    while i < n:
        ch = code[i]
        if ch == '"':
            i += 1
            while i < n and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
            i += 1
            continue
        if code.startswith("//", i):
            nl = code.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        yield ch
        i += 1


_OPEN = {"{": "}", "(": ")", "[": "]"}


def is_complete(code: str) -> tuple[str, str]:
    """("complete" | "incomplete" | "invalid", indent) for `jupyter console`."""
    body = "\n".join(ln for ln in code.split("\n") if not ln.lstrip().startswith("%"))
    if _unterminated(body):
        return "incomplete", ""
    stack: list[str] = []
    for ch in _code_chars(body):
        if ch in _OPEN:
            stack.append(_OPEN[ch])
        elif ch in _OPEN.values():
            if not stack or stack.pop() != ch:
                return "invalid", ""
    if stack:
        return "incomplete", "    " * stack.count("}")
    if code.lstrip().startswith("%%trace") and not body.strip():
        return "incomplete", ""
    return "complete", ""


def _unterminated(code: str) -> bool:
    """True when `code` ends inside a string or a block comment."""
    i, n = 0, len(code)
    while i < n:
        if code[i] == '"':
            i += 1
            while i < n and code[i] != '"':
                if code[i] == "\n":
                    break
                i += 2 if code[i] == "\\" else 1
            if i >= n:
                return True
            i += 1
        elif code.startswith("//", i):
            nl = code.find("\n", i)
            i = n if nl < 0 else nl
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            if end < 0:
                return True
            i = end + 2
        else:
            i += 1
    return False
