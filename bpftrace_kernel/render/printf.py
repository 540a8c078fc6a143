"""bpftrace 0.17's printf: format-string parsing, argument checks and C-semantics formatting.

Owns `parse_format` (text and conversion specs), `check_format` (0.17's printf error
messages, reused by the semantic pass), `format_printf` (the text a printf/system/cat event
prints) and `format_buffer` (the `%r`/`%rx`/`%rh` and buf() encodings).  Formatting
follows C: length modifiers pick the integer width (`%d` without a modifier prints the low
32 bits, as glibc's snprintf does with bpftrace's 64-bit argument), flags `-+ #0`, width
and precision.  Deliberate deviations from 0.17 are listed in docs/deviations.md.
Pure stdlib + the compiler's types contract; no kernel or Jupyter imports.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from bpftrace_compiler.types import Kind, SizedType

# Width and precision are capped: bpftrace 0.17 builds a 1 GB line for `%999999999d`.
MAX_FIELD = 65535

_SPEC_RE = re.compile(
    r"%(?P<flags>[-+ #0]*)(?P<width>\d+)?(?:\.(?P<prec>\d*))?"
    r"(?P<length>hh|h|ll|l|j|z|t)?(?P<conv>rx|rh|r|[diuoxXcsp])"
    r"|%%")


@dataclass(frozen=True)
class FormatSpec:
    """One conversion, e.g. `%-08.3lx`: flags "-0", width 8, precision 3, length "l", conv "x"."""
    text: str
    flags: str = ""
    width: int = 0
    precision: int | None = None
    length: str = ""
    conv: str = "d"

    @property
    def token(self) -> str:
        """0.17's name for the specifier in messages: length modifier + conversion (`lld`)."""
        return self.length + self.conv


Segment = Union[str, FormatSpec]


def parse_format(fmt: str) -> list[Segment]:
    """Split a format string into literal text (str, `%%` already folded to `%`) and specs.
    A `%` that starts no known conversion stays literal text, as in bpftrace."""
    out: list[Segment] = []
    pos = 0
    for m in _SPEC_RE.finditer(fmt):
        _append_text(out, fmt[pos:m.start()])
        pos = m.end()
        if m.group(0) == "%%":
            _append_text(out, "%")
            continue
        prec = m.group("prec")
        out.append(FormatSpec(
            text=m.group(0), flags=m.group("flags"), width=int(m.group("width") or 0),
            precision=None if prec is None else int(prec or 0),
            length=m.group("length") or "", conv=m.group("conv")))
    _append_text(out, fmt[pos:])
    return out


@functools.lru_cache(maxsize=1024)
def _parsed(fmt: str) -> tuple[Segment, ...]:
    """parse_format() once per format string (a printf flood repeats a few formats)."""
    return tuple(parse_format(fmt))


def _append_text(out: list[Segment], text: str) -> None:
    if not text:
        return
    if out and isinstance(out[-1], str):
        out[-1] += text
    else:
        out.append(text)


def format_specs(fmt: str) -> list[FormatSpec]:
    return [s for s in parse_format(fmt) if isinstance(s, FormatSpec)]


# ---------------------------------------------------------------------------- checking

# bpftrace 0.17's Type names, as printed in "(string supplied)".
_TYPE_NAMES = {Kind.INT: "integer", Kind.POINTER: "integer", Kind.MACADDR: "mac_address",
               Kind.TIMESTAMP: "timestamp"}

# Types 0.17 prints with %s ("Symbols should be printed as strings").
STRING_LIKE = frozenset({Kind.STRING, Kind.KSYM, Kind.USYM, Kind.PROBE, Kind.USERNAME,
                         Kind.KSTACK, Kind.USTACK, Kind.INET, Kind.TIMESTAMP, Kind.MACADDR,
                         Kind.STRERROR, Kind.CGROUP_PATH})

# Which argument category each conversion expects.
_EXPECTS = {"s": "string", "r": "buffer", "rx": "buffer", "rh": "buffer"}


def _category(t: SizedType) -> str:
    if t.kind in STRING_LIKE:
        return "string"
    return _TYPE_NAMES.get(t.kind, t.kind.value)


