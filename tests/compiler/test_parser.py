"""Parser tests: one-liners compared structurally (spans ignored), attach points, the C
preamble, `#define`, the seed one-liners, the `-d` AST dump against bpftrace 0.17's, and
robustness (deep nesting, big programs, odd input)."""
from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest

from bpftrace_compiler import ast as A
from bpftrace_compiler.ast_printer import format_ast
from bpftrace_compiler.attach_points import parse_attach_point
from bpftrace_compiler.diagnostics import CompileError
from bpftrace_compiler.parser import parse
from bpftrace_compiler.source import Span
from bpftrace_compiler.tree_to_ast import MAX_NESTING

I, S, V, M, B = A.Integer, A.String, A.Variable, A.Map, A.Builtin


def body(src: str) -> list:
    """The statements of the only probe of `BEGIN { src }`."""
    return parse("BEGIN { " + src + " }").probes[0].body


def expr(src: str):
    """The expression `src`, parsed as `$x = src`."""
    (stmt,) = body(f"$x = {src}")
    return stmt.expr


# ------------------------------------------------------------------ expressions

@pytest.mark.parametrize("src, expected", [
    ("1 + 2 * 3", A.Binop("+", I(1), A.Binop("*", I(2), I(3)))),
    ("1 - 2 - 3", A.Binop("-", A.Binop("-", I(1), I(2)), I(3))),
    ("1 << 2 + 3", A.Binop("<<", I(1), A.Binop("+", I(2), I(3)))),
    ("1 < 2 == 3 > 4", A.Binop("==", A.Binop("<", I(1), I(2)), A.Binop(">", I(3), I(4)))),
    ("1 | 2 ^ 3 & 4", A.Binop("|", I(1), A.Binop("^", I(2), A.Binop("&", I(3), I(4))))),
    ("1 || 2 && 3", A.Binop("||", I(1), A.Binop("&&", I(2), I(3)))),
    ("1 && 2 | 3", A.Binop("&&", I(1), A.Binop("|", I(2), I(3)))),
    ("1 % 2 / 3", A.Binop("/", A.Binop("%", I(1), I(2)), I(3))),
    ("1 >= 2 != 3 <= 4", A.Binop("!=", A.Binop(">=", I(1), I(2)), A.Binop("<=", I(3), I(4)))),
    ("(1 + 2) * 3", A.Binop("*", A.Binop("+", I(1), I(2)), I(3))),
    ("1 ? 2 : 3 ? 4 : 5", A.Ternary(I(1), I(2), A.Ternary(I(3), I(4), I(5)))),
    ("1 || 0 ? 2 : 3", A.Ternary(A.Binop("||", I(1), I(0)), I(2), I(3))),
    ("-1", I(-1)),
    ("-(1)", A.Unop("-", I(1))),
    ("- -1", A.Unop("-", I(-1))),
    ("!~$y", A.Unop("!", A.Unop("~", V("$y")))),
    ("*$p", A.Unop("*", V("$p"))),
    ("-$a * 2", A.Binop("*", A.Unop("-", V("$a")), I(2))),
    ("$a - -2", A.Binop("-", V("$a"), I(-2))),
    ("0x10", I(16)), ("010", I(8)), ("1_000", I(1000)), ("2e3", I(2000)),
    ("5U", I(5)), ("6LL", I(6)), ("7UL", I(7)), ("0xffffffffffffffff", I(2**64 - 1)),
    ('"a\\tb\\n\\"q\\\\"', S('a\tb\n"q\\')), ('"\\101\\x41\\0"', S("AA\0")),
    ("pid", B("pid")), ("arg0", B("arg0")), ("sarg3", B("sarg3")), ("retval", B("retval")),
    ("kstack", B("kstack")), ("args", B("args")), ("FOO", A.Identifier("FOO")),
    ("$1", A.PositionalParameter(1)), ("$#", A.PositionalCount()),
    ("@", M("@")), ("@m[1, pid]", M("@m", [I(1), B("pid")])),
    ("count()", A.Call("count")), ("kstack(perf, 3)", A.Call("kstack", [A.Identifier("perf"), I(3)])),
    ("printf(\"%d\", 1)", A.Call("printf", [S("%d"), I(1)])),
    ("foo(1)", A.Call("foo", [I(1)])),
    ("(1, \"a\")", A.Tuple([I(1), S("a")])),
    ("(1, (2, 3))", A.Tuple([I(1), A.Tuple([I(2), I(3)])])),
    ("$t.0", A.FieldAccess(V("$t"), index=0)),
    ("$t.1.0", A.FieldAccess(A.FieldAccess(V("$t"), index=1), index=0)),
    ("args->filename", A.FieldAccess(B("args"), field="filename", arrow=True)),
    ("$s.a.b", A.FieldAccess(A.FieldAccess(V("$s"), field="a"), field="b")),
    ("$p->if", A.FieldAccess(V("$p"), field="if", arrow=True)),
    ("$a[3]", A.ArrayAccess(V("$a"), I(3))),
    ("args->argv[1]", A.ArrayAccess(A.FieldAccess(B("args"), field="argv", arrow=True), I(1))),
    ("(uint32)5", A.Cast(A.TypeName("uint32"), I(5))),
    ("(int8 *)$p", A.Cast(A.TypeName("int8", pointer_depth=1), V("$p"))),
    ("(int8[8])$p", A.Cast(A.TypeName("int8", array_len=8), V("$p"))),
    ("(struct task_struct *)curtask",
     A.Cast(A.TypeName("struct task_struct", pointer_depth=1), B("curtask"))),
    ("(struct foo **)0", A.Cast(A.TypeName("struct foo", pointer_depth=2), I(0))),
    ("(union u *)0", A.Cast(A.TypeName("union u", pointer_depth=1), I(0))),
    ("(pid_t)1", A.Cast(A.TypeName("pid_t"), I(1))),
    ("(u64 *)1", A.Cast(A.TypeName("u64", pointer_depth=1), I(1))),
    ("(uint8)-1", A.Cast(A.TypeName("uint8"), I(-1))),
    ("sizeof(int32)", A.Sizeof(A.TypeName("int32"))),
    ("sizeof(struct foo)", A.Sizeof(A.TypeName("struct foo"))),
    ("sizeof(u64)", A.Sizeof(A.TypeName("u64"))),
    ("sizeof($x)", A.Sizeof(V("$x"))),
    ("offsetof(struct foo, bar)", A.Offsetof(A.TypeName("struct foo"), ["bar"])),
    ("offsetof(struct foo, a.b)", A.Offsetof(A.TypeName("struct foo"), ["a", "b"])),
    ("str(*uaddr(\"x\"))", A.Call("str", [A.Unop("*", A.Call("uaddr", [S("x")]))])),
    ("@m[1]++", A.Unop("++", M("@m", [I(1)]), is_post=True)),
    ("--$y", A.Unop("--", V("$y"))),
])
def test_expression(src, expected):
    assert expr(src) == expected


