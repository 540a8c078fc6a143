"""Program splitting: which probe blocks become which BPF programs.

Owns `ProgramUnit` (one BPF program: a probe body and the targets it attaches to) and
`make_units()`: one program per prog type, or one per target when the body reads `args`
(each tracepoint has its own record layout) or the `probe` builtin (a constant per
program).  Wildcard bodies that need neither share one program, a big startup win.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Optional

from .. import ast
from ..artifact import AttachTarget
from ..tracepoints import KernelInfo, TracepointInfo
from ..types import SizedType
from .probes import ExpandedProbe

PROG_TYPES = {"BEGIN": "raw_tracepoint", "END": "raw_tracepoint", "tracepoint": "tracepoint",
              "interval": "perf_event", "profile": "perf_event", "software": "perf_event",
              "hardware": "perf_event", "kprobe": "kprobe", "kretprobe": "kprobe",
              "uprobe": "kprobe", "uretprobe": "kprobe", "usdt": "kprobe"}


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

    @property
    def provider(self) -> str:
        return self.targets[0].provider

    @property
    def prog_type(self) -> str:
        return PROG_TYPES.get(self.provider, "kprobe")


def _walk(node):
    yield node
    for child in ast.children(node):
        yield from _walk(child)


def _uses_builtin(probe: ast.Probe, names: set[str]) -> bool:
    return any(isinstance(n, ast.Builtin) and n.name in names for n in _walk(probe))


def _section_name(provider: str, n: int) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"s_{provider}_{n}")


def make_units(expanded: list[ExpandedProbe], kernel: KernelInfo,
               probe_names: list[str]) -> list[ProgramUnit]:
    """Split probes into BPF programs: one per prog type, or one per target when the body
    depends on which target fired (`probe`, `args`)."""
    units: list[ProgramUnit] = []
    for ep in expanded:
        if not ep.targets:
            continue
        split = _uses_builtin(ep.probe, {"probe", "args"})
        groups: dict[str, list[AttachTarget]] = {}
        if split:
            for i, t in enumerate(ep.targets):
                groups[f"{i}"] = [t]
        else:
            for t in ep.targets:
                groups.setdefault(PROG_TYPES.get(t.provider, "kprobe"), []).append(t)
        for targets in groups.values():
            probe = copy.deepcopy(ep.probe) if len(groups) > 1 else ep.probe
            unit = ProgramUnit(probe, ep.index, targets, _section_name(targets[0].provider,
                                                                       len(units) + 1))
            if len(targets) == 1:
                name = targets[0].name
                if name not in probe_names:
                    probe_names.append(name)
                unit.probe_id = probe_names.index(name)
                if targets[0].provider == "tracepoint":
                    unit.tracepoint = kernel.tracepoint(targets[0].target, targets[0].func)
            units.append(unit)
    return units
