"""The bpftrace parser: program text -> `ast.Program`, or a CompileError in bpftrace's words.

Owns `parse()`, the lazily built lark LALR parser (grammar.lark, tokens from lexer.py, AST
from tree_to_ast.py) and the translation of lark's syntax errors into bison's "syntax error,
unexpected X, expecting Y" text, including bison's default-reduction behaviour so the
"expecting" lists match bpftrace 0.17's.  Importing this module is cheap: lark is imported
and the tables are built on the first `parse()`.
"""
from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from . import ast
from .diagnostics import CompileError, Diagnostics
from .lexer import LexError, Lexer, Positions, scan_preamble
from .source import Source, Span

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

# bison's names for tokens, in bpftrace 0.17's token order (the order of "expecting" lists).
TOKEN_NAMES = {
    "$END": "end of file", "COLON": ":", "SEMI": ";", "LBRACE": "{", "RBRACE": "}",
    "LBRACKET": "[", "RBRACKET": "]", "LPAREN": "(", "RPAREN": ")", "QUES": "?",
    "ENDPRED": "end predicate", "COMMA": '","', "PARAMCOUNT": "$#", "ASSIGN": "=", "EQ": "==",
    "NE": "!=", "LE": "<=", "GE": ">=", "LEFT": "<<", "RIGHT": ">>", "LT": "<", "GT": ">",
    "LAND": "&&", "LOR": "||", "PLUS": "+", "INCREMENT": "++", "LEFTASSIGN": "<<=",
    "RIGHTASSIGN": ">>=", "PLUSASSIGN": "+=", "MINUSASSIGN": "-=", "MULASSIGN": "*=",
    "DIVASSIGN": "/=", "MODASSIGN": "%=", "BANDASSIGN": "&=", "BORASSIGN": "|=",
    "BXORASSIGN": "^=", "MINUS": "-", "DECREMENT": "--", "MUL": "*", "DIV": "/", "MOD": "%",
    "BAND": "&", "BOR": "|", "BXOR": "^", "LNOT": "!", "BNOT": "~", "DOT": ".", "PTR": "->",
    "IF": "if", "ELSE": "else", "UNROLL": "unroll", "STRUCT": "struct", "UNION": "union",
    "WHILE": "while", "FOR": "for", "RETURN": "return", "CONTINUE": "continue",
    "BREAK": "break", "BUILTIN": "builtin", "CALL": "call", "CALL_BUILTIN": "call_builtin",
    "IDENT": "identifier", "ATTACH_POINT": "path", "STRING": "string", "MAP": "map",
    "VAR": "variable", "PARAM": "positional parameter", "INT": "integer",
    "STACK_MODE": "stack_mode",
    # Ours, named as 0.17 would have lexed them.
    "INT_TYPE": "identifier", "ENUM": "identifier", "SIZEOF": "call", "OFFSETOF": "identifier",
}
_TOKEN_ORDER = {name: i for i, name in enumerate(TOKEN_NAMES)}
_BISON_MAX_EXPECTED = 4         # bison's verbose errors list at most 4 expected tokens

_parser = None
_builder = None
_lock = threading.Lock()


def _get_parser():
    """The lark LALR parser with its inline AST builder, built on first use."""
    global _parser, _builder
    if _parser is None:
        from lark import Lark

        from .tree_to_ast import AstBuilder, TokenStream

        # An inline transformer builds the AST during the LALR reductions: no parse tree,
        # and no recursion however deep the program nests.  The LALR tables are cached on
        # disk (lark checks the grammar's hash): building them costs ~0.8 s per start.
        _builder = AstBuilder()
        _parser = Lark(GRAMMAR_PATH.read_text(), parser="lalr", lexer=TokenStream,
                       transformer=_builder, start="start", cache=_cache_path())
        _plain_rule_names(_parser)
    return _parser, _builder


def _cache_path():
    """Where lark keeps the analysed grammar, or False when no cache dir is writable: next
    to grammar.lark when that folder is writable (a property of the installed grammar, like
    bytecode: every user and every cold start shares it), else the user's cache dir."""
    import hashlib
    import os
    digest = hashlib.sha256(GRAMMAR_PATH.read_bytes()).hexdigest()[:16]
    name = f"grammar-{digest}.lark-cache"
    local = GRAMMAR_PATH.parent / "__pycache__"
    try:
        local.mkdir(exist_ok=True)
        if os.access(local, os.W_OK):
            return str(local / name)
    except OSError:
        pass
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "bpftrace_kernel")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.path.join(folder, name)


def _plain_rule_names(parser) -> None:
    """Make rule names plain str: lark keeps them as its Token (a str subclass with a Python
    __eq__), which made every goto lookup call Python code; about a third of parse time."""
    from lark.parsers.lalr_analysis import Reduce

    for actions in parser.parser.parser.parser.parse_table.states.values():
        for action, arg in actions.values():
            if action is Reduce and type(arg.origin.name) is not str:
                arg.origin.name = str(arg.origin.name)


class _TokenSource(str):
    """A str lark accepts as input, carrying the Lexer whose tokens are the real input."""
    lexer: Lexer

    def tokens(self):
        return self.lexer.tokens()


