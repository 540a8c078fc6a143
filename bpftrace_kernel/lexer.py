"""Pygments lexer for bpftrace programs (nbconvert, jupyter console, Sphinx).

Owns `BpftraceLexer`, registered through the `pygments.lexers` entry point as `bpftrace`
(aliases `bt`, files `*.bt`).  Tokens: probe attach points, `@maps`, `$variables` and
positional parameters, builtins and functions, keywords, strings, numbers with time/size
suffixes, comments, predicates' slashes and the kernel's `%magic` lines.
"""
from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String,
                            Text, Whitespace)

_PROVIDERS = ("tracepoint", "rawtracepoint", "kprobe", "kretprobe", "uprobe", "uretprobe", "usdt",
              "profile", "interval", "software", "hardware", "kfunc", "kretfunc", "iter",
              "watchpoint", "asyncwatchpoint", "fentry", "fexit",
              "t", "rt", "k", "kr", "u", "ur", "U", "p", "i", "s", "h", "f", "fr", "it", "w")

_BUILTINS = ("pid", "tid", "uid", "gid", "nsecs", "elapsed", "numaid", "cpu", "comm", "kstack",
             "ustack", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8",
             "arg9", "sarg0", "sarg1", "sarg2", "retval", "func", "probe", "curtask", "rand",
             "cgroup", "cpid", "username", "args", "ctx", "jiffies")

_FUNCTIONS = ("printf", "print", "exit", "count", "sum", "avg", "min", "max", "stats", "hist",
              "lhist", "delete", "clear", "zero", "time", "strftime", "join", "str", "buf", "ksym",
              "usym", "kaddr", "uaddr", "ntop", "reg", "system", "cat", "signal", "sizeof",
              "cgroupid", "macaddr", "strncmp", "strcontains", "override", "path", "uptr",
              "kptr", "offsetof", "pton", "skboutput", "unwatch", "bswap", "errorf")


class BpftraceLexer(RegexLexer):
    name = "bpftrace"
    aliases = ["bpftrace", "bt"]
    filenames = ["*.bt"]
    mimetypes = ["text/x-bpftrace"]

    tokens = {
        "root": [
            (r"^(\s*)(%%?\w+)(.*)$", bygroups(Whitespace, Keyword.Pseudo, Text)),
            include("comments"),
            (r"\s+", Whitespace),
            (r"\b(BEGIN|END)\b", Name.Label),
            (words(_PROVIDERS, suffix=r"(?=:)"), Name.Namespace, "attach"),
            (r"\{", Punctuation, "block"),
            (r"/", Operator, "predicate"),
            (r",", Punctuation),
            (r"#[^\n]*", Comment.Preproc),
            (r"[^\s{/,]+", Text),
        ],
        "attach": [
            (r"[^\s,{/]+", Name.Function),
            (r"", Text, "#pop"),
        ],
        "predicate": [
            (r"/", Operator, "#pop"),
            include("expression"),
        ],
        "block": [
            (r"\{", Punctuation, "#push"),
            (r"\}", Punctuation, "#pop"),
            include("expression"),
        ],
        "comments": [
            (r"//[^\n]*", Comment.Single),
            (r"/\*", Comment.Multiline, "comment"),
        ],
        "comment": [
            (r"[^*]+", Comment.Multiline),
            (r"\*/", Comment.Multiline, "#pop"),
            (r"\*", Comment.Multiline),
        ],
        "expression": [
            include("comments"),
            (r"\s+", Whitespace),
            (r'"', String, "string"),
            (r"@\w*", Name.Variable.Global),
            (r"\$(\d+|#|\w+)", Name.Variable),
            (words(("if", "else", "while", "unroll", "return", "for", "break", "continue",
                    "let", "config", "import", "macro"), suffix=r"\b"), Keyword),
            (words(("struct", "union", "enum", "int8", "int16", "int32", "int64", "uint8",
                    "uint16", "uint32", "uint64", "bool", "string", "char", "void"),
                   suffix=r"\b"), Keyword.Type),
            (words(_FUNCTIONS, suffix=r"(?=\s*\()"), Name.Builtin),
            (words(_BUILTINS, prefix=r"\b", suffix=r"\b"), Name.Builtin.Pseudo),
            (r"0[xX][0-9a-fA-F_]+", Number.Hex),
            (r"\d[\d_]*(ns|us|ms|s|m|h|d|K|M|G|T)?\b", Number.Integer),
            (r"->|\+\+|--|<<=?|>>=?|[-+*/%&|^!~<>=]=?|&&|\|\||\?|:", Operator),
            (r"[()\[\];,.]", Punctuation),
            (r"[A-Za-z_]\w*", Name),
        ],
        "string": [
            (r'\\.', String.Escape),
            (r'%[-+ #0]*\d*(\.\d+)?(l{0,2}|h{0,2}|z|j)[a-zA-Z]', String.Interpol),
            (r'"', String, "#pop"),
            (r'[^"\\%]+', String),
            (r"%", String),
        ],
    }
