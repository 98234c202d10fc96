"""The reader: cuda-convnet's INI dialect to a :class:`Document` that keeps every position.

docs/language-guide.md "File syntax". Python's configparser loses line and column, so this is our
own small, total reader (in the spirit of tomli): any text gives a Document or a NetdefError,
never another exception. It reads as Python 2's ConfigParser (cuda-convnet's reader) did: keys
are case-insensitive; an inline ``;`` after whitespace starts a comment, an inline ``#`` does
not; an indented line continues the previous value; a line whose first word is ``rem`` is a
comment; a key repeated in a section keeps its last value (here with a warning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Collector, Diagnostic, NetdefError, Span

MAX_BYTES = 4 * 1024 * 1024  # real definition files are a few KB; refuse runaway inputs early

_INLINE_COMMENT = re.compile(r"\s;")


@dataclass(frozen=True)
class Entry:
    """One ``key=value``: the key as written, its value (stripped) and both positions."""

    key: str
    value: str
    span: Span
    value_span: Span

    @property
    def name(self) -> str:
        """The case-folded key used for look-ups."""
        return self.key.lower()


@dataclass
class Section:
    """One ``[name]`` block; entries keyed by lower-cased key, in file order."""

    name: str
    span: Span
    entries: dict[str, Entry] = field(default_factory=dict)

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key.lower())


@dataclass
class Document:
    """A parsed file: its sections in file order (duplicates kept), its source lines, and the
    warnings reading it gave (a repeated key), which the schema stage reports with its own."""

    path: str
    sections: list[Section]
    lines: list[str]
    diagnostics: list[Diagnostic] = field(default_factory=list)


def read(path: str | Path) -> Document:
    """Read and parse a file; unreadable, binary or non-UTF-8 input is a located NetdefError."""
    text = read_text(path)
    return parse(text, str(path))


def read_text(path: str | Path) -> str:
    """The file's text, or a NetdefError saying precisely why it cannot be read as a .cfg file."""
    where = Span(str(path))  # the whole file: no line
    try:
        p = Path(path)
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise NetdefError.at(
                where,
                f"file is too large for a definition file "
                f"({size / 2**20:.1f} MiB; at most {MAX_BYTES // 2**20} MiB)",
            )
        data = p.read_bytes()
    except OSError as exc:
        raise NetdefError.at(where, f"cannot read file: {exc.strerror or exc}") from None
    return decode_text(data, str(path))


def decode_text(data: bytes, path: str) -> str:
    """UTF-8 text (a BOM is allowed); a NUL byte or an invalid sequence is located exactly."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        raise NetdefError.at(_byte_span(data, nul, path),
                             "binary data (a NUL byte): this is not a text .cfg file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NetdefError.at(_byte_span(data, exc.start, path),
                             f"invalid UTF-8 (byte 0x{data[exc.start]:02x}): "
                             "save the file as UTF-8 text") from None


def _byte_span(data: bytes, offset: int, path: str) -> Span:
    before = data[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return Span(path, line, col)


def parse(text: str, path: str = "<string>") -> Document:
    """Parse cuda-convnet INI text. Collects every syntax error, then raises once."""
    out = Collector()
    lines = text.splitlines()
    sections: list[Section] = []
    current: Section | None = None
    last: Entry | None = None
    skipping = False  # after a malformed header: its keys are not "before any section"
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;" or _is_rem(raw):
            continue
        indent = len(raw) - len(raw.lstrip())
        if indent and last is not None and current is not None:
            last = _continue(current, last, raw, number, path)
            continue
        last = None
        if stripped.startswith("["):
            current = _section(raw, number, path, out)
            skipping = current is None
            if current is not None:
                sections.append(current)
            continue
        entry = _entry(raw, number, path, out)
        if entry is None or skipping:
            continue
        if current is None:
            out.error(entry.span, f"'{entry.key}' comes before any [section]: "
                                  "every key must belong to a layer section")
            continue
        first = current.entries.pop(entry.name, None)
        if first is not None:  # ConfigParser kept the last value; --strict makes this an error
            who = "[train]" if current.name.lower() == "train" else f"layer '{current.name}'"
            out.warning(entry.span, f"{who}: '{entry.key}' is given twice (lines "
                                    f"{first.span.line} and {entry.span.line}); "
                                    "the last value wins", outcome="the last value wins")
        current.entries[entry.name] = entry
        last = entry
    if not sections and not out.has_errors:
        out.error(Span(path), "no [sections] found: the file is empty or holds only comments")
    out.raise_if_errors()
    return Document(path, sections, lines, out.sorted())


def _is_rem(raw: str) -> bool:
    """Python 2's ConfigParser skipped an unindented line whose first word is ``rem``
    (any case): ``rem a comment``, and also ``rem = 1``."""
    words = raw.split(None, 1)
    return raw[:1] in ("r", "R") and bool(words) and words[0].lower() == "rem"


def _section(raw: str, number: int, path: str, out: Collector) -> Section | None:
    col = raw.index("[") + 1
    span = Span(path, number, col)
    end = raw.find("]", col)
    if end < 0:
        out.error(span, f"unclosed section header: expected ']' (got {raw.strip()!r})")
        return None
    name = raw[col:end].strip()
    rest = _strip_comment(raw[end + 1:]).strip()
    if rest:
        out.error(
            Span(path, number, end + 2), f"unexpected text after section header (got {rest!r})"
        )
    if not name:
        out.error(span, "empty section name '[]': every layer needs a name")
        return None
    bad = [c for c in name if c in "[],;=:" or c.isspace()]
    if bad:
        out.error(Span(path, number, col + 1),
                  f"layer name {name!r} may not contain {bad[0]!r}")
        return None
    return Section(
        name, Span(path, number, col + 1 + (len(raw[col:end]) - len(raw[col:end].lstrip())))
    )


def _entry(raw: str, number: int, path: str, out: Collector) -> Entry | None:
    positions = [i for i in (raw.find("="), raw.find(":")) if i >= 0]
    key_col = len(raw) - len(raw.lstrip()) + 1
    if not positions:
        out.error(Span(path, number, key_col),
                  f"expected 'key=value' or a [section] header (got {raw.strip()!r})")
        return None
    cut = min(positions)
    key = raw[:cut].strip()
    if not key:
        out.error(
            Span(path, number, key_col), f"missing key before {raw[cut]!r} (got {raw.strip()!r})"
        )
        return None
    if any(c.isspace() for c in key):
        out.error(Span(path, number, key_col), f"a key may not contain spaces (got {key!r})")
        return None
    value_raw = _strip_comment(raw[cut + 1:])
    value = value_raw.strip()
    value_col = cut + 2 + (len(value_raw) - len(value_raw.lstrip()))
    return Entry(key, value, Span(path, number, key_col), Span(path, number, value_col))


def _continue(section: Section, last: Entry, raw: str, number: int, path: str) -> Entry:
    more = _strip_comment(raw).strip()
    joined = f"{last.value} {more}".strip() if last.value else more
    entry = Entry(last.key, joined, last.span, last.value_span)
    section.entries[last.name] = entry
    return entry


def _strip_comment(text: str) -> str:
    """Drop an inline ``;`` comment (one preceded by whitespace); ``#`` is never inline."""
    m = _INLINE_COMMENT.search(text)
    return text[: m.start()] if m else text


def split_list(text: str) -> list[str]:
    """Split a comma list at bracket depth 0 (``dexp[a=1;b=2],0.1``, ``tanh[1,2]`` stay whole)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return items
