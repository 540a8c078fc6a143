"""ELF symbol tables of executables and shared objects, for uprobes, usdt and uaddr().

Owns a small ELF64 little-endian reader (header, section and program headers, notes) and the
symbol view on top of it: functions and data objects from .symtab and .dynsym with sizes,
wildcard matching of names as bpftrace's attach points do, PIE detection, build ids, and the
virtual address -> file offset translation a uprobe needs (`st_value - p_vaddr + p_offset`
of the PT_LOAD segment holding the address).  Stdlib only; files are cached by inode+mtime.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator, Optional

ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
SHT_SYMTAB, SHT_NOTE, SHT_DYNSYM = 2, 7, 11
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_COMMON, STT_TLS = range(7)
STT_GNU_IFUNC = 10
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
SHN_UNDEF = 0
NT_GNU_BUILD_ID = 3
DT_FLAGS_1, DF_1_PIE = 0x6FFFFFFB, 0x08000000
DEBUG_DIR = "/usr/lib/debug"

_FUNC_TYPES = (STT_FUNC, STT_GNU_IFUNC)
_DATA_TYPES = (STT_OBJECT, STT_COMMON, STT_TLS)


class ElfError(Exception):
    """A file that is not a readable ELF64 object, or an address it does not map."""


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass(frozen=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True)
class ElfSymbol:
    name: str
    address: int
    size: int
    type: int           # STT_*
    binding: int        # STB_*
    section: int

    @property
    def is_function(self) -> bool:
        return self.type in _FUNC_TYPES

    @property
    def is_data(self) -> bool:
        return self.type in _DATA_TYPES


@dataclass(frozen=True)
class Note:
    owner: str
    type: int
    desc: bytes
    section: str


class ElfFile:
    """One ELF64 object on disk, read fully into memory."""

    def __init__(self, path: str, data: Optional[bytes] = None):
        self.path = path
        try:
            self.data = data if data is not None else _read(path)
        except OSError as e:
            raise ElfError(f"{path}: {e.strerror}") from None
        d = self.data
        if d[:4] != b"\x7fELF":
            raise ElfError(f"{path}: not an ELF file")
        if d[4] != 2 or d[5] != 1:
            raise ElfError(f"{path}: only 64-bit little-endian ELF is supported")
        try:
            (self.e_type, self.machine, _v, self.entry, self.phoff, self.shoff, _f, _eh,
             self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = \
                struct.unpack_from("<HHIQQQIHHHHHH", d, 16)
            self.sections, self.segments    # noqa: B018 -- parse the headers now
        except (struct.error, ValueError, IndexError):
            raise ElfError(f"{path}: malformed ELF file") from None

    # ---- headers

    @cached_property
    def sections(self) -> list[Section]:
        if not self.shoff or not self.shnum:
            return []
        raw = []
        for i in range(self.shnum):
            name, typ, flags, addr, off, size, link, _info, _align, entsize = \
                struct.unpack_from("<IIQQQQIIQQ", self.data, self.shoff + i * self.shentsize)
            raw.append((name, typ, flags, addr, off, size, link, entsize))
        strtab = raw[self.shstrndx] if self.shstrndx < len(raw) else None
        out = []
        for name, *rest in raw:
            nm = self._cstr(strtab[4] + name) if strtab else ""
            out.append(Section(nm, *rest))
        return out

    @cached_property
    def segments(self) -> list[Segment]:
        out = []
        for i in range(self.phnum):
            typ, flags, off, vaddr, _paddr, filesz, memsz, _align = \
                struct.unpack_from("<IIQQQQQQ", self.data, self.phoff + i * self.phentsize)
            out.append(Segment(typ, flags, off, vaddr, filesz, memsz))
        return out

    def section(self, name: str) -> Optional[Section]:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_data(self, sec: Section) -> bytes:
        return self.data[sec.offset:sec.offset + sec.size]

    def _cstr(self, off: int) -> str:
        end = self.data.index(b"\0", off)
        return self.data[off:end].decode("utf-8", "replace")

    # ---- properties

    @property
    def is_shared(self) -> bool:
        """ET_DYN: a shared object or a PIE; either way loaded at a bias."""
        return self.e_type == ET_DYN

    @cached_property
    def is_pie(self) -> bool:
        """A position-independent executable (ET_DYN with an interpreter or DF_1_PIE)."""
        if self.e_type != ET_DYN:
            return False
        if any(s.type == PT_INTERP for s in self.segments):
            return True
        dyn = next((s for s in self.segments if s.type == PT_DYNAMIC), None)
        if dyn is None:
            return False
        for tag, val in struct.iter_unpack("<qQ", self.data[dyn.offset:dyn.offset + dyn.filesz]):
            if tag == DT_FLAGS_1:
                return bool(val & DF_1_PIE)
            if tag == 0:
                break
        return False

    def address_to_file_offset(self, vaddr: int) -> int:
        """File offset of a virtual address (uprobe `config2`): `vaddr - p_vaddr + p_offset`."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.memsz:
                return vaddr - seg.vaddr + seg.offset
        raise ElfError(f"{self.path}: address {vaddr:#x} is in no loadable segment")

    def file_offset_to_address(self, offset: int) -> int:
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.offset <= offset < seg.offset + max(seg.filesz, 1):
                return offset - seg.offset + seg.vaddr
        raise ElfError(f"{self.path}: file offset {offset:#x} is in no loadable segment")

    # ---- notes

    def notes(self) -> Iterator[Note]:
        """Every ELF note, from SHT_NOTE sections (or PT_NOTE segments when stripped)."""
        regions = [(s.name, s.offset, s.size) for s in self.sections if s.type == SHT_NOTE]
        if not regions:
            regions = [("", s.offset, s.filesz) for s in self.segments if s.type == PT_NOTE]
        for secname, off, size in regions:
            pos, end = off, min(off + size, len(self.data))
            while pos + 12 <= end:
                namesz, descsz, typ = struct.unpack_from("<III", self.data, pos)
                pos += 12
                owner = self.data[pos:pos + namesz].rstrip(b"\0").decode("ascii", "replace")
                pos += (namesz + 3) & ~3
                desc = self.data[pos:pos + descsz]
                pos += (descsz + 3) & ~3
                yield Note(owner, typ, desc, secname)

    @cached_property
    def build_id(self) -> str:
        for n in self.notes():
            if n.owner == "GNU" and n.type == NT_GNU_BUILD_ID:
                return n.desc.hex()
        return ""

    # ---- symbols

    def _own_symbols(self) -> list[ElfSymbol]:
        out = []
        for sec in self.sections:
            if sec.type not in (SHT_SYMTAB, SHT_DYNSYM) or not sec.entsize:
                continue
            strtab = self.sections[sec.link]
            raw = self.data[sec.offset:sec.offset + sec.size]
            raw = raw[:len(raw) - len(raw) % 24]
            for name, info, _other, shndx, value, size in struct.iter_unpack("<IBBHQQ", raw):
                typ = info & 0xF
                # an undefined function with a value is a non-PIE executable's canonical PLT
                # entry: bcc lists it (and it can be probed), so keep it
                if not name or typ in (STT_SECTION, STT_FILE) or (shndx == SHN_UNDEF
                                                                 and not value):
                    continue
                out.append(ElfSymbol(self._cstr(strtab.offset + name), value, size, typ,
                                     info >> 4, shndx))
        return out

    @cached_property
    def debug_file(self) -> Optional[str]:
        """The separate debug file holding the full .symtab of a stripped object, found like
        gdb and bcc do: /usr/lib/debug/.build-id/xx/rest.debug, else .gnu_debuglink's name
        next to the file, in its .debug/ or under /usr/lib/debug (CRC checked)."""
        bid = self.build_id
        if bid:
            path = f"{DEBUG_DIR}/.build-id/{bid[:2]}/{bid[2:]}.debug"
            if os.path.isfile(path):
                return path
        link = self.section(".gnu_debuglink")
        if link is None:
            return None
        raw = self.section_data(link)
        name = raw[:raw.index(b"\0")].decode(errors="replace")
        crc = struct.unpack_from("<I", raw, (len(name) + 4) & ~3)[0]
        here = os.path.dirname(os.path.realpath(self.path))
        for cand in (os.path.join(here, name), os.path.join(here, ".debug", name),
                     DEBUG_DIR + os.path.join(here, name)):
            if cand != os.path.realpath(self.path) and os.path.isfile(cand):
                try:
                    if zlib.crc32(_read(cand)) == crc:
                        return cand
                except OSError:
                    continue
        return None

    @cached_property
    def symbols(self) -> list[ElfSymbol]:
        """Defined symbols of .symtab and .dynsym, plus the debug file's .symtab when there is
        one, deduplicated by (name, address), sorted by address."""
        try:
            syms = self._own_symbols()
        except (struct.error, ValueError, IndexError):
            raise ElfError(f"{self.path}: malformed ELF symbol table") from None
        dbg = self.debug_file
        if dbg:
            try:
                syms += ElfFile(dbg)._own_symbols()
            except (ElfError, struct.error, ValueError, IndexError):
                pass
        seen: dict[tuple[str, int], ElfSymbol] = {}
        for sym in syms:
            seen.setdefault((sym.name, sym.address), sym)
        return sorted(seen.values(), key=lambda s: (s.address, s.name))

    @cached_property
    def functions(self) -> list[ElfSymbol]:
        return [s for s in self.symbols if s.is_function and s.address]

    @cached_property
    def data_symbols(self) -> list[ElfSymbol]:
        return [s for s in self.symbols if s.is_data]

    @cached_property
    def _by_name(self) -> dict[str, ElfSymbol]:
        out: dict[str, ElfSymbol] = {}
        for s in self.symbols:   # prefer global over local, function over data
            cur = out.get(s.name)
            if cur is None or (cur.binding == STB_LOCAL and s.binding != STB_LOCAL):
                out[s.name] = s
        return out

    def find(self, name: str) -> Optional[ElfSymbol]:
        return self._by_name.get(name)

    def match_functions(self, pattern: str) -> list[ElfSymbol]:
        """Functions matching a bpftrace attach-point pattern (`*` is the only wildcard), in
        name order.  Mangled C++ names also match by their demangled name without the
        parameter list (or with it when the pattern has a `(`), as bpftrace does.  Partially
        inlined `.part.N` clones are left out, as bpftrace 0.17's listing leaves them out."""
        funcs = [f for f in self.functions if ".part." not in f.name]
        return _match(funcs, pattern, self._demangled)

    def match_data(self, pattern: str) -> list[ElfSymbol]:
        return _match(self.data_symbols, pattern)

    def _demangled(self, names: list[str]) -> dict[str, str]:
        cache = self.__dict__.setdefault("_demangle_cache", {})
        todo = [n for n in names if n not in cache]
        if todo:
            cache.update(zip(todo, demangle_names(todo)))
        return {n: cache[n] for n in names}

    def function_at(self, vaddr: int) -> Optional[ElfSymbol]:
        """The function containing `vaddr`: the closest symbol at or below it whose size covers
        it (a size-0 symbol, as in hand-written assembly, covers up to the next symbol)."""
        funcs = self.functions
        addrs = self.__dict__.get("_func_addrs")
        if addrs is None:
            addrs = self.__dict__["_func_addrs"] = [f.address for f in funcs]
        i = bisect_right(addrs, vaddr) - 1
        if i < 0:
            return None
        start = addrs[i]
        while i >= 0 and addrs[i] == start:
            f = funcs[i]
            if f.size == 0 or vaddr < f.address + f.size:
                return f
            i -= 1
        return None


