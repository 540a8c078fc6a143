"""Attach-point expansion: from the attach points as written to concrete `AttachTarget`s.

Owns `expand_probes()`: `$N` substitution inside attach points, tracepoint wildcards matched
against the kernel's event list, validation of interval/profile/software/hardware/uprobe
attach points with bpftrace 0.17's messages, the BPFTRACE_MAX_PROBES limit, and the table
of names the `probe` builtin indexes.  Each provider is one entry of `_EXPANDERS`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import ast
from ..artifact import AttachTarget
from ..diagnostics import Diagnostic, Diagnostics
from ..tracepoints import KernelInfo, match_tracepoints

TIME_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "hz": 0}
SOFTWARE_EVENTS = {
    "cpu-clock": ("cpu-clock", 1000000), "cpu": ("cpu-clock", 1000000),
    "task-clock": ("task-clock", 1), "page-faults": ("page-faults", 100),
    "faults": ("page-faults", 100), "context-switches": ("context-switches", 1000),
    "cs": ("context-switches", 1000), "cpu-migrations": ("cpu-migrations", 1),
    "minor-faults": ("minor-faults", 100), "major-faults": ("major-faults", 1),
    "alignment-faults": ("alignment-faults", 1), "emulation-faults": ("emulation-faults", 1),
    "dummy": ("dummy", 1), "bpf-output": ("bpf-output", 1),
}
HARDWARE_EVENTS = {
    "cpu-cycles": ("cpu-cycles", 1000000), "cycles": ("cpu-cycles", 1000000),
    "instructions": ("instructions", 1000000), "cache-references": ("cache-references", 1000000),
    "cache-misses": ("cache-misses", 1000000),
    "branch-instructions": ("branch-instructions", 100000),
    "branches": ("branch-instructions", 100000), "branch-misses": ("branch-misses", 100000),
    "bus-cycles": ("bus-cycles", 100000), "frontend-stalls": ("frontend-stalls", 1000000),
    "backend-stalls": ("backend-stalls", 1000000), "ref-cycles": ("ref-cycles", 1000000),
}
_PARAM_RE = re.compile(r"\$(\d+)")


class _Bare(Diagnostic):
    """An error bpftrace prints as a bare line on stdout ("No probes to attach")."""
    stream = "stdout"

    def render(self, source) -> str:
        return self.message + "\n"


@dataclass
class ExpandedProbe:
    """One probe block with every target its attach points expand to."""
    probe: ast.Probe
    index: int
    targets: list[AttachTarget] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return self.targets[0].provider if self.targets else ""


@dataclass
class _Ctx:
    diags: Diagnostics
    kernel: KernelInfo
    params: tuple[str, ...]
    pid: Optional[int] = None


def _substitute(text: str, params: tuple[str, ...]) -> str:
    def repl(m: re.Match) -> str:
        i = int(m.group(1))
        return params[i - 1] if 1 <= i <= len(params) else ""
    return _PARAM_RE.sub(repl, text or "")


def _number(text: str) -> Optional[int]:
    try:
        return int(text, 0)
    except (TypeError, ValueError):
        return None


def _special(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    return [AttachTarget(ap.provider, name=ap.provider)]


def _tracepoint(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    found = match_tracepoints(ctx.kernel, ap.target, ap.func)
    if not found:
        wild = any(c in ap.target + ap.func for c in "*?[")
        what = "tracepoints" if wild else "tracepoint"
        ctx.diags.error(f"{what} not found: {ap.target}:{ap.func}", ap.span)
        return []
    return [AttachTarget("tracepoint", cat, ev, name=f"tracepoint:{cat}:{ev}") for cat, ev in found]


def _timed(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    kind = ap.provider
    unit, rate = ap.target, ap.freq
    if rate is None:
        rate = _number(ap.func) if ap.func else None
    if not unit or rate is None and not ap.func:
        ctx.diags.error(f"{kind} probe type requires 2 arguments", ap.span)
        return []
    if unit not in TIME_UNITS:
        ctx.diags.error(f"{unit} is not an accepted unit of time", ap.span)
        return []
    if rate is None or rate <= 0:
        ctx.diags.error(f"{kind} frequency should be a positive integer", ap.span)
        return []
    return [AttachTarget(kind, unit, str(rate), freq=rate, name=f"{kind}:{unit}:{rate}")]


def _perf_counter(table: dict, label: str) -> Callable:
    def expand(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
        event = ap.target
        if event not in table:
            ctx.diags.error(f"{event} is not a {label} probe", ap.span)
            return []
        canonical, default = table[event]
        count = ap.freq if ap.freq is not None else (_number(ap.func) if ap.func else None)
        if count is None:
            count = default
        if count <= 0:
            ctx.diags.error(f"{label} count should be a positive integer", ap.span)
            return []
        suffix = f":{ap.func or ap.freq}" if (ap.func or ap.freq) else ""
        return [AttachTarget(ap.provider, canonical, str(count), freq=count,
                             name=f"{ap.provider}:{event}{suffix}")]
    return expand


def _uprobe_paths(ap: ast.AttachPoint, ctx: _Ctx) -> list[str]:
    """Files a uprobe/usdt target names (bpftrace's rules: the path, $PATH, library names);
    more than one match warns and keeps the first unless the target is a wildcard."""
    from ..libraries import TargetNotFound, resolve_target
    try:
        paths = resolve_target(ap.target, ctx.pid)
    except TargetNotFound as e:     # bpftrace says "uprobe" for uretprobe too
        ctx.diags.error(str(e).replace("uprobe", "usdt", 1) if ap.provider == "usdt"
                        else str(e), ap.span)
        return []
    if len(paths) > 1 and not any(c in ap.target for c in "*?["):
        ctx.diags.warning(f"attaching to {ap.provider} target file '{paths[0]}' but matched "
                          f"{len(paths)} binaries", ap.span)
        paths = paths[:1]
    return paths


def _uprobe(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    from ..libraries import UprobeOffsetError, path_for_pid, uprobe_sites
    out = []
    for path in _uprobe_paths(ap, ctx):
        try:
            sites = uprobe_sites(path, ap.func, ctx.pid, ap.offset or 0, ap.address)
        except UprobeOffsetError as e:      # bpftrace reports this one when attaching
            out.append(AttachTarget(ap.provider, path_for_pid(ctx.pid, path), ap.func,
                                    offset=ap.offset or 0, attach_error=str(e),
                                    name=f"{ap.provider}:{path}:{ap.func}+{ap.offset}"))
            continue
        for s in sites:
            fn = s.func if s.func else str(ap.address)
            off = f"+{ap.offset}" if ap.offset and s.func else ""
            out.append(AttachTarget(ap.provider, path_for_pid(ctx.pid, s.path), s.func,
                                    address=s.file_offset,
                                    name=f"{ap.provider}:{s.path}:{fn}{off}"))
    return out


def _usdt(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    from ..libraries import path_for_pid
    from ..usdt_notes import usdt_sites
    paths = [ap.target] if ap.target in ("", "*") and ctx.pid else _uprobe_paths(ap, ctx)
    out = []
    every_object = ap.target in ("", "*") and ctx.pid
    for path in paths:
        for p in usdt_sites(path, ap.ns, ap.func, ctx.pid):
            # `usdt:*:...` with -p: bpftrace names the objects through /proc/PID/root
            shown = f"/proc/{ctx.pid}/root{p.path}" if every_object else p.path
            name = f"usdt:{shown}:{p.provider}:{p.name}"
            out.append(AttachTarget("usdt", path_for_pid(ctx.pid, p.path), f"{p.provider}:{p.name}",
                                    address=p.file_offset, ref_ctr_offset=p.semaphore_offset,
                                    name=name))
    return out


def _kprobe(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    off = f"+{ap.offset}" if ap.offset else ""
    rx = _wildcard(ap.func)
    funcs = [ap.func] if rx is None else [f for f in kernel_functions(getattr(
        ctx.kernel, "root", "/sys/kernel/tracing")) if rx.fullmatch(f)]
    return [AttachTarget(ap.provider, ap.target, f, offset=ap.offset or 0,
                         name=f"{ap.provider}:{f}{off}") for f in funcs]


def kernel_functions(tracefs: str) -> list[str]:
    """Functions kprobes can attach to: ftrace's available_filter_functions, or the text
    symbols of /proc/kallsyms where that list is unreadable (sorted, unique)."""
    try:
        with open(os.path.join(tracefs, "available_filter_functions")) as f:
            return sorted({line.split()[0] for line in f if line.strip()})
    except OSError:
        pass
    try:
        with open("/proc/kallsyms") as f:
            return sorted({parts[2] for parts in (line.split() for line in f)
                           if len(parts) >= 3 and parts[1] in "tT" and "." not in parts[2]})
    except OSError:
        return []


def _kfunc(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    """kfunc/kretfunc: functions with a BTF FUNC record (wildcards matched against BTF)."""
    btf = ctx.kernel.btf() if hasattr(ctx.kernel, "btf") else None
    if btf is None:
        ctx.diags.error(f"{ap.provider}: the kernel has no BTF (/sys/kernel/btf/vmlinux), "
                        "which kfunc probes need", ap.span)
        return []
    rx = _wildcard(ap.func)
    names = sorted(n for n in btf.function_names() if rx.fullmatch(n)) if rx else (
        [ap.func] if btf.find_or_none(ap.func, "func") is not None else [])
    if not names and rx is None:
        ctx.diags.error("kfunc/kretfunc not available for your kernel version.", ap.span)
    return [AttachTarget(ap.provider, ap.target, n, name=f"{ap.provider}:{n}") for n in names]


def _rawtracepoint(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    """rawtracepoint:[module:]event: events with a `btf_trace_<event>` typedef in BTF (or a
    tracefs event of that name when there is no BTF)."""
    btf = ctx.kernel.btf() if hasattr(ctx.kernel, "btf") else None
    rx = _wildcard(ap.func)
    if btf is not None:
        events = sorted(n[len("btf_trace_"):] for n in btf.names()
                        if n.startswith("btf_trace_") and (rx.fullmatch(n[10:]) if rx else
                                                           n[10:] == ap.func))
    else:
        events = [ap.func] if rx is None else []
    return [AttachTarget("rawtracepoint", ap.target, e, name=f"rawtracepoint:{e}")
            for e in dict.fromkeys(events)]


ITERATORS = ("task", "task_file", "task_vma")


def _iter(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    if ap.func not in ITERATORS:
        ctx.diags.error(f"iter {ap.func} not available for your kernel version.", ap.span)
        return []
    return [AttachTarget("iter", ap.target, ap.func, name=f"iter:{ap.func}")]


def _wildcard(text: str) -> Optional[re.Pattern]:
    if not any(c in text for c in "*?["):
        return None
    return re.compile(re.escape(text).replace(r"\*", ".*").replace(r"\?", "."))


_EXPANDERS: dict[str, Callable[[ast.AttachPoint, _Ctx], list[AttachTarget]]] = {
    "BEGIN": _special,
    "END": _special,
    "tracepoint": _tracepoint,
    "interval": _timed,
    "profile": _timed,
    "software": _perf_counter(SOFTWARE_EVENTS, "software"),
    "hardware": _perf_counter(HARDWARE_EVENTS, "hardware"),
    "uprobe": _uprobe,
    "uretprobe": _uprobe,
    "usdt": _usdt,
    "kprobe": _kprobe,
    "kretprobe": _kprobe,
    "kfunc": _kfunc,
    "kretfunc": _kfunc,
    "rawtracepoint": _rawtracepoint,
    "iter": _iter,
}


def _with_params(ap: ast.AttachPoint, params: tuple[str, ...]) -> ast.AttachPoint:
    if "$" not in ap.raw and "$" not in (ap.target + ap.func):
        return ap
    func = _substitute(ap.func, params)
    freq = ap.freq if ap.freq is not None else _number(func)
    return ast.AttachPoint(_substitute(ap.raw, params), ap.provider, _substitute(ap.target, params),
                           func, ap.offset, ap.address, freq, ap.ns, span=ap.span)


def expand_probes(program: ast.Program, kernel: KernelInfo, params: tuple[str, ...],
                  max_probes: int, diags: Diagnostics,
                  pid: Optional[int] = None) -> list[ExpandedProbe]:
    """Expand every attach point of `program` into concrete targets (`pid`: -p, whose
    mapped objects uprobe/usdt targets resolve against)."""
    ctx = _Ctx(diags, kernel, params, pid)
    out = []
    for index, probe in enumerate(program.probes):
        expanded = ExpandedProbe(probe, index)
        for ap in probe.attach_points:
            ap = _with_params(ap, params)
            expander = _EXPANDERS.get(ap.provider)
            if expander is None:
                diags.error(f"Invalid probe type: {ap.provider}", ap.span)
                continue
            expanded.targets.extend(expander(ap, ctx))
        out.append(expanded)
    total = sum(len(p.targets) for p in out)
    if diags.ok and total == 0 and program.probes:
        diags.items.append(_Bare("ERROR", "No probes to attach"))
    if diags.ok and total > max_probes:
        diags.error(f"Can't attach to {total} probes because it exceeds the current limit of "
                    f"{max_probes} probes.\nYou can increase the limit through the "
                    "BPFTRACE_MAX_PROBES environment variable, but BE CAREFUL since a high number "
                    "of probes attached can cause your system to crash.")
    return out
