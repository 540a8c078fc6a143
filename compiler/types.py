"""bpftrace value types with their sizes and byte layout.

Owns `Kind` and `SizedType`: what every expression, map key, map value and async-event
argument is, how many bytes it takes and how tuples/records are laid out (C alignment).
The loader decodes bytes and the renderers print values from these descriptions, so the
layout rules here are the contract between generated code and user space.
Pure stdlib: no LLVM, no decoding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional


class Kind(str, Enum):
    NONE = "none"            # statements, calls with no value
    INT = "int"
    STRING = "string"        # fixed-size NUL-padded char array
    BUFFER = "buffer"        # buf(): u32 length + bytes
    TUPLE = "tuple"
    RECORD = "record"        # a C struct/union value (BTF or tracepoint args)
    POINTER = "pointer"
    ARRAY = "array"
    CTX = "ctx"
    # Values carried as small integers/structs and rendered in user space:
    KSTACK = "kstack"        # u64: stackid | pid << 32 ... see codegen
    USTACK = "ustack"
    KSYM = "ksym"            # u64 address
    USYM = "usym"            # {u64 addr, u64 pid}
    USERNAME = "username"    # u64 uid
    PROBE = "probe"          # u64 probe index
    INET = "inet"            # {i64 af, u8[16]}
    TIMESTAMP = "timestamp"  # strftime: {u64 fmt id, u64 ns}
    CGROUP_PATH = "cgroup_path"
    STRERROR = "strerror"    # u64 errno
    MACADDR = "macaddr"      # u8[6]
    # Map value kinds made by aggregation functions:
    COUNT = "count"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    AVG = "avg"
    STATS = "stats"
    HIST = "hist"
    LHIST = "lhist"


AGGREGATIONS = frozenset({Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX, Kind.AVG, Kind.STATS,
                          Kind.HIST, Kind.LHIST})


@dataclass(frozen=True)
class SizedType:
    kind: Kind
    size: int = 0                          # bytes (for STRING the capacity incl. NUL)
    signed: bool = False                   # INT, and SUM/MIN/MAX/AVG/STATS of signed input
    elems: tuple["SizedType", ...] = ()    # TUPLE element types; ARRAY: (element,); POINTER: (pointee,)
    name: str = ""                         # RECORD/POINTER: C type name, e.g. "struct task_struct"
    fields: tuple["Field", ...] = ()       # RECORD members
    params: tuple[int, ...] = ()           # LHIST: (min, max, step); HIST: (bits,); stacks: (limit, mode 0=bpftrace 1=perf)
    user_ptr: bool = False                 # POINTER/STRING source address space

    # ---- predicates
    @property
    def is_int(self) -> bool:
        return self.kind == Kind.INT

    @property
    def is_string(self) -> bool:
        return self.kind == Kind.STRING

    @property
    def is_aggregation(self) -> bool:
        return self.kind in AGGREGATIONS

    @property
    def align(self) -> int:
        if self.kind in (Kind.STRING, Kind.MACADDR, Kind.BUFFER):
            return 1
        if self.kind == Kind.TUPLE:
            return max((e.align for e in self.elems), default=1)
        if self.kind == Kind.ARRAY:
            return self.elems[0].align if self.elems else 1
        if self.kind == Kind.RECORD:
            return max((f.type.align for f in self.fields), default=1)
        return min(8, max(1, self.size))

    def tuple_offsets(self) -> list[int]:
        """Byte offset of each tuple element (C struct layout, natural alignment)."""
        return struct_layout(list(self.elems))[0]

    def __str__(self) -> str:   # the spelling bpftrace uses in error messages
        return type_name(self)


@dataclass(frozen=True)
class Field:
    name: str
    type: SizedType
    offset: int
    bitfield: Optional[tuple[int, int]] = None   # (bit offset, bit width)


def struct_layout(types: list[SizedType]) -> tuple[list[int], int]:
    """Offsets of `types` laid out as a C struct, and the struct's padded size."""
    offsets, off, align = [], 0, 1
    for t in types:
        a = t.align
        align = max(align, a)
        off = (off + a - 1) // a * a
        offsets.append(off)
        off += t.size
    size = (off + align - 1) // align * align
    return offsets, size


# ---- constructors used everywhere

def Int(bits: int = 64, signed: bool = True) -> SizedType:
    return SizedType(Kind.INT, bits // 8, signed)


def UInt(bits: int = 64) -> SizedType:
    return SizedType(Kind.INT, bits // 8, False)


def Str(size: int) -> SizedType:
    return SizedType(Kind.STRING, size)


def TupleOf(elems: list[SizedType]) -> SizedType:
    _, size = struct_layout(elems)
    return SizedType(Kind.TUPLE, size, elems=tuple(elems))


def Pointer(pointee: SizedType, name: str = "", user: bool = False) -> SizedType:
    return SizedType(Kind.POINTER, 8, elems=(pointee,), name=name, user_ptr=user)


def Simple(kind: Kind, size: int = 8, signed: bool = False, params: tuple = ()) -> SizedType:
    return SizedType(kind, size, signed, params=params)


NONE = SizedType(Kind.NONE, 0)


def type_name(t: SizedType) -> str:
    """bpftrace 0.17's spelling of a type in diagnostics: 'int64', 'unsigned int64',
    'string[16]', '(int64,string[4])', 'count', 'struct task_struct *'."""
    k = t.kind
    if k == Kind.INT:
        return f"{'' if t.signed else 'unsigned '}int{t.size * 8}"
    if k == Kind.STRING:
        return f"string[{t.size}]"
    if k == Kind.TUPLE:
        return "(" + ",".join(type_name(e) for e in t.elems) + ")"
    if k == Kind.POINTER:
        inner = t.name or (type_name(t.elems[0]) if t.elems else "void")
        return f"{inner} *"
    if k == Kind.RECORD:
        return t.name
    if k == Kind.ARRAY:
        return f"{type_name(t.elems[0])}[{t.size // max(1, t.elems[0].size)}]"
    if k == Kind.BUFFER:
        return f"buffer[{t.size}]"
    return k.value
