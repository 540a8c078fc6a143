"""The Pygments lexer: registered by name, and the tokens a reader relies on."""
from __future__ import annotations

from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Name, Number, String, Token

from bpftrace_kernel.lexer import BpftraceLexer


def tokens(code):
    return [(t, v) for t, v in BpftraceLexer().get_tokens(code) if v.strip()]


def test_registered_under_its_names():
    assert isinstance(get_lexer_by_name("bpftrace"), BpftraceLexer)
    assert isinstance(get_lexer_for_filename("opensnoop.bt"), BpftraceLexer)


def test_program_tokens():
    toks = tokens('tracepoint:syscalls:sys_enter_openat /pid == 42/ '
                  '{ @[comm] = count(); printf("%s\\n", str(args->filename)); } // done')
    assert (Name.Namespace, "tracepoint") in toks
    assert (Name.Function, ":syscalls:sys_enter_openat") in toks
    assert (Name.Builtin.Pseudo, "pid") in toks
    assert (Number.Integer, "42") in toks
    assert (Name.Variable.Global, "@") in toks
    assert (Name.Builtin, "count") in toks and (Name.Builtin, "printf") in toks
    assert (String.Interpol, "%s") in toks and (String.Escape, "\\n") in toks
    assert (Comment.Single, "// done") in toks
    assert not [v for t, v in toks if t is Token.Error]


def test_magic_lines_and_special_probes():
    toks = tokens("%%trace -d 3\nBEGIN { $x = 1; }")
    assert toks[0] == (Token.Keyword.Pseudo, "%%trace")
    assert (Name.Label, "BEGIN") in toks and (Name.Variable, "$x") in toks


def test_html_highlighting_by_lexer_name():
    # nbconvert and jupyter console find the lexer by language_info.pygments_lexer == "bpftrace"
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    html = highlight("tracepoint:syscalls:sys_enter_read { @reads = count(); }",
                     get_lexer_by_name("bpftrace"), HtmlFormatter())
    # Name.Namespace (the probe provider) is class "nn"; @maps are Name.Variable.Global "vg"
    assert '<span class="nn">tracepoint</span>' in html
    assert '<span class="vg">@reads</span>' in html
