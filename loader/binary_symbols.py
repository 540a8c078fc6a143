"""Function symbols of an ELF binary by name, as the uprobe PMU needs them.

Owns `function_offsets(path)`: every FUNC/IFUNC symbol of .symtab and .dynsym mapped to its
file offset (`st_value - p_vaddr + p_offset` of the PT_LOAD segment holding it), cached per
file version.  Used to attach uprobes whose address the compiler left unresolved and to
list `uprobe:PATH:*`.  (Address -> symbol for stacks is loader.user_symbols' job.)
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


def function_offsets(path: str) -> dict[str, int]:
    """{function name: file offset}; ValueError if `path` is not an ELF64 file."""
    st = os.stat(path)
    return _function_offsets(path, st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _function_offsets(path: str, _ino: int, _size: int, _mtime: int) -> dict[str, int]:
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _fl, p_offset, p_vaddr, _pa, _filesz, p_memsz, _al = \
            _PHDR.unpack_from(data, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_memsz, p_offset))
    shdrs = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)] if shoff else []
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
