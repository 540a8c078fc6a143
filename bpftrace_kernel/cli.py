"""`pybpftrace`: the bpftrace-compatible command line.

Owns argument parsing (bpftrace 0.17's flags), reading the program, the run loop (wait on the
engine's fd, print outputs, stop on exit()/SIGINT/SIGTERM/-c child exit/-p process exit),
exit codes, the `__BPFTRACE_NOTIFY_PROBES_ATTACHED` test hook, and `--flamegraph FILE`
(the stack-keyed maps written as a flame graph at exit).  Everything else is the engine's
(bpftrace_kernel.engine) and the renderers'.
"""
from __future__ import annotations

import functools
import os
import re
import select
from contextlib import contextmanager
import signal
import sys
from typing import Optional

USAGE = """USAGE:
    pybpftrace [options] filename
    pybpftrace [options] - <stdin input>
    pybpftrace [options] -e 'program'

OPTIONS:
    -B MODE        output buffering mode ('full', 'none')
    -f FORMAT      output format ('text', 'json')
    -o file        redirect bpftrace output to file
    -e 'program'   execute this program
    -h, --help     show this help message
    -l [search]    list probes
    -p PID         filter every probe on PID; exit when it exits
    -c 'CMD'       run CMD and exit when it exits
    --unsafe       allow unsafe builtin functions
    -q             keep messages quiet
    -V, --version  bpftrace version
    --no-warnings  disable all warning messages
    --flamegraph FILE         write a flame graph of the stack-keyed map(s) to FILE at exit
                              (@[kstack] = count(); format from the extension: .html, .svg,
                              .folded, .speedscope.json (or .json), .png)
    --flamegraph-format FMT   html, svg, folded, speedscope or png, whatever FILE's extension

TROUBLESHOOTING OPTIONS:
    -v                      verbose messages (BPF assembly, verifier statistics)
    -d                      (dry run) debug info: AST and LLVM IR
    --emit-elf FILE         (dry run) generate ELF file with bpf programs and write to FILE

ENVIRONMENT:
    BPFTRACE_STRLEN             [default: 64] bytes on BPF stack per str()
    BPFTRACE_MAP_KEYS_MAX       [default: 4096] max keys in a map
    BPFTRACE_CAT_BYTES_MAX      [default: 10k] maximum bytes read by cat builtin
    BPFTRACE_MAX_PROBES         [default: 512] max number of probes
"""

VERSION = "bpftrace v0.17.0 (pybpftrace 0.1.0)"

POLL_BATCH = 1024        # records formatted between checks for Ctrl-C / the -c child
STOP_BACKLOG = 2048      # records still printed after Ctrl-C; the rest count as lost

# Options that take a value, and flags, in bpftrace's getopt spelling.
_VALUE_OPTS = {"-B", "-f", "-o", "-e", "-p", "-c", "-I", "--include", "--emit-elf", "--emit-llvm",
               "--flamegraph", "--flamegraph-format"}
_FLAG_OPTS = {"-h", "--help", "-l", "-q", "-v", "-d", "-dd", "-k", "-kk", "-V", "--version",
              "--unsafe", "--info", "--no-warnings", "--usdt-file-activation", "--verify-llvm-ir"}


class UsageError(Exception):
    pass


class Args:
    def __init__(self):
        self.opts: dict[str, list[str]] = {}
        self.flags: set[str] = set()
        self.positional: list[str] = []

    def get(self, name: str) -> Optional[str]:
        vals = self.opts.get(name)
        return vals[-1] if vals else None


def parse_args(argv: list[str]) -> Args:
    """getopt-like parsing: options may come before or between positionals; `--` ends them."""
    args = Args()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args.positional.extend(argv[i + 1:])
            break
        if a in _VALUE_OPTS:
            if i + 1 >= len(argv):
                raise UsageError(f"option requires an argument -- '{a.lstrip('-')}'")
            args.opts.setdefault(a, []).append(argv[i + 1])
            i += 2
            continue
        if len(a) > 2 and a[:2] in _VALUE_OPTS and not a.startswith("--"):
            args.opts.setdefault(a[:2], []).append(a[2:])
            i += 1
            continue
        if a in _FLAG_OPTS:
            args.flags.add(a)
            i += 1
            continue
        if _clustered(a):               # getopt: `-lv` is `-l -v`, `-qe PROG` is `-q -e PROG`
            for k, ch in enumerate(a[1:], start=2):
                if f"-{ch}" in _VALUE_OPTS:
                    argv = [*argv[:i], f"-{ch}", *([a[k:]] if a[k:] else []), *argv[i + 1:]]
                    i -= 1
                    break
                args.flags.add(f"-{ch}")
            i += 1
            continue
        if a.startswith("-") and a != "-" and not _looks_numeric(a):
            raise UsageError(f"unrecognized option '{a}'")
        args.positional.append(a)
        i += 1
    return args


