"""bpftrace's software and hardware perf events: names, aliases, perf ids, default periods.

Owns `PerfEventInfo` and the `SOFTWARE_EVENTS` / `HARDWARE_EVENTS` tables (bpftrace 0.17's
list, in its order), plus `lookup()` by name or alias.  Used by attach.py and listing.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .uapi import PerfHwId, PerfSwId, PerfType


@dataclass(frozen=True)
class PerfEventInfo:
    name: str
    alias: str
    config: int
    default_period: int


SOFTWARE_EVENTS = (
    PerfEventInfo("cpu-clock", "cpu", PerfSwId.CPU_CLOCK, 1000000),
    PerfEventInfo("task-clock", "", PerfSwId.TASK_CLOCK, 1),
    PerfEventInfo("page-faults", "faults", PerfSwId.PAGE_FAULTS, 100),
    PerfEventInfo("context-switches", "cs", PerfSwId.CONTEXT_SWITCHES, 1000),
    PerfEventInfo("cpu-migrations", "", PerfSwId.CPU_MIGRATIONS, 1),
    PerfEventInfo("minor-faults", "", PerfSwId.PAGE_FAULTS_MIN, 100),
    PerfEventInfo("major-faults", "", PerfSwId.PAGE_FAULTS_MAJ, 1),
    PerfEventInfo("alignment-faults", "", PerfSwId.ALIGNMENT_FAULTS, 1),
    PerfEventInfo("emulation-faults", "", PerfSwId.EMULATION_FAULTS, 1),
    PerfEventInfo("dummy", "", PerfSwId.DUMMY, 1),
    PerfEventInfo("bpf-output", "", PerfSwId.BPF_OUTPUT, 1),
)

HARDWARE_EVENTS = (
    PerfEventInfo("cpu-cycles", "cycles", PerfHwId.CPU_CYCLES, 1000000),
    PerfEventInfo("instructions", "", PerfHwId.INSTRUCTIONS, 1000000),
    PerfEventInfo("cache-references", "", PerfHwId.CACHE_REFERENCES, 1000000),
    PerfEventInfo("cache-misses", "", PerfHwId.CACHE_MISSES, 1000000),
    PerfEventInfo("branch-instructions", "branches", PerfHwId.BRANCH_INSTRUCTIONS, 100000),
    PerfEventInfo("branch-misses", "", PerfHwId.BRANCH_MISSES, 100000),
    PerfEventInfo("bus-cycles", "", PerfHwId.BUS_CYCLES, 100000),
    PerfEventInfo("frontend-stalls", "", PerfHwId.STALLED_CYCLES_FRONTEND, 1000000),
    PerfEventInfo("backend-stalls", "", PerfHwId.STALLED_CYCLES_BACKEND, 1000000),
    PerfEventInfo("ref-cycles", "", PerfHwId.REF_CPU_CYCLES, 1000000),
)

EVENT_TABLES = {"software": (PerfType.SOFTWARE, SOFTWARE_EVENTS),
                "hardware": (PerfType.HARDWARE, HARDWARE_EVENTS)}


def lookup(provider: str, name: str) -> Optional[PerfEventInfo]:
    for info in EVENT_TABLES[provider][1]:
        if name in (info.name, info.alias):
            return info
    return None
