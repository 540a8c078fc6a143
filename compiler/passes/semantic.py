"""Semantic analysis: types of every expression, maps, variables and async actions.

Owns `analyse()`, which splits the expanded probes into BPF programs (`ProgramUnit`s), fills
`node.type` on every expression, checks map key/value consistency, variables, control flow
and casts with bpftrace 0.17's messages, and records the async call sites (`ActionSpec`s) and
the tables codegen needs (`Analysis`).  Builtins and functions are type-checked by their
registry entries (compiler/builtins); this module never dispatches on their names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .. import ast
from ..artifact import ActionSpec
from ..builtins import registry
from ..diagnostics import Diagnostics
from ..source import Span
from ..tracepoints import KernelInfo
from ..types import Kind, SizedType, TupleOf, struct_layout
from .expressions import ExpressionChecks, field_span
from .probes import ExpandedProbe
from .type_rules import U64, compatible, unify, is_scalar, storage_type, type_class
from .units import ProgramUnit, make_units

MAX_UNROLLED_STATEMENTS = 1000
# LLVM's time grows faster than linearly with a probe's size (2000 statements: 1.5 s, 10000:
# 100 s) and the kernel refuses huge programs anyway: refuse them before codegen.
MAX_PROBE_STATEMENTS = 3000
_ACTION_BASE = {"printf": 0, "system": 10000, "cat": 20000}


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
class Analysis:
    units: list[ProgramUnit]
    maps: dict[str, MapInfo]
    actions: list[ActionSpec] = field(default_factory=list)
    node_data: dict[int, object] = field(default_factory=dict)   # id(node) -> per-site data
    probe_names: list[str] = field(default_factory=list)
    strftime_formats: list[str] = field(default_factory=list)
    internal_roles: set[str] = field(default_factory=set)         # "elapsed", "kstack", ...
    stack_types: set[tuple] = field(default_factory=set)           # (kind, limit, mode)


class Checker(ExpressionChecks):
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
            self.diags.error(message, self._lexer_span(span))
        else:
            self.diags.warning(message, span)

    def _lexer_span(self, span: Optional[Span]) -> Optional[Span]:
        """bpftrace 0.17's lexer only starts a new location at whitespace, so a node written
        right after `(` or `,` is reported from the start of that run of text:
        `if (@c > 1)` underlines `(@c > 1`, `printf("%d\n",$b)` underlines from `printf`."""
        src = self.diags.source
        if span is None or src is None or span.line == 0:
            return span
        line = src.line_text(span.line)
        col = src.text_col(span.line, span.col)
        while col > 1 and col - 2 < len(line) and line[col - 2] not in " \t":
            col -= 1
        col = src.shown_col(span.line, col)
        return span if col == span.col else Span(span.line, col, span.end_line, span.end_col)

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

    def storable(self, t: SizedType, span) -> bool:
        """Struct values are read field by field; they can't be copied whole."""
        if t.kind == Kind.RECORD:
            self.error(f"Struct/union values can not be stored or printed ({t}); access a "
                       "field instead", span)
            return False
        return True

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
        self.unroll_factor = 1
        self.unrolled_statements = 0
        if unit.probe.predicate is not None:
            t = self.expr(unit.probe.predicate)
            if t is not None and not is_scalar(t):
                self.error(f"Invalid type for predicate: {type_class(t)}", unit.probe.predicate.span)
        self.block(unit.probe.body)
        if self.unrolled_statements > MAX_PROBE_STATEMENTS and self.unroll_factor == 1:
            points = unit.probe.attach_points
            span = points[0].span.merge(points[-1].span) if points else unit.probe.span
            self.error(f"this probe holds {self.unrolled_statements} statements (at most "
                       f"{MAX_PROBE_STATEMENTS}): split the work over several probes", span)
        self.unit = None

    def block(self, stmts: list) -> None:
        for s in stmts:
            self.stmt(s)

    # ---- statements
    def stmt(self, s) -> None:
        self.unrolled_statements += self.unroll_factor
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
        if not self.storable(value, s.expr.span):
            return
        if value.kind in (Kind.HIST, Kind.LHIST) and isinstance(s.expr, ast.Map):
            self.error(f"{value.kind.value}() maps can not be copied to another map", s.expr.span)
            return
        if info.value is None:
            info.value = value if value.is_aggregation else storage_type(value)
        elif info.value.kind == value.kind == Kind.TUPLE and not compatible(info.value, value):
            self.error(f"Tuple type mismatch: {info.value} != {storage_type(value)}.",
                       self._assign_span(s.map.span))
        elif not compatible(info.value, value if value.is_aggregation else storage_type(value)):
            self.error(f"Type mismatch for {s.map.name}: trying to assign value of type "
                       f"'{value}' when map already contains a value of type '{info.value}",
                       s.map.span)
        elif value.kind in (Kind.STRING, Kind.TUPLE):
            info.value = unify(info.value, storage_type(value))
        elif value.kind == Kind.LHIST and value.params != info.value.params and self.final:
            self.error("Different lhist bounds in a single map unsupported", s.expr.span)
        s.map.type = info.value

    def _assign_span(self, target_span: Span) -> Span:
        """bpftrace locates assignments at their '=' sign."""
        src = self.diags.source
        line = src.line_text(target_span.end_line) if src else ""
        at = src.text_col(target_span.end_line, target_span.end_col) if src else 0
        col = line.find("=", at - 1) + 1 if line else 0
        if col <= 0:
            return target_span
        col = src.shown_col(target_span.end_line, col)
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
            span = field_span(expr)
        self.error(target_msg, target_span)
        self.error("Invalid expression for assignment: none", span)

    def _stmt_AssignVar(self, s: ast.AssignVar) -> None:
        value = self.expr(s.expr)
        if value is None:
            if s.var.name not in self.unit.variables:
                self._failed_assignment(f"Undefined variable: {s.var.name}",
                                        self._assign_span(s.var.span), s.expr)
            return
        if value.kind == Kind.NONE or value.kind in (Kind.HIST, Kind.LHIST):
            # (count/sum/min/max/avg/stats values read from a map may be kept: bpftrace does)
            self.error(f"Invalid expression for assignment: {value}", s.expr.span)
            return
        if not self.storable(value, s.expr.span):
            return
        known = self.unit.variables.get(s.var.name)
        if known is None:
            self.unit.variables[s.var.name] = value
        elif not compatible(known, value):
            self.error(f"Type mismatch for {s.var.name}: trying to assign value of type "
                       f"'{value}' when variable already contains a value of type '{known}'",
                       s.var.span)
        elif value.kind in (Kind.STRING, Kind.TUPLE):
            self.unit.variables[s.var.name] = unify(known, value)
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
        outer = self.unroll_factor
        self.unroll_factor = outer * max(1, min(count or 1, 100))
        self.block(s.body)
        self.unroll_factor = outer
        if outer == 1 and self.unrolled_statements > MAX_UNROLLED_STATEMENTS:
            # Nested unrolls multiply: refuse before codegen builds a gigantic program.
            self.error(f"unroll: the unrolled probe would hold {self.unrolled_statements} "
                       f"statements (at most {MAX_UNROLLED_STATEMENTS})", s.span)

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


_CASCADING = (ast.Unop, ast.ArrayAccess, ast.FieldAccess, ast.Map)


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
