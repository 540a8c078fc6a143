"""printf formatting and checks: bpftrace 0.17's captured output, C semantics (checked
against the C library's snprintf) and 0.17's compile-time messages."""
from __future__ import annotations

import ctypes
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from bpftrace_compiler.types import Kind, Simple, SizedType, Str, TupleOf, Int, UInt
from bpftrace_kernel.render.printf import (FormatSpec, check_format, format_buffer,
                                           format_printf, parse_format)
from bpftrace_loader.values import Stack

I64 = Int(64)
BUF = SizedType(Kind.BUFFER, 4)


def fmt(f: str, *args) -> str:
    def typed(a):
        if isinstance(a, tuple):
            return a
        if isinstance(a, str):
            return (Str(len(a) + 1), a)
        if isinstance(a, bytes):
            return (BUF, a)
        return (I64, a)
    return format_printf(f, [typed(a) for a in args])


def test_brief_example_from_bpftrace_017():
    # captured from bpftrace 0.17 on this machine
    assert fmt("%d|%ld|%lld|%x|%lx|%hhd|%hd|%c|%5.2s|", 5000000000, 5000000000, 5000000000,
               5000000000, 5000000000, 300, 70000, 321, "hello") == \
        "705032704|5000000000|5000000000|2a05f200|12a05f200|44|4464|A|   he|"


def test_more_captures_from_bpftrace_017():
    assert fmt("[%p] [%u] [%lu] [%s] [%-8s] [%.3d] [%8.3d]", 4096, -1, -1, "x", "ab", 5, 5) == \
        "[0x1000] [4294967295] [18446744073709551615] [x] [ab      ] [005] [     005]"
    assert fmt("%5.2d|%-08.3x|%.0d|%lld|%hhu|%hx|%llx|%lu", 3, 255, 0, -1, 300, 70000, -1, 7) == \
        "   03|0ff     ||-1|44|1170|ffffffffffffffff|7"
    assert fmt("%u|%hu|%hhu|%zd|%jx|%td", -5, -5, -5, -5, -5, -5) == \
        "4294967291|65531|251|-5|fffffffffffffffb|-5"
    assert fmt("%c|%5c|%-3c|", 0, 65, 66) == "|    A|B  |"    # NUL ends a conversion
    assert fmt("%r|%rx|%rh", b"ab\x01", b"ab", b"ab") == "ab\\x01|\\x61\\x62|61 62"


def test_percent_percent_prints_one_percent():
    # deliberate deviation: 0.17 prints "100%%" for a format with no conversions
    assert fmt("100%%") == "100%"
    assert fmt("%d%%", 5) == "5%"


def test_flags_follow_c():
    assert fmt("[%+d] [% d] [%#x] [%05d] [%-5d] [%#o] [%X] [%i]", 5, 5, 255, 42, 42, 8, 255, -3) == \
        "[+5] [ 5] [0xff] [00042] [42   ] [010] [FF] [-3]"


def test_string_like_values_print_with_s():
    stack = Stack(("f1+1", "f2+2"))
    out = format_printf("%s|%s", [(Simple(Kind.KSTACK), stack), (Simple(Kind.INET), "127.0.0.1")])
    assert out == "\n        f1+1\n        f2+2\n|127.0.0.1"


def test_unknown_conversion_stays_literal():
    assert parse_format("%q %d") == ["%q ", FormatSpec("%d")]
    assert fmt("%q %d", 1) == "%q 1"


_libc = ctypes.CDLL(None)


def c_snprintf(f: str, arg) -> str:
    buf = ctypes.create_string_buffer(512)
    _libc.snprintf(buf, 512, f.encode(), arg)
    return buf.value.decode("latin-1")


_LENGTH_CTYPE = {"": (ctypes.c_int, ctypes.c_uint), "hh": (ctypes.c_int, ctypes.c_uint),
                 "h": (ctypes.c_int, ctypes.c_uint), "l": (ctypes.c_long, ctypes.c_ulong),
                 "ll": (ctypes.c_longlong, ctypes.c_ulonglong)}


@settings(max_examples=400, deadline=None)
@given(flags=st.text("-+ #0", max_size=3), width=st.none() | st.integers(0, 30),
       prec=st.none() | st.integers(0, 25), length=st.sampled_from(["", "hh", "h", "l", "ll"]),
       conv=st.sampled_from(list("diuoxX")), value=st.integers(-2**63, 2**64 - 1))
def test_integer_conversions_match_c(flags, width, prec, length, conv, value):
    spec = "%" + flags + ("" if width is None else str(width)) + \
        ("" if prec is None else f".{prec}") + length + conv
    signed_t, unsigned_t = _LENGTH_CTYPE[length]
    # C's default argument promotions: hh/h values are passed as int and narrowed by printf
    c_arg = (signed_t if conv in "di" else unsigned_t)(value)
    assert fmt(spec, value) == c_snprintf(spec, c_arg)


@settings(max_examples=200, deadline=None)
@given(flags=st.text("-0", max_size=2), width=st.none() | st.integers(0, 20),
       prec=st.none() | st.integers(0, 10), text=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=15))
