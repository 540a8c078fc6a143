"""BPF maps: creation from a `MapSpec`, element access, whole-map reads, per-CPU combining.

Owns `BpfMap` (fd + spec: lookup/update/delete, `items()` through BPF_MAP_LOOKUP_BATCH with a
get_next_key walk as fallback, `clear()`, `zero()`), `possible_cpus()`, and the functions
that combine per-CPU value slots into one value per artifact.py's layouts (sum, min/max with
is_set, avg/stats totals, hist buckets).  Raw bytes in, raw bytes or ints out: decoding of
keys and values into Python objects is decode.py's job.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import struct
from typing import Callable, Iterator, Optional

from bpftrace_compiler.artifact import MapSpec
from bpftrace_compiler.types import Kind, SizedType

from .errors import BpfError, LoadError
from .syscalls import bpf, close
from .uapi import (BPF_ANY, BPF_OBJ_NAME_LEN, Cmd, MapBatchAttr,
                   MapCreateAttr, MapElemAttr, MapType, PERCPU_MAP_TYPES)

MAP_TYPES: dict[str, MapType] = {
    "hash": MapType.HASH,
    "array": MapType.ARRAY,
    "percpu_hash": MapType.PERCPU_HASH,
    "percpu_array": MapType.PERCPU_ARRAY,
    "lru_hash": MapType.LRU_HASH,
    "lru_percpu_hash": MapType.LRU_PERCPU_HASH,
    "ringbuf": MapType.RINGBUF,
    "stack_trace": MapType.STACK_TRACE,
    "perf_event_array": MapType.PERF_EVENT_ARRAY,
}

# Map types whose elements can be read; BPF_MAP_LOOKUP_BATCH works on the hash and array ones.
_BATCHABLE = frozenset({MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                        MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})
_ARRAYS = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY})


@functools.lru_cache(maxsize=1)
def possible_cpus() -> int:
    """Number of per-CPU value slots: the highest possible CPU + 1 (not the online count)."""
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    top = 0
    for part in text.split(","):
        top = max(top, int(part.split("-")[-1]))
    return top + 1


def round8(n: int) -> int:
    return (n + 7) // 8 * 8


def kernel_map_name(name: str) -> str:
    """A kernel object name (<= 15 chars of [A-Za-z0-9_.]) in bpftrace's style: @x -> AT_x."""
    if name.startswith("@"):
        name = "AT_" + name[1:]
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)[:BPF_OBJ_NAME_LEN - 1]


