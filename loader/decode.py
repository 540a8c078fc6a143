"""Decoding raw bytes (event records, map keys and values) into Python values and events.

Owns `Decoder`: one per running program.  `value(t, buf, off)` decodes one value of a
`SizedType` through the `VALUE_DECODERS` registry (per Kind) following loader/values.py's
conventions; `map_snapshot()` turns raw map items into a `MapSnapshot` (per-CPU combining,
hist buckets grouped per key); `record()` turns a ring buffer record into an event through
`EVENT_BUILDERS` (per ActionSpec.kind).  Map actions (print/clear/zero) come back as `MapAction`
for the session to execute.  No kernel I/O except symbol lookups and the stack-map reader
the session passes in.
"""
from __future__ import annotations

import functools
import operator
import os
import pwd
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from bpftrace_compiler.artifact import ActionSpec, CompiledProgram, MapSpec
from bpftrace_compiler.types import Kind, SizedType

from . import events as ev
from .kallsyms import ksym, kstack_frame
from .maps import Combiner, round8
from .pid_watch import pid_offsets
from .values import MapSnapshot, Stack, Stats

# get_stackid's errors for a stack it could not store (hash slot taken, map full); -EFAULT
# (a kernel stack of a sample taken in user mode) is simply an empty stack
STACK_DROP_ERRNOS = (17, 12)     # EEXIST, ENOMEM
StackReader = Callable[[SizedType, int], Optional[list[int]]]   # (stack type, id) -> addresses


@dataclass(frozen=True)
class MapAction:
    """A print(@m)/clear(@m)/zero(@m) record: the session executes it in order."""
    kind: str
    action: ActionSpec


def _user_symbols():
    """loader.user_symbols, imported on first use (it pulls in ELF and demangling code)."""
    from . import user_symbols
    return user_symbols


# ---------------------------------------------------------------- scalar helpers
def _int(buf: bytes, off: int, size: int, signed: bool) -> int:
    return int.from_bytes(buf[off:off + size], "little", signed=signed)


def _u64(buf: bytes, off: int) -> int:
    return _int(buf, off, 8, False)


def c_string(raw: bytes) -> str:
    """A NUL-terminated (or NUL-padded) C string; undecodable bytes kept as surrogates."""
    return raw.partition(b"\0")[0].decode("utf-8", "surrogateescape")


