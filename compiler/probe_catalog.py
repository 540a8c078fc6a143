"""Which dynamic probes exist, for `-l`/`-lv`, the notebook's `%probes` and completion.

Owns the listers of the providers whose probes come from files the compiler already reads to
expand attach points: uprobe/uretprobe (functions of a binary or library, resolved like an
attach point: paths, $PATH, library names, -p; the loader demangles C++ names),
usdt (`.note.stapsdt`, -p scans every mapped object), kfunc/kretfunc (BTF FUNC records,
`-lv` with typed arguments and retval) and rawtracepoint (BTF `btf_trace_<event>`, `-lv`
with typed arguments).  `LISTERS` has the loader's lister signature
`(rest, verbose, pid, tracefs) -> lines`; `bpftrace_kernel` hands them to
`bpftrace_loader.listing.list_probes(extra_listers=...)`.  Stdlib plus our compiler modules.
"""
from __future__ import annotations

import fnmatch
import functools
import os
from typing import Callable, Optional

BTF_PATH = "/sys/kernel/btf/vmlinux"


@functools.lru_cache(maxsize=1)
def _btf():
    from .btf import BtfError, load_btf
    try:
        return load_btf(BTF_PATH)
    except (OSError, BtfError):
        return None


def _match(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern or "*")


def _uprobe_lister(provider: str) -> Callable:
    def lister(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
        from .elf_symbols import ElfError, load_elf
        from .libraries import TargetNotFound, path_for_pid, resolve_target
        target, _, func = rest.rpartition(":") if ":" in rest else (rest, "", "*")
        if target in ("", "*") and pid:      # bpftrace names them /proc/PID/root/<exe>
            paths = [_in_root(pid, os.readlink(f"/proc/{pid}/exe"))]
        else:
            try:
                paths = resolve_target(target, pid)
            except TargetNotFound:
                return []
            if not any(c in target for c in "*?["):
                paths = paths[:1]       # bpftrace keeps the first match (and warns)
        out = []
        for path in paths:
            try:
                opened = path if path.startswith("/proc/") else path_for_pid(pid, path)
                names = sorted({s.name for s in load_elf(opened)
                                .match_functions("*")})
            except (ElfError, OSError):
                continue
            out.extend(f"{provider}:{path}:{n}" for n in names if _match(n, func))
        return out
    return lister


def _usdt_lister(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
    from .usdt_notes import usdt_sites
    parts = rest.split(":")
    target = parts[0] if parts else ""
    provider, name = ("*", parts[1]) if len(parts) == 2 else (
        (parts[1], parts[2]) if len(parts) >= 3 else ("*", "*"))
    sites = usdt_sites(target or "*", provider, name, pid) if (target not in ("", "*") or pid) \
        else []
    every_object = target in ("", "*") and pid
    return list(dict.fromkeys(
        f"usdt:{_in_root(pid, p.path) if every_object else p.path}:{p.provider}:{p.name}"
        for p in sites))


def _in_root(pid: int, path: str) -> str:
    """`-p PID` listings name the process's files through /proc/PID/root, as bpftrace does."""
    return f"/proc/{pid}/root{path.removesuffix(' (deleted)')}"


def _kfunc_lister(provider: str) -> Callable:
    def lister(rest: str, verbose: bool, pid: Optional[int], tracefs: str) -> list[str]:
        btf = _btf()
        if btf is None:
            return []
        func = rest.rpartition(":")[2] or "*"
        out = []
        for name in sorted(n for n in btf.function_names() if _match(n, func)):
            out.append(f"{provider}:{name}")
            if verbose:
                out.extend("    " + line for line in btf.func_listing(name))
        return out
    return lister


def _rawtracepoint_lister(rest: str, verbose: bool, pid: Optional[int],
                          tracefs: str) -> list[str]:
    btf = _btf()
    if btf is None:
        return []
    event_pat = rest.rpartition(":")[2] or "*"
    out = []
    events = sorted(n[len("btf_trace_"):] for n in btf.names() if n.startswith("btf_trace_"))
    for event in events:
        if not _match(event, event_pat):
            continue
        out.append(f"rawtracepoint:{event}")
        if verbose:
            proto = btf.tracepoint_args(event)
            out.extend(f"    {btf.type_to_c(p.type_id, dump_names=True)} {p.name}".rstrip()
                       for p in proto.params)
    return out


LISTERS: dict[str, Callable[[str, bool, Optional[int], str], list[str]]] = {
    "uprobe": _uprobe_lister("uprobe"),
    "uretprobe": _uprobe_lister("uretprobe"),
    "usdt": _usdt_lister,
    "kfunc": _kfunc_lister("kfunc"),
    "kretfunc": _kfunc_lister("kretfunc"),
    "rawtracepoint": _rawtracepoint_lister,
}
