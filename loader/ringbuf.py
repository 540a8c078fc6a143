"""The BPF ring buffer consumer: mmap'd positions, record headers, batched drains.

Owns `RingBuffer` (maps the consumer page read-write at offset 0 and the producer page plus
the double-mapped data area read-only at one page, then `drain()`s committed records in
order) and `parse_records()`, the pure header walk (u32 len with busy bit 31 and discard bit
30, u32 page offset, data padded to 8) that tests feed with synthetic bytes.
"""
from __future__ import annotations

import ctypes
import mmap
import struct
from typing import Optional

from .syscalls import mmap as sys_mmap, munmap
from .uapi import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ

PAGE_SIZE = mmap.PAGESIZE


def record_span(length: int) -> int:
    """Bytes a record of `length` data bytes takes in the ring (header + data, 8-aligned)."""
    return (length + BPF_RINGBUF_HDR_SZ + 7) & ~7


_HDR = struct.Struct("<I")
_LEN_MASK = ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT) & 0xFFFFFFFF


def parse_records(blob: bytes, limit: Optional[int] = None) -> tuple[list[bytes], int]:
    """Walk the committed records at the start of `blob` (ring bytes from the consumer
    position on; the data area is mapped twice, so records never wrap).  Returns the data of
    every committed, non-discarded record (up to `limit`) and the bytes consumed; stops at
    the first busy (still being written) record."""
    out: list[bytes] = []
    pos, end = 0, len(blob)
    view = memoryview(blob)
    while pos + BPF_RINGBUF_HDR_SZ <= end and (limit is None or len(out) < limit):
        hdr, = _HDR.unpack_from(blob, pos)
        if hdr & BPF_RINGBUF_BUSY_BIT:
            break
        length = hdr & _LEN_MASK
        span = record_span(length)
        if pos + span > end:
            break
        if not hdr & BPF_RINGBUF_DISCARD_BIT:
            out.append(bytes(view[pos + BPF_RINGBUF_HDR_SZ:pos + BPF_RINGBUF_HDR_SZ + length]))
        pos += span
    return out, pos


class RingBuffer:
    """User-space side of one BPF_MAP_TYPE_RINGBUF map (`size` = its max_entries)."""

    def __init__(self, map_fd: int, size: int):
        self.fd = map_fd
        self.size = size
        self.mask = size - 1
        self._cons_addr = sys_mmap(PAGE_SIZE, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED,
                                   map_fd, 0)
        try:
            self._prod_len = PAGE_SIZE + 2 * size
            self._prod_addr = sys_mmap(self._prod_len, mmap.PROT_READ, mmap.MAP_SHARED, map_fd,
                                       PAGE_SIZE)
        except Exception:
            munmap(self._cons_addr, PAGE_SIZE)
            raise
        self._data = self._prod_addr + PAGE_SIZE
        self._cons = ctypes.c_uint64.from_address(self._cons_addr)
        self._prod = ctypes.c_uint64.from_address(self._prod_addr)

    def pending(self) -> bool:
        return self._prod_addr is not None and self._cons.value != self._prod.value

    def drain(self, limit: Optional[int] = None) -> list[bytes]:
        """Every committed record (up to `limit`), oldest first; frees their space."""
        if self._prod_addr is None:
            return []
        # x86 is TSO: loading the producer position before the records is enough ordering,
        # and a header copied as committed means the data after it was copied complete.
        cons, prod = self._cons.value, self._prod.value
        if cons == prod:
            return []
        blob = ctypes.string_at(self._data + (cons & self.mask), min(prod - cons, self.size))
        records, consumed = parse_records(blob, limit)
        self._cons.value = cons + consumed
        return records

    def skip(self) -> int:
        """Free every committed record without copying it; returns how many were skipped."""
        if self._prod_addr is None:
            return 0
        cons, prod = self._cons.value, self._prod.value
        count = 0
        while cons != prod:
            hdr = ctypes.c_uint32.from_address(self._data + (cons & self.mask)).value
            if hdr & BPF_RINGBUF_BUSY_BIT:
                break
            if not hdr & BPF_RINGBUF_DISCARD_BIT:
                count += 1
            cons += record_span(hdr & _LEN_MASK)
        self._cons.value = cons
        return count

    def discard(self) -> None:
        """Skip everything committed so far (records dropped after exit())."""
        if self._prod_addr is not None:
            self.drain()

    def close(self) -> None:
        if self._prod_addr is not None:
            munmap(self._prod_addr, self._prod_len)
            munmap(self._cons_addr, PAGE_SIZE)
            self._prod_addr = None
