"""Semantic analysis: types of every expression, maps, variables and async actions.

Owns `analyse()`, which splits the expanded probes into BPF programs (`ProgramUnit`s), fills
`node.type` on every expression, checks map key/value consistency, variables, control flow
and casts with bpftrace 0.17's messages, and records the async call sites (`ActionSpec`s) and
the tables codegen needs (`Analysis`).  Builtins and functions are type-checked by their
registry entries (compiler/builtins); this module never dispatches on their names.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Optional

from .. import ast
from ..artifact import ActionSpec, AttachTarget
from ..builtins import registry
from ..diagnostics import Diagnostics
from ..source import Span
from ..tracepoints import KernelInfo, TracepointInfo
from ..types import (AGGREGATIONS, Int, Kind, NONE, SizedType, Str, TupleOf, UInt,
                     struct_layout)
from .probes import ExpandedProbe

PROG_TYPES = {"BEGIN": "raw_tracepoint", "END": "raw_tracepoint", "tracepoint": "tracepoint",
              "interval": "perf_event", "profile": "perf_event", "software": "perf_event",
              "hardware": "perf_event", "kprobe": "kprobe", "kretprobe": "kprobe",
              "uprobe": "kprobe", "uretprobe": "kprobe", "usdt": "kprobe"}
U64 = UInt(64)
I64 = Int(64)
# Kinds held in one 64-bit register (everything else lives in memory).
SCALAR_KINDS = frozenset({Kind.INT, Kind.POINTER, Kind.KSTACK, Kind.USTACK, Kind.KSYM,
                          Kind.USERNAME, Kind.PROBE, Kind.STRERROR, Kind.CTX})
_ACTION_BASE = {"printf": 0, "system": 10000, "cat": 20000}


def is_scalar(t: Optional[SizedType]) -> bool:
    return t is not None and t.kind in SCALAR_KINDS


def storage_type(t: SizedType) -> SizedType:
    """How a value is stored in maps, tuples and event records: integers widen to 64 bits."""
    if t.kind == Kind.INT:
        return Int(64, t.signed)
    if t.kind == Kind.POINTER:
        return U64
    if t.kind == Kind.TUPLE:
        return TupleOf([storage_type(e) for e in t.elems])
    return t


def type_class(t: SizedType) -> str:
    """bpftrace 0.17's coarse type name ('integer', 'string', ...) used by some messages."""
    return {Kind.INT: "integer", Kind.STRING: "string", Kind.POINTER: "integer"}.get(t.kind, t.kind.value)


@dataclass
class MapInfo:
    name: str
    key_args: Optional[list[SizedType]] = None     # None until first keyed/keyless use
    value: Optional[SizedType] = None

    @property
    def key_type(self) -> Optional[SizedType]:
        if not self.key_args:
            return None
        if len(self.key_args) == 1:
            return self.key_args[0]
        return TupleOf(self.key_args)


@dataclass
class ProgramUnit:
    """One BPF program: a (copy of a) probe block and the targets it attaches to."""
    probe: ast.Probe
    index: int
    targets: list[AttachTarget]
    section: str
    tracepoint: Optional[TracepointInfo] = None
    probe_id: Optional[int] = None                 # `probe` builtin value when single-target
    variables: dict[str, SizedType] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return self.targets[0].provider

    @property
    def prog_type(self) -> str:
        return PROG_TYPES.get(self.provider, "kprobe")


@dataclass
class Analysis:
    units: list[ProgramUnit]
    maps: dict[str, MapInfo]
    actions: list[ActionSpec] = field(default_factory=list)
    node_data: dict[int, object] = field(default_factory=dict)   # id(node) -> per-site data
    probe_names: list[str] = field(default_factory=list)
    strftime_formats: list[str] = field(default_factory=list)
    internal_roles: set[str] = field(default_factory=set)         # "elapsed", "kstack", ...
    stack_types: set[tuple] = field(default_factory=set)           # (kind, limit, mode)