# ------------------------------------------------------------------ statements

@pytest.mark.parametrize("src, expected", [
    ("@x = 1", [A.AssignMap(M("@x"), I(1))]),
    ("@x[1, 2] = 1;", [A.AssignMap(M("@x", [I(1), I(2)]), I(1))]),
    ("$x = 1; $y = $x", [A.AssignVar(V("$x"), I(1)), A.AssignVar(V("$y"), V("$x"))]),
    ("@x += 2", [A.AssignMap(M("@x"), A.Binop("+", M("@x"), I(2)))]),
    ("@x[pid] <<= 1", [A.AssignMap(M("@x", [B("pid")]),
                                   A.Binop("<<", M("@x", [B("pid")]), I(1)))]),
    ("$v -= 1", [A.AssignVar(V("$v"), A.Binop("-", V("$v"), I(1)))]),
    *[(f"$v {op}= 3", [A.AssignVar(V("$v"), A.Binop(op, V("$v"), I(3)))])
      for op in ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]],
    ("@x++; ++@x; $y--; --$y", [
        A.ExprStatement(A.Unop("++", M("@x"), is_post=True)),
        A.ExprStatement(A.Unop("++", M("@x"))),
        A.ExprStatement(A.Unop("--", V("$y"), is_post=True)),
        A.ExprStatement(A.Unop("--", V("$y")))]),
    ("exit()", [A.ExprStatement(A.Call("exit"))]),
    ("", []),
    ("if (1) { @a = 1 }", [A.If(I(1), [A.AssignMap(M("@a"), I(1))])]),
    ("if (1) { } else { exit() }", [A.If(I(1), [], [A.ExprStatement(A.Call("exit"))])]),
    ("if (1) { } else if (2) { } else { }", [A.If(I(1), [], [A.If(I(2), [], [])])]),
    ("if (1) { } else if (2) { } else if (3) { return }",
     [A.If(I(1), [], [A.If(I(2), [], [A.If(I(3), [A.Jump("return")])])])]),
    ("if (1) { } @x = 1", [A.If(I(1), []), A.AssignMap(M("@x"), I(1))]),
    ("unroll(3) { @y++ }", [A.Unroll(I(3), [A.ExprStatement(A.Unop("++", M("@y"), is_post=True))])]),
    ("unroll($1) { }", [A.Unroll(A.PositionalParameter(1), [])]),
    ("while ($i < 10) { break; continue }", [
        A.While(A.Binop("<", V("$i"), I(10)), [A.Jump("break"), A.Jump("continue")])]),
    ("return;", [A.Jump("return")]),
])
def test_statements(src, expected):
    assert body(src) == expected


