"""The bpftrace Jupyter kernel: each cell is a bpftrace program run in-process.

Owns `BpftraceKernel` (protocol handlers: execute, interrupt, complete, inspect,
is_complete, kernel_info) and `CellRun`, the lifecycle of one traced cell: compile, attach,
stream printf output in batches, update map displays live, stop on exit()/duration/
interrupt/Stop button/command exit, run END, print the maps, detach everything, reply.
The engine (`bpftrace_kernel.engine`) does the tracing; `display` builds what is shown.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import importlib
import os
import platform
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid
from typing import Any, Optional

from ipykernel.kernelbase import Kernel

from . import completion, display, magics, widgets
from .magics import CellRequest, MagicError, SessionDefaults, TraceOptions

__version__ = "0.1.0"

FLUSH_INTERVAL = 0.1        # seconds between printf batches
LIVE_INTERVAL = 1.0         # seconds between live map/status updates
MIN_WAIT = 0.005            # shortest pause between two polls
POLL_BATCH = 4096           # records formatted per poll: a flood never blocks the event loop long
STOP_BACKLOG = 4096         # records still shown after an interrupt; the rest count as lost
ENGINE_MODULE = os.environ.get("BPFTRACE_KERNEL_ENGINE", "bpftrace_kernel.engine")

# capability bits (linux/capability.h)
CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39
PRIVILEGE_HINT = ("HINT: loading BPF programs needs root, or CAP_BPF and CAP_PERFMON "
                  "(see docs/kernel.md: run the kernel through sudo or with ambient capabilities)")


def bpf_privileges() -> tuple[bool, str]:
    """(have enough, description) for this process's BPF privileges."""
    if os.geteuid() == 0:
        return True, "root"
    try:
        with open("/proc/self/status") as f:
            caps = next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False, "unknown capabilities"
    has = lambda bit: bool(caps >> bit & 1)  # noqa: E731
    if has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON)):
        return True, "CAP_BPF+CAP_PERFMON" if has(CAP_BPF) else "CAP_SYS_ADMIN"
    return False, "no BPF privileges (not root, no CAP_BPF/CAP_PERFMON)"


def preflight(catalog: completion.ProbeCatalog) -> list[tuple[str, bool, str]]:
    """(check, passed, detail or fix-it hint) rows for `%check`."""
    ok, how = bpf_privileges()
    rows = [("BPF privileges", ok, how if ok else f"{how}: {PRIVILEGE_HINT[6:]}")]
    tracefs = completion.TRACEFS_ROOTS[0]
    count = sum(len(v) for v in catalog.tracepoints.values())
    rows.append(("tracefs", count > 0,
                 f"{tracefs}: {count:,} tracepoints" if count else
                 f"not mounted or not readable: mount -t tracefs nodev {tracefs}"))
    btf = "/sys/kernel/btf/vmlinux"
    rows.append(("kernel BTF", os.path.exists(btf),
                 btf if os.path.exists(btf) else f"{btf} is missing: struct types are unavailable"))
    rows.append(("kernel", True, f"Linux {platform.release()} ({platform.machine()})"))
    rows.append(("bpftrace kernel", True, f"{__version__}, bpftrace 0.17 language"))
    return rows


def load_engine():
    return importlib.import_module(ENGINE_MODULE)


class UserError(Exception):
    """A failure to show as an error reply: `ename` plus bpftrace-style text."""

    def __init__(self, ename: str, text: str):
        super().__init__(text)
        self.ename = ename
        self.text = text


_SETPRIV = shutil.which("setpriv")
_DIE_WITH_KERNEL = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []


