"""Type rules for expressions (the expression half of the semantic pass).

Owns `ExpressionChecks`, mixed into `semantic.Checker`: literals, variables, maps and their
keys, operators (with bpftrace 0.17's sign warnings), ternaries, field/tuple/array access,
casts, tuples and sizeof; builtins and calls go to their registry entries.
"""
from __future__ import annotations

from typing import Optional

from .. import ast
from ..builtins import registry
from ..source import Span
from ..types import Int, Kind, SizedType, Str, TupleOf, UInt
from .type_rules import (I64, U64, unify, cast_type, compatible, is_scalar, param_int,
                         storage_type, type_class)


class ExpressionChecks:
    # ---- expressions
    def expr(self, node, allow_none: bool = False) -> Optional[SizedType]:
        method = getattr(self, "_expr_" + type(node).__name__)
        t = method(node)
        node.type = t
        if t is not None and t.is_aggregation and not isinstance(node, ast.Map) and self.final:
            pass
        return t

    def const_int(self, node) -> Optional[int]:
        """Value of an integer known at compile time (literal, `$N`, `$#`), else None."""
        if isinstance(node, ast.Integer):
            return node.value
        if isinstance(node, ast.PositionalParameter):
            return param_int(self.param(node.index))
        if isinstance(node, ast.PositionalCount):
            return len(self.params)
        if isinstance(node, ast.Unop) and node.op == "-":
            inner = self.const_int(node.expr)
            return None if inner is None else -inner
        return None

    def _expr_Integer(self, n: ast.Integer) -> SizedType:
        return UInt(64) if n.value >= 1 << 63 else I64

    def _expr_String(self, n: ast.String) -> SizedType:
        return Str(len(n.value.encode("utf-8", "surrogateescape")) + 1)

    def _expr_Builtin(self, n: ast.Builtin) -> Optional[SizedType]:
        entry = registry.lookup_builtin(n.name)
        if entry is None:
            self.error(f"Unknown builtin variable: '{n.name}'", n.span)
            return None
        return entry.check(self, n)

    def _expr_Identifier(self, n: ast.Identifier) -> Optional[SizedType]:
        types = self.btf()
        found = types.enum_constant(n.name) if types is not None else None
        if found is not None:           # an enumerator (program definition or kernel BTF)
            self.set_data(n, found[0])
            return U64                  # bpftrace 0.17 types enumerators as uint64
        self.error(f"Unknown identifier: '{n.name}'", n.span)
        return None

    def _expr_PositionalParameter(self, n: ast.PositionalParameter) -> SizedType:
        raw = self.param(n.index)
        if raw is not None and param_int(raw) is None:
            self.error(f'${n.index} used numerically but given "{raw}". Try using '
                       f'str(${n.index}).', n.span)
        return I64

    def _expr_PositionalCount(self, n: ast.PositionalCount) -> SizedType:
        return I64

    def _expr_Variable(self, n: ast.Variable) -> Optional[SizedType]:
        t = self.unit.variables.get(n.name)
        if t is None:
            self.error(f"Undefined or undeclared variable: {n.name}", n.span)
        return t

    def map_keys(self, m: ast.Map) -> None:
        """Check the key expressions of `m` against the map's key (first use fixes it)."""
        args = []
        for k in m.keys:
            t = self.expr(k)
            if t is None:
                return
            if t.kind == Kind.TUPLE:
                self.error("tuple cannot be used as a map key. Try a multi-key associative array "
                           "instead (eg `@map[$1, $2] = ...)`.", m.span)
                return
            if t.kind == Kind.NONE or t.is_aggregation:
                self.error(f"Invalid map key type: {t}", k.span)
                return
            args.append(U64 if t.kind in (Kind.INT, Kind.POINTER) else storage_type(t))
        info = self.map_info(m.name)
        if info.key_args is None:
            info.key_args = args
            return
        same = len(args) == len(info.key_args) and all(
            compatible(a, b) for a, b in zip(info.key_args, args))
        if not same:
            def show(ts):
                return "[" + ", ".join(str(t) for t in ts) + "]"
            self.error(f"Argument mismatch for {m.name}: trying to access with arguments: "
                       f"{show(args)} when map expects arguments: {show(info.key_args)}", m.span)
            return
        info.key_args = [unify(a, b) for a, b in zip(info.key_args, args)]

    def _expr_Map(self, n: ast.Map) -> Optional[SizedType]:
        self.map_keys(n)
        info = self.analysis.maps.get(n.name)
        if (info is None or info.value is None) and self.guess_unknown_maps \
                and n.name == self._assigning:
            return I64
        if info is None or info.value is None:
            self.error(f"Undefined map: {n.name}", n.span)
            return None
        return info.value

    def _expr_Call(self, n: ast.Call) -> Optional[SizedType]:
        entry = registry.lookup_function(n.func)
        if entry is None:
            sp = n.span
            self.error(f"Unknown function: {n.func}",
                       Span(sp.line, sp.col, sp.line, sp.col + len(n.func)))
            for a in n.args:
                self.expr(a, allow_none=True)
            return None
        if entry.kind == "aggregation":
            self.error(f"{n.func}() should be directly assigned to a map", n.span)
            entry.check(self, n)
            return None
        if entry.unsafe and not self.options.unsafe:
            self.error(f"{n.func}() is an unsafe function being used in safe mode", n.span)
        return entry.check(self, n)

    def _expr_Binop(self, n: ast.Binop) -> Optional[SizedType]:
        lt, rt = self.expr(n.left), self.expr(n.right)
        if lt is None or rt is None:
            return None
        if n.op in ("==", "!=") and lt.kind == Kind.STRING and rt.kind == Kind.STRING:
            return I64
        if n.op in ("==", "!=") and lt.kind == rt.kind and lt.kind in (Kind.PROBE, Kind.USERNAME):
            return I64
        if not is_scalar(lt) or not is_scalar(rt) or lt.kind != rt.kind and Kind.INT not in (
                lt.kind, rt.kind):
            self.error(f"Type mismatch for '{n.op}': comparing '{lt}' with '{rt}'",
                       n.left.span.merge(n.right.span))
            return None
        if lt.kind == Kind.INT and rt.kind == Kind.INT:
            self._sign_warnings(n, lt, rt)
        if n.op in ("==", "!=", "<", ">", "<=", ">=", "&&", "||"):
            return I64
        signed = (lt.signed if lt.kind == Kind.INT else False) and (
            rt.signed if rt.kind == Kind.INT else False)
        return Int(64, signed)

    def _sign_warnings(self, n: ast.Binop, lt: SizedType, rt: SizedType) -> None:
        """bpftrace 0.17's sign warnings; a non-negative literal matches either sign."""
        lvalue, rvalue = self.const_int(n.left), self.const_int(n.right)
        lsigned = lt.signed if lvalue is None else lvalue < 0
        rsigned = rt.signed if rvalue is None else rvalue < 0
        positive_literal = (lvalue is not None and lvalue >= 0) or (
            rvalue is not None and rvalue >= 0)
        if lsigned != rsigned and not positive_literal:
            if n.op in ("==", "!=", "<", ">", "<=", ">="):
                self.warning(f"comparison of integers of different signs: '{lt}' and '{rt}' can "
                             "lead to undefined behavior", n.span)
            elif n.op in ("+", "-", "*", "/", "%"):
                self.warning(f"arithmetic on integers of different signs: '{lt}' and '{rt}' can "
                             "lead to undefined behavior", n.span)
        if n.op in ("/", "%") and (lsigned or rsigned):
            self.warning(f"signed operands for '{n.op}' can lead to undefined behavior (cast to "
                         "unsigned to silence warning)", n.span)

    def _expr_Unop(self, n: ast.Unop) -> Optional[SizedType]:
        if n.op in ("++", "--"):
            return self._increment(n)
        t = self.expr(n.expr)
        if t is None:
            return None
        op_span = Span(n.span.line, n.span.col, n.span.line, n.span.col + 1)
        if n.op == "*":
            if t.kind == Kind.POINTER:
                inner = t.elems[0] if t.elems else U64
                if inner.kind == Kind.RECORD:
                    return self.full_record(inner)
                return inner if inner.kind in (Kind.INT, Kind.POINTER) else U64
            if t.kind == Kind.INT:
                return U64
            self.error(f"The dereference operator can not be used on expressions of type '{t}'",
                       op_span)
            return None
        if not is_scalar(t):
            self.error(f"The {n.op} operator can not be used on expressions of type '{t}'",
                       op_span)
            return None
        return I64 if n.op == "!" else Int(64, t.signed if n.op == "~" else True)

    def _increment(self, n: ast.Unop) -> Optional[SizedType]:
        target = n.expr
        if isinstance(target, ast.Map):
            self.map_keys(target)
            info = self.map_info(target.name)
            if info.value is None:
                info.value = I64
            if info.value.kind != Kind.INT:
                self.error(f"The {n.op} operator can not be used on expressions of type "
                           f"'{info.value}'", n.span)
                return None
            target.type = info.value
            return info.value
        if isinstance(target, ast.Variable):
            t = self.unit.variables.get(target.name)
            if t is None:
                self.error(f"Undefined or undeclared variable: {target.name}", target.span)
                return None
            target.type = t
            return t
        self.error(f"The {n.op} operator must be applied to a map or variable", n.span)
        return None

    def _expr_Ternary(self, n: ast.Ternary) -> Optional[SizedType]:
        c, lt, rt = self.expr(n.cond), self.expr(n.left), self.expr(n.right)
        if c is None or lt is None or rt is None:
            return None
        if lt.kind != rt.kind or not (is_scalar(lt) or lt.kind == Kind.STRING):
            self.error(f"Ternary operator must return the same type: have '{type_class(lt)}' "
                       f"and '{type_class(rt)}'", n.span)
            return None
        if lt.kind == Kind.STRING:
            return Str(max(lt.size, rt.size))
        return Int(64, lt.signed and rt.signed) if lt.kind == Kind.INT else lt

    def _expr_FieldAccess(self, n: ast.FieldAccess) -> Optional[SizedType]:
        t = self.expr(n.expr)
        if t is None:
            return None
        if n.index is not None:
            if t.kind != Kind.TUPLE:
                self.error(f"Can not access index {n.index} on expression of type '{t}'", n.span)
                return None
            if n.index >= len(t.elems):
                self.error(f"Invalid tuple index: {n.index}. Found {len(t.elems)} elements in "
                           "tuple.", n.span)
                return None
            return t.elems[n.index]
        record = t.elems[0] if t.kind in (Kind.POINTER, Kind.CTX) and t.elems else t
        if record.kind != Kind.RECORD:
            self.error(f"Can not access field '{n.field}' on expression of type '{t}'",
                       field_span(n))
            return None
        record = self.full_record(record)
        for f in record.fields:
            if f.name == n.field:
                self.set_data(n, f)
                return f.type
        self.error(f"Struct/union of type '{record.name}' does not contain a field named "
                   f"'{n.field}'", n.span)
        return None

    def _expr_ArrayAccess(self, n: ast.ArrayAccess) -> Optional[SizedType]:
        t, it = self.expr(n.expr), self.expr(n.index)
        if t is None or it is None:
            return None
        if it.kind != Kind.INT:
            self.error("The array index operator [] only accepts integer indices", n.index.span)
            return None
        if t.kind == Kind.ARRAY:
            idx = self.const_int(n.index)
            count = t.size // max(1, t.elems[0].size)
            if idx is None:
                self.error("The array index operator [] requires a literal index", n.index.span)
            elif not 0 <= idx < count:
                self.error(f"the index {idx} is out of bounds for array of size {count}", n.span)
            return t.elems[0]
        if t.kind == Kind.POINTER:
            return t.elems[0] if t.elems else U64
        self.error("The array index operator [] can only be used on arrays and pointers, found "
                   f"{type_class(t)}.", n.span)
        return None

    def _expr_Cast(self, n: ast.Cast) -> Optional[SizedType]:
        t = self.expr(n.expr)
        if t is None:
            return None
        target = cast_type(n.target, self.btf())
        if target is None:
            if n.target.name.startswith(("struct ", "union ")):
                self.error(f"Unknown struct/union: '{n.target.name}'", _struct_type_span(n))
            else:
                self.error(f"Cannot resolve unknown type \"{n.target.name}\"", n.span)
            return None
        if not is_scalar(t):
            self.error(f"Casts are not supported for type: \"{t}\"", n.span)
            return None
        return target

    def btf(self):
        """C types: the program's own definitions over the kernel BTF (compiler.c_types), or
        the kernel BTF alone, loaded on first use (None without BTF)."""
        types = getattr(self.options, "extra", {}).get("c_types")
        if types is not None:
            return types
        get = getattr(self.options.kernel_info(), "btf", None)
        return get() if get else None

    def full_record(self, record: SizedType) -> SizedType:
        """A pointee struct arrives without fields (cycles): expand it from BTF."""
        if record.fields or not record.name:
            return record
        btf = self.btf()
        if btf is None:
            return record
        from ..btf import BtfError
        try:
            return btf.record_type(record.name)
        except BtfError:
            return record

    def _expr_Tuple(self, n: ast.Tuple) -> Optional[SizedType]:
        elems = [self.expr(e) for e in n.elems]
        if any(e is None for e in elems):
            return None
        for e, node in zip(elems, n.elems):
            if e.kind == Kind.NONE or e.is_aggregation:
                self.error(f"Invalid tuple element type: {e}", node.span)
                return None
        return TupleOf([storage_type(e) for e in elems])

    def _expr_Sizeof(self, n: ast.Sizeof) -> Optional[SizedType]:
        if isinstance(n.target, ast.TypeName):
            t = cast_type(n.target, self.btf())
            if t is None:
                self.error(f"Unknown identifier: '{n.target.name}'", _struct_type_span(n))
                return None
            self.set_data(n, t.size)
        else:
            t = self.expr(n.target)
            if t is None:
                return None
            self.set_data(n, t.size)
        return U64

    def _expr_Offsetof(self, n: ast.Offsetof) -> Optional[SizedType]:
        types = self.btf()
        from ..btf import BtfError
        try:
            if types is None:
                raise BtfError("no BTF")
            self.set_data(n, types.offsetof(n.target.name, list(n.fields)))
        except BtfError:
            self.error(f"Cannot resolve unknown type \"{n.target.name}\"", n.span)
            return None
        return U64



def field_span(n: ast.FieldAccess) -> Span:
    """bpftrace locates a field access at its base expression and the dot."""
    sp = n.expr.span
    return sp.merge(Span(sp.end_line, sp.end_col, sp.end_line, sp.end_col + 1))


def _struct_type_span(n) -> Span:
    """Where bpftrace 0.17 reports an unknown type in `(struct X *)e` or `sizeof(struct X)`:
    its type token, which ends where the closing `)` really ends.  That `)` is printed one
    column to the right (lexer._struct_type_columns), so the span ends a column before it."""
    sp = n.span
    if not n.target.name.startswith(("struct ", "union ", "enum ")) or sp.end_line != sp.line:
        return sp
    start = n.target.span if n.target.span.line == sp.line else sp    # `error` widens it left
    return Span(sp.line, start.col, sp.end_line, sp.end_col - 1)
