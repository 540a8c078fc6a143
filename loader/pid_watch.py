"""Keeps user stacks of short-lived processes resolvable: while a trace runs, finds the pids
stored in the user maps' ustack and usym keys and values and snapshots each new process's
mappings (`user_symbols.remember`) while it is still alive, so printing the maps after it
exited still names its functions (bpftrace 0.17 prints raw addresses there).

Owns `UserPidWatch`: which map fields hold a pid, and a time-budgeted periodic scan.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from bpftrace_compiler.artifact import MapSpec
from bpftrace_compiler.types import Kind, SizedType

# where the pid sits in a stored value of each kind: ustack is `stackid | pid << 32`,
# usym is {u64 addr, u64 pid}
PID_AT = {Kind.USTACK: 4, Kind.USYM: 8}
FIRST_SCAN = 0.05         # seconds after start; the gap doubles from there (short-lived
INTERVAL = 0.5            # processes are caught early) up to INTERVAL, or 20x a scan's cost


def pid_offsets(t: Optional[SizedType], base: int = 0) -> list[int]:
    """Byte offsets of the u32 pids of every ustack/usym in a value of type `t`."""
    if t is None:
        return []
    if t.kind in PID_AT:
        return [base + PID_AT[t.kind]]
    if t.kind == Kind.TUPLE:
        return [off for e, o in zip(t.elems, t.tuple_offsets()) for off in pid_offsets(e, base + o)]
    return []


class UserPidWatch:
    """Call `tick()` often (each poll); it scans at most every INTERVAL seconds."""

    def __init__(self, maps: list[MapSpec], read_items: Callable[[str], list],
                 remember: Callable[[int], object]):
        self.fields = []
        for spec in maps:
            keys = pid_offsets(spec.key_type)
            values = [] if spec.value_type is None or spec.value_type.is_aggregation \
                else pid_offsets(spec.value_type)
            if keys or values:
                self.fields.append((spec.name, keys, values))
        self.read_items = read_items
        self.remember = remember
        self.seen: set[int] = set()
        self.gap = FIRST_SCAN
        self.next_scan = time.monotonic() + FIRST_SCAN

    def tick(self) -> None:
        if not self.fields or time.monotonic() < self.next_scan:
            return
        started = time.monotonic()
        self.scan()
        spent = time.monotonic() - started
        self.gap = min(INTERVAL, self.gap * 2)
        self.next_scan = time.monotonic() + max(self.gap, 20 * spent)

    def scan(self) -> None:
        pids: set[int] = set()
        for name, key_offs, value_offs in self.fields:
            try:
                items = self.read_items(name)
            except OSError:
                continue
            for key, value in items:
                pids.update(int.from_bytes(key[o:o + 4], "little") for o in key_offs)
                pids.update(int.from_bytes(value[o:o + 4], "little") for o in value_offs)
        for pid in pids - self.seen:
            if pid > 0:
                self.remember(pid)
        self.seen |= pids