@functools.lru_cache(maxsize=1024)
def username(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return str(uid)


def inet_text(af: int, addr: bytes) -> str:
    import ipaddress
    if af == 10:                                   # AF_INET6
        return str(ipaddress.IPv6Address(bytes(addr[:16])))
    return str(ipaddress.IPv4Address(bytes(addr[:4])))


def strftime_text(fmt: str, boot_ns: int) -> str:
    """bpftrace's strftime(): `boot_ns` is CLOCK_BOOTTIME ns; %f is microseconds."""
    wall_ns = time.clock_gettime_ns(time.CLOCK_REALTIME) \
        - time.clock_gettime_ns(time.CLOCK_BOOTTIME) + boot_ns
    secs, ns = divmod(wall_ns, 1_000_000_000)
    parts = fmt.split("%%")
    parts = [p.replace("%f", f"{ns // 1000:06d}") for p in parts]
    return time.strftime("%%".join(parts), time.localtime(secs))


def _cgroup_mounts() -> list[tuple[str, str]]:
    """(hierarchy name, mount point): the v2 hierarchy ("unified") first, then v1 by name."""
    v2, v1 = [], []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                dev, mnt, fstype, opts = line.split()[:4]
                if fstype == "cgroup2":
                    v2.append(("unified", mnt))
                elif fstype == "cgroup":
                    names = [o.removeprefix("name=") for o in opts.split(",")
                             if o not in ("rw", "ro", "relatime", "noexec", "nosuid", "nodev")
                             and not o.startswith("clone_children") and o != "xattr"]
                    v1.append((",".join(names), mnt))
    except OSError:
        pass
    return v2[:1] + sorted(v1)


@functools.lru_cache(maxsize=256)
def cgroup_path(cgid: int) -> str:
    """bpftrace's cgroup_path(): `hierarchy:path` for each hierarchy holding the cgroup id."""
    found = []
    for name, mnt in _cgroup_mounts():
        for root, dirs, _ in os.walk(mnt):
            try:
                if os.stat(root).st_ino == cgid:
                    found.append(f"{name}:{'/' + os.path.relpath(root, mnt) if root != mnt else '/'}")
                    break
            except OSError:
                continue
    return ",".join(found)


# ---------------------------------------------------------------- the decoder
class Decoder:
    def __init__(self, program: CompiledProgram, read_stack: Optional[StackReader] = None):
        self.program = program
        self.read_stack = read_stack
        self.dropped_stacks: set[int] = set()      # raw values of stacks get_stackid dropped
        self._plans = {a.id: _RecordPlan(self, a) for a in program.actions}
        # action id -> offsets of the u32 pids of the usym/ustack values its records carry
        self.pid_fields = {a.id: offs for a in program.actions
                           if (offs := [o for t, off in zip(a.args, a.offsets)
                                        for o in pid_offsets(t, off)])}

    # values ----------------------------------------------------------
    def value(self, t: SizedType, buf: bytes, off: int = 0) -> Any:
        decode = VALUE_DECODERS.get(t.kind)
        if decode is None:
            raise ValueError(f"cannot decode a value of type {t}")
        return decode(self, t, buf, off)

    def stack(self, t: SizedType, raw: int) -> Stack:
        perf = len(t.params) > 1 and t.params[1] == 1
        limit = t.params[0] if t.params else 0
        stack_id = raw & 0xFFFFFFFF
        pid = raw >> 32
        addrs = None
        if stack_id < 0x80000000 and self.read_stack is not None:   # negative: -EFAULT etc.
            addrs = self.read_stack(t, stack_id)
        elif 0x100000000 - stack_id in STACK_DROP_ERRNOS:
            self.dropped_stacks.add(raw)
        frames = []
        for addr in addrs or ():
            if not addr or (limit and len(frames) >= limit):
                break
            frames.append(kstack_frame(addr, perf) if t.kind == Kind.KSTACK
                          else _user_symbols().ustack_frame(addr, pid, perf))
        return Stack(tuple(frames), perf)

    # records -----------------------------------------------------------
    def record_pids(self, data: bytes) -> list[int]:
        """The pids of the usym/ustack values in a record, read without decoding it."""
        offs = self.pid_fields.get(_ID.unpack_from(data)[0]) if len(data) >= 8 else None
        if not offs:
            return []
        return [int.from_bytes(data[o:o + 4], "little") for o in offs if o + 4 <= len(data)]

    def record(self, data: bytes):
        """A ring buffer record -> an event, a MapAction, or None for an unknown id."""
        if len(data) < 8:
            return None
        plan = self._plans.get(_ID.unpack_from(data)[0])
        return plan.event(data) if plan is not None else None

    # maps ----------------------------------------------------------------
    def map_snapshot(self, spec: MapSpec, items: list[tuple[bytes, bytes]],
                     nslots: int = 1) -> MapSnapshot:
        """A MapSnapshot from raw (key, value) items; each value holds `nslots` per-CPU slots
        of round8(value_size) bytes (1 slot of value_size bytes for other maps)."""
        vt = spec.value_type
        key = _key_decoder(self, spec.key_type)
        if vt is not None and vt.kind in (Kind.HIST, Kind.LHIST):
            return MapSnapshot(spec, self._buckets(spec, items, key, nslots))
        if vt is None:
            entries = [(key(k), None) for k, _ in items]
        elif vt.is_aggregation:
            value = Combiner(vt, nslots, _slot_stride(spec, nslots))
            if vt.kind in (Kind.AVG, Kind.STATS):
                entries = [(key(k), Stats(*value(v))) for k, v in items]
            else:
                entries = [(key(k), value(v)) for k, v in items]
            if _has_kind(spec.key_type, Kind.KSTACK):
                entries = _merge_equal_keys(entries, vt.kind)
        else:
            entries = [(key(k), self.value(vt, v, 0)) for k, v in items]
        return MapSnapshot(spec, entries)

    def map_snapshot_packed(self, spec: MapSpec, keys: bytes, values: bytes, count: int,
                            nslots: int = 1) -> MapSnapshot:
        """`map_snapshot()` from packed buffers (BpfMap.packed_items()).  Integer keys with
        count/sum values, by far the most common big maps, decode with one
        struct.iter_unpack over each whole buffer; anything else goes item by item."""
        entries = _packed_counts(spec, keys, values, count, nslots)
        if entries is not None:
            return MapSnapshot(spec, entries)
        ks = spec.key_size
        vs = len(values) // count if count else 0
        items = [(keys[i * ks:(i + 1) * ks], values[i * vs:(i + 1) * vs]) for i in range(count)]
        return self.map_snapshot(spec, items, nslots)

    def _buckets(self, spec: MapSpec, items, key: Callable[[bytes], tuple], nslots: int
                 ) -> list[tuple[tuple, dict]]:
        bucket_off = round8(spec.key_type.size) if spec.key_type is not None else 0
        user_size = spec.key_type.size if spec.key_type is not None else 0
        count = Combiner(spec.value_type, nslots, _slot_stride(spec, nslots))
        grouped: dict[bytes, dict[int, int]] = {}
        for kraw, vraw in items:
            hist = grouped.setdefault(kraw[:user_size], {})
            n = count(vraw)
            if n:
                bucket = _u64(kraw, bucket_off)
                hist[bucket] = hist.get(bucket, 0) + n
        entries = [(key(user), dict(sorted(h.items()))) for user, h in grouped.items()]
        if _has_kind(spec.key_type, Kind.KSTACK):
            return _merge_equal_keys(entries, spec.value_type.kind)
        return entries


def _key_decoder(decoder: Decoder, kt: Optional[SizedType]) -> Callable[[bytes], tuple]:
    """A function decoding one map's raw keys into key tuples, built once per snapshot:
    plain integers, strings and flat tuples of them take a single struct.unpack."""
    if kt is None:
        return lambda raw: ()
    elems = list(kt.elems) if kt.kind == Kind.TUPLE else [kt]
    offsets = kt.tuple_offsets() if kt.kind == Kind.TUPLE else [0]
    fmt, pos, strings = "<", 0, []
    for i, (t, off) in enumerate(zip(elems, offsets)):
        code = _INT_CODES.get((t.size, t.signed)) if t.kind == Kind.INT else None
        if code is None and t.kind != Kind.STRING:
            if kt.kind == Kind.TUPLE:                # anything else: the generic decoder
                return lambda raw: tuple(decoder.value(kt, raw, 0))
            return lambda raw: (decoder.value(kt, raw, 0),)
        fmt += (f"{off - pos}x" if off > pos else "") + (code or f"{t.size}s")
        if code is None:
            strings.append(i)
        pos = off + t.size
    unpack = struct.Struct(fmt).unpack_from
    if not strings:
        return unpack

    def decode(raw: bytes) -> tuple:
        vals = list(unpack(raw))
        for i in strings:
            vals[i] = c_string(vals[i])
        return tuple(vals)
    return decode


def _int_key_struct(kt: Optional[SizedType], key_size: int) -> Optional[struct.Struct]:
    """One struct for a key made only of integers (padding skipped), or None."""
    if kt is None or _has_kind(kt, Kind.KSTACK):
        return None
    elems = list(kt.elems) if kt.kind == Kind.TUPLE else [kt]
    offsets = kt.tuple_offsets() if kt.kind == Kind.TUPLE else [0]
    fmt, pos = "<", 0
    for t, off in zip(elems, offsets):
        code = _INT_CODES.get((t.size, t.signed)) if t.kind == Kind.INT else None
        if code is None:
            return None
        fmt += (f"{off - pos}x" if off > pos else "") + code
        pos = off + t.size
    fmt += f"{key_size - pos}x" if key_size > pos else ""
    return struct.Struct(fmt)


_I64_RANGE = (-(1 << 63), (1 << 63) - 1)
_U64_RANGE = (0, (1 << 64) - 1)


def _packed_counts(spec: MapSpec, keys: bytes, values: bytes, count: int, nslots: int
                   ) -> Optional[list[tuple[tuple, int]]]:
    """Entries of an integer-keyed count()/sum() map straight from packed buffers, or None
    when the map is of another shape."""
    vt = spec.value_type
    if vt is None or vt.kind not in (Kind.COUNT, Kind.SUM) or not count:
        return None
    key_struct = _int_key_struct(spec.key_type, spec.key_size)
    stride = _slot_stride(spec, nslots)
    if key_struct is None or stride < 8 or stride % 8 or len(values) != count * stride * nslots \
            or len(keys) != count * key_struct.size:
        return None
    words = memoryview(values).cast("q" if vt.signed else "Q").tolist()
    per_slot = stride // 8
    totals = words[0::per_slot * nslots]
    for cpu in range(1, nslots):                     # per-CPU slots summed column-wise
        totals = list(map(operator.add, totals, words[cpu * per_slot::per_slot * nslots]))
    lo, hi = _I64_RANGE if vt.signed else _U64_RANGE
    if nslots > 1 and (min(totals) < lo or max(totals) > hi):
        totals = [_wrap64(v, vt.signed) for v in totals]     # the per-CPU adds wrapped
    return list(zip(struct.iter_unpack(key_struct.format, keys), totals))


def _wrap64(v: int, signed: bool) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if signed and v >> 63 else v


def _slot_stride(spec: MapSpec, nslots: int) -> int:
    """Per-CPU values come in 8-byte aligned slots; a plain map's value is one slot."""
    return round8(spec.value_size) if nslots > 1 else spec.value_size


def _has_kind(t: Optional[SizedType], kind: Kind) -> bool:
    return t is not None and (t.kind == kind or any(_has_kind(e, kind) for e in t.elems))


_MERGERS: dict[Kind, Callable[[Any, Any], Any]] = {
    Kind.COUNT: lambda a, b: a + b,
    Kind.SUM: lambda a, b: a + b,
    Kind.MIN: min,
    Kind.MAX: max,
    Kind.AVG: lambda a, b: Stats(a.count + b.count, a.total + b.total),
    Kind.STATS: lambda a, b: Stats(a.count + b.count, a.total + b.total),
    Kind.HIST: lambda a, b: {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))},
    Kind.LHIST: lambda a, b: {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))},
}