def check_format(fmt: str, arg_types: list[SizedType], name: str = "printf") -> list[str]:
    """bpftrace 0.17's messages for a printf-family call, [] when it is fine.  Like 0.17 it
    stops at the first problem.  `name` prefixes the message (printf, system, cat)."""
    specs = format_specs(fmt)
    if len(arg_types) < len(specs):
        return [f"{name}: Not enough arguments for format string "
                f"({len(arg_types)} supplied, {len(specs)} expected)"]
    if len(arg_types) > len(specs):
        return [f"{name}: Too many arguments for format string "
                f"({len(arg_types)} supplied, {len(specs)} expected)"]
    for spec, t in zip(specs, arg_types):
        for what, n in (("width", spec.width), ("precision", spec.precision or 0)):
            if n > MAX_FIELD:
                return [f"{name}: field {what} {n} in {spec.text} is too large "
                        f"(the maximum is {MAX_FIELD})"]
        expected = _EXPECTS.get(spec.conv, "integer")
        supplied = _category(t)
        if expected != supplied:
            return [f"{name}: %{spec.token} specifier expects a value of type {expected} "
                    f"({supplied} supplied)"]
    return []


# ---------------------------------------------------------------------------- formatting

# Integer width in bits selected by the length modifier; no modifier means C `int`.
_INT_WIDTH = {"": 32, "hh": 8, "h": 16, "l": 64, "ll": 64, "j": 64, "z": 64, "t": 64}


def c_int(value: int, bits: int, signed: bool) -> int:
    """`value` converted to a C integer of `bits` bits (two's complement wrap-around)."""
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _pad(spec: FormatSpec, body: str, zero_ok: bool = False, sign_len: int = 0) -> str:
    width = spec.width
    if len(body) >= width:
        return body
    if "-" in spec.flags:
        return body.ljust(width)
    if zero_ok and "0" in spec.flags:
        return body[:sign_len] + "0" * (width - len(body)) + body[sign_len:]
    return body.rjust(width)


_BASE_FORMAT = {"d": "d", "i": "d", "u": "d", "o": "o", "x": "x", "X": "X"}


def _format_int(spec: FormatSpec, value: int) -> str:
    signed = spec.conv in "di"
    v = c_int(int(value), _INT_WIDTH[spec.length], signed)
    digits = "" if v == 0 and spec.precision == 0 else format(abs(v), _BASE_FORMAT[spec.conv])
    if spec.precision is not None:
        digits = digits.rjust(spec.precision, "0")
    prefix = ""
    if v < 0:
        prefix = "-"
    elif signed and "+" in spec.flags:
        prefix = "+"
    elif signed and " " in spec.flags:
        prefix = " "
    if "#" in spec.flags:
        if spec.conv == "o" and not digits.startswith("0"):
            digits = "0" + digits
        elif spec.conv in "xX" and v != 0:
            prefix += "0" + spec.conv
    # C ignores the 0 flag for integers when a precision is given
    return _pad(spec, prefix + digits, zero_ok=spec.precision is None, sign_len=len(prefix))


def _format_pointer(spec: FormatSpec, value: int) -> str:
    v = c_int(int(value), 64, False)
    if v == 0:
        return _pad(spec, "(nil)")
    digits = format(v, "x")
    if spec.precision is not None:
        digits = digits.rjust(spec.precision, "0")
    sign = "+" if "+" in spec.flags else " " if " " in spec.flags else ""
    prefix = sign + "0x"
    return _pad(spec, prefix + digits, zero_ok=spec.precision is None, sign_len=len(prefix))


def _format_char(spec: FormatSpec, value: int) -> str:
    byte = c_int(int(value), 8, False)
    if byte == 0:
        # bpftrace hands snprintf's output on as a C string: a NUL ends the conversion
        return _pad(spec, "\0").split("\0")[0]
    return _pad(spec, _byte_char(byte))


def _byte_char(byte: int) -> str:
    return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)   # surrogateescape for raw bytes


def _format_str(spec: FormatSpec, text: str) -> str:
    if spec.precision is not None:
        text = text[:spec.precision]
    return _pad(spec, text)


