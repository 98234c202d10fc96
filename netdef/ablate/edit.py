"""Line edits of a parsed definition or params file that keep everything else as written.

A variant of the user's net is their file with a few keys changed and a few sections removed;
comments, order, spacing and every untouched line stay, so the variant's diff against the
original shows exactly what the transformation did. Positions come from :mod:`netdef.syntax`
(each entry keeps its line and the column of its value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..syntax import Document, Entry, parse

_INLINE_COMMENT = re.compile(r"\s;")  # cuda-convnet's inline comment (netdef.syntax)


@dataclass
class TextEditor:
    """Edits of one :class:`Document`; :meth:`text` gives the edited file."""

    doc: Document
    lines: list[str | None] = field(init=False)      # None: the line is removed
    inserted: dict[int, list[str]] = field(init=False, default_factory=dict)  # after line n
    edited: dict[tuple[str, str], str] = field(init=False, default_factory=dict)  # new values

    def __post_init__(self) -> None:
        self.lines = list(self.doc.lines)
        # Every header, the [train] section of a one-file experiment included: a section runs
        # from its header to the next one.
        self.headers = sorted(s.span.line for s in parse("\n".join(self.doc.lines),
                                                         self.doc.path).sections)

    def sections(self, name: str):
        """Every section called ``name`` (a params file may repeat one)."""
        return [s for s in self.doc.sections if s.name == name]

    def get(self, name: str, key: str) -> Entry | None:
        """The entry of ``key`` in the (last) section ``name``, as the reader kept it."""
        found = None
        for s in self.sections(name):
            found = s.get(key) or found
        return found

    def value(self, name: str, key: str) -> str | None:
        """The value of ``key`` in section ``name`` with this editor's changes applied."""
        if (name, key.lower()) in self.edited:
            return self.edited[(name, key.lower())]
        entry = self.get(name, key)
        return entry.value if entry is not None else None

    def set(self, name: str, key: str, value: str) -> None:
        """``key=value`` in every section ``name`` that has the key, else added to the last."""
        sections = self.sections(name)
        if not sections:
            return
        self.edited[(name, key.lower())] = value
        holders = [s for s in sections if s.get(key) is not None]
        for s in holders:
            self._replace(s.get(key), value)
        if not holders:
            added = self.inserted.setdefault(self._content_end(sections[-1].span.line), [])
            added[:] = [t for t in added if not t.lower().startswith(f"{key.lower()}=")]
            added.append(f"{key}={value}")

    def remove_section(self, name: str) -> None:
        """The header, its keys and comments inside it, and the comment block right above it."""
        for line in [h for h in self.headers if self._name_at(h) == name]:
            end = self._content_end(line)
            start = line
            while start > 1 and _is_comment(self.doc.lines[start - 2]):
                start -= 1
            for n in range(start, end + 1):
                self.lines[n - 1] = None
            self.inserted.pop(end, None)
            self._one_blank(start - 2, end)

    def _one_blank(self, before: int, after: int) -> None:
        """Where a removed block leaves blank lines on both sides (or one at the end of the
        file), drop one: neighbours keep one blank line between them, not two."""
        def blank(i: int) -> bool:
            return 0 <= i < len(self.lines) and self.lines[i] is not None \
                and not self.lines[i].strip()

        if blank(after) and (before < 0 or self.lines[before] is None or blank(before)):
            self.lines[after] = None
        elif after >= len(self.lines) and blank(before):
            self.lines[before] = None

    def text(self) -> str:
        out: list[str] = []
        for n, line in enumerate(self.lines, start=1):
            if line is not None:
                out.append(line)
            out.extend(self.inserted.get(n, ()))
        return "\n".join(out) + "\n"

    def _name_at(self, line: int) -> str:
        raw = self.doc.lines[line - 1]
        return raw[raw.index("[") + 1: raw.index("]")].strip()

    def _replace(self, entry: Entry, value: str) -> None:
        n = entry.span.line
        raw = self.doc.lines[n - 1]
        head, tail = raw[: entry.value_span.col - 1], raw[entry.value_span.col - 1:]
        comment = _INLINE_COMMENT.search(tail)
        self.lines[n - 1] = head + value + (tail[comment.start():] if comment else "")
        for c in self._continuations(n):
            self.lines[c - 1] = None

    def _continuations(self, line: int) -> list[int]:
        """Indented lines after ``line`` that continue its value (netdef.syntax's rule)."""
        out = []
        for n in range(line + 1, len(self.doc.lines) + 1):
            raw = self.doc.lines[n - 1]
            if not raw.strip() or _is_comment(raw):
                continue
            if raw[0] in " \t":
                out.append(n)
                continue
            break
        return out

    def _content_end(self, header: int) -> int:
        """The last line of the section that holds a key or a continuation."""
        later = [h for h in self.headers if h > header]
        stop = later[0] if later else len(self.doc.lines) + 1
        end = header
        for n in range(header + 1, stop):
            raw = self.doc.lines[n - 1]
            if raw.strip() and not _is_comment(raw):
                end = n
        return end


def _is_comment(raw: str | None) -> bool:
    stripped = (raw or "").strip()
    return bool(stripped) and stripped[0] in "#;"