# ------------------------------------------------------------------ probes and program

def test_probe_shape_and_predicate():
    prog = parse("k:f, t:a:b /pid == 1/ { @[comm] = count(); } END { }")
    first, second = prog.probes
    assert [ap.provider for ap in first.attach_points] == ["kprobe", "tracepoint"]
    assert first.predicate == A.Binop("==", B("pid"), I(1))
    assert first.body == [A.AssignMap(M("@", [B("comm")]), A.Call("count"))]
    assert second.attach_points[0].provider == "END" and second.body == []


@pytest.mark.parametrize("src", [
    "BEGIN /1/ /* c */ { }",
    "BEGIN\n/1/\n{ }",
    "BEGIN /pid/{ }",
    "BEGIN /1 / 2/ { }",
])
def test_predicate_ends_at_slash_before_brace(src):
    assert parse(src).probes[0].predicate is not None


def test_predicate_division():
    assert parse("BEGIN /4 / 2 == 2/ { }").probes[0].predicate == \
        A.Binop("==", A.Binop("/", I(4), I(2)), I(2))


def test_attach_points_across_lines_and_comments():
    prog = parse("// hi\nkprobe:a,\n  kprobe:b /* c */ ,kprobe:c\n{ }")
    assert [ap.func for ap in prog.probes[0].attach_points] == ["a", "b", "c"]


def test_preamble_and_shebang():
    src = textwrap.dedent("""\
        #!/usr/bin/env bpftrace
        #include <linux/sched.h>
        struct foo { int a; struct { int b; } c; };
        union u { int x; }
        enum e { A = 1, B };
        BEGIN { @ = (struct foo *)0; }
    """)
    prog = parse(src)
    texts = [d.text for d in prog.c_definitions]
    assert texts == ["#include <linux/sched.h>",
                     "struct foo { int a; struct { int b; } c; };",
                     "union u { int x; }", "enum e { A = 1, B };"]
    assert prog.c_definitions[1].span == Span(3, 1, 3, 44)
    assert prog.probes[0].span.line == 6


def test_define_substitutes_identifiers():
    prog = parse("#define MAX 5\n#define NAME \"x\"\n#define EXPR (MAX + 1)\n"
                 "BEGIN { @[NAME] = MAX; $y = EXPR * 2; }")
    assign_map, assign_var = prog.probes[0].body
    assert assign_map == A.AssignMap(M("@", [S("x")]), I(5))
    assert assign_var.expr == A.Binop("*", A.Binop("+", I(5), I(1)), I(2))
    assert assign_map.expr.span == Span(4, 19, 4, 22)       # located at the macro's use


def test_recursive_define_is_an_error():
    with pytest.raises(CompileError, match="expands recursively"):
        parse("#define A B\n#define B A\nBEGIN { @ = A; }")


def test_crlf_and_unicode_in_strings():
    prog = parse('BEGIN {\r\n  printf("h\u00e9 \U0001f389\\n");\r\n}\r\n')
    assert prog.probes[0].body == [A.ExprStatement(A.Call("printf", [S("h\u00e9 \U0001f389\n")]))]


