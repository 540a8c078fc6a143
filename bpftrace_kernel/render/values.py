"""Text of single decoded values, as bpftrace 0.17 prints them.

Owns `format_value` (what print(value) and a map value print: ints, strings, tuples
`(1, -2, s)`, arrays `[1,2]`, records `{ .a = 1 }`, stacks, buffers, aggregations),
`format_key_field` (one field of a map key: `@m[1, a]`, stacks indented 4, pointers in hex)
and `format_stack`.  Dispatch is a registry keyed by `Kind`.  Values follow the conventions
of bpftrace_loader.values.  Must not import the kernel, the loader's I/O or Jupyter.
"""
from __future__ import annotations

from typing import Any, Callable

from bpftrace_compiler.types import Kind, SizedType
from bpftrace_loader.values import Stack, Stats

from .hist import text_rows
from .printf import c_int, format_buffer

VALUE_INDENT = 8     # print(kstack), map values, printf("%s", kstack)
KEY_INDENT = 4       # @[kstack] keys


def format_stack(stack: Any, indent: int = VALUE_INDENT) -> str:
    """bpftrace's stack text: a leading newline, then one frame per line, indented by
    `indent` spaces (bpftrace mode) or a tab (perf mode, frames already carry the address).
    A stack with no frames (the lookup failed, e.g. no user stack) prints as nothing."""
    if not isinstance(stack, Stack):
        return str(stack)
    if not stack.frames:
        return ""
    lead = "\t" if stack.perf_mode else " " * indent
    return "\n" + "".join(f"{lead}{frame}\n" for frame in stack.frames)


def as_text(value: Any) -> str:
    """A string-like decoded value as text (bytes are decoded with surrogateescape)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return str(value)


def as_int(t: SizedType, value: Any) -> int:
    """An integer value normalised to its C type (signedness and width)."""
    v = int(value)
    if t.kind == Kind.INT and t.size in (1, 2, 4, 8):
        return c_int(v, t.size * 8, t.signed)
    return v


def cdiv(value: int, div: int) -> int:
    """C integer division (truncates toward zero), as bpftrace's `value / div`."""
    if div in (0, 1):
        return value
    q = abs(value) // div
    return -q if value < 0 else q


def record_items(t: SizedType, value: Any) -> list[tuple[str, SizedType, Any]]:
    """(name, type, value) of each member of a RECORD value given as a dict or a sequence."""
    if isinstance(value, dict):
        return [(f.name, f.type, value.get(f.name)) for f in t.fields]
    return [(f.name, f.type, v) for f, v in zip(t.fields, value)]


def _tuple_items(t: SizedType, value: Any) -> list[tuple[SizedType, Any]]:
    return list(zip(t.elems, value))


def _array_items(t: SizedType, value: Any) -> list[tuple[SizedType, Any]]:
    elem = t.elems[0] if t.elems else SizedType(Kind.INT, 8, True)
    return [(elem, v) for v in value]


def _stats_text(t: SizedType, v: Any, div: int) -> str:
    return f"count {v.count}, average {v.average}, total {v.total}"


def _hist_text(t: SizedType, v: Any, div: int) -> str:
    return text_rows(t, v, div)


_ValueFormatter = Callable[[SizedType, Any, int], str]

# Integer-valued kinds print the same way in text and JSON (value integer-divided by `div`).
NUMBER_FORMATTERS: dict[Kind, _ValueFormatter] = {
    Kind.INT: lambda t, v, d: str(cdiv(as_int(t, v), d)),
    Kind.COUNT: lambda t, v, d: str(cdiv(int(v), d)),
    Kind.SUM: lambda t, v, d: str(cdiv(int(v), d)),
    Kind.MIN: lambda t, v, d: str(cdiv(int(v), d)),
    Kind.MAX: lambda t, v, d: str(cdiv(int(v), d)),
    Kind.AVG: lambda t, v, d: str(cdiv(v.average if isinstance(v, Stats) else int(v), d)),
    Kind.POINTER: lambda t, v, d: str(int(v)),          # 0.17 prints pointers in decimal
}

_VALUE_FORMATTERS: dict[Kind, _ValueFormatter] = {
    **NUMBER_FORMATTERS,
    Kind.STATS: _stats_text,
    Kind.HIST: _hist_text,
    Kind.LHIST: _hist_text,
    Kind.BUFFER: lambda t, v, d: format_buffer(bytes(v) if not isinstance(v, str)
                                               else v.encode("utf-8", "surrogateescape")),
    Kind.KSTACK: lambda t, v, d: format_stack(v, VALUE_INDENT),
    Kind.USTACK: lambda t, v, d: format_stack(v, VALUE_INDENT),
    Kind.TUPLE: lambda t, v, d: "(" + ", ".join(format_value(et, ev)
                                                for et, ev in _tuple_items(t, v)) + ")",
    Kind.ARRAY: lambda t, v, d: "[" + ",".join(format_value(et, ev)
                                               for et, ev in _array_items(t, v)) + "]",
    Kind.RECORD: lambda t, v, d: "{ " + ", ".join(f".{n} = {format_value(ft, fv)}"
                                                  for n, ft, fv in record_items(t, v)) + " }",
    Kind.NONE: lambda t, v, d: "",
}