def _merge_equal_keys(entries: list[tuple[tuple, Any]], kind: Kind) -> list[tuple[tuple, Any]]:
    """Kernel stack keys carry the pid (and failed lookups their errno) in the stored value,
    so one printed stack can be several map entries; bpftrace keys by the stack alone, so
    their aggregations combine."""
    merge = _MERGERS[kind]
    merged: dict[tuple, Any] = {}
    for key, value in entries:
        merged[key] = merge(merged[key], value) if key in merged else value
    return list(merged.items())


_ID = struct.Struct("<Q")
_INT_CODES = {(1, True): "b", (1, False): "B", (2, True): "h", (2, False): "H",
              (4, True): "i", (4, False): "I", (8, True): "q", (8, False): "Q"}


class _RecordPlan:
    """One action's record decoder, built once: a single struct.unpack of every argument,
    then a converter for the arguments that are not plain integers (the per-event path)."""

    def __init__(self, decoder: Decoder, action: ActionSpec):
        self.action = action
        self.build = EVENT_BUILDERS[action.kind]
        fmt, pos, convs = "<8x", 8, []
        for t, off in zip(action.args, action.offsets):
            if off < pos:
                raise ValueError(f"action {action.id}: overlapping arguments")
            fmt += f"{off - pos}x" if off > pos else ""
            code = _INT_CODES.get((t.size, t.signed)) if t.kind == Kind.INT else None
            if code:
                fmt += code
                convs.append(None)
            else:
                fmt += f"{t.size}s"
                convs.append(c_string if t.kind == Kind.STRING else
                             functools.partial(decoder.value, t))
            pos = off + t.size
        self.struct = struct.Struct(fmt)
        self.convs = tuple((i, c) for i, c in enumerate(convs) if c is not None)

    def event(self, data: bytes):
        if len(data) < self.struct.size:
            data = data.ljust(self.struct.size, b"\0")
        vals = self.struct.unpack_from(data)
        if self.convs:
            vals = list(vals)
            for i, conv in self.convs:
                vals[i] = conv(vals[i])
            vals = tuple(vals)
        return self.build(self.action, vals)