def test_positions_are_one_based_end_exclusive():
    prog = parse("BEGIN {\n  @x = 10 + $y;\n}")
    stmt = prog.probes[0].body[0]
    assert stmt.map.span == Span(2, 3, 2, 5)
    assert stmt.expr.span == Span(2, 11, 2, 12)      # bpftrace locates a binop at its operator
    assert stmt.expr.right.span == Span(2, 13, 2, 15)
    assert prog.probes[0].attach_points[0].span == Span(1, 1, 1, 6)


SEED = Path("/work/shared/reference/seed-oneliners.md")


def _seed_programs() -> list[str]:
    if not SEED.exists():
        return []
    out = []
    for line in SEED.read_text().splitlines():
        line = line.strip()
        if "{" not in line or line.startswith(("-", "uprobe:/bin/bash:readline { ...")):
            continue
        out.append(re.sub(r"\s{2,}\(.*\)$", "", line))
    return out


@pytest.mark.skipif(not SEED.exists(), reason="seed one-liner list not present")
@pytest.mark.parametrize("src", _seed_programs())
def test_seed_oneliners_parse(src):
    prog = parse(src)
    assert prog.probes and all(p.attach_points for p in prog.probes)


# ------------------------------------------------------------------ attach points

@pytest.mark.parametrize("raw, fields", [
    ("BEGIN", dict(provider="BEGIN")),
    ("begin", dict(provider="BEGIN")),
    ("end", dict(provider="END")),
    ("interval:s:5", dict(provider="interval", target="s", func="5", freq=5)),
    ("i:ms:100", dict(provider="interval", target="ms", freq=100)),
    ("profile:hz:99", dict(provider="profile", target="hz", freq=99)),
    ("p:hz:99", dict(provider="profile", target="hz", freq=99)),
    ("software:faults:1", dict(provider="software", target="faults", freq=1)),
    ("s:cpu-clock", dict(provider="software", target="cpu-clock", freq=None)),
    ("h:cycles:1000", dict(provider="hardware", target="cycles", freq=1000)),
    ("tracepoint:syscalls:sys_enter_*", dict(provider="tracepoint", target="syscalls",
                                             func="sys_enter_*")),
    ("t:block:*", dict(provider="tracepoint", target="block", func="*")),
    ("uprobe:/bin/bash:readline", dict(provider="uprobe", target="/bin/bash", func="readline")),
    ("ur:/bin/bash:readline", dict(provider="uretprobe", target="/bin/bash")),
    ("uprobe:libc:malloc+4", dict(target="libc", func="malloc", offset=4)),
    ("uprobe:/bin/x:0x1234", dict(target="/bin/x", func="", address=0x1234)),
    ("usdt:/path:ns:name", dict(provider="usdt", target="/path", ns="ns", func="name")),
    ("usdt:/path:name", dict(provider="usdt", target="/path", ns="", func="name")),
    ("U:/path:name", dict(provider="usdt", func="name")),
    ("kprobe:vfs_read+16", dict(provider="kprobe", func="vfs_read", offset=16)),
    ("k:vfs_*", dict(provider="kprobe", func="vfs_*")),
    ("kr:vfs_read", dict(provider="kretprobe", func="vfs_read")),
    ("rawtracepoint:sched_switch", dict(provider="rawtracepoint", func="sched_switch")),
    ("rt:sched_switch", dict(provider="rawtracepoint", func="sched_switch")),
    ("iter:task", dict(provider="iter", func="task")),
    ("it:task_file", dict(provider="iter", func="task_file")),
    ("f:vfs_read", dict(provider="kfunc", func="vfs_read")),
    ("fentry:vfs_read", dict(provider="kfunc", func="vfs_read")),
    ("fexit:vfs_read", dict(provider="kretfunc", func="vfs_read")),
    ("fr:vfs_read", dict(provider="kretfunc", func="vfs_read")),
    ("w:0x1000:8:rw", dict(provider="watchpoint", address=0x1000, freq=8, func="rw")),
    ("interval:s:$1", dict(provider="interval", target="s", func="$1", freq=None)),
    ("uprobe:$1:main", dict(provider="uprobe", target="$1", func="main")),
    ('uprobe:"/a b/c":f', dict(provider="uprobe", target="/a b/c", func="f")),
])
def test_attach_point_fields(raw, fields):
    ap = parse_attach_point(raw)
    assert ap.raw == raw
    for name, value in fields.items():
        assert getattr(ap, name) == value, name


