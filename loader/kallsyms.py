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
# text symbols only (bcc's KSyms skips the data types b/B/d/D/r/R)
_TEXT_LINE = re.compile(rb"^([0-9a-fA-F]+) [^bBdDrR] (\S+)", re.M)
_ANY_LINE = re.compile(rb"^([0-9a-fA-F]+) \w (\S+)", re.M)


class KernelSymbols:
    """A snapshot of /proc/kallsyms (or a file in the same format)."""

    def __init__(self, text: bytes):
        self._text = text
        # Keys are the 16-digit hex addresses as bytes: for fixed-width lowercase hex the byte
        # order is the numeric order, which saves converting 120k addresses up front.
        syms = [(a.lower().rjust(16, b"0"), n) for a, n in _TEXT_LINE.findall(text)]
        syms.sort()
        zero = b"0" * 16
        syms = [s for s in syms if s[0] != zero]      # kptr_restrict hides addresses
        self._keys = [s[0] for s in syms]
        self._names = [s[1] for s in syms]
        self._by_name: Optional[dict[bytes, int]] = None

    def __len__(self) -> int:
        return len(self._keys)

    def _index(self, addr: int) -> int:
        if not 0 <= addr < 1 << 64:
            return -1
        return bisect_right(self._keys, b"%016x" % addr) - 1

    def resolve(self, addr: int) -> Optional[tuple[str, int]]:
        """(symbol, offset) of the text symbol at or below `addr`, or None below the first."""
        i = self._index(addr)
        if i < 0:
            return None
        return self._names[i].decode(errors="replace"), addr - int(self._keys[i], 16)

    def module(self, addr: int) -> str:
        """The module owning the text symbol at `addr` ("" for vmlinux)."""
        i = self._index(addr)
        if i < 0:
            return ""
        m = re.search(rb"^%s \w %s\t\[(\S+)\]" % (self._keys[i], re.escape(self._names[i])),
                      self._text, re.M | re.I)
        return m.group(1).decode() if m else ""

    def lookup(self, name: str) -> Optional[int]:
        """Address of any symbol (text or data) called `name` (first listed), or None."""
        if self._by_name is None:
            by_name: dict[bytes, int] = {}
            for a, n in _ANY_LINE.findall(self._text):
                if n not in by_name:
                    by_name[n] = int(a, 16)
            self._by_name = by_name
        return self._by_name.get(name.encode()) or None

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


def ksym(addr: int) -> str:
    """bpftrace's ksym() value text: the symbol name without offset, else the address."""
    return load().symbolize(addr, show_offset=False)


def kstack_frame(addr: int, perf: bool = False) -> str:
    """One kstack frame (see `KernelSymbols.stack_frame`)."""
    return load().stack_frame(addr, perf)
