"""Events decoded from the ring buffer, handed by the session to whoever drives it.

Owns one small dataclass per async action kind.  The session decodes raw records into these
using the `ActionSpec`s of the compiled program; formatting and printing are the renderers'
job (bpftrace_kernel.render), never done here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from bpftrace_compiler.artifact import ActionSpec
from .values import MapSnapshot


@dataclass(frozen=True)
class Printf:
    action: ActionSpec
    args: tuple                      # decoded values, one per ActionSpec.args


@dataclass(frozen=True)
class System:
    action: ActionSpec
    args: tuple                      # the command is printf(action.fmt, args)


@dataclass(frozen=True)
class Cat:
    action: ActionSpec
    args: tuple                      # the file name is printf(action.fmt, args)


@dataclass(frozen=True)
class Time:
    action: ActionSpec               # strftime format in action.fmt; rendered at receipt


@dataclass(frozen=True)
class Join:
    action: ActionSpec
    parts: tuple[str, ...]


@dataclass(frozen=True)
class PrintValue:
    action: ActionSpec
    value: Any                       # decoded per action.args[0]


@dataclass(frozen=True)
class PrintMap:
    snapshot: MapSnapshot
    top: int = 0
    div: int = 0


@dataclass(frozen=True)
class Exit:
    code: int = 0


@dataclass(frozen=True)
class Lost:
    count: int


Event = Printf | System | Cat | Time | Join | PrintValue | PrintMap | Exit | Lost
