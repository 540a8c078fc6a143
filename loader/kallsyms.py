"""Kernel symbols from /proc/kallsyms, for kstack, ksym() and kaddr().

Owns loading /proc/kallsyms once per process (lazily, ~0.2 s), sorted for binary search:
`resolve(addr) -> (name, offset)` over text symbols the way bcc's KSyms does (data symbols
b/B/d/D/r/R skipped, nearest preceding symbol wins), `lookup(name) -> addr` over every
symbol (kaddr("jiffies") needs data symbols), and bpftrace's frame text (`sym+off`, or the
address as `0x...`).  Stdlib only.
"""
from __future__ import annotations

import re
import threading
from bisect import bisect_right
from typing import Optional

KALLSYMS = "/proc/kallsyms"
_LINE = re.compile(rb"^([0-9a-fA-F]+) (\w) (\S+)(?:\t\[(\S+)\])?", re.M)
_DATA_TYPES = frozenset(b"bBdDrR")


class KernelSymbols:
    """A snapshot of /proc/kallsyms (or a file in the same format)."""

    def __init__(self, text: bytes):
        text_syms: list[tuple[int, bytes, Optional[bytes]]] = []
        by_name: dict[bytes, int] = {}
        for addr_s, typ, name, mod in _LINE.findall(text):
            addr = int(addr_s, 16)
            if not addr:
                continue          # kptr_restrict hides addresses: nothing to resolve against
            by_name.setdefault(name, addr)
            if typ[0] not in _DATA_TYPES:
                text_syms.append((addr, name, mod or None))
        text_syms.sort(key=lambda s: s[0])
        self._addrs = [s[0] for s in text_syms]
        self._syms = text_syms
        self._by_name = by_name

    def __len__(self) -> int:
        return len(self._syms)

    def resolve(self, addr: int) -> Optional[tuple[str, int]]:
        """(symbol, offset) of the text symbol at or below `addr`, or None below the first."""
        i = bisect_right(self._addrs, addr) - 1
        if i < 0:
            return None
        start, name, _mod = self._syms[i]
        return name.decode(errors="replace"), addr - start

    def module(self, addr: int) -> str:
        """The module owning the symbol at `addr` ("" for vmlinux)."""
        i = bisect_right(self._addrs, addr) - 1
        mod = self._syms[i][2] if i >= 0 else None
        return mod.decode(errors="replace") if mod else ""

    def lookup(self, name: str) -> Optional[int]:
        """Address of any symbol (text or data) called `name`."""
        return self._by_name.get(name.encode())

    def symbolize(self, addr: int, show_offset: bool = True) -> str:
        """bpftrace's resolve_ksym text: `vfs_read+5` (or `vfs_read`), else the address
        printed like a C++ `void *` (`0xffffffff81000000`, and `0` for NULL)."""
        found = self.resolve(addr)
        if found is None:
            return format_address(addr)
        name, off = found
        return f"{name}+{off}" if show_offset else name

    def stack_frame(self, addr: int, perf: bool = False) -> str:
        """One kstack line body: bpftrace mode `sym+off`; perf mode `ffffffff81... sym+off`
        (perf mode has no `0x` and no module suffix for kernel frames)."""
        sym = self.symbolize(addr)
        return f"{addr:x} {sym}" if perf else sym


def format_address(addr: int) -> str:
    """An address as libstdc++ prints `(void *)addr`: `0x7f...`, and `0` for 0."""
    return f"{addr:#x}" if addr else "0"


_LOCK = threading.Lock()
_LOADED: dict[str, KernelSymbols] = {}


def load(path: str = KALLSYMS) -> KernelSymbols:
    """The kernel symbol table, read once per process on first use (thread-safe)."""
    syms = _LOADED.get(path)
    if syms is None:
        with _LOCK:
            syms = _LOADED.get(path)
            if syms is None:
                with open(path, "rb") as f:
                    syms = _LOADED[path] = KernelSymbols(f.read())
    return syms


def reload(path: str = KALLSYMS) -> KernelSymbols:
    """Forget the cached table (modules were loaded) and read it again."""
    with _LOCK:
        _LOADED.pop(path, None)
    return load(path)


def resolve(addr: int) -> Optional[tuple[str, int]]:
    return load().resolve(addr)


def lookup(name: str) -> Optional[int]:
    return load().lookup(name)


def symbolize(addr: int, show_offset: bool = True) -> str:
    return load().symbolize(addr, show_offset)
