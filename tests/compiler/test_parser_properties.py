"""Property tests for the parser (hypothesis).

* Random expression trees, printed back to source with as few parentheses as C precedence
  allows, parse to the same AST: precedence, associativity and every expression form.
* Random text, random bytes (decoded the way the CLI does, 'surrogateescape') and random
  token soup never raise anything but CompileError.
"""
from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from bpftrace_compiler import ast as A  # noqa: E402
from bpftrace_compiler.diagnostics import CompileError  # noqa: E402
from bpftrace_compiler.parser import parse  # noqa: E402

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

BINARY = {  # operator -> precedence, loosest first (C's table)
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7,
    ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}
TERNARY_PREC, UNARY_PREC, POSTFIX_PREC = 0, 11, 12
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in {"if", "else", "unroll", "while", "for", "return", "continue", "break",
                        "struct", "union", "enum", "sizeof", "offsetof"})

# ------------------------------------------------------------------ random expressions

leaves = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1).map(A.Integer),
    st.integers(min_value=-(2**63), max_value=-1).map(A.Integer),
    st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=8).map(A.String),
    NAMES.map(lambda n: A.Variable("$" + n)),
    NAMES.map(lambda n: A.Map("@" + n)),
    st.sampled_from(["pid", "comm", "nsecs", "arg0", "retval", "args", "curtask"]).map(A.Builtin),
    st.integers(min_value=1, max_value=99).map(A.PositionalParameter),
    st.just(A.PositionalCount()),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(sorted(BINARY)), children, children).map(
            lambda t: A.Binop(t[0], t[1], t[2])),
        st.tuples(st.sampled_from(["-", "!", "~", "*"]), children).map(
            lambda t: A.Unop(t[0], t[1])),
        st.tuples(children, children, children).map(lambda t: A.Ternary(*t)),
        st.tuples(NAMES, st.lists(children, max_size=3)).map(
            lambda t: A.Call("f_" + t[0], t[1])),
        st.tuples(NAMES, st.lists(children, min_size=1, max_size=3)).map(
            lambda t: A.Map("@" + t[0], t[1])),
        st.lists(children, min_size=2, max_size=3).map(A.Tuple),
        st.tuples(children, NAMES, st.booleans()).map(
            lambda t: A.FieldAccess(t[0], field=t[1], arrow=t[2])),
        st.tuples(children, st.integers(min_value=0, max_value=9)).map(
            lambda t: A.FieldAccess(t[0], index=t[1])),
        st.tuples(children, children).map(lambda t: A.ArrayAccess(*t)),
        st.tuples(st.sampled_from(["uint8", "int64", "struct s"]),
                  st.integers(min_value=0, max_value=2), children).map(
            lambda t: A.Cast(A.TypeName(t[0], pointer_depth=t[1] if t[0] != "struct s" else 1),
                             t[2])),
        st.tuples(st.sampled_from(["++", "--"]), st.booleans(),
                  st.one_of(NAMES.map(lambda n: A.Variable("$" + n)),
                            NAMES.map(lambda n: A.Map("@" + n)))).map(
            lambda t: A.Unop(t[0], t[2], is_post=t[1])),
    )


expressions = st.recursive(leaves, _extend, max_leaves=15)

# ------------------------------------------------------------------ minimal-paren printer


def _prec(e) -> int:
    if isinstance(e, A.Binop):
        return BINARY[e.op]
    if isinstance(e, A.Ternary):
        return TERNARY_PREC
    if isinstance(e, A.Integer) and e.value < 0:
        return UNARY_PREC           # -5 is a literal, but prints like a unary minus
    if isinstance(e, (A.Unop, A.Cast)) and not getattr(e, "is_post", False):
        return UNARY_PREC
    return POSTFIX_PREC


_LEAVES = (A.String, A.Variable, A.Builtin, A.PositionalParameter, A.PositionalCount, A.Map,
           A.Call, A.Tuple)


def _wrap(e, need: bool, full: bool) -> str:
    text = show(e, full)
    composite = not isinstance(e, _LEAVES) and not (isinstance(e, A.Integer) and e.value >= 0)
    return f"({text})" if need or (full and composite) else text


