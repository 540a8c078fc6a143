"""The loader's exceptions, each with a clear one-line message for the user.

Owns `BpfError` (a failed syscall: op + errno), `LoadError` (a map or program could not be
created), `VerifierError` (the verifier rejected a program; carries its full log) and
`AttachError` (a probe could not be attached).  The CLI and the Jupyter kernel catch
`LoaderError`, the common base, and print `str(err)`.
"""
from __future__ import annotations

import errno as _errno
import os


class LoaderError(Exception):
    """Base of everything the session raises for a program that cannot run here."""


class BpfError(LoaderError, OSError):
    """A bpf()/perf_event_open()/ioctl() call failed."""

    def __init__(self, op: str, err: int):
        self.op = op
        self.errno = err
        OSError.__init__(self, err, f"{op}: {os.strerror(err)}")

    def __str__(self) -> str:
        return f"{self.op}: {os.strerror(self.errno)}"

    @property
    def name(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


class LoadError(LoaderError):
    """A map or program could not be created or loaded."""


# verifier log lines that report statistics rather than the reason for a rejection
_STATS_LINES = ("processed ", "verification time", "stack depth", "mark_read")


class VerifierError(LoadError):
    """The kernel verifier rejected a program.  `log` is the whole verifier log."""

    def __init__(self, probe: str, log: str, err: int, summary_lines: int = 12):
        self.probe = probe
        self.log = log
        self.errno = err
        lines = [ln for ln in log.splitlines() if ln.strip()]
        tail = lines[-summary_lines:]
        head = f"Error loading program: {probe} (the BPF verifier rejected it: {os.strerror(err)})"
        reason = next((ln for ln in reversed(lines) if not ln.startswith(_STATS_LINES)), "")
        if reason:
            head += f"\n{reason.strip()}"
        if tail:
            head += "\nVerifier log (last lines):\n" + "\n".join("  " + ln for ln in tail)
        super().__init__(head)

    @property
    def summary(self) -> str:
        return str(self)


class AttachError(LoaderError):
    """A probe could not be attached; `probe` is its full name, the message says why."""

    def __init__(self, probe: str, message: str, err: int = 0):
        self.probe = probe
        self.errno = err
        super().__init__(message)
