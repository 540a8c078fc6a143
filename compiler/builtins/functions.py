"""Functions that send events or act on maps: printf, system, cat, print, exit, clear, zero,
delete, time, strftime, join, signal, ntop, cgroupid, kstack/ustack.

Async functions register an `ActionSpec` at check time (record layout included) and lower
to an event record on the ring buffer; the rest lower to BPF helpers or compile-time
constants.
"""
from __future__ import annotations

import os
import signal as _signal

from llvmlite import ir

from .. import ast
from ..codegen import builder as H
from ..source import Span
from ..types import Kind, SizedType, Str, UInt
from .args import literal_int, literal_string, nargs, type_word
from .formats import check_format
from .registry import Entry, builtin, function

U64 = UInt(64)
NONE = SizedType(Kind.NONE, 0)
JOIN_ARGS = 16
AF_INET, AF_INET6 = 2, 10


def _formatted(kind: str):
    """printf / system / cat: a format literal and checked arguments."""
    def check(c, n):
        if not nargs(c, n, 1, 1 + 128):
            return NONE
        fmt = literal_string(c, n, n.args[0])
        args = [c.expr(a) for a in n.args[1:]]
        if fmt is None or any(a is None for a in args):
            return NONE
        message = check_format(n.func, fmt, args)
        if message:
            c.error(message, n.span)
            return NONE
        c.add_action(n, kind, tuple(args), fmt=fmt)
        return NONE

    def lower(g, n):
        action = g.data(n)
        g.emit_action(action, n.args[1:])
    return check, lower


_c, _l = _formatted("printf")
function(Entry("printf", "printf(char *fmt, ...)",
               "Print formatted text, C printf style (%d %u %x %s %c %p, widths, flags and the "
               "length modifiers hh h l ll). Formatting happens in user space.",
               check=_c, lower=_l, is_async=True))
_c, _l = _formatted("system")
function(Entry("system", "system(char *fmt, ...)",
               "Run a shell command (formatted like printf) and print its output. Blocks the "
               "event loop while it runs.", check=_c, lower=_l, unsafe=True, is_async=True))
_c, _l = _formatted("cat")
function(Entry("cat", "cat(char *fmt, ...)",
               "Print the contents of a file (name formatted like printf), up to "
               "BPFTRACE_CAT_BYTES_MAX bytes.", check=_c, lower=_l, is_async=True))


def _map_arg(c, n, node, keyless_only: bool = True) -> bool:
    """Check that `node` names an existing map (reported on the whole call like 0.17)."""
    if not isinstance(node, ast.Map):
        c.error(f"{n.func}() expects a map to be provided", n.span)
        return False
    info = c.analysis.maps.get(node.name)
    if info is None or info.value is None:
        # bpftrace underlines from the call to the end of the map name
        c.error(f"Undefined map: {node.name}",
                Span(n.span.line, n.span.col, node.span.end_line, node.span.end_col))
        return False
    if keyless_only and node.keys:
        c.error(f"The map passed to {n.func}() should not be indexed by a key", n.span)
        return False
    node.type = info.value
    return True


def _print_check(c, n):
    if not nargs(c, n, 1, 3):
        return NONE
    target = n.args[0]
    if isinstance(target, ast.Map):
        if not _map_arg(c, n, target):
            return NONE
        extra = []
        for a in n.args[1:]:
            value = literal_int(c, n, a)
            if value is None:
                return NONE
            extra.append(value)
        top, div = (extra + [0, 0])[:2]
        if extra and target.type.kind == Kind.STATS:
            c.warning("print()'s top and div arguments are ignored when used on stats() maps.",
                      n.span)
        c.add_action(n, "print_map", map_name=target.name, top=top, div=div)
        return NONE
    if len(n.args) > 1:
        c.error(f"Non-map print() only takes 1 argument, {len(n.args)} found", n.span)
        return NONE
    t = c.expr(target)
    if t is None:
        return NONE
    if t.kind in (Kind.NONE, Kind.HIST, Kind.LHIST):
        c.error(f"print() can not print a value of type {t}", target.span)
        return NONE
    c.add_action(n, "print_value", (t,))
    return NONE


def _print_lower(g, n):
    action = g.data(n)
    if action.kind == "print_map":
        g.emit_action(action, [])
    else:
        g.emit_action(action, n.args[:1])


function(Entry("print", "print(@map [, int top [, int div]]) | print(value)",
               "Print a map now (optionally only the `top` largest entries, values divided by "
               "`div`), or print any value followed by a newline.",
               check=_print_check, lower=_print_lower, is_async=True))


def _map_action(kind: str):
    def check(c, n):
        if nargs(c, n, 1, 1) and _map_arg(c, n, n.args[0]):
            c.add_action(n, kind, map_name=n.args[0].name)
        return NONE

    def lower(g, n):
        g.emit_action(g.data(n), [])
    return check, lower


