"""Builtin variables: pid, tid, uid, gid, username, cpu, comm, nsecs, elapsed, curtask,
cgroup, rand, cpid, probe, args, arg0..arg5, retval, func, kstack, ustack.

Each is one registry entry: its type rule (including which probe types allow it, with
bpftrace 0.17's messages) and its lowering through BPF helpers or context reads (x86-64
`struct pt_regs` offsets for kprobe/uprobe registers).
"""
from __future__ import annotations

from llvmlite import ir

from ..types import Kind, SizedType, Str, UInt
from ..codegen import builder as H
from .registry import Entry, builtin

U64 = UInt(64)
U32 = UInt(32)
# struct pt_regs (arch/x86/include/asm/ptrace.h): argument registers di, si, dx, cx, r8, r9
PT_REGS_ARGS = (112, 104, 96, 88, 72, 64)
PT_REGS_AX = 80
PT_REGS_IP = 128
REG_PROBES = ("kprobe", "uprobe", "usdt")
RET_PROBES = ("kretprobe", "uretprobe")
USER_PROBES = ("uprobe", "uretprobe", "usdt")
PROBE_TYPE_NAMES = {"BEGIN": "special", "END": "special"}


def probe_type_name(provider: str) -> str:
    return PROBE_TYPE_NAMES.get(provider, provider)


def _const(t: SizedType):
    return lambda c, n: t


def _pid_tgid(g):
    return g.bb.helper(H.GET_CURRENT_PID_TGID, [])


def _uid_gid(g):
    return g.bb.helper(H.GET_CURRENT_UID_GID, [])


def _low32(v, g):
    return g.b.and_(v, ir.Constant(H.I64, 0xFFFFFFFF))


def _high32(v, g):
    return g.b.lshr(v, ir.Constant(H.I64, 32))


builtin(Entry("pid", "pid: unsigned int64", "Process ID (the kernel's tgid) of the current task.",
              check=_const(U64), lower=lambda g, n: _high32(_pid_tgid(g), g), kind="builtin"))
builtin(Entry("tid", "tid: unsigned int64", "Thread ID (the kernel's pid) of the current task.",
              check=_const(U64), lower=lambda g, n: _low32(_pid_tgid(g), g), kind="builtin"))
builtin(Entry("uid", "uid: unsigned int64", "User ID of the current task.",
              check=_const(U64), lower=lambda g, n: _low32(_uid_gid(g), g), kind="builtin"))
builtin(Entry("gid", "gid: unsigned int64", "Group ID of the current task.",
              check=_const(U64), lower=lambda g, n: _high32(_uid_gid(g), g), kind="builtin"))
builtin(Entry("username", "username: string",
              "User name of the current task's uid, looked up in /etc/passwd when printed.",
              check=_const(SizedType(Kind.USERNAME, 8)),
              lower=lambda g, n: _low32(_uid_gid(g), g), kind="builtin"))
builtin(Entry("cpu", "cpu: unsigned int32", "ID of the processor running the probe.",
              check=_const(U32), lower=lambda g, n: g.to_i64(
                  g.bb.helper(H.GET_SMP_PROCESSOR_ID, [])), kind="builtin"))
def _curtask_check(c, n):
    """`struct task_struct *` when the kernel has BTF (so `curtask->comm` works)."""
    btf = c.btf()
    if btf is not None:
        from ..btf import BtfError
        try:
            return btf.parse_type("struct task_struct *")
        except BtfError:
            pass
    return U64


builtin(Entry("curtask", "curtask: struct task_struct *",
              "The current task's `struct task_struct` (fields readable with `->` via BTF).",
              check=_curtask_check, lower=lambda g, n: g.bb.helper(H.GET_CURRENT_TASK, []),
              kind="builtin"))
builtin(Entry("cgroup", "cgroup: unsigned int64", "cgroup v2 ID of the current task.",
              check=_const(U64), lower=lambda g, n: g.bb.helper(H.GET_CURRENT_CGROUP_ID, []),
              kind="builtin"))
builtin(Entry("rand", "rand: unsigned int32", "A pseudo-random 32-bit number.",
              check=_const(U32), lower=lambda g, n: g.to_i64(
                  g.bb.helper(H.GET_PRANDOM_U32, [])), kind="builtin"))
builtin(Entry("nsecs", "nsecs: unsigned int64",
              "Nanoseconds since boot (CLOCK_BOOTTIME, bpf_ktime_get_boot_ns).",
              check=_const(U64), lower=lambda g, n: g.bb.helper(H.KTIME_GET_BOOT_NS, []),
              kind="builtin"))


def _comm(g, n):
    buf = g.bb.alloca_bytes(16, "comm")
    _comm_into(g, n, buf)
    return buf


def _comm_into(g, n, buf):
    g.bb.helper(H.GET_CURRENT_COMM, [buf, ir.Constant(H.I32, 16)])


builtin(Entry("comm", "comm: string[16]", "Name of the current task (at most 15 characters).",
              check=_const(Str(16)), lower=_comm, lower_into=_comm_into, kind="builtin"))