def _clustered(a: str) -> bool:
    """Several one-letter options in one word: flags, then at most one taking a value."""
    if not a.startswith("-") or a.startswith("--") or len(a) < 3:
        return False
    for ch in a[1:]:
        if f"-{ch}" in _VALUE_OPTS:
            return True
        if f"-{ch}" not in _FLAG_OPTS:
            return False
    return True


def _looks_numeric(s: str) -> bool:
    try:
        int(s, 0)
        return True
    except ValueError:
        return False


class Output:
    """Where tracing output goes (-o FILE or stdout); bpftrace's exit separator always goes
    to stdout, as 0.17 does."""

    def __init__(self, path: Optional[str], buffering: Optional[str], stop_fd: Optional[int] = None):
        from .sink import FdSink
        sys.stdout.flush()
        full = buffering == "full"
        self.file = open(path, "wb") if path else None
        self.stdout = FdSink(sys.stdout.fileno(), stop_fd, full)
        self.target = FdSink(self.file.fileno(), stop_fd, full) if self.file else self.stdout

    def write(self, text: str, to_stdout: bool = False) -> None:
        data = text.encode("utf-8", "surrogateescape")
        (self.stdout if to_stdout else self.target).write(data)

    def flush(self) -> None:
        for sink in {id(s): s for s in (self.stdout, self.target)}.values():
            sink.flush()

    @contextmanager
    def batched(self):
        """Line buffering at the granularity of one batch of events: the lines written
        inside go out in one write() instead of one per line (a printf flood's cost)."""
        sinks = list({id(s): s for s in (self.stdout, self.target)}.values())
        saved = [s.buffered for s in sinks]
        for s in sinks:
            s.buffered = True
        try:
            yield
        finally:
            for s, was in zip(sinks, saved):
                s.buffered = was
                if not was:
                    s.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self.file:
                self.file.close()

    @property
    def dropped(self) -> int:
        return self.stdout.dropped + (self.target.dropped if self.target is not self.stdout else 0)


def _read_program(args: Args) -> tuple[str, str, list[str]]:
    """(source text, source name, positional params)."""
    prog = args.get("-e")
    if prog is not None:
        return prog, "stdin", args.positional
    if not args.positional:
        raise UsageError("No program specified")
    path, params = args.positional[0], args.positional[1:]
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "stdin"
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise UsageError(f"failed to open file '{path}': {exc.strerror}")
        name = path
    return data.decode("utf-8", "surrogateescape"), name, params


def _list_probes(args: Args) -> int:
    from bpftrace_loader import listing
    pattern = args.positional[0] if args.positional else (args.get("-e") or "")
    from bpftrace_compiler.probe_catalog import LISTERS
    out = listing.list_probes(pattern, verbose="-v" in args.flags, pid=_pid_opt(args),
                              extra_listers=LISTERS)
    sys.stdout.write(out)
    return 0


PID_MAX = 4 * 1024 * 1024          # bpftrace 0.17's fixed bound, whatever pid_max says


def _pid_opt(args: Args) -> Optional[int]:
    """-p PID read as bpftrace 0.17 does (std::stol, then a range check), with its messages;
    a pid with no process is refused with 0.17's (odd) `ERROR: : No such process`."""
    raw = args.get("-p")
    if not raw:
        return None
    m = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", raw)
    if not m:
        raise UsageError(f"pid '{raw}' is not a valid decimal number")
    pid = int(m.group(1))
    if not -(1 << 63) <= pid < (1 << 63):
        raise UsageError(f"pid '{raw}' outside of integer range")
    if not 1 <= pid <= PID_MAX:
        raise UsageError(f"pid '{raw}' out of valid pid range [1,{PID_MAX}]")
    if not os.path.exists(f"/proc/{pid}"):
        raise UsageError(": No such process")
    return pid


class _StopRequest:
    def __init__(self):
        self.requested = False
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.wfd, False)

    def __call__(self, signum, frame):
        self.requested = True
        try:
            os.write(self.wfd, b"x")
        except OSError:
            pass


def _spawn_gated_child(cmd: str):
    """Start `cmd` under a shell that waits on a pipe before exec'ing, so its pid is known
    before compiling (for `cpid`) and it runs only once the probes are attached."""
    import shlex
    import subprocess
    r, w = os.pipe()
    argv = shlex.split(cmd)
    # `|| exit`: a tracer that dies before attaching closes the pipe and the command never runs
    child = subprocess.Popen(["/bin/sh", "-c", 'read _ <&3 || exit 1; exec 3<&-; exec "$@"',
                              "sh", *argv], pass_fds=(r,), close_fds=True,
                             preexec_fn=_die_with_parent())
    os.close(r)
    return child, w


