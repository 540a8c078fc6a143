"""Aggregation functions, valid only as `@map[keys] = f(...)`: count, sum, avg, min, max,
stats, hist, lhist.

Each updates a per-CPU map value in place after a lookup (the CPU owns its slot, so no
atomics are needed) and creates the entry with an update on a miss.  Value layouts are the
ones documented in compiler/artifact.py; hist/lhist add a u64 bucket index to the key.
"""
from __future__ import annotations

from llvmlite import ir

from ..codegen import builder as H
from ..types import Kind, SizedType
from ..passes.type_rules import AGG_VALUE_SIZE
from .args import int_args, literal_int, nargs, type_word
from .registry import Entry, function

ZERO = ir.Constant(H.I64, 0)
ONE = ir.Constant(H.I64, 1)


def _kind_check(kind: Kind, nargs: int):
    def check(c, n):
        types = int_args(c, n, nargs)
        signed = bool(types) and types[0].signed
        return SizedType(kind, AGG_VALUE_SIZE[kind], signed)
    return check


def _initial(g, values: list) -> ir.Value:
    buf = g.bb.alloca_bytes(8 * len(values), "agg_init")
    for i, v in enumerate(values):
        g.bb.store_int(buf, 8 * i, v)
    return buf


def _add_at(g, slot, off: int, delta) -> None:
    ptr = g.b.bitcast(g.bb.offset(slot, off), H.I64.as_pointer())
    g.b.store(g.b.add(g.b.load(ptr), delta), ptr)


def _count(g, m, n, bucket=None, delta=None):
    delta = delta if delta is not None else ONE
    with g.map_slot(m, _initial(g, [delta]), 8, bucket) as slot:
        _add_at(g, slot, 0, delta)


def _sum(g, m, n):
    _count(g, m, n, delta=g.to_i64(g.expr(n.args[0])))


def _avg(g, m, n):
    value = g.to_i64(g.expr(n.args[0]))
    with g.map_slot(m, _initial(g, [value, ONE]), 16) as slot:
        _add_at(g, slot, 0, value)
        _add_at(g, slot, 8, ONE)


def _extreme(op: str):
    def lower(g, m, n):
        value = g.to_i64(g.expr(n.args[0]))
        signed = n.args[0].type.signed
        # bpftrace 0.17 compares max() against a zero-filled value, so an entry appears only
        # once a value >= 0 is seen (`max(-5)` alone leaves the map empty).
        create_if = g.b.icmp_signed(">=", value, ZERO) if op == ">" else None
        with g.map_slot(m, _initial(g, [value, ONE]), 16, create_if=create_if) as slot:
            current = g.bb.load_int(slot, 0, 8)
            is_set = g.bb.load_int(slot, 8, 8)
            better = (g.b.icmp_signed(op, value, current) if signed
                      else g.b.icmp_unsigned(op, value, current))
            take = g.b.or_(g.b.icmp_unsigned("==", is_set, ZERO), better)
            with g.b.if_then(take):
                g.bb.store_int(slot, 0, value)
                g.bb.store_int(slot, 8, ONE)
    return lower


def hist_bucket(g, value: ir.Value) -> ir.Value:
    """bpftrace's log2 bucket: 0 for n < 0, 1 for 0, else floor(log2 n) + 2."""
    b = g.b
    out = g.bb.alloca(H.I64, "hist_bucket")
    negative = b.icmp_signed("<", value, ZERO)
    with b.if_else(negative) as (then, orelse):
        with then:
            b.store(ZERO, out)
        with orelse:
            # floor(log2(n)) via a branch-free binary search.  Like bpftrace 0.17 the search
            # starts at 16 bits, so every value >= 2^32 lands in the [2G, 4G) bucket.
            n = value
            result = ZERO
            for shift in (16, 8, 4, 2, 1):
                big = b.icmp_unsigned(">=", n, ir.Constant(H.I64, 1 << shift))
                n = b.select(big, b.lshr(n, ir.Constant(H.I64, shift)), n)
                result = b.select(big, b.add(result, ir.Constant(H.I64, shift)), result)
            nonzero = b.icmp_unsigned("!=", value, ZERO)
            b.store(b.select(nonzero, b.add(result, ir.Constant(H.I64, 2)), ONE), out)
    return b.load(out)


