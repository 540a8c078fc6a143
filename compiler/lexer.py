"""The bpftrace lexer: source text -> lark tokens, plus the C preamble.

Owns tokenisation the way bpftrace 0.17's flex lexer does it: the preamble (shebang,
`#include`/`#define` lines, struct/union/enum definitions), attach points scanned as one
token at the start of each probe, `/` turned into "end predicate" when a `{` follows, string
escapes, integer literals, `#define` substitution and bpftrace's lexical error messages.
Raises `LexError(message, span)`; the parser turns it into a CompileError.  Imports only
our source/ast modules (lark only needs `.type` on tokens; `Token` here is a slotted class).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterator

from .ast import CDefinition
from .c_types import header_macros
from .source import Span

U64_MAX = (1 << 64) - 1
POSITIONAL_MAX = (1 << 63) - 1

KEYWORDS = {
    "if": "IF", "else": "ELSE", "unroll": "UNROLL", "while": "WHILE", "for": "FOR",
    "return": "RETURN", "continue": "CONTINUE", "break": "BREAK", "struct": "STRUCT",
    "union": "UNION", "enum": "ENUM", "sizeof": "SIZEOF", "offsetof": "OFFSETOF",
}

# Builtin variables (bpftrace 0.17's BUILTIN token); argN / sargN are matched by pattern.
BUILTIN_NAMES = frozenset(
    "pid tid uid gid username cpu comm nsecs elapsed curtask cgroup rand probe args "
    "retval func cpid ctx numaid jiffies".split())
_ARG_BUILTIN = re.compile(r"s?arg[0-9]+\Z")

# Function names bpftrace 0.17 lexes as CALL.  Only used to name tokens in syntax errors
# ("unexpected call"); which functions exist is the builtins registry's business.
CALL_NAMES = frozenset(
    "avg buf cat cgroupid clear count delete exit hist join kaddr kptr ksym lhist macaddr max "
    "min ntop override print printf cgroup_path reg signal stats str strftime strncmp "
    "strcontains sum system time uaddr uptr usym zero path unwatch bswap skboutput pton "
    "debugf strerror".split())
CALL_BUILTIN_NAMES = frozenset({"kstack", "ustack"})
STACK_MODES = frozenset({"bpftrace", "perf", "raw"})
INT_TYPE = re.compile(r"u?int(?:8|16|32|64)\Z")

# Longest first, so that `<<=` wins over `<<` and `<`.
_OPERATORS = [
    ("<<=", "LEFTASSIGN"), (">>=", "RIGHTASSIGN"),
    ("==", "EQ"), ("!=", "NE"), ("<=", "LE"), (">=", "GE"), ("<<", "LEFT"), (">>", "RIGHT"),
    ("&&", "LAND"), ("||", "LOR"), ("++", "INCREMENT"), ("--", "DECREMENT"), ("->", "PTR"),
    ("+=", "PLUSASSIGN"), ("-=", "MINUSASSIGN"), ("*=", "MULASSIGN"), ("/=", "DIVASSIGN"),
    ("%=", "MODASSIGN"), ("&=", "BANDASSIGN"), ("|=", "BORASSIGN"), ("^=", "BXORASSIGN"),
    (":", "COLON"), (";", "SEMI"), ("{", "LBRACE"), ("}", "RBRACE"), ("[", "LBRACKET"),
    ("]", "RBRACKET"), ("(", "LPAREN"), (")", "RPAREN"), ("?", "QUES"), (",", "COMMA"),
    ("=", "ASSIGN"), ("<", "LT"), (">", "GT"), ("+", "PLUS"), ("-", "MINUS"), ("*", "MUL"),
    ("/", "DIV"), ("%", "MOD"), ("&", "BAND"), ("|", "BOR"), ("^", "BXOR"), ("!", "LNOT"),
    ("~", "BNOT"), (".", "DOT"),
]
_OP_TYPE = dict(_OPERATORS)

_TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\r\n\f\v]+)
  | (?P<linecomment>//[^\n]*)
  | (?P<blockcomment>/\*)
  | (?P<hex>0[xX][0-9a-fA-F]+(?:[uU]?[lL]{0,2}|[lL]{1,2}[uU])(?![0-9A-Za-z_]))
  | (?P<dec>[0-9][0-9_]*(?:[eE][0-9]+)?(?:[uU]?[lL]{0,2}|[lL]{1,2}[uU])(?![0-9A-Za-z_]))
  | (?P<badnum>[0-9][0-9A-Za-z_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<map>@[A-Za-z_][A-Za-z0-9_]*|@)
  | (?P<paramcount>\$\#)
  | (?P<param>\$[0-9]+)
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>")
  | (?P<op>""" + "|".join(re.escape(op) for op, _ in _OPERATORS) + r""")
""", re.VERBOSE)

