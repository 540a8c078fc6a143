"""Resource planning: the BPF maps a typed program needs.

Owns `plan_maps()`: one `MapSpec` per user map (PERCPU_HASH for aggregations, HASH for
plain values; key and value sizes per the layouts documented in compiler/artifact.py) plus
the internal maps: the "events" ring buffer, the per-CPU "lost" counter, "elapsed" (filled
by the loader at start) and the stack-trace maps.
"""
from __future__ import annotations

import re

from ..artifact import MapSpec
from ..types import Kind, SizedType
from .semantic import Analysis, MapInfo, storage_type
from .type_rules import AGG_VALUE_SIZE

RINGBUF_BYTES = 1 << 23      # 8 MiB (mapped twice: +16 MB RSS): ~250k printf records of backlog
SMALL_RINGBUF_BYTES = 1 << 18   # programs that cannot flood: only exit/print/clear/zero records
# actions a probe can send at any rate (the others are a few records per run)
_FLOOD_KINDS = frozenset({"printf", "system", "cat", "join", "print_value", "time"})


def ringbuf_bytes(analysis: Analysis) -> int:
    """The events ring's size: its mmap is resident in full, so small unless the program
    prints per event."""
    if any(a.kind in _FLOOD_KINDS for a in analysis.actions):
        return RINGBUF_BYTES
    return SMALL_RINGBUF_BYTES
# Stack-trace maps are preallocated (entries x (8 x limit + 16) bytes) and get_stackid
# drops a stack whose hash slot holds another one (-EEXIST), so more slots mean fewer
# drops: bpftrace 0.17's 131072 slots cost 136 MB at 127 frames; we take the most slots
# that fit STACK_MAP_BYTES (32768 at 127 frames, 131072 for short stacks).
STACK_MAP_MAX_ENTRIES = 131072
STACK_MAP_BYTES = 64 << 20


def stack_map_entries(limit: int) -> int:
    """Slots of a stack-trace map holding `limit` frames: a power of two (the kernel's
    bucket count) within STACK_MAP_BYTES, at most bpftrace's 131072."""
    entries = STACK_MAP_MAX_ENTRIES
    while entries > 1024 and entries * (8 * limit + 16) > STACK_MAP_BYTES:
        entries //= 2
    return entries


def map_symbol(name: str) -> str:
    """The ELF symbol of a user map: `@x` -> `AT_x`, the anonymous `@` -> `AT_`."""
    return "AT_" + re.sub(r"[^A-Za-z0-9_]", "_", name[1:])


def _user_map(info: MapInfo, max_entries: int) -> MapSpec:
    value: SizedType = info.value
    key_type = info.key_type
    bucketed = value.kind in (Kind.HIST, Kind.LHIST)
    key_size = 0 if key_type is None else key_type.size
    if bucketed:
        key_size = (key_size + 7) // 8 * 8 + 8
    key_size = max(key_size, 8)
    if value.is_aggregation:
        return MapSpec(info.name, "percpu_hash", key_size, AGG_VALUE_SIZE[value.kind], max_entries,
                       key_type=key_type, value_type=value, bucketed=bucketed,
                       symbol=map_symbol(info.name))
    stored = storage_type(value)
    return MapSpec(info.name, "hash", key_size, stored.size, max_entries, key_type=key_type,
                   value_type=stored, symbol=map_symbol(info.name))


def plan_maps(analysis: Analysis, map_keys_max: int) -> list[MapSpec]:
    maps = [_user_map(info, map_keys_max) for info in analysis.maps.values()]
    maps.append(MapSpec("events", "ringbuf", 0, 0, ringbuf_bytes(analysis), internal=True,
                        role="events", symbol="__bt_events"))
    maps.append(MapSpec("lost", "percpu_array", 4, 8, 1, internal=True, role="lost",
                        symbol="__bt_lost"))
    if "elapsed" in analysis.internal_roles:
        maps.append(MapSpec("elapsed", "array", 4, 8, 1, internal=True, role="elapsed",
                            symbol="__bt_elapsed"))
    if "join" in analysis.internal_roles:
        size = max(a.record_size for a in analysis.actions if a.kind == "join")
        maps.append(MapSpec("join", "percpu_array", 4, size, 1, internal=True, role="join",
                            symbol="__bt_join"))
    for kind, limit, mode in sorted(analysis.stack_types, key=lambda s: (s[0].value, s[1], s[2])):
        role = "kstack" if kind == Kind.KSTACK else "ustack"
        name = f"stack_{role}_{limit}_{mode}"
        maps.append(MapSpec(name, "stack_trace", 4, 8 * limit, stack_map_entries(limit),
                            internal=True,
                            role=role, symbol="__bt_" + name,
                            value_type=SizedType(kind, 8, params=(limit, mode))))
    return maps