def wildcard_regex(pattern: str) -> re.Pattern:
    """bpftrace 0.17 attach-point matching: `*` matches any run, everything else literally."""
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern) + r"\Z",
                      re.S)


def _match(symbols: list[ElfSymbol], pattern: str,
           demangler: Optional[Callable[[list[str]], dict[str, str]]] = None) -> list[ElfSymbol]:
    rx = wildcard_regex(pattern)
    out: dict[str, ElfSymbol] = {}
    mangled: list[ElfSymbol] = []
    for s in symbols:
        if s.name in out:
            continue
        if rx.match(s.name):
            out[s.name] = s
        elif demangler is not None and s.name.startswith("_Z"):
            mangled.append(s)
    if mangled:
        demangled = demangler(sorted({s.name for s in mangled}))
        keep_params = "(" in pattern
        for s in mangled:
            d = demangled.get(s.name, s.name)
            if not keep_params:
                d = d.split("(", 1)[0]
            if s.name not in out and d != s.name and rx.match(d):
                out[s.name] = s
    return [out[k] for k in sorted(out)]


def demangle_names(names: list[str]) -> list[str]:
    """C++ names demangled by one `c++filt` run (the compiler uses no ctypes); names come
    back unchanged when c++filt is missing."""
    tool = shutil.which("c++filt")
    if not names or tool is None:
        return list(names)
    try:
        out = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True,
                             text=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return list(names)
    return out if len(out) == len(names) else list(names)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


_CACHE: dict[tuple, ElfFile] = {}


def load_elf(path: str) -> ElfFile:
    """An `ElfFile` for `path`, shared while the file (dev, inode, size, mtime) is unchanged."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ElfError(f"{path}: {e.strerror}") from None
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    elf = _CACHE.get(key)
    if elf is None:
        if len(_CACHE) > 256:
            _CACHE.clear()
        elf = _CACHE[key] = ElfFile(path)
    return elf