def _escape(s: str) -> str:
    return "".join({"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}.get(c, c)
                   for c in s)


def show(e, full: bool = False) -> str:
    """Source for `e` with only the parentheses C precedence requires (`full`: around
    every operator and cast too)."""
    if isinstance(e, A.Integer):
        return str(e.value)
    if isinstance(e, A.String):
        return f'"{_escape(e.value)}"'
    if isinstance(e, (A.Variable, A.Builtin)):
        return e.name
    if isinstance(e, A.PositionalParameter):
        return f"${e.index}"
    if isinstance(e, A.PositionalCount):
        return "$#"
    if isinstance(e, A.Map):
        return e.name + (f"[{', '.join(show(k, full) for k in e.keys)}]" if e.keys else "")
    if isinstance(e, A.Call):
        return f"{e.func}({', '.join(show(a, full) for a in e.args)})"
    if isinstance(e, A.Tuple):
        return f"({', '.join(show(x, full) for x in e.elems)})"
    if isinstance(e, A.Binop):
        p = BINARY[e.op]
        return (f"{_wrap(e.left, _prec(e.left) < p, full)} {e.op} "
                f"{_wrap(e.right, _prec(e.right) <= p, full)}")
    if isinstance(e, A.Ternary):
        return (f"{_wrap(e.cond, _prec(e.cond) <= TERNARY_PREC, full)} ? "
                f"{show(e.left, full)} : {_wrap(e.right, False, full)}")
    if isinstance(e, A.Unop) and e.op in ("++", "--"):
        return f"{show(e.expr)}{e.op}" if e.is_post else f"{e.op}{show(e.expr)}"
    if isinstance(e, A.Unop):
        operand = _wrap(e.expr, _prec(e.expr) < UNARY_PREC, full)
        if e.op == "-" and isinstance(e.expr, A.Integer) and e.expr.value >= 0:
            operand = f"({operand})"            # keep it a Unop, not the literal -N
        return f"{e.op} {operand}"
    if isinstance(e, A.Cast):
        t = e.target
        operand = _wrap(e.expr, _prec(e.expr) < UNARY_PREC, full)
        return f"({t.name}{'*' * t.pointer_depth}){operand}"
    if isinstance(e, (A.FieldAccess, A.ArrayAccess)):
        keyless_map = isinstance(e.expr, A.Map) and not e.expr.keys     # `@a[0]` is a key
        base = _wrap(e.expr, _prec(e.expr) < POSTFIX_PREC or _is_post_incdec(e.expr)
                     or isinstance(e.expr, A.Integer)
                     or (keyless_map and isinstance(e, A.ArrayAccess)), full)
        if isinstance(e, A.ArrayAccess):
            return f"{base}[{show(e.index, full)}]"
        if e.index is not None:
            return f"{base}.{e.index}"
        return f"{base}{'->' if e.arrow else '.'}{e.field}"
    raise AssertionError(f"unprintable {e!r}")


def _is_post_incdec(e) -> bool:
    return isinstance(e, A.Unop) and e.is_post


def _parse_expr(src: str):
    (stmt,) = parse(f"BEGIN {{ $result = {src}; }}").probes[0].body
    return stmt.expr


@SETTINGS
@given(expressions)
def test_printed_expression_parses_back_to_the_same_tree(tree):
    assert _parse_expr(show(tree)) == tree


@SETTINGS
@given(expressions)
def test_fully_parenthesised_expression_parses_back(tree):
    assert _parse_expr(show(tree, full=True)) == tree


# ------------------------------------------------------------------ hostile input

def _parse_never_crashes(text: str) -> None:
    try:
        parse(text)
    except CompileError as err:
        assert str(err).startswith(("stdin:", "ERROR:"))


@SETTINGS
@given(st.text(max_size=200))
def test_random_text_only_raises_compile_error(text):
    _parse_never_crashes(text)


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_compile_error(data):
    _parse_never_crashes(data.decode("utf-8", "surrogateescape"))


VOCAB = ["BEGIN", "END", "k:f", "t:a:b", "uprobe:/bin/sh:main", "i:s:1", "{", "}", "(", ")",
         "[", "]", "/", ";", ",", ":", "?", "=", "+=", "++", "--", "-", "*", "!", "~", "&&",
         "||", "<<", "==", ".", "->", "$x", "$1", "$#", "@", "@m", "pid", "comm", "count",
         "printf", "kstack", "perf", "if", "else", "while", "unroll", "return", "break",
         "sizeof", "offsetof", "struct", "foo", "uint32", "1", "0x1f", "1_0", "\"s\\n\"",
         "#include <x.h>", "#define N 3", "N", "\n", " ", "/*c*/", "//c\n", "\x00", "'"]


@SETTINGS
@given(st.lists(st.sampled_from(VOCAB), max_size=40))
def test_token_soup_only_raises_compile_error(tokens):
    _parse_never_crashes(" ".join(tokens))


@SETTINGS
@given(st.lists(st.sampled_from(VOCAB), max_size=30))
def test_token_soup_inside_a_probe(tokens):
    _parse_never_crashes("BEGIN { " + " ".join(tokens) + " }")
