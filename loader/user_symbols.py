"""User-space address symbolisation for ustack frames and usym(), per process.

Owns reading a process's executable mappings (/proc/PID/maps), the symbols of each mapped
object (through /proc/PID/root, or /proc/PID/map_files for deleted files, plus separate debug
files by build id or .gnu_debuglink), the load bias of PIE executables and shared objects,
perf-PID.map JIT maps, and a per-pid cache: `remember(pid)` while a process runs keeps its
stacks resolvable after it exits.  Names are chosen exactly as bcc's ProcSyms does (bpftrace
0.17's resolver), frame text follows bpftrace's resolve_usym.  Imports no compiler module
(the loader's rule), so it carries its own small ELF64 symbol reader.
"""
from __future__ import annotations

import os
import struct
import threading
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from typing import Optional

from . import demangle as _demangle

_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
SHT_SYMTAB, SHT_NOTE, SHT_DYNSYM = 2, 7, 11
PT_LOAD = 1
DEBUG_DIR = "/usr/lib/debug"


@dataclass(frozen=True)
class Symbol:
    name: str
    offset: int
    module: str         # the mapped file's path as /proc/PID/maps names it


class ElfImage:
    """The parts of one ELF64 file symbolisation needs: PT_LOAD segments, build id,
    .gnu_debuglink, and its symbol table entries in file order."""

    def __init__(self, data: bytes):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError("not a 64-bit little-endian ELF file")
        phoff, shoff = struct.unpack_from("<QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 54)
        self.loads = []                    # (p_offset, p_vaddr, p_filesz)
        for i in range(phnum):
            typ, _fl, off, vaddr, _pa, filesz, _memsz, _al = _PHDR.unpack_from(
                data, phoff + i * phentsize)
            if typ == PT_LOAD:
                self.loads.append((off, vaddr, filesz))
        sections = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)] \
            if shoff else []
        shstr = sections[shstrndx][4] if shstrndx < len(sections) else None
        self.build_id, self.debuglink = "", None
        self.symbols: list[tuple[int, int, bytes]] = []      # (value, size, name)
        for name, typ, _fl, _addr, off, size, link, _info, _al, entsize in sections:
            if typ == SHT_NOTE:
                self.build_id = self.build_id or _build_id(data[off:off + size])
            elif shstr is not None and _cstr(data, shstr + name) == b".gnu_debuglink":
                raw = data[off:off + size]
                fname = raw[:raw.index(b"\0")]
                self.debuglink = (fname.decode(errors="replace"),
                                  struct.unpack_from("<I", raw, (len(fname) + 4) & ~3)[0])
            if typ not in (SHT_SYMTAB, SHT_DYNSYM) or not entsize:
                continue
            stroff = sections[link][4]
            # bcc keeps every symbol type with a name and a non-zero value, in file order
            for nm, _info, _o, _shndx, value, sz in struct.iter_unpack("<IBBHQQ",
                                                                       data[off:off + size]):
                if nm and value:
                    name = _cstr(data, stroff + nm)
                    if name:
                        self.symbols.append((value, sz, name))


def _cstr(data: bytes, off: int) -> bytes:
    return data[off:data.index(b"\0", off)]


class ElfFunctions:
    """Address -> symbol for one mapped object, choosing exactly the symbol bcc's ProcSyms
    (and so bpftrace) chooses: the debug file's symbols first, then the file's own, ordered
    by libstdc++'s std::sort on the address alone (which decides between aliases such as
    malloc/__libc_malloc), then bcc's backwards walk for the containing symbol."""

    def __init__(self, image: ElfImage, debug: Optional[ElfImage] = None):
        self.loads = image.loads
        self.build_id = image.build_id
        syms = (debug.symbols if debug is not None else []) + image.symbols
        stdlib_sort(syms)
        self._syms = syms
        self.starts = [s[0] for s in syms]

    @property
    def has_symbols(self) -> bool:
        return bool(self.starts)

    def file_offset_to_vaddr(self, offset: int) -> Optional[int]:
        for off, vaddr, filesz in self.loads:
            if off <= offset < off + filesz:
                return offset - off + vaddr
        return None

    def find(self, vaddr: int) -> Optional[tuple[str, int]]:
        """bcc's ProcSyms::Module::find_addr: step back from the last symbol starting at or
        below `vaddr` to the first whose [start, start+size) holds it, giving up once past
        symbols that cannot enclose it (nested symbols are found, unknown ones stop fast)."""
        i = bisect_right(self.starts, vaddr) - 1
        if i < 0:
            return None
        syms = self._syms
        limit = syms[i][0]
        while vaddr >= syms[i][0]:
            start, size, name = syms[i]
            if vaddr < start + size:
                return name.decode(errors="replace"), vaddr - start
            if limit > start + size or i == 0:
                break
            i -= 1
        return None


