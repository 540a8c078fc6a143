"""Builds `ast` nodes from lark's LALR reductions (used as lark's inline transformer).

Owns the shape of the AST the parser hands out: spans merged from tokens, compound
assignments desugared, `-literal` folded into a negative Integer, `++`/`--` targets checked,
and the nesting-depth limit that keeps every later recursive pass far from Python's
recursion limit.  Errors are raised as `lexer.LexError(message, span)`.  No lark parsing
here: only callbacks, one per grammar rule or alias.
"""
from __future__ import annotations

import copy

from lark import Transformer
from lark.lexer import Lexer as _LarkLexer

from . import ast
from .attach_points import parse_attach_point
from .lexer import LexError, Token
from .source import Span

# Deeper ASTs are refused with a located error: 200 levels is far beyond any real program
# and keeps recursive visitors (about 3 Python frames per level) under the default limit.
MAX_NESTING = 200

# Binding strength of binary operators, loosest first (C's table; bpftrace uses the same).
BINARY_PRECEDENCE = {
    "LOR": 1, "LAND": 2, "BOR": 3, "BXOR": 4, "BAND": 5, "EQ": 6, "NE": 6,
    "LT": 7, "GT": 7, "LE": 7, "GE": 7, "LEFT": 8, "RIGHT": 8,
    "PLUS": 9, "MINUS": 9, "MUL": 10, "DIV": 10, "MOD": 10,
}

_COMPOUND_OPS = {
    "PLUSASSIGN": "+", "MINUSASSIGN": "-", "MULASSIGN": "*", "DIVASSIGN": "/",
    "MODASSIGN": "%", "BANDASSIGN": "&", "BORASSIGN": "|", "BXORASSIGN": "^",
    "LEFTASSIGN": "<<", "RIGHTASSIGN": ">>",
}