# ---------------------------------------------------------------- value decoders per Kind
def _d_int(d: Decoder, t: SizedType, buf: bytes, off: int):
    return _int(buf, off, t.size, t.signed)


def _d_string(d: Decoder, t: SizedType, buf: bytes, off: int):
    return c_string(buf[off:off + t.size])


def _d_buffer(d: Decoder, t: SizedType, buf: bytes, off: int):
    length = _int(buf, off, 4, False)
    return bytes(buf[off + 4:off + 4 + min(length, max(0, t.size - 4))])


def _d_tuple(d: Decoder, t: SizedType, buf: bytes, off: int):
    return tuple(d.value(e, buf, off + o) for e, o in zip(t.elems, t.tuple_offsets()))


def _d_array(d: Decoder, t: SizedType, buf: bytes, off: int):
    elem = t.elems[0]
    return tuple(d.value(elem, buf, off + i * elem.size) for i in range(t.size // max(1, elem.size)))


def _d_record(d: Decoder, t: SizedType, buf: bytes, off: int):
    out = {}
    for f in t.fields:
        if f.bitfield is not None:
            bit_off, width = f.bitfield
            raw = _int(buf, off + f.offset, f.type.size, False)
            v = (raw >> bit_off) & ((1 << width) - 1)
            if f.type.signed and v >> (width - 1):
                v -= 1 << width
            out[f.name] = v
        else:
            out[f.name] = d.value(f.type, buf, off + f.offset)
    return out


def _d_stack(d: Decoder, t: SizedType, buf: bytes, off: int):
    return d.stack(t, _u64(buf, off))


def _d_probe(d: Decoder, t: SizedType, buf: bytes, off: int):
    i = _u64(buf, off)
    names = d.program.probe_names
    return names[i] if i < len(names) else str(i)


def _d_timestamp(d: Decoder, t: SizedType, buf: bytes, off: int):
    fmts = d.program.strftime_formats
    i = _u64(buf, off)
    return strftime_text(fmts[i] if i < len(fmts) else "%H:%M:%S", _u64(buf, off + 8))


def _d_macaddr(d: Decoder, t: SizedType, buf: bytes, off: int):
    return ":".join(f"{b:02X}" for b in buf[off:off + 6])


VALUE_DECODERS: dict[Kind, Callable[[Decoder, SizedType, bytes, int], Any]] = {
    Kind.INT: _d_int,
    Kind.POINTER: lambda d, t, b, o: _u64(b, o),
    Kind.CTX: lambda d, t, b, o: _u64(b, o),
    Kind.STRING: _d_string,
    Kind.BUFFER: _d_buffer,
    Kind.TUPLE: _d_tuple,
    Kind.ARRAY: _d_array,
    Kind.RECORD: _d_record,
    Kind.KSTACK: _d_stack,
    Kind.USTACK: _d_stack,
    Kind.KSYM: lambda d, t, b, o: ksym(_u64(b, o)),
    Kind.USYM: lambda d, t, b, o: _user_symbols().usym(_u64(b, o), _u64(b, o + 8)),
    Kind.USERNAME: lambda d, t, b, o: username(_u64(b, o)),
    Kind.PROBE: _d_probe,
    Kind.INET: lambda d, t, b, o: inet_text(_int(b, o, 8, True), b[o + 8:o + 24]),
    Kind.TIMESTAMP: _d_timestamp,
    Kind.CGROUP_PATH: lambda d, t, b, o: cgroup_path(_u64(b, o)),
    Kind.STRERROR: lambda d, t, b, o: os.strerror(_int(b, o, 8, True)),
    Kind.MACADDR: _d_macaddr,
    Kind.NONE: lambda d, t, b, o: None,
    # aggregation values read straight from a record (no per-CPU slots)
    Kind.COUNT: lambda d, t, b, o: _u64(b, o),
    Kind.SUM: lambda d, t, b, o: _int(b, o, 8, t.signed),
    Kind.MIN: lambda d, t, b, o: _int(b, o, 8, t.signed),
    Kind.MAX: lambda d, t, b, o: _int(b, o, 8, t.signed),
    Kind.AVG: lambda d, t, b, o: Stats(_u64(b, o + 8), _int(b, o, 8, True)),
    Kind.STATS: lambda d, t, b, o: Stats(_u64(b, o + 8), _int(b, o, 8, True)),
}


# ---------------------------------------------------------------- events per action kind
def _join_parts(args: tuple) -> tuple[str, ...]:
    """join(): the argv strings up to the first empty one (a NULL pointer in argv)."""
    flat: list = []
    for a in args:
        flat.extend(a if isinstance(a, (tuple, list)) else (a,))
    parts = []
    for s in flat:
        if not s:
            break
        parts.append(s)
    return tuple(parts)


EVENT_BUILDERS: dict[str, Callable[[ActionSpec, tuple], Any]] = {
    "printf": lambda a, args: ev.Printf(a, args),
    "system": lambda a, args: ev.System(a, args),
    "cat": lambda a, args: ev.Cat(a, args),
    "time": lambda a, args: ev.Time(a),
    "join": lambda a, args: ev.Join(a, _join_parts(args)),
    "print_value": lambda a, args: ev.PrintValue(a, args[0] if args else None),
    "exit": lambda a, args: ev.Exit(int(args[0]) if args else 0),
    "print_map": lambda a, args: MapAction("print_map", a),
    "clear": lambda a, args: MapAction("clear", a),
    "zero": lambda a, args: MapAction("zero", a),
}