def format_value(t: SizedType, value: Any, div: int = 0) -> str:
    """print(value) text (without the newline).  `div` divides count/sum/int/min/max/avg
    values and hist counts, as print(@m, top, div) does."""
    formatter = _VALUE_FORMATTERS.get(t.kind)
    if formatter is None:                # strings and every string-like type
        if isinstance(value, Stack):
            return format_stack(value)
        return as_text(value)
    return formatter(t, value, div)


# ---------------------------------------------------------------------------- map keys

_KeyFormatter = Callable[[SizedType, Any], str]

_KEY_FORMATTERS: dict[Kind, _KeyFormatter] = {
    # 0.17 reads integer keys back as signed, whatever their declared sign
    Kind.INT: lambda t, v: str(c_int(int(v), (t.size or 8) * 8, True)),
    Kind.KSTACK: lambda t, v: format_stack(v, KEY_INDENT),
    Kind.USTACK: lambda t, v: format_stack(v, KEY_INDENT),
    Kind.POINTER: lambda t, v: f"0x{c_int(int(v), 64, False):x}",
    Kind.BUFFER: lambda t, v: format_buffer(bytes(v) if not isinstance(v, str)
                                            else v.encode("utf-8", "surrogateescape")),
    Kind.ARRAY: lambda t, v: "[" + ",".join(format_key_field(et, ev)
                                            for et, ev in _array_items(t, v)) + "]",
    Kind.RECORD: lambda t, v: "{" + ",".join(f".{n}={format_key_field(ft, fv)}"
                                             for n, ft, fv in record_items(t, v)) + "}",
    Kind.TUPLE: lambda t, v: "(" + ", ".join(format_key_field(et, ev)
                                             for et, ev in _tuple_items(t, v)) + ")",
}


def key_field_types(key_type: SizedType | None) -> tuple[SizedType, ...]:
    """The types of the fields of a map key: () keyless, the elements of a multi-key."""
    if key_type is None:
        return ()
    if key_type.kind == Kind.TUPLE:
        return key_type.elems
    return (key_type,)


def format_key_field(t: SizedType, value: Any) -> str:
    formatter = _KEY_FORMATTERS.get(t.kind)
    if formatter is None:
        if isinstance(value, Stack):
            return format_stack(value, KEY_INDENT)
        return as_text(value)
    return formatter(t, value)


def key_fields_text(key_type: SizedType | None, key: tuple) -> list[str]:
    """Each key field's text, in order (what 0.17 calls argument_value_list)."""
    return [format_key_field(t, v) for t, v in zip(key_field_types(key_type), key)]


def format_key(name: str, key_type: SizedType | None, key: tuple) -> str:
    """`@name` or `@name[1, a]`."""
    fields = key_fields_text(key_type, key)
    return f"{name}[{', '.join(fields)}]" if fields else name


# ------------------------------------------------ formatters built once per map (big maps)

def _c_int_text(bits: int, signed: bool) -> Callable[[Any], str]:
    mask, top = (1 << bits) - 1, 1 << (bits - 1)

    def text(v: Any) -> str:
        v = int(v) & mask
        return str(v - (mask + 1) if signed and v >= top else v)
    return text


def key_formatter(name: str, key_type: SizedType | None) -> Callable[[tuple], str]:
    """`format_key` specialised to one map's key type: integer and string fields (nearly
    every map) skip the per-field dispatch."""
    fields = key_field_types(key_type)
    if not fields:
        return lambda key: name
    texts = []
    for t in fields:
        if t.kind == Kind.INT:
            texts.append(_c_int_text((t.size or 8) * 8, True))
        elif t.kind == Kind.STRING:
            texts.append(lambda v: v if type(v) is str else as_text(v))
        else:
            texts.append(lambda v, t=t: format_key_field(t, v))
    if len(texts) == 1:
        (one,) = texts
        return lambda key: f"{name}[{one(key[0])}]"
    return lambda key: f"{name}[{', '.join([f(v) for f, v in zip(texts, key)])}]"


_PLAIN_COUNTS = frozenset({Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX})


def value_formatter(t: SizedType, div: int = 0) -> Callable[[Any], str]:
    """`format_value(t, value, div)` specialised to one type."""
    if t.kind in _PLAIN_COUNTS and div in (0, 1):
        return lambda v: str(int(v))
    if t.kind == Kind.INT and t.size in (1, 2, 4, 8) and div in (0, 1):
        return _c_int_text(t.size * 8, t.signed)
    return lambda v: format_value(t, v, div)
