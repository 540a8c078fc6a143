"""Kernel type information from BTF (/sys/kernel/btf/vmlinux), read in pure Python.

Owns the BTF reader: the header, every BTF_KIND record (bitfields via kind_flag, enum/enum64,
func/func_proto, typedef and the const/volatile/restrict/type_tag modifiers, decl_tag,
var/datasec, float) and the string section; name lookups, struct layouts, C spellings as
bpftrace prints them (`-lv`), and the mapping to `types.SizedType`.  Types are decoded lazily
from one bytes buffer; the per-type offset table and the name index are cached on disk.
Stdlib only (no ctypes, no loader, no LLVM).
"""
from __future__ import annotations

import os
import pickle
import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import types as T

VMLINUX = "/sys/kernel/btf/vmlinux"
BTF_MAGIC = 0xEB9F
_CACHE_VERSION = 1

# BTF_KIND_* (include/uapi/linux/btf.h, Linux 6.x)
UNKN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, \
    FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(20)

KIND_NAMES = ("unknown", "int", "ptr", "array", "struct", "union", "enum", "fwd", "typedef",
              "volatile", "const", "restrict", "func", "func_proto", "var", "datasec", "float",
              "decl_tag", "type_tag", "enum64")

# Bytes of kind-specific data after the 12-byte `struct btf_type`: (fixed, per vlen entry).
_TRAILER = {INT: (4, 0), ARRAY: (12, 0), STRUCT: (0, 12), UNION: (0, 12), ENUM: (0, 8),
            FUNC_PROTO: (0, 8), VAR: (4, 0), DATASEC: (0, 12), DECL_TAG: (4, 0), ENUM64: (0, 12)}

_MODIFIERS = {VOLATILE: "volatile", CONST: "const", RESTRICT: "restrict"}
_SKIPPED = (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG)
_QUALIFIERS = (VOLATILE, CONST, RESTRICT, TYPE_TAG)
# Which kinds a plain name ("task_struct") may mean, most likely first.
_PLAIN_NAME_KINDS = (STRUCT, UNION, TYPEDEF, ENUM, ENUM64, INT, FLOAT, FUNC, FWD, VAR, DATASEC)
_TAGGED = {"struct": (STRUCT,), "union": (UNION,), "enum": (ENUM, ENUM64)}

INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4


class BtfError(Exception):
    """A BTF blob that cannot be read, or a type/field/function that does not exist."""


@dataclass(frozen=True)
class BtfType:
    """One decoded `struct btf_type` record."""
    id: int
    kind: int
    name: str
    vlen: int
    kind_flag: bool
    size_or_type: int

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


@dataclass(frozen=True)
class Member:
    """A struct/union member; `bit_offset` is from the start of the outermost type."""
    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int = 0      # 0: not a bitfield


@dataclass(frozen=True)
class Param:
    name: str
    type_id: int


@dataclass(frozen=True)
class FuncProto:
    name: str
    params: tuple[Param, ...]
    return_type: int            # 0: void
    variadic: bool = False


