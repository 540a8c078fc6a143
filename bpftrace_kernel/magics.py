"""Cell magics and line magics of the bpftrace Jupyter kernel.

Owns the parsing of a cell into a `CellRequest` (the bpftrace program plus its
`TraceOptions` from a leading `%%trace` line, and any leading `%line` magics; a
`%%flamegraph` cell becomes a generated 99 Hz profiling program), the
per-kernel `SessionDefaults` that line magics change, and the `LINE_MAGICS` registry.
Pure parsing and formatting: no Jupyter messaging, no BPF; handlers get a small
`MagicContext` from the kernel to write their output.
"""
from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, replace
from typing import Callable, Optional, Protocol


class MagicError(Exception):
    """A malformed magic line; `str()` is the one-line message shown to the user."""


@dataclass(frozen=True)
class TraceOptions:
    """What `%%trace` options (and the session defaults) ask of one run."""
    duration: Optional[float] = None    # seconds; None = until exit() or interrupt
    pid: Optional[int] = None
    cmd: Optional[str] = None           # a command to spawn and trace, like bpftrace -c
    unsafe: bool = False
    output_format: str = "text"         # text | json
    params: tuple[str, ...] = ()        # positional parameters $1, $2, ...
    max_lines: Optional[int] = None     # per-cell printf line cap (None = session default)
    live: bool = True                   # update map displays while the trace runs


@dataclass
class SessionDefaults:
    """Kernel-wide settings changed by line magics such as `%duration`."""
    duration: Optional[float] = None
    max_lines: int = 10_000
    max_bytes: int = 512 * 1024


@dataclass(frozen=True)
class LineMagicCall:
    name: str
    args: str
    line: int                           # 1-based line of the cell it came from


@dataclass(frozen=True)
class CellRequest:
    """A parsed cell: line magics to run, then (when `program` is not blank) a trace."""
    program: str                        # bpftrace source; magic lines blanked so lines match the cell
    options: TraceOptions
    line_magics: tuple[LineMagicCall, ...] = ()
    note: str = ""                      # shown before the trace starts (%%flamegraph's program)

    @property
    def has_program(self) -> bool:
        return bool(self.program.strip())


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises MagicError instead of printing usage and calling sys.exit."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise MagicError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: Optional[str] = None):
        raise MagicError(message.strip() if message else f"{self.prog}: bad arguments")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _trace_parser() -> _ArgumentParser:
    p = _ArgumentParser(prog="%%trace", add_help=False, usage="%%%%trace [options] [-- PARAM ...]",
                        description="Run the cell as a bpftrace program.")
    p.add_argument("-d", "--duration", type=_positive_float, metavar="SECONDS",
                   help="stop after SECONDS (then END runs and the maps are printed)")
    p.add_argument("-p", "--pid", type=_positive_int, metavar="PID",
                   help="trace process PID only; uprobes/usdt attach to it (like bpftrace -p)")
    p.add_argument("-c", "--cmd", metavar="CMD",
                   help="run CMD and trace it; the trace stops when CMD exits (like bpftrace -c)")
    p.add_argument("--unsafe", action="store_true",
                   help="allow unsafe builtins such as system() and signal()")
    p.add_argument("-f", "--format", dest="output_format", choices=("text", "json"),
                   default="text", help="output format, like bpftrace -f")
    p.add_argument("--max-lines", type=_positive_int, metavar="N",
                   help="show at most N printf lines in the cell (the rest go to a spool file)")
    p.add_argument("--no-live", dest="live", action="store_false",
                   help="print maps only at the end instead of updating them live")
    # positional parameters come after "--" (split off before parsing); anything else here
    # is a mistake reported by parse_trace_options
    p.add_argument("params", nargs="*", help=argparse.SUPPRESS)
    return p


TRACE_USAGE = _trace_parser().format_help()


