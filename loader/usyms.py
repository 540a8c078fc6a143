"""User-space symbols: ELF symbol tables of binaries and the mappings of live processes.

Owns `ElfSymbols` (FUNC/OBJECT symbols of one file from .symtab and .dynsym, with the
PT_LOAD segments to turn a symbol into the file offset a uprobe needs), `uprobe_offset()`,
and `ProcessSymbols` (resolve an address in a running process through /proc/PID/maps), used
for usym() and ustack frames.  Files and processes are cached.
"""
from __future__ import annotations

import bisect
import functools
import struct
from typing import Optional

_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_SYM = struct.Struct("<IBBHQQ")
SHT_SYMTAB, SHT_DYNSYM = 2, 11
PT_LOAD = 1
STT_OBJECT, STT_FUNC, STT_GNU_IFUNC = 1, 2, 10


class ElfSymbols:
    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] != 2:
            raise ValueError(f"{path} is not an ELF64 file")
        self.is_pie = struct.unpack_from("<H", data, 0x10)[0] == 3          # ET_DYN
        phoff, = struct.unpack_from("<Q", data, 0x20)
        shoff, = struct.unpack_from("<Q", data, 0x28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
        self.segments = []       # (vaddr, memsz, file offset) of PT_LOAD segments
        for i in range(phnum):
            p_type, _flags, p_offset, p_vaddr, _pa, _fsz, p_memsz, _al = \
                _PHDR.unpack_from(data, phoff + i * phentsize)
            if p_type == PT_LOAD:
                self.segments.append((p_vaddr, p_memsz, p_offset))
        syms: dict[int, str] = {}
        self.by_name: dict[str, int] = {}
        shdrs = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
        for h in shdrs:
            if h[1] not in (SHT_SYMTAB, SHT_DYNSYM):
                continue
            strh = shdrs[h[6]]
            strtab = data[strh[4]:strh[4] + strh[5]]
            for off in range(h[4], h[4] + h[5], _SYM.size):
                st_name, info, _o, shndx, value, _size = _SYM.unpack_from(data, off)
                if info & 0xF not in (STT_FUNC, STT_OBJECT, STT_GNU_IFUNC) or not value or not shndx:
                    continue
                end = strtab.find(b"\0", st_name)
                name = strtab[st_name:end].decode("utf-8", "replace").split("@")[0]
                syms.setdefault(value, name)
                self.by_name.setdefault(name, value)
        self.addrs = sorted(syms)
        self.names = [syms[a] for a in self.addrs]

    def file_offset(self, vaddr: int) -> Optional[int]:
        for seg_vaddr, memsz, offset in self.segments:
            if seg_vaddr <= vaddr < seg_vaddr + memsz:
                return vaddr - seg_vaddr + offset
        return None

    def vaddr_of_offset(self, offset: int) -> Optional[int]:
        for seg_vaddr, memsz, seg_off in self.segments:
            if seg_off <= offset < seg_off + memsz:
                return offset - seg_off + seg_vaddr
        return None

    def resolve(self, vaddr: int) -> Optional[tuple[str, int]]:
        i = bisect.bisect_right(self.addrs, vaddr) - 1
        if i < 0:
            return None
        return self.names[i], vaddr - self.addrs[i]


@functools.lru_cache(maxsize=64)
def elf_symbols(path: str) -> ElfSymbols:
    return ElfSymbols(path)


def uprobe_offset(path: str, symbol: str) -> Optional[int]:
    """File offset of `symbol` in the binary at `path` (what the uprobe PMU's config2 takes)."""
    syms = elf_symbols(path)
    vaddr = syms.by_name.get(symbol)
    return syms.file_offset(vaddr) if vaddr is not None else None


class ProcessSymbols:
    """Resolves addresses of one process through its executable mappings."""

    def __init__(self, pid: int):
        self.pid = pid
        self.maps: list[tuple[int, int, int, str]] = []    # start, end, file offset, path
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) < 6 or "x" not in parts[1] or not parts[5].startswith("/"):
                        continue
                    start, end = (int(x, 16) for x in parts[0].split("-"))
                    self.maps.append((start, end, int(parts[2], 16), parts[5].strip()))
        except OSError:
            pass

    def resolve(self, addr: int) -> Optional[tuple[str, int, str]]:
        """(symbol, offset, path) for `addr`, or None."""
        for start, end, offset, path in self.maps:
            if start <= addr < end:
                try:
                    syms = elf_symbols(path)
                except (OSError, ValueError):
                    return None
                vaddr = syms.vaddr_of_offset(addr - start + offset)
                hit = syms.resolve(vaddr) if vaddr is not None else None
                return (hit[0], hit[1], path) if hit else None
        return None


_process_cache: dict[int, ProcessSymbols] = {}


def process_symbols(pid: int) -> ProcessSymbols:
    """Cached per pid: a process's mappings are read once, while it is (probably) alive."""
    ps = _process_cache.get(pid)
    if ps is None or not ps.maps:
        ps = _process_cache[pid] = ProcessSymbols(pid)
        if len(_process_cache) > 256:
            _process_cache.pop(next(iter(_process_cache)))
    return ps


def usym(addr: int, pid: int) -> str:
    """bpftrace's usym(): the symbol name, or the address in hex."""
    hit = process_symbols(pid).resolve(addr)
    return hit[0] if hit else f"0x{addr:x}"


def ustack_frame(addr: int, pid: int, perf_mode: bool = False) -> str:
    hit = process_symbols(pid).resolve(addr)
    if perf_mode:
        return f"{addr:x} {hit[0]}+{hit[1]} ({hit[2]})" if hit else f"{addr:x} 0x{addr:x} ([unknown])"
    return f"{hit[0]}+{hit[1]}" if hit else f"0x{addr:x}"