def test_string_conversion_matches_c(flags, width, prec, text):
    spec = "%" + flags + ("" if width is None else str(width)) + \
        ("" if prec is None else f".{prec}") + "s"
    assert fmt(spec, text) == c_snprintf(spec, text.encode())


@settings(max_examples=100, deadline=None)
@given(flags=st.text("-+ 0", max_size=2), width=st.none() | st.integers(0, 24),
       value=st.integers(0, 2**64 - 1))
def test_pointer_conversion_matches_c(flags, width, value):
    spec = "%" + flags + ("" if width is None else str(width)) + "p"
    assert fmt(spec, value) == c_snprintf(spec, ctypes.c_void_p(value))


def test_format_buffer_modes():
    assert format_buffer(b"a\x00~\x7f") == "a\\x00~\\x7f"
    assert format_buffer(b"a\x00", keep_ascii=False) == "\\x61\\x00"
    assert format_buffer(b"a\x00\xff", keep_ascii=False, escape_hex=False) == "61 00 ff"


# ---------------------------------------------------------------------------- checks

@pytest.mark.parametrize("f, types, message", [
    ("%d %d %d\n", [I64, I64], "printf: Not enough arguments for format string (2 supplied, 3 expected)"),
    ("%d\n", [I64, I64], "printf: Too many arguments for format string (2 supplied, 1 expected)"),
    ("%d\n", [Str(2)], "printf: %d specifier expects a value of type integer (string supplied)"),
    ("%s\n", [I64], "printf: %s specifier expects a value of type string (integer supplied)"),
    ("%-5lld\n", [Str(2)], "printf: %lld specifier expects a value of type integer (string supplied)"),
    ("%d\n", [Simple(Kind.COUNT)], "printf: %d specifier expects a value of type integer (count supplied)"),
    ("%d\n", [TupleOf([I64, I64])], "printf: %d specifier expects a value of type integer (tuple supplied)"),
    ("%r\n", [I64], "printf: %r specifier expects a value of type buffer (integer supplied)"),
])
def test_check_format_messages_match_017(f, types, message):
    assert check_format(f, types) == [message]


def test_check_format_accepts_string_likes_pointers_and_buffers():
    from bpftrace_compiler.types import Pointer
    types = [Simple(k) for k in (Kind.KSYM, Kind.USYM, Kind.PROBE, Kind.USERNAME, Kind.KSTACK,
                                  Kind.USTACK, Kind.INET, Kind.TIMESTAMP, Kind.STRERROR)]
    assert check_format("%s" * len(types), types) == []
    assert check_format("%x %p %c", [Pointer(I64), Pointer(I64), UInt(8)]) == []
    assert check_format("%r %rx %rh", [BUF, BUF, BUF]) == []


def test_huge_width_is_refused():
    assert check_format("%999999999d", [I64]) == [
        "printf: field width 999999999 in %999999999d is too large (the maximum is 65535)"]
    assert check_format("%.70000s", [Str(4)])[0].startswith("printf: field precision 70000")
    assert check_format("%65535d", [I64]) == []


# ---------------------------------------------------------------------------- live

_LIVE = [  # (format, args as bpftrace source, our args) using only what 0.17 accepts
    ("%d|%ld|%5d|%-5d|%05d|%.3d", "-7, -7, 42, 42, 42, 5", [-7, -7, 42, 42, 42, 5]),
    ("%u|%lu|%hu|%hhu|%x|%X|%lx|%o|%lo", "-1, -1, -1, -1, 255, 255, -1, 8, -1",
     [-1, -1, -1, -1, 255, 255, -1, 8, -1]),
    ("%s|%10s|%-10s|%.2s", '"abc", "abc", "abc", "abc"', ["abc", "abc", "abc", "abc"]),
    ("%c%c|%p|%p", "72, 105, 0, 65536", [72, 105, 0, 65536]),
    ("%hhd|%hd|%lld|%zu|%jd", "200, 40000, 5000000000, 12, -12", [200, 40000, 5000000000, 12, -12]),
]


@pytest.mark.bpftrace
@pytest.mark.root
def test_printf_matches_live_bpftrace():
    body = " ".join(f'printf("{f}\\n", {src});' for f, src, _ in _LIVE)
    proc = subprocess.run(["bpftrace", "-e", f"BEGIN {{ {body} exit(); }}"],
                          capture_output=True, timeout=30)
    lines = proc.stdout.decode().splitlines()[1:1 + len(_LIVE)]
    assert lines == [fmt(f, *args) for f, _, args in _LIVE]


def test_check_format_names_the_calling_function():
    # 0.17: "system: Not enough arguments ...", "cat: %s specifier expects ..."
    assert check_format("echo %d %d", [I64], "system") == [
        "system: Not enough arguments for format string (1 supplied, 2 expected)"]
    assert check_format("/tmp/%s", [I64], "cat") == [
        "cat: %s specifier expects a value of type string (integer supplied)"]
    assert check_format("%s", [BUF]) == [
        "printf: %s specifier expects a value of type string (buffer supplied)"]


def test_string_stops_at_nul():
    assert fmt("[%s]", "ab\0cd") == "[ab]"
    assert format_printf("[%s]", [(Str(8), b"ab\0cd\0\0\0")]) == "[ab]"