class TracedCommand:
    """A `%%trace --cmd` child: forked before compile, held at a gate until the probes are
    attached (like bpftrace -c), in its own session so interrupts and cleanup reach all of it."""

    def __init__(self, cmd: str):
        argv = shlex.split(cmd)
        if not argv:
            raise UserError("UsageError", "%%trace: --cmd needs a command")
        path = shutil.which(argv[0])
        if path is None:
            raise UserError("CommandError", f"ERROR: failed to run command '{cmd}': "
                            f"{argv[0]}: command not found")
        argv[0] = path      # one execve, not a PATH search the trace would see
        gate_r, self._gate_w = os.pipe()
        # a shell reads the gate pipe (its stdin), then execs the command in place (same
        # pid) with stdin from /dev/null; no preexec_fn, which is unsafe with threads, but
        # setpriv(1) asks for SIGKILL when the kernel dies (even by SIGKILL)
        self.proc = subprocess.Popen(
            _DIE_WITH_KERNEL + ["/bin/sh", "-c", 'read _ || exit 125; exec "$@" </dev/null',
                                "sh", *argv],
            stdin=gate_r, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        os.close(gate_r)
        os.set_blocking(self.proc.stdout.fileno(), False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        """Let the command exec (the probes are attached)."""
        if self._gate_w >= 0:
            os.write(self._gate_w, b"go\n")
            os.close(self._gate_w)
            self._gate_w = -1

    def read(self) -> str:
        try:
            data = self.proc.stdout.read()
        except (OSError, ValueError):
            return ""
        return data.decode("utf-8", "surrogateescape") if data else ""

    @property
    def exited(self) -> bool:
        return self.proc.poll() is not None

    def terminate(self) -> None:
        if self._gate_w >= 0:
            os.close(self._gate_w)     # the gate's read sees EOF: the shell exits unexec'd
            self._gate_w = -1
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=2)
            except (ProcessLookupError, PermissionError):
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=2)
        self.proc.stdout.close()


