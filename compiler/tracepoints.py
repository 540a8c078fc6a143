"""Tracepoints from tracefs: the event list, ids and the `args` record of each event.

Owns `KernelInfo` (the provider the compiler asks about the running kernel: tracepoint names,
ids and format files), its tracefs implementation, and `parse_format()`, which turns a tracefs
`format` file into the RECORD type `struct _tracepoint_<cat>_<event>` that `args` points to
(offsets, sizes and signedness from the file, `char x[N]` as strings, `__data_loc` fields as
kernel pointers, `char *` fields of syscalls as user pointers).  Pure stdlib: no LLVM.
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Optional, Protocol

from .types import Field, Int, Kind, Pointer, SizedType, Str, UInt

_FIELD_RE = re.compile(r"^\s*field:(?P<decl>.*?);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                       r"\s*signed:(?P<signed>\d+);")
_ARRAY_RE = re.compile(r"^(?P<type>.*?)\s*(?P<name>\w+)\s*\[(?P<len>\w*)\]$")
_NAME_RE = re.compile(r"^(?P<type>.*?)(?P<name>\w+)$")
_UNSIGNED_WORDS = ("unsigned", "u8", "u16", "u32", "u64", "__u8", "__u16", "__u32", "__u64",
                   "size_t", "umode_t", "dev_t", "sector_t", "gfp_t", "bool", "_Bool",
                   "uint8_t", "uint16_t", "uint32_t", "uint64_t", "ino_t", "uid_t", "gid_t")
_SIGNED_WORDS = ("int", "long", "short", "signed", "char", "s8", "s16", "s32", "s64", "pid_t",
                 "ssize_t", "loff_t", "off_t", "__s32", "__s64", "__s16", "__s8", "int32_t",
                 "int64_t", "time64_t", "ktime_t", "long long")


@dataclass(frozen=True)
class TracepointField:
    name: str
    ctype: str              # C type as written in the format file (without the name)
    offset: int
    size: int
    signed: bool
    type: SizedType         # what `args->name` evaluates to
    data_loc: bool = False  # `__data_loc`: a u32 (len << 16 | offset from the record start)


def _int_signed(ctype: str, signed_flag: bool) -> bool:
    words = ctype.replace("*", " ").split()
    if any(w in _UNSIGNED_WORDS for w in words):
        return False
    if any(w in _SIGNED_WORDS for w in words):
        return True
    return signed_flag


def _pointer_type(ctype: str, user: bool) -> SizedType:
    """`const char *`, `char **`, `struct x *`: a POINTER named after its pointee's C
    spelling (bpftrace prints `const char *`); struct pointees are field-less RECORDs that
    the semantic pass completes from BTF."""
    pointee_text = ctype[:ctype.rindex("*")].strip()
    if pointee_text.endswith("const") and pointee_text[:-5].rstrip().endswith("*"):
        pointee_text = pointee_text[:-5].rstrip()         # `char *const *`
    if pointee_text.endswith("*"):
        pointee = _pointer_type(pointee_text, user)
    else:
        base = pointee_text.replace("const ", "").replace("volatile ", "").strip()
        if base.startswith(("struct ", "union ")):
            pointee = SizedType(Kind.RECORD, 0, name=base)
        elif "char" in base:
            pointee = Int(8, "unsigned" not in base)
        else:
            pointee = UInt(8)
    return Pointer(pointee, name=pointee_text, user=user)


def _field_type(ctype: str, size: int, signed: bool, array_len: Optional[int],
                user_pointers: bool) -> SizedType:
    base = ctype.replace("const ", "").replace("volatile ", "").strip()
    if array_len is not None:
        if base == "char":
            return Str(size)
        elem_size = size // array_len if array_len else 1
        elem = Int(elem_size * 8, _int_signed(base, signed)) if elem_size in (1, 2, 4, 8) else UInt(8)
        return SizedType(Kind.ARRAY, size, elems=(elem,))
    if "*" in ctype:
        return _pointer_type(ctype.strip(), user_pointers)
    if size in (1, 2, 4, 8):
        return Int(size * 8, _int_signed(base, signed))
    return SizedType(Kind.ARRAY, size, elems=(UInt(8),))


def parse_format(text: str, category: str, event: str) -> tuple[list[TracepointField], SizedType]:
    """Fields of a tracefs `format` file and the `args` record type built from them."""
    user_pointers = category == "syscalls"
    fields: list[TracepointField] = []
    for line in text.splitlines():
        m = _FIELD_RE.match(line)
        if not m:
            continue
        decl, off, size = m["decl"].strip(), int(m["off"]), int(m["size"])
        signed = m["signed"] == "1"
        data_loc = decl.startswith("__data_loc")
        if data_loc:
            decl = decl[len("__data_loc"):].strip()
        am = _ARRAY_RE.match(decl)
        if am:
            ctype, name = am["type"].strip(), am["name"]
            length = int(am["len"], 0) if am["len"] else None
            if data_loc:
                ftype = Pointer(Int(8, True), name="char *", user=False)
            else:
                ftype = _field_type(ctype, size, signed, length if length is not None else 0,
                                    user_pointers)
        else:
            nm = _NAME_RE.match(decl)
            if not nm:
                continue
            ctype, name = nm["type"].strip(), nm["name"]
            if data_loc:
                ftype = Pointer(Int(8, True), name="char *", user=False)
            else:
                ftype = _field_type(ctype, size, signed, None, user_pointers)
        fields.append(TracepointField(name, ctype, off, size, signed, ftype, data_loc))
    record_size = max((f.offset + f.size for f in fields), default=0)
    record = SizedType(Kind.RECORD, record_size, name=f"struct _tracepoint_{category}_{event}",
                       fields=tuple(Field(f.name, f.type, f.offset) for f in fields))
    return fields, record


@dataclass(frozen=True)
class TracepointInfo:
    category: str
    event: str
    id: int
    fields: tuple[TracepointField, ...]
    record: SizedType

    def field(self, name: str) -> Optional[TracepointField]:
        for f in self.fields:
            if f.name == name:
                return f
        return None


class KernelInfo(Protocol):
    """What the compiler needs to know about the running kernel."""

    def tracepoints(self) -> list[str]:
        """Every tracepoint as "category:event"."""

    def tracepoint(self, category: str, event: str) -> Optional[TracepointInfo]:
        """The format of one tracepoint, or None when it does not exist."""

    def btf(self):
        """The kernel's BTF (compiler.btf.Btf) for struct types, or None."""