def _die_with_parent():
    """A preexec_fn: the child gets SIGKILL when the tracer dies, even by SIGKILL."""
    import ctypes
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def arm():
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:       # the tracer died before prctl took effect
            os._exit(1)
    return arm


def run(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except UsageError as exc:
        sys.stderr.write(f"ERROR: {exc}\n{USAGE}")
        return 1
    if "-h" in args.flags or "--help" in args.flags:
        sys.stderr.write(USAGE)
        return 0
    if "-V" in args.flags or "--version" in args.flags:
        sys.stdout.write(VERSION + "\n")
        return 0
    try:
        if "-l" in args.flags:
            return _list_probes(args)
        return _trace(args)
    except UsageError as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return 1


def _trace(args: Args) -> int:
    from bpftrace_compiler.diagnostics import CompileError
    from .engine import RunOptions, Trace, TraceError, MapOut

    source, name, params = _read_program(args)
    flame = _flamegraph_request(args)
    fmt = args.get("-f") or "text"
    if fmt not in ("text", "json"):
        raise UsageError(f"Invalid output format \"{fmt}\"\nValid formats: 'text', 'json'")
    pid = _pid_opt(args)
    child, gate = (None, None)
    if args.get("-c"):
        child, gate = _spawn_gated_child(args.get("-c"))
    options = RunOptions(params=tuple(params), pid=pid, unsafe="--unsafe" in args.flags,
                         output_format=fmt, cpid=child.pid if child else None,
                         verbose="-v" in args.flags)
    trace = Trace(source, name=name, options=options)
    try:
        return _run_trace(trace, args, child, gate, flame)
    except CompileError as exc:
        # bpftrace prints a few plain messages ("No probes to attach") on stdout
        items = exc.diagnostics.items
        plain = items and all(getattr(d, "stream", "") == "stdout" for d in items)
        (sys.stdout if plain else sys.stderr).write(str(exc))
        return 1
    except TraceError as exc:
        sys.stderr.write(str(exc).rstrip("\n") + "\n")
        return 1
    finally:
        trace.close(wait_detach=False)
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=2)
            except Exception:
                child.kill()


def _flamegraph_request(args: Args) -> Optional["FlameGraphFiles"]:
    path = args.get("--flamegraph")
    if path is None:
        if args.get("--flamegraph-format"):
            raise UsageError("--flamegraph-format needs --flamegraph FILE")
        return None
    from .render import flamegraph
    try:
        fmt = flamegraph.format_for_path(path, args.get("--flamegraph-format"))
    except ValueError as exc:
        raise UsageError(str(exc))
    return FlameGraphFiles(path, fmt)


class FlameGraphFiles:
    """--flamegraph: keeps the last snapshot of every stack-keyed map and writes them at exit,
    the first to FILE, any other to FILE with `.<map name>` before its extension."""

    def __init__(self, path: str, fmt: str):
        self.path, self.fmt = path, fmt
        self.maps: dict[str, object] = {}

    def see(self, item) -> None:
        from .render import flamegraph
        snap = getattr(item, "snapshot", None)
        if snap is not None and flamegraph.is_stack_map(snap):
            self.maps[snap.name] = snap

    def write(self) -> None:
        from .render import flamegraph
        if not self.maps:
            sys.stderr.write(f"WARNING: no map keyed by kstack/ustack with count() values: "
                             f"{self.path} not written\n")
            return
        for i, (name, snap) in enumerate(self.maps.items()):
            path = self.path if i == 0 else _suffixed(self.path, name)
            try:
                flamegraph.write_file(flamegraph.samples_from_snapshot(snap), path, self.fmt,
                                      title=f"{name} (pybpftrace)")
            except (OSError, ValueError) as exc:
                sys.stderr.write(f"ERROR: cannot write flame graph {path}: {exc}\n")


def _suffixed(path: str, map_name: str) -> str:
    base = os.path.basename(path)
    stem, dot, ext = base.partition(".")
    tag = map_name.lstrip("@") or "map"
    return os.path.join(os.path.dirname(path), f"{stem}.{tag}{dot}{ext}")