_c, _l = _map_action("clear")
function(Entry("clear", "clear(@map)", "Delete every element of a map (asynchronously).",
               check=_c, lower=_l, is_async=True))
_c, _l = _map_action("zero")
function(Entry("zero", "zero(@map)", "Set every value of a map to zero (asynchronously).",
               check=_c, lower=_l, is_async=True))


def _exit_check(c, n):
    if nargs(c, n, 0, 0):
        c.add_action(n, "exit")
    return NONE


def _exit_lower(g, n):
    # bpftrace 0.17 ends the probe at exit(): nothing after it runs.
    g.emit_action(g.data(n), [])
    g.return_now()


function(Entry("exit", "exit()",
               "Stop tracing: the probe ends here, END probes run and the maps are printed.",
               check=_exit_check, lower=_exit_lower, is_async=True))


def _delete_check(c, n):
    if not nargs(c, n, 1, 1):
        return NONE
    target = n.args[0]
    if not isinstance(target, ast.Map):
        c.error("delete() expects a map to be provided", n.span)
        return NONE
    c.expr(target)
    return NONE


function(Entry("delete", "delete(@map[key])", "Delete one element of a map.",
               check=_delete_check,
               lower=lambda g, n: g.bb.map_delete(n.args[0].name, g.map_key(n.args[0]))))


def _time_check(c, n):
    if not nargs(c, n, 0, 1):
        return NONE
    fmt = literal_string(c, n, n.args[0]) if n.args else "%H:%M:%S\n"
    if fmt is not None:
        c.add_action(n, "time", fmt=fmt)
    return NONE


function(Entry("time", "time([char *fmt])",
               "Print the current wall-clock time with a strftime format (default "
               "\"%H:%M:%S\\n\"), when user space handles the event.",
               check=_time_check, lower=lambda g, n: g.emit_action(g.data(n), []),
               is_async=True))

TIMESTAMP = SizedType(Kind.TIMESTAMP, 16)


def _strftime_check(c, n):
    if not nargs(c, n, 2, 2):
        return None
    fmt = literal_string(c, n, n.args[0])
    t = c.expr(n.args[1])
    if fmt is None or t is None:
        return None
    if t.kind != Kind.INT:
        c.error(f"strftime() expects an integer as its second argument ({t} provided)",
                n.args[1].span)
        return None
    formats = c.analysis.strftime_formats
    if fmt not in formats:
        formats.append(fmt)
    c.set_data(n, formats.index(fmt))
    return TIMESTAMP


def _strftime_lower(g, n):
    buf = g.bb.alloca_bytes(16, "strftime")
    g.bb.store_int(buf, 0, ir.Constant(H.I64, g.data(n)))
    g.bb.store_int(buf, 8, g.to_i64(g.expr(n.args[1])))
    return buf


function(Entry("strftime", "strftime(char *fmt, int nsecs)",
               "A timestamp (nanoseconds since boot, e.g. `nsecs`) printed with a strftime "
               "format through %s; `%f` gives microseconds.",
               check=_strftime_check, lower=_strftime_lower))


def _join_check(c, n):
    if not nargs(c, n, 1, 2):
        return NONE
    t = c.expr(n.args[0])
    sep = " "
    if len(n.args) == 2:
        sep = literal_string(c, n, n.args[1])
        if sep is None:
            return NONE
    if t is None:
        return NONE
    if t.kind not in (Kind.POINTER, Kind.INT):
        # (bpftrace 0.17 prints the function name empty here)
        c.error(f"() only supports int or pointer arguments ({type_word(t)} provided)", n.span)
        return NONE
    c.analysis.internal_roles.add("join")
    c.add_action(n, "join", (Str(c.strlen),) * JOIN_ARGS, sep=sep)
    return NONE


def _join_lower(g, n):
    """Read up to 16 argv strings into a per-CPU scratch record (too big for the stack);
    the strings after the first NULL pointer stay empty."""
    action = g.data(n)
    user = getattr(n.args[0].type, "user_ptr", False) or g.unit.provider in (
        "uprobe", "uretprobe", "usdt")
    key = g.bb.alloca(H.I32, "join_key")
    g.b.store(ir.Constant(H.I32, 0), key)
    rec = g.bb.map_lookup("join", key)
    with g.b.if_then(g.b.icmp_unsigned("!=", rec, ir.Constant(H.I8P, None))):
        g.bb.store_int(rec, 0, ir.Constant(H.I64, action.id))
        base = g.to_i64(g.expr(n.args[0]))
        ptr_buf = g.bb.alloca(H.I64, "join_ptr")
        live = g.bb.alloca(H.I1, "join_live")
        g.b.store(ir.Constant(H.I1, 1), live)
        strlen = action.args[0].size
        for i in range(JOIN_ARGS):
            dst = g.bb.offset(rec, action.offsets[i])
            g.bb.store_int(dst, 0, ir.Constant(H.I64, 0), 1)
            g.b.store(ir.Constant(H.I64, 0), ptr_buf)
            with g.b.if_then(g.b.load(live)):
                g.bb.probe_read(ptr_buf, 8, g.b.add(base, ir.Constant(H.I64, 8 * i)), user)
                ptr = g.b.load(ptr_buf)
                present = g.b.icmp_unsigned("!=", ptr, ir.Constant(H.I64, 0))
                g.b.store(present, live)
                with g.b.if_then(present):
                    g.bb.probe_read(dst, strlen, ptr, user, string=True)
        g.bb.output_event(rec, action.record_size)


