"""Syntax and attach point errors, compared with the text bpftrace 0.17 prints.

Every expected text below was captured by running `bpftrace -e '<program>'` (0.17, this
machine); the source line between the header and the underline is the program itself.
Where 0.17 prints several errors we compare its first.  Cases where our wording differs
on purpose (0.17 crashes, quirks) are tested separately with our own text.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from bpftrace_compiler.diagnostics import CompileError
from bpftrace_compiler.parser import parse
from bpftrace_compiler.source import Span

# (program, bpftrace's first line, bpftrace's underline line)
CAPTURED = [
    ('BEGIN { @x = 1 exit(); }',
     'stdin:1:16-20: ERROR: syntax error, unexpected call, expecting }',
     '               ~~~~'),
    ('BEGIN { @x = 1',
     'stdin:1:14-15: ERROR: syntax error, unexpected end of file, expecting }',
     '             ~'),
    ('BEGIN { @x = ; }',
     'stdin:1:14-15: ERROR: syntax error, unexpected ;',
     '             ~'),
    ('BEGIN { $x = (foo) + 1; }',
     'stdin:1:20-21: ERROR: syntax error, unexpected +',
     '                   ~'),
    ('BEGIN { $x = $0; }',
     'stdin:1:14-16: ERROR: param $0 is out of integer range [1, 9223372036854775807]',
     '             ~~'),
    ('BEGIN { $x = "a\\qb"; }',
     "stdin:1:14-18: ERROR: invalid escape character '\\q'",
     '             ~~~~'),
    ("BEGIN { $x = 'a'; }",
     "stdin:1:14-15: ERROR: invalid character '''",
     '             ~'),
    ('tracepoint:a { }',
     'stdin:1:1-13: ERROR: tracepoint probe type requires 2 arguments',
     '~~~~~~~~~~~~'),
    ('interval:s { }',
     'stdin:1:1-11: ERROR: interval probe type requires 2 arguments',
     '~~~~~~~~~~'),
    ('uprobe:/bin/bash { }',
     'stdin:1:1-17: ERROR: uprobe probe type requires 2 arguments',
     '~~~~~~~~~~~~~~~~'),
    ('software:faults:1:2 { }',
     'stdin:1:1-20: ERROR: software probe type requires 1 or 2 arguments',
     '~~~~~~~~~~~~~~~~~~~'),
    ('BEGIN:x { }',
     'stdin:1:1-8: ERROR: BEGIN probe type requires 0 arguments',
     '~~~~~~~'),
    ('uprobe:/bin/bash:readline+1+2 { }',
     'stdin:1:1-30: ERROR: Cannot take more than one offset',
     '~~~~~~~~~~~~~~~~~~~~~~~~~~~~~'),
    ('profile:hz:99:3 {}',
     'stdin:1:1-16: ERROR: profile probe type requires 2 arguments',
     '~~~~~~~~~~~~~~~'),
    ('kretprobe:f+1 {}',
     'stdin:1:1-14: ERROR: Offset not allowed',
     '~~~~~~~~~~~~~'),
    ('watchpoint:0x1:8 {}',
     'stdin:1:1-17: ERROR: watchpoint probe type requires 3 arguments',
     '~~~~~~~~~~~~~~~~'),
    ('usdt:a:b:c:d {}',
     'stdin:1:1-13: ERROR: usdt probe type requires 2 or 3 arguments',
     '~~~~~~~~~~~~'),
    ('iter:task:x:y {}',
     'stdin:1:1-14: ERROR: iter probe type takes 2 arguments (1 optional)',
     '~~~~~~~~~~~~~'),
    ('BEGIN { if (1) { } else { } else { } }',
     'stdin:1:29-33: ERROR: syntax error, unexpected else, expecting }',
     '                            ~~~~'),
    ('BEGIN { if 1 { } }',
     'stdin:1:12-13: ERROR: syntax error, unexpected integer, expecting (',
     '           ~'),
    ('BEGIN { @x[] = 1; }',
     'stdin:1:9-13: ERROR: syntax error, unexpected ]',
     '        ~~~~'),
    ('BEGIN { $x = (1, ); }',
     'stdin:1:18-19: ERROR: syntax error, unexpected )',
     '                 ~'),
    ('BEGIN { $x = 1 +; }',
     'stdin:1:16-18: ERROR: syntax error, unexpected ;',
     '               ~~'),
    ('BEGIN { @x = 1; } }',
     'stdin:1:19-20: ERROR: syntax error, unexpected }, expecting {',
     '                  ~'),
    ('BEGIN { @x = 1; }}',
     'stdin:1:17-19: ERROR: syntax error, unexpected }, expecting {',
     '                ~~'),
    ('BEGIN { printf("%d\\n" 1); }',
     'stdin:1:23-24: ERROR: syntax error, unexpected integer, expecting ) or ","',
     '                      ~'),
    ('BEGIN { @x = (1 + 2; }',
     'stdin:1:19-21: ERROR: syntax error, unexpected ;, expecting ) or ","',
     '                  ~~'),
    ('BEGIN { @x = 1 + 2); }',
     'stdin:1:18-20: ERROR: syntax error, unexpected ), expecting }',
     '                 ~~'),
    ('BEGIN { $x++ = 1; }',
     'stdin:1:14-15: ERROR: syntax error, unexpected =, expecting }',
     '             ~'),
    ('BEGIN { @x = 1;; }',
     'stdin:1:14-17: ERROR: syntax error, unexpected ;, expecting }',
     '             ~~~'),
    ('BEGIN { unroll(a) { } }',
     'stdin:1:9-17: ERROR: syntax error, unexpected identifier, expecting $# or - or positional parameter or integer',
     '        ~~~~~~~~'),
    ('BEGIN { while 1 { } }',
     'stdin:1:15-16: ERROR: syntax error, unexpected integer, expecting (',
     '              ~'),
    ('BEGIN { $t = (1, 2); $t.0 = 3; }',
     'stdin:1:22-30: ERROR: Tuples are immutable once created. Consider creating a new tuple and assigning it instead.',
     '                     ~~~~~~~~'),
    ('BEGIN { $x = "abc',
     'stdin:1:14-18: ERROR: unterminated string',
     '             ~~~~'),
    ('BEGIN { @x = 1 } END { @y = 2',
     'stdin:1:29-30: ERROR: syntax error, unexpected end of file, expecting }',
     '                            ~'),
    ('BEGIN / {}',
     'stdin:1:7-8: ERROR: syntax error, unexpected end predicate, expecting {',
     '      ~'),
    ('BEGIN { @ = *; }',
     'stdin:1:13-15: ERROR: syntax error, unexpected ;',
     '            ~~'),
    ('BEGIN { $x = $1a; }',
     'stdin:1:14-17: ERROR: syntax error, unexpected identifier, expecting }',
     '             ~~~'),
    ('BEGIN { @x = 1 } kprobe:f /pid == 1 { }',
     'stdin:1:37-38: ERROR: syntax error, unexpected {, expecting end predicate',
     '                                    ~'),
    ('BEGIN { x = 1; }',
     'stdin:1:11-12: ERROR: syntax error, unexpected =, expecting }',
     '          ~'),
    ('BEGIN { @x = 5 ? 1; }',
     'stdin:1:18-20: ERROR: syntax error, unexpected ;, expecting :',
     '                 ~~'),
    ('BEGIN',
     'stdin:1:1-6: ERROR: unexpected end of file, expected {',
     '~~~~~'),
    ('}',
     'stdin:1:1-2: ERROR: syntax error, unexpected }, expecting {',
     '~'),
    ('-d',
     'stdin:1:1-2: ERROR: syntax error, unexpected -, expecting {',
     '~'),
    ('BEGIN { @x = 1 +; }',
     'stdin:1:16-18: ERROR: syntax error, unexpected ;',
     '               ~~'),
    ('BEGIN { printf("a" "b"); }',
     'stdin:1:20-23: ERROR: syntax error, unexpected string, expecting ) or ","',
     '                   ~~~'),
    ('BEGIN { foo++; }',
     'stdin:1:9-12: ERROR: The ++ operator must be applied to a map or variable',
     '        ~~~'),
    ('BEGIN { ++foo; }',
     'stdin:1:9-11: ERROR: The ++ operator must be applied to a map or variable',
     '        ~~'),
    ('BEGIN { @x = (1,2,); }',
     'stdin:1:14-20: ERROR: syntax error, unexpected )',
     '             ~~~~~~'),
    ('BEGIN { @x = $; }',
     "stdin:1:14-15: ERROR: invalid character '$'",
     '             ~'),
    ('BEGIN { @x = 1 ` }',
     "stdin:1:16-17: ERROR: invalid character '`'",
     '               ~'),
    ('BEGIN { if (1) { } else ; }',
     'stdin:1:25-26: ERROR: syntax error, unexpected ;, expecting { or if',
     '                        ~'),
    ('BEGIN { @x = [1]; }',
     'stdin:1:14-15: ERROR: syntax error, unexpected [',
     '             ~'),
    ('BEGIN { printf("%d\\n", 1) exit() }',
     'stdin:1:27-31: ERROR: syntax error, unexpected call, expecting }',
     '                          ~~~~'),
    ('BEGIN { @x = count() }}',
     'stdin:1:22-24: ERROR: syntax error, unexpected }, expecting {',
     '                     ~~'),
    ('BEGIN { @x[1 = 2; }',
     'stdin:1:14-15: ERROR: syntax error, unexpected =, expecting ] or ","',
     '             ~'),
    ('BEGIN { @x = hist(; }',
     'stdin:1:14-20: ERROR: syntax error, unexpected ;',
     '             ~~~~~~'),
    ('BEGIN { if ($x) { exit() } else { }',
     'stdin:1:35-36: ERROR: syntax error, unexpected end of file, expecting }',
     '                                  ~'),
    ('BEGIN { @x = 1 + + 2; }',
     'stdin:1:18-19: ERROR: syntax error, unexpected +',
     '                 ~'),
    ('BEGIN { $x = (1; }',
     'stdin:1:14-17: ERROR: syntax error, unexpected ;, expecting ) or ","',
     '             ~~~'),
    ('BEGIN { $x = ) ; }',
     'stdin:1:14-15: ERROR: syntax error, unexpected )',
     '             ~'),
    ('BEGIN { $x.y = 1; }',
     'stdin:1:14-15: ERROR: syntax error, unexpected =, expecting }',
     '             ~'),
    ('BEGIN { @x = $y->; }',
     'stdin:1:14-19: ERROR: syntax error, unexpected ;',
     '             ~~~~~'),
    ('BEGIN { @x = $y.; }',
     'stdin:1:14-18: ERROR: syntax error, unexpected ;',
     '             ~~~~'),
    ('BEGIN { $x = 1 $y = 2 }',
     'stdin:1:16-18: ERROR: syntax error, unexpected variable, expecting }',
     '               ~~'),
    ('BEGIN { return 1; }',
     'stdin:1:16-17: ERROR: syntax error, unexpected integer, expecting }',
     '               ~'),
    ('BEGIN { while ($i < 10) $i++; }',
     'stdin:1:25-27: ERROR: syntax error, unexpected variable, expecting {',
     '                        ~~'),
    ('BEGIN { unroll (5) @x++; }',
     'stdin:1:20-22: ERROR: syntax error, unexpected map, expecting {',
     '                   ~~'),
    ('BEGIN { @x = 1 } else { }',
     'stdin:1:18-22: ERROR: syntax error, unexpected else, expecting {',
     '                 ~~~~'),
    ('BEGIN { if (1) { } else if { } }',
     'stdin:1:28-29: ERROR: syntax error, unexpected {, expecting (',
     '                           ~'),
    ('BEGIN { @ = 1, 2; }',
     'stdin:1:13-15: ERROR: syntax error, unexpected ",", expecting }',
     '            ~~'),
    ('BEGIN { @x = @y[]; }',
     'stdin:1:14-18: ERROR: syntax error, unexpected ]',
     '             ~~~~'),
    ('BEGIN { @x = "a" + ; }',
     'stdin:1:20-21: ERROR: syntax error, unexpected ;',
     '                   ~'),
    ('BEGIN { printf("%s\\n", comm) ; ; }',
     'stdin:1:32-33: ERROR: syntax error, unexpected ;, expecting }',
     '                               ~'),
]


def _error_text(src: str) -> str:
    with pytest.raises(CompileError) as exc:
        parse(src)
    return str(exc.value)


@pytest.mark.parametrize("src, header, underline", CAPTURED)
def test_error_text_matches_bpftrace(src, header, underline):
    first_line = src.split("\n")[0]
    assert _error_text(src) == f"{header}\n{first_line}\n{underline}\n"


@pytest.mark.bpftrace
@pytest.mark.parametrize("src, header, underline", CAPTURED[::6])
def test_captures_still_match_installed_bpftrace(src, header, underline):
    """Guards the inline captures: the installed 0.17 still prints them."""
    if shutil.which("bpftrace") is None:
        pytest.skip("bpftrace not installed")
    out = subprocess.run(["bpftrace", "-e", src], capture_output=True, text=True, timeout=30)
    lines = [l for l in (out.stdout + out.stderr).splitlines() if "RLIMIT_MEMLOCK" not in l]
    assert lines[0] == header and lines[2] == underline


# Where bpftrace 0.17 aborts, crashes or says something unhelpful we give our own text.
OURS = [
    ("foo:bar { }", "stdin:1:1-8: ERROR: Invalid probe type: foo"),
    ("bogus { }", "stdin:1:1-6: ERROR: Invalid probe type: bogus"),
    ("BEGIN { $x = 99999999999999999999; }",
     "stdin:1:14-34: ERROR: integer literal out of range: 99999999999999999999"),
    ("BEGIN { $x = 0x1ffffffffffffffff; }",
     "stdin:1:14-33: ERROR: integer literal out of range: 0x1ffffffffffffffff"),
    ("interval:s:abc { }", "stdin:1:1-15: ERROR: Invalid interval rate: abc"),
    ("kprobe:f+x { }", "stdin:1:1-11: ERROR: Invalid offset: x"),
    ("BEGIN { \x00 }", "stdin:1:9-10: ERROR: invalid character '\\x00'"),
    ("BEGIN { @ = \udcff; }", "stdin:1:13-14: ERROR: invalid character '\\xff'"),
    ("BEGIN { /* never closed", "stdin:1:9-11: ERROR: unterminated comment"),
    ("BEGIN { $x = 1s; }", "stdin:1:14-16: ERROR: invalid integer literal: 1s"),
    ("BEGIN { $x = 09; }", "stdin:1:14-16: ERROR: invalid octal literal: 09"),
    ("BEGIN { @x[1] = 1; } garbage", "stdin:1:22-29: ERROR: unexpected end of file, expected {"),
    ("   ", "stdin:1:1-4: ERROR: unexpected end of file, expected {"),
]


@pytest.mark.parametrize("src, header", OURS)
def test_our_error_texts(src, header):
    assert _error_text(src).split("\n")[0] == header


def test_error_on_later_line_shows_that_line():
    src = "BEGIN {\n  @x = 1;\n  @y = 2 exit();\n}"
    assert _error_text(src) == (
        "stdin:3:10-14: ERROR: syntax error, unexpected call, expecting }\n"
        "  @y = 2 exit();\n"
        "         ~~~~\n")


def test_crlf_source_line_is_shown_without_carriage_return():
    text = _error_text("BEGIN {\r\n  @x = ;\r\n}\r\n")
    assert text == "stdin:2:8-9: ERROR: syntax error, unexpected ;\n  @x = ;\n       ~\n"


def test_file_name_is_used():
    with pytest.raises(CompileError) as exc:
        parse("BEGIN { @x = ; }", name="prog.bt")
    assert str(exc.value).startswith("prog.bt:1:14-15: ERROR:")


def test_error_is_structured():
    with pytest.raises(CompileError) as exc:
        parse("t:a { }")
    (diag,) = exc.value.diagnostics.items
    assert diag.severity == "ERROR"
    assert diag.message == "tracepoint probe type requires 2 arguments"
    assert diag.span == Span(1, 1, 1, 4)
    assert exc.value.diagnostics.source.text == "t:a { }"


def test_nesting_error_is_located_inside_the_program():
    src = "BEGIN { @ = " + "~" * 1000 + "1; }"
    with pytest.raises(CompileError) as exc:
        parse(src)
    (diag,) = exc.value.diagnostics.items
    assert "nesting is too deep" in diag.message
    assert diag.span.line == 1 and 12 < diag.span.col < len(src)
