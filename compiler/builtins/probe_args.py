"""Arguments of the dynamic probes whose types come from BTF or from USDT notes.

Owns `args` for kfunc/kretfunc (the traced function's parameters, from its BTF FUNC_PROTO)
and rawtracepoint (the event's parameters, from `__bpf_trace_<event>` / `btf_trace_<event>`),
`retval` for kretfunc (the return type from BTF, stored after the parameters), `ctx` for iter
probes (`struct bpf_iter__<name> *`: `ctx->task`, `ctx->meta`, ...), `func` for
kfunc/kretfunc (bpf_get_func_ip), `arg0..argN` for rawtracepoint (u64 slots of the
context) and for usdt (decoded from the probe's `.note.stapsdt` argument specs: registers,
memory operands, constants).

These entries wrap the generic ones of `variables.py`: a probe type not handled here falls
through to them unchanged.  Context layouts: tracing and raw tracepoint programs get an array
of u64, argument i at byte 8*i (a kretfunc's return value at 8*nargs); usdt programs get
`struct pt_regs`.
"""
from __future__ import annotations

from llvmlite import ir

from ..types import Field, Kind, Pointer, SizedType
from ..codegen import builder as H
from .registry import BUILTINS, Entry, builtin

BTF_ARG_PROVIDERS = ("kfunc", "kretfunc", "rawtracepoint")
TRACING_PROVIDERS = ("kfunc", "kretfunc", "iter")
MAX_USDT_ARGS = 12


def _btf(c):
    return c.btf()


def _proto(c, n):
    """The BTF FuncProto the current probe's arguments come from (None after an error)."""
    btf = _btf(c)
    target = c.unit.targets[0]
    if btf is None:
        c.error(f"{c.provider}: the kernel has no BTF (/sys/kernel/btf/vmlinux)", n.span)
        return None, None
    from ..btf import BtfError
    try:
        if c.provider == "rawtracepoint":
            return btf, btf.tracepoint_args(target.func)
        return btf, btf.func_proto(target.func)
    except BtfError as e:
        c.error(str(e), n.span)
        return None, None


def _args_record(c, n):
    btf, proto = _proto(c, n)
    if proto is None:
        return None
    fields = tuple(Field(p.name or f"arg{i}", _arg_type(btf, p.type_id), 8 * i)
                   for i, p in enumerate(proto.params))
    name = f"struct {c.provider}_{c.unit.targets[0].func}_args"
    record = SizedType(Kind.RECORD, 8 * len(fields), name=name, fields=fields)
    return _ctx_type(c.provider, record)


def _ctx_type(provider: str, record: SizedType) -> SizedType:
    """Raw tracepoint contexts are read with plain loads (CTX).  A tracing program's context
    holds BTF pointers the verifier may mark `_or_null`, which forbids arithmetic on them:
    its fields are read with probe_read (a kernel POINTER to the context), giving scalars."""
    if provider in TRACING_PROVIDERS:
        return Pointer(record, name=record.name)
    return SizedType(Kind.CTX, 8, elems=(record,), name=record.name + " *")


def _ctx_address(g):
    return g.b.ptrtoint(g.bb.ctx, H.I64) if g.unit.provider in TRACING_PROVIDERS else g.bb.ctx


def _arg_type(btf, type_id: int) -> SizedType:
    t = btf.to_sized_type(type_id)
    if t.kind in (Kind.INT, Kind.POINTER):
        return t
    return SizedType(Kind.INT, 8, False)     # floats, struct-by-value: the raw u64 slot


def _wrap(name: str, check=None, lower=None, **changes) -> None:
    """Replace builtin `name` with one that handles some providers and defers the rest."""
    base = BUILTINS[name]

    def wrapped_check(c, n):
        out = check(c, n) if check else NotImplemented
        return base.check(c, n) if out is NotImplemented else out

    def wrapped_lower(g, n):
        out = lower(g, n) if lower else NotImplemented
        return base.lower(g, n) if out is NotImplemented else out

    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    fields.update(changes, check=wrapped_check, lower=wrapped_lower)
    for shortcut in ("lower_into", "lower_assign"):    # would bypass wrapped_lower
        if shortcut in fields:
            fields[shortcut] = None
    builtin(Entry(**fields))


# ---- args

def _args_check(c, n):
    if c.provider not in BTF_ARG_PROVIDERS:
        return NotImplemented
    return _args_record(c, n)


def _args_lower(g, n):
    return _ctx_address(g) if g.unit.provider in BTF_ARG_PROVIDERS else NotImplemented


_wrap("args", _args_check, _args_lower,
      signature="args: the probe's arguments (tracepoint format, or BTF for kfunc/rawtracepoint)",
      probes="tracepoint, kfunc, kretfunc, rawtracepoint")


# ---- retval (kretfunc)

def _retval_check(c, n):
    if c.provider != "kretfunc":
        return NotImplemented
    btf, proto = _proto(c, n)
    if proto is None:
        return None
    if not proto.return_type:
        c.error(f"The retval builtin can not be used: {proto.name} returns void", n.span)
        return None
    c.set_data(n, 8 * len(proto.params))
    return _arg_type(btf, proto.return_type)


def _retval_lower(g, n):
    if g.unit.provider != "kretfunc":
        return NotImplemented
    t = n.type
    size = t.size if t.kind == Kind.INT else 8
    buf = g.bb.alloca_bytes(8, "retval")
    g.bb.probe_read(buf, size, g.bb.offset(g.bb.ctx, g.data(n)), False)
    return g.bb.load_int(buf, 0, size, t.signed if t.kind == Kind.INT else False)


_wrap("retval", _retval_check, _retval_lower, probes="kretprobe, uretprobe, kretfunc")


# ---- func (kfunc/kretfunc: bpf_get_func_ip)

