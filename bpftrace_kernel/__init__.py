"""bpftrace_kernel: the engine, the renderers, the `pybpftrace` CLI and the Jupyter kernel.

Importing the package makes sure this project's bytecode is kept: a cold `pybpftrace`
imports ~15k lines of it, and compiling them from source on every start costs ~0.2 s and
~25 MB.  PYTHONDONTWRITEBYTECODE would prevent that, so it is lifted here and `__pycache__`
is written next to the sources, as a regular (non-editable) install has it (.gitignore'd).
PYBPFTRACE_BYTECODE_CACHE=0 leaves Python's setting alone.
"""
import os as _os
import sys as _sys

if _sys.dont_write_bytecode and _os.environ.get("PYBPFTRACE_BYTECODE_CACHE", "1") != "0":
    _sys.dont_write_bytecode = False
