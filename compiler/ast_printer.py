"""The AST dump `-d` prints, in bpftrace 0.17's Printer format.

Owns `format_ast(program)`: C definitions, then `Program`, one indented line per node, one
space of indent per level, expressions suffixed with ` :: type[<type or none>, ctx: 0]`.
0.17 spellings are kept: `->` prints as `.` over `dereference`, unary `*` as `dereference`,
`sizeof` as a call, integers as signed 64-bit.  The "AST after: ..." banner is the caller's.
Walks with an explicit stack, so any AST depth prints.
"""
from __future__ import annotations

from typing import Callable

from . import ast
from .attach_points import format_attach_point

_STACK_MODES = {"perf", "bpftrace", "raw"}
_UNOP_NAMES = {"*": "dereference"}
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}

# A work item is either a ready line (depth, text) or a node to expand at a depth.
_Item = tuple[int, object]


def format_ast(program: ast.Program) -> str:
    """bpftrace's `-d` dump of `program` (without the "AST after:" banner)."""
    lines: list[str] = []
    if program.c_definitions:
        lines.append("".join(_c_definition(d) for d in program.c_definitions))
    lines.append("Program")
    stack: list[_Item] = [(0, p) for p in reversed(program.probes)]
    while stack:
        depth, item = stack.pop()
        if isinstance(item, str):
            lines.append(" " * depth + item)
            continue
        text, children = _expand(item, depth)
        if text is not None:
            lines.append(" " * depth + text)
        stack.extend(reversed(children))
    return "\n".join(lines) + "\n"


def _c_definition(d: ast.CDefinition) -> str:
    text = d.text.rstrip()
    if text.startswith("#"):
        return text + "\n"
    return text.rstrip(";").rstrip() + ";\n"


def escape_string(value: str) -> str:
    """A string literal's value the way the printer shows it (`\\n`, `\\x01`...)."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _type(node) -> str:
    t = getattr(node, "type", None)
    return f" :: type[{'none' if t is None else t}, ctx: 0]"


def _signed64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def type_text(t: ast.TypeName) -> str:
    """`struct foo*`, `int8[8]`: a TypeName as casts print it."""
    text = t.name + "*" * t.pointer_depth
    return text + (f"[{t.array_len}]" if t.array_len is not None else "")


def _expand(node, depth: int) -> tuple[str | None, list[_Item]]:
    """The line for `node` (or None) and the work items that follow it."""
    handler = _HANDLERS.get(type(node))
    if handler is None:
        return f"<{type(node).__name__}>", []
    return handler(node, depth)


def _at(depth: int, nodes) -> list[_Item]:
    return [(depth, n) for n in nodes]


def _probe(p: ast.Probe, d: int):
    items: list[_Item] = [(d + 1, format_attach_point(ap)) for ap in p.attach_points]
    if p.predicate is not None:
        items += [(d + 2, "pred"), (d + 3, p.predicate)]
    return None, items + _at(d + 2, p.body)


def _unop(n: ast.Unop, d: int):
    name = _UNOP_NAMES.get(n.op, n.op)
    if n.is_post:
        return None, [(d, n.expr), (d + 1, name)]
    return name, [(d + 1, n.expr)]


def _field(n: ast.FieldAccess, d: int):
    if n.index is not None:
        return ".", [(d + 1, n.expr), (d + 1, str(n.index))]
    if n.arrow:
        return ".", [(d + 1, "dereference"), (d + 2, n.expr), (d + 1, n.field)]
    return ".", [(d + 1, n.expr), (d + 1, n.field)]


def _sizeof(n: ast.Sizeof, d: int):
    return "call: sizeof" + _type(n), [(d + 1, n.target)]


def _offsetof(n: ast.Offsetof, d: int):
    return "offsetof" + _type(n), [(d + 1, n.target)] + [(d + 1, f) for f in n.fields]


def _if(n: ast.If, d: int):
    items = [(d + 1, n.cond), (d + 1, "then")] + _at(d + 2, n.then)
    if n.orelse:
        items += [(d + 1, "else")] + _at(d + 2, n.orelse)
    return "if", items


def _identifier(n: ast.Identifier, d: int):
    kind = "stack_mode" if n.name in _STACK_MODES else "identifier"
    return f"{kind}: {n.name}" + _type(n), []


_HANDLERS: dict[type, Callable[..., tuple[str | None, list[_Item]]]] = {
    ast.Probe: _probe,
    ast.Integer: lambda n, d: (f"int: {_signed64(n.value)}" + _type(n), []),
    ast.String: lambda n, d: (f"string: {escape_string(n.value)}" + _type(n), []),
    ast.Builtin: lambda n, d: (f"builtin: {n.name}" + _type(n), []),
    ast.Identifier: _identifier,
    ast.PositionalParameter: lambda n, d: (f"param: ${n.index}" + _type(n), []),
    ast.PositionalCount: lambda n, d: ("param: $#" + _type(n), []),
    ast.Variable: lambda n, d: (f"variable: {n.name}" + _type(n), []),
    ast.Map: lambda n, d: (f"map: {n.name}" + _type(n), _at(d + 1, n.keys)),
    ast.Call: lambda n, d: (f"call: {n.func}" + _type(n), _at(d + 1, n.args)),
    ast.Binop: lambda n, d: (n.op + _type(n), [(d + 1, n.left), (d + 1, n.right)]),
    ast.Unop: _unop,
    ast.Ternary: lambda n, d: ("?:", _at(d + 1, [n.cond, n.left, n.right])),
    ast.FieldAccess: _field,
    ast.ArrayAccess: lambda n, d: ("[]", [(d + 1, n.expr), (d + 1, n.index)]),
    ast.Cast: lambda n, d: (f"({type_text(n.target)})", [(d + 1, n.expr)]),
    ast.Tuple: lambda n, d: ("tuple:", _at(d + 1, n.elems)),
    ast.TypeName: lambda n, d: (f"identifier: {type_text(n)}" + _type(n), []),
    ast.Sizeof: _sizeof,
    ast.Offsetof: _offsetof,
    ast.ExprStatement: lambda n, d: (None, [(d, n.expr)]),
    ast.AssignMap: lambda n, d: ("=", [(d + 1, n.map), (d + 1, n.expr)]),
    ast.AssignVar: lambda n, d: ("=", [(d + 1, n.var), (d + 1, n.expr)]),
    ast.If: _if,
    ast.Unroll: lambda n, d: ("unroll", [(d + 1, n.count), (d + 1, "block")]
                              + _at(d + 2, n.body)),
    ast.While: lambda n, d: ("while(", [(d + 1, n.cond), (d + 1, ")")] + _at(d + 2, n.body)),
    ast.Jump: lambda n, d: (n.kind, []),
}

