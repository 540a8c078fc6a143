"""Where a uprobe/usdt target lives on disk: `uprobe:/bin/bash:...`, `uprobe:bash:...`,
`uprobe:libc:malloc`, `usdt:/usr/lib/*/libfoo.so:...`.

Owns bpftrace's binary resolution (the name itself, then each $PATH entry, glob expansion,
keeping ELF executables and shared objects), library names resolved like bcc's which_so
(the target process's /proc/PID/maps with -p, else /etc/ld.so.cache, else the standard
library directories), and /proc/PID/root paths when the target runs in another mount
namespace.  Stdlib only.
"""
from __future__ import annotations

import glob
import os
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from .elf_symbols import ET_DYN, ET_EXEC

LD_SO_CACHE = "/etc/ld.so.cache"
_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_OLD_MAGIC = b"ld.so-1.7.0"
# /etc/ld.so.cache entry flags (glibc sysdeps/generic/ldconfig.h)
_FLAG_TYPE_MASK, _FLAG_ELF_LIBC6 = 0x00FF, 0x0003
_FLAG_ARCH_MASK, _FLAG_X8664_LIB64 = 0xFF00, 0x0300
STANDARD_LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                     "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


class TargetNotFound(Exception):
    """No ELF executable or library matches a uprobe/usdt target."""


def elf_type(path: str) -> Optional[int]:
    """ET_EXEC/ET_DYN/... of an ELF file, or None if it is not a readable ELF file."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
    except OSError:
        return None
    if len(head) < 18 or head[:4] != b"\x7fELF":
        return None
    return struct.unpack_from("<H", head, 16)[0]


def _usable(path: str) -> bool:
    t = elf_type(path)
    return (t == ET_EXEC and os.access(path, os.X_OK)) or t == ET_DYN


def pid_in_different_mountns(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    except OSError:
        return False


def path_for_pid(pid: Optional[int], path: str) -> str:
    """`path` as this process can open it: through /proc/PID/root when `pid` lives in another
    mount namespace (a container), unchanged otherwise."""
    if pid and pid_in_different_mountns(pid):
        return f"/proc/{pid}/root/{path.lstrip('/')}"
    return path


def _pid_env_path(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for var in f.read().split(b"\0"):
                if var.startswith(b"PATH="):
                    return var[5:].decode(errors="replace")
    except OSError:
        pass
    return None


def resolve_binary(cmd: str, pid: Optional[int] = None) -> list[str]:
    """bpftrace's resolve_binary_path: `cmd` itself plus `dir/cmd` for each $PATH entry (the
    target's PATH when it is in another mount namespace), globs expanded, keeping ELF
    executables with exec permission and ET_DYN objects.  Paths are returned as the user
    names them (not through /proc/PID/root); open them with `path_for_pid`."""
    env_paths = os.environ.get("PATH", "")
    if pid and pid_in_different_mountns(pid):
        env_paths = _pid_env_path(pid) or ""
    candidates = [cmd]
    if "/" not in cmd:
        candidates += [os.path.join(d, cmd) for d in env_paths.split(":") if d]
    if "*" in cmd or "?" in cmd or "[" in cmd:
        root = path_for_pid(pid, "/").rstrip("/")    # "" or "/proc/PID/root"
        expanded: list[str] = []
        for c in candidates:
            expanded += [p[len(root):] for p in sorted(glob.glob(root + c))]
        candidates = expanded
    out: list[str] = []
    for c in candidates:
        if c not in out and _usable(path_for_pid(pid, c)):
            out.append(c)
    return out


@lru_cache(maxsize=4)
def ld_so_cache(path: str = LD_SO_CACHE) -> tuple[tuple[str, str, int], ...]:
    """(soname, path, flags) entries of glibc's /etc/ld.so.cache (the 1.1 format, possibly
    after an old-format block)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ()
    base = data.find(_NEW_MAGIC)
    if base < 0:
        return ()
    nlibs = struct.unpack_from("<I", data, base + 20)[0]
    out = []
    entries = base + 48
    for i in range(nlibs):
        flags, key, value, _osv, _hwcap = struct.unpack_from("<iIIIQ", data, entries + 24 * i)
        out.append((_cstr(data, base + key), _cstr(data, base + value), flags))
    return tuple(out)


def _cstr(data: bytes, off: int) -> str:
    return data[off:data.index(b"\0", off)].decode(errors="replace")


