"""String functions: str() and strncmp().

`str(p [, n])` reads a NUL-terminated string of at most BPFTRACE_STRLEN bytes into a
zero-filled stack buffer with probe_read_{user,kernel}_str (user memory for user pointers,
uprobes and syscall tracepoint `char *` fields); `str($1)` is the positional parameter's
text.  `strncmp(a, b, n)` compares at most n bytes and returns 0 when they are equal.
"""
from __future__ import annotations

from llvmlite import ir

from .. import ast
from ..codegen import builder as H
from ..codegen.operators import string_equal
from ..types import Int, Kind, Str
from .args import nargs, type_word, literal_int
from .registry import Entry, function

USER_PROVIDERS = ("uprobe", "uretprobe", "usdt")


def _str_check(c, n):
    if not nargs(c, n, 1, 2):
        return None
    arg = n.args[0]
    if isinstance(arg, ast.PositionalParameter):
        raw = c.param(arg.index) or ""
        arg.type = Str(len(raw.encode()) + 1)
        c.set_data(n, raw)
        size = min(len(raw.encode()) + 1, c.strlen)
    else:
        t = c.expr(arg)
        if t is None:
            return None
        if t.kind not in (Kind.INT, Kind.POINTER, Kind.CTX):
            c.error(f"str() expects an integer or a pointer type as first argument "
                    f"({t} provided)", n.span)
            return None
        size = c.strlen
    if len(n.args) == 2:
        t = c.expr(n.args[1])
        if t is not None and t.kind != Kind.INT:
            c.error(f"str() expects an integer for the length argument ({t} provided)",
                    n.args[1].span)
            return None
        literal = c.const_int(n.args[1])
        if literal is not None and literal >= 0:
            size = max(1, min(size, literal + 1 if isinstance(arg, ast.PositionalParameter)
                              else literal))
    return Str(size if isinstance(arg, ast.PositionalParameter) else c.strlen)


def _str_lower(g, n):
    buf = g.bb.alloca_bytes(n.type.size, "str")
    _str_into(g, n, buf)
    return buf


def _str_into(g, n, buf):
    size = n.type.size
    raw = g.data(n)
    if isinstance(raw, str):
        g.store_text(buf, raw[:size - 1])
        return
    arg = n.args[0]
    user = arg.type.user_ptr or g.unit.provider in USER_PROVIDERS
    length = ir.Constant(H.I32, size)
    if len(n.args) == 2:
        # `length` characters plus the NUL, clamped into [1, size] so the verifier sees a
        # bounded size (bpftrace 0.17: str(p, 6) prints 6 characters).
        want = g.b.add(g.to_i64(g.expr(n.args[1])), ir.Constant(H.I64, 1))
        big = g.b.icmp_unsigned(">", want, ir.Constant(H.I64, size))
        length = g.b.trunc(g.b.select(big, ir.Constant(H.I64, size), want), H.I32)
    g.bb.probe_read(buf, length, g.to_i64(g.expr(arg)), user, string=True)


function(Entry("str", "str(char *s [, int length])",
               "Read a NUL-terminated string from kernel or user memory (at most "
               "BPFTRACE_STRLEN bytes, or `length`); `str($1)` is a positional parameter as "
               "a string.", check=_str_check, lower=_str_lower, lower_into=_str_into))


def _strncmp_check(c, n):
    if not nargs(c, n, 3, 3):
        return None
    a, b = c.expr(n.args[0]), c.expr(n.args[1])
    if a is None or b is None:
        return None
    for t in (a, b):
        if t.kind != Kind.STRING:
            c.error(f"strncmp() only supports string arguments ({type_word(t)} provided)",
                    n.span)
            return None
    length = literal_int(c, n, n.args[2])
    if length is None:
        return None
    c.set_data(n, length)
    return Int(64)


def _strncmp_lower(g, n):
    limit = g.data(n)
    a, b = n.args[0], n.args[1]
    size = min(limit, a.type.size, b.type.size)
    if size == 0:
        return ir.Constant(H.I64, 0)
    eq = string_equal(g, g.expr(a), size, g.expr(b), size)
    return g.b.zext(g.b.not_(eq), H.I64)


function(Entry("strncmp", "strncmp(char *a, char *b, int n)",
               "Compare at most n bytes of two strings: 0 when equal, 1 otherwise.",
               check=_strncmp_check, lower=_strncmp_lower))