class BpfMap:
    """One kernel map.  Keys and values are raw bytes; per-CPU values are the whole
    `round8(value_size) * possible_cpus()` blob."""

    batch_size = 16384

    def __init__(self, fd: int, spec: MapSpec, map_type: MapType):
        self.fd = fd
        self.spec = spec
        self.map_type = map_type
        self.key_size = spec.key_size
        self.value_size = spec.value_size
        self.percpu = map_type in PERCPU_MAP_TYPES
        self.ncpus = possible_cpus() if self.percpu else 1
        self.value_stride = round8(spec.value_size) * self.ncpus if self.percpu else spec.value_size

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def create(cls, spec: MapSpec, name: Optional[str] = None, flags: int = 0) -> "BpfMap":
        map_type = MAP_TYPES.get(spec.map_type)
        if map_type is None:
            raise LoadError(f"map {spec.name}: unknown map type '{spec.map_type}'")
        attr = MapCreateAttr(map_type=map_type, key_size=spec.key_size,
                             value_size=spec.value_size, max_entries=spec.max_entries,
                             map_flags=spec.flags | flags)
        attr.map_name = kernel_map_name(name or spec.name).encode()
        try:
            fd = bpf(Cmd.MAP_CREATE, attr, "BPF_MAP_CREATE")
        except BpfError as e:
            hint = (" (tracing needs root: CAP_BPF and CAP_PERFMON)"
                    if e.errno == errno.EPERM and os.geteuid() != 0 else "")
            raise LoadError(f"Error creating map: '{spec.name}' ({spec.map_type}, key "
                            f"{spec.key_size} B, value {spec.value_size} B, "
                            f"{spec.max_entries} entries): {e}{hint}") from e
        return cls(fd, spec, map_type)

    def close(self) -> None:
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1

    def freeze(self) -> None:
        attr = MapElemAttr(map_fd=self.fd)
        bpf(Cmd.MAP_FREEZE, attr, "BPF_MAP_FREEZE")

    # ---------------------------------------------------------------- elements
    def _elem(self, cmd: Cmd, key: Optional[bytes], value: Optional[ctypes.Array], flags=0):
        kbuf = ctypes.create_string_buffer(key, self.key_size) if key is not None else None
        attr = MapElemAttr(map_fd=self.fd, flags=flags,
                           key=ctypes.addressof(kbuf) if kbuf is not None else 0,
                           value=ctypes.addressof(value) if value is not None else 0)
        return bpf(cmd, attr)

    def lookup(self, key: bytes) -> Optional[bytes]:
        buf = ctypes.create_string_buffer(self.value_stride)
        try:
            self._elem(Cmd.MAP_LOOKUP_ELEM, key, buf)
        except BpfError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        return buf.raw

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        if len(value) != self.value_stride:
            raise ValueError(f"value for {self.spec.name} must be {self.value_stride} bytes")
        self._elem(Cmd.MAP_UPDATE_ELEM, key, ctypes.create_string_buffer(value, len(value)), flags)

    def delete(self, key: bytes) -> bool:
        try:
            self._elem(Cmd.MAP_DELETE_ELEM, key, None)
        except BpfError as e:
            if e.errno == errno.ENOENT:
                return False
            raise
        return True

    def next_key(self, key: Optional[bytes]) -> Optional[bytes]:
        out = ctypes.create_string_buffer(self.key_size)
        try:
            self._elem(Cmd.MAP_GET_NEXT_KEY, key, out)
        except BpfError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        return out.raw

    def keys(self) -> Iterator[bytes]:
        key = self.next_key(None)
        while key is not None:
            yield key
            key = self.next_key(key)

    # ---------------------------------------------------------------- whole map
    def items(self) -> list[tuple[bytes, bytes]]:
        """Every (key, value) pair, read in batches where the map type allows it."""
        if self.map_type in _BATCHABLE:
            try:
                return self._items_batch()
            except BpfError as e:
                if e.errno not in (errno.EINVAL, errno.ENOTSUP, 524):   # 524: ENOTSUPP
                    raise
        return self._items_walk()

    def _items_walk(self) -> list[tuple[bytes, bytes]]:
        out = []
        for key in list(self.keys()):
            value = self.lookup(key)
            if value is not None:          # deleted by a probe since get_next_key
                out.append((key, value))
        return out

    def packed_items(self) -> tuple[bytes, bytes, int]:
        """Every key and value packed back to back (`key_size` and `value_stride` bytes
        apart) and their count: what a decoder can unpack in one pass."""
        if self.map_type in _BATCHABLE:
            try:
                return self._batch_packed()
            except BpfError as e:
                if e.errno not in (errno.EINVAL, errno.ENOTSUP, 524):   # 524: ENOTSUPP
                    raise
        items = self._items_walk()
        return b"".join(k for k, _ in items), b"".join(v for _, v in items), len(items)

    def _items_batch(self) -> list[tuple[bytes, bytes]]:
        kraw, vraw, count = self._batch_packed()
        ks, vs = self.key_size, self.value_stride
        return [(kraw[i * ks:(i + 1) * ks], vraw[i * vs:(i + 1) * vs]) for i in range(count)]

    def _batch_packed(self) -> tuple[bytes, bytes, int]:
        size = max(64, min(self.batch_size, self.spec.max_entries))
        key_chunks: list[bytes] = []
        value_chunks: list[bytes] = []
        total = 0
        token_in = ctypes.create_string_buffer(max(8, self.key_size))
        token_out = ctypes.create_string_buffer(max(8, self.key_size))
        first = True
        while True:
            keys = ctypes.create_string_buffer(size * self.key_size)
            values = ctypes.create_string_buffer(size * self.value_stride)
            attr = MapBatchAttr(in_batch=0 if first else ctypes.addressof(token_in),
                                out_batch=ctypes.addressof(token_out),
                                keys=ctypes.addressof(keys), values=ctypes.addressof(values),
                                count=size, map_fd=self.fd)
            done = False
            try:
                bpf(Cmd.MAP_LOOKUP_BATCH, attr, "BPF_MAP_LOOKUP_BATCH")
            except BpfError as e:
                if e.errno == errno.ENOSPC and attr.count == 0:
                    size *= 4      # one hash bucket holds more entries than the batch
                    continue
                if e.errno != errno.ENOENT:
                    raise
                done = True
            n = attr.count
            key_chunks.append(ctypes.string_at(keys, n * self.key_size))
            value_chunks.append(ctypes.string_at(values, n * self.value_stride))
            total += n
            if done:
                return b"".join(key_chunks), b"".join(value_chunks), total
            ctypes.memmove(token_in, token_out, len(token_out))
            first = False

    def clear(self) -> None:
        """bpftrace's clear(): delete every key (arrays cannot delete: zero them)."""
        if self.map_type in _ARRAYS:
            self.zero()
            return
        for key, _ in self.items():
            self.delete(key)

    def zero(self) -> None:
        """bpftrace's zero(): every existing value set to zero bytes."""
        zero = bytes(self.value_stride)
        for key, _ in self.items():
            try:
                self.update(key, zero)
            except BpfError as e:
                if e.errno != errno.ENOENT:
                    raise

    def per_cpu(self, value: bytes) -> list[bytes]:
        """The per-CPU slots of a value blob (one slot for non-per-CPU maps)."""
        if not self.percpu:
            return [value]
        step = round8(self.value_size)
        return [value[i * step:i * step + self.value_size] for i in range(self.ncpus)]


