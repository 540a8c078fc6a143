"""Attach point parsing: `provider:a:b` text -> `ast.AttachPoint` with bpftrace's field split.

Owns the provider registry (canonical names, aliases, how each splits its fields and which
parts are numbers) and bpftrace's attach point errors ("tracepoint probe type requires 2
arguments", "Offset not allowed", ...).  Text with an unsubstituted `$N` keeps that field
as text and skips the numeric checks; the semantic pass substitutes and calls
`parse_attach_point` again.  Imports only our ast/diagnostics/source modules.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from . import ast
from .diagnostics import CompileError
from .source import Span

ALIASES = {
    "t": "tracepoint", "k": "kprobe", "kr": "kretprobe", "u": "uprobe", "ur": "uretprobe",
    "U": "usdt", "p": "profile", "i": "interval", "s": "software", "h": "hardware",
    "f": "kfunc", "fentry": "kfunc", "fr": "kretfunc", "fexit": "kretfunc",
    "rt": "rawtracepoint", "it": "iter", "w": "watchpoint", "aw": "asyncwatchpoint",
    "begin": "BEGIN", "end": "END",
}

TIME_UNITS = ("s", "ms", "us", "hz")


class AttachPointError(Exception):
    """Raised by the per-provider splitters; becomes a located CompileError."""


@dataclass(frozen=True)
class Provider:
    name: str
    arity: tuple[int, ...]          # accepted numbers of fields after the provider
    arity_text: str                 # bpftrace's wording: "requires 2 arguments", ...
    split: Callable[[ast.AttachPoint, list[str]], None]


def _has_param(text: str) -> bool:
    return "$" in text


def _number(text: str, what: str) -> int | None:
    """An integer field (decimal or 0x hex); None while it still holds a `$N`."""
    if _has_param(text):
        return None
    try:
        return int(text, 0) if re.fullmatch(r"0[xX][0-9a-fA-F]+|[0-9]+", text) else int("x")
    except ValueError:
        raise AttachPointError(f"Invalid {what}: {text}") from None


def _split_offset(ap: ast.AttachPoint, func: str, allow: bool) -> None:
    """`func+16` -> func, offset 16; a bare number is an address."""
    name, plus, rest = func.partition("+")
    if plus:
        if not allow:
            raise AttachPointError("Offset not allowed")
        if "+" in rest:
            raise AttachPointError("Cannot take more than one offset")
        ap.offset = _number(rest, "offset")
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|[0-9]+", name):
        ap.address = int(name, 0)
    else:
        ap.func = name


def _special(ap, fields):
    pass


def _kprobe(ap, fields):
    if len(fields) == 2:
        ap.target = fields[0]
    _split_offset(ap, fields[-1], allow=ap.provider == "kprobe")


def _uprobe(ap, fields):
    if len(fields) == 2:
        ap.target = fields[0]
    if not fields[-1]:
        raise AttachPointError(f"{ap.provider} should be attached to a function and/or address")
    _split_offset(ap, fields[-1], allow=True)


def _usdt(ap, fields):
    ap.target = fields[0] if len(fields) >= 2 else ""
    ap.ns = fields[1] if len(fields) == 3 else ""
    ap.func = fields[-1]


def _tracepoint(ap, fields):
    ap.target, ap.func = fields


def _rawtracepoint(ap, fields):
    if len(fields) == 2:
        ap.target = fields[0]
    ap.func = fields[-1]


def _timed(ap, fields):
    """interval/profile: `unit:rate` (units s ms us hz)."""
    unit, rate = fields
    if unit not in TIME_UNITS and not _has_param(unit):
        raise AttachPointError(f"{ap.provider} unit must be one of s, ms, us, hz; got '{unit}'")
    ap.target, ap.func = unit, rate
    ap.freq = _number(rate, f"{ap.provider} rate")
    if ap.freq == 0:
        raise AttachPointError(f"{ap.provider} rate must be greater than 0")


def _perf_event(ap, fields):
    """software/hardware: `event[:count]`."""
    ap.target = fields[0]
    if len(fields) == 2:
        ap.func = fields[1]
        ap.freq = _number(fields[1], f"{ap.provider} count")


def _kfunc(ap, fields):
    if len(fields) == 2:
        ap.target = fields[0]
    ap.func = fields[-1]


def _watchpoint(ap, fields):
    addr, length, mode = fields
    ap.target, ap.func = addr, mode
    if not _has_param(addr) and not addr.startswith(tuple("0123456789")):
        ap.func = addr      # 0.17's `func+argN` form: resolved by the semantic pass
    else:
        ap.address = _number(addr, "watchpoint address")
    ap.freq = _number(length, "watchpoint length")
    if not re.fullmatch(r"[rwx]+", mode) and not _has_param(mode):
        raise AttachPointError(f"Invalid watchpoint mode: {mode}")


def _iter(ap, fields):
    ap.func = fields[0]
    if len(fields) == 2:
        ap.target = fields[1]       # pin path


PROVIDERS: dict[str, Provider] = {p.name: p for p in [
    Provider("BEGIN", (0,), "requires 0 arguments", _special),
    Provider("END", (0,), "requires 0 arguments", _special),
    Provider("kprobe", (1, 2), "requires 1 or 2 arguments", _kprobe),
    Provider("kretprobe", (1, 2), "requires 1 or 2 arguments", _kprobe),
    Provider("uprobe", (2,), "requires 2 arguments", _uprobe),
    Provider("uretprobe", (2,), "requires 2 arguments", _uprobe),
    Provider("usdt", (1, 2, 3), "requires 2 or 3 arguments", _usdt),
    Provider("tracepoint", (2,), "requires 2 arguments", _tracepoint),
    Provider("rawtracepoint", (1, 2), "requires 1 or 2 arguments", _rawtracepoint),
    Provider("profile", (2,), "requires 2 arguments", _timed),
    Provider("interval", (2,), "requires 2 arguments", _timed),
    Provider("software", (1, 2), "requires 1 or 2 arguments", _perf_event),
    Provider("hardware", (1, 2), "requires 1 or 2 arguments", _perf_event),
    Provider("kfunc", (1, 2), "requires 1 or 2 arguments", _kfunc),
    Provider("kretfunc", (1, 2), "requires 1 or 2 arguments", _kfunc),
    Provider("watchpoint", (3,), "requires 3 arguments", _watchpoint),
    Provider("asyncwatchpoint", (3,), "requires 3 arguments", _watchpoint),
    Provider("iter", (1, 2), "takes 2 arguments (1 optional)", _iter),
]}


def canonical_provider(name: str) -> str | None:
    """`t` -> `tracepoint`; None for an unknown provider."""
    name = ALIASES.get(name, name)
    return name if name in PROVIDERS else None


def split_fields(raw: str) -> list[str]:
    """Split on `:` outside double quotes; quotes are removed from quoted parts."""
    parts, cur, i, quoted = [], [], 0, False
    while i < len(raw):
        ch = raw[i]
        if ch == '"':
            quoted = not quoted
        elif ch == "\\" and quoted and i + 1 < len(raw):
            i += 1
            cur.append(raw[i])
        elif ch == ":" and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def parse_attach_point(raw: str, span: Span = ast.NO_SPAN) -> ast.AttachPoint:
    """Parse one attach point; raises CompileError (located at `span`) when invalid."""
    fields = split_fields(raw)
    provider = canonical_provider(fields[0])
    if provider is None:
        raise CompileError.single(f"Invalid probe type: {fields[0]}", span)
    spec = PROVIDERS[provider]
    ap = ast.AttachPoint(raw=raw, provider=provider, span=span)
    args = fields[1:]
    if len(args) not in spec.arity:
        raise CompileError.single(f"{provider} probe type {spec.arity_text}", span)
    try:
        spec.split(ap, args)
    except AttachPointError as err:
        raise CompileError.single(str(err), span) from None
    return ap


def format_attach_point(ap: ast.AttachPoint) -> str:
    """The canonical text bpftrace prints for an attach point (`k:f` -> `kprobe:f`)."""
    raw_fields = split_fields(ap.raw)
    fields = [ap.provider] + raw_fields[1:]
    if ap.provider in ("uprobe", "uretprobe", "kprobe", "kretprobe") and ap.address is not None:
        fields[-1] = str(ap.address) + (f"+{ap.offset}" if ap.offset is not None else "")
    return ":".join(fields)