def _walk(node):
    yield node
    for child in ast.children(node):
        yield from _walk(child)


def _uses_builtin(probe: ast.Probe, names: set[str]) -> bool:
    return any(isinstance(n, ast.Builtin) and n.name in names for n in _walk(probe))


def _section_name(provider: str, n: int) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"s_{provider}_{n}")


def make_units(expanded: list[ExpandedProbe], kernel: KernelInfo,
               probe_names: list[str]) -> list[ProgramUnit]:
    """Split probes into BPF programs: one per prog type, or one per target when the body
    depends on which target fired (`probe`, `args`)."""
    units: list[ProgramUnit] = []
    for ep in expanded:
        if not ep.targets:
            continue
        split = _uses_builtin(ep.probe, {"probe", "args"})
        groups: dict[str, list[AttachTarget]] = {}
        if split:
            for i, t in enumerate(ep.targets):
                groups[f"{i}"] = [t]
        else:
            for t in ep.targets:
                groups.setdefault(PROG_TYPES.get(t.provider, "kprobe"), []).append(t)
        for targets in groups.values():
            probe = copy.deepcopy(ep.probe) if len(groups) > 1 else ep.probe
            unit = ProgramUnit(probe, ep.index, targets, _section_name(targets[0].provider,
                                                                       len(units) + 1))
            if len(targets) == 1:
                name = targets[0].name
                if name not in probe_names:
                    probe_names.append(name)
                unit.probe_id = probe_names.index(name)
                if targets[0].provider == "tracepoint":
                    unit.tracepoint = kernel.tracepoint(targets[0].target, targets[0].func)
            units.append(unit)
    return units