def parse(text: str, name: str = "stdin") -> ast.Program:
    """Parse a bpftrace program; raises CompileError with bpftrace's located message."""
    from lark.exceptions import UnexpectedInput

    source = Source(name, text)
    positions = Positions(text)
    lexer = None
    try:
        preamble = scan_preamble(text, positions)
        lexer = Lexer(text, preamble.defines, preamble.end, positions)
        probes = _run(lexer)
    except LexError as err:
        span = _bison_span(err.span, source) if err.bison_location else err.span
        raise CompileError.single(err.message, span, source) from None
    except CompileError as err:
        if err.diagnostics.source is None:
            raise CompileError(Diagnostics(source, list(err.diagnostics.items))) from None
        raise
    except UnexpectedInput as err:
        message, span = _syntax_error(err, lexer, positions)
        raise CompileError.single(message, _bison_span(span, source), source) from None
    span = probes[0].span.merge(probes[-1].span) if probes else ast.NO_SPAN
    return ast.Program(preamble.definitions, probes, span=span,
                       column_shifts=tuple(lexer.column_shifts))


def _run(lexer: Lexer) -> list[ast.Probe]:
    parser, builder = _get_parser()
    data = _TokenSource("")
    data.lexer = lexer
    with _lock:
        builder.reset()
        try:
            return parser.parse(data)
        finally:
            builder.reset()


def _syntax_error(err, lexer: Lexer, positions: Positions) -> tuple[str, Span]:
    """bison's message and location for a lark UnexpectedToken."""
    from lark.exceptions import UnexpectedToken
    from .tree_to_ast import token_span

    if not isinstance(err, UnexpectedToken):
        return "syntax error", Span(getattr(err, "line", 1), getattr(err, "column", 1),
                                    getattr(err, "line", 1), getattr(err, "column", 1) + 1)
    tok = err.token
    last = lexer.last
    if tok.type == "$END" and last is None:        # nothing but whitespace and comments
        first_line = positions.span(0, 0).line
        return "unexpected end of file, expected {", Span(
            first_line, 1, first_line, max(2, len(lexer.text.split("\n", 1)[0]) + 1))
    if tok.type == "$END":
        # bison puts end of file after trailing blanks, else on the last token
        end = len(lexer.text)
        span = token_span(last) if last.end_pos == end else positions.span(end, end)
    else:
        span = _tok_span(tok)
    if tok.type == "$END" and last is not None and last.type == "ATTACH_POINT":
        first = lexer.probe_first or last
        return "unexpected end of file, expected {", token_span(first).merge(token_span(last))
    expected = _bison_expected(err)
    # (LALR merges the state after a statement block with the one after a probe's block,
    # so lark's own list can hold ATTACH_POINT where bison's default reductions do not)
    if "ATTACH_POINT" in expected or (not expected and "ATTACH_POINT" in err.expected):
        # bison reduced an empty attach point here and then wanted the probe's `{`
        if tok.type == "LBRACE":
            return "No attach points for probe", span
        expected = ["LBRACE"]
    message = f"syntax error, unexpected {TOKEN_NAMES.get(tok.type, tok.type)}"
    if 0 < len(expected) <= _BISON_MAX_EXPECTED:
        message += ", expecting " + " or ".join(TOKEN_NAMES[t] for t in expected)
    return message, span


def _bison_span(span: Span, source: Source) -> Span:
    """bpftrace 0.17's lexer only resets its location on whitespace, so an error location
    starts where the run of non-blank characters holding the token starts."""
    if span.line == 0 or span.line != span.end_line:
        return span
    text = source.line_text(span.line)
    col = min(span.col, len(text) + 1)
    while col > 1 and text[col - 2] not in " \t\r\n":
        col -= 1
    return Span(span.line, col, span.end_line, span.end_col)


def _tok_span(tok) -> Span:
    line, col = tok.line or 1, tok.column or 1
    return Span(line, col, tok.end_line or line, tok.end_column or col + 1)


def _bison_expected(err) -> list[str]:
    """The tokens bison would list: take default reductions (the most common reduce of
    each state) until a state that only shifts, then list what it shifts."""
    from lark.parsers.lalr_analysis import Reduce, Shift

    try:
        state = err.interactive_parser.parser_state
        table = state.parse_conf.parse_table
        stack = list(state.state_stack)
    except AttributeError:
        return sorted((t for t in err.expected if t in TOKEN_NAMES), key=_TOKEN_ORDER.get)
    for _ in range(1000):
        actions = table.states[stack[-1]]
        reduces = Counter(arg for act, arg in actions.values() if act is Reduce)
        if not reduces:
            break
        rule = reduces.most_common(1)[0][0]
        if len(rule.expansion):
            del stack[-len(rule.expansion):]
        if not stack:
            break
        goto = table.states[stack[-1]].get(rule.origin.name)
        if goto is None:
            break
        stack.append(goto[1])
    actions = table.states[stack[-1]] if stack else {}
    shifts = [t for t, (act, _) in actions.items() if act is Shift and t in TOKEN_NAMES]
    return sorted(dict.fromkeys(TOKEN_NAMES[t] and t for t in shifts), key=_TOKEN_ORDER.get)
