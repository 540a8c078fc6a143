"""On-disk cache of compiled programs: running the same program again skips lark and LLVM.

Owns `compile_cached()`, a drop-in for `pipeline.compile_source()`.  A cold `pybpftrace`
spends most of its start in imports (lark, llvmlite), parsing and LLVM; a hit costs one
unpickle.  The key covers everything the output depends on: the source, its name and
parameters, the compile options, the compiler's own files (path, size, mtime), the Python
version, and the kernel state (boot id, release, loaded modules, and the tracepoint list
when the text could hold a wildcard).  Files a program attaches to (uprobe/usdt binaries)
are recorded with the entry and checked on load.  Only successful compiles are stored;
any unreadable or stale entry is a miss.  `PYBPFTRACE_COMPILE_CACHE=0` turns it off.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Optional

CACHE_VERSION = 1
MAX_ENTRIES = 512
_FILE_PROVIDERS = ("uprobe", "uretprobe", "usdt")
_OPTION_FIELDS = ("strlen", "map_keys_max", "max_probes", "unsafe", "pid", "cpid",
                  "cat_bytes_max", "tracefs", "want_asm")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bpftrace_kernel" / "programs"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _compiler_files() -> list[tuple[str, int, int]]:
    root = Path(__file__).parent
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if name.endswith((".py", ".lark")):
                st = os.stat(os.path.join(dirpath, name))
                out.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return sorted(out)


def _key(text: str, name: str, params: tuple[str, ...], options) -> Optional[str]:
    if options.extra or options.kernel is not None and not _is_tracefs(options):
        return None             # a caller-provided kernel view or extras: not ours to key
    h = hashlib.sha256()
    parts = [CACHE_VERSION, sys.version, text, name, params,
             [getattr(options, f, None) for f in _OPTION_FIELDS], _compiler_files(),
             _read("/proc/sys/kernel/random/boot_id"), os.uname().release,
             hashlib.sha1(_read("/proc/modules")).hexdigest()]
    if any(c in text for c in "*?["):     # wildcards expand against the tracepoint list
        parts.append(hashlib.sha1(_read(os.path.join(options.tracefs,
                                                     "available_events"))).hexdigest())
    h.update(repr(parts).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _is_tracefs(options) -> bool:
    from .tracepoints import TracefsKernelInfo
    return type(options.kernel) is TracefsKernelInfo


def _file_state(path: str) -> Optional[tuple[int, int, int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _dependencies(program) -> dict[str, Optional[tuple[int, int, int]]]:
    paths = {t.target for p in program.probes for t in p.targets
             if t.provider in _FILE_PROVIDERS and t.target}
    return {path: _file_state(path) for path in sorted(paths)}


def _load(path: Path):
    try:
        with open(path, "rb") as f:
            deps, program = pickle.load(f)
    except Exception:           # missing, truncated, or written by other code: a miss
        return None
    if any(_file_state(p) != state for p, state in deps.items()):
        return None
    return program


def _store(path: Path, program) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump((_dependencies(program), program), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        _prune(path.parent)
    except OSError:
        pass


def _prune(folder: Path) -> None:
    entries = list(os.scandir(folder))
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime)
    for e in entries[:len(entries) - MAX_ENTRIES // 2]:
        try:
            os.unlink(e.path)
        except OSError:
            pass


def compile_cached(text: str, *, name: str = "stdin", params: tuple[str, ...] = (),
                   options=None):
    """`compile_source()`, answered from the cache when the same compile was done before."""
    from .pipeline import CompileOptions, compile_source
    options = options or CompileOptions()
    params = tuple(params)
    key = None
    if os.environ.get("PYBPFTRACE_COMPILE_CACHE", "1") != "0":
        key = _key(text, name, params, options)
    path = cache_dir() / f"{key}.pickle" if key else None
    if path is not None:
        program = _load(path)
        if program is not None:
            return program
    program = compile_source(text, name=name, params=params, options=options)
    if path is not None:
        _store(path, program)
    return program
