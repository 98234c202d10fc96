"""Rendering for the terminal with rich: the consoles, diagnostics with a caret line, numbers.
(Events of the library are drawn by :mod:`netdef.cli.screen`.)"""

from __future__ import annotations

import math
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..errors import Diagnostic

STYLE = {"error": "bold red", "warning": "bold yellow", "note": "bold cyan"}


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    # Piped output (files, CI logs) gets a wide page so tables are not cut at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@lru_cache(maxsize=32)
def _lines(path: str) -> tuple[str, ...]:
    try:
        data = Path(path).read_bytes()
        if len(data) > 4 * 2**20 or b"\x00" in data:
            return ()
        return tuple(data.decode("utf-8", errors="replace").splitlines())
    except OSError:
        return ()


def source_line(d: Diagnostic) -> str | None:
    """The line a diagnostic points at, for the caret display."""
    if d.span is None or d.span.line < 1:
        return None
    lines = _lines(d.span.path)
    return lines[d.span.line - 1] if d.span.line <= len(lines) else None


def print_diagnostics(
    console: Console, diagnostics: list[Diagnostic], verbose: bool = False
) -> None:
    """One ``path:line:col: severity: message`` per line, then the source line and a caret."""
    for d in diagnostics:
        if d.severity == "note" and not verbose:
            continue
        where = f"{d.span}: " if d.span is not None else ""
        style = STYLE[d.severity]
        console.print(f"{escape(where)}[{style}]{d.severity}:[/] {escape(d.message)}")
        line = source_line(d)
        if line is not None and d.span is not None and len(line) < 300:
            console.print(f"    {escape(line.expandtabs(1))}", style="dim")
            console.print("    " + " " * max(0, d.span.col - 1) + "[bold green]^[/]")


def error_count(diagnostics: list[Diagnostic]) -> str | None:
    """``3 errors in a.cfg`` / ``3 errors: 2 in a.cfg, 1 in a-params.cfg``, each error counted
    in the file it is in; None for a single error (its own line says it all)."""
    errors = [d for d in diagnostics if d.severity == "error"]
    if len(errors) < 2:
        return None
    files = Counter(d.span.path for d in errors if d.span is not None)
    head = f"{len(errors)} errors"
    if len(files) == 1 and sum(files.values()) == len(errors):
        return f"{head} in {next(iter(files))}"
    return f"{head}: " + ", ".join(f"{n} in {path}" for path, n in files.items()) if files else head


def duration(seconds: float | None) -> str:
    """``0:42``, ``12:05``, ``1:02:03``; ``-`` when unknown."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return "-"
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def thousands(n: int) -> str:
    return f"{n:,}"


def counted(n: int, word: str, plural: str | None = None) -> str:
    """``1 epoch``, ``2 epochs``, ``1,024 batches``: the count and its word, singular for 1
    (the plural: ``plural``, else ``word`` + "s")."""
    return f"1 {word}" if n == 1 else f"{n:,} {plural or word + 's'}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"