def stdlib_sort(a: list) -> None:
    """Sort `a` in place by `item[0]` exactly as GCC's libstdc++ std::sort does (introsort:
    median-of-three quicksort down to 16 elements, heapsort past 2*log2(n) levels, then
    insertion sort).  std::sort is not stable: which of several symbols at one address ends
    last depends on this exact algorithm, and bcc reports the last one."""
    n = len(a)
    if n < 2:
        return
    _introsort_loop(a, 0, n, 2 * (n.bit_length() - 1))
    if n > 16:
        _insertion_sort(a, 0, 16)
        for i in range(16, n):
            _linear_insert(a, i)
    else:
        _insertion_sort(a, 0, n)


def _introsort_loop(a: list, first: int, last: int, depth: int) -> None:
    while last - first > 16:
        if depth == 0:
            _heap_sort(a, first, last)
            return
        depth -= 1
        mid = first + (last - first) // 2
        _median_to_first(a, first, first + 1, mid, last - 1)
        lo, hi, pivot = first + 1, last, a[first][0]
        while True:                                  # __unguarded_partition
            while a[lo][0] < pivot:
                lo += 1
            hi -= 1
            while pivot < a[hi][0]:
                hi -= 1
            if not lo < hi:
                break
            a[lo], a[hi] = a[hi], a[lo]
            lo += 1
        _introsort_loop(a, lo, last, depth)
        last = lo


def _median_to_first(a: list, r: int, x: int, y: int, z: int) -> None:
    kx, ky, kz = a[x][0], a[y][0], a[z][0]
    if kx < ky:
        m = y if ky < kz else (z if kx < kz else x)
    elif kx < kz:
        m = x
    else:
        m = z if ky < kz else y
    a[r], a[m] = a[m], a[r]


def _linear_insert(a: list, last: int) -> None:
    val = a[last]
    key = val[0]
    nxt = last - 1
    while key < a[nxt][0]:
        a[last] = a[nxt]
        last = nxt
        nxt -= 1
    a[last] = val


def _insertion_sort(a: list, first: int, last: int) -> None:
    for i in range(first + 1, last):
        if a[i][0] < a[first][0]:
            val = a[i]
            a[first + 1:i + 1] = a[first:i]
            a[first] = val
        else:
            _linear_insert(a, i)


def _adjust_heap(a: list, first: int, hole: int, length: int, value) -> None:
    top = second = hole
    while second < (length - 1) // 2:
        second = 2 * (second + 1)
        if a[first + second][0] < a[first + second - 1][0]:
            second -= 1
        a[first + hole] = a[first + second]
        hole = second
    if (length & 1) == 0 and second == (length - 2) // 2:
        second = 2 * (second + 1)
        a[first + hole] = a[first + second - 1]
        hole = second - 1
    parent = (hole - 1) // 2
    while hole > top and a[first + parent][0] < value[0]:
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = value


