"""Functions about addresses, registers and printable small values: ksym, usym, kaddr,
uaddr, reg, strerror, cgroup_path, macaddr, buf.

ksym/usym/strerror/cgroup_path values are small records rendered in user space; kaddr and
uaddr resolve symbols at compile time (/proc/kallsyms, the uprobe target's ELF symbols);
reg reads `struct pt_regs`; buf copies raw bytes for %r/%rx/%rh.
"""
from __future__ import annotations

from llvmlite import ir

from .. import ast
from ..codegen import builder as H
from ..types import Kind, SizedType, UInt
from .args import literal_string, nargs, type_word
from .registry import Entry, function

U64 = UInt(64)
PT_REGS = {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56,
           "r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112,
           "orig_ax": 120, "ip": 128, "cs": 136, "flags": 144, "sp": 152, "ss": 160}
REG_REFUSED = ("tracepoint", "kfunc", "kretfunc", "BEGIN", "END", "iter")   # no pt_regs ctx
USER_PROBES = ("uprobe", "uretprobe", "usdt")


def _int_arg(c, n) -> bool:
    if not nargs(c, n, 1, 1):
        return False
    t = c.expr(n.args[0])
    if t is None:
        return False
    if t.kind not in (Kind.INT, Kind.POINTER, Kind.CTX):
        c.error(f"{n.func}() expects an integer argument ({type_word(t)} provided)", n.span)
        return False
    return True


def _scalar_of(kind: Kind):
    """A function whose value is its integer argument, rendered in user space as `kind`."""
    def check(c, n):
        return SizedType(kind, 8) if _int_arg(c, n) else None
    return check, lambda g, n: g.to_i64(g.expr(n.args[0]))


_c, _l = _scalar_of(Kind.KSYM)
function(Entry("ksym", "ksym(int addr)",
               "The kernel symbol containing an address, resolved when printed (%s).",
               check=_c, lower=_l))
_c, _l = _scalar_of(Kind.STRERROR)
function(Entry("strerror", "strerror(int errno)", "The error text of an errno value (%s).",
               check=_c, lower=_l))
_c, _l = _scalar_of(Kind.CGROUP_PATH)
function(Entry("cgroup_path", "cgroup_path(int cgroupid)",
               "The path of a cgroup in every mounted cgroup hierarchy, resolved when printed.",
               check=_c, lower=_l))


def _usym_check(c, n):
    return SizedType(Kind.USYM, 16) if _int_arg(c, n) else None


def _usym_lower(g, n):
    buf = g.bb.alloca_bytes(16, "usym")
    g.bb.store_int(buf, 0, g.to_i64(g.expr(n.args[0])))
    pid = g.b.lshr(g.bb.helper(H.GET_CURRENT_PID_TGID, []), ir.Constant(H.I64, 32))
    g.bb.store_int(buf, 8, pid)
    return buf


function(Entry("usym", "usym(int addr)",
               "The user-space symbol containing an address in the current process, resolved "
               "when printed (%s).", check=_usym_check, lower=_usym_lower))


def _kallsyms(name: str):
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == name:
                    return int(parts[0], 16)
    except OSError:
        return None
    return None


def _kaddr_check(c, n):
    if not nargs(c, n, 1, 1):
        return None
    name = literal_string(c, n, n.args[0])
    if name is None:
        return None
    addr = _kallsyms(name)
    if addr is None:
        c.error(f"Failed to compile: Failed to resolve kernel symbol: {name}")
        return None
    c.set_data(n, addr)
    return U64


function(Entry("kaddr", "kaddr(char *name)",
               "The address of a kernel symbol, resolved at compile time from /proc/kallsyms.",
               check=_kaddr_check, lower=lambda g, n: ir.Constant(H.I64, g.data(n))))


def _uaddr_check(c, n):
    if not nargs(c, n, 1, 1):
        return None
    name = literal_string(c, n, n.args[0])
    if name is None:
        return None
    if c.provider not in USER_PROBES:
        c.error(f"uaddr can not be used with \"{c.provider}\" probes", n.span)
        return None
    from ..elf_symbols import _DATA_TYPES, ElfError, load_elf
    path = c.unit.targets[0].target
    try:
        sym = load_elf(path).find(name)
    except (OSError, ElfError):
        sym = None
    if sym is None or sym.type not in _DATA_TYPES:    # bpftrace 0.17: data symbols only
        c.error(f"Could not resolve symbol: {path}:{name}", n.span)
        return None
    c.set_data(n, sym.address)
    return SizedType(kind=Kind.POINTER, size=8, elems=(UInt(64),), name="uint64 *",
                     user_ptr=True)


function(Entry("uaddr", "uaddr(char *name)",
               "The address of a symbol of the uprobe's binary, resolved at compile time.",
               probes="uprobe, uretprobe, usdt", check=_uaddr_check,
               lower=lambda g, n: ir.Constant(H.I64, g.data(n))))


def _reg_check(c, n):
    if not nargs(c, n, 1, 1):
        return None
    name = literal_string(c, n, n.args[0])
    if name is None:
        return None
    refused = c.provider in REG_REFUSED
    if refused:
        c.error(f"reg can not be used with \"{c.provider}\" probes", n.span)
    if name not in PT_REGS:
        c.error(f"'{name}' is not a valid register on this architecture (x86_64)", n.span)
        return None
    if refused:
        return None
    c.set_data(n, PT_REGS[name])
    return U64


function(Entry("reg", "reg(char *name)",
               "A register of the probed context (x86-64 `struct pt_regs`: ip, sp, ax, di...).",
               probes="kprobe, kretprobe, uprobe, uretprobe, usdt, profile, interval, software, "
                      "hardware, rawtracepoint, watchpoint", check=_reg_check,
               lower=lambda g, n: g.bb.load_int(g.bb.ctx, g.data(n), 8)))

