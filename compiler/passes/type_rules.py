"""Type rules shared by the semantic pass and codegen.

Owns which values live in registers (`is_scalar`), how values are stored in maps, tuples
and event records (`storage_type`: integers widen to 64 bits), type compatibility for map
and variable assignments, cast target types and literal helpers.  No AST walking here.
"""
from __future__ import annotations

from typing import Optional

from .. import ast
from ..types import Int, Kind, Pointer, SizedType, TupleOf, UInt

U64 = UInt(64)
I64 = Int(64)
# Bytes of one CPU's value of each aggregation (layouts in compiler/artifact.py).
AGG_VALUE_SIZE = {Kind.COUNT: 8, Kind.SUM: 8, Kind.MIN: 16, Kind.MAX: 16, Kind.AVG: 16,
                  Kind.STATS: 16, Kind.HIST: 8, Kind.LHIST: 8}
# Kinds held in one 64-bit register (everything else lives in memory).
SCALAR_KINDS = frozenset({Kind.INT, Kind.POINTER, Kind.KSTACK, Kind.USTACK, Kind.KSYM,
                          Kind.USERNAME, Kind.PROBE, Kind.STRERROR, Kind.CGROUP_PATH,
                          Kind.CTX})


def is_scalar(t: Optional[SizedType]) -> bool:
    return t is not None and t.kind in SCALAR_KINDS


def storage_type(t: SizedType) -> SizedType:
    """How a value is stored in maps, tuples and event records: integers widen to 64 bits."""
    if t.kind == Kind.INT:
        return Int(64, t.signed)
    if t.kind == Kind.POINTER:     # an address; user_ptr keeps str() reading user memory
        return SizedType(Kind.INT, 8, False, user_ptr=t.user_ptr)
    if t.kind == Kind.TUPLE:
        return TupleOf([storage_type(e) for e in t.elems])
    return t


def type_class(t: SizedType) -> str:
    """bpftrace 0.17's coarse type name ('integer', 'string', ...) used by some messages."""
    return {Kind.INT: "integer", Kind.STRING: "string", Kind.POINTER: "integer"}.get(t.kind, t.kind.value)


INT_TYPE_NAMES = {f"{p}int{b}": Int(b, p == "") for p in ("", "u") for b in (8, 16, 32, 64)}
INT_TYPE_NAMES.update({"char": Int(8), "short": Int(16), "int": Int(32), "long": Int(64),
                       "unsigned char": UInt(8), "unsigned short": UInt(16),
                       "unsigned int": UInt(32), "unsigned long": UInt(64), "bool": UInt(8)})


def cast_type(tn: ast.TypeName, btf=None) -> Optional[SizedType]:
    """The type named in a cast: integers, pointers to them, and (with BTF) C types such as
    `struct task_struct *`; None when unknown."""
    base = INT_TYPE_NAMES.get(tn.name)
    if base is None and btf is not None:
        from ..btf import BtfError
        try:
            return btf.parse_type(tn.name + " " + "*" * tn.pointer_depth)
        except BtfError:
            return None
    if tn.pointer_depth:
        return Pointer(base or UInt(8), name=tn.name + " " + "*" * tn.pointer_depth)
    if base is None:
        return None
    if tn.array_len is not None:
        return SizedType(Kind.ARRAY, base.size * tn.array_len, elems=(base,))
    return base


def unify(a: SizedType, b: SizedType) -> SizedType:
    """The type that holds values of two compatible types: strings (also inside tuples)
    grow to the larger size; everything else keeps `a`."""
    if a.kind == Kind.STRING and b.kind == Kind.STRING and b.size > a.size:
        return b.__class__(Kind.STRING, b.size)
    if a.kind == Kind.TUPLE and b.kind == Kind.TUPLE and len(a.elems) == len(b.elems):
        elems = [unify(x, y) for x, y in zip(a.elems, b.elems)]
        if elems != list(a.elems):
            return TupleOf(elems)
    return a


def param_int(raw: Optional[str]) -> Optional[int]:
    """A positional parameter's value as bpftrace reads it (C's stoll: int64 range, base
    prefixes), None when it is not such a number."""
    if raw is None:
        return 0
    digits = raw.lstrip("+-")
    octal = len(digits) > 1 and digits[0] == "0" and digits.isdigit()    # C's 010 == 8
    try:
        value = int(raw, 8 if octal else 0)
    except ValueError:
        return None
    return value if -2 ** 63 <= value < 2 ** 63 else None


def compatible(a: SizedType, b: SizedType) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == Kind.TUPLE:
        return len(a.elems) == len(b.elems) and all(compatible(x, y) for x, y in zip(a.elems, b.elems))
    if a.kind == Kind.LHIST or a.kind == Kind.HIST:
        return True
    if a.kind in (Kind.INT, Kind.STRING):
        return True
    return a.size == b.size or a.is_aggregation
