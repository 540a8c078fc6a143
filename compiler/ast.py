"""The bpftrace abstract syntax tree.

Owns the node classes that the parser builds and every later pass reads: the program, its
probes and attach points, statements and expressions.  Every node carries a `span` (source
location, never compared) and expressions carry a `type` slot that the semantic pass fills in.
Must not import lark, llvmlite or anything from the loader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from .source import Span

NO_SPAN = Span(0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False, kw_only=True)


def _type():
    # Filled by the semantic pass: a bpftrace_compiler.types.SizedType.
    return field(default=None, compare=False, repr=False, kw_only=True)


# --------------------------------------------------------------------------- expressions

@dataclass(eq=True)
class Integer:
    value: int
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class String:
    value: str                      # escapes already decoded
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Builtin:
    """A builtin variable: pid, comm, nsecs, args, arg0, retval, kstack, ..."""
    name: str
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Identifier:
    """A bare word that is neither builtin nor call: a stack mode (`perf`), an enum, a type."""
    name: str
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class PositionalParameter:
    """`$1`..`$N` (index >= 1)."""
    index: int
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class PositionalCount:
    """`$#`."""
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Variable:
    """A scratch variable `$name`."""
    name: str                       # with the leading '$'
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Map:
    """`@name` or `@name[k1, k2]`; `keys` is empty for a keyless map (`@` alone is name "@")."""
    name: str                       # with the leading '@'
    keys: list["Expr"] = field(default_factory=list)
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Call:
    """A function call `name(args...)`; also builtins called with parentheses (`kstack(3)`)."""
    func: str
    args: list["Expr"] = field(default_factory=list)
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Binop:
    op: str                         # + - * / % & | ^ << >> == != < > <= >= && ||
    left: "Expr"
    right: "Expr"
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Unop:
    op: str                         # - ! ~ * (deref), ++ --
    expr: "Expr"
    is_post: bool = False           # x++ vs ++x
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Ternary:
    cond: "Expr"
    left: "Expr"
    right: "Expr"
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class FieldAccess:
    """`expr.field` or `expr->field`; tuple indexing `$t.0` has `index` set instead of `field`."""
    expr: "Expr"
    field: Optional[str] = None
    index: Optional[int] = None
    arrow: bool = False
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class ArrayAccess:
    expr: "Expr"
    index: "Expr"
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class TypeName:
    """A C type written in the source: `uint32`, `struct task_struct *`, `int8[4]`."""
    name: str                       # base name, e.g. "uint32", "struct task_struct"
    pointer_depth: int = 0
    array_len: Optional[int] = None
    span: Span = _span()


@dataclass(eq=True)
class Cast:
    target: TypeName
    expr: "Expr"
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Tuple:
    elems: list["Expr"]
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Sizeof:
    """`sizeof(type)` (target is a TypeName) or `sizeof(expr)`."""
    target: Union[TypeName, "Expr"]
    span: Span = _span()
    type: object = _type()


@dataclass(eq=True)
class Offsetof:
    target: TypeName
    fields: list[str]
    span: Span = _span()
    type: object = _type()


Expr = Union[Integer, String, Builtin, Identifier, PositionalParameter, PositionalCount,
             Variable, Map, Call, Binop, Unop, Ternary, FieldAccess, ArrayAccess, Cast,
             Tuple, Sizeof, Offsetof]

# --------------------------------------------------------------------------- statements


@dataclass(eq=True)
class ExprStatement:
    expr: Expr
    span: Span = _span()


@dataclass(eq=True)
class AssignMap:
    """`@m[k] = expr`.  Compound forms (`@m += 1`) are desugared by the parser into
    `AssignMap(m, Binop('+', m, 1))`."""
    map: Map
    expr: Expr
    span: Span = _span()


@dataclass(eq=True)
class AssignVar:
    var: Variable
    expr: Expr
    span: Span = _span()


@dataclass(eq=True)
class If:
    cond: Expr
    then: list["Statement"]
    orelse: list["Statement"] = field(default_factory=list)   # `else if` nests an If here
    span: Span = _span()


@dataclass(eq=True)
class Unroll:
    count: Expr                     # Integer or PositionalParameter
    body: list["Statement"]
    span: Span = _span()


@dataclass(eq=True)
class While:
    cond: Expr
    body: list["Statement"]
    span: Span = _span()


@dataclass(eq=True)
class Jump:
    kind: str                       # "break" | "continue" | "return"
    span: Span = _span()


Statement = Union[ExprStatement, AssignMap, AssignVar, If, Unroll, While, Jump]

# --------------------------------------------------------------------------- program


@dataclass(eq=True)
class AttachPoint:
    """One attach point as written, e.g. `tracepoint:syscalls:sys_enter_*`, `kprobe:f+16`.

    `provider` is the canonical provider name (`t` -> `tracepoint`, `i` -> `interval`...).
    `target` / `func` follow bpftrace's split: for tracepoint target=category func=event,
    for uprobe target=path func=symbol, for interval/profile target=unit func=rate,
    for software/hardware target=event func=count, for kprobe func=name.
    """
    raw: str
    provider: str
    target: str = ""
    func: str = ""
    offset: Optional[int] = None        # uprobe/kprobe `+off`
    address: Optional[int] = None       # uprobe `:0x1234`
    freq: Optional[int] = None          # interval/profile rate, software/hardware count
    ns: str = ""                        # usdt namespace
    span: Span = _span()


@dataclass(eq=True)
class Probe:
    attach_points: list[AttachPoint]
    predicate: Optional[Expr]
    body: list[Statement]
    span: Span = _span()


@dataclass(eq=True)
class CDefinition:
    """A preamble item: `#include <...>`, `#define`, or a struct/union/enum definition."""
    text: str
    span: Span = _span()


@dataclass(eq=True)
class Program:
    c_definitions: list[CDefinition]
    probes: list[Probe]
    span: Span = _span()
    column_shifts: tuple[tuple[int, int, int], ...] = ()    # see Source.column_shifts


Node = Union[Expr, Statement, AttachPoint, Probe, Program, TypeName, CDefinition]


def children(node) -> list:
    """The child nodes of `node`, in source order (for generic walkers)."""
    out = []
    for name in getattr(node, "__dataclass_fields__", {}):
        if name in ("span", "type"):
            continue
        value = getattr(node, name)
        if isinstance(value, list):
            out.extend(v for v in value if hasattr(v, "__dataclass_fields__"))
        elif hasattr(value, "__dataclass_fields__"):
            out.append(value)
    return out