class CellRun:
    """One traced cell, from compile to the last map."""

    def __init__(self, kernel: "BpftraceKernel", request: CellRequest):
        self.k = kernel
        self.opts: TraceOptions = magics.with_session_caps(request.options, kernel.defaults)
        self.program = request.program
        tag = f"{uuid.uuid4().hex[:8]}-{kernel.execution_count}"
        self.tag = tag
        self.rich = self.opts.output_format == "text"
        self.limiter = display.PrintfLimiter(self.opts.max_lines, kernel.defaults.max_bytes,
                                             display.default_spool_dir(), f"cell-{tag}.log")
        self.map_displays: dict[str, tuple[str, str]] = {}   # map name -> (display_id, "live"|"print")
        self.last_live: dict[str, Any] = {}
        self.status: Optional[display.RunStatus] = None
        self.status_id = f"bt-{tag}-status"
        self.panel: Optional[widgets.StopPanel] = None
        self.child: Optional[TracedCommand] = None
        self.started_at: Optional[str] = None

    # ------------------------------------------------------------------ run
    async def run(self) -> dict:
        engine = load_engine()
        try:
            if self.opts.pid is not None and not os.path.exists(f"/proc/{self.opts.pid}"):
                raise UserError("UsageError", f"ERROR: pid '{self.opts.pid}' does not exist")
            if self.opts.cmd:
                self.child = TracedCommand(self.opts.cmd)
            trace = engine.Trace(self.program, name="stdin", options=self._run_options(engine))
            t0 = time.monotonic()
            try:
                compiled = await asyncio.to_thread(trace.compile)
                self._warn(getattr(compiled, "warnings", ""))
                if self.k.stop_requested:
                    raise UserError("KeyboardInterrupt", "interrupted while compiling: nothing was attached")
                probes = await asyncio.to_thread(trace.start)
            except engine.CompileError as e:
                trace.close()
                raise UserError("CompileError", str(e)) from None
            except engine.TraceError as e:
                trace.close()
                raise UserError("TraceError", self._with_privilege_hint(str(e))) from None
            except BaseException:
                trace.close()
                raise
            interrupted_early = self.k.stop_requested
            try:
                self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
                self.status = display.RunStatus(probes=probes, duration=self.opts.duration,
                                                compile_seconds=time.monotonic() - t0)
                if self.child:
                    self.child.release()
                self._show_status(trace)
                reason = "interrupt" if interrupted_early else await self._loop(trace)
                self.status.reason = reason
                self._emit(trace.stop(STOP_BACKLOG) if reason == "interrupt" else trace.stop())
                self._warn(getattr(trace, "stack_warning", str)())
                self._drain_child()
            finally:
                trace.close()
                if self.child:
                    self.child.terminate()
                    self.child = None
            self._finish(trace)
            if interrupted_early:
                raise UserError("KeyboardInterrupt", "interrupted while attaching: the trace was stopped")
            return self.k.ok_reply()
        finally:
            if self.child:
                self.child.terminate()
            self.limiter.close()

    def _run_options(self, engine):
        kwargs = dict(params=self.opts.params, pid=self.opts.pid, unsafe=self.opts.unsafe,
                      output_format=self.opts.output_format, isolated_compile=True)
        if self.child:   # like bpftrace -c: `cpid` is the child; probes are not filtered
            kwargs["cpid"] = self.child.pid
        fields = getattr(engine.RunOptions, "__dataclass_fields__", None)
        if fields is not None:
            kwargs = {k: v for k, v in kwargs.items() if k in fields}
        return engine.RunOptions(**kwargs)

    async def _loop(self, trace) -> str:
        loop = asyncio.get_running_loop()
        wake = self.k.wake
        readers = []
        for fd in (self._fileno(trace), self.child.proc.stdout.fileno() if self.child else None):
            if fd is not None:
                try:
                    loop.add_reader(fd, wake.set)
                    readers.append(fd)
                except (NotImplementedError, ValueError, OSError):
                    pass
        next_flush = next_live = time.monotonic()
        first = True
        try:
            while True:
                self._emit(trace.poll(timeout=0.05 if first else 0, limit=POLL_BATCH))
                first = False
                self._drain_child()
                reason = self._stop_reason(trace)
                if reason:
                    return reason
                now = time.monotonic()
                if now >= next_flush:
                    self._flush()
                    next_flush = now + FLUSH_INTERVAL
                if now >= next_live:
                    self._live_update(trace)
                    # rendering big maps is not free: never spend more than ~1/3 of the time on it
                    spent = time.monotonic() - now
                    next_live = now + max(LIVE_INTERVAL, 3 * spent)
                wake.clear()
                if getattr(trace, "pending", False):
                    await asyncio.sleep(0)       # more records wait: let messages in, go on
                    continue
                timeout = FLUSH_INTERVAL
                if self.status.remaining is not None:
                    timeout = min(timeout, self.status.remaining + 0.001)
                woke = time.monotonic()
                try:
                    await asyncio.wait_for(wake.wait(), timeout=timeout)
                except asyncio.TimeoutError:
                    pass
                if time.monotonic() - woke < MIN_WAIT:
                    # an fd that stays readable must not turn this loop into a busy spin
                    await asyncio.sleep(MIN_WAIT)
        finally:
            for fd in readers:
                loop.remove_reader(fd)

    @staticmethod
    def _fileno(trace) -> Optional[int]:
        try:
            return trace.fileno()
        except Exception:
            return None

    def _stop_reason(self, trace) -> str:
        if trace.exited:
            return "exit"
        if trace.only_special:
            return "special"
        if self.k.stop_requested:
            return self.k.stop_reason or "interrupt"
        if self.child and self.child.exited:
            return "command"
        if self.status.remaining is not None and self.status.remaining <= 0:
            return "duration"
        return ""

    # ------------------------------------------------------------------ output
    def _emit(self, outs) -> None:
        for out in outs:
            if hasattr(out, "snapshot"):
                self._show_map(out)
            elif getattr(out, "kind", "text") != "exit_separator":
                # the "\n\n" before bpftrace's exit maps only separates terminal output;
                # in a cell every map is its own output
                self.limiter.feed(out.text)

    def _drain_child(self) -> None:
        if self.child:
            self.limiter.feed(self.child.read())

    def _flush(self) -> None:
        text = self.limiter.take()
        if text:
            self.k.send_stream(text)

    def _show_map(self, out) -> None:
        self._flush()
        name = getattr(out.snapshot, "name", "")
        data, md = display.map_bundle(out.snapshot, out.text, out.top, out.div, rich=self.rich,
                                      flame_stem=display.flamegraph_stem(self.k.execution_count,
                                                                         name))
        known = self.map_displays.get(name)
        if out.at_exit:
            if not getattr(out.snapshot, "entries", True) and not known:
                return      # bpftrace prints a blank line for an empty map: nothing to show
            if known and known[1] == "live":
                self.k.update_display(known[0], data, md)
            else:
                self.k.display(data, md)
            return
        if known:   # print(@m): that map's display updates in place
            self.k.update_display(known[0], data, md)
        else:
            display_id = f"bt-{self.tag}-{name}"
            self.k.display(data, md, display_id)
        self.map_displays[name] = (known[0] if known else f"bt-{self.tag}-{name}", "print")

    def _live_update(self, trace) -> None:
        self._update_status(trace)
        if not (self.opts.live and self.rich) or time.monotonic() - self.status.started < LIVE_INTERVAL:
            return
        try:
            snaps = trace.snapshot()
        except Exception:
            self.k.log.exception("live snapshot failed")
            return
        for snap in snaps:
            name = snap.name
            known = self.map_displays.get(name)
            if (known and known[1] == "print") or not snap.entries:
                continue
            if self.last_live.get(name) == snap.entries:
                continue
            self.last_live[name] = list(snap.entries)
            self._flush()
            bundle = display.snapshot_bundle(snap)
            if bundle is None:
                continue
            data, md = bundle
            if known:
                self.k.update_display(known[0], data, md)
            else:
                display_id = f"bt-{self.tag}-{name}"
                self.k.display(data, md, display_id)
                self.map_displays[name] = (display_id, "live")

    def _warn(self, text: str) -> None:
        if text:
            self.k.send_stream(text, "stderr")

    # ------------------------------------------------------------------ status + widgets
    def _show_status(self, trace) -> None:
        if not trace.only_special:
            self.panel = self.k.stop_panel(self.opts.duration)
        data = self.panel.bundle(self.status.line()) if self.panel else self.status.bundle()
        self.k.display(data, {}, self.status_id)

    def _update_status(self, trace) -> None:
        self.status.events, self.status.lost = trace.events, trace.lost
        if self.panel:
            self.panel.update(self.status.fraction, self.status.line())
        else:
            self.k.update_display(self.status_id, self.status.bundle(), {})

    def _finish(self, trace) -> None:
        self._flush()
        self.status.events, self.status.lost = trace.events, trace.lost
        self.status.ended = time.monotonic()
        note = self.limiter.summary(self.status.lost)
        if note:
            self.k.send_stream(note, "stderr")
        self.k.update_display(self.status_id, self.status.bundle(), {"bpftrace": self._run_record()})
        self.panel = None     # the display now holds static text; the panel serves the next cell

    def _run_record(self) -> dict:
        """Saved with the notebook (output metadata): what ran, where, when, and how it ended."""
        st = self.status
        return {"program": self.program.strip("\n"), "options": dataclasses.asdict(self.opts),
                "kernel_version": __version__, "language": "bpftrace 0.17",
                "host": platform.node(), "kernel_release": platform.release(),
                "cpus": os.cpu_count(), "started": self.started_at,
                "ended": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "seconds": round(st.elapsed, 3), "probes": st.probes, "events": st.events,
                "lost": st.lost, "stop_reason": st.reason,
                "printf_lines_shown": self.limiter.shown_lines,
                "printf_lines_spooled": self.limiter.spooled_lines,
                "spool_file": str(self.limiter.spool_path) if self.limiter.spool_path else None}

    @staticmethod
    def _with_privilege_hint(text: str) -> str:
        text = text.rstrip("\n")
        ok, _ = bpf_privileges()
        if not ok or "Operation not permitted" in text or "EPERM" in text:
            text += "\n" + PRIVILEGE_HINT
        return text


