"""The output value model: decoded map contents, shared by the session and the renderers.

Owns `MapSnapshot` (one map read at one moment), `Stats` (avg/stats values) and the
conventions for decoded Python values:

* INT, COUNT, SUM, MIN, MAX -> int (per-CPU values already combined)
* STRING and every string-like type (PROBE, USERNAME, KSYM, USYM, INET, TIMESTAMP,
  STRERROR, CGROUP_PATH, MACADDR) -> str, decoded with 'surrogateescape'
* TUPLE -> tuple of decoded elements; BUFFER -> bytes
* KSTACK / USTACK -> `Stack` (frames already symbolised into text lines)
* AVG / STATS -> `Stats(count, total)`
* HIST / LHIST -> dict {bucket index: count} with zero buckets omitted
* map keys -> a tuple of decoded key fields (() for a keyless map)

Pure data, no kernel I/O.  Imports only the compiler's artifact/types contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bpftrace_compiler.artifact import MapSpec


@dataclass(frozen=True)
class Stats:
    count: int
    total: int

    @property
    def average(self) -> int:
        if not self.count:
            return 0
        # C integer division truncates toward zero
        q = abs(self.total) // self.count
        return -q if self.total < 0 else q


@dataclass(frozen=True)
class Stack:
    """A symbolised stack: `frames` are the printed frame texts, innermost first
    (`"do_sys_openat2+130"`, or perf mode's `"ffffffff8123 do_sys_openat2+130"`)."""
    frames: tuple[str, ...]
    perf_mode: bool = False


@dataclass
class MapSnapshot:
    spec: MapSpec
    entries: list[tuple[tuple, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def keyless(self) -> bool:
        return self.spec.key_type is None
