"""Readable class names: ``labels.txt`` beside the data, or the experiment's ``class-names``.

``labels.txt`` holds one class per line, ``<class> <readable name>``: the class folder's name
for image folders (``n01440764 tench, Tinca tinca``), the label number for IDX and CIFAR data
(``0 T-shirt/top``). Blank lines and lines starting with ``#`` are skipped; classes the file
does not mention keep their folder name (or number). A list of bare names, one per line, is
refused: which name belongs to which class would be a guess.
"""

from __future__ import annotations

import os

from ..errors import Collector, NetdefError, Span, did_you_mean

LABELS_FILE = "labels.txt"
SHOWN_ERRORS = 8          # per-line errors listed before the rest are counted


def read_lines(path: str) -> list[str]:
    """The file's lines (UTF-8, a byte-order mark and bad bytes tolerated); NetdefError when
    it cannot be read."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return f.read().splitlines()
    except OSError as exc:
        raise NetdefError.at(path, f"cannot read ({exc.strerror or exc})") from None


def read_labels_file(path: str, classes: list[str], what: str = "class folder") -> list[str]:
    """Readable names for ``classes`` from the labels file at ``path`` (names in class order);
    every malformed line raises, together, one NetdefError located at its line."""
    out, names, first_line = Collector(), {}, {}
    known = set(classes)
    entries = [(n, raw) for n, raw in enumerate(read_lines(path), start=1)
               if raw.strip() and not raw.strip().startswith("#")]
    problems = 0
    for lineno, raw in entries:
        words = raw.strip().split(None, 1)
        message = _line_problem(words, known, first_line, classes, what)
        if message is None:
            names[words[0]] = words[1].strip()
            first_line[words[0]] = lineno
            continue
        problems += 1
        if problems <= SHOWN_ERRORS:
            out.error(Span(path, lineno, len(raw) - len(raw.lstrip()) + 1), message)
    if problems > SHOWN_ERRORS:
        out.error(None, f"{path}: … and {problems - SHOWN_ERRORS} more lines like these")
    if problems and not any(raw.split(None, 1)[0] in known for _, raw in entries):
        out.error(None, f"{path}: this looks like one readable name per line; write "
                        f"'<{what}> <readable name>' on each line instead (e.g. "
                        f"'{classes[0]} {entries[0][1].strip()}'), so that no name is matched "
                        f"to a class by guessing")
    out.raise_if_errors()
    return [names.get(c, c) for c in classes]


def _line_problem(words: list[str], known: set[str], first_line: dict[str, int],
                  classes: list[str], what: str) -> str | None:
    """Why a ``<class> <name>`` line is wrong, or None."""
    if len(words) < 2:
        return (f"expected '<{what}> <readable name>' (got {words[0]!r} alone)")
    if words[0] not in known:
        hint = did_you_mean(words[0], classes) or f" (the {what}s: {_few(classes)})"
        return f"{words[0]!r} is not a {what} of the data{hint}"
    if words[0] in first_line:
        return f"{what} {words[0]!r} is named twice (first on line {first_line[words[0]]})"
    return None


def _few(names: list[str], n: int = 6) -> str:
    shown = ", ".join(names[:n])
    return shown + (f", … {len(names) - n} more" if len(names) > n else "")


def class_names(root: str, classes: list[str], given: tuple[str, ...] | None,
                what: str = "class folder", labels_path: str | None = None) -> list[str]:
    """Names for ``classes`` (folder names or label numbers, in label order): the experiment's
    ``class-names`` when given (one per class, in order), else ``labels.txt`` in ``root``
    (or ``labels_path``), else the classes themselves."""
    if given is not None:
        if len(given) != len(classes):
            raise NetdefError(f"data: 'class-names' gives {len(given)} names but {root} has "
                              f"{len(classes)} classes ({_few(classes)})")
        return list(given)
    path = labels_path or os.path.join(root, LABELS_FILE)
    if not os.path.isfile(path):
        return list(classes)
    return read_labels_file(path, classes, what)
