"""Diagnostics: located messages, and the one exception every stage raises.

Every message netdef prints about a user's file has the form
``path:line:col: error: layer 'x': 'key' ...expected... (got ...)`` (docs/language-guide.md
"Diagnostics").
A stage collects its diagnostics with a :class:`Collector` and raises once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "note"]
_SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}


@dataclass(frozen=True, order=True)
class Span:
    """A position in a file: 1-based line and column; 0 for none (an error about the whole
    file, or a line, is located by its path, or path and line, alone: no made-up ``:1:1``)."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line < 1:
            return self.path
        return f"{self.path}:{self.line}" + (f":{self.col}" if self.col >= 1 else "")


@dataclass(frozen=True)
class Diagnostic:
    """One located message: an error, a warning or a note."""

    span: Span | None
    message: str
    severity: Severity = "error"
    # what a caller may act on without reading the words (e.g. OUTPUTS_BEYOND_CLASSES)
    code: str | None = field(default=None, compare=False)
    # a warning's words saying what happens next ("the last value wins"): under --strict the
    # warning is an error and those words become "refused under --strict"
    outcome: str | None = field(default=None, compare=False)

    def format(self) -> str:
        """``path:line:col: severity: message`` (no location when unknown)."""
        where = f"{self.span}: " if self.span is not None else ""
        return f"{where}{self.severity}: {self.message}"

    def sort_key(self) -> tuple:
        span = self.span or Span("")
        return (span.path, span.line, span.col, _SEVERITY_ORDER[self.severity], self.message)

    def __str__(self) -> str:
        return self.format()


class NetdefError(Exception):
    """Bad input: carries every diagnostic of the stage that failed, sorted by position."""

    def __init__(self, diagnostics: Iterable[Diagnostic] | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(None, diagnostics)]
        self.diagnostics: list[Diagnostic] = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(d.format() for d in self.diagnostics))

    @classmethod
    def at(cls, span: Span | str | os.PathLike | None, message: str) -> NetdefError:
        """One located error; a path locates it at a file as a whole (``PATH: error: …``)."""
        if span is not None and not isinstance(span, Span):
            span = Span(os.fspath(span))
        return cls([Diagnostic(span, message)])

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def _refused(message: str, outcome: str | None) -> str:
    """A warning's message as an error under --strict: its outcome words (the last place they
    occur; "(ignored)" keeps its brackets) replaced by "refused under --strict"."""
    if not outcome or outcome not in message:
        return message
    refused = "(refused under --strict)" if outcome.startswith("(") else "refused under --strict"
    head, _, tail = message.rpartition(outcome)
    return head + refused + tail


class Collector:
    """Gathers a stage's diagnostics; :meth:`raise_if_errors` raises them all at once."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.items: list[Diagnostic] = []

    def add(self, span: Span | None, message: str, severity: Severity = "error",
            code: str | None = None, outcome: str | None = None) -> None:
        if severity == "warning" and self.strict:
            severity, message, outcome = "error", _refused(message, outcome), None
        self.items.append(Diagnostic(span, message, severity, code, outcome))

    def error(self, span: Span | None, message: str) -> None:
        self.add(span, message, "error")

    def warning(self, span: Span | None, message: str, *, outcome: str | None = None) -> None:
        """``outcome``: the words of ``message`` that say what happens next (the last of
        them is replaced by "refused under --strict" when strict makes this an error)."""
        self.add(span, message, "warning", outcome=outcome)

    def note(self, span: Span | None, message: str, code: str | None = None) -> None:
        self.add(span, message, "note", code)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            self.add(d.span, d.message, d.severity, d.code, d.outcome)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)

    def raise_if_errors(self) -> None:
        """Raise one :class:`NetdefError` holding every diagnostic, if any is an error."""
        if self.has_errors:
            raise NetdefError(self.items)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``; did you mean 'x'?`` suffix for the closest choice, or ``''``."""
    import difflib

    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[close[0]]}'?" if close else ""
