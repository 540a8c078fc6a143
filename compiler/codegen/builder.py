"""Low-level BPF IR building on top of llvmlite's IRBuilder.

Owns `BpfBuilder`: allocas (always in the entry block, zero-filled where they are used, and
counted against the 512-byte BPF stack), BPF helper calls by id (`inttoptr` of the helper
number, at most 5 arguments), memset/memcpy intrinsics, map pointers (external globals the
loader relocates) and the event output path (`bpf_ringbuf_output`, counting failures in the
per-CPU "lost" map).  Knows nothing about the AST.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

from llvmlite import ir

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
I8P = I8.as_pointer()

# enum bpf_func_id (include/uapi/linux/bpf.h)
MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM = 1, 2, 3
PROBE_READ = 4
GET_PRANDOM_U32 = 7
GET_SMP_PROCESSOR_ID = 8
GET_CURRENT_PID_TGID = 14
GET_CURRENT_UID_GID = 15
GET_CURRENT_COMM = 16
GET_STACKID = 27
GET_CURRENT_TASK = 35
PROBE_READ_STR = 45
GET_CURRENT_CGROUP_ID = 80
SEND_SIGNAL = 109
PROBE_READ_USER = 112
PROBE_READ_KERNEL = 113
PROBE_READ_USER_STR = 114
PROBE_READ_KERNEL_STR = 115
JIFFIES64 = 118
KTIME_GET_BOOT_NS = 125
RINGBUF_OUTPUT = 130
RINGBUF_QUERY = 134
BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP = 1, 2     # bpf_ringbuf_output() flags
BPF_RB_AVAIL_DATA = 0                            # bpf_ringbuf_query(): bytes not yet consumed
GET_FUNC_IP = 173

BPF_ANY = 0
STACK_LIMIT = 512
# Room kept for register spills that LLVM may add on top of our allocas.
SPILL_MARGIN = 24


class BpfBuilder:
    def __init__(self, module: ir.Module, name: str, section: str, maps: dict):
        self.module = module
        fnty = ir.FunctionType(I64, [I8P])
        self.func = ir.Function(module, fnty, name)
        self.func.section = section
        self.func.attributes.add("nounwind")
        self.ctx = self.func.args[0]
        self.entry = self.func.append_basic_block("entry")
        body = self.func.append_basic_block("body")
        self._alloca_builder = ir.IRBuilder(self.entry)
        self.b = ir.IRBuilder(body)
        self.maps = maps            # name -> ir.GlobalVariable
        self.ring_bytes = 1 << 23   # size of the events ring (its wakeup threshold is half)
        self.live_bytes = 0         # stack bytes live at the current point
        self.stack_bytes = 0        # the peak of live_bytes: our estimate of the frame size
        self._scopes: list[list[tuple[ir.Value, int]]] = [[]]
        self._memset = None
        self._memcpy = None

    def finish(self) -> None:
        """Close the entry block (allocas only) with a jump to the first body block."""
        self._alloca_builder.branch(self.func.basic_blocks[1])
        if not self.b.block.is_terminated:
            self.b.ret(ir.Constant(I64, 0))

    # ---- memory
    def alloca(self, ty: ir.Type, name: str = "", persistent: bool = False) -> ir.Value:
        """A stack slot in the entry block.  Temporaries belong to the innermost `scope()`:
        their lifetime ends with it, so LLVM's stack colouring can reuse the bytes (the
        estimate below follows the same rule)."""
        size = (_type_size(ty) + 7) // 8 * 8
        ptr = self._alloca_builder.alloca(ty, name=name)
        ptr.align = 8
        self.live_bytes += size
        self.stack_bytes = max(self.stack_bytes, self.live_bytes)
        if not persistent:
            self._lifetime_call("start", ptr)
            self._scopes[-1].append((ptr, size))
        return ptr

    @contextmanager
    def scope(self):
        """Temporaries allocated inside die at the end (one statement, a condition)."""
        self._scopes.append([])
        try:
            yield
        finally:
            for ptr, size in self._scopes.pop():
                self.live_bytes -= size
                if not self.b.block.is_terminated:
                    self._lifetime_call("end", ptr)

    def _lifetime_call(self, which: str, ptr: ir.Value) -> None:
        # llvm.lifetime.* must receive the alloca itself (not a bitcast), but llvmlite's
        # typed pointers need one declaration per pointer type: declare placeholders here,
        # and `finalize_ir()` renames them to the intrinsic (all `ptr` once LLVM parses).
        name = f"{LIFETIME_PREFIX}{which}_{_mangle(str(ptr.type))}"
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [ptr.type]), name)
        self.b.call(fn, [ptr])

    def alloca_bytes(self, size: int, name: str = "", persistent: bool = False) -> ir.Value:
        """A zero-filled byte buffer (as i8*)."""
        ptr = self.alloca(ir.ArrayType(I8, max(1, size)), name, persistent)
        p = self.b.bitcast(ptr, I8P)
        self.memset(p, size)
        return p

    def memset(self, ptr: ir.Value, size: int, value: int = 0) -> None:
        if size <= 0:
            return
        if self._memset is None:
            fnty = ir.FunctionType(ir.VoidType(), [I8P, I8, I64, I1])
            self._memset = _intrinsic(self.module, "llvm.memset.p0.i64", fnty)
        self.b.call(self._memset, [self.b.bitcast(ptr, I8P), ir.Constant(I8, value),
                                   ir.Constant(I64, size), ir.Constant(I1, 0)])

    def memcpy(self, dst: ir.Value, src: ir.Value, size: int) -> None:
        if size <= 0:
            return
        if self._memcpy is None:
            fnty = ir.FunctionType(ir.VoidType(), [I8P, I8P, I64, I1])
            self._memcpy = _intrinsic(self.module, "llvm.memcpy.p0.p0.i64", fnty)
        self.b.call(self._memcpy, [self.b.bitcast(dst, I8P), self.b.bitcast(src, I8P),
                                   ir.Constant(I64, size), ir.Constant(I1, 0)])

    def offset(self, ptr: ir.Value, off: int) -> ir.Value:
        """`(i8*)ptr + off`."""
        p = self.b.bitcast(ptr, I8P)
        return self.b.gep(p, [ir.Constant(I64, off)]) if off else p

    def store_int(self, ptr: ir.Value, off: int, value: ir.Value, size: int = 8) -> None:
        ty = ir.IntType(size * 8)
        if value.type != ty:
            value = self.b.trunc(value, ty) if value.type.width > size * 8 else self.b.zext(value, ty)
        self.b.store(value, self.b.bitcast(self.offset(ptr, off), ty.as_pointer()))

    def load_int(self, ptr: ir.Value, off: int = 0, size: int = 8, signed: bool = False) -> ir.Value:
        ty = ir.IntType(size * 8)
        v = self.b.load(self.b.bitcast(self.offset(ptr, off), ty.as_pointer()))
        if size == 8:
            return v
        return self.b.sext(v, I64) if signed else self.b.zext(v, I64)

    # ---- helpers
    def helper(self, helper_id: int, args: list, ret: ir.Type = I64) -> ir.Value:
        assert len(args) <= 5, "BPF helpers take at most 5 arguments"
        fnty = ir.FunctionType(ret, [a.type for a in args])
        fn = self.b.inttoptr(ir.Constant(I64, helper_id), fnty.as_pointer())
        return self.b.call(fn, args)

    def stop_flag(self) -> ir.Value:
        """The u64 the loader sets when it detaches (artifact.STOP_FLAG_SECTION): probes
        check it first, so they stop at once although a tracepoint takes tens of ms to
        detach."""
        from ..artifact import STOP_FLAG_SECTION, STOP_FLAG_SYMBOL
        flag = self.module.globals.get(STOP_FLAG_SYMBOL)
        if flag is None:
            flag = ir.GlobalVariable(self.module, I64, name=STOP_FLAG_SYMBOL)
            flag.initializer = ir.Constant(I64, 0)
            flag.section = STOP_FLAG_SECTION
            flag.align = 8
        return flag

    def map_ptr(self, name: str) -> ir.Value:
        return self.b.bitcast(self.maps[name], I8P)

    def map_lookup(self, name: str, key: ir.Value) -> ir.Value:
        return self.helper(MAP_LOOKUP_ELEM, [self.map_ptr(name), self.b.bitcast(key, I8P)], I8P)

    def map_update(self, name: str, key: ir.Value, value: ir.Value, flags: int = BPF_ANY) -> None:
        self.helper(MAP_UPDATE_ELEM, [self.map_ptr(name), self.b.bitcast(key, I8P),
                                      self.b.bitcast(value, I8P), ir.Constant(I64, flags)])

    def map_delete(self, name: str, key: ir.Value) -> None:
        self.helper(MAP_DELETE_ELEM, [self.map_ptr(name), self.b.bitcast(key, I8P)])

    def probe_read(self, dst: ir.Value, size, src: ir.Value, user: bool, string: bool = False):
        if string:
            hid = PROBE_READ_USER_STR if user else PROBE_READ_KERNEL_STR
        else:
            hid = PROBE_READ_USER if user else PROBE_READ_KERNEL
        if not isinstance(size, ir.Value):
            size = ir.Constant(I32, size)
        if src.type != I8P:
            src = self.b.inttoptr(src, I8P) if isinstance(src.type, ir.IntType) else self.b.bitcast(src, I8P)
        return self.helper(hid, [self.b.bitcast(dst, I8P), size, src])

    def if_then(self, cond: ir.Value):
        return self.b.if_then(cond)

    def output_event(self, record: ir.Value, size: int, urgent: bool = False) -> None:
        """Write a record to the events ring buffer; count a failure in the lost map.

        Wakeups are batched: a record wakes the reader only when the ring is more than half
        full (BPF_RB_NO_WAKEUP otherwise; readers poll with a short timeout), so a flood
        does not pay a wakeup per event.  `urgent` records (exit()) always wake it."""
        if urgent:
            flags = ir.Constant(I64, BPF_RB_FORCE_WAKEUP)
        else:
            avail = self.helper(RINGBUF_QUERY, [self.map_ptr("events"),
                                                ir.Constant(I64, BPF_RB_AVAIL_DATA)])
            full = self.b.icmp_unsigned(">", avail, ir.Constant(I64, self.ring_bytes // 2))
            flags = self.b.select(full, ir.Constant(I64, BPF_RB_FORCE_WAKEUP),
                                  ir.Constant(I64, BPF_RB_NO_WAKEUP))
        rc = self.helper(RINGBUF_OUTPUT, [self.map_ptr("events"), self.b.bitcast(record, I8P),
                                          ir.Constant(I64, size), flags])
        with self.b.if_then(self.b.icmp_signed("<", rc, ir.Constant(I64, 0))):
            key = self.alloca(I32, "lost_key")
            self.b.store(ir.Constant(I32, 0), key)
            slot = self.map_lookup("lost", key)
            with self.b.if_then(self.b.icmp_unsigned("!=", slot, ir.Constant(I8P, None))):
                p = self.b.bitcast(slot, I64.as_pointer())
                self.b.store(self.b.add(self.b.load(p), ir.Constant(I64, 1)), p)


LIFETIME_PREFIX = "__bt_lifetime_"
_LIFETIME_CALL = re.compile(r'@"__bt_lifetime_(start|end)_\w+"')
_LIFETIME_DECL = re.compile(r'^declare void @"__bt_lifetime_.*$\n?', re.M)


def _mangle(type_text: str) -> str:
    return re.sub(r"\W", "_", type_text)


def finalize_ir(text: str) -> str:
    """Rename the lifetime placeholders to the real (opaque-pointer) intrinsics."""
    if LIFETIME_PREFIX not in text:
        return text
    text = _LIFETIME_DECL.sub("", text)
    text = _LIFETIME_CALL.sub(lambda m: f"@llvm.lifetime.{m.group(1)}.p0", text)
    return (text + "\ndeclare void @llvm.lifetime.start.p0(ptr)\n"
            "declare void @llvm.lifetime.end.p0(ptr)\n")


def _intrinsic(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, fnty, name)


def _type_size(ty: ir.Type) -> int:
    if isinstance(ty, ir.IntType):
        return max(1, ty.width // 8)
    if isinstance(ty, ir.ArrayType):
        return ty.count * _type_size(ty.element)
    if isinstance(ty, ir.LiteralStructType):
        return sum(_type_size(e) for e in ty.elements)
    return 8