def _elapsed_check(c, n):
    c.analysis.internal_roles.add("elapsed")
    return U64


def _elapsed(g, n):
    now = g.bb.helper(H.KTIME_GET_BOOT_NS, [])
    key = g.bb.alloca(H.I32, "elapsed_key")
    g.b.store(ir.Constant(H.I32, 0), key)
    slot = g.bb.map_lookup("elapsed", key)
    out = g.bb.alloca(H.I64, "elapsed")
    g.b.store(ir.Constant(H.I64, 0), out)
    with g.b.if_then(g.b.icmp_unsigned("!=", slot, ir.Constant(H.I8P, None))):
        g.b.store(g.b.sub(now, g.bb.load_int(slot, 0, 8)), out)
    return g.b.load(out)


builtin(Entry("elapsed", "elapsed: unsigned int64",
              "Nanoseconds since the program started.", check=_elapsed_check, lower=_elapsed,
              kind="builtin"))


def _cpid_check(c, n):
    if c.options.cpid is None:
        c.error("cpid cannot be used without child command", n.span)
    return U64


builtin(Entry("cpid", "cpid: unsigned int64", "PID of the child started with -c.",
              check=_cpid_check, lower=lambda g, n: ir.Constant(H.I64, g.options.cpid or 0),
              kind="builtin"))


def _probe_check(c, n):
    return SizedType(Kind.PROBE, 8)


builtin(Entry("probe", "probe: string",
              "Full name of the probe that fired, e.g. `tracepoint:syscalls:sys_enter_read`.",
              check=_probe_check, lower=lambda g, n: g.probe_value(),
              kind="builtin"))


def _args_check(c, n):
    unit = c.unit
    if c.provider != "tracepoint":
        c.error("The args builtin can only be used with tracepoint/kfunc/uprobeprobes "
                f"({probe_type_name(c.provider)} used here)", n.span)
        return None
    if unit.tracepoint is None:
        c.error("Unable to read the format of the tracepoint", n.span)
        return None
    record = unit.tracepoint.record
    return SizedType(Kind.CTX, 8, elems=(record,), name=record.name + " *")


builtin(Entry("args", "args: struct _tracepoint_<category>_<event> *",
              "The tracepoint's arguments, read from its tracefs format file: `args->field`. "
              "`__data_loc` strings and `char *` fields are read with `str(args->field)`.",
              probes="tracepoint", check=_args_check, lower=lambda g, n: g.bb.ctx,
              kind="builtin"))


def _reg_check(name: str, allowed: tuple, message: str, result: SizedType):
    def check(c, n):
        if c.provider not in allowed:
            hint = " (try to use args->ret instead)" if (
                c.provider == "tracepoint" and name == "retval") else ""
            c.error(message.format(name=name, provider=c.provider) + hint, n.span)
        return result
    return check


def _reg_load(offset: int):
    return lambda g, n: g.bb.load_int(g.bb.ctx, offset, 8)


for _i, _off in enumerate(PT_REGS_ARGS):
    builtin(Entry(f"arg{_i}", f"arg{_i}: unsigned int64",
                  f"Argument {_i} of the traced function (register from `struct pt_regs`).",
                  probes="kprobe, uprobe, usdt",
                  check=_reg_check(f"arg{_i}", REG_PROBES, "The {name} builtin can only be used "
                                   "with 'kprobes', 'uprobes' and 'usdt' probes", U64),
                  lower=_reg_load(_off), kind="builtin"))

builtin(Entry("retval", "retval: unsigned int64",
              "Return value of the traced function (kretprobe, uretprobe).",
              probes="kretprobe, uretprobe",
              check=_reg_check("retval", RET_PROBES, "The {name} builtin can only be used with "
                               "'kretprobe' and 'uretprobe' and 'kfunc' probes", U64),
              lower=_reg_load(PT_REGS_AX), kind="builtin"))


def _func_check(c, n):
    if c.provider not in REG_PROBES + RET_PROBES:
        c.error(f"The func builtin can not be used with '{c.provider}' probes", n.span)
        return None
    if c.provider in USER_PROBES + ("uretprobe",):
        return SizedType(Kind.USYM, 16)
    return SizedType(Kind.KSYM, 8)


def _func(g, n):
    ip = g.bb.load_int(g.bb.ctx, PT_REGS_IP, 8)
    if n.type.kind == Kind.KSYM:
        return ip
    buf = g.bb.alloca_bytes(16, "usym")
    g.bb.store_int(buf, 0, ip)
    g.bb.store_int(buf, 8, g.b.lshr(g.bb.helper(H.GET_CURRENT_PID_TGID, []),
                                    ir.Constant(H.I64, 32)))
    return buf


builtin(Entry("func", "func: symbol",
              "Name of the traced function (from the instruction pointer).",
              probes="kprobe, kretprobe, uprobe, uretprobe", check=_func_check, lower=_func,
              kind="builtin"))