function(Entry("join", "join(char *argv[] [, char *sep])",
               "Print the elements of a NULL-terminated array of strings (like argv), "
               "separated by `sep` (default a space), followed by a newline.",
               check=_join_check, lower=_join_lower, is_async=True))

SIGNALS = {sig.name[3:]: int(sig) for sig in _signal.Signals
           if sig.name.startswith("SIG") and not sig.name.startswith("SIG_")}


SIGNAL_FORBIDDEN = ("BEGIN", "END", "interval", "software", "hardware")


def _signal_check(c, n):
    if not nargs(c, n, 1, 1):
        return NONE
    if c.provider in SIGNAL_FORBIDDEN:
        c.error(f"signal can not be used with \"{c.provider}\" probes", n.span)
    arg = n.args[0]
    if isinstance(arg, ast.String):
        name = arg.value[3:] if arg.value.startswith("SIG") else arg.value
        arg.type = Str(len(arg.value) + 1)
        if name not in SIGNALS:
            c.error(f"{arg.value} is not a valid signal", n.span)
            return NONE
        c.set_data(n, SIGNALS[name])
        return NONE
    t = c.expr(arg)
    if t is not None and t.kind != Kind.INT:
        c.error("signal only accepts string literals or integers", n.span)
    literal = c.const_int(arg)
    if literal is not None and not 1 <= literal <= 64:
        c.error(f"{literal} is not a valid signal, allowed range: [1,64]", n.span)
    return NONE


def _signal_lower(g, n):
    sig = g.data(n)
    value = ir.Constant(H.I32, sig) if sig is not None else g.b.trunc(
        g.to_i64(g.expr(n.args[0])), H.I32)
    g.bb.helper(H.SEND_SIGNAL, [value])


function(Entry("signal", "signal(int sig | char *name)",
               "Send a signal (number, or name such as \"KILL\" / \"SIGKILL\") to the current "
               "process.", probes="kprobe, kretprobe, uprobe, uretprobe, usdt, tracepoint, profile",
               check=_signal_check, lower=_signal_lower, unsafe=True))

OVERRIDE_RETURN = 58            # bpf_override_return(ctx, rc)


def _override_check(c, n):
    if c.provider != "kprobe":
        c.error("override can only be used with kprobes.", n.span)
        return NONE
    if not n.args:
        c.error("override() requires at least one argument (0 provided)", n.span)
        return NONE
    if not nargs(c, n, 1, 1):
        return NONE
    t = c.expr(n.args[0])
    if t is not None and t.kind != Kind.INT:
        c.error(f"override() only supports integer arguments ({type_word(t)} provided)", n.span)
    return NONE


def _override_lower(g, n):
    g.bb.helper(OVERRIDE_RETURN, [g.bb.ctx, g.to_i64(g.expr(n.args[0]), signed=True)])


function(Entry("override", "override(int rc)",
               "Make the probed kernel function return `rc` without running (only functions on "
               "the kernel's error-injection list; needs CONFIG_BPF_KPROBE_OVERRIDE).",
               probes="kprobe", check=_override_check, lower=_override_lower, unsafe=True))

INET = SizedType(Kind.INET, 24)


def _ntop_check(c, n):
    if not nargs(c, n, 1, 2):
        return None
    types = [c.expr(a) for a in n.args]
    if any(t is None for t in types):
        return None
    addr = types[-1]
    if addr.kind not in (Kind.INT, Kind.ARRAY, Kind.STRING) or addr.kind != Kind.INT and \
            addr.size not in (4, 16):       # BTF `__u8 x[16]` arrays arrive as string[16]
        c.error("ntop() argument must be 4 or 16 bytes in size", n.span)
        return None
    return INET