class BpftraceKernel(Kernel):
    implementation = "bpftrace_kernel"
    implementation_version = __version__
    language = "bpftrace"
    language_version = "0.17"
    language_info = {
        "name": "bpftrace",
        "version": "0.17",
        "mimetype": "text/x-bpftrace",
        "file_extension": ".bt",
        # CodeMirror's C-family mode: classic Notebook resolves the name "clike"; JupyterLab 4
        # has no language named clike and resolves the mime (text/x-csrc) instead
        "codemirror_mode": {"name": "clike", "mime": "text/x-csrc"},
        "pygments_lexer": "bpftrace",
    }
    help_links = [
        {"text": "bpftrace reference guide",
         "url": "https://github.com/bpftrace/bpftrace/blob/v0.17.0/docs/reference_guide.md"},
        {"text": "bpftrace one-liner tutorial",
         "url": "https://github.com/bpftrace/bpftrace/blob/v0.17.0/docs/tutorial_one_liners.md"},
    ]

    @property
    def banner(self) -> str:
        ok, how = bpf_privileges()
        return (f"bpftrace kernel {__version__} (bpftrace 0.17 language, own compiler and loader)\n"
                f"Linux {platform.release()} · BPF privileges: {how}"
                + ("" if ok else f"\n{PRIVILEGE_HINT}"))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.defaults = SessionDefaults()
        self._stop = threading.Event()
        self.stop_reason = ""
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.wake: asyncio.Event = asyncio.Event()
        self._trace_lock = threading.Lock()
        self._current: Optional[CellRun] = None
        self._panel: Optional[widgets.StopPanel] = None
        self.catalog = completion.ProbeCatalog()
        self._setup_comms()
        threading.Thread(target=self._warm_up, name="bpftrace-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        """Import the compiler, renderers and matplotlib and read tracefs in the background,
        so the first cell and the first Tab do not pay for them (kernel_info stays fast)."""
        for name in (ENGINE_MODULE, "bpftrace_compiler.pipeline", "bpftrace_compiler.builtins.registry",
                     "bpftrace_kernel.render.html", "bpftrace_kernel.render.plots"):
            try:
                importlib.import_module(name)
            except Exception:
                self.log.debug("warm-up import of %s failed", name, exc_info=True)
        try:
            self.catalog.tracepoints
        except Exception:
            self.log.debug("reading tracefs failed", exc_info=True)

    def stop_panel(self, duration: Optional[float]) -> Optional[widgets.StopPanel]:
        """The kernel's one Stop panel, reset for a new cell (None without ipywidgets)."""
        if self._panel is None:
            self._panel = widgets.make_stop_panel(lambda: self.request_stop("button"))
        if self._panel is not None:
            self._panel.reset(duration)
        return self._panel

    def _setup_comms(self) -> None:
        try:
            import comm
            self.comm_manager = comm.get_comm_manager()
        except Exception:
            self.log.warning("comms unavailable: no Stop button", exc_info=True)
            return
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            self.shell_handlers[msg_type] = getattr(self.comm_manager, msg_type)
        widgets.register_comm_targets()

    @property
    def kernel_info(self) -> dict:
        info = super().kernel_info
        info["supported_features"] = [f for f in info.get("supported_features", []) if f != "debugger"]
        return info

    # ------------------------------------------------------------------ stop / interrupt
    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self, reason: str) -> None:
        """Thread-safe: ask the running cell to stop (interrupt, Stop button)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.wake.set)

    async def interrupt_request(self, stream, ident, parent):
        """interrupt_mode "message": stop the trace like Ctrl-C, never signal ourselves."""
        self.request_stop("interrupt")
        if self.session:
            self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    def pre_handler_hook(self):
        """A SIGINT (interrupt_mode "signal", or kill -INT) also means "stop the trace"."""
        self.saved_sigint_handler = signal.signal(signal.SIGINT,
                                                  lambda *_: self.request_stop("interrupt"))

    # ------------------------------------------------------------------ output helpers
    def send_stream(self, text: str, name: str = "stdout") -> None:
        self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def display(self, data: dict, metadata: dict, display_id: Optional[str] = None) -> None:
        content: dict[str, Any] = {"data": data, "metadata": metadata}
        if display_id:
            content["transient"] = {"display_id": display_id}
        self.send_response(self.iopub_socket, "display_data", content)

    def update_display(self, display_id: str, data: dict, metadata: dict) -> None:
        self.send_response(self.iopub_socket, "update_display_data",
                           {"data": data, "metadata": metadata, "transient": {"display_id": display_id}})

    def ok_reply(self) -> dict:
        return {"status": "ok", "execution_count": self.execution_count,
                "payload": [], "user_expressions": {}}

    def error_reply(self, ename: str, text: str) -> dict:
        text = text.rstrip("\n")
        content = {"ename": ename, "evalue": text, "traceback": [text]}
        self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    # ------------------------------------------------------------------ execute
    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, *, cell_id=None, cell_meta=None):
        try:
            return await self._execute(code)
        except UserError as e:
            return self.error_reply(e.ename, e.text)
        except MagicError as e:
            return self.error_reply("UsageError", str(e))
        except BaseException as e:  # noqa: BLE001 - the frontend must always get a reply
            self.log.exception("internal error while running a cell")
            return self.error_reply("InternalError", f"internal error: {type(e).__name__}: {e}")

    async def _execute(self, code: str) -> dict:
        request = magics.parse_cell(code, self.defaults)
        ctx = _MagicContext(self)
        for call in request.line_magics:
            magics.LINE_MAGICS[call.name].run(ctx, call.args)
        if not request.has_program:
            return self.ok_reply()
        if not self._trace_lock.acquire(blocking=False):
            raise UserError("Busy", "another cell is tracing in this kernel; stop it first")
        try:
            self._loop = asyncio.get_running_loop()
            self.wake = asyncio.Event()
            self._stop.clear()
            self.stop_reason = ""
            self._current = CellRun(self, request)
            if request.note:
                self.send_stream(request.note)
            return await self._current.run()
        finally:
            self._current = None
            self._trace_lock.release()

    async def do_shutdown(self, restart):
        """A `--cmd` child lives in its own session: it must not outlive the kernel (the
        probes go away with our file descriptors)."""
        run = self._current
        if run is not None and run.child is not None:
            run.child.terminate()
        return {"status": "ok", "restart": restart}

    # ------------------------------------------------------------------ completion & co
    async def do_complete(self, code, cursor_pos):
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        matches, start, end = completion.complete(code, cursor_pos, self.catalog)
        types = [{"start": start, "end": end, "text": m, "type": completion.kind_of(m)} for m in matches]
        return {"status": "ok", "matches": matches, "cursor_start": start,
                "cursor_end": end, "metadata": {"_jupyter_types_experimental": types}}

    async def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        doc = completion.inspect(code, cursor_pos, self.catalog)
        if doc is None:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "metadata": {},
                "data": {"text/plain": doc.text, "text/markdown": doc.markdown}}

    async def do_is_complete(self, code):
        status, indent = completion.is_complete(code)
        reply = {"status": status}
        if status == "incomplete":
            reply["indent"] = indent
        return reply


class _MagicContext:
    """What line magics see of the kernel."""

    def __init__(self, kernel: BpftraceKernel):
        self._k = kernel
        self.defaults = kernel.defaults

    def write(self, text: str) -> None:
        self._k.send_stream(text)

    def list_probes(self, pattern: str, verbose: bool) -> str:
        return self._k.catalog.listing(pattern, verbose)

    def preflight(self) -> list[tuple[str, bool, str]]:
        return preflight(self._k.catalog)