class TracefsKernelInfo:
    """KernelInfo read from a tracefs mount (cached per instance)."""

    def __init__(self, root: str = "/sys/kernel/tracing", btf_path: str = "/sys/kernel/btf/vmlinux"):
        self.root = root
        self.btf_path = btf_path
        self._events: Optional[list[str]] = None
        self._formats: dict[tuple[str, str], Optional[TracepointInfo]] = {}
        self._btf = None

    def btf(self):
        if self._btf is None:
            from .btf import BtfError, load_btf
            try:
                self._btf = load_btf(self.btf_path)
            except (OSError, BtfError):
                self._btf = False
        return self._btf or None

    def tracepoints(self) -> list[str]:
        if self._events is None:
            self._events = self._read_events()
        return self._events

    def _read_events(self) -> list[str]:
        try:
            with open(os.path.join(self.root, "available_events")) as f:
                return [line.strip() for line in f if ":" in line]
        except OSError:
            pass
        out = []
        events_dir = os.path.join(self.root, "events")
        try:
            for cat in sorted(os.listdir(events_dir)):
                cat_dir = os.path.join(events_dir, cat)
                if os.path.isdir(cat_dir):
                    out.extend(f"{cat}:{ev}" for ev in sorted(os.listdir(cat_dir))
                               if os.path.isdir(os.path.join(cat_dir, ev)))
        except OSError:
            pass
        return out

    def tracepoint(self, category: str, event: str) -> Optional[TracepointInfo]:
        key = (category, event)
        if key not in self._formats:
            self._formats[key] = self._read_format(category, event)
        return self._formats[key]

    def _read_format(self, category: str, event: str) -> Optional[TracepointInfo]:
        base = os.path.join(self.root, "events", category, event)
        try:
            with open(os.path.join(base, "format")) as f:
                text = f.read()
        except OSError:
            return None
        try:
            with open(os.path.join(base, "id")) as f:
                tp_id = int(f.read().strip())
        except (OSError, ValueError):
            tp_id = 0
        fields, record = parse_format(text, category, event)
        return TracepointInfo(category, event, tp_id, tuple(fields), record)


class StaticKernelInfo:
    """KernelInfo from in-memory format texts, for tests and offline use:
    `StaticKernelInfo({"syscalls:sys_enter_openat": "<format file text>"})`."""

    def __init__(self, formats: dict[str, str], ids: Optional[dict[str, int]] = None,
                 btf=None):
        self._texts = dict(formats)
        self._ids = ids or {}
        self._btf = btf

    def btf(self):
        return self._btf

    def tracepoints(self) -> list[str]:
        return list(self._texts)

    def tracepoint(self, category: str, event: str) -> Optional[TracepointInfo]:
        key = f"{category}:{event}"
        if key not in self._texts:
            return None
        fields, record = parse_format(self._texts[key], category, event)
        return TracepointInfo(category, event, self._ids.get(key, 0), tuple(fields), record)


def match_tracepoints(info: KernelInfo, category: str, event: str) -> list[tuple[str, str]]:
    """(category, event) pairs matching a possibly wildcarded `category:event`."""
    if not any(c in category + event for c in "*?["):
        return [(category, event)] if info.tracepoint(category, event) else []
    out = []
    for name in info.tracepoints():
        cat, _, ev = name.partition(":")
        if fnmatch.fnmatchcase(cat, category) and fnmatch.fnmatchcase(ev, event):
            out.append((cat, ev))
    return out