class Checker:
    """Walks one program's units and types them.  Entries in the builtin registry call back
    into `expr()`, `error()`, `add_action()` and friends."""

    def __init__(self, analysis: Analysis, diags: Diagnostics, options, params: tuple[str, ...]):
        self.analysis = analysis
        self.diags = diags
        self.options = options
        self.params = params
        self.unit: Optional[ProgramUnit] = None
        self.loop_depth = 0
        self.final = True           # False in the silent passes: only learn map types
        self.guess_unknown_maps = False
        self._reported: set = set()
        self._assigning: Optional[str] = None     # map of the assignment being checked
        self._next_action = {"printf": 0, "system": 0, "cat": 0, "other": 30000}

    # ---- helpers for registry entries
    def error(self, message: str, span=None) -> None:
        self._report("ERROR", message, span)

    def warning(self, message: str, span=None) -> None:
        self._report("WARNING", message, span)

    def _report(self, severity: str, message: str, span) -> None:
        # Copies of one probe body (one per wildcard target) report a problem once.
        key = (severity, message, span)
        if not self.final or key in self._reported:
            return
        self._reported.add(key)
        if severity == "ERROR":
            self.diags.error(message, span)
        else:
            self.diags.warning(message, span)

    @property
    def provider(self) -> str:
        return self.unit.provider if self.unit else ""

    @property
    def strlen(self) -> int:
        return self.options.strlen

    def add_action(self, node, kind: str, args: tuple[SizedType, ...] = (), **extra) -> ActionSpec:
        """Register the async call site `node` (once per node) and lay out its record."""
        key = id(node)
        existing = self.analysis.node_data.get(key)
        if isinstance(existing, ActionSpec):
            return existing
        base = _ACTION_BASE.get(kind)
        counter = kind if base is not None else "other"
        action_id = (base or 0) + self._next_action[counter]
        self._next_action[counter] += 1
        stored = tuple(storage_type(a) for a in args)
        offsets, size = struct_layout([U64, *stored])
        span = (node.span.line, node.span.col) if node.span.line else None
        spec = ActionSpec(id=action_id, kind=kind, args=stored, offsets=tuple(offsets[1:]),
                          record_size=max(8, size), span=span, **extra)
        self.analysis.actions.append(spec)
        self.analysis.node_data[key] = spec
        return spec

    def set_data(self, node, value) -> None:
        self.analysis.node_data[id(node)] = value

    def map_info(self, name: str) -> MapInfo:
        return self.analysis.maps.setdefault(name, MapInfo(name))

    def param(self, index: int) -> Optional[str]:
        return self.params[index - 1] if 1 <= index <= len(self.params) else None

    # ---- units
    def check_unit(self, unit: ProgramUnit) -> None:
        self.unit = unit
        unit.variables = {}
        if unit.probe.predicate is not None:
            t = self.expr(unit.probe.predicate)
            if t is not None and not is_scalar(t):
                self.error(f"Invalid type for predicate: {type_class(t)}", unit.probe.predicate.span)
        self.block(unit.probe.body)
        self.unit = None

    def block(self, stmts: list) -> None:
        for s in stmts:
            self.stmt(s)

    # ---- statements
    def stmt(self, s) -> None:
        method = getattr(self, "_stmt_" + type(s).__name__)
        method(s)

    def _stmt_ExprStatement(self, s: ast.ExprStatement) -> None:
        self.expr(s.expr, allow_none=True)

    def _stmt_AssignMap(self, s: ast.AssignMap) -> None:
        entry = registry.lookup_function(s.expr.func) if isinstance(s.expr, ast.Call) else None
        if entry is not None and entry.kind == "aggregation":
            value = entry.check(self, s.expr)
            s.expr.type = value
        else:
            self._assigning = s.map.name
            value = self.expr(s.expr)
            self._assigning = None
            if value is not None and value.kind == Kind.NONE:
                self.error("Invalid expression for assignment: none", s.expr.span)
                value = None
        self.map_keys(s.map)
        info = self.map_info(s.map.name)
        if value is None:
            if info.value is None:
                self._failed_assignment(f"Undefined map: {s.map.name}", s.map.span, s.expr)
            return
        if info.value is None:
            info.value = value if value.is_aggregation else storage_type(value)
        elif info.value.kind == value.kind == Kind.TUPLE and not _compatible(info.value, value):
            self.error(f"Tuple type mismatch: {info.value} != {storage_type(value)}.",
                       self._assign_span(s.map.span))
        elif not _compatible(info.value, value):
            self.error(f"Type mismatch for {s.map.name}: trying to assign value of type "
                       f"'{value}' when map already contains a value of type '{info.value}",
                       s.map.span)
        elif value.kind == Kind.STRING and value.size > info.value.size:
            info.value = Str(value.size)
        elif value.kind == Kind.LHIST and value.params != info.value.params and self.final:
            self.error("Different lhist bounds in a single map unsupported", s.expr.span)
        s.map.type = info.value

    def _assign_span(self, target_span: Span) -> Span:
        """bpftrace locates assignments at their '=' sign."""
        src = self.diags.source
        line = src.line_text(target_span.end_line) if src else ""
        col = line.find("=", target_span.end_col - 1) + 1 if line else 0
        if col <= 0:
            return target_span
        return Span(target_span.end_line, col, target_span.end_line, col + 1)

    def _failed_assignment(self, target_msg: str, target_span: Span, expr) -> None:
        # bpftrace 0.17 follows a failed expression with these two errors.
        if not isinstance(expr, _CASCADING):
            return
        span = expr.span
        if isinstance(expr, ast.Unop):
            if expr.op != "*":
                return
            span = Span(span.line, span.col, span.line, span.col + 1)
        if isinstance(expr, ast.FieldAccess) and expr.index is None:
            base = expr.expr.type
            if base is None or base.kind in (Kind.RECORD, Kind.CTX, Kind.POINTER):
                return
            span = _field_span(expr)
        self.error(target_msg, target_span)
        self.error("Invalid expression for assignment: none", span)

    def _stmt_AssignVar(self, s: ast.AssignVar) -> None:
        value = self.expr(s.expr)
        if value is None:
            if s.var.name not in self.unit.variables:
                self._failed_assignment(f"Undefined variable: {s.var.name}",
                                        self._assign_span(s.var.span), s.expr)
            return
        if value.kind == Kind.NONE or value.is_aggregation:
            self.error(f"Invalid expression for assignment: {value}", s.expr.span)
            return
        known = self.unit.variables.get(s.var.name)
        if known is None:
            self.unit.variables[s.var.name] = value
        elif not _compatible(known, value):
            self.error(f"Type mismatch for {s.var.name}: trying to assign value of type "
                       f"'{value}' when variable already contains a value of type '{known}'",
                       s.var.span)
        elif value.kind == Kind.STRING and value.size > known.size:
            self.unit.variables[s.var.name] = Str(value.size)
        s.var.type = self.unit.variables[s.var.name]

    def _stmt_If(self, s: ast.If) -> None:
        t = self.expr(s.cond)
        if t is not None and not is_scalar(t):
            self.error(f"Invalid condition in if(): {type_class(t)}", s.cond.span)
        self.block(s.then)
        self.block(s.orelse)

    def _stmt_Unroll(self, s: ast.Unroll) -> None:
        count = self.const_int(s.count)
        if count is None:
            self.error("unroll count must be an integer literal or positional parameter", s.span)
        elif count > 100:
            self.error("unroll maximum value is 100", s.span)
        elif count < 1:
            self.error("unroll minimum value is 1", s.span)
        self.set_data(s, count or 0)
        self.block(s.body)

    def _stmt_While(self, s: ast.While) -> None:
        t = self.expr(s.cond)
        if t is not None and not is_scalar(t):
            self.error(f"Invalid condition in while(): {type_class(t)}", s.cond.span)
        self.loop_depth += 1
        self.block(s.body)
        self.loop_depth -= 1

    def _stmt_Jump(self, s: ast.Jump) -> None:
        if s.kind in ("break", "continue") and self.loop_depth == 0:
            self.error(f"{s.kind} used outside of a loop", s.span)

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
            return _param_int(self.param(node.index))
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
        self.error(f"Unknown identifier: '{n.name}'", n.span)
        return None

    def _expr_PositionalParameter(self, n: ast.PositionalParameter) -> SizedType:
        raw = self.param(n.index)
        if raw is not None and _param_int(raw) is None:
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
            _compatible(a, b) for a, b in zip(info.key_args, args))
        if not same:
            def show(ts):
                return "[" + ", ".join(str(t) for t in ts) + "]"
            self.error(f"Argument mismatch for {m.name}: trying to access with arguments: "
                       f"{show(args)} when map expects arguments: {show(info.key_args)}", m.span)
            return
        info.key_args = [Str(max(a.size, b.size)) if a.kind == Kind.STRING else a
                         for a, b in zip(info.key_args, args)]

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
        lvalue, rvalue = _literal_value(n.left), _literal_value(n.right)
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
                return inner if inner.kind == Kind.INT else U64
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
                       _field_span(n))
            return None
        for f in record.fields:
            if f.name == n.field:
                return f.type
        self.error(f"Struct/union of type '{record.name}' does not contain a field named "
                   f"'{n.field}'", n.span)
        return None

    def _expr_ArrayAccess(self, n: ast.ArrayAccess) -> Optional[SizedType]:
        t, it = self.expr(n.expr), self.expr(n.index)
        if t is None or it is None:
            return None
        if it.kind != Kind.INT:
            self.error(f"The array index operator [] only accepts integer indices", n.index.span)
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
        target = _cast_type(n.target)
        if target is None:
            self.error(f"Cannot resolve unknown type \"{n.target.name}\"", n.span)
            return None
        if not is_scalar(t):
            self.error(f"Casts are not supported for type: \"{t}\"", n.span)
            return None
        return target

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
            t = _cast_type(n.target)
            if t is None:
                self.error(f"Unknown identifier: '{n.target.name}'", n.span)
                return None
            self.set_data(n, t.size)
        else:
            t = self.expr(n.target)
            if t is None:
                return None
            self.set_data(n, t.size)
        return U64

    def _expr_Offsetof(self, n: ast.Offsetof) -> Optional[SizedType]:
        self.error(f"Cannot resolve unknown type \"{n.target.name}\"", n.span)
        return None