def test_attach_points_in_program_keep_positional_text():
    ap = parse("uprobe:$1:main, i:s:$2 { }").probes[0].attach_points
    assert [a.raw for a in ap] == ["uprobe:$1:main", "i:s:$2"]
    assert ap[1].span == Span(1, 17, 1, 23)


@pytest.mark.parametrize("raw, message", [
    ("foo:bar", "Invalid probe type: foo"),
    ("tracepoint:a", "tracepoint probe type requires 2 arguments"),
    ("interval:s", "interval probe type requires 2 arguments"),
    ("uprobe:/bin/bash", "uprobe probe type requires 2 arguments"),
    ("BEGIN:x", "BEGIN probe type requires 0 arguments"),
    ("software:faults:1:2", "software probe type requires 1 or 2 arguments"),
    ("usdt:a:b:c:d", "usdt probe type requires 2 or 3 arguments"),
    ("iter:task:x:y", "iter probe type takes 2 arguments (1 optional)"),
    ("uprobe:/bin/bash:readline+1+2", "Cannot take more than one offset"),
    ("kretprobe:f+1", "Offset not allowed"),
    ("interval:s:abc", "Invalid interval rate: abc"),
    ("interval:x:1", "interval unit must be one of s, ms, us, hz; got 'x'"),
    ("interval:s:0", "interval rate must be greater than 0"),
    ("kprobe:f+x", "Invalid offset: x"),
])
def test_attach_point_errors(raw, message):
    with pytest.raises(CompileError) as exc:
        parse_attach_point(raw, Span(1, 1, 1, 1 + len(raw)))
    (diag,) = exc.value.diagnostics.items
    assert diag.message == message
    assert diag.span == Span(1, 1, 1, 1 + len(raw))


# ------------------------------------------------------------------ the -d dump

# Captured with `bpftrace -d -e '<program>'` (0.17), section "AST after: parser".
DUMPS = {
    'k:f,t:a:b /arg0 > 1 && !(comm == "x")/ { $a = args->foo.bar; $b = $a[3]; '
    '$d = sizeof($a); $f = kstack(perf, 3); @[ustack(3)] = count(); }': """\
        Program
         kprobe:f
         tracepoint:a:b
          pred
           && :: type[none, ctx: 0]
            > :: type[none, ctx: 0]
             builtin: arg0 :: type[none, ctx: 0]
             int: 1 :: type[none, ctx: 0]
            !
             == :: type[none, ctx: 0]
              builtin: comm :: type[none, ctx: 0]
              string: x :: type[none, ctx: 0]
          =
           variable: $a :: type[none, ctx: 0]
           .
            .
             dereference
              builtin: args :: type[none, ctx: 0]
             foo
            bar
          =
           variable: $b :: type[none, ctx: 0]
           []
            variable: $a :: type[none, ctx: 0]
            int: 3 :: type[none, ctx: 0]
          =
           variable: $d :: type[none, ctx: 0]
           call: sizeof :: type[none, ctx: 0]
            variable: $a :: type[none, ctx: 0]
          =
           variable: $f :: type[none, ctx: 0]
           call: kstack :: type[none, ctx: 0]
            stack_mode: perf :: type[none, ctx: 0]
            int: 3 :: type[none, ctx: 0]
          =
           map: @ :: type[none, ctx: 0]
            call: ustack :: type[none, ctx: 0]
             int: 3 :: type[none, ctx: 0]
           call: count :: type[none, ctx: 0]
        """,
    'BEGIN { @a[1,2] += 3; ++@b; @c--; $y = -1; $z = !~-*$x; @ = 1 ? 2 : 3; '
    '$t = (1, "a\\tb"); print($t.0); $u = (uint32)5; $s = "\\x01\\r"; '
    '@m = 0xffffffffffffffff; }': """\
        Program
         BEGIN
          =
           map: @a :: type[none, ctx: 0]
            int: 1 :: type[none, ctx: 0]
            int: 2 :: type[none, ctx: 0]
           + :: type[none, ctx: 0]
            map: @a :: type[none, ctx: 0]
             int: 1 :: type[none, ctx: 0]
             int: 2 :: type[none, ctx: 0]
            int: 3 :: type[none, ctx: 0]
          ++
           map: @b :: type[none, ctx: 0]
          map: @c :: type[none, ctx: 0]
           --
          =
           variable: $y :: type[none, ctx: 0]
           int: -1 :: type[none, ctx: 0]
          =
           variable: $z :: type[none, ctx: 0]
           !
            ~
             -
              dereference
               variable: $x :: type[none, ctx: 0]
          =
           map: @ :: type[none, ctx: 0]
           ?:
            int: 1 :: type[none, ctx: 0]
            int: 2 :: type[none, ctx: 0]
            int: 3 :: type[none, ctx: 0]
          =
           variable: $t :: type[none, ctx: 0]
           tuple:
            int: 1 :: type[none, ctx: 0]
            string: a\\tb :: type[none, ctx: 0]
          call: print :: type[none, ctx: 0]
           .
            variable: $t :: type[none, ctx: 0]
            0
          =
           variable: $u :: type[none, ctx: 0]
           (uint32)
            int: 5 :: type[none, ctx: 0]
          =
           variable: $s :: type[none, ctx: 0]
           string: \\x01\\r :: type[none, ctx: 0]
          =
           map: @m :: type[none, ctx: 0]
           int: -1 :: type[none, ctx: 0]
        """,
    'BEGIN { if (1) { exit() } else if (2) { print(1) } unroll(3) { @y++ } '
    'while (1) { break; } }': """\
        Program
         BEGIN
          if
           int: 1 :: type[none, ctx: 0]
           then
            call: exit :: type[none, ctx: 0]
           else
            if
             int: 2 :: type[none, ctx: 0]
             then
              call: print :: type[none, ctx: 0]
               int: 1 :: type[none, ctx: 0]
          unroll
           int: 3 :: type[none, ctx: 0]
           block
            map: @y :: type[none, ctx: 0]
             ++
          while(
           int: 1 :: type[none, ctx: 0]
           )
            break
        """,
    'struct foo { int a; } uprobe:/bin/bash:0x10, u:/bin/bash:readline+4, '
    'i:ms:100, p:hz:99 { $p = (struct foo *)0; }': """\
        struct foo { int a; };

        Program
         uprobe:/bin/bash:16
         uprobe:/bin/bash:readline+4
         interval:ms:100
         profile:hz:99
          =
           variable: $p :: type[none, ctx: 0]
           (struct foo*)
            int: 0 :: type[none, ctx: 0]
        """,
}