def parse_trace_options(line: str, defaults: SessionDefaults) -> TraceOptions:
    """Parse the arguments of a `%%trace` line (everything after the magic name)."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise MagicError(f"%%trace: {e}") from None
    if "--" in words:
        cut = words.index("--")
        words, params = words[:cut], words[cut + 1:]
    else:
        params = []
    ns = _trace_parser().parse_args(words)
    if ns.params:
        raise MagicError(f"%%trace: unexpected argument {ns.params[0]!r} "
                         "(positional parameters go after --)")
    if ns.pid is not None and ns.cmd is not None:
        raise MagicError("%%trace: --pid and --cmd cannot be used together")
    return TraceOptions(duration=ns.duration if ns.duration is not None else defaults.duration,
                        pid=ns.pid, cmd=ns.cmd, unsafe=ns.unsafe,
                        output_format=ns.output_format, params=tuple(params),
                        max_lines=ns.max_lines, live=ns.live)


def _flamegraph_parser() -> _ArgumentParser:
    p = _ArgumentParser(prog="%%flamegraph", add_help=False,
                        usage="%%%%flamegraph [-d SECONDS] [-p PID | -c CMD] [options]",
                        description="Profile at 99 Hz and show the flame graph (the cell "
                                    "stays empty: the magic writes the bpftrace program).")
    p.add_argument("-d", "--duration", type=_positive_float, default=None, metavar="SECONDS",
                   help="profile for SECONDS (default 5)")
    p.add_argument("-p", "--pid", type=_positive_int, metavar="PID",
                   help="profile process PID only (default: the whole system)")
    p.add_argument("-c", "--cmd", metavar="CMD", help="run CMD and profile it until it exits")
    p.add_argument("--hz", type=_positive_int, default=99, metavar="N",
                   help="samples per second per CPU (default 99)")
    p.add_argument("--stacks", choices=("kernel", "user", "both"), default=None,
                   help="which stacks to sample (default: both for -p/-c, kernel otherwise)")
    return p


FLAMEGRAPH_USAGE = _flamegraph_parser().format_help()
FLAMEGRAPH_SECONDS = 5.0


def flamegraph_program(pid: Optional[int], cmd: bool, hz: int, stacks: str) -> str:
    """The profiling program %%flamegraph runs: counts of (comm, stacks) at `hz`."""
    keys = {"kernel": "kstack", "user": "ustack", "both": "kstack, ustack"}[stacks]
    pred = f" /pid == {pid}/" if pid is not None else (" /pid == cpid/" if cmd else "")
    return f"profile:hz:{hz}{pred} {{ @[comm, {keys}] = count(); }}\n"


def parse_flamegraph(line: str, defaults: SessionDefaults) -> tuple[str, TraceOptions]:
    """The program and options of a `%%flamegraph ...` cell."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise MagicError(f"%%flamegraph: {e}") from None
    ns = _flamegraph_parser().parse_args(words)
    if ns.pid is not None and ns.cmd is not None:
        raise MagicError("%%flamegraph: --pid and --cmd cannot be used together")
    targeted = ns.pid is not None or ns.cmd is not None
    stacks = ns.stacks or ("both" if targeted else "kernel")
    duration = ns.duration or defaults.duration or FLAMEGRAPH_SECONDS
    program = flamegraph_program(ns.pid, ns.cmd is not None, ns.hz, stacks)
    return program, TraceOptions(duration=duration, pid=ns.pid, cmd=ns.cmd, live=False)


def flamegraph_note(program: str, duration: float) -> str:
    return f"profiling for {duration:g} s: {program}"


def parse_cell(code: str, defaults: SessionDefaults) -> CellRequest:
    """Split a cell into leading magics and the bpftrace program.

    `%%trace ...` is only allowed on the first line; `%name args` lines may precede the
    program.  Magic lines are replaced by empty lines so that the line numbers in
    bpftrace's error messages are the cell's line numbers."""
    lines = code.split("\n")
    first = lines[0].strip() if lines else ""
    if first.startswith("%%flamegraph") and first[12:13] in ("", " ", "\t"):
        if any(ln.strip() and not ln.strip().startswith("//") for ln in lines[1:]):
            raise MagicError("%%flamegraph writes its own program: leave the rest of the cell "
                             "empty (use %%trace with @[kstack] = count() for your own)")
        program, options = parse_flamegraph(first[12:], defaults)
        return CellRequest(program=program, options=options,
                           note=flamegraph_note(program, options.duration))
    options = TraceOptions(duration=defaults.duration)
    calls: list[LineMagicCall] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("%%"):
            name, _, rest = stripped[2:].partition(" ")
            if name != "trace":
                raise MagicError(f"Unknown cell magic %%{name}. Try %help.")
            if i != 0:
                raise MagicError("%%trace must be the first line of the cell")
            options = parse_trace_options(rest, defaults)
        elif stripped.startswith("%"):
            name, _, rest = stripped[1:].partition(" ")
            if name not in LINE_MAGICS:
                raise MagicError(f"Unknown magic %{name}. Try %help.")
            calls.append(LineMagicCall(name, rest.strip(), i + 1))
        elif stripped and not stripped.startswith("//"):
            break
        lines[i] = "" if stripped.startswith("%") else lines[i]
        i += 1
    program = "\n".join(lines)
    if not program.strip() and code.lstrip().startswith("%%trace"):
        raise MagicError("%%trace: the cell has no bpftrace program")
    return CellRequest(program=program, options=options, line_magics=tuple(calls))