def _ntop_lower(g, n):
    buf = g.bb.alloca_bytes(INET.size, "inet")
    addr_node = n.args[-1]
    addr = g.expr(addr_node)
    t = addr_node.type
    if len(n.args) == 2:
        g.bb.store_int(buf, 0, g.to_i64(g.expr(n.args[0])))
    else:
        g.bb.store_int(buf, 0, ir.Constant(H.I64, AF_INET6 if t.size == 16 else AF_INET))
    if t.kind == Kind.INT:
        g.bb.store_int(buf, 8, g.to_i64(addr), 4)
    else:
        g.bb.memcpy(g.bb.offset(buf, 8), addr, t.size)
    return buf


function(Entry("ntop", "ntop([int af,] int|char[4]|char[16] addr)",
               "An IPv4/IPv6 address printed in text form (127.0.0.1, ::1) through %s.",
               check=_ntop_check, lower=_ntop_lower))


def _cgroupid_check(c, n):
    if not nargs(c, n, 1, 1):
        return None
    path = literal_string(c, n, n.args[0])
    if path is None:
        return None
    try:
        c.set_data(n, os.stat(path).st_ino)
    except OSError as exc:
        c.error(f"Failed to compile: Failed to get `cgroupid` for path: \"{path}\": "
                f"{exc.strerror}")
        return None
    return U64


function(Entry("cgroupid", "cgroupid(char *path)",
               "The cgroup v2 ID of a cgroup directory, resolved at compile time.",
               check=_cgroupid_check, lower=lambda g, n: ir.Constant(H.I64, g.data(n))))

STACK_MODES = {"bpftrace": 0, "perf": 1}
DEFAULT_STACK_LIMIT = 127


def _stack_check(kind: Kind):
    def check(c, n):
        args = getattr(n, "args", [])
        mode, limit = 0, DEFAULT_STACK_LIMIT
        for a in args:
            if isinstance(a, ast.Identifier) and a.name in STACK_MODES:
                mode = STACK_MODES[a.name]
                continue
            value = c.const_int(a)
            if value is None:
                c.error(f"{kind.value}() expects a stack mode or an integer limit", n.span)
                return None
            if value > 1024:
                c.error(f"{kind.value}([int limit]): limit shouldn't exceed 1024, {value} given",
                        n.span)
                return None
            if value < 1:
                c.error(f"{kind.value}([int limit]): limit should be greater than 0", n.span)
                return None
            a.type = U64
            limit = value
        c.analysis.stack_types.add((kind, limit, mode))
        return SizedType(kind, 8, params=(limit, mode))
    return check


def _stack_lower(g, n):
    kind = n.type.kind
    limit, mode = n.type.params
    role = "kstack" if kind == Kind.KSTACK else "ustack"
    flags = 0x100 if kind == Kind.USTACK else 0
    stack_map = g.bb.map_ptr(f"stack_{role}_{limit}_{mode}")
    stackid = g.bb.helper(H.GET_STACKID, [g.bb.ctx, stack_map, ir.Constant(H.I64, flags)])
    pid = g.b.lshr(g.bb.helper(H.GET_CURRENT_PID_TGID, []), ir.Constant(H.I64, 32))
    low = g.b.and_(stackid, ir.Constant(H.I64, 0xFFFFFFFF))
    return g.b.or_(low, g.b.shl(pid, ir.Constant(H.I64, 32)))


for _kind, _name, _what in ((Kind.KSTACK, "kstack", "kernel"), (Kind.USTACK, "ustack", "user")):
    _doc = (f"The {_what} stack trace, printed one frame per line. `{_name}(perf)` uses perf's "
            f"format; `{_name}(N)` keeps at most N frames.")
    builtin(Entry(_name, f"{_name}: stack", _doc, check=_stack_check(_kind), lower=_stack_lower,
                  kind="builtin"))
    function(Entry(_name, f"{_name}([mode] [, int limit])", _doc, check=_stack_check(_kind),
                   lower=_stack_lower))


def _bswap_check(c, n):
    if not nargs(c, n, 1, 1):
        return None
    t = c.expr(n.args[0])
    if t is None:
        return None
    if t.kind != Kind.INT:
        c.error(f"bswap() only supports integer arguments ({type_word(t)} provided)", n.span)
        return None
    return SizedType(Kind.INT, t.size, False)


def _bswap_lower(g, n):
    size = n.type.size
    v = g.to_i64(g.expr(n.args[0]))
    if size == 1:
        return g.b.and_(v, ir.Constant(H.I64, 0xFF))
    ty = ir.IntType(size * 8)
    fn = g.b.module.declare_intrinsic("llvm.bswap", [ty])
    return g.b.zext(g.b.call(fn, [g.b.trunc(v, ty)]), H.I64) if size < 8 else g.b.call(fn, [v])


function(Entry("bswap", "bswap(uint[8|16|32|64] n)",
               "Reverses the byte order of an integer of its own size (e.g. a big-endian port).",
               check=_bswap_check, lower=_bswap_lower))
