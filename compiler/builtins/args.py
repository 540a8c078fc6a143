"""Argument checks shared by the function entries, with bpftrace 0.17's messages.

Owns `nargs()` (argument counts: "requires no arguments", "requires one argument",
"takes up to N arguments"), `literal_string()` / `literal_int()` ("expects a string literal
(integer provided)") and `type_word()`, the coarse type name those messages use.  Errors
underline the whole call, as bpftrace does.
"""
from __future__ import annotations

from typing import Optional

from .. import ast
from ..types import Kind, SizedType, Str

_NUMBER_WORDS = {0: "no arguments", 1: "one argument"}


def type_word(t: Optional[SizedType]) -> str:
    if t is None:
        return "none"
    return {Kind.INT: "integer", Kind.STRING: "string", Kind.POINTER: "integer",
            Kind.CTX: "integer"}.get(t.kind, t.kind.value)


def nargs(c, n: ast.Call, low: int, high: int) -> bool:
    count = len(n.args)
    if low <= count <= high:
        return True
    if low == high:
        need = _NUMBER_WORDS.get(low, f"{low} arguments")
        c.error(f"{n.func}() requires {need} ({count} provided)", n.span)
    elif count < low:
        need = _NUMBER_WORDS.get(low, f"{low} arguments")
        c.error(f"{n.func}() requires at least {need} ({count} provided)", n.span)
    else:
        c.error(f"{n.func}() takes up to {high} arguments ({count} provided)", n.span)
    return False


def literal_string(c, n: ast.Call, node) -> Optional[str]:
    if isinstance(node, ast.String):
        node.type = Str(len(node.value.encode()) + 1)
        return node.value
    t = c.expr(node)
    c.error(f"{n.func}() expects a string literal ({type_word(t)} provided)", n.span)
    return None


def literal_int(c, n: ast.Call, node) -> Optional[int]:
    value = c.const_int(node)
    if value is not None:
        node.type = SizedType(Kind.INT, 8, True)
        return value
    t = c.expr(node)
    c.error(f"{n.func}() expects a integer literal ({type_word(t)} provided)", n.span)
    return None


def int_args(c, n: ast.Call, count: int) -> Optional[list[SizedType]]:
    """`count` integer arguments (sum, hist, ...): "only supports integer arguments"."""
    if not nargs(c, n, count, count):
        return None
    types = [c.expr(a) for a in n.args]
    if any(t is None for t in types):
        return None
    for t in types:
        if t.kind != Kind.INT:
            c.error(f"{n.func}() only supports integer arguments ({type_word(t)} provided)",
                    n.span)
            return None
    return types
