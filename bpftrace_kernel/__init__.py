"""bpftrace_kernel: the engine, the renderers, the `pybpftrace` CLI and the Jupyter kernel.

Importing the package makes sure compiled bytecode is kept: a cold `pybpftrace` imports
~15k lines of this project, and compiling them from source on every start costs ~0.2 s and
~25 MB.  When PYTHONDONTWRITEBYTECODE keeps Python from writing `__pycache__` next to the
sources, the bytecode goes to ~/.cache/bpftrace_kernel/pycache instead (sys.pycache_prefix),
so the source tree stays clean.  PYBPFTRACE_BYTECODE_CACHE=0 leaves Python's settings alone.
"""
import os as _os
import sys as _sys

if (_sys.dont_write_bytecode and _sys.pycache_prefix is None
        and _os.environ.get("PYBPFTRACE_BYTECODE_CACHE", "1") != "0"):
    _base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    _sys.pycache_prefix = _os.path.join(_base, "bpftrace_kernel", "pycache")
    _sys.dont_write_bytecode = False
