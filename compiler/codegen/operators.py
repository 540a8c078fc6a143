"""Operators in generated code: arithmetic, comparisons, shifts and string equality with
bpftrace 0.17's semantics (unsigned division, x / 0 == x % 0 == 0, logical right shifts,
signed comparisons only when both sides are signed).

Owns `BINOPS` (operator -> lowering) and `string_equal()`.
"""
from __future__ import annotations

from llvmlite import ir

from ..types import Kind, SizedType
from .builder import I1, I64, I8

ZERO = ir.Constant(I64, 0)
ONE = ir.Constant(I64, 1)


def signed_int(t: SizedType) -> bool:
    return t.kind == Kind.INT and t.signed


def string_equal(g, a: ir.Value, a_size: int, b: ir.Value, b_size: int) -> ir.Value:
    """strcmp(a, b) == 0 over at most min(sizes) bytes, stopping at the first NUL."""
    n = min(a_size, b_size)
    result = g.bb.alloca(I1, "streq")
    g.b.store(ir.Constant(I1, 1), result)
    done = g.bb.func.append_basic_block("streq_done")
    for i in range(n):
        ca = g.b.load(g.bb.offset(a, i))
        cb = g.b.load(g.bb.offset(b, i))
        differ = g.b.icmp_unsigned("!=", ca, cb)
        mismatch = g.bb.func.append_basic_block("streq_ne")
        same = g.bb.func.append_basic_block("streq_same")
        g.b.cbranch(differ, mismatch, same)
        g.b.position_at_end(mismatch)
        g.b.store(ir.Constant(I1, 0), result)
        g.b.branch(done)
        g.b.position_at_end(same)
        nxt = g.bb.func.append_basic_block("streq_next")
        g.b.cbranch(g.b.icmp_unsigned("==", ca, ir.Constant(I8, 0)), done, nxt)
        g.b.position_at_end(nxt)
    g.b.branch(done)
    g.b.position_at_end(done)
    return g.b.load(result)


def _div(g, left, right, signed, lsigned, rem=False):
    # bpftrace: unsigned division, and x / 0 == x % 0 == 0 (never UB for LLVM).
    is_zero = g.b.icmp_unsigned("==", right, ZERO)
    safe = g.b.select(is_zero, ONE, right)
    value = g.b.urem(left, safe) if rem else g.b.udiv(left, safe)
    return g.b.select(is_zero, ZERO, value)


def _cmp(op):
    def lower(g, left, right, signed, lsigned):
        c = g.b.icmp_signed(op, left, right) if signed else g.b.icmp_unsigned(op, left, right)
        return g.b.zext(c, I64)
    return lower


def _shift(g, left, right, signed, lsigned, right_shift=False):
    # bpftrace 0.17 shifts right logically even for signed values (-16 >> 2 is 2^62 - 4);
    # masking the amount keeps LLVM from treating shifts >= 64 as poison.
    amount = g.b.and_(right, ir.Constant(I64, 63))
    return g.b.lshr(left, amount) if right_shift else g.b.shl(left, amount)


BINOPS = {
    "+": lambda g, l, r, s, ls: g.b.add(l, r),
    "-": lambda g, l, r, s, ls: g.b.sub(l, r),
    "*": lambda g, l, r, s, ls: g.b.mul(l, r),
    "/": _div,
    "%": lambda g, l, r, s, ls: _div(g, l, r, s, ls, rem=True),
    "&": lambda g, l, r, s, ls: g.b.and_(l, r),
    "|": lambda g, l, r, s, ls: g.b.or_(l, r),
    "^": lambda g, l, r, s, ls: g.b.xor(l, r),
    "<<": _shift,
    ">>": lambda g, l, r, s, ls: _shift(g, l, r, s, ls, right_shift=True),
    "==": _cmp("=="), "!=": _cmp("!="), "<": _cmp("<"), ">": _cmp(">"),
    "<=": _cmp("<="), ">=": _cmp(">="),
}
