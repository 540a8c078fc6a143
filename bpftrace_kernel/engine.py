"""The engine: one bpftrace program run, shared by the `pybpftrace` CLI and the Jupyter kernel.

Owns `Trace` (compile -> start -> poll -> stop), `RunOptions`, the output items it yields
(`TextOut`, `MapOut`) and the handlers that turn loader events into bpftrace's output
(printf, system, cat, time, join, print, lost events) in text or JSON.  The caller owns the
loop: it waits on `fileno()` and calls `poll()`; nothing here blocks longer than asked, prints,
installs signal handlers or exits the process.
"""
from __future__ import annotations

import functools
import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from bpftrace_compiler.diagnostics import CompileError


class TraceError(Exception):
    """A failure after compilation (load, verifier, attach): str() is the user-facing message."""


@dataclass(frozen=True)
class RunOptions:
    params: tuple[str, ...] = ()
    pid: Optional[int] = None
    unsafe: bool = False
    output_format: str = "text"          # "text" | "json"
    isolated_compile: bool = False       # emit LLVM objects in a worker process (Jupyter kernel)
    env: dict = field(default_factory=lambda: dict(os.environ))
    cpid: Optional[int] = None           # pid of the -c child, for the `cpid` builtin
    verbose: bool = False                # -v: BPF assembly and verifier statistics


@dataclass(frozen=True)
class TextOut:
    text: str
    kind: str = "text"                   # "text" | "exit_separator" | "lost"


@dataclass(frozen=True)
class MapOut:
    snapshot: object                     # bpftrace_loader.values.MapSnapshot
    top: int
    div: int
    text: str                            # bpftrace's exact text (or JSON line) for it
    at_exit: bool = False


Output = TextOut | MapOut


def _env_int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise TraceError(f"ERROR: env var '{name}' did not contain a valid uint64_t, or was zero-valued.")


def compile_options(options: RunOptions):
    """CompileOptions from the run options and the BPFTRACE_* environment variables."""
    from bpftrace_compiler.pipeline import CompileOptions
    env = options.env
    kwargs = dict(
        strlen=_env_int(env, "BPFTRACE_STRLEN", 64),
        map_keys_max=_env_int(env, "BPFTRACE_MAP_KEYS_MAX", 4096),
        max_probes=_env_int(env, "BPFTRACE_MAX_PROBES", 512),
        cat_bytes_max=_env_int(env, "BPFTRACE_CAT_BYTES_MAX", 10240),
        unsafe=options.unsafe,
        pid=options.pid,
        isolated_emit=options.isolated_compile,
        want_asm=options.verbose,
    )
    if options.cpid is not None and "cpid" in getattr(CompileOptions, "__dataclass_fields__", {}):
        kwargs["cpid"] = options.cpid
    return CompileOptions(**kwargs)


class Trace:
    """One program: `compile()`, `start()`, then `poll()` until `exited`, then `stop()`."""

    def __init__(self, source: str, name: str = "stdin", options: RunOptions | None = None):
        self.source = source
        self.name = name
        self.options = options or RunOptions()
        self.program = None
        self.session = None
        self.exited = False
        self.exit_code = 0
        self.events = 0
        self.lost = 0
        self.started_at: Optional[float] = None
        self._stopped_outputs: Optional[list[Output]] = None
        self._json = self.options.output_format == "json"

    # ------------------------------------------------------------------ lifecycle
    def compile(self):
        from bpftrace_compiler.compile_cache import compile_cached
        self.program = compile_cached(self.source, name=self.name, params=tuple(self.options.params),
                                      options=compile_options(self.options))
        return self.program

    @property
    def attach_count(self) -> int:
        return self.program.attach_count if self.program else 0

    @property
    def only_special(self) -> bool:
        """True when every probe is BEGIN, END or iter: the run ends by itself after BEGIN
        (and the iterators' one pass)."""
        return bool(self.program) and all(p.provider in ("BEGIN", "END", "iter")
                                          for p in self.program.probes)

    def start(self) -> int:
        if self.program is None:
            self.compile()
        from bpftrace_loader.session import Session
        session = Session(self.program, pid=self.options.pid,
                          collect_verifier_stats=self.options.verbose)
        try:
            session.start()
        except CompileError:
            raise
        except Exception as exc:          # loader errors carry user-facing messages
            session.close()
            raise TraceError(_error_text(exc)) from exc
        self.session = session
        self.started_at = time.monotonic()
        return session.attached

    def warm_up(self) -> None:
        """Import the renderers this run will use now (idle time right after attaching)
        rather than on the first event or on the exit path."""
        from .render import printf  # noqa: F401
        if self._json:
            from .render import json_output  # noqa: F401
        else:
            from .render import text  # noqa: F401

    def fileno(self) -> int:
        return self.session.fileno()

    def poll(self, timeout: float = 0.0, limit: Optional[int] = None) -> list[Output]:
        """Outputs of at most `limit` pending records (all by default)."""
        if self.session is None or self._stopped_outputs is not None:
            return []
        return self._handle(self.session.poll(timeout, limit))

    @property
    def pending(self) -> bool:
        """Records are waiting (a limited poll() left some)."""
        return self.session is not None and self._stopped_outputs is None and self.session.pending()

    def snapshot(self):
        return self.session.snapshot() if self.session else []

    def stop(self, pending_limit: Optional[int] = None) -> list[Output]:
        """Detach, run END, return END's output then every map (bpftrace's exit output).
        `pending_limit`: format at most that many still-pending records; the rest of a
        flood's backlog is reported as lost events."""
        if self._stopped_outputs is not None:
            return []
        if self.session is None:
            self._stopped_outputs = []
            return []
        outs = self._handle(self.session.stop(pending_limit))
        outs.append(TextOut("\n\n", kind="exit_separator"))
        for snap in self.session.snapshot():
            outs.append(MapOut(snap, 0, 0, self._render_map(snap, 0, 0), at_exit=True))
        self._stopped_outputs = outs
        return outs

    def stack_warning(self) -> str:
        """A warning line when get_stackid dropped stacks for lack of room ("" otherwise)."""
        dropped = getattr(self.session, "dropped_stacks", 0) if self.session else 0
        if not dropped:
            return ""
        return (f"WARNING: {dropped} stack trace(s) could not be stored: the stack map "
                f"({self.session.stack_map_entries()} slots) is full or their hash slot was "
                "taken; they print as empty stacks. Shorter stacks (e.g. kstack(20)) get more "
                "slots.\n")

    def close(self, wait_detach: bool = True) -> None:
        """`wait_detach=False`: leave slow perf-event releases to the loader's child
        processes (for a CLI about to exit)."""
        if self.session is not None:
            self.session.close(wait_detach)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self.close()

    # ------------------------------------------------------------------ event handling
    def _handle(self, events) -> list[Output]:
        outs: list[Output] = []
        for ev in events:
            handler = _HANDLERS.get(type(ev).__name__)
            if handler is None:
                continue
            self.events += 1
            out = handler(self, ev)
            if out is not None:
                outs.append(out)
        return outs

    def _render_map(self, snap, top: int, div: int) -> str:
        if self._json:
            from .render import json_output
            return json_output.map_line(snap, top, div)
        from .render import text
        return text.render_map(snap, top, div)

    def _text(self, text: str, json_type: str, kind: str = "text") -> TextOut:
        if self._json:
            from .render import json_output
            return TextOut(json_output.message_line(json_type, text), kind)
        return TextOut(text, kind)


