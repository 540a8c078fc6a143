"""Program splitting: which probe blocks become which BPF programs.

Owns `ProgramUnit` (one BPF program: a probe body and the targets it attaches to) and
`make_units()`: one program per prog type, or one per target when the body reads `args`
(each tracepoint has its own record layout) or the `probe` builtin (a constant per
program).  Wildcard bodies that need neither share one program, a big startup win.
Several `syscalls:sys_enter_*` (or `sys_exit_*`) targets of a body without `args` become one
raw tracepoint program on `raw_syscalls:sys_enter`/`sys_exit` that filters by syscall id and
looks `probe` up by it (`syscall_ids`): one attachment instead of hundreds of perf
tracepoints, each of which takes tens of ms to close.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Optional

from .. import ast
from ..artifact import AttachTarget
from ..tracepoints import KernelInfo, TracepointInfo
from ..syscalls import syscall_numbers
from ..types import SizedType
from .probes import ExpandedProbe

_SYSCALL_EVENT = re.compile(r"sys_(enter|exit)_(\w+)$")

PROG_TYPES = {"BEGIN": "raw_tracepoint", "END": "raw_tracepoint", "tracepoint": "tracepoint",
              "interval": "perf_event", "profile": "perf_event", "software": "perf_event",
              "hardware": "perf_event", "kprobe": "kprobe", "kretprobe": "kprobe",
              "uprobe": "kprobe", "uretprobe": "kprobe", "usdt": "kprobe",
              "rawtracepoint": "raw_tracepoint", "kfunc": "tracing", "kretfunc": "tracing",
              "iter": "tracing"}
# BTF-typed (tracing) programs: expected attach type, and the BTF name they load against
# (one program per target: the attach point is fixed at load time).
TRACING = {"kfunc": ("fentry", "{}"), "kretfunc": ("fexit", "{}"),
           "iter": ("iter", "bpf_iter_{}")}


@dataclass
class ProgramUnit:
    """One BPF program: a (copy of a) probe block and the targets it attaches to."""
    probe: ast.Probe
    index: int
    targets: list[AttachTarget]
    section: str
    tracepoint: Optional[TracepointInfo] = None
    probe_id: Optional[int] = None                 # `probe` builtin value when single-target
    variables: dict[str, SizedType] = field(default_factory=dict)
    attach_via: Optional[AttachTarget] = None      # raw_syscalls tracepoint standing for `targets`
    syscall_ids: dict[int, int] = field(default_factory=dict)   # syscall id -> `probe` value

    @property
    def provider(self) -> str:
        return self.targets[0].provider

    @property
    def prog_type(self) -> str:
        if self.attach_via is not None:
            return "raw_tracepoint"
        return PROG_TYPES.get(self.provider, "kprobe")

    @property
    def expected_attach_type(self) -> str:
        return TRACING.get(self.provider, ("", ""))[0]

    @property
    def attach_btf_name(self) -> str:
        spec = TRACING.get(self.provider)
        return spec[1].format(self.targets[0].func) if spec else ""


def _walk(node):
    yield node
    for child in ast.children(node):
        yield from _walk(child)


def _uses_builtin(probe: ast.Probe, names: set[str]) -> bool:
    return any(isinstance(n, ast.Builtin) and n.name in names for n in _walk(probe))


def _section_name(provider: str, n: int) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"s_{provider}_{n}")


def _syscall_event(t: AttachTarget, numbers: dict[str, int]) -> Optional[tuple[str, int]]:
    """("sys_enter" | "sys_exit", syscall id) for a syscall tracepoint with a known id."""
    m = _SYSCALL_EVENT.match(t.func) if t.provider == "tracepoint" and t.target == "syscalls" \
        else None
    if m is None or m.group(2) not in numbers:
        return None
    return "sys_" + m.group(1), numbers[m.group(2)]


def _syscall_groups(ep: ExpandedProbe) -> dict[str, list[AttachTarget]]:
    """Raw tracepoint name -> the syscall targets it runs for (groups of two or more)."""
    if len(ep.targets) < 2 or _uses_builtin(ep.probe, {"args"}):
        return {}
    numbers = syscall_numbers()
    groups: dict[str, list[AttachTarget]] = {}
    for t in ep.targets:
        event = _syscall_event(t, numbers)
        if event is not None:
            groups.setdefault(event[0], []).append(t)
    return {via: ts for via, ts in groups.items() if len(ts) > 1}


def _syscall_unit(unit: ProgramUnit, via: str, probe_names: list[str]) -> ProgramUnit:
    numbers = syscall_numbers()
    unit.attach_via = AttachTarget("rawtracepoint", "raw_syscalls", via,
                                   name=f"rawtracepoint:raw_syscalls:{via}")
    for t in unit.targets:
        if t.name not in probe_names:
            probe_names.append(t.name)
        unit.syscall_ids.setdefault(_syscall_event(t, numbers)[1], probe_names.index(t.name))
    return unit


def make_units(expanded: list[ExpandedProbe], kernel: KernelInfo,
               probe_names: list[str]) -> list[ProgramUnit]:
    """Split probes into BPF programs: one per prog type, or one per target when the body
    depends on which target fired (`probe`, `args`); syscall wildcards on raw_syscalls."""
    units: list[ProgramUnit] = []
    for ep in expanded:
        if not ep.targets:
            continue
        split = _uses_builtin(ep.probe, {"probe", "args"}) or ep.provider in TRACING
        groups: dict[str, list[AttachTarget]] = {
            "raw:" + via: ts for via, ts in _syscall_groups(ep).items()}
        merged = {id(t) for ts in groups.values() for t in ts}
        rest = [t for t in ep.targets if id(t) not in merged]
        if split:
            for i, t in enumerate(rest):
                groups[f"{i}"] = [t]
        else:
            for t in rest:
                groups.setdefault(PROG_TYPES.get(t.provider, "kprobe"), []).append(t)
        for group, targets in groups.items():
            probe = copy.deepcopy(ep.probe) if len(groups) > 1 else ep.probe
            unit = ProgramUnit(probe, ep.index, targets, _section_name(targets[0].provider,
                                                                       len(units) + 1))
            if group.startswith("raw:"):
                units.append(_syscall_unit(unit, group[4:], probe_names))
                continue
            if len(targets) == 1:
                name = targets[0].name
                if name not in probe_names:
                    probe_names.append(name)
                unit.probe_id = probe_names.index(name)
                if targets[0].provider == "tracepoint":
                    unit.tracepoint = kernel.tracepoint(targets[0].target, targets[0].func)
            units.append(unit)
    return units
