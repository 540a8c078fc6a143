"""C types a program names: its own struct/union/enum definitions layered over the kernel's BTF,
and the macros of the common kernel headers it `#include`s.

Owns `ProgramTypes` (what the semantic pass asks for a C type: `parse_type("struct foo *")`,
`record_type`, `enum_constant`, `offsetof`; program definitions first, then BTF, everything
else delegated to `btf.Btf`), the small C declaration parser behind it (members with
pointers, arrays and bitfields; C layout), and `HEADER_MACROS`, the `#define`s of the kernel
headers tools include (BTF has the types of those headers but not their macros, so
`#include <linux/sched.h>` makes `TASK_RUNNING` known, as clang would with the header).
Stdlib plus our types module.
"""
from __future__ import annotations

import re
from typing import Optional

from . import types as T
from .btf import BtfError

# Macros of commonly included kernel/libc headers (values from the kernel's uapi and include/
# trees; the types themselves come from BTF).
_SOCKET = {"AF_UNSPEC": "0", "AF_UNIX": "1", "AF_LOCAL": "1", "AF_INET": "2", "AF_INET6": "10",
           "AF_NETLINK": "16", "AF_PACKET": "17", "PF_INET": "2", "PF_INET6": "10",
           "SOCK_STREAM": "1", "SOCK_DGRAM": "2", "SOCK_RAW": "3"}
_SCHED = {"TASK_RUNNING": "0x00000000", "TASK_INTERRUPTIBLE": "0x00000001",
          "TASK_UNINTERRUPTIBLE": "0x00000002", "__TASK_STOPPED": "0x00000004",
          "__TASK_TRACED": "0x00000008", "EXIT_DEAD": "0x00000010", "EXIT_ZOMBIE": "0x00000020",
          "TASK_PARKED": "0x00000040", "TASK_DEAD": "0x00000080", "TASK_WAKEKILL": "0x00000100",
          "TASK_WAKING": "0x00000200", "TASK_NOLOAD": "0x00000400", "TASK_NEW": "0x00000800",
          "TASK_KILLABLE": "0x00000102", "TASK_STOPPED": "0x00000104", "TASK_IDLE": "0x00000402",
          "PF_KTHREAD": "0x00200000", "TASK_COMM_LEN": "16"}
_FS = {"O_RDONLY": "00", "O_WRONLY": "01", "O_RDWR": "02", "O_CREAT": "0100",
       "O_EXCL": "0200", "O_TRUNC": "01000", "O_APPEND": "02000", "O_NONBLOCK": "04000",
       "O_DIRECTORY": "0200000", "O_CLOEXEC": "02000000", "S_IFMT": "00170000",
       "S_IFREG": "0100000", "S_IFDIR": "0040000"}
_ERRNO = {"EPERM": "1", "ENOENT": "2", "EINTR": "4", "EIO": "5", "EBADF": "9", "EAGAIN": "11",
          "ENOMEM": "12", "EACCES": "13", "EFAULT": "14", "EBUSY": "16", "EEXIST": "17",
          "EINVAL": "22", "ENOSPC": "28", "EPIPE": "32", "ETIMEDOUT": "110"}
_TCP = {"TCP_ESTABLISHED": "1", "TCP_SYN_SENT": "2", "TCP_SYN_RECV": "3", "TCP_FIN_WAIT1": "4",
        "TCP_FIN_WAIT2": "5", "TCP_TIME_WAIT": "6", "TCP_CLOSE": "7", "TCP_CLOSE_WAIT": "8",
        "TCP_LAST_ACK": "9", "TCP_LISTEN": "10", "TCP_CLOSING": "11", "TCP_NEW_SYN_RECV": "12"}
HEADER_MACROS: dict[str, dict[str, str]] = {
    "linux/sched.h": _SCHED, "linux/socket.h": _SOCKET, "sys/socket.h": _SOCKET,
    "net/sock.h": {**_SOCKET, **_TCP}, "net/tcp_states.h": _TCP, "net/tcp.h": {**_SOCKET, **_TCP},
    "linux/fs.h": _FS, "fcntl.h": _FS, "linux/fcntl.h": _FS, "errno.h": _ERRNO,
    "linux/errno.h": _ERRNO, "asm-generic/errno-base.h": _ERRNO,
    "linux/in.h": _SOCKET, "linux/in6.h": _SOCKET, "netinet/in.h": _SOCKET,
}
_INCLUDE = re.compile(r"#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")


