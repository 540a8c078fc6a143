"""Histogram buckets: index -> label and bounds for hist() and lhist(), and 0.17's text rows.

Owns `buckets(t, counts)` (the printed bucket range: first to last non-zero bucket, zero
buckets in between kept) with bpftrace's labels (`[4, 8)`, `[1K, 2K)`, `(..., 0)`,
`[100, ...)`) and inclusive bounds (used by JSON, HTML and plots), and `text_rows`, the
`label count |@@@@ |` lines.  hist params are (bits,) (0 in 0.17; hist(n, k) of later
versions splits each power of two into 2^k buckets); lhist params are (min, max, step).
Pure computation: imports only the compiler's types contract.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Optional

from bpftrace_compiler.types import Kind, SizedType

BAR_WIDTH = 52
_SUFFIXES = ("", "K", "M", "G", "T", "P", "E")


@dataclass(frozen=True)
class Bucket:
    index: int
    label: str               # bpftrace's text label
    low: Optional[int]       # inclusive lower bound, None for "below everything"
    high: Optional[int]      # inclusive upper bound, None for "above everything"
    count: int


# ---------------------------------------------------------------------------- hist

def _pow2_label(power: int) -> str:
    """0.17's hist_index_label: 2^power with K/M/G/T suffixes (T absorbs anything larger)."""
    suffix = min(power // 10, 4)
    return f"{1 << (power - 10 * suffix)}{_SUFFIXES[suffix]}"


def _log2_lower(index: int, bits: int) -> int:
    """Lower bound of hist bucket `index` >= 1 with 2^bits sub-buckets per power of two."""
    j = index - 1
    if j <= (1 << (bits + 1)):
        return j
    sub = 1 << bits
    return (1 << ((j >> bits) - 1)) * (sub + (j & (sub - 1)))


def _scaled_label(value: int, bits: int) -> str:
    """Label of a bound for hist(n, k>0): mantissa * 2^(p mod 10) with a suffix for p div 10."""
    if value < (1 << (bits + 1)):
        return str(value)
    power = value.bit_length() - 1 - bits
    mantissa = value >> power
    return f"{mantissa << (power % 10)}{_SUFFIXES[min(power // 10, 6)]}"


def _hist_bucket(t: SizedType, index: int, count: int) -> Bucket:
    bits = t.params[0] if t.params else 0
    if index == 0:
        return Bucket(0, "(..., 0)", None, -1, count)
    if bits == 0:
        if index <= 2:
            return Bucket(index, f"[{index - 1}]", index - 1, index - 1, count)
        p = index - 2
        return Bucket(index, f"[{_pow2_label(p)}, {_pow2_label(p + 1)})",
                      1 << p, (1 << (p + 1)) - 1, count)
    low, high = _log2_lower(index, bits), _log2_lower(index + 1, bits)
    if high - low == 1:
        return Bucket(index, f"[{low}]", low, low, count)
    return Bucket(index, f"[{_scaled_label(low, bits)}, {_scaled_label(high, bits)})",
                  low, high - 1, count)


# ---------------------------------------------------------------------------- lhist

def _lhist_label(n: int) -> str:
    """0.17's lhist_index_label: 1M/1K multiples get a suffix."""
    if n == 0:
        return "0"
    if n % 1048576 == 0:
        return f"{n // 1048576}M"
    if n % 1024 == 0:
        return f"{n // 1024}K"
    return str(n)


def lhist_inner_buckets(t: SizedType) -> int:
    lo, hi, step = t.params
    return (hi - lo) // step if step else 0


def _lhist_bucket(t: SizedType, index: int, count: int) -> Bucket:
    lo, hi, step = t.params
    if index == 0:
        return Bucket(0, f"(..., {_lhist_label(lo)})", None, lo - 1, count)
    if index == lhist_inner_buckets(t) + 1:
        return Bucket(index, f"[{_lhist_label(hi)}, ...)", hi, None, count)
    a, b = (index - 1) * step + lo, index * step + lo
    return Bucket(index, f"[{_lhist_label(a)}, {_lhist_label(b)})", a, b - 1, count)


_BUCKET_MAKERS: dict[Kind, Callable[[SizedType, int, int], Bucket]] = {
    Kind.HIST: _hist_bucket,
    Kind.LHIST: _lhist_bucket,
}


def buckets(t: SizedType, counts: dict[int, int]) -> list[Bucket]:
    """The buckets bpftrace prints: from the first to the last non-zero one."""
    used = [i for i, c in counts.items() if c]
    if not used:
        return []
    make = _BUCKET_MAKERS[t.kind]
    return [make(t, i, counts.get(i, 0)) for i in range(min(used), max(used) + 1)]


def total(counts: dict[int, int]) -> int:
    return sum(counts.values())


# ---------------------------------------------------------------------------- text

def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def bar_width(count: int, max_count: int) -> int:
    """0.17 computes `count / (float)max * 52` in single precision and truncates."""
    if max_count <= 0:
        return 0
    return int(_f32(_f32(_f32(float(count)) / _f32(float(max_count))) * BAR_WIDTH))


def text_rows(t: SizedType, counts: dict[int, int], div: int = 0) -> str:
    """The histogram lines, each ending in a newline; "" when every bucket is empty.
    hist counts are divided by `div` (the bar keeps the raw count); lhist ignores it."""
    rows = buckets(t, counts)
    if not rows:
        return ""
    max_count = max(b.count for b in rows)
    divisor = div if div > 1 and t.kind == Kind.HIST else 1
    return "".join(
        f"{b.label:<16}{b.count // divisor:>8} |{'@' * bar_width(b.count, max_count):<{BAR_WIDTH}}|\n"
        for b in rows)