def _lib_pattern(name: str) -> re.Pattern:
    """`libc`, `c`, `libc.so`, `libc.so.6` all name libc.so.6 (bcc's which_so prefix match)."""
    stem = name if name.startswith("lib") else "lib" + name
    if ".so" in stem:
        return re.compile(re.escape(stem) + r"(\.\d+)*$")
    return re.compile(re.escape(stem) + r"(\.so(\.\d+)*|-[\w.]+\.so(\.\d+)*)$")


def mapped_objects(pid: int) -> list[str]:
    """The files mapped into process `pid` (/proc/PID/maps), in first-mapped order, without
    deleted ones; [] when the process is gone."""
    seen: list[str] = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    p = parts[5].rstrip("\n")
                    if p not in seen and not p.endswith(" (deleted)"):
                        seen.append(p)
    except OSError:
        pass
    return seen


def _from_maps(name: str, pid: int) -> Optional[str]:
    pat = _lib_pattern(name)
    return next((p for p in mapped_objects(pid) if pat.match(os.path.basename(p))), None)


def _from_cache(name: str) -> Optional[str]:
    pat = _lib_pattern(name)
    for soname, path, flags in ld_so_cache():
        if (flags & _FLAG_TYPE_MASK) != _FLAG_ELF_LIBC6:
            continue
        if (flags & _FLAG_ARCH_MASK) not in (0, _FLAG_X8664_LIB64):
            continue
        if pat.match(soname):
            return path
    return None


def _from_dirs(name: str) -> Optional[str]:
    pat = _lib_pattern(name)
    for d in STANDARD_LIB_DIRS:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for n in names:
            if pat.match(n):
                return os.path.join(d, n)
    return None


def resolve_library(name: str, pid: Optional[int] = None) -> Optional[str]:
    """Path of the shared library `name` (`libc`, `c`, `libpthread.so.0`): the one the target
    process has mapped when `pid` is given, else ld.so.cache's, else from the standard dirs."""
    if pid:
        found = _from_maps(name, pid)
        if found:
            return found
    return _from_cache(name) or _from_dirs(name)


def resolve_target(target: str, pid: Optional[int] = None) -> list[str]:
    """Every file a uprobe/usdt target names: binaries first (bpftrace's rules), then a
    library of that name.  Raises TargetNotFound with bpftrace's message."""
    paths = resolve_binary(target, pid)
    if not paths and "/" not in target:
        lib = resolve_library(target, pid)
        if lib:
            paths = [lib]
    if not paths:
        raise TargetNotFound(f"uprobe target file '{target}' does not exist or is not executable")
    return paths


def pid_executable(pid: int) -> str:
    """The executable of a running process, as a path this process can open."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        raise TargetNotFound(f"cannot find the executable of pid {pid}") from None
    return path_for_pid(pid, exe.removesuffix(" (deleted)"))


# ---- uprobe attach points -> concrete sites

class UprobeOffsetError(Exception):
    """`uprobe:path:func+off` with `off` past the end of the function."""


@dataclass(frozen=True)
class UprobeSite:
    path: str           # as the user names it (open it with path_for_pid)
    func: str           # symbol name ("" for an address probe)
    address: int        # link-time virtual address probed (symbol + offset)
    file_offset: int    # the uprobe PMU's config2


def uprobe_sites(target: str, func: str = "", pid: Optional[int] = None, offset: int = 0,
                 address: Optional[int] = None) -> list[UprobeSite]:
    """Expand `uprobe:target:func[+offset]` (wildcards in target and func allowed) or
    `uprobe:target:address` into sites, one per matching (file, function), in path then
    name order.  No match gives [] (bpftrace then says "No probes to attach")."""
    from .elf_symbols import ElfError, load_elf

    sites: list[UprobeSite] = []
    for path in resolve_target(target, pid):
        try:
            elf = load_elf(path_for_pid(pid, path))
        except ElfError:
            continue
        if address is not None:
            try:
                sites.append(UprobeSite(path, "", address, elf.address_to_file_offset(address)))
            except ElfError:
                pass
            continue
        for sym in elf.match_functions(func):
            if offset and sym.size and offset >= sym.size:
                raise UprobeOffsetError(
                    f"Offset outside the function bounds ('{sym.name}' size is {sym.size})")
            vaddr = sym.address + offset
            sites.append(UprobeSite(path, sym.name, vaddr, elf.address_to_file_offset(vaddr)))
    return sites
