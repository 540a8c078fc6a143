"""Probe listing for `-l` / `-lv`, in bpftrace 0.17's exact output format.

Owns `list_probes(pattern, verbose, pid)`: the matching probes, one `provider:...` line each,
sorted, and with `-v` the tracepoint arguments from the tracefs format files (`    int dfd`).
Providers are listed through the `LISTERS` registry; 0.17's quirk of printing software and
hardware as `software:<pattern>:` is kept.  Reads tracefs and ELF files only.
"""
from __future__ import annotations

import fnmatch
import os
import re
from typing import Callable, Iterable, Optional


TRACEFS = "/sys/kernel/tracing"

# bpftrace's short provider names
ALIASES = {"t": "tracepoint", "rt": "rawtracepoint", "k": "kprobe", "kr": "kretprobe",
           "u": "uprobe", "ur": "uretprobe", "U": "usdt", "s": "software", "h": "hardware",
           "p": "profile", "i": "interval", "f": "kfunc", "fr": "kretfunc", "it": "iter",
           "w": "watchpoint", "fentry": "kfunc", "fexit": "kretfunc"}

ITER_TARGETS = ("task", "task_file")
_FIELD = re.compile(r"^\s*field:(?P<decl>[^;]*);")


def _match(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)


def _split(pattern: str) -> tuple[str, str]:
    provider, _, rest = pattern.partition(":")
    return ALIASES.get(provider, provider), rest


# ---------------------------------------------------------------- tracepoints
def tracepoint_events(tracefs: str = TRACEFS) -> list[str]:
    """Every "category:event" from available_events (or the events/ tree)."""
    try:
        with open(os.path.join(tracefs, "available_events")) as f:
            return sorted({line.strip() for line in f if line.strip()})
    except OSError:
        events_dir = os.path.join(tracefs, "events")
        out = []
        for cat in sorted(os.listdir(events_dir)) if os.path.isdir(events_dir) else ():
            cat_dir = os.path.join(events_dir, cat)
            if os.path.isdir(cat_dir):
                out.extend(f"{cat}:{ev}" for ev in sorted(os.listdir(cat_dir))
                           if os.path.isdir(os.path.join(cat_dir, ev)))
        return out


def tracepoint_args(category: str, event: str, tracefs: str = TRACEFS) -> list[str]:
    """The `-lv` argument lines of a tracepoint: each non-common field as declared."""
    path = os.path.join(tracefs, "events", category, event, "format")
    lines = []
    try:
        with open(path) as f:
            for line in f:
                m = _FIELD.match(line)
                if m and not m.group("decl").split()[-1].startswith("common_"):
                    lines.append("    " + m.group("decl").strip())
    except OSError:
        pass
    return lines