# ---------------------------------------------------------------- per-CPU combination
_MASK64 = (1 << 64) - 1


def _wrap(v: int, signed: bool) -> int:
    """64-bit two's complement wrap-around, as the per-CPU adds in the kernel would give."""
    v &= _MASK64
    return v - (1 << 64) if signed and v >> 63 else v


def _sum(vals: tuple, signed: bool):
    return _wrap(sum(vals), signed)


def _pick(choose):
    def combine(vals: tuple, signed: bool):
        chosen = [v for v, is_set in zip(vals[0::2], vals[1::2]) if is_set]
        return choose(chosen) if chosen else 0
    return combine


def _totals(vals: tuple, signed: bool) -> tuple[int, int]:
    return sum(vals[1::2]), _wrap(sum(vals[0::2]), signed)


# aggregation kind -> (struct codes of one slot as signed, combine(unpacked slots, signed));
# avg/stats give (count, total)
COMBINERS = {
    Kind.COUNT: ("q", _sum),
    Kind.SUM: ("q", _sum),
    Kind.HIST: ("q", _sum),
    Kind.LHIST: ("q", _sum),
    Kind.MIN: ("qQ", _pick(min)),
    Kind.MAX: ("qQ", _pick(max)),
    Kind.AVG: ("qQ", _totals),
    Kind.STATS: ("qQ", _totals),
}


def Combiner(value_type: SizedType, nslots: int, stride: int) -> Callable[[bytes], object]:
    """A function giving one aggregated value from a map value holding `nslots` per-CPU slots
    `stride` bytes apart (artifact.py's layouts): one struct.unpack, then the combination."""
    codes, combine_slots = COMBINERS[value_type.kind]
    signed = value_type.signed
    if not signed:
        codes = codes.upper()
    size = struct.calcsize("<" + codes)
    pad = f"{stride - size}x" if stride > size else ""
    unpack = struct.Struct("<" + (codes + pad) * nslots).unpack_from
    return lambda raw: combine_slots(unpack(raw), signed)


def combine(slots: list[bytes], value_type: SizedType):
    """One aggregated value from a list of per-CPU slots."""
    stride = max(len(s) for s in slots)
    return Combiner(value_type, len(slots), stride)(b"".join(s.ljust(stride, b"\0")
                                                              for s in slots))