def _run_trace(trace, args: Args, child, gate, flame: Optional[FlameGraphFiles] = None) -> int:
    from .engine import MapOut
    from .sink import OutputBlocked

    program = trace.compile()
    if program.warnings and "--no-warnings" not in args.flags:
        sys.stderr.write(program.warnings)
    if "-d" in args.flags or "-dd" in args.flags:
        from bpftrace_compiler.parser import parse
        from bpftrace_compiler.ast_printer import format_ast
        sys.stdout.write(format_ast(parse(trace.source, trace.name)))
        sys.stdout.write(program.ir)
        return 0
    if args.get("--emit-elf"):
        with open(args.get("--emit-elf"), "wb") as f:
            f.write(program.elf)
        return 0

    stop = _StopRequest()
    out = Output(args.get("-o"), args.get("-B"), stop.rfd)
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    json_mode = trace.options.output_format == "json"
    try:
        if "-q" not in args.flags:
            n = program.attach_count
            if json_mode:
                from .render import json_output
                out.write(json_output.attached_line(n))
            else:
                out.write(f"Attaching {n} probe{'s' if n != 1 else ''}...\n")
        if "-v" in args.flags and program.asm:
            sys.stderr.write(program.asm)
        trace.start()
        if "-v" in args.flags:
            for probe_name, stats in trace.session.verifier_stats:
                sys.stderr.write(f"Verifier statistics for {probe_name}: {stats}\n")
        if os.environ.get("__BPFTRACE_NOTIFY_PROBES_ATTACHED"):
            sys.stderr.write("__BPFTRACE_NOTIFY_PROBES_ATTACHED\n")
            sys.stderr.flush()
        if gate is not None:
            os.write(gate, b"go\n")
            os.close(gate)
        trace.warm_up()
        _loop(trace, out, stop, child, trace.options.pid, flame)
        # Ctrl-C ends promptly even in a flood: a bounded part of the backlog is printed,
        # the rest is reported as lost events
        for item in trace.stop(STOP_BACKLOG if stop.requested else None):
            _emit(out, item, flame)
        out.close()
        warning = trace.stack_warning()
        if warning and "--no-warnings" not in args.flags:
            sys.stderr.write(warning)
        if flame is not None:
            flame.write()
    except BrokenPipeError:
        # the reader went away (`| head`): end quietly, as a well-behaved filter does
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        trace.stop()
        return 0
    except OutputBlocked:
        # stopped while the reader was not reading: what it did not take is dropped
        trace.stop(0)
        sys.stderr.write(f"WARNING: output not read: {out.dropped} bytes dropped at exit\n")
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        os.close(stop.rfd)
        os.close(stop.wfd)
    return 0


def _emit(out: Output, item, flame: Optional[FlameGraphFiles] = None) -> None:
    if isinstance(item, _map_out()):
        out.write(item.text)
        if flame is not None:
            flame.see(item)
    else:
        out.write(item.text, to_stdout=item.kind == "exit_separator")


@functools.lru_cache(maxsize=None)
def _map_out():
    """engine.MapOut, imported once (_emit runs for every line of a printf flood)."""
    from .engine import MapOut
    return MapOut


def _loop(trace, out: Output, stop: _StopRequest, child, pid: Optional[int],
          flame: Optional[FlameGraphFiles] = None) -> None:
    """Wait for events until exit(), a signal, the -c child's exit or the -p process's exit."""
    poller = select.poll()
    poller.register(trace.fileno(), select.POLLIN)
    poller.register(stop.rfd, select.POLLIN)
    # A program with only BEGIN/END probes ends after BEGIN, as newer bpftrace does (0.17
    # waits for Ctrl-C): a deliberate deviation listed in the README.
    only_special = trace.only_special
    while True:
        with out.batched():
            for item in trace.poll(0, POLL_BATCH):
                _emit(out, item, flame)
        if trace.exited or stop.requested or only_special:
            return
        if child is not None and child.poll() is not None:
            return
        if pid is not None and not os.path.exists(f"/proc/{pid}"):
            return
        if trace.pending:              # a limited poll left records: no wait
            continue
        # probes wake us only when the ring is half full (batched wakeups): poll briefly
        poller.poll(POLL_MS)


POLL_MS = 20      # printf latency bound and -c/-p exit check interval


def main() -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="surrogateescape")   # program bytes print back as they came
    try:
        code = run(sys.argv[1:])
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:               # a bug of ours: one clear line, no traceback
        if os.environ.get("PYBPFTRACE_DEBUG"):
            raise
        sys.stderr.write(f"ERROR: internal error: {type(exc).__name__}: {exc} "
                         "(PYBPFTRACE_DEBUG=1 shows the traceback)\n")
        code = 1
    _exit_now(code)


def _exit_now(code: int) -> None:
    """Flush and leave without the interpreter's teardown, which takes 30-60 ms once LLVM
    and the compiler are loaded (every file we write is closed by then)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