# ---------------------------------------------------------------------------------------
# line magics


class MagicContext(Protocol):
    """What a line magic may do in the kernel: read/change defaults, write text."""
    defaults: SessionDefaults

    def write(self, text: str) -> None: ...

    def list_probes(self, pattern: str, verbose: bool) -> str: ...

    def preflight(self) -> list[tuple[str, bool, str]]: ...


@dataclass(frozen=True)
class LineMagic:
    name: str
    usage: str
    doc: str
    run: Callable[[MagicContext, str], None]


def _duration(ctx: MagicContext, args: str) -> None:
    args = args.strip()
    if not args:
        current = ctx.defaults.duration
        ctx.write("default duration: " + (f"{current:g} s" if current else "none (run until exit() or interrupt)") + "\n")
        return
    if args in ("off", "none", "0"):
        ctx.defaults.duration = None
        ctx.write("default duration: none (run until exit() or interrupt)\n")
        return
    try:
        seconds = _positive_float(args)
    except argparse.ArgumentTypeError as e:
        raise MagicError(f"%duration: {e}") from None
    ctx.defaults.duration = seconds
    ctx.write(f"default duration: {seconds:g} s\n")


def _probes(ctx: MagicContext, args: str) -> None:
    words = shlex.split(args) if args.strip() else []
    verbose = "-v" in words
    patterns = [w for w in words if w != "-v"]
    if len(patterns) > 1:
        raise MagicError("%probes: give one pattern, e.g. %probes tracepoint:syscalls:sys_enter_open*")
    ctx.write(ctx.list_probes(patterns[0] if patterns else "", verbose))


def _check(ctx: MagicContext, args: str) -> None:
    rows = ctx.preflight()
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'ok ' if ok else 'NO '} {name:{width}}  {detail}" for name, ok, detail in rows]
    verdict = ("ready to trace" if all(ok for _, ok, _ in rows)
               else "not ready: fix the lines marked NO (see docs/kernel.md)")
    ctx.write("\n".join(lines) + f"\n{verdict}\n")


def _help(ctx: MagicContext, args: str) -> None:
    ctx.write(help_text())


LINE_MAGICS: dict[str, LineMagic] = {m.name: m for m in (
    LineMagic("duration", "%duration [SECONDS|off]",
              "Set (or show) the default duration of cells that have no --duration.", _duration),
    LineMagic("probes", "%probes [-v] [PATTERN]",
              "List probes matching PATTERN, like bpftrace -l; -v also shows tracepoint arguments.",
              _probes),
    LineMagic("check", "%check",
              "Preflight: BPF privileges, tracefs, BTF, kernel release, with fix-it hints.", _check),
    LineMagic("help", "%help", "Show this help.", _help),
)}


def help_text() -> str:
    lines = ["A cell is a bpftrace program. It runs until exit(), its --duration ends, or you",
             "interrupt the kernel (like Ctrl-C in bpftrace: END runs and the maps are printed).",
             "",
             "Cell magic (first line of a cell):",
             "  %%trace [options] [-- PARAM ...]     PARAMs are $1, $2, ... ($# is their count)"]
    lines += ["  " + ln for ln in TRACE_USAGE.split("options:", 1)[1].splitlines() if ln.strip()]
    lines += ["", "  %%flamegraph [options]              profile at 99 Hz, show the flame graph"]
    lines += ["  " + ln for ln in FLAMEGRAPH_USAGE.split("options:", 1)[1].splitlines()
              if ln.strip()]
    lines += ["", "Line magics:"]
    for m in LINE_MAGICS.values():
        lines.append(f"  {m.usage:28} {m.doc}")
    return "\n".join(lines) + "\n"


def with_session_caps(options: TraceOptions, defaults: SessionDefaults) -> TraceOptions:
    """Options with the session's printf line cap filled in when the cell set none."""
    if options.max_lines is None:
        return replace(options, max_lines=defaults.max_lines)
    return options