_WS_OR_COMMENT = re.compile(r"(?:[ \t\r\n\f\v]+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_ATTACH_START = re.compile(r"[A-Za-z0-9_*]")
_ATTACH_CHAR = re.compile(r"""[A-Za-z0-9_\-.*+$@\[\]#]+""")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_PREAMBLE_DEF = re.compile(r"(struct|union|enum)[ \t\r\n]+[A-Za-z_][A-Za-z0-9_]*[ \t\r\n]*\{")
_DEFINE = re.compile(r"#[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+(.*?)[ \t\r]*\Z")
_MAX_DEFINE_DEPTH = 32


class Token:
    """One token: lark reads `type`; the AST builder reads `value` and the positions."""
    __slots__ = ("type", "value", "start_pos", "line", "column", "end_line", "end_column",
                 "end_pos")

    def __init__(self, type_, value, start_pos, line, column, end_line, end_column, end_pos):
        self.type = type_
        self.value = value
        self.start_pos = start_pos
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.end_pos = end_pos

    def __repr__(self) -> str:
        return f"Token({self.type}, {self.value!r}, {self.line}:{self.column})"


class LexError(Exception):
    """A lexical error at `span`; `message` is bpftrace's wording."""

    def __init__(self, message: str, span: Span, bison_location: bool = True):
        super().__init__(message)
        self.message = message
        self.span = span
        # True for errors bpftrace's lexer reports (their location quirk applies); False
        # for errors located at an AST node.
        self.bison_location = bison_location


def show_char(ch: str) -> str:
    """A character as bpftrace's "invalid character 'X'" shows it; unprintables escaped."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:            # a byte smuggled in by 'surrogateescape'
        return f"\\x{code - 0xDC00:02x}"
    if ch.isprintable():
        return ch
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass
class Preamble:
    """What comes before the first probe: C definitions and `#define` substitutions."""
    definitions: list[CDefinition] = field(default_factory=list)
    defines: dict[str, str] = field(default_factory=dict)
    end: int = 0                            # offset of the first character after it


class Positions:
    """Offset -> (line, column) for one text, both 1-based, by bisecting line starts."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.starts.append(len(text) + 1)          # sentinel: no line starts after the end
        self._line = 1                              # cursor for in-order lookups

    def at(self, offset: int) -> tuple[int, int]:
        starts, line = self.starts, self._line
        if starts[line - 1] <= offset:
            while starts[line] <= offset:
                line += 1
            self._line = line
        else:
            line = bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        line, col = self.at(start)
        end_line, end_col = self.at(end)
        return Span(line, col, end_line, end_col)


def scan_preamble(text: str, pos: Positions | None = None) -> Preamble:
    """Read the shebang, `#` lines and struct/union/enum definitions at the top of `text`."""
    pos = pos or Positions(text)
    out = Preamble()
    i = 0
    if text.startswith("#!"):
        i = _line_end(text, 0)
    while True:
        i = _WS_OR_COMMENT.match(text, i).end()
        if text.startswith("#", i):
            end = _line_end(text, i)
            line = text[i:end].rstrip("\r")
            out.definitions.append(CDefinition(line, span=pos.span(i, i + len(line))))
            m = _DEFINE.match(line)
            if m:
                out.defines[m.group(1)] = m.group(2)
            else:       # `#include <linux/sched.h>`: that header's macros (types come from BTF)
                for key, value in header_macros(line).items():
                    out.defines.setdefault(key, value)
            i = end
            continue
        m = _PREAMBLE_DEF.match(text, i)
        if not m:
            break
        end = _matching_brace(text, m.end() - 1, pos)
        semi = re.compile(r"[ \t\r\n]*;").match(text, end)
        stop = semi.end() if semi else end
        out.definitions.append(CDefinition(text[i:stop], span=pos.span(i, stop)))
        i = stop
    out.end = i
    return out


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _matching_brace(text: str, open_at: int, pos: Positions) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    raise LexError("unterminated definition", pos.span(open_at, len(text)))


class Lexer:
    """Tokenises one program text.  Iterate `tokens()` once."""

    def __init__(self, text: str, defines: dict[str, str] | None = None, start: int = 0,
                 positions: Positions | None = None):
        self.text = text
        self.defines = defines or {}
        self.start = start
        self.pos = positions or Positions(text)
        self.last: Token | None = None
        self.probe_first: Token | None = None     # first attach point of the current probe
        # (line, first real column shifted, columns added): see _struct_type_columns
        self.column_shifts: list[tuple[int, int, int]] = []
        self._before_last: str | None = None      # the type of the token before `last`

    # ------------------------------------------------------------------ driver

    def tokens(self) -> Iterator[Token]:
        """All tokens, tracking bpftrace's implicit modes: probe header (attach points),
        predicate and action block (brace depth)."""
        text, i, n = self.text, self.start, len(self.text)
        header, depth = True, 0
        skip = _WS_OR_COMMENT.match
        while True:
            i = skip(text, i).end()
            if i >= n:
                return
            if text.startswith("/*", i):
                raise LexError("unterminated comment", self.pos.span(i, i + 2))
            if header and depth == 0 and _ATTACH_START.match(text, i):
                tok, i = self._attach_point(i)
                if not self._after_comma():
                    self.probe_first = tok
                header = False
                self.last = tok
                yield tok
                continue
            tok, i = self._next(i)
            for tok in (tok if type(tok) is list else (tok,)):
                kind = tok.type
                self._struct_type_columns(tok)
                if kind == "LBRACE":
                    depth += 1
                    header = False
                elif kind == "RBRACE" and depth > 0:
                    depth -= 1
                    header = depth == 0
                elif kind == "COMMA" and depth == 0 and self._after_attach_point():
                    header = True
                self.last = tok
                yield tok

    def _struct_type_columns(self, tok: Token) -> None:
        """bpftrace 0.17's column quirk for `struct NAME` in casts, sizeof and offsetof: its
        lexer puts back the `*`, `)` or `,` that ends the type name and counts that character
        twice, so every later token on the same line sits one column further right (once per
        such type).  Our columns follow, so warnings and errors print bpftrace's locations;
        `column_shifts` records each shift for Source.text_col / Source.shown_col."""
        shifts = self.column_shifts
        if shifts and shifts[-1][0] == tok.line and tok.column >= shifts[-1][1]:
            tok.column += shifts[-1][2]
            if tok.end_line == tok.line:
                tok.end_column += shifts[-1][2]
        last = self.last.type if self.last is not None else None
        if (tok.type in ("MUL", "RPAREN", "COMMA")
                and last in ("IDENT", "CALL", "BUILTIN", "CALL_BUILTIN", "STACK_MODE")
                and self._before_last in ("STRUCT", "UNION", "ENUM")):
            line, real_col = self.pos.at(tok.start_pos)
            before = shifts[-1][2] if shifts and shifts[-1][0] == line else 0
            shifts.append((line, real_col, before + 1))
            tok.column += 1
            tok.end_column += 1
        self._before_last = last

    def _after_comma(self) -> bool:
        return self.last is not None and self.last.type == "COMMA"

    def _after_attach_point(self) -> bool:
        return self.last is not None and self.last.type == "ATTACH_POINT"

    def _skip_ws(self, i: int) -> int:
        i = _WS_OR_COMMENT.match(self.text, i).end()
        if self.text.startswith("/*", i):
            raise LexError("unterminated comment", self.pos.span(i, i + 2))
        return i

    def _token(self, kind: str, value, start: int, end: int) -> Token:
        # No token spans a newline (strings cannot hold a raw one), so the end is on `line`.
        line, col = self.pos.at(start)
        return Token(kind, value, start, line, col, line, col + (end - start), end)

    # ------------------------------------------------------------------ attach points

    def _attach_point(self, i: int) -> tuple[Token, int]:
        """One attach point as raw text: `provider:a:b`, paths, wildcards, `$1`, "quoted"."""
        text, start, seen_colon = self.text, i, False
        n = len(text)
        while i < n:
            ch = text[i]
            if ch == ":":
                seen_colon = True
                i += 1
            elif ch == "/" and seen_colon and not text.startswith(("//", "/*"), i):
                i += 1
            elif ch == '"':
                i = self._attach_quoted(i)
            else:
                m = _ATTACH_CHAR.match(text, i)
                if not m:
                    break
                i = m.end()
        raw = text[start:i]
        kind = KEYWORDS.get(raw, "ATTACH_POINT")     # `} else {`: bpftrace sees the keyword
        return self._token(kind, raw, start, i), i

    def _attach_quoted(self, i: int) -> int:
        m = re.compile(r'"(?:[^"\\\n]|\\.)*"').match(self.text, i)
        if not m:
            raise LexError("unterminated string", self.pos.span(i, _line_end(self.text, i)))
        return m.end()

    # ------------------------------------------------------------------ ordinary tokens

    def _next(self, i: int) -> tuple[Token | list[Token], int]:
        """The token at `i` (a list when a #define expands) and the offset after it."""
        m = _TOKEN_RE.match(self.text, i)
        if m is None:
            ch = self.text[i]
            raise LexError(f"invalid character '{show_char(ch)}'", self.pos.span(i, i + 1))
        kind, end = m.lastgroup, m.end()
        if kind == "op":
            return self._op(i, end)
        if kind == "ident":
            return self._ident(i, end)
        if kind == "string":
            return self._string(i)
        return self._simple(kind, i, end)

    def _op(self, i: int, end: int) -> tuple[Token, int]:
        op = self.text[i:end]
        kind = _OP_TYPE[op]
        if kind == "DIV" and self.text.startswith("{", self._skip_ws(end)):
            kind = "ENDPRED"        # bpftrace: a `/` followed by `{` ends the predicate
        return self._token(kind, op, i, end), end

    def _simple(self, kind: str, i: int, end: int) -> tuple[Token, int]:
        raw = self.text[i:end]
        if kind in ("hex", "dec"):
            return self._token("INT", parse_int(raw, self.pos.span(i, end)), i, end), end
        if kind == "badnum":
            raise LexError(f"invalid integer literal: {_abbrev(raw)}", self.pos.span(i, end))
        if kind == "param":
            index = int(raw[1:])
            if index == 0 or index > POSITIONAL_MAX:
                raise LexError(f"param {raw} is out of integer range [1, {POSITIONAL_MAX}]",
                               self.pos.span(i, end))
            return self._token("PARAM", index, i, end), end
        kind = {"map": "MAP", "var": "VAR", "paramcount": "PARAMCOUNT"}[kind]
        return self._token(kind, raw, i, end), end

    def _ident(self, i: int, end: int) -> tuple[Token | list[Token], int]:
        name = self.text[i:end]
        if name in self.defines:
            return self._expand_define(name, i, end), end
        return self._token(ident_kind(name), name, i, end), end

    def _expand_define(self, name: str, i: int, end: int) -> list[Token]:
        """`#define NAME value`: lex `value` in place of NAME, every token spanning NAME."""
        depth = getattr(self, "_define_depth", 0)
        if depth >= _MAX_DEFINE_DEPTH:
            raise LexError(f"#define {name} expands recursively", self.pos.span(i, end))
        inner = Lexer(self.defines[name], self.defines)
        inner._define_depth = depth + 1
        try:
            toks = list(inner._plain_tokens())
        except LexError as err:
            raise LexError(f"in expansion of #define {name}: {err.message}",
                           self.pos.span(i, end)) from None
        return [self._token(tok.type, tok.value, i, end) for tok in toks]

    def _plain_tokens(self) -> Iterator[Token]:
        i, n = 0, len(self.text)
        while True:
            i = self._skip_ws(i)
            if i >= n:
                return
            tok, i = self._next(i)
            yield from (tok if type(tok) is list else (tok,))

    # ------------------------------------------------------------------ strings

    def _string(self, start: int) -> tuple[Token, int]:
        text, i, n = self.text, start + 1, len(self.text)
        out: list[str] = []
        while True:
            if i >= n or text[i] == "\n":
                raise LexError("unterminated string", self.pos.span(start, i))
            ch = text[i]
            if ch == '"':
                i += 1
                return self._token("STRING", "".join(out), start, i), i
            if ch != "\\":
                j = i
                while j < n and text[j] not in '"\\\n':
                    j += 1
                out.append(text[i:j])
                i = j
                continue
            value, i = self._escape(start, i)
            out.append(value)

    def _escape(self, start: int, i: int) -> tuple[str, int]:
        text = self.text
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt in _SIMPLE_ESCAPES and nxt:
            return _SIMPLE_ESCAPES[nxt], i + 2
        m = re.compile(r"[0-7]{1,3}").match(text, i + 1)
        if m:
            return chr(int(m.group(), 8) & 0xFF), m.end()
        m = re.compile(r"x([0-9a-fA-F]{1,2})").match(text, i + 1)
        if m:
            return chr(int(m.group(1), 16)), m.end()
        if nxt in ("", "\n"):
            raise LexError("unterminated string", self.pos.span(start, i + 1))
        raise LexError(f"invalid escape character '\\{show_char(nxt)}'",
                       self.pos.span(start, i + 2))


def ident_kind(name: str) -> str:
    """The token type of a bare word, bpftrace 0.17's lexer classes plus INT_TYPE."""
    if name in KEYWORDS:
        return KEYWORDS[name]
    if name in BUILTIN_NAMES or _ARG_BUILTIN.match(name):
        return "BUILTIN"
    if name in CALL_BUILTIN_NAMES:
        return "CALL_BUILTIN"
    if name in CALL_NAMES:
        return "CALL"
    if name in STACK_MODES:
        return "STACK_MODE"
    if INT_TYPE.match(name):
        return "INT_TYPE"
    return "IDENT"


def _abbrev(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def parse_int(raw: str, span: Span) -> int:
    """An integer literal's value: hex, octal, decimal with `_`, `NeM`, C suffixes."""
    body = raw.rstrip("uUlL")
    if body[:2] in ("0x", "0X"):
        value = int(body, 16)
    else:
        body = body.replace("_", "")
        if len(body) > 40:              # far beyond 2^64; also keeps int() cheap
            raise LexError(f"integer literal out of range: {_abbrev(raw)}", span)
        mantissa, _, exponent = body.lower().partition("e")
        if exponent:
            if len(exponent) > 5:
                raise LexError(f"integer literal out of range: {_abbrev(raw)}", span)
            value = int(mantissa) * 10 ** int(exponent)
        elif len(mantissa) > 1 and mantissa.startswith("0"):
            if not re.fullmatch(r"[0-7]+", mantissa):
                raise LexError(f"invalid octal literal: {_abbrev(raw)}", span)
            value = int(mantissa, 8)
        else:
            value = int(mantissa)
    if value > U64_MAX:
        raise LexError(f"integer literal out of range: {_abbrev(raw)}", span)
    return value
