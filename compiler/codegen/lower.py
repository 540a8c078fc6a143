"""Lowering of one typed probe block (a `ProgramUnit`) to an LLVM function.

Owns `Lowerer`: statements, operators, control flow (if/unroll/while with break/continue,
return), scratch variables, map reads/writes with their key layouts, and the copy rules
between values.  Integers live in i64 registers; strings, tuples and other aggregates live
in zero-filled stack buffers and are passed around as i8 pointers.  Builtins and functions
are lowered by their registry entries, which call back into this class.
"""
from __future__ import annotations

from typing import Optional

from llvmlite import ir

from .. import ast
from ..builtins import registry
from ..passes.semantic import Analysis
from ..passes.type_rules import is_scalar, param_int, storage_type
from ..passes.units import ProgramUnit
from ..types import Kind, SizedType
from .builder import I1, I64, I8, I8P, BpfBuilder
from .maps import MapLowering
from .operators import BINOPS, signed_int, string_equal

ZERO = ir.Constant(I64, 0)
ONE = ir.Constant(I64, 1)
PT_REGS_ORIG_AX = 120       # offsetof(struct pt_regs, orig_ax) on x86_64: the syscall id


class Lowerer(MapLowering):
    def __init__(self, bb: BpfBuilder, unit: ProgramUnit, analysis: Analysis, options,
                 params: tuple[str, ...]):
        self.bb = bb
        self.b = bb.b
        self.unit = unit
        self.analysis = analysis
        self.options = options
        self.params = params
        self.vars: dict[str, ir.Value] = {}
        self.loops: list[tuple[ir.Block, ir.Block]] = []   # (continue target, break target)
        self._probe_value: Optional[ir.Value] = None

    # ---- entry points
    def lower_unit(self) -> None:
        traced = self.unit.provider not in ("BEGIN", "END")    # BEGIN/END run in our process
        if traced:
            self._return_unless(self.b.icmp_unsigned("==", self.b.load(self.bb.stop_flag()),
                                                     ZERO))
        for name, t in self.unit.variables.items():
            st = storage_type(t)
            self.vars[name] = self.bb.alloca_bytes(st.size, name, persistent=True)
        if self.unit.syscall_ids:
            self._syscall_filter()
        if self.options.pid is not None and traced:
            pid = self.b.lshr(self.bb.helper(14, []), ir.Constant(I64, 32))
            self._return_unless(self.b.icmp_unsigned("==", pid, ir.Constant(I64, self.options.pid)))
        pred = self.unit.probe.predicate
        if pred is not None:
            with self.bb.scope():
                cond = self.truth(self.expr(pred))
            self._return_unless(cond)
        self.block(self.unit.probe.body)

    def _syscall_filter(self) -> None:
        """A raw_syscalls program standing for several syscall tracepoints: return unless
        the syscall id is one of them, and look the `probe` value up in a .rodata table
        (id -> probe index + 1, 0 for syscalls not traced)."""
        ids = self.unit.syscall_ids
        ty = ir.ArrayType(ir.IntType(16), max(ids) + 1)
        table = ir.GlobalVariable(self.bb.module, ty, name=self.bb.func.name + "_syscall_probe")
        table.initializer = ir.Constant(ty, [ids.get(i, -1) + 1 for i in range(ty.count)])
        table.global_constant = True
        table.linkage = "internal"
        if self.unit.attach_via.func == "sys_enter":     # ctx: {struct pt_regs *regs; long id}
            nr = self.bb.load_int(self.bb.ctx, 8)
        else:                                           # ctx: {struct pt_regs *regs; long ret}
            slot = self.bb.alloca(I64, "syscall_nr", persistent=True)
            self.b.store(ZERO, slot)
            regs = self.bb.load_int(self.bb.ctx, 0)
            self.bb.probe_read(slot, 8, self.b.add(regs, ir.Constant(I64, PT_REGS_ORIG_AX)),
                               user=False)
            nr = self.b.load(slot)
        self._return_unless(self.b.icmp_unsigned("<", nr, ir.Constant(I64, ty.count)))
        entry = self.b.load(self.b.gep(table, [ir.Constant(ir.IntType(32), 0), nr]))
        entry = self.b.zext(entry, I64)
        self._return_unless(self.b.icmp_unsigned("!=", entry, ZERO))
        self._probe_value = self.b.sub(entry, ONE)

    def probe_value(self) -> ir.Value:
        """The `probe` builtin: an index into CompiledProgram.probe_names."""
        if self._probe_value is not None:
            return self._probe_value
        return ir.Constant(I64, self.unit.probe_id or 0)

    def _return_unless(self, cond: ir.Value) -> None:
        with self.b.if_then(self.b.not_(cond)):
            self.b.ret(ZERO)

    def data(self, node):
        return self.analysis.node_data.get(id(node))

    # ---- statements
    def block(self, stmts: list) -> None:
        for s in stmts:
            if self.b.block.is_terminated:
                return
            with self.bb.scope():
                getattr(self, "_stmt_" + type(s).__name__)(s)

    def _stmt_ExprStatement(self, s: ast.ExprStatement) -> None:
        self.expr(s.expr)

    def _stmt_AssignMap(self, s: ast.AssignMap) -> None:
        t = s.expr.type
        if t is not None and t.is_aggregation and isinstance(s.expr, ast.Call):
            entry = registry.lookup_function(s.expr.func)
            entry.lower_assign(self, s.map, s.expr)
            return
        # (an aggregation value read from a map or variable is copied like any other value)
        value = self.expr(s.expr)
        self.map_store(s.map, value, s.expr.type)

    def _stmt_AssignVar(self, s: ast.AssignVar) -> None:
        value = self.expr(s.expr)
        self.store_value(self.vars[s.var.name], value, s.expr.type,
                         storage_type(self.unit.variables[s.var.name]))

    def _stmt_If(self, s: ast.If) -> None:
        cond = self.truth(self.expr(s.cond))
        if s.orelse:
            with self.b.if_else(cond) as (then, orelse):
                with then:
                    self.block(s.then)
                with orelse:
                    self.block(s.orelse)
        else:
            with self.b.if_then(cond):
                self.block(s.then)
        self._fix_unreachable()

    def _fix_unreachable(self) -> None:
        # if_then/if_else leave an empty merge block when both arms returned.
        if not self.b.block.instructions and not list(_preds(self.b.block, self.bb.func)):
            self.b.unreachable()

    def _stmt_Unroll(self, s: ast.Unroll) -> None:
        for _ in range(self.data(s) or 0):
            if self.b.block.is_terminated:
                return
            self.block(s.body)

    def _stmt_While(self, s: ast.While) -> None:
        f = self.bb.func
        cond_bb = f.append_basic_block("while_cond")
        body_bb = f.append_basic_block("while_body")
        end_bb = f.append_basic_block("while_end")
        self.b.branch(cond_bb)
        self.b.position_at_end(cond_bb)
        with self.bb.scope():
            cond = self.truth(self.expr(s.cond))
        self.b.cbranch(cond, body_bb, end_bb)
        self.b.position_at_end(body_bb)
        self.loops.append((cond_bb, end_bb))
        self.block(s.body)
        self.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(cond_bb)
        self.b.position_at_end(end_bb)

    def return_now(self) -> None:
        """End the probe here (`return`, `exit()`); code after it lands in a dead block."""
        self.b.ret(ZERO)
        self.b.position_at_end(self.bb.func.append_basic_block("after_return"))

    def _stmt_Jump(self, s: ast.Jump) -> None:
        if s.kind == "return":
            self.return_now()
            return
        if s.kind == "break":
            self.b.branch(self.loops[-1][1])
        else:
            self.b.branch(self.loops[-1][0])
        dead = self.bb.func.append_basic_block("after_jump")
        self.b.position_at_end(dead)

    # ---- values
    def truth(self, v: ir.Value) -> ir.Value:
        if v.type == I1:
            return v
        return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))

    def to_i64(self, v: ir.Value, signed: bool = False) -> ir.Value:
        if v.type == I64:
            return v
        if isinstance(v.type, ir.PointerType):
            return self.b.ptrtoint(v, I64)
        if v.type.width > 64:
            return self.b.trunc(v, I64)
        return self.b.sext(v, I64) if signed else self.b.zext(v, I64)

    def store_value(self, dst: ir.Value, value: ir.Value, src_t: SizedType,
                    dst_t: Optional[SizedType] = None, off: int = 0) -> None:
        """Store `value` (of type src_t) into memory laid out as dst_t at dst+off."""
        dst_t = dst_t or storage_type(src_t)
        if is_scalar(dst_t):
            self.bb.store_int(dst, off, self.to_i64(value), min(8, dst_t.size) if dst_t.kind ==
                              Kind.INT else 8)
            return
        if dst_t.kind == Kind.TUPLE and src_t.kind == Kind.TUPLE and src_t != dst_t:
            src_offs, dst_offs = src_t.tuple_offsets(), dst_t.tuple_offsets()
            for se, de, so, do in zip(src_t.elems, dst_t.elems, src_offs, dst_offs):
                elem = self.load_value(self.bb.offset(value, so), se)
                self.store_value(dst, elem, se, de, off + do)
            return
        size = min(src_t.size, dst_t.size)
        target = self.bb.offset(dst, off)
        if src_t.size < dst_t.size:
            self.bb.memset(self.bb.offset(target, src_t.size), dst_t.size - src_t.size)
        self.bb.memcpy(target, value, size)

    def load_value(self, ptr: ir.Value, t: SizedType) -> ir.Value:
        """Read a stored value: a scalar into a register, anything else stays a pointer."""
        if is_scalar(t):
            return self.bb.load_int(ptr, 0, t.size if t.kind == Kind.INT else 8, t.signed)
        return self.b.bitcast(ptr, I8P)

    def copy_to_stack(self, ptr: ir.Value, t: SizedType, name: str = "copy") -> ir.Value:
        buf = self.bb.alloca_bytes(t.size, name)
        self.bb.memcpy(buf, ptr, t.size)
        return buf

    # ---- expressions
    def expr(self, node) -> ir.Value:
        return getattr(self, "_expr_" + type(node).__name__)(node)

    def _expr_Integer(self, n: ast.Integer) -> ir.Value:
        return ir.Constant(I64, n.value & 0xFFFFFFFFFFFFFFFF)

    def const_string(self, text: str, size: Optional[int] = None) -> ir.Value:
        data = text.encode("utf-8", "surrogateescape")
        size = size or len(data) + 1
        buf = self.bb.alloca_bytes(size, "str")
        self.store_text(buf, text[:size - 1])
        return buf

    def store_text(self, buf: ir.Value, text: str) -> None:
        """Bytes of `text` into zero-filled memory (the NUL is already there)."""
        for i, byte in enumerate(text.encode("utf-8", "surrogateescape")):
            self.b.store(ir.Constant(I8, byte), self.bb.offset(buf, i))

    def _expr_String(self, n: ast.String) -> ir.Value:
        return self.const_string(n.value, n.type.size)

    def _expr_Builtin(self, n: ast.Builtin) -> ir.Value:
        return registry.lookup_builtin(n.name).lower(self, n)

    def _expr_Call(self, n: ast.Call) -> ir.Value:
        v = registry.lookup_function(n.func).lower(self, n)
        return ZERO if v is None else v

    def _expr_PositionalParameter(self, n: ast.PositionalParameter) -> ir.Value:
        raw = self.params[n.index - 1] if n.index <= len(self.params) else None
        value = param_int(raw) or 0
        return ir.Constant(I64, value & 0xFFFFFFFFFFFFFFFF)

    def _expr_PositionalCount(self, n: ast.PositionalCount) -> ir.Value:
        return ir.Constant(I64, len(self.params))

    def _expr_Variable(self, n: ast.Variable) -> ir.Value:
        return self.load_value(self.vars[n.name], storage_type(self.unit.variables[n.name]))

    def _expr_Map(self, n: ast.Map) -> ir.Value:
        return self.map_read(n)

    def _expr_Binop(self, n: ast.Binop) -> ir.Value:
        if n.op in ("&&", "||"):
            return self._logical(n)
        lt, rt = n.left.type, n.right.type
        if lt.kind == Kind.STRING:
            eq = string_equal(self, self.expr(n.left), lt.size, self.expr(n.right), rt.size)
            return self.b.zext(eq if n.op == "==" else self.b.not_(eq), I64)
        left, right = self.to_i64(self.expr(n.left)), self.to_i64(self.expr(n.right))
        signed = signed_int(lt) and signed_int(rt)
        return BINOPS[n.op](self, left, right, signed, signed_int(lt))

    def _logical(self, n: ast.Binop) -> ir.Value:
        out = self.bb.alloca(I64, "logical")
        left = self.truth(self.expr(n.left))
        short = ONE if n.op == "||" else ZERO
        self.b.store(short, out)
        cond = self.b.not_(left) if n.op == "||" else left
        with self.b.if_then(cond):
            self.b.store(self.b.zext(self.truth(self.expr(n.right)), I64), out)
        return self.b.load(out)

    def _expr_Unop(self, n: ast.Unop) -> ir.Value:
        if n.op in ("++", "--"):
            return self._increment(n)
        v = self.expr(n.expr)
        if n.op == "*":
            if n.type.kind == Kind.RECORD:      # a struct stays an address until a field read
                return self.to_i64(v)
            return self.read_memory(v, n.type, getattr(n.expr.type, "user_ptr", False))
        v = self.to_i64(v)
        if n.op == "-":
            return self.b.neg(v)
        if n.op == "~":
            return self.b.not_(v)
        return self.b.zext(self.b.icmp_unsigned("==", v, ZERO), I64)

    def deref(self, addr: ir.Value, t: SizedType, user: bool) -> ir.Value:
        size = t.size if t.kind == Kind.INT else 8
        buf = self.bb.alloca_bytes(8, "deref")
        self.bb.probe_read(buf, size, self.to_i64(addr), user)
        return self.bb.load_int(buf, 0, size, t.signed if t.kind == Kind.INT else False)

    def _increment(self, n: ast.Unop) -> ir.Value:
        delta = ONE if n.op == "++" else ir.Constant(I64, -1 & 0xFFFFFFFFFFFFFFFF)
        target = n.expr
        if isinstance(target, ast.Variable):
            ptr = self.vars[target.name]
            old = self.bb.load_int(ptr, 0, 8)
            new = self.b.add(old, delta)
            self.bb.store_int(ptr, 0, new)
        else:
            key = self.map_key(target)          # evaluated once: `@[rand]++` is one key
            old = self.map_read(target, key)
            new = self.b.add(old, delta)
            buf = self.bb.alloca(I64, "incr")
            self.b.store(new, buf)
            self.bb.map_update(target.name, key, buf)
        return old if n.is_post else new

    def _expr_Ternary(self, n: ast.Ternary) -> ir.Value:
        cond = self.truth(self.expr(n.cond))
        t = n.type
        if is_scalar(t):
            out = self.bb.alloca(I64, "ternary")
            with self.b.if_else(cond) as (then, orelse):
                with then:
                    self.b.store(self.to_i64(self.expr(n.left)), out)
                with orelse:
                    self.b.store(self.to_i64(self.expr(n.right)), out)
            return self.b.load(out)
        out = self.bb.alloca_bytes(t.size, "ternary")
        with self.b.if_else(cond) as (then, orelse):
            with then:
                self.store_value(out, self.expr(n.left), n.left.type, t)
            with orelse:
                self.store_value(out, self.expr(n.right), n.right.type, t)
        return out

    def _expr_FieldAccess(self, n: ast.FieldAccess) -> ir.Value:
        base_t = n.expr.type
        base = self.expr(n.expr)
        if n.index is not None:
            off = base_t.tuple_offsets()[n.index]
            return self.load_value(self.bb.offset(base, off), base_t.elems[n.index])
        f = self.data(n)
        if base_t.kind == Kind.CTX:
            return self.ctx_field(f, base)
        # Pointers and struct values (kept as kernel addresses) are read field by field.
        addr = self.b.add(self.to_i64(base), ir.Constant(I64, f.offset))
        if f.type.kind == Kind.RECORD:
            return addr
        value = self.read_memory(addr, f.type, base_t.user_ptr)
        if f.bitfield and f.type.kind == Kind.INT:
            shift, width = f.bitfield
            value = self.b.and_(self.b.lshr(value, ir.Constant(I64, shift)),
                                ir.Constant(I64, (1 << width) - 1))
        return value

    def ctx_field(self, f, ctx: ir.Value) -> ir.Value:
        """A tracepoint field read straight from the context (aligned scalar loads), or
        through probe_read for arrays and strings; __data_loc fields become pointers."""
        info = self.unit.tracepoint
        tf = info.field(f.name) if info else None
        if tf is not None and tf.data_loc:
            loc = self.bb.load_int(ctx, f.offset, 4)
            off = self.b.and_(loc, ir.Constant(I64, 0xFFFF))
            return self.b.add(self.b.ptrtoint(ctx, I64), off)
        t = f.type
        if is_scalar(t):
            size = t.size if t.kind == Kind.INT else 8
            if f.offset % size == 0:
                return self.bb.load_int(ctx, f.offset, size, t.signed if t.kind == Kind.INT else False)
            buf = self.bb.alloca_bytes(8, "field")
            self.bb.probe_read(buf, size, self.bb.offset(ctx, f.offset), False)
            return self.bb.load_int(buf, 0, size, t.signed if t.kind == Kind.INT else False)
        buf = self.bb.alloca_bytes(t.size, "field")
        self.bb.probe_read(buf, t.size, self.bb.offset(ctx, f.offset), False)
        return buf

    def read_memory(self, addr: ir.Value, t: SizedType, user: bool) -> ir.Value:
        if t.kind == Kind.RECORD:
            return self.to_i64(addr)
        if is_scalar(t):
            return self.deref(addr, t, user)
        buf = self.bb.alloca_bytes(t.size, "mem")
        self.bb.probe_read(buf, t.size, addr, user)
        return buf

    def _expr_ArrayAccess(self, n: ast.ArrayAccess) -> ir.Value:
        t = n.expr.type
        base = self.expr(n.expr)
        elem = n.type
        if t.kind == Kind.ARRAY:
            idx = self.analysis_const(n.index)
            return self.load_value(self.bb.offset(base, idx * elem.size), elem)
        index = self.to_i64(self.expr(n.index))
        step = elem.size if elem.kind in (Kind.INT, Kind.RECORD) else 8
        addr = self.b.add(self.to_i64(base), self.b.mul(index, ir.Constant(I64, step)))
        return self.read_memory(addr, elem, t.user_ptr)

    def analysis_const(self, node) -> int:
        if isinstance(node, ast.Integer):
            return node.value
        if isinstance(node, ast.PositionalParameter):
            raw = self.params[node.index - 1] if node.index <= len(self.params) else "0"
            return param_int(raw) or 0
        return 0

    def _expr_Cast(self, n: ast.Cast) -> ir.Value:
        v = self.to_i64(self.expr(n.expr))
        t = n.type
        if t.kind == Kind.INT and t.size < 8:
            narrow = self.b.trunc(v, ir.IntType(t.size * 8))
            return self.b.sext(narrow, I64) if t.signed else self.b.zext(narrow, I64)
        return v

    def _expr_Tuple(self, n: ast.Tuple) -> ir.Value:
        t = n.type
        buf = self.bb.alloca_bytes(t.size, "tuple")
        for e, et, off in zip(n.elems, t.elems, t.tuple_offsets()):
            self.store_value(buf, self.expr(e), e.type, et, off)
        return buf

    def _expr_Sizeof(self, n: ast.Sizeof) -> ir.Value:
        return ir.Constant(I64, self.data(n) or 0)

    def _expr_Offsetof(self, n: ast.Offsetof) -> ir.Value:
        return ir.Constant(I64, self.data(n) or 0)

    def _expr_Identifier(self, n: ast.Identifier) -> ir.Value:
        """An enumerator, resolved by the semantic pass."""
        return ir.Constant(I64, (self.data(n) or 0) & 0xFFFFFFFFFFFFFFFF)

    def expr_into(self, node, dst: ir.Value, dst_t: SizedType, off: int) -> None:
        """Evaluate `node` into zero-filled memory at dst+off laid out as dst_t; strings
        from str()/comm are written in place instead of through a stack copy."""
        entry = None
        if isinstance(node, ast.Call):
            entry = registry.lookup_function(node.func)
        elif isinstance(node, ast.Builtin):
            entry = registry.lookup_builtin(node.name)
        t = node.type
        if entry is not None and entry.lower_into is not None and t.kind == Kind.STRING \
                and dst_t.kind == Kind.STRING and dst_t.size >= t.size:
            entry.lower_into(self, node, self.bb.offset(dst, off))
            return
        self.store_value(dst, self.expr(node), t, dst_t, off)

    def emit_action(self, action, nodes: list) -> None:
        """Send the event record `{u64 id; args...}` of `action` with the values of `nodes`."""
        rec = self.bb.alloca_bytes(action.record_size, "rec")
        self.bb.store_int(rec, 0, ir.Constant(I64, action.id))
        for node, dst_t, off in zip(nodes, action.args, action.offsets):
            self.expr_into(node, rec, dst_t, off)
        self.bb.output_event(rec, action.record_size, urgent=action.kind == "exit")


def _preds(block: ir.Block, func: ir.Function):
    for bb in func.basic_blocks:
        term = bb.terminator
        if term is not None and block in getattr(term, "operands", []):
            yield bb