def header_macros(line: str) -> dict[str, str]:
    """The macros an `#include <...>` line brings in ({} for other lines and unknown headers)."""
    m = _INCLUDE.match(line.strip())
    return dict(HEADER_MACROS.get(m.group(1), {})) if m else {}


class CTypeError(BtfError):
    """A definition the declaration parser cannot read, or an unknown type."""


_INTS = {"char": (1, True), "signed char": (1, True), "unsigned char": (1, False),
         "short": (2, True), "short int": (2, True), "unsigned short": (2, False),
         "int": (4, True), "signed": (4, True), "signed int": (4, True),
         "unsigned": (4, False), "unsigned int": (4, False), "long": (8, True),
         "long int": (8, True), "unsigned long": (8, False), "long long": (8, True),
         "unsigned long long": (8, False), "bool": (1, False), "_Bool": (1, False),
         "int8_t": (1, True), "uint8_t": (1, False), "int16_t": (2, True),
         "uint16_t": (2, False), "int32_t": (4, True), "uint32_t": (4, False),
         "int64_t": (8, True), "uint64_t": (8, False), "size_t": (8, False),
         "ssize_t": (8, True)}
_DEF = re.compile(r"^\s*(struct|union|enum)\s+([A-Za-z_]\w*)\s*\{(.*)\}\s*;?\s*$", re.S)
_MEMBER = re.compile(r"^(?P<type>.+?)\s*(?P<stars>[*\s]*)\b(?P<name>[A-Za-z_]\w*)\s*"
                     r"(?P<dims>(?:\[\s*\d+\s*\])*)\s*(?::\s*(?P<bits>\d+))?$", re.S)