def _heap_sort(a: list, first: int, last: int) -> None:
    length = last - first
    for parent in range((length - 2) // 2, -1, -1):
        _adjust_heap(a, first, parent, length, a[first + parent])
    while last - first > 1:
        last -= 1
        value = a[last]
        a[last] = a[first]
        _adjust_heap(a, first, 0, last - first, value)


def _build_id(notes: bytes) -> str:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, typ = struct.unpack_from("<III", notes, pos)
        pos += 12
        owner = notes[pos:pos + namesz]
        pos += (namesz + 3) & ~3
        if owner == b"GNU\0" and typ == 3:
            return notes[pos:pos + descsz].hex()
        pos += (descsz + 3) & ~3
    return ""


def _read_image(path: str) -> Optional[ElfImage]:
    try:
        with open(path, "rb") as f:
            return ElfImage(f.read())
    except (OSError, ValueError, struct.error, IndexError):
        return None


def _debug_image(image: ElfImage, path: str) -> Optional[ElfImage]:
    """bcc's search order: /usr/lib/debug/.build-id/xx/rest.debug, then .gnu_debuglink next
    to the file, in its .debug/ directory or under /usr/lib/debug (CRC checked)."""
    if image.build_id:
        found = _read_image(f"{DEBUG_DIR}/.build-id/{image.build_id[:2]}/"
                            f"{image.build_id[2:]}.debug")
        if found is not None:
            return found
    if image.debuglink is None:
        return None
    name, crc = image.debuglink
    here = os.path.dirname(os.path.realpath(path))
    for cand in (os.path.join(here, name), os.path.join(here, ".debug", name),
                 DEBUG_DIR + os.path.join(here, name)):
        try:
            with open(cand, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if zlib.crc32(data) == crc and os.path.realpath(cand) != os.path.realpath(path):
            try:
                return ElfImage(data)
            except (ValueError, struct.error, IndexError):
                return None
    return None


_ELF_CACHE: dict[tuple, Optional[ElfFunctions]] = {}
_ELF_LOCK = threading.Lock()


def elf_functions(path: str) -> Optional[ElfFunctions]:
    """Symbols of `path` (with its separate debug file when installed), cached by
    (dev, inode, size, mtime); None if unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _ELF_LOCK:
        if key in _ELF_CACHE:
            return _ELF_CACHE[key]
    image = _read_image(path)
    elf = ElfFunctions(image, _debug_image(image, path)) if image is not None else None
    with _ELF_LOCK:
        if len(_ELF_CACHE) > 512:
            _ELF_CACHE.clear()
        _ELF_CACHE[key] = elf
    return elf


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    offset: int
    path: str           # as /proc/PID/maps shows it (" (deleted)" stripped)
    open_path: str      # a path this process can read it through


def read_maps(pid: int) -> list[Mapping]:
    """Executable, file-backed mappings of a process ([] if it is gone)."""
    out = []
    root = f"/proc/{pid}/root"
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.readlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or "x" not in parts[1]:
            continue
        path = parts[5].rstrip("\n")
        if not path.startswith("/"):
            continue
        span = parts[0]
        start, end = (int(x, 16) for x in span.split("-"))
        if path.endswith(" (deleted)"):
            path = path[:-len(" (deleted)")]
            open_path = f"/proc/{pid}/map_files/{span}"
        else:
            open_path = root + path if os.path.exists(root + path) else path
        out.append(Mapping(start, end, int(parts[2], 16), path, open_path))
    return out


class PerfMap:
    """A JIT symbol map (/tmp/perf-PID.map: `START SIZE name` per line, hex)."""

    def __init__(self, path: str):
        self.path = path
        self._mtime = -1
        self.starts: list[int] = []
        self.entries: list[tuple[int, int, str]] = []

    def _refresh(self) -> None:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return
        if mtime == self._mtime:
            return
        entries = []
        with open(self.path, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    try:
                        entries.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
                    except ValueError:
                        continue
        entries.sort()
        self.entries, self.starts, self._mtime = entries, [e[0] for e in entries], mtime

    def find(self, addr: int) -> Optional[tuple[str, int]]:
        self._refresh()
        i = bisect_right(self.starts, addr) - 1
        if i >= 0:
            start, size, name = self.entries[i]
            if addr < start + size:
                return name, addr - start
        return None


def _perf_map_paths(pid: int) -> list[str]:
    """bcc's perf map locations: `<root>/tmp/perf-<ns tgid>.map` with <root> the target of
    /proc/PID/root ("" when it is "/"), then /tmp/perf-PID.map."""
    paths = []
    try:
        root = os.readlink(f"/proc/{pid}/root")
        nstgid = pid
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NStgid:"):
                    nstgid = int(line.split()[-1])
        paths.append(f"{'' if root == '/' else root}/tmp/perf-{nstgid}.map")
    except (OSError, ValueError):
        pass
    paths.append(f"/tmp/perf-{pid}.map")
    return paths


class ProcessSymbols:
    """What one process had mapped, kept after it exits."""

    def __init__(self, pid: int):
        self.pid = pid
        self.maps = read_maps(pid)
        self.perf_maps = [PerfMap(p) for p in dict.fromkeys(_perf_map_paths(pid))]
        self._lock = threading.Lock()

    def _alive(self) -> bool:
        return os.path.exists(f"/proc/{self.pid}")

    def _mapping(self, addr: int) -> Optional[Mapping]:
        for m in self.maps:
            if m.start <= addr < m.end:
                return m
        return None

    def resolve(self, addr: int, demangle: bool = True) -> Optional[Symbol]:
        """The function containing `addr` in this process, or None."""
        m = self._mapping(addr)
        if m is None and self._alive():           # dlopen()ed since the snapshot
            with self._lock:
                self.maps = read_maps(self.pid) or self.maps
            m = self._mapping(addr)
        if m is not None:
            elf = elf_functions(m.open_path) or (elf_functions(m.path)
                                                 if m.open_path != m.path else None)
            if elf is not None:
                vaddr = elf.file_offset_to_vaddr(addr - m.start + m.offset)
                hit = elf.find(vaddr) if vaddr is not None else None
                if hit:
                    name = _demangle.demangle(hit[0]) if demangle else hit[0]
                    return Symbol(name, hit[1], m.path)
        for perf_map in self.perf_maps:
            hit = perf_map.find(addr)
            if hit:
                return Symbol(hit[0], hit[1], perf_map.path)
        return None

    def preload(self) -> None:
        """Read the symbols of every mapped object now (while the files are reachable)."""
        for m in self.maps:
            elf_functions(m.open_path)


_PROCS: dict[int, ProcessSymbols] = {}
_PROCS_LOCK = threading.Lock()
MAX_PROCESSES = 4096


def remember(pid: int, preload: bool = False) -> ProcessSymbols:
    """Snapshot a process's mappings now (call it while the process is alive, e.g. when the
    first event carrying its pid arrives) so its addresses still resolve after it exits."""
    with _PROCS_LOCK:
        ps = _PROCS.get(pid)
    if ps is None or (not ps.maps and ps._alive()):
        ps = ProcessSymbols(pid)
        with _PROCS_LOCK:
            if len(_PROCS) >= MAX_PROCESSES:
                _PROCS.pop(next(iter(_PROCS)))
            _PROCS[pid] = ps
    if preload:
        ps.preload()
    return ps


def forget(pid: Optional[int] = None) -> None:
    """Drop the cached mappings of one process (or of all)."""
    with _PROCS_LOCK:
        if pid is None:
            _PROCS.clear()
        else:
            _PROCS.pop(pid, None)


def _enabled() -> bool:
    return os.environ.get("BPFTRACE_NO_USER_SYMBOLS", "") not in ("1", "true")


def resolve(addr: int, pid: int) -> Optional[Symbol]:
    if not _enabled() or pid <= 0:
        return None
    return remember(pid).resolve(addr)


def format_address(addr: int) -> str:
    """An address as libstdc++ prints `(void *)addr` (`0x55cae5ac8149`, `0` for NULL)."""
    return f"{addr:#x}" if addr else "0"


def symbolize(addr: int, pid: int, show_offset: bool = False, show_module: bool = False) -> str:
    """bpftrace's resolve_usym: `name[+off][ (module)]`, or `0x...[ ([unknown])]`."""
    sym = resolve(addr, pid)
    if sym is None:
        return format_address(addr) + (" ([unknown])" if show_module else "")
    text = f"{sym.name}+{sym.offset}" if show_offset else sym.name
    return f"{text} ({sym.module})" if show_module else text


def usym(addr: int, pid: int) -> str:
    """usym() value text: the function name, or the address."""
    return symbolize(addr, pid)


def ustack_frame(addr: int, pid: int, perf_mode: bool = False) -> str:
    """One ustack line body: `func+off` (bpftrace mode) or `7f1c... func+off (/path)` (perf)."""
    if perf_mode:
        return f"{addr:x} {symbolize(addr, pid, True, True)}"
    return symbolize(addr, pid, True)
