"""C++ symbol demangling for ustack/usym frames and uprobe listings.

Owns `demangle(name)`: libstdc++'s `abi::__cxa_demangle` through ctypes (what bpftrace and
bcc use), falling back to one batched `c++filt` call when libstdc++ cannot be loaded, and
returning the name unchanged when it is not a mangled C++ name.  Results are memoized.
`BPFTRACE_NO_CPP_DEMANGLE=1` (bpftrace's switch) turns demangling off.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from functools import lru_cache
from typing import Callable, Optional


def _load_cxa() -> Optional[Callable[[str], Optional[str]]]:
    for name in (ctypes.util.find_library("stdc++"), "libstdc++.so.6"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            fn = lib.__cxa_demangle
            libc = ctypes.CDLL(None)
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.POINTER(ctypes.c_int)]
        libc.free.argtypes = [ctypes.c_void_p]
        libc.free.restype = None

        def cxa(mangled: str, fn=fn, free=libc.free) -> Optional[str]:
            status = ctypes.c_int(0)
            out = fn(mangled.encode(), None, None, ctypes.byref(status))
            if status.value != 0 or not out:
                return None
            try:
                return ctypes.string_at(out).decode(errors="replace")
            finally:
                free(out)
        return cxa
    return None


_CXA = _load_cxa()


def _cxxfilt(names: list[str]) -> list[str]:
    tool = shutil.which("c++filt")
    if tool is None:
        return names
    try:
        out = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True,
                             text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return names
    return out if len(out) == len(names) else names


def is_mangled(name: str) -> bool:
    """Itanium C++ ABI names start with `_Z` (`__Z` on some platforms)."""
    return name.startswith("_Z") or name.startswith("__Z")


def enabled() -> bool:
    return os.environ.get("BPFTRACE_NO_CPP_DEMANGLE", "") not in ("1", "true")


@lru_cache(maxsize=65536)
def demangle(name: str) -> str:
    """`_ZN3foo3barEi` -> `foo::bar(int)`; any other name is returned unchanged."""
    if not is_mangled(name) or not enabled():
        return name
    if _CXA is not None:
        return _CXA(name) or name
    return _cxxfilt([name])[0]


def demangle_many(names: list[str]) -> list[str]:
    """Demangle a listing (one c++filt process for all names when libstdc++ is missing)."""
    if _CXA is not None or not enabled():
        return [demangle(n) for n in names]
    idx = [i for i, n in enumerate(names) if is_mangled(n)]
    out = list(names)
    for i, d in zip(idx, _cxxfilt([names[i] for i in idx]) if idx else []):
        out[i] = d
    return out
