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
from typing import Callable, Optional

from .syscalls import mmap as sys_mmap, munmap
from .uapi import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ

PAGE_SIZE = mmap.PAGESIZE


def record_span(length: int) -> int:
    """Bytes a record of `length` data bytes takes in the ring (header + data, 8-aligned)."""
    return (length + BPF_RINGBUF_HDR_SZ + 7) & ~7


def parse_records(read: Callable[[int, int], bytes], cons: int, prod: int, mask: int,
                  limit: Optional[int] = None) -> tuple[list[bytes], int]:
    """Walk committed records from `cons` to `prod`.  `read(offset, n)` returns ring bytes at a
    data-area offset (the area is mapped twice, so a record never wraps).  Returns the data of
    every committed, non-discarded record and the new consumer position; stops at the first
    busy (still being written) record."""
    out: list[bytes] = []
    while cons < prod and (limit is None or len(out) < limit):
        hdr, = struct.unpack("<I", read(cons & mask, 4))
        if hdr & BPF_RINGBUF_BUSY_BIT:
            break
        length = hdr & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT) & 0xFFFFFFFF
        if not hdr & BPF_RINGBUF_DISCARD_BIT:
            out.append(read((cons & mask) + BPF_RINGBUF_HDR_SZ, length))
        cons += record_span(length)
    return out, cons


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

    def _read(self, offset: int, n: int) -> bytes:
        return ctypes.string_at(self._data + offset, n)

    def pending(self) -> bool:
        return self._prod_addr is not None and self._cons.value != self._prod.value

    def drain(self, limit: Optional[int] = None) -> list[bytes]:
        """Every committed record (up to `limit`), oldest first; frees their space."""
        if self._prod_addr is None:
            return []
        # x86 is TSO: loading the producer position before the records is enough ordering.
        records, cons = parse_records(self._read, self._cons.value, self._prod.value, self.mask,
                                      limit)
        self._cons.value = cons
        return records

    def discard(self) -> None:
        """Skip everything committed so far (records dropped after exit())."""
        if self._prod_addr is not None:
            self.drain()

    def close(self) -> None:
        if self._prod_addr is not None:
            munmap(self._prod_addr, self._prod_len)
            munmap(self._cons_addr, PAGE_SIZE)
            self._prod_addr = None