class ProgramTypes:
    """Type lookups for one program: its definitions, then the kernel's BTF (may be None)."""

    def __init__(self, definitions, btf=None, load_btf=None):
        self._btf = btf
        self._load_btf = load_btf       # parses the kernel's BTF on first need (~25 MB, 60 ms)
        self.records: dict[str, T.SizedType] = {}
        self.enums: dict[str, int] = {}
        for d in definitions:
            text = getattr(d, "text", d)
            m = _DEF.match(_strip_comments(text))
            if m:
                self._define(m.group(1), m.group(2), m.group(3))

    @property
    def btf(self):
        """The kernel's BTF, loaded when a lookup first needs it (most programs never do)."""
        if self._btf is None and self._load_btf is not None:
            self._btf, self._load_btf = self._load_btf(), None
        return self._btf

    def __getattr__(self, name):
        btf = self.btf if not name.startswith("_") else None
        if btf is None:
            raise AttributeError(name)
        return getattr(btf, name)

    # ---- definitions
    def _define(self, kind: str, name: str, body: str) -> None:
        if kind == "enum":
            value = -1
            for item in filter(None, (s.strip() for s in body.split(","))):
                key, _, expr = item.partition("=")
                value = int(expr.strip(), 0) if expr.strip() else value + 1
                self.enums[key.strip()] = value
            return
        self.records[f"{kind} {name}"] = self._record(kind, name, body)

    def _member_types(self, kind: str, name: str, body: str):
        """(member name or None for an anonymous struct/union, type, bit width) per member."""
        for decl in _top_level(body):
            nested = _NESTED.match(decl)
            if nested:
                inner_kind, tag, inner_body, rest = nested.groups()
                inner = self._record(inner_kind, tag or f"{name}::(anonymous)", inner_body)
                if tag:
                    self.records[f"{inner_kind} {tag}"] = inner
                if not rest.strip():
                    yield None, inner, 0
                    continue
                for part in rest.split(","):
                    m = _NAME_DIMS.match(part.strip())
                    if not m:
                        raise CTypeError(f"cannot parse member '{decl}' of {kind} {name}")
                    t = inner if not m.group(1).strip() else T.Pointer(inner, name=inner.name)
                    yield m.group(2), _with_dims(t, m.group(3)), 0
                continue
            for one in _declarators(decl):
                m = _MEMBER.match(one)
                if not m:
                    raise CTypeError(f"cannot parse member '{one}' of {kind} {name}")
                t = self.parse_type(m.group("type") + " " + m.group("stars").replace(" ", ""))
                yield (m.group("name"), _with_dims(t, m.group("dims")),
                       int(m.group("bits")) if m.group("bits") else 0)

    def _record(self, kind: str, name: str, body: str) -> T.SizedType:
        members = list(self._member_types(kind, name, body))
        out: list[T.Field] = []
        align = max((t.align for _, t, _ in members), default=1)
        if kind == "union":
            for n, t, _ in members:
                out.extend(_placed(n, t, 0))
            size = max((t.size for _, t, _ in members), default=0)
        else:
            off_bits = 0
            for n, t, bits in members:
                if bits:
                    unit = t.size * 8
                    if off_bits // unit != (off_bits + bits - 1) // unit:
                        off_bits = (off_bits + unit - 1) // unit * unit
                    byte = off_bits // 8 // t.size * t.size
                    out.append(T.Field(n, t, byte, (off_bits - byte * 8, bits)))
                    off_bits += bits
                    continue
                a = t.align
                off = ((off_bits + 7) // 8 + a - 1) // a * a
                out.extend(_placed(n, t, off))
                off_bits = (off + t.size) * 8
            size = (off_bits + 7) // 8
        size = (size + align - 1) // align * align
        return T.SizedType(T.Kind.RECORD, size, name=f"{kind} {name}", fields=tuple(out))

    # ---- lookups (the Btf API subset the semantic pass uses)
    def parse_type(self, text: str) -> T.SizedType:
        base = text.strip()
        stars = 0
        while base.endswith("*"):
            base, stars = base[:-1].rstrip(), stars + 1
        base = " ".join(w for w in base.split() if w not in ("const", "volatile", "restrict"))
        if base in self.records:
            st = self.records[base] if stars == 0 else T.SizedType(T.Kind.RECORD,
                                                                   self.records[base].size,
                                                                   name=base)
            for i in range(stars):
                st = T.Pointer(st, name=base + " *" * i)
            return st
        if base.startswith("enum ") and self.btf is None:
            base = "int"
        if base in _INTS and (self.btf is None or self.btf.find_or_none(base) is None):
            size, signed = _INTS[base]
            st = T.SizedType(T.Kind.INT, size, signed)
            for i in range(stars):
                st = T.Pointer(st, name=base + " *" * i)
            return st
        if self.btf is None:
            raise CTypeError(f"Unknown type: {text.strip()}")
        return self.btf.parse_type(text)

    def record_type(self, name: str) -> T.SizedType:
        if name in self.records:
            return self.records[name]
        if self.btf is None:
            raise CTypeError(f"Unknown struct/union: {name}")
        return self.btf.record_type(name)

    def enum_constant(self, name: str) -> Optional[tuple[int, int]]:
        if name in self.enums:
            return self.enums[name], 0
        return self.btf.enum_constant(name) if self.btf is not None else None

    def offsetof(self, type_name: str, fields: list[str]) -> int:
        """Byte offset of `fields` (a path through nested members) in `type_name`."""
        record, off = self.record_type(type_name), 0
        for i, name in enumerate(fields):
            f = next((f for f in record.fields if f.name == name), None)
            if f is None:
                raise CTypeError(f"'{record.name}' has no field named '{name}'")
            off += f.offset
            if i + 1 < len(fields):
                record = f.type if f.type.fields else self.record_type(f.type.name)
        return off


_NESTED = re.compile(r"^\s*(struct|union)\s*([A-Za-z_]\w*)?\s*\{(.*)\}(.*)$", re.S)
_NAME_DIMS = re.compile(r"^([*\s]*)([A-Za-z_]\w*)\s*((?:\[\s*\d+\s*\])*)$")


def _top_level(body: str) -> list[str]:
    """Member declarations: `;`-separated at brace depth 0 (nested definitions kept whole)."""
    out, depth, cur = [], 0, []
    for ch in body:
        depth += (ch == "{") - (ch == "}")
        if ch == ";" and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [d for d in out if d]


def _with_dims(t: T.SizedType, dims: str) -> T.SizedType:
    for dim in reversed(re.findall(r"\d+", dims or "")):
        n = int(dim)
        t = T.Str(n) if t.kind == T.Kind.INT and t.size == 1 else \
            T.SizedType(T.Kind.ARRAY, n * t.size, elems=(t,))
    return t


def _placed(name, t: T.SizedType, off: int) -> list[T.Field]:
    """A member at `off`; an anonymous struct/union member's fields flattened into its parent."""
    if name is not None:
        return [T.Field(name, t, off)]
    return [T.Field(f.name, f.type, f.offset + off, f.bitfield) for f in t.fields]


def _declarators(body: str) -> list[str]:
    """`int a, *b; char c[4];` -> ["int a", "int *b", "char c[4]"]."""
    out = []
    for decl in filter(None, (d.strip() for d in body.split(";"))):
        first, *rest = (p.strip() for p in decl.split(","))
        out.append(first)
        m = _MEMBER.match(first)
        for part in rest:
            out.append(f"{m.group('type')} {part}" if m else part)
    return out


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