@pytest.mark.parametrize("src", list(DUMPS))
def test_ast_dump_matches_bpftrace(src):
    assert format_ast(parse(src)) == textwrap.dedent(DUMPS[src])


# ------------------------------------------------------------------ robustness

def _parse_or_error(src: str):
    """parse() either returns a Program or raises CompileError with a location."""
    try:
        return parse(src)
    except CompileError as err:
        (diag,) = err.diagnostics.errors
        assert diag.span is not None and diag.span.line >= 1
        assert str(err).startswith("stdin:")
        return err


def test_twenty_thousand_parentheses_give_the_literal():
    prog = parse("BEGIN { @ = " + "(" * 20000 + "1" + ")" * 20000 + "; }")
    assert prog.probes[0].body == [A.AssignMap(M("@"), I(1))]


@pytest.mark.parametrize("src", [
    "BEGIN { @ = " + "!" * 100000 + "1; }",
    "BEGIN { @ = " + "- " * 50000 + "1; }",
    "BEGIN { @ = " + " + ".join(["1"] * 100000) + "; }",
    "BEGIN { @ = " + "(" * 5000 + "1" + " + 1)" * 5000 + "; }",
    "BEGIN { " + "if (1) { " * 5000 + "}" * 5000 + " }",
    "BEGIN { " + "while (1) { " * 3000 + "}" * 3000 + " }",
    "BEGIN { @ = " + "$t." * 1000 + "0; }",
    "BEGIN { @ = " + "f(" * 3000 + ")" * 3000 + "; }",
])
def test_deep_nesting_is_a_located_error(src):
    err = _parse_or_error(src)
    assert isinstance(err, CompileError)
    assert "nesting is too deep" in str(err) or "syntax error" in str(err)


def test_nesting_just_under_the_limit_parses():
    depth = MAX_NESTING - 5
    prog = parse("BEGIN { @ = " + " + ".join(["1"] * depth) + "; }")
    node, seen = prog.probes[0].body[0].expr, 0
    while isinstance(node, A.Binop):
        node, seen = node.left, seen + 1
    assert seen == depth - 1