def _error_text(exc: Exception) -> str:
    msg = str(exc) or type(exc).__name__
    return msg if msg.startswith("ERROR") else f"ERROR: {msg}"


# ---------------------------------------------------------------------- event handlers
def _printf_args(action, args) -> list:
    return list(zip(action.args, args))


@functools.lru_cache(maxsize=None)
def _format_printf():
    """render.printf.format_printf, imported once (an import statement per event of a
    printf flood costs as much as formatting the line)."""
    from .render.printf import format_printf
    return format_printf


def _on_printf(trace: Trace, ev) -> TextOut:
    text = _format_printf()(ev.action.fmt, _printf_args(ev.action, ev.args))
    return TextOut(text) if not trace._json else trace._text(text, "printf")


def _on_system(trace: Trace, ev) -> TextOut:
    from .render.printf import format_printf
    cmd = format_printf(ev.action.fmt, _printf_args(ev.action, ev.args))
    try:
        proc = subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              timeout=60)
        out = proc.stdout.decode("utf-8", "surrogateescape")
    except (OSError, subprocess.TimeoutExpired) as exc:
        out = f"ERROR: system() failed: {exc}\n"
    return trace._text(out, "syscall")


def _on_cat(trace: Trace, ev) -> TextOut:
    from .render.printf import format_printf
    path = format_printf(ev.action.fmt, _printf_args(ev.action, ev.args))
    limit = _env_int(trace.options.env, "BPFTRACE_CAT_BYTES_MAX", 10240)
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
        out = data.decode("utf-8", "surrogateescape")
    except OSError as exc:
        out = f"ERROR: failed to open file '{path}': {exc.strerror}\n"
    return trace._text(out, "cat")


def _on_time(trace: Trace, ev) -> TextOut:
    return trace._text(time.strftime(ev.action.fmt or "%H:%M:%S\n", time.localtime()), "time")


def _on_join(trace: Trace, ev) -> TextOut:
    text = ev.action.sep.join(ev.parts)
    # 0.17's JSON join data has no trailing newline; its text output does
    return trace._text(text if trace._json else text + "\n", "join")


def _on_print_value(trace: Trace, ev) -> TextOut:
    if trace._json:
        from .render import json_output
        return TextOut(json_output.value_line(ev.action.args[0], ev.value))
    from .render.values import format_value
    return TextOut(format_value(ev.action.args[0], ev.value) + "\n")


def _on_print_map(trace: Trace, ev) -> MapOut:
    return MapOut(ev.snapshot, ev.top, ev.div, trace._render_map(ev.snapshot, ev.top, ev.div))


def _on_exit(trace: Trace, ev) -> None:
    trace.exited = True
    trace.exit_code = getattr(ev, "code", 0)
    return None


def _on_lost(trace: Trace, ev) -> TextOut:
    trace.lost += ev.count
    if trace._json:
        from .render import json_output
        return TextOut(json_output.lost_line(ev.count), "lost")
    return TextOut(f"Lost {ev.count} events\n", "lost")


_HANDLERS: dict[str, Callable] = {
    "Printf": _on_printf,
    "System": _on_system,
    "Cat": _on_cat,
    "Time": _on_time,
    "Join": _on_join,
    "PrintValue": _on_print_value,
    "PrintMap": _on_print_map,
    "Exit": _on_exit,
    "Lost": _on_lost,
}