def token_span(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


def span_of(*items) -> Span:
    """The span covering tokens, nodes and lists of nodes, in any order."""
    out = ast.NO_SPAN
    for item in items:
        if item is None:
            continue
        if isinstance(item, Token):
            out = out.merge(token_span(item))
        elif isinstance(item, list):
            out = out.merge(span_of(*item))
        else:
            out = out.merge(getattr(item, "span", ast.NO_SPAN))
    return out


class AstBuilder(Transformer):
    """One instance per parse: it remembers nesting depths and literal integers."""

    def __init__(self):
        super().__init__(visit_tokens=False)
        self.reset()

    def reset(self) -> None:
        """Forget the previous parse (lark keeps one builder for its inline callbacks)."""
        # Keyed by id(); the node is kept in the value so that no id is reused mid-parse.
        self._depth: dict[int, tuple[int, object]] = {}
        self._literals: dict[int, ast.Integer] = {}

    # ------------------------------------------------------------------ helpers

    def _node(self, node, *children):
        depth = 1
        for child in children:
            if isinstance(child, list):
                for c in child:
                    depth = max(depth, self._depth_of(c) + 1)
            elif child is not None:
                depth = max(depth, self._depth_of(child) + 1)
        if depth > MAX_NESTING:
            raise LexError(f"Expression nesting is too deep (more than {MAX_NESTING} levels)",
                           node.span, bison_location=False)
        self._depth[id(node)] = (depth, node)
        return node

    def _depth_of(self, node) -> int:
        entry = self._depth.get(id(node))
        return entry[0] if entry is not None and entry[1] is node else 1

    def _is_literal(self, node) -> bool:
        return self._literals.get(id(node)) is node

    # ------------------------------------------------------------------ program

    def start(self, probes):
        return probes

    def probe(self, items):
        points, pred, body = items
        stmts, block_span = body
        return ast.Probe(points, pred, stmts, span=span_of(points).merge(block_span))

    def attach_points(self, items):
        return [parse_attach_point(t.value, token_span(t)) for t in items
                if t.type == "ATTACH_POINT"]

    def predicate(self, items):
        return items[1] if items else None

    def block(self, items):
        stmts = items[1]
        return stmts, span_of(items[0], items[2])      # statements and the braces' span

    def stmt_list(self, items):
        return [s for s in items if not isinstance(s, Token)]

    # ------------------------------------------------------------------ statements

    def expr_stmt(self, items):
        return self._node(ast.ExprStatement(items[0], span=items[0].span), items[0])

    def assign_stmt(self, items):
        target, op, value = items
        op_tok = op
        if op_tok.type != "ASSIGN":
            # `@m[k] += v` -> `@m[k] = @m[k] + v`; the read is a copy so that no node
            # appears twice in the tree (passes annotate nodes in place)
            read = copy.deepcopy(target)
            self._depth[id(read)] = (self._depth_of(target), read)
            value = self._node(ast.Binop(_COMPOUND_OPS[op_tok.type], read, value,
                                         span=token_span(op_tok)), read, value)
        span = span_of(target, value)
        if isinstance(target, ast.Map):
            return self._node(ast.AssignMap(target, value, span=span), target, value)
        if isinstance(target, ast.Variable):
            return self._node(ast.AssignVar(target, value, span=span), target, value)
        if isinstance(target, ast.FieldAccess) and target.index is not None:
            raise LexError("Tuples are immutable once created. Consider creating a new "
                           "tuple and assigning it instead.", span, bison_location=False)
        # bison: after an expression statement only `}` is expected
        raise LexError(f"syntax error, unexpected {op_tok.value}, expecting }}",
                       token_span(op_tok))

    def assign_op(self, items):
        return items[0]

    def jump_stmt(self, items):
        return ast.Jump(items[0].value, span=token_span(items[0]))

    def if_stmt(self, items):
        cond, (then, then_span) = items[2], items[4]
        orelse, end = [], then_span
        if len(items) == 7:
            other = items[6]
            if isinstance(other, ast.If):
                orelse, end = [other], other.span
            else:
                orelse, end = other
        node = ast.If(cond, then, orelse, span=token_span(items[0]).merge(end))
        return self._node(node, cond, then, orelse)

    def unroll_stmt(self, items):
        count, (body, _) = items[2], items[4]
        node = ast.Unroll(count, body, span=span_of(items[0], items[3]))
        return self._node(node, count, body)

    def unroll_count(self, items):
        if items[0].type == "PARAMCOUNT":
            return ast.PositionalCount(span=token_span(items[0]))
        if items[0].type == "PARAM":
            return ast.PositionalParameter(items[0].value, span=token_span(items[0]))
        value = items[-1].value * (-1 if len(items) == 2 else 1)
        return ast.Integer(value, span=span_of(*items))

    def while_stmt(self, items):
        cond, (body, _) = items[2], items[4]
        node = ast.While(cond, body, span=token_span(items[0]))
        return self._node(node, cond, body)

    # ------------------------------------------------------------------ operators

    def ternary(self, items):
        cond, left, right = items[0], items[2], items[4]
        node = ast.Ternary(cond, left, right, span=span_of(cond, right))
        return self._node(node, cond, left, right)

    def binary_chain(self, items):
        """Fold `e0 op e1 op e2 ...` by C precedence, left associative (shunting-yard)."""
        operands, ops = [items[0]], []
        for k in range(1, len(items), 2):
            prec = BINARY_PRECEDENCE[items[k].type]
            while ops and BINARY_PRECEDENCE[ops[-1].type] >= prec:
                self._fold(operands, ops)
            ops.append(items[k])
            operands.append(items[k + 1])
        while ops:
            self._fold(operands, ops)
        return operands[0]

    def _fold(self, operands: list, ops: list) -> None:
        op, right, left = ops.pop(), operands.pop(), operands.pop()
        node = ast.Binop(op.value, left, right, span=token_span(op))
        operands.append(self._node(node, left, right))

    def unop(self, items):
        op, expr = items
        if op.type == "MINUS" and self._is_literal(expr):
            # bison's `int: MINUS INT`: only a literal right after the minus folds
            return ast.Integer(-expr.value, span=span_of(op, expr))
        node = ast.Unop(op.value, expr, span=span_of(op, expr))
        return self._node(node, expr)

    def pre_incdec(self, items):
        op, target = items
        return self._incdec(op, target, is_post=False, span=span_of(op, target))

    def post_incdec(self, items):
        target, op = items
        return self._incdec(op, target, is_post=True, span=span_of(target, op))

    def _incdec(self, op: Token, target, is_post: bool, span: Span):
        if not isinstance(target, (ast.Map, ast.Variable)):
            # bison's error rules locate `ident ++` at the ident and `++ ident` at the `++`
            where = target.span if is_post and isinstance(target, ast.Identifier) \
                else token_span(op)
            raise LexError(f"The {op.value} operator must be applied to a map or variable",
                           where, bison_location=False)
        return self._node(ast.Unop(op.value, target, is_post=is_post, span=span), target)

    def cast(self, items):
        type_name, expr = items[1], items[3]
        node = ast.Cast(type_name, expr, span=span_of(items[0], items[2]))
        return self._node(node, expr)

    def cast_ident(self, items):
        name, expr = items[1], items[-1]
        stars = items[2] if len(items) == 5 else 0
        type_name = ast.TypeName(name.value, pointer_depth=stars,
                                 span=span_of(name, items[-3] if stars else None))
        node = ast.Cast(type_name, expr, span=span_of(items[0], items[-2]))
        return self._node(node, expr)

    # ------------------------------------------------------------------ postfix

    def field(self, items):
        expr, name = items[0], items[2]
        node = ast.FieldAccess(expr, field=name.value, span=span_of(expr, name))
        return self._node(node, expr)

    def arrow(self, items):
        expr, name = items[0], items[2]
        node = ast.FieldAccess(expr, field=name.value, arrow=True, span=span_of(expr, name))
        return self._node(node, expr)

    def tuple_index(self, items):
        expr, index = items[0], items[2]
        node = ast.FieldAccess(expr, index=index.value, span=span_of(expr, index))
        return self._node(node, expr)

    def index(self, items):
        expr, index = items[0], items[2]
        node = ast.ArrayAccess(expr, index, span=span_of(expr, items[3]))
        return self._node(node, expr, index)

    # ------------------------------------------------------------------ primaries

    def integer(self, items):
        return self._literal(items[0].value, token_span(items[0]))

    def _literal(self, value: int, span: Span) -> ast.Integer:
        node = ast.Integer(value, span=span)
        self._literals[id(node)] = node
        return node

    def string(self, items):
        return ast.String(items[0].value, span=token_span(items[0]))

    def builtin(self, items):
        return ast.Builtin(items[0].value, span=token_span(items[0]))

    def identifier(self, items):
        return ast.Identifier(items[0].value, span=token_span(items[0]))

    def param(self, items):
        return ast.PositionalParameter(items[0].value, span=token_span(items[0]))

    def paramcount(self, items):
        return ast.PositionalCount(span=token_span(items[0]))

    def variable(self, items):
        return ast.Variable(items[0].value, span=token_span(items[0]))

    def map(self, items):
        keys = items[2] if len(items) == 4 else []
        node = ast.Map(items[0].value, keys, span=span_of(*items))
        return self._node(node, keys)

    def call(self, items):
        name, args = items[0], (items[2] if len(items) == 4 else [])
        node = ast.Call(name.value, args, span=span_of(name, items[-1]))
        return self._node(node, args)

    def callee(self, items):
        return items[0]

    def args(self, items):
        if len(items) == 1:
            return [items[0]]
        items[0].append(items[2])       # in place: long argument lists stay linear
        return items[0]

    def sizeof(self, items):
        target = items[2]
        if isinstance(target, ast.Identifier):      # sizeof(u64): a typedef name
            target = ast.TypeName(target.name, span=target.span)
        node = ast.Sizeof(target, span=span_of(items[0], items[3]))
        return self._node(node, target)

    def offsetof(self, items):
        node = ast.Offsetof(items[2], items[4], span=span_of(items[0], items[5]))
        return node

    def paren(self, items):
        inner = items[1]
        self._literals.pop(id(inner), None)           # -(1) is not the literal -1
        return inner

    def tuple(self, items):
        elems = [items[1]] + items[3]
        node = ast.Tuple(elems, span=span_of(items[0], items[-1]))
        return self._node(node, elems)

    # ------------------------------------------------------------------ types

    def type_name(self, items):
        if items[0].type == "INT_TYPE":
            base, rest = items[0].value, items[1:]
        else:
            base, rest = f"{items[0].value} {items[1].value}", items[2:]
        stars, array_len = 0, None
        for item in rest:
            if isinstance(item, int) and not isinstance(item, Token):
                stars = item
            elif isinstance(item, tuple):
                array_len = item[0]
        return ast.TypeName(base, pointer_depth=stars, array_len=array_len,
                            span=span_of(*items[:2], *(i[1] for i in rest
                                                       if isinstance(i, tuple))))

    def stars(self, items):
        return len(items)

    def array_len(self, items):
        return items[1].value, items[2]

    def offset_type(self, items):
        item = items[0]
        if isinstance(item, Token):
            return ast.TypeName(item.value, span=token_span(item))
        return item

    def field_path(self, items):
        return [t.value for t in items if t.type != "DOT"]

    def field_name(self, items):
        return items[0]


class TokenStream(_LarkLexer):
    """Hands lark the tokens our Lexer made (`lex()` gets them via the input text).  Lives at
    module level so lark can pickle a reference to it in its grammar cache."""

    def __init__(self, lexer_conf):
        pass

    def lex(self, data):        # lark's classic custom-lexer signature
        return data.tokens()
