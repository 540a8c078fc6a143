"""A scripted stand-in for `bpftrace_kernel.engine`, for tests of the Jupyter layer.

The kernel loads it when BPFTRACE_KERNEL_ENGINE=fake_engine (with tests/kernel on
PYTHONPATH).  The program text carries a JSON script after `// fake:`, e.g.

    // fake: {"lines": 5, "every": 0.1, "exit_after": 1.0, "maps": {"@x": 3}}

keys: lines/every (printf lines "line N"), flood (lines per poll), maps (name -> count
added per poll, keyed by comm), print_every (a print(@name) event every N s for the
first map), exit_after (s), special (BEGIN/END only), compile_error, attach_error.
Everything the kernel sees goes through the real engine's interface: compile, start,
fileno, poll, exited, only_special, snapshot, stop, events, lost, close.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Optional

from bpftrace_compiler.artifact import MapSpec
from bpftrace_compiler.diagnostics import CompileError, Diagnostics
from bpftrace_compiler.source import Source, Span
from bpftrace_compiler.types import Kind, Simple, Str
from bpftrace_loader.values import MapSnapshot

ATTACHED: set[int] = set()      # ids of fake traces started and not closed (for leak checks)


class TraceError(Exception):
    pass


@dataclass(frozen=True)
class RunOptions:
    params: tuple = ()
    pid: Optional[int] = None
    unsafe: bool = False
    output_format: str = "text"
    isolated_compile: bool = False
    env: dict = field(default_factory=dict)
    cpid: Optional[int] = None


@dataclass(frozen=True)
class TextOut:
    text: str
    kind: str = "text"


@dataclass(frozen=True)
class MapOut:
    snapshot: object
    top: int
    div: int
    text: str
    at_exit: bool = False


def _spec(name: str) -> MapSpec:
    return MapSpec(name=name, map_type="hash", key_size=16, value_size=8, max_entries=4096,
                   key_type=Str(16), value_type=Simple(Kind.COUNT))


def _text(snap: MapSnapshot) -> str:
    rows = sorted(snap.entries, key=lambda kv: kv[1])
    return "".join(f"{snap.name}[{k[0]}]: {v}\n" for k, v in rows)


class Trace:
    def __init__(self, source: str, name: str = "stdin", options: RunOptions | None = None):
        self.source = source
        self.name = name
        self.options = options or RunOptions()
        marker = source.find("// fake:")
        self.script = json.loads(source[marker + 8:].split("\n", 1)[0]) if marker >= 0 else {}
        self.exited = False
        self.events = 0
        self.lost = 0
        self.maps: dict[str, dict[str, int]] = {}
        self._rfd, self._wfd = os.pipe()
        self._started: Optional[float] = None
        self._next_line = 0
        self._next_print = None
        self._stopped = False

    def compile(self):
        if self.script.get("compile_error"):
            src = Source(self.name, self.source)
            line = next(i for i, t in enumerate(self.source.split("\n"), 1) if "kprobex" in t)
            col = self.source.split("\n")[line - 1].index("kprobex") + 1
            diags = Diagnostics(src)
            diags.error("Invalid provider: kprobex", Span(line, col, line, col + 7))
            raise CompileError(diags)
        if self.script.get("compile_delay"):
            time.sleep(self.script["compile_delay"])
        return self

    warnings = ""

    @property
    def only_special(self) -> bool:
        return bool(self.script.get("special"))

    def start(self) -> int:
        if self.script.get("attach_error"):
            raise TraceError("ERROR: tracepoint:nope:nope: attach failed: No such file or directory")
        self._started = time.monotonic()
        self._next_print = self.script.get("print_every")
        ATTACHED.add(id(self))
        os.write(self._wfd, b"x")
        return int(self.script.get("probes", 1))

    def fileno(self) -> int:
        return self._rfd

    def poll(self, timeout: float = 0.0, limit: Optional[int] = None) -> list:
        if self._stopped or self._started is None:
            return []
        try:
            os.read(self._rfd, 4096)
        except BlockingIOError:
            pass
        os.set_blocking(self._rfd, False)
        now = time.monotonic() - self._started
        outs = []
        every = self.script.get("every", 0.1)
        while self._next_line < self.script.get("lines", 0) and now >= self._next_line * every:
            outs.append(TextOut(f"line {self._next_line}\n"))
            self._next_line += 1
        for _ in range(self.script.get("flood", 0)):
            outs.append(TextOut(f"flood line {self.events} {'x' * 40}\n"))
            self.events += 1
        for name, n in self.script.get("maps", {}).items():
            m = self.maps.setdefault(name, {})
            m["bash"] = m.get("bash", 0) + n
            m["sshd"] = m.get("sshd", 0) + 1
        if self._next_print is not None and now >= self._next_print:
            name = next(iter(self.script["maps"]))
            snap = self._snap(name)
            outs.append(MapOut(snap, 0, 0, _text(snap)))
            self._next_print += self.script["print_every"]
        if "exit_after" in self.script and now >= self.script["exit_after"]:
            self.exited = True
        self.events += len(outs)
        return outs

    def _snap(self, name: str) -> MapSnapshot:
        return MapSnapshot(_spec(name), [((k,), v) for k, v in sorted(self.maps.get(name, {}).items())])

    def snapshot(self) -> list:
        return [self._snap(n) for n in sorted(self.maps)]

    def stop(self, pending_limit: Optional[int] = None) -> list:
        if self._stopped:
            return []
        self._stopped = True
        ATTACHED.discard(id(self))
        outs = [TextOut("END\n")] if "END" in self.source else []
        outs.append(TextOut("\n\n", kind="exit_separator"))
        for snap in self.snapshot():
            if snap.entries:
                outs.append(MapOut(snap, 0, 0, _text(snap), at_exit=True))
        with open(os.environ.get("FAKE_ENGINE_LOG", os.devnull), "a") as f:
            f.write(f"stopped {self.name} params={list(self.options.params)} "
                    f"pid={self.options.pid} cpid={self.options.cpid}\n")
        return outs

    def close(self) -> None:
        ATTACHED.discard(id(self))
        for fd in (self._rfd, self._wfd):
            try:
                os.close(fd)
            except OSError:
                pass


__all__ = ["CompileError", "MapOut", "RunOptions", "TextOut", "Trace", "TraceError"]