def test_unbalanced_braces_are_errors():
    assert isinstance(_parse_or_error("BEGIN " + "{" * 20000), CompileError)
    assert isinstance(_parse_or_error("BEGIN { }" + "}" * 20000), CompileError)


def test_megabyte_program_parses_in_seconds():
    probe = ('tracepoint:syscalls:sys_enter_read /pid == {i}/ {{ @a[{i}, comm] = count(); '
             '$x = {i} + 2 * 3; if ($x > 1) {{ printf("%d %s\\n", $x, comm); }} }}\n')
    src = "".join(probe.format(i=i) for i in range(7200))
    assert len(src) > 1_000_000
    start = time.process_time()
    prog = parse(src)
    assert len(prog.probes) == 7200
    assert time.process_time() - start < 15        # a few seconds on an idle core


@pytest.mark.parametrize("src", [
    "BEGIN { \x00 }", "BEGIN { @ = \udcff; }", "\ufeffBEGIN { }", "BEGIN { @\u00e9 = 1 }",
    "BEGIN { @x = 18446744073709551616; }", "BEGIN { @x = " + "9" * 100000 + "; }",
    "BEGIN { $x = $99999999999999999999; }", "BEGIN { /* unterminated", "\x00" * 100,
    "\r\n\r\n", "BEGIN { $x = 1e99999999; }", "BEGIN { $x = 09; }",
])
def test_hostile_input_is_a_located_error(src):
    assert isinstance(_parse_or_error(src), CompileError)


def test_largest_u64_literal_parses():
    assert expr("18446744073709551615") == I(2**64 - 1)


# Programs whose `-d` dump the installed bpftrace 0.17 prints and we must reproduce.
LIVE_DUMPS = [
    'BEGIN { $x = $#; unroll(2) { @a = 1 } delete(@m[1]); print(@m, 3, 100); clear(@m); }',
    't:syscalls:sys_enter_execve { @[args->argv[1], str(args->filename, 8)] = count(); '
    'printf("%s %-6d %x\\n", comm, pid, 0x10); }',
    'BEGIN { $t = ((1, 2), "x"); $a = $t.0.1; @x = !@y; @z = ~(1 + 2); @w = -(@x * 2); }',
    'BEGIN { @ = (int16)-1; @b = (uint64 *)curtask; @c = *(uint8 *)arg0; }',
    'BEGIN { $x = 1; $x *= 2; $x /= 3; $x %= 4; $x &= 5; $x |= 6; $x ^= 7; $x <<= 1; }',
    'profile:hz:99 /cpu == 0/ { @[kstack] = count(); } interval:s:1 { print(@); clear(@); }',
    'BEGIN { @x = "abc\\n\\t\\"\\\\"; @y = "%d%%"; @z = ""; }',
    'BEGIN { @x = 1 == 2 ? "yes" : "no"; @y = 1 ? 2 ? 3 : 4 : 5; }',
    'BEGIN { $p = (struct task_struct *)curtask; @ = $p->parent->pid; }',
    'k:vfs_read+8, kr:vfs_read { @ = retval; }',
    'struct foo { int a; } BEGIN { $x = (struct foo *)0; @ = $x->a; }',
    'software:page-faults:100, hardware:cycles:1000000 { @ = count(); }',
    't:sched:sched_switch { @[args->prev_comm] = hist(args->prev_pid); '
    '@l = lhist(args->prev_pid, 0, 100, 10); }',
]


def _bpftrace_dump(src: str) -> str:
    import subprocess
    out = subprocess.run(["bpftrace", "-d", "-e", src], capture_output=True, text=True,
                         timeout=60)
    text = out.stdout + out.stderr
    banner = "AST after: parser\n-------------------\n"
    assert banner in text, text
    dump = text.split(banner, 1)[1]
    head, program = dump.split("Program\n", 1)        # head: the C definitions, if any
    return head + "Program\n" + program.split("\n\n", 1)[0] + "\n"


@pytest.mark.bpftrace
@pytest.mark.parametrize("src", LIVE_DUMPS)
def test_ast_dump_matches_installed_bpftrace(src):
    import shutil
    if shutil.which("bpftrace") is None:
        pytest.skip("bpftrace not installed")
    assert format_ast(parse(src)) == _bpftrace_dump(src)