class Btf:
    """A parsed BTF blob.  Type ids start at 1; id 0 is `void`."""

    def __init__(self, data: bytes, offsets: Optional[array] = None,
                 names: Optional[dict[str, list[int]]] = None):
        self.data = data
        if len(data) < 24:
            raise BtfError("not a BTF blob (too short)")
        magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = \
            struct.unpack_from("<HBBIIIII", data, 0)
        if magic != BTF_MAGIC:
            raise BtfError(f"not a BTF blob (magic {magic:#x})")
        if max(hdr_len + type_off + type_len, hdr_len + str_off + str_len) > len(data):
            raise BtfError("truncated BTF blob")
        self._types_start = hdr_len + type_off
        self._types_end = self._types_start + type_len
        self._str_start = hdr_len + str_off
        self._str_end = self._str_start + str_len
        try:
            self._offsets = offsets if offsets is not None else self._scan_offsets()
            self._names = names if names is not None else self._index_names()
        except (struct.error, ValueError, UnicodeDecodeError):
            raise BtfError("malformed BTF type section") from None

    # ---- low-level decoding

    def _scan_offsets(self) -> array:
        """Byte offset of every type record, indexed by type id (index 0 is void)."""
        offs = array("I", [0])
        data, pos, end = self.data, self._types_start, self._types_end
        unpack = struct.Struct("<I").unpack_from
        trailer = _TRAILER
        append = offs.append
        while pos < end:
            append(pos)
            info = unpack(data, pos + 4)[0]
            fixed, per = trailer.get((info >> 24) & 0x1F, (0, 0))
            pos += 12 + fixed + per * (info & 0xFFFF)
        return offs

    def _index_names(self) -> dict[str, list[int]]:
        names: dict[str, list[int]] = {}
        unpack = struct.Struct("<I").unpack_from
        data, sbase = self.data, self._str_start
        by_off: dict[int, list[int]] = {}
        for tid in range(1, len(self._offsets)):
            name_off = unpack(data, self._offsets[tid])[0]
            if name_off:
                by_off.setdefault(name_off, []).append(tid)
        for name_off, ids in by_off.items():
            start = sbase + name_off
            s = data[start:data.index(b"\0", start)].decode()
            names.setdefault(s, []).extend(ids)
        return names

    def string(self, off: int) -> str:
        start = self._str_start + off
        return self.data[start:self.data.index(b"\0", start)].decode()

    def __len__(self) -> int:
        return len(self._offsets)

    def type(self, type_id: int) -> BtfType:
        if type_id == 0:
            return BtfType(0, UNKN, "void", 0, False, 0)
        if not 0 < type_id < len(self._offsets):
            raise BtfError(f"BTF type id {type_id} out of range")
        name_off, info, st = struct.unpack_from("<III", self.data, self._offsets[type_id])
        return BtfType(type_id, (info >> 24) & 0x1F, self.string(name_off) if name_off else "",
                       info & 0xFFFF, bool(info >> 31), st)

    def _trailer(self, type_id: int) -> int:
        return self._offsets[type_id] + 12

    def int_encoding(self, type_id: int) -> tuple[int, int, int]:
        """(encoding flags INT_SIGNED|INT_CHAR|INT_BOOL, bit offset, bits) of an INT."""
        v = struct.unpack_from("<I", self.data, self._trailer(type_id))[0]
        return (v >> 24) & 0x0F, (v >> 16) & 0xFF, v & 0xFF

    def array_info(self, type_id: int) -> tuple[int, int, int]:
        """(element type, index type, number of elements) of an ARRAY."""
        return struct.unpack_from("<III", self.data, self._trailer(type_id))

    def raw_members(self, type_id: int) -> list[Member]:
        """Direct members of a STRUCT/UNION (anonymous members are not flattened)."""
        t = self.type(type_id)
        out = []
        for name_off, mtype, off in struct.iter_unpack(
                "<III", self.data[self._trailer(type_id):self._trailer(type_id) + 12 * t.vlen]):
            name = self.string(name_off) if name_off else ""
            if t.kind_flag:
                out.append(Member(name, mtype, off & 0xFFFFFF, off >> 24))
            else:
                out.append(Member(name, mtype, off, 0))
        return out

    def enum_values(self, type_or_name) -> dict[str, int]:
        """Enumerator names and values of an ENUM/ENUM64 (signedness from kind_flag)."""
        tid = self.resolve(self._id(type_or_name, (ENUM, ENUM64)))
        t = self.type(tid)
        base = self._trailer(tid)
        out = {}
        if t.kind == ENUM:
            fmt = "<Ii" if t.kind_flag else "<II"
            for i in range(t.vlen):
                name_off, val = struct.unpack_from(fmt, self.data, base + 8 * i)
                out[self.string(name_off)] = val
        elif t.kind == ENUM64:
            for i in range(t.vlen):
                name_off, lo, hi = struct.unpack_from("<III", self.data, base + 12 * i)
                val = (hi << 32) | lo
                if t.kind_flag and val >= 1 << 63:
                    val -= 1 << 64
                out[self.string(name_off)] = val
        else:
            raise BtfError(f"{self.type_to_c(tid)} is not an enum")
        return out

    def enum_constant(self, name: str) -> Optional[tuple[int, int]]:
        """(value, enum type id) of an enumerator such as `TASK_COMM_LEN` or `PIDTYPE_TGID`,
        searching every enum including anonymous ones (index built on first use)."""
        index = self.__dict__.get("_enumerators")
        if index is None:
            index = {}
            for tid in range(1, len(self._offsets)):
                info = struct.unpack_from("<I", self.data, self._offsets[tid] + 4)[0]
                if (info >> 24) & 0x1F in (ENUM, ENUM64):
                    for ename, val in self.enum_values(tid).items():
                        index.setdefault(ename, (val, tid))
            self.__dict__["_enumerators"] = index
        return index.get(name)

    def decl_tag(self, type_id: int) -> tuple[int, int]:
        """(tagged type id, component index or -1) of a DECL_TAG."""
        t = self.type(type_id)
        return t.size_or_type, struct.unpack_from("<i", self.data, self._trailer(type_id))[0]

    def datasec_vars(self, type_id: int) -> list[tuple[int, int, int]]:
        """(var type id, offset, size) of each variable in a DATASEC."""
        t = self.type(type_id)
        base = self._trailer(type_id)
        return list(struct.iter_unpack("<III", self.data[base:base + 12 * t.vlen]))

    # ---- lookups

    def find(self, name: str, kind: Optional[int | str] = None) -> int:
        """Type id for `name`: "struct task_struct", "task_struct", "pid_t", "vfs_read".
        `kind` (a BTF_KIND_* or its name) narrows the search.  Raises BtfError if absent."""
        tid = self.find_or_none(name, kind)
        if tid is None:
            raise BtfError(f"Unknown type: {name}" if kind is None else
                           f"Unknown {KIND_NAMES[self._kind(kind)]}: {name}")
        return tid

    def find_or_none(self, name: str, kind: Optional[int | str] = None) -> Optional[int]:
        name = name.strip()
        kinds: tuple[int, ...] = _PLAIN_NAME_KINDS
        word, _, rest = name.partition(" ")
        if word in _TAGGED and rest:
            kinds, name = _TAGGED[word], rest.strip()
        if kind is not None:
            kinds = (self._kind(kind),)
        ids = self._names.get(name, ())
        for k in kinds:
            for tid in ids:
                if self.type(tid).kind == k:
                    return tid
        return None

    def find_all(self, name: str) -> list[int]:
        return list(self._names.get(name, ()))

    def names(self) -> list[str]:
        return list(self._names)

    def function_names(self) -> list[str]:
        """Names with a BTF FUNC record: the kfunc/kretfunc attach points."""
        func = self._kind("func")
        return [n for n, ids in self._names.items() if any(self.type(t).kind == func for t in ids)]

    @staticmethod
    def _kind(kind: int | str) -> int:
        return KIND_NAMES.index(kind) if isinstance(kind, str) else kind

    def _id(self, type_or_name, kinds: tuple[int, ...] = ()) -> int:
        if isinstance(type_or_name, int):
            return type_or_name
        tid = self.find_or_none(type_or_name)
        if tid is None:
            for k in kinds:
                tid = self.find_or_none(type_or_name, k)
                if tid is not None:
                    break
        if tid is None:
            raise BtfError(f"Unknown type: {type_or_name}")
        return tid

    def resolve(self, type_or_name) -> int:
        """Skip typedef/const/volatile/restrict/type_tag down to the underlying type."""
        tid = self._id(type_or_name)
        seen = 0
        while tid and self.type(tid).kind in _SKIPPED:
            tid = self.type(tid).size_or_type
            seen += 1
            if seen > 64:
                raise BtfError(f"BTF type loop at id {tid}")
        return tid

    def typedef_target(self, name: str) -> int:
        """The type a typedef names, e.g. `btf_trace_sched_switch` -> its pointer type id."""
        return self.type(self.find(name, TYPEDEF)).size_or_type

    # ---- layout

    def sizeof(self, type_or_name) -> int:
        tid = self.resolve(type_or_name)
        t = self.type(tid)
        if t.kind in (INT, STRUCT, UNION, ENUM, ENUM64, FLOAT, DATASEC):
            return t.size_or_type
        if t.kind == PTR:
            return 8
        if t.kind == ARRAY:
            elem, _, n = self.array_info(tid)
            return n * self.sizeof(elem)
        if t.kind == VAR:
            return self.sizeof(t.size_or_type)
        return 0

    def struct_members(self, type_or_name) -> list[tuple[str, int, int, int]]:
        """(name, type id, bit offset, bitfield size) of each member of a struct/union, with the
        members of anonymous nested structs/unions flattened in (offsets made absolute)."""
        tid = self.resolve(self._id(type_or_name, (STRUCT, UNION)))
        if self.type(tid).kind not in (STRUCT, UNION):
            raise BtfError(f"{self.type_to_c(tid)} is not a struct or union")
        return [(m.name, m.type_id, m.bit_offset, m.bitfield_size) for m in self._flat(tid, 0)]

    def _flat(self, tid: int, base: int) -> list[Member]:
        out = []
        for m in self.raw_members(tid):
            inner = self.resolve(m.type_id)
            if not m.name and self.type(inner).kind in (STRUCT, UNION):
                out.extend(self._flat(inner, base + m.bit_offset))
            else:
                out.append(Member(m.name, m.type_id, base + m.bit_offset, m.bitfield_size))
        return out

    def member(self, type_or_name, field: str) -> Member:
        tid = self.resolve(self._id(type_or_name, (STRUCT, UNION)))
        for m in self._flat(tid, 0):
            if m.name == field:
                return m
        raise BtfError(f"Struct/union of type '{self.type_to_c(tid)}' does not contain a field "
                       f"named '{field}'")

    def field_offset(self, type_or_name, path: str) -> int:
        """Byte offset of `path` ("parent", "se.vruntime", "thread_info.flags") in a struct."""
        tid, off = self.resolve(self._id(type_or_name, (STRUCT, UNION))), 0
        for part in path.split("."):
            m = self.member(tid, part)
            off += m.bit_offset
            tid = self.resolve(m.type_id)
        return off // 8

    def field_type(self, type_or_name, path: str) -> int:
        tid = self.resolve(self._id(type_or_name, (STRUCT, UNION)))
        m = None
        for part in path.split("."):
            m = self.member(tid, part)
            tid = self.resolve(m.type_id)
        return m.type_id

    # ---- functions

    def func_proto(self, func: str) -> FuncProto:
        """Parameters and return type of a kernel function (for kfunc/kretfunc)."""
        fid = self.find_or_none(func, FUNC)
        if fid is None:
            raise BtfError(f"No BTF found for {func}")
        proto = self.type(fid).size_or_type
        return self._proto(proto, func)

    def _proto(self, proto: int, name: str = "") -> FuncProto:
        t = self.type(proto)
        if t.kind != FUNC_PROTO:
            raise BtfError(f"{name or proto} is not a function prototype")
        base = self._trailer(proto)
        params, variadic = [], False
        for i in range(t.vlen):
            name_off, ptype = struct.unpack_from("<II", self.data, base + 8 * i)
            if ptype == 0 and i == t.vlen - 1:
                # a trailing void is `...`, except that a lone void means "no arguments"
                variadic = i > 0
                continue
            params.append(Param(self.string(name_off) if name_off else "", ptype))
        return FuncProto(name, tuple(params), t.size_or_type, variadic)

    def tracepoint_args(self, event: str) -> FuncProto:
        """Arguments of a BTF-typed raw tracepoint, minus the leading `void *__data` the kernel
        passes first.  Names come from the `__bpf_trace_<event>` function when BTF has it;
        the `btf_trace_<event>` typedef (the attach target) only has the types."""
        fid = self.find_or_none(f"__bpf_trace_{event}", FUNC)
        if fid is not None:
            proto = self._proto(self.type(fid).size_or_type, event)
        else:
            target = self.resolve(self.typedef_target(f"btf_trace_{event}"))
            if self.type(target).kind == PTR:
                target = self.type(target).size_or_type
            proto = self._proto(target, event)
        return FuncProto(event, proto.params[1:], proto.return_type, proto.variadic)

    def func_listing(self, func: str) -> list[str]:
        """The argument lines of `bpftrace -lv kfunc:<func>`: `struct file * file`, ...,
        then `ssize_t retval` (none for a void function), as libbpf's btf_dump spells them."""
        proto = self.func_proto(func)
        lines = [f"{self.type_to_c(p.type_id, dump_names=True)} {p.name}"
                 for p in proto.params if p.name]
        if proto.return_type:
            lines.append(f"{self.type_to_c(proto.return_type, dump_names=True)} retval")
        return lines

    def parse_type(self, text: str) -> T.SizedType:
        """The SizedType of a C type name as written in a cast or declaration:
        "struct task_struct *", "const char *", "u64", "unsigned int", "pid_t"."""
        base = text.strip()
        stars = 0
        while base.endswith("*"):
            base, stars = base[:-1].rstrip(), stars + 1
        words = [w for w in base.split() if w not in ("const", "volatile", "restrict")]
        name = " ".join(words)
        tid = self.find_or_none(name)
        if tid is None:
            raise BtfError(f"Unknown type: {text.strip()}")
        st = self.to_sized_type(tid) if stars == 0 else self._shallow(tid)
        c_name = self.type_to_c(tid)
        for _ in range(stars):
            st = T.Pointer(st, name=c_name)
            c_name += " *" if not c_name.endswith("*") else "*"
        return st

    # ---- C spelling

    def type_to_c(self, type_id: int, declarator: str = "", dump_names: bool = False) -> str:
        """C spelling of a type, as bpftrace prints it in listings (libbpf's btf_dump rules):
        "struct task_struct *", "const char *", "char[16]", "void (*)(void *)",
        "struct page * (*alloc)(gfp_t)".  With `dump_names`, a struct/union/enum/typedef name
        that several BTF types share gets btf_dump's `___2`, `___3` suffix by type id order."""
        t = self.type(type_id)
        k = t.kind
        name = self._dump_name(type_id) if dump_names else t.name
        if k == UNKN:
            return _join("void", declarator)
        if k in (INT, FLOAT, TYPEDEF):
            return _join(name, declarator)
        if k in (STRUCT, UNION, ENUM, ENUM64):
            tag = "union" if k == UNION else "enum" if k in (ENUM, ENUM64) else "struct"
            return _join(f"{tag} {name}" if name else f"{tag} (anon)", declarator)
        if k == FWD:
            return _join(f"{'union' if t.kind_flag else 'struct'} {name}", declarator)
        if k == PTR:
            # btf_dump writes " (" before a parenthesised declarator, hence `char * (*f)()`
            inner = "* " + declarator if declarator.startswith("(") else "*" + declarator
            if self.type(t.size_or_type).kind in (ARRAY, FUNC_PROTO):
                inner = f"({inner})"
            return self.type_to_c(t.size_or_type, inner, dump_names)
        if k in _MODIFIERS:
            if self.type(t.size_or_type).kind == PTR:   # `char * const`: after the star
                return self.type_to_c(t.size_or_type, f" {_MODIFIERS[k]}{_sp(declarator)}",
                                      dump_names)
            inner_c = self.type_to_c(t.size_or_type, declarator, dump_names)
            # `const` on an array of const elements is written once, as btf_dump does
            return inner_c if inner_c.startswith(_MODIFIERS[k] + " ") else \
                f"{_MODIFIERS[k]} {inner_c}"
        if k == TYPE_TAG:
            return self.type_to_c(t.size_or_type, declarator, dump_names)
        if k == ARRAY:
            elem, _, n = self.array_info(type_id)
            return self.type_to_c(elem, f"{declarator}[{n}]", dump_names)
        if k == FUNC_PROTO:
            proto = self._proto(type_id)
            args = [self.type_to_c(p.type_id, "", dump_names) for p in proto.params]
            if proto.variadic:
                args.append("...")
            return self.type_to_c(proto.return_type, f"{declarator}({', '.join(args)})",
                                  dump_names)
        if k in (FUNC, VAR):
            return self.type_to_c(t.size_or_type, declarator or t.name, dump_names)
        return _join(t.name, declarator)

    def _dump_name(self, type_id: int) -> str:
        """libbpf btf_dump's unique name: struct/union/enum share one namespace, typedefs
        another; forward declarations and empty enums keep their plain name."""
        names = self.__dict__.get("_dump_names")
        if names is None:
            names, seen = {}, {}
            for tid in range(1, len(self._offsets)):
                name_off, info = struct.unpack_from("<II", self.data, self._offsets[tid])
                kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
                if not name_off or kind not in (STRUCT, UNION, ENUM, ENUM64, TYPEDEF) or \
                        (kind in (ENUM, ENUM64) and not vlen):
                    continue
                key = (kind == TYPEDEF, self.string(name_off))
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > 1:
                    names[tid] = f"{key[1]}___{seen[key]}"
            self.__dict__["_dump_names"] = names
        return names.get(type_id) or self.type(type_id).name

    def c_definition(self, type_or_name) -> str:
        """The C definition `bpftrace -lv 'struct task_struct'` prints, as libbpf's btf_dump
        writes it: tab indentation, anonymous members inline, `name: N` bitfields, explicit
        `long: 64;` padding where natural alignment would not reproduce the layout, and
        `__attribute__((packed))`.  Ends with `};` and a newline."""
        tid = self.resolve(self._id(type_or_name, (STRUCT, UNION)))
        t = self.type(tid)
        if t.kind in (ENUM, ENUM64):
            return self._enum_def(tid, 0) + ";\n"
        if t.kind not in (STRUCT, UNION):
            raise BtfError(f"{self.type_to_c(tid)} is not a struct, union or enum")
        return self._struct_def(tid, 0) + ";\n"

    def align_of(self, type_id: int) -> int:
        """libbpf's btf__align_of: natural alignment, 1 for packed structs."""
        t = self.type(type_id)
        if t.kind in (INT, ENUM, ENUM64, FLOAT):
            return min(8, t.size_or_type)
        if t.kind == PTR:
            return 8
        if t.kind in _SKIPPED:
            return self.align_of(t.size_or_type)
        if t.kind == ARRAY:
            return self.align_of(self.array_info(type_id)[0])
        if t.kind in (STRUCT, UNION):
            best = 1
            for m in self.raw_members(type_id):
                a = self.align_of(m.type_id)
                best = max(best, a)
                if not m.bitfield_size and m.bit_offset % (8 * a):
                    return 1
            return 1 if t.size_or_type % best else best
        return 1

    def _is_packed(self, tid: int) -> bool:
        t = self.type(tid)
        best = 1
        for m in self.raw_members(tid):
            a = self.align_of(m.type_id)
            if a and not m.bitfield_size and m.bit_offset % (8 * a):
                return True
            best = max(best, a)
        return t.size_or_type % best != 0

    def _struct_def(self, tid: int, lvl: int) -> str:
        t = self.type(tid)
        is_struct = t.kind == STRUCT
        packed = is_struct and self._is_packed(tid)
        name = self._dump_name(tid) if t.name else ""
        out = [f"{'struct' if is_struct else 'union'}{' ' + name if name else ''} {{"]
        off, prev_bitfield = 0, False
        for m in self.raw_members(tid):
            m_align = 1 if packed else self.align_of(m.type_id)
            out.append(_bit_padding(off, m.bit_offset, m_align,
                                    prev_bitfield and m.bitfield_size != 0, lvl + 1))
            out.append("\n" + "\t" * (lvl + 1) + self._member_decl(m.type_id, m.name, lvl + 1))
            if m.bitfield_size:
                out.append(f": {m.bitfield_size}")
                off, prev_bitfield = m.bit_offset + m.bitfield_size, True
            else:
                off, prev_bitfield = m.bit_offset + 8 * self.sizeof(m.type_id), False
            out.append(";")
        if is_struct:
            out.append(_bit_padding(off, t.size_or_type * 8, self.align_of(tid), False,
                                    lvl + 1))
        out.append(("\n" + "\t" * lvl + "}") if t.vlen or t.size_or_type else "}")
        if packed:
            out.append(" __attribute__((packed))")
        return "".join(out)

    def _enum_def(self, tid: int, lvl: int) -> str:
        t = self.type(tid)
        head = f"enum{' ' + self._dump_name(tid) if t.name else ''}"
        if not t.vlen:
            return head
        body = "".join(f"\n{chr(9) * (lvl + 1)}{n} = {v}," for n, v in self.enum_values(tid).items())
        return f"{head} {{{body}\n{chr(9) * lvl}}}"

    def _member_decl(self, type_id: int, name: str, lvl: int) -> str:
        """A member declaration; anonymous struct/union/enum types are written out inline."""
        base, decl, quals = type_id, name, ""
        while True:                      # find the innermost type under arrays/pointers
            t = self.type(base)
            if t.kind in _MODIFIERS and not quals.startswith(_MODIFIERS[t.kind]):
                quals, base = f"{quals}{_MODIFIERS[t.kind]} ", t.size_or_type
            elif t.kind == ARRAY:
                elem, _, n = self.array_info(base)
                decl, base = f"{decl}[{n}]", elem
            elif t.kind == PTR and self.type(t.size_or_type).kind in (STRUCT, UNION, ENUM,
                                                                       ENUM64) \
                    and not self.type(t.size_or_type).name:
                decl, base = f"*{decl}", t.size_or_type
            else:
                break
        t = self.type(base)
        if t.kind in (STRUCT, UNION, ENUM, ENUM64) and not t.name:
            inline = self._struct_def(base, lvl) if t.kind in (STRUCT, UNION) else \
                self._enum_def(base, lvl)
            return f"{quals}{inline} {decl}" if decl else quals + inline
        return self.type_to_c(type_id, name, dump_names=True)

    # ---- bpftrace types

    def to_sized_type(self, type_id: int) -> T.SizedType:
        """The bpftrace value type of a BTF type: INT (size, sign; enums and bools too),
        STRING for char/u8 arrays (as bpftrace does), ARRAY, RECORD with `types.Field`s
        (anonymous members flattened, embedded structs expanded; bitfields as
        `Field.bitfield = (bit offset within the bytes at Field.offset, bit width)`), POINTER
        named after the pointee's C spelling.  A pointee struct is shallow (a RECORD without
        fields, which breaks cycles such as task_struct->parent): expand it with
        `to_sized_type(pointer_target)` or `record_type(name)`.  FLOAT maps to NONE."""
        tid = self.resolve(type_id)
        memo = self.__dict__.setdefault("_sized_memo", {})
        st = memo.get(tid)
        if st is None:
            st = memo[tid] = self._sized(tid)
        return st

    def pointer_target(self, type_id: int) -> int:
        """The type a pointer type points to (typedefs/qualifiers skipped on both ends)."""
        t = self.type(self.resolve(type_id))
        if t.kind != PTR:
            raise BtfError(f"{self.type_to_c(type_id)} is not a pointer")
        return self.resolve(t.size_or_type)

    def record_type(self, name: str) -> T.SizedType:
        """The RECORD for "struct task_struct" (or any struct/union/typedef name)."""
        return self.to_sized_type(self._id(name, (STRUCT, UNION)))

    def _sized(self, tid: int) -> T.SizedType:
        t = self.type(tid)
        k = t.kind
        if k == INT:
            enc, _, _bits = self.int_encoding(tid)
            return T.SizedType(T.Kind.INT, t.size_or_type, bool(enc & INT_SIGNED))
        if k in (ENUM, ENUM64):
            return T.SizedType(T.Kind.INT, t.size_or_type, t.kind_flag)
        if k == PTR:
            return T.Pointer(self._shallow(t.size_or_type), name=self.type_to_c(t.size_or_type))
        if k == ARRAY:
            elem, _, n = self.array_info(tid)
            et = self.to_sized_type(elem)
            if et.kind == T.Kind.INT and et.size == 1:
                return T.Str(n)
            return T.SizedType(T.Kind.ARRAY, n * et.size, elems=(et,))
        if k in (STRUCT, UNION):
            fields = []
            for m in self._flat(tid, 0):
                ft = self.to_sized_type(m.type_id)
                bits = (m.bit_offset % 8, m.bitfield_size) if m.bitfield_size else None
                fields.append(T.Field(m.name, ft, m.bit_offset // 8, bits))
            return T.SizedType(T.Kind.RECORD, t.size_or_type, name=self.type_to_c(tid),
                               fields=tuple(fields))
        if k == FWD:
            return T.SizedType(T.Kind.RECORD, 0, name=self.type_to_c(tid))
        if k == FLOAT:
            return T.SizedType(T.Kind.NONE, t.size_or_type, name=t.name)
        return T.SizedType(T.Kind.NONE, 0, name="void" if tid == 0 else self.type_to_c(tid))

    def _shallow(self, type_id: int) -> T.SizedType:
        tid = self.resolve(type_id)
        t = self.type(tid)
        if t.kind in (STRUCT, UNION, FWD):
            return T.SizedType(T.Kind.RECORD, t.size_or_type if t.kind != FWD else 0,
                               name=self.type_to_c(tid))
        if t.kind == PTR:
            return T.Pointer(T.NONE, name=self.type_to_c(t.size_or_type))
        return self.to_sized_type(tid)


def _sp(declarator: str) -> str:
    return f" {declarator}" if declarator and not declarator.startswith(("[", "(")) else declarator


def _join(base: str, declarator: str) -> str:
    if not declarator:
        return base
    if declarator.startswith("["):
        return base + declarator
    return f"{base} {declarator.lstrip()}" if not declarator.startswith(" ") else base + declarator


# ---- loading and caching

_LOADED: dict[str, Btf] = {}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bpftrace_kernel"


def load_btf(path: str, use_disk_cache: bool = True) -> Btf:
    """Parse a BTF file.  The type offset table and name index are cached on disk, keyed by the
    file's path, size and mtime, since building them costs ~0.3 s for vmlinux."""
    try:
        st = os.stat(path)
        data = Path(path).read_bytes()
    except OSError as e:
        raise BtfError(f"cannot read BTF from {path}: {e.strerror}") from None
    key = f"{_CACHE_VERSION}:{path}:{st.st_size}:{st.st_mtime_ns}:{sys.version_info[:2]}"
    cache = _cache_dir() / ("btf-" + path.strip("/").replace("/", "_") + ".pickle")
    if use_disk_cache:
        try:
            with open(cache, "rb") as f:
                saved_key, offsets, names = pickle.load(f)
            if saved_key == key:
                return Btf(data, offsets, names)
        except (OSError, pickle.PickleError, EOFError, ValueError, TypeError):
            pass
    btf = Btf(data)
    if use_disk_cache:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                pickle.dump((key, btf._offsets, btf._names), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache)
        except OSError:
            pass
    return btf


def load_vmlinux_btf(path: str = VMLINUX) -> Btf:
    """The kernel's BTF, parsed once per process (`BPFTRACE_BTF` overrides the path)."""
    path = os.environ.get("BPFTRACE_BTF", path) if path == VMLINUX else path
    btf = _LOADED.get(path)
    if btf is None:
        btf = _LOADED[path] = load_btf(path)
    return btf


def _bit_padding(cur: int, nxt: int, next_align: int, in_bitfield: bool, lvl: int) -> str:
    """libbpf btf_dump's explicit padding between struct members (bit offsets): pick the
    largest of long/int/short/char that reaches an aligned boundary, mark it with `type: 0`
    (or the bit count inside bitfields) when the compiler would not align there by itself,
    then fill the rest of the gap with `type: bits;` members."""
    pads = (("long", 64), ("int", 32), ("short", 16), ("char", 8))
    if cur >= nxt:
        return ""
    out = []
    pfx = "\t" * lvl
    pad_type, pad_bits, new_off = pads[-1][0], pads[-1][1], 0
    for pad_type, pad_bits in pads:
        new_off = -(-cur // pad_bits) * pad_bits
        if new_off <= nxt:
            break
    if cur < new_off <= nxt:
        if in_bitfield or (new_off == nxt and -(-cur // (next_align * 8)) * next_align * 8
                           != new_off) or (new_off != nxt and nxt - new_off <= new_off - cur):
            out.append(f"\n{pfx}{pad_type}: {new_off - cur if in_bitfield else 0};")
        cur = new_off
    while cur != nxt:
        bits = min(nxt - cur, pad_bits)
        if bits == pad_bits:
            out.append(f"\n{pfx}{pad_type}: {pad_bits};")
            cur += bits
            continue
        for small_type, small_bits in reversed(pads):
            if small_bits >= bits:
                out.append(f"\n{pfx}{small_type}: {bits};")
                cur += bits
                break
    return "".join(out)