def _field_span(n: ast.FieldAccess) -> Span:
    """bpftrace locates a field access at its base expression and the dot."""
    sp = n.expr.span
    return sp.merge(Span(sp.end_line, sp.end_col, sp.end_line, sp.end_col + 1))


_CASCADING = (ast.Unop, ast.ArrayAccess, ast.FieldAccess, ast.Map)

INT_TYPE_NAMES = {f"{p}int{b}": Int(b, p == "") for p in ("", "u") for b in (8, 16, 32, 64)}
INT_TYPE_NAMES.update({"char": Int(8), "short": Int(16), "int": Int(32), "long": Int(64),
                       "unsigned char": UInt(8), "unsigned short": UInt(16),
                       "unsigned int": UInt(32), "unsigned long": UInt(64), "bool": UInt(8)})


def _cast_type(tn: ast.TypeName) -> Optional[SizedType]:
    base = INT_TYPE_NAMES.get(tn.name)
    if tn.pointer_depth:
        from ..types import Pointer
        return Pointer(base or UInt(8), name=tn.name + " " + "*" * tn.pointer_depth)
    if base is None:
        return None
    if tn.array_len is not None:
        return SizedType(Kind.ARRAY, base.size * tn.array_len, elems=(base,))
    return base


def _literal_value(node) -> Optional[int]:
    if isinstance(node, ast.Integer):
        return node.value
    if isinstance(node, ast.Unop) and node.op == "-" and isinstance(node.expr, ast.Integer):
        return -node.expr.value
    return None