def _hist_check(c, n):
    types = int_args(c, n, 1)
    return SizedType(Kind.HIST, 8, bool(types) and types[0].signed, params=(0,))


def _hist(g, m, n):
    bucket = hist_bucket(g, g.to_i64(g.expr(n.args[0])))
    _count(g, m, n, bucket=bucket)


def _lhist_check(c, n):
    if not nargs(c, n, 4, 4):
        return None
    value = c.expr(n.args[0])
    bounds = [literal_int(c, n, a) for a in n.args[1:]]
    if any(b is None for b in bounds):
        return None
    lo, hi, step = bounds
    if value is not None and value.kind != Kind.INT:
        c.error(f"lhist() only supports integer arguments ({type_word(value)} provided)", n.span)
        return None
    if lo < 0:
        c.error("lhist() min must be non-negative (provided min " + str(lo) + ")", n.span)
    elif lo > hi:
        c.error("lhist() min must be less than max (provided min " + f"{lo} and max {hi})", n.span)
    elif step <= 0:
        c.error("lhist() step must be >= 1 (" + f"{step} provided)", n.span)
    elif (hi - lo) // step > 1000:
        c.error("lhist() too many buckets, must be <= 1000 (would need "
                f"{(hi - lo) // step})", n.span)
    return SizedType(Kind.LHIST, 8, bool(value and value.signed), params=(lo, hi, step))


def _lhist(g, m, n):
    lo, hi, step = n.type.params
    value = g.to_i64(g.expr(n.args[0]))
    b = g.b
    buckets = (hi - lo) // step
    below = b.icmp_signed("<", value, ir.Constant(H.I64, lo))
    above = b.icmp_signed(">=", value, ir.Constant(H.I64, hi))
    inner = b.add(b.udiv(b.sub(value, ir.Constant(H.I64, lo)), ir.Constant(H.I64, step)), ONE)
    bucket = b.select(below, ZERO, b.select(above, ir.Constant(H.I64, buckets + 1), inner))
    _count(g, m, n, bucket=bucket)


_DOCS = {
    "count": ("count()", "Count how many times the probe fired (per key)."),
    "sum": ("sum(int n)", "Sum of the values."),
    "avg": ("avg(int n)", "Average of the values (integer division when printed)."),
    "min": ("min(int n)", "Smallest value seen."),
    "max": ("max(int n)", "Largest value seen."),
    "stats": ("stats(int n)", "Count, average and total of the values."),
    "hist": ("hist(int n)", "Power-of-two histogram of the values."),
    "lhist": ("lhist(int n, int min, int max, int step)",
              "Linear histogram of the values between min and max with buckets of `step`."),
}
_IMPL = {
    "count": (_kind_check(Kind.COUNT, 0), lambda g, m, n: _count(g, m, n)),
    "sum": (_kind_check(Kind.SUM, 1), _sum),
    "avg": (_kind_check(Kind.AVG, 1), _avg),
    "min": (_kind_check(Kind.MIN, 1), _extreme("<")),
    "max": (_kind_check(Kind.MAX, 1), _extreme(">")),
    "stats": (_kind_check(Kind.STATS, 1), _avg),
    "hist": (_hist_check, _hist),
    "lhist": (_lhist_check, _lhist),
}
for _name, (_check, _lower) in _IMPL.items():
    _sig, _doc = _DOCS[_name]
    function(Entry(_name, f"@map[...] = {_sig}", _doc + " Only valid as a map assignment.",
                   check=_check, lower_assign=_lower, kind="aggregation"))
