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
from ..diagnostics import Diagnostics
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


def _uprobe(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    path = ap.target
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        ctx.diags.error(f"{ap.provider} target file '{path}' does not exist or is not executable",
                        ap.span)
        return []
    name = f"{ap.provider}:{path}:{ap.func}" if ap.func else f"{ap.provider}:{path}:{ap.address:#x}"
    if ap.provider == "usdt":
        name = f"usdt:{path}:{ap.ns + ':' if ap.ns else ''}{ap.func}"
    return [AttachTarget(ap.provider, path, ap.func, offset=ap.offset or 0, address=ap.address,
                         name=name)]


def _kprobe(ap: ast.AttachPoint, ctx: _Ctx) -> list[AttachTarget]:
    off = f"+{ap.offset}" if ap.offset else ""
    return [AttachTarget(ap.provider, ap.target, ap.func, offset=ap.offset or 0,
                         name=f"{ap.provider}:{ap.func}{off}")]


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
    "usdt": _uprobe,
    "kprobe": _kprobe,
    "kretprobe": _kprobe,
}


def _with_params(ap: ast.AttachPoint, params: tuple[str, ...]) -> ast.AttachPoint:
    if "$" not in ap.raw and "$" not in (ap.target + ap.func):
        return ap
    func = _substitute(ap.func, params)
    freq = ap.freq if ap.freq is not None else _number(func)
    return ast.AttachPoint(_substitute(ap.raw, params), ap.provider, _substitute(ap.target, params),
                           func, ap.offset, ap.address, freq, ap.ns, span=ap.span)


def expand_probes(program: ast.Program, kernel: KernelInfo, params: tuple[str, ...],
                  max_probes: int, diags: Diagnostics) -> list[ExpandedProbe]:
    """Expand every attach point of `program` into concrete targets."""
    ctx = _Ctx(diags, kernel, params)
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
    if diags.ok and total > max_probes:
        diags.error(f"Can't attach to {total} probes because it exceeds the current limit of "
                    f"{max_probes} probes.\nYou can increase the limit through the "
                    "BPFTRACE_MAX_PROBES environment variable, but BE CAREFUL since a high number "
                    "of probes attached can cause your system to crash.")
    return out
