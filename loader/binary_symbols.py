"""Function symbols and USDT probes of an ELF binary, as attaching and listing need them.

Owns `function_offsets(path)`: every FUNC/IFUNC symbol of .symtab and .dynsym mapped to its
file offset (`st_value - p_vaddr + p_offset` of the PT_LOAD segment holding it), and
`usdt_probes(path)`: each `.note.stapsdt` note as a `UsdtProbe` (provider, name, file offsets
of the probe and of its semaphore); both cached per file
version.  Used to attach uprobes whose address the compiler left unresolved and to list
`uprobe:PATH:*` / `usdt:PATH:*`.  (Address -> symbol for stacks is loader.user_symbols' job.)
"""
from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass
from typing import Optional

_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_SYM = struct.Struct("<IBBHQQ")
SHT_SYMTAB, SHT_DYNSYM, PT_LOAD = 2, 11, 1
STT_FUNC, STT_GNU_IFUNC = 2, 10
NT_STAPSDT = 3


def function_offsets(path: str) -> dict[str, int]:
    """{function name: file offset}; ValueError if `path` is not an ELF64 file."""
    return _function_offsets(*_file_version(path))


@dataclass(frozen=True)
class UsdtProbe:
    provider: str
    name: str
    offset: int               # file offset of the probe's nop (the uprobe PMU's config2)
    semaphore_offset: int     # file offset of its semaphore (uprobe ref_ctr_offset), 0 if none


def usdt_probes(path: str) -> list[UsdtProbe]:
    """Every USDT probe in the file's .note.stapsdt section."""
    return _usdt_probes(*_file_version(path))


def _file_version(path: str) -> tuple[str, int, int, int]:
    st = os.stat(path)
    return path, st.st_ino, st.st_size, st.st_mtime_ns


def _load_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(vaddr, memsz, file offset) of each PT_LOAD segment."""
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _fl, p_offset, p_vaddr, _pa, _filesz, p_memsz, _al = \
            _PHDR.unpack_from(data, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_memsz, p_offset))
    return loads


def _file_offset(loads: list[tuple[int, int, int]], vaddr: int) -> Optional[int]:
    for seg_vaddr, memsz, offset in loads:
        if seg_vaddr <= vaddr < seg_vaddr + memsz:
            return vaddr - seg_vaddr + offset
    return None


def _read_elf(path: str) -> tuple[bytes, list[tuple], list[str]]:
    """The file's bytes, section headers and section names."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    shdrs = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)] if shoff else []
    names = []
    if shdrs:
        strtab = shdrs[shstrndx][4]
        names = [data[strtab + h[0]:data.index(b"\0", strtab + h[0])].decode("utf-8", "replace")
                 for h in shdrs]
    return data, shdrs, names


@functools.lru_cache(maxsize=32)
def _usdt_probes(path: str, _ino: int, _size: int, _mtime: int) -> list[UsdtProbe]:
    data, shdrs, names = _read_elf(path)
    loads = _load_segments(data)
    out = []
    for h, name in zip(shdrs, names):
        if name != ".note.stapsdt":
            continue
        pos, end = h[4], h[4] + h[5]
        while pos + 12 <= end:
            namesz, descsz, note_type = struct.unpack_from("<III", data, pos)
            desc = pos + 12 + (namesz + 3) // 4 * 4
            if note_type == NT_STAPSDT and data[pos + 12:pos + 12 + namesz] == b"stapsdt\0":
                pc, _base, sema = struct.unpack_from("<QQQ", data, desc)
                strings = data[desc + 24:desc + descsz].split(b"\0")
                out.append(UsdtProbe(strings[0].decode("utf-8", "replace"),
                                     strings[1].decode("utf-8", "replace"),
                                     _file_offset(loads, pc) or 0,
                                     _file_offset(loads, sema) or 0 if sema else 0))
            pos = desc + (descsz + 3) // 4 * 4
    return out


@functools.lru_cache(maxsize=32)
def _function_offsets(path: str, _ino: int, _size: int, _mtime: int) -> dict[str, int]:
    data, shdrs, _names = _read_elf(path)
    loads = _load_segments(data)
    out: dict[str, int] = {}
    for h in shdrs:
        if h[1] not in (SHT_SYMTAB, SHT_DYNSYM):
            continue
        strtab = shdrs[h[6]][4]
        for st_name, info, _o, shndx, value, _size in struct.iter_unpack(
                "<IBBHQQ", data[h[4]:h[4] + h[5]]):
            if info & 0xF not in (STT_FUNC, STT_GNU_IFUNC) or not value or not shndx:
                continue
            name = data[strtab + st_name:data.index(b"\0", strtab + st_name)]
            name = name.decode("utf-8", "replace").split("@")[0]
            offset = _file_offset(loads, value)
            if offset is not None:
                out.setdefault(name, offset)
    return out