def _param_int(raw: Optional[str]) -> Optional[int]:
    if raw is None:
        return 0
    try:
        return int(raw, 0)
    except ValueError:
        return None


def _compatible(a: SizedType, b: SizedType) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == Kind.TUPLE:
        return len(a.elems) == len(b.elems) and all(_compatible(x, y) for x, y in zip(a.elems, b.elems))
    if a.kind == Kind.LHIST or a.kind == Kind.HIST:
        return True
    if a.kind in (Kind.INT, Kind.STRING):
        return True
    return a.size == b.size or a.is_aggregation


def _reset(analysis: Analysis) -> None:
    """Keep only the learned map value types before the next walk."""
    analysis.maps = {name: MapInfo(name, None, info.value)
                     for name, info in analysis.maps.items() if info.value is not None}
    analysis.actions.clear()
    analysis.node_data.clear()
    analysis.internal_roles.clear()
    analysis.stack_types.clear()
    analysis.strftime_formats.clear()


def analyse(expanded: list[ExpandedProbe], kernel: KernelInfo, options,
            params: tuple[str, ...], diags: Diagnostics) -> Analysis:
    """Type the whole program.  Two walks: the first only learns map types (a map may be
    read in a probe that comes before the one assigning it), the second reports errors."""
    probe_names: list[str] = []
    units = make_units(expanded, kernel, probe_names)
    analysis = Analysis(units, {}, probe_names=probe_names)
    # Silent passes: first learn the maps assigned from known values, then let maps that
    # are only read-modified (`@x += 1`, `@x = @x + 1`) default to int64 like bpftrace.
    for guess in (False, True):
        silent = Checker(analysis, Diagnostics(diags.source), options, params)
        silent.final = False
        silent.guess_unknown_maps = guess
        for unit in units:
            silent.check_unit(unit)
        _reset(analysis)
    checker = Checker(analysis, diags, options, params)
    for unit in units:
        checker.check_unit(unit)
    for name, info in list(analysis.maps.items()):
        if info.value is None:
            del analysis.maps[name]
    return analysis
