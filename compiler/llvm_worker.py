"""A long-lived LLVM worker process, so that an LLVM fatal error cannot kill the caller.

Owns `run_in_worker()`: the worker is started once with multiprocessing's 'spawn' context
(the Jupyter kernel is multi-threaded, and fork may deadlock), receives IR text over a pipe
and answers with the ELF bytes (and assembly) or an error message.  A worker that dies
(LLVM called exit()) becomes a CompileError and is restarted on the next request.
"""
from __future__ import annotations

import threading
from typing import Optional

from .diagnostics import CompileError

_lock = threading.Lock()
_proc = None
_conn = None
TIMEOUT_S = 120


def _serve(conn) -> None:
    from bpftrace_compiler.codegen.emit import emit_in_process
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        ir_text, want_asm = request
        try:
            conn.send(("ok", emit_in_process(ir_text, want_asm)))
        except Exception as exc:   # LLVM parse/verify errors come back as text
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _start():
    global _proc, _conn
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="bpftrace-llvm")
    proc.start()
    child.close()
    _proc, _conn = proc, parent


def _stop_dead() -> None:
    global _proc, _conn
    if _conn is not None:
        _conn.close()
    _proc, _conn = None, None


def run_in_worker(ir_text: str, want_asm: bool = False) -> tuple[bytes, str]:
    """(elf, asm) for `ir_text`, computed in the worker process."""
    with _lock:
        if _proc is None or not _proc.is_alive():
            _start()
        try:
            _conn.send((ir_text, want_asm))
            if not _conn.poll(TIMEOUT_S):
                raise EOFError("timeout")
            status, payload = _conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = None
            if _proc is not None:
                _proc.join(2)
                code = _proc.exitcode
            _stop_dead()
            raise CompileError.single(f"LLVM failed while generating BPF code (worker exited "
                                      f"with status {code})") from None
        if status != "ok":
            raise CompileError.single(f"LLVM failed while generating BPF code: {payload}")
        return payload


def shutdown() -> None:
    """Stop the worker (tests, interpreter exit)."""
    with _lock:
        if _conn is not None and _proc is not None and _proc.is_alive():
            try:
                _conn.send(None)
            except OSError:
                pass
            _proc.join(timeout=5)
        _stop_dead()


def worker_pid() -> Optional[int]:
    return _proc.pid if _proc is not None else None