def format_buffer(data: bytes, keep_ascii: bool = True, escape_hex: bool = True) -> str:
    """bpftrace's hex_format_buffer: `%r` (printable ASCII kept, others `\\xNN`), `%rx`
    (every byte `\\xNN`) and `%rh` (space-separated hex pairs)."""
    if not keep_ascii and not escape_hex:
        return " ".join(f"{b:02x}" for b in data)
    return "".join(chr(b) if keep_ascii and 32 <= b <= 126 else f"\\x{b:02x}" for b in data)


_BUFFER_MODES = {"r": (True, True), "rx": (False, True), "rh": (False, False)}


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def _format_buffer_spec(spec: FormatSpec, value: Any) -> str:
    return _format_str(spec, format_buffer(_as_bytes(value), *_BUFFER_MODES[spec.conv]))


def _format_string_arg(spec: FormatSpec, t: SizedType, value: Any) -> str:
    from .values import format_value      # values imports printf for buffers
    text = value if isinstance(value, str) else format_value(t, value)
    return _format_str(spec, text.split("\0", 1)[0])    # %s stops at a NUL, as in C


def _int_arg(value: Any) -> int:
    if isinstance(value, bool) or isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value[:8].ljust(8, b"\0"), "little")
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


_Formatter = Callable[[FormatSpec, SizedType, Any], str]

_CONVERSIONS: dict[str, _Formatter] = {
    **{c: (lambda s, t, v: _format_int(s, _int_arg(v))) for c in "diuoxX"},
    "c": lambda s, t, v: _format_char(s, _int_arg(v)),
    "p": lambda s, t, v: _format_pointer(s, _int_arg(v)),
    "s": _format_string_arg,
    **{c: (lambda s, t, v: _format_buffer_spec(s, v)) for c in ("r", "rx", "rh")},
}


def _plain_int(bits: int, signed: bool) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        if type(v) is not int:
            raise TypeError("not a plain int")
        return c_int(v, bits, signed)
    return convert


def _plain_str(v: Any) -> str:
    if type(v) is not str:
        raise TypeError("not a decoded string")
    return v.split("\0", 1)[0]


@functools.lru_cache(maxsize=1024)
def _fast_format(fmt: str) -> Optional[tuple[str, tuple]]:
    """(Python %-format, converters) for a format whose conversions Python's % renders
    exactly like C: integers with at most `-`/`0` flags and a width, bare `%s`.  None for
    anything else (precision, `+ #`, %c %p %r ...): format_printf's general path."""
    parts, converters = [], []
    for seg in _parsed(fmt):
        if isinstance(seg, str):
            parts.append(seg.replace("%", "%%"))
        elif seg.conv in _BASE_FORMAT and seg.precision is None and seg.width <= MAX_FIELD \
                and set(seg.flags) <= {"-", "0"}:
            width = str(seg.width) if seg.width else ""
            parts.append(f"%{''.join(sorted(set(seg.flags)))}{width}{_BASE_FORMAT[seg.conv]}")
            converters.append(_plain_int(_INT_WIDTH[seg.length], seg.conv in "di"))
        elif seg.conv == "s" and not seg.flags and not seg.width and seg.precision is None:
            parts.append("%s")
            converters.append(_plain_str)
        else:
            return None
    return "".join(parts), tuple(converters)


def format_printf(fmt: str, args: list[tuple[SizedType, Any]]) -> str:
    """The text printf(fmt, args...) prints.  `args` are (type, decoded value) pairs, one per
    conversion (checked at compile time; missing ones format as empty, extra are ignored)."""
    fast = _fast_format(fmt)
    if fast is not None and len(args) >= len(fast[1]):
        try:
            return fast[0] % tuple([conv(v) for conv, (_, v) in zip(fast[1], args)])
        except TypeError:
            pass                                  # an unusual value: the general path
    out: list[str] = []
    it = iter(args)
    for seg in _parsed(fmt):
        if isinstance(seg, str):
            out.append(seg)
            continue
        pair = next(it, None)
        if pair is None:
            continue
        t, value = pair
        spec = seg
        if spec.width > MAX_FIELD or (spec.precision or 0) > MAX_FIELD:
            spec = FormatSpec(spec.text, spec.flags, min(spec.width, MAX_FIELD),
                              None if spec.precision is None else min(spec.precision, MAX_FIELD),
                              spec.length, spec.conv)
        out.append(_CONVERSIONS[spec.conv](spec, t, value))
    return "".join(out)
