"""Output that can never wedge the CLI: bounded writes to stdout or the -o file.

Owns `FdSink` (writes bytes to a file descriptor in PIPE_BUF chunks, each one only after
poll() says the descriptor can take it, so a reader that stops reading cannot block the
process in write()) and `OutputBlocked`.  Once a stop is requested (Ctrl-C, SIGTERM: the stop
pipe is readable) while the reader is not reading, the remaining output gets a short grace
period; what cannot be written by then is dropped and `OutputBlocked` is raised, so the run
still ends within a second.  A reader that goes away gives BrokenPipeError, as usual.
"""
from __future__ import annotations

import os
import select
import time
from typing import Optional

CHUNK = select.PIPE_BUF          # a pipe that polls writable takes this much without blocking
BUFFER_LIMIT = 1 << 16           # -B full: flush when this much is pending
GRACE_SECONDS = 0.3              # after a stop, how long a stalled reader may delay the end


class OutputBlocked(Exception):
    """The reader stopped reading and the run was asked to stop (or its grace ran out)."""


class FdSink:
    """One output descriptor; `write()` blocks only until the reader reads or a stop comes."""

    def __init__(self, fd: int, stop_fd: Optional[int] = None, buffered: bool = False):
        self.fd = fd
        self.stop_fd = stop_fd
        self.buffered = buffered
        self.deadline: Optional[float] = None      # set once stopping: give up after it
        self.dropped = 0                           # bytes given up on
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += data
        if not self.buffered or len(self._pending) >= BUFFER_LIMIT:
            self.flush()

    def flush(self) -> None:
        view = memoryview(bytes(self._pending))
        self._pending.clear()
        while view:
            if not self._wait_writable():
                if self.deadline is None:
                    self.grace(GRACE_SECONDS)
                    continue
                self.dropped += len(view)
                raise OutputBlocked()
            n = os.write(self.fd, view[:CHUNK])
            view = view[n:]

    def grace(self, seconds: float) -> None:
        """From now on, give up on output that cannot be written within `seconds`."""
        self.deadline = time.monotonic() + seconds

    def _wait_writable(self) -> bool:
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        if self.stop_fd is not None and self.deadline is None:
            poller.register(self.stop_fd, select.POLLIN)
        while True:
            timeout = None
            if self.deadline is not None:
                timeout = max(0, int((self.deadline - time.monotonic()) * 1000))
            ready = dict(poller.poll(timeout))
            if ready.get(self.fd):              # writable, or an error write() will report
                return True
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return False
            if self.stop_fd is not None and ready.get(self.stop_fd):
                return False
