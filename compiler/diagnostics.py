"""Diagnostics: located errors and warnings, printed exactly as bpftrace prints them.

Owns `Diagnostic`, the `Diagnostics` collector that passes append to, and `CompileError`,
the one exception the compiler raises for bad user input.  Format (bpftrace 0.17):

    stdin:1:9-12: ERROR: Unknown function: foo
    BEGIN { foo(1); }
            ~~~

A span over several lines prints `file:L1-L2: ERROR: msg` followed by those lines and no
underline; a diagnostic without a span prints `ERROR: msg`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .source import Source, Span


@dataclass(frozen=True)
class Diagnostic:
    severity: str                   # "ERROR" | "WARNING"
    message: str
    span: Optional[Span] = None

    def render(self, source: Optional[Source]) -> str:
        """bpftrace's text for this diagnostic, ending with a newline."""
        sp = self.span
        if sp is None or sp.line == 0 or source is None:
            return f"{self.severity}: {self.message}\n"
        if sp.end_line != sp.line:
            head = f"{source.name}:{sp.line}-{sp.end_line}: {self.severity}: {self.message}\n"
            body = "".join(source.line_text(n) + "\n" for n in range(sp.line, sp.end_line + 1))
            return head + body
        text = source.line_text(sp.line)
        width = max(1, sp.end_col - sp.col)
        return (f"{source.name}:{sp.line}:{sp.col}-{sp.end_col}: {self.severity}: {self.message}\n"
                f"{text}\n{' ' * (sp.col - 1)}{'~' * width}\n")


@dataclass
class Diagnostics:
    """Collects the diagnostics of one compilation; passes keep going after an error."""
    source: Optional[Source] = None
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: Optional[Span] = None) -> None:
        self.items.append(Diagnostic("ERROR", message, span))

    def warning(self, message: str, span: Optional[Span] = None) -> None:
        self.items.append(Diagnostic("WARNING", message, span))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "ERROR"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def render(self) -> str:
        return "".join(d.render(self.source) for d in self.items)

    def raise_if_errors(self) -> None:
        if not self.ok:
            raise CompileError(self)


class CompileError(Exception):
    """Bad user input: carries the diagnostics; `str()` is bpftrace's text for them."""

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        super().__init__(diagnostics.render())

    @classmethod
    def single(cls, message: str, span: Optional[Span] = None,
               source: Optional[Source] = None) -> "CompileError":
        diags = Diagnostics(source)
        diags.error(message, span)
        return cls(diags)