MACADDR = SizedType(Kind.MACADDR, 6)


def _macaddr_check(c, n):
    if not nargs(c, n, 1, 1):
        return None
    t = c.expr(n.args[0])
    if t is None:
        return None
    if t.kind in (Kind.ARRAY, Kind.STRING) and t.size < 6:
        c.error("macaddr() argument must be at least 6 bytes in size", n.span)
        return None
    if t.kind not in (Kind.ARRAY, Kind.STRING, Kind.INT, Kind.POINTER):
        c.error(f"macaddr() only supports array or pointer arguments ({type_word(t)} provided)",
                n.span)
        return None
    return MACADDR


def _macaddr_lower(g, n):
    arg = n.args[0]
    value = g.expr(arg)
    buf = g.bb.alloca_bytes(8, "macaddr")
    if arg.type.kind in (Kind.ARRAY, Kind.STRING):
        g.bb.memcpy(buf, value, 6)
    else:
        user = arg.type.user_ptr or g.unit.provider in USER_PROBES
        g.bb.probe_read(buf, 6, g.to_i64(value), user)
    return buf


function(Entry("macaddr", "macaddr(char[6] | char *addr)",
               "A MAC address printed as AA:BB:CC:DD:EE:FF (%s).",
               check=_macaddr_check, lower=_macaddr_lower))


def _buf_check(c, n):
    if not nargs(c, n, 1, 2):
        return None
    t = c.expr(n.args[0])
    if t is None:
        return None
    if t.kind in (Kind.ARRAY, Kind.STRING):
        size = t.size
    elif t.kind in (Kind.INT, Kind.POINTER, Kind.CTX):
        size = c.strlen
    else:
        c.error(f"buf() expects an integer, pointer or array argument ({type_word(t)} provided)",
                n.span)
        return None
    if len(n.args) == 2:
        length = c.const_int(n.args[1])
        if length is not None:
            n.args[1].type = SizedType(Kind.INT, 8, True)
            size = max(0, min(size, length))
        else:                       # a run-time length, clamped to the buffer in BPF
            lt = c.expr(n.args[1])
            if lt is None or lt.kind != Kind.INT:
                c.error(f"buf() expects an integer length ({type_word(lt)} provided)", n.span)
                return None
    c.set_data(n, size)
    return SizedType(Kind.BUFFER, 4 + size)


def _buf_lower(g, n):
    size = g.data(n)
    arg = n.args[0]
    out = g.bb.alloca_bytes(4 + size, "buf")
    length = ir.Constant(H.I64, size)
    if len(n.args) == 2 and not isinstance(n.args[1], (ast.Integer, ast.PositionalParameter)):
        want = g.to_i64(g.expr(n.args[1]))
        length = g.b.select(g.b.icmp_unsigned(">", want, length), length, want)
    g.bb.store_int(out, 0, length, 4)
    value = g.expr(arg)
    if arg.type.kind in (Kind.ARRAY, Kind.STRING):
        g.bb.memcpy(g.bb.offset(out, 4), value, size)
    elif size:
        user = getattr(arg.type, "user_ptr", False) or g.unit.provider in USER_PROBES
        g.bb.probe_read(g.bb.offset(out, 4), g.b.trunc(length, H.I32), g.to_i64(value), user)
    return out


function(Entry("buf", "buf(void *p [, int length])",
               "Raw bytes (at most BPFTRACE_STRLEN) printed with %r (escaped), %rx (hex "
               "escapes) or %rh (hex bytes).", check=_buf_check, lower=_buf_lower))


def _address_space(user: bool):
    """uptr(p) / kptr(p): the same address, read from user (kernel) memory by str(), `*`, ->."""
    def check(c, n):
        if not nargs(c, n, 1, 1):
            return None
        t = c.expr(n.args[0])
        if t is None:
            return None
        if t.kind not in (Kind.INT, Kind.POINTER):
            c.error(f"{n.func}() only supports integer or pointer arguments ({t} provided)",
                    n.span)
            return None
        if t.kind == Kind.POINTER:
            return SizedType(Kind.POINTER, 8, elems=t.elems, name=t.name, user_ptr=user)
        return SizedType(Kind.POINTER, 8, elems=(SizedType(Kind.INT, t.size or 8, t.signed),),
                         name=f"{'' if t.signed else 'unsigned '}int{(t.size or 8) * 8}",
                         user_ptr=user)
    return check


for _name, _user in (("uptr", True), ("kptr", False)):
    function(Entry(_name, f"{_name}(void *p)",
                   f"Marks `p` as a {'user' if _user else 'kernel'}-space address, so that "
                   "str(), `*` and `->` read it from that address space.",
                   check=_address_space(_user), lower=lambda g, n: g.to_i64(g.expr(n.args[0]))))


def _pton_check(c, n):
    if not nargs(c, n, 1, 1):
        return None
    text = literal_string(c, n, n.args[0])
    if text is None:
        return None
    import socket
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, text)
            break
        except OSError:
            continue
    else:
        c.error(f"pton() expects an IPv4 or IPv6 address, got '{text}'", n.span)
        return None
    c.set_data(n, packed)
    return SizedType(Kind.ARRAY, len(packed), elems=(UInt(8),))


def _pton_lower(g, n):
    packed = g.data(n)
    buf = g.bb.alloca_bytes(len(packed), "pton")
    for i, byte in enumerate(packed):
        g.bb.store_int(buf, i, ir.Constant(H.I64, byte), 1)
    return buf


function(Entry("pton", "pton(char *address)",
               "The bytes of an IPv4 (char[4]) or IPv6 (char[16]) address written in text, "
               "converted at compile time; ntop() turns them back into text.",
               check=_pton_check, lower=_pton_lower))