BPF_FUNC_GET_FUNC_IP = 173


def _func_check(c, n):
    return SizedType(Kind.KSYM, 8) if c.provider in ("kfunc", "kretfunc") else NotImplemented


def _func_lower(g, n):
    if g.unit.provider not in ("kfunc", "kretfunc"):
        return NotImplemented
    return g.bb.helper(BPF_FUNC_GET_FUNC_IP, [g.bb.ctx])


_wrap("func", _func_check, _func_lower, probes="kprobe, kretprobe, uprobe, uretprobe, kfunc, "
      "kretfunc")


# ---- ctx (iter)

def _ctx_check(c, n):
    if c.provider != "iter":
        c.error("The ctx builtin can only be used with iter probes "
                f"({c.provider} used here)", n.span)
        return None
    btf = _btf(c)
    from ..btf import BtfError
    name = f"struct bpf_iter__{c.unit.targets[0].func}"
    try:
        record = btf.record_type(name) if btf is not None else None
    except BtfError:
        record = None
    if record is None:
        c.error(f"iter {c.unit.targets[0].func}: '{name}' is not in the kernel's BTF", n.span)
        return None
    return _ctx_type("iter", record)


builtin(Entry("ctx", "ctx: struct bpf_iter__<name> *",
              "The iterator's context: `ctx->task` (iter:task, iter:task_file), `ctx->file`, "
              "`ctx->fd` (iter:task_file), `ctx->meta`.", probes="iter",
              check=_ctx_check, lower=lambda g, n: _ctx_address(g), kind="builtin"))


# ---- arg0..argN (rawtracepoint u64 slots, usdt note specs)

def _usdt_arg(c, n, index: int):
    """The decoded spec of usdt argument `index` (the same in every site of this program)."""
    from ..usdt_notes import UsdtError, usdt_sites
    specs = set()
    for t in c.unit.targets:
        provider, _, name = t.func.partition(":")
        try:
            sites = [s for s in usdt_sites(t.target, provider, name)
                     if s.file_offset == t.address] or usdt_sites(t.target, provider, name)
        except UsdtError as e:
            c.error(str(e), n.span)
            return None
        for s in sites[:1]:
            if index >= len(s.args):
                c.error(f"usdt probe {t.func} has only {len(s.args)} arguments "
                        f"(arg{index} used here)", n.span)
                return None
            specs.add(s.args[index])
    if len(specs) != 1:
        c.error(f"arg{index} of {c.unit.targets[0].func} differs between its probe sites",
                n.span)
        return None
    return specs.pop()


def _argn_check(index: int):
    def check(c, n):
        if c.provider == "rawtracepoint":
            return SizedType(Kind.INT, 8, False)
        if c.provider != "usdt":
            return NotImplemented
        arg = _usdt_arg(c, n, index)
        if arg is None:
            return None
        if arg.kind == "rip" and arg.address is None:
            c.error(f"arg{index} ({arg.spec}) is a %rip-relative operand of a position-"
                    "independent object: its address is only known with -p PID", n.span)
            return None
        c.set_data(n, arg)
        return SizedType(Kind.INT, 8, arg.signed)
    return check


def _sext(g, v, size: int, signed: bool):
    if size == 8:
        return v
    bits = size * 8
    v = g.b.trunc(v, ir.IntType(bits))
    return g.b.sext(v, H.I64) if signed else g.b.zext(v, H.I64)


def _reg(g, reg):
    v = g.bb.load_int(g.bb.ctx, reg.offset, 8)
    shift = getattr(reg, "shift", 0)
    return g.b.lshr(v, ir.Constant(H.I64, shift)) if shift else v


def _argn_lower(index: int):
    def lower(g, n):
        if g.unit.provider == "rawtracepoint":
            return g.bb.load_int(g.bb.ctx, 8 * index, 8)
        if g.unit.provider != "usdt":
            return NotImplemented
        arg = g.data(n)
        if arg.kind == "const":
            return ir.Constant(H.I64, arg.value & (2 ** 64 - 1))
        if arg.kind == "reg":
            return _sext(g, _reg(g, arg.reg), arg.size, arg.signed)
        if arg.kind == "rip":
            addr = ir.Constant(H.I64, arg.address)
        else:
            addr = _reg(g, arg.reg) if arg.reg is not None else ir.Constant(H.I64, 0)
            if arg.index is not None:
                addr = g.b.add(addr, g.b.mul(_reg(g, arg.index),
                                             ir.Constant(H.I64, arg.scale)))
            addr = g.b.add(addr, ir.Constant(H.I64, arg.disp & (2 ** 64 - 1)))
        buf = g.bb.alloca_bytes(8, "usdt_arg")
        g.bb.probe_read(buf, arg.size, g.b.inttoptr(addr, H.I8P), True)
        return _sext(g, g.bb.load_int(buf, 0, 8), arg.size, arg.signed)
    return lower


for _i in range(MAX_USDT_ARGS):
    if f"arg{_i}" in BUILTINS:
        _wrap(f"arg{_i}", _argn_check(_i), _argn_lower(_i),
              probes="kprobe, uprobe, usdt, rawtracepoint")
    else:
        builtin(Entry(f"arg{_i}", f"arg{_i}: unsigned int64",
                      f"Argument {_i} of a usdt probe (from its note) or a raw tracepoint.",
                      probes="usdt, rawtracepoint", kind="builtin",
                      check=lambda c, n, f=_argn_check(_i): _no_fallback(f(c, n), c, n),
                      lower=_argn_lower(_i)))


def _no_fallback(out, c, n):
    if out is NotImplemented:
        c.error(f"The {n.name} builtin can only be used with 'kprobes', 'uprobes' and 'usdt' "
                "probes", n.span)
        return None
    return out
