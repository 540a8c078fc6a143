"""Function symbols and USDT probes of an ELF binary, as attaching and listing need them.

Owns `function_offsets(path)`: every FUNC/IFUNC symbol of .symtab and .dynsym mapped to its
file offset (`st_value - p_vaddr + p_offset` of the PT_LOAD segment holding it), and
`usdt_probes(path)`: the (provider, name) of each `.note.stapsdt` note; both cached per file
version.  Used to attach uprobes whose address the compiler left unresolved and to list
`uprobe:PATH:*` / `usdt:PATH:*`.  (Address -> symbol for stacks is loader.user_symbols' job.)
"""
from __future__ import annotations

import functools
import os
import struct

_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_SYM = struct.Struct("<IBBHQQ")
SHT_SYMTAB, SHT_DYNSYM, PT_LOAD = 2, 11, 1
STT_FUNC, STT_GNU_IFUNC = 2, 10
NT_STAPSDT = 3


def function_offsets(path: str) -> dict[str, int]:
    """{function name: file offset}; ValueError if `path` is not an ELF64 file."""
    return _function_offsets(*_file_version(path))


def usdt_probes(path: str) -> list[tuple[str, str]]:
    """(provider, name) of every USDT probe in the file's .note.stapsdt section."""
    return _usdt_probes(*_file_version(path))


def _file_version(path: str) -> tuple[str, int, int, int]:
    st = os.stat(path)
    return path, st.st_ino, st.st_size, st.st_mtime_ns


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
def _usdt_probes(path: str, _ino: int, _size: int, _mtime: int) -> list[tuple[str, str]]:
    data, shdrs, names = _read_elf(path)
    out = []
    for h, name in zip(shdrs, names):
        if name != ".note.stapsdt":
            continue
        pos, end = h[4], h[4] + h[5]
        while pos + 12 <= end:
            namesz, descsz, note_type = struct.unpack_from("<III", data, pos)
            desc = pos + 12 + (namesz + 3) // 4 * 4
            if note_type == NT_STAPSDT and data[pos + 12:pos + 12 + namesz] == b"stapsdt\0":
                strings = data[desc + 24:desc + descsz].split(b"\0")
                out.append((strings[0].decode("utf-8", "replace"),
                            strings[1].decode("utf-8", "replace")))
            pos = desc + (descsz + 3) // 4 * 4
    return out


@functools.lru_cache(maxsize=32)
def _function_offsets(path: str, _ino: int, _size: int, _mtime: int) -> dict[str, int]:
    data, shdrs, _names = _read_elf(path)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _fl, p_offset, p_vaddr, _pa, _filesz, p_memsz, _al = \
            _PHDR.unpack_from(data, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_memsz, p_offset))
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
            for vaddr, memsz, offset in loads:
                if vaddr <= value < vaddr + memsz:
                    out.setdefault(name, value - vaddr + offset)
                    break
    return out