def _list_tracepoints(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
    pattern = rest or "*"
    if pattern.count(":") == 0:
        pattern += ":*"
    out = []
    for name in tracepoint_events(tracefs):
        if _match(name, pattern):
            out.append(f"tracepoint:{name}")
            if verbose:
                out.extend(tracepoint_args(*name.split(":", 1), tracefs))
    return out


# ---------------------------------------------------------------- the others
def _list_perf_quirk(provider: str) -> Callable:
    """0.17 lists software/hardware events as the pattern itself: `software:<rest>:`."""
    def lister(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
        return [f"{provider}:{rest or '*'}:"]
    return lister


def _list_iter(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
    return [f"iter:{t}" for t in ITER_TARGETS if _match(t, rest or "*")]


def _list_kprobes(provider: str) -> Callable:
    def lister(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
        try:
            with open(os.path.join(tracefs, "available_filter_functions")) as f:
                funcs = sorted({line.split()[0] for line in f if line.strip()})
        except OSError:
            funcs = _kallsyms_functions()
        if not os.path.exists("/sys/bus/event_source/devices/kprobe/type"):
            return []           # no kprobes in this kernel: nothing can be attached
        return [f"{provider}:{fn}" for fn in funcs if _match(fn, rest or "*")]
    return lister


def _kallsyms_functions() -> list[str]:
    """Text symbols of /proc/kallsyms (core kernel and modules), when the ftrace function list
    is unreadable."""
    try:
        with open("/proc/kallsyms") as f:
            return sorted({parts[2] for parts in (line.split() for line in f)
                           if len(parts) >= 3 and parts[1] in "tT" and "." not in parts[2]})
    except OSError:
        return []


def _list_uprobes(provider: str) -> Callable:
    def lister(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
        path, _, func = rest.rpartition(":") if rest.count(":") else (rest, "", "*")
        if (not path or path == "*") and pid:
            path = os.readlink(f"/proc/{pid}/exe")
        if not path or not os.path.isfile(path):
            return []
        from .binary_symbols import function_offsets
        try:
            names = sorted(function_offsets(path))
        except (OSError, ValueError):
            names = []
        return [f"{provider}:{path}:{n}" for n in names if _match(n, func or "*")]
    return lister


def _list_usdt(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
    """`usdt:PATH:[PROVIDER:]NAME`: the file's .note.stapsdt probes."""
    parts = rest.split(":")
    path = parts[0]
    if (not path or path == "*") and pid:
        path = os.readlink(f"/proc/{pid}/exe")
    want = ":".join(parts[1:]) or "*:*"
    if want.count(":") == 0:
        want = "*:" + want
    from .binary_symbols import usdt_probes
    try:
        probes = usdt_probes(path)
    except (OSError, ValueError):
        return []
    return [f"usdt:{path}:{p.provider}:{p.name}" for p in probes
            if _match(f"{p.provider}:{p.name}", want)]


LISTERS: dict[str, Callable[[str, bool, Optional[int], str], list[str]]] = {
    "hardware": _list_perf_quirk("hardware"),
    "iter": _list_iter,
    "kprobe": _list_kprobes("kprobe"),
    "software": _list_perf_quirk("software"),
    "tracepoint": _list_tracepoints,
    "uprobe": _list_uprobes("uprobe"),
    "usdt": _list_usdt,
}


def _search_everywhere(pattern: str, verbose: bool, tracefs: str) -> list[str]:
    """A pattern without a provider: 0.17 prints the software/hardware quirk lines and every
    iter/tracepoint probe whose full name matches."""
    out = [f"hardware:{pattern}:", f"software:{pattern}:"]
    out.extend(f"iter:{t}" for t in ITER_TARGETS if _match(f"iter:{t}", pattern))
    for name in tracepoint_events(tracefs):
        if _match(f"tracepoint:{name}", pattern):
            out.append(f"tracepoint:{name}")
            if verbose:
                out.extend(tracepoint_args(*name.split(":", 1), tracefs))
    return out


def _blocks(lines: Iterable[str]) -> list[list[str]]:
    """Group a probe line with the argument lines that follow it (for sorting)."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith(" ") and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def _demangled(line: str) -> str:
    """`uprobe:/path:_ZN3foo3barEv` -> `uprobe:/path:foo::bar()` (bpftrace lists C++ names
    demangled)."""
    provider, _, rest = line.partition(":")
    path, _, func = rest.rpartition(":")
    if provider in ("uprobe", "uretprobe") and func.startswith("_Z"):
        from .demangle import demangle
        return f"{provider}:{path}:{demangle(func)}"
    return line


def list_probes(pattern: str = "", verbose: bool = False, pid: Optional[int] = None,
                tracefs: str = TRACEFS, extra_listers: Optional[dict] = None) -> str:
    """bpftrace's `-l [pattern]` / `-lv` output text (each line ends with a newline).
    `extra_listers` (provider -> lister) add or replace providers: bpftrace_kernel passes the
    compiler's dynamic-probe catalog (uprobe, usdt, kfunc, rawtracepoint)."""
    listers = {**LISTERS, **(extra_listers or {})}
    pattern = pattern.strip()
    if pid and (not pattern or pattern == "*"):
        # -p PID -l: the process's own probes (its executable's functions, every usdt probe
        # of the objects it has mapped), as bpftrace 0.17 lists them
        lines = [line for provider in ("uprobe", "usdt") if provider in listers
                 for line in listers[provider]("*:*" if provider == "uprobe" else "*",
                                               verbose, pid, tracefs)]
    elif not pattern or pattern == "*":
        lines = []
        for provider in ("hardware", "iter", "software", "tracepoint"):
            lines.extend(LISTERS[provider]("*" if provider != "tracepoint" else "*:*",
                                           verbose, pid, tracefs))
    elif ":" not in pattern:
        # 0.17 aborts on a bare word ("Invalid probe type"); we search for it instead
        if not any(c in pattern for c in "*?["):
            pattern = f"*{pattern}*"
        lines = _search_everywhere(pattern, verbose, tracefs)
    else:
        provider_pat, rest = _split(pattern)
        lines = []
        for provider, lister in listers.items():
            if _match(provider, provider_pat):
                lines.extend(_demangled(line) for line in lister(rest, verbose, pid, tracefs))
    blocks = sorted(_blocks(lines), key=lambda b: b[0])
    return "".join(line + "\n" for block in blocks for line in block)
