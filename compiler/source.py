"""Source text and locations.

Owns `Source` (a program's name and text) and `Span` (1-based line and column range, end
column exclusive, as bpftrace prints them).  Pure stdlib.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    line: int
    col: int
    end_line: int
    end_col: int            # exclusive

    def merge(self, other: "Span") -> "Span":
        """The smallest span that covers both."""
        if self.line == 0:
            return other
        if other.line == 0:
            return self
        start = min((self.line, self.col), (other.line, other.col))
        end = max((self.end_line, self.end_col), (other.end_line, other.end_col))
        return Span(start[0], start[1], end[0], end[1])


@dataclass(frozen=True)
class Source:
    name: str               # "stdin" for -e, else the file path as given
    text: str
    # (line, first real column, columns added) where bpftrace 0.17's printed columns run
    # ahead of the text (after `struct NAME` in a cast: see lexer._struct_type_columns)
    column_shifts: tuple[tuple[int, int, int], ...] = ()

    def line_text(self, line: int) -> str:
        lines = self.text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\r")
        return ""

    def text_col(self, line: int, col: int) -> int:
        """The column in the text of printed column `col` on `line`."""
        for s_line, real, added in reversed(self.column_shifts):
            if s_line == line and col - added >= real:
                return col - added
        return col

    def shown_col(self, line: int, col: int) -> int:
        """The printed column of text column `col` on `line`."""
        for s_line, real, added in reversed(self.column_shifts):
            if s_line == line and col >= real:
                return col + added
        return col
