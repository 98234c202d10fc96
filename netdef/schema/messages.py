"""How the schema stage words its problems: pydantic's errors as the language states them,
and the hints that name a likely cause (a decimal comma, a near-miss spelling)."""

from __future__ import annotations

import difflib
import re

from pydantic import ValidationError

from ..errors import Collector, did_you_mean
from ..syntax import Section, split_list
from .base import ALIASES, alias_of

_FIELD_OF = {v: k for k, v in ALIASES.items()}  # pydantic names a missing field by its alias
_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d*,\d+(?:[eE][+-]?\d+)?\s*")


def decimal_comma(value: str) -> str:
    """``'; '0,005' looks like a decimal comma: write '0.005''`` for such a value, else ``''``."""
    if _DECIMAL_COMMA.fullmatch(value):
        point = value.strip().replace(",", ".")
        return f"; '{value.strip()}' looks like a decimal comma: write '{point}'"
    return ""


def close_spelling(key: str, spelled: list[str]) -> str:
    """A did-you-mean only for near-misspellings (sizeX -> size), not for unrelated keys."""
    close = difflib.get_close_matches(key, [s.lower() for s in spelled], n=1, cutoff=0.75)
    return did_you_mean(close[0], spelled) if close else ""


def report_validation(exc: ValidationError, name: str, raw: dict, section: Section,
                      skip: set[str], out: Collector) -> None:
    """One located diagnostic per pydantic error; ``skip``: fields already reported (a value
    dropped for another problem must not also be called missing)."""
    for err in exc.errors():
        loc = err["loc"]
        fname = _FIELD_OF.get(loc[0], loc[0]) if loc else None
        if isinstance(fname, str) and fname in skip:
            continue
        entry = raw.get(fname, (None, ""))[0] if isinstance(fname, str) else None
        key = alias_of(fname) if isinstance(fname, str) else "?"
        message = _phrase(err)
        if err["type"] == "missing":
            out.error(section.span, f"layer '{name}': missing required key '{key}'")
        elif entry is not None:
            got = _item(entry.value, loc)
            hint = decimal_comma(entry.value)
            if message.startswith("must "):
                text = f"'{entry.key}' {message} (got {got!r}){hint}"
            else:  # a schedule's or neuron's own sentence, which may quote the value already
                quoted = "(got " in message or got in message
                text = f"'{entry.key}': {message}" + ("" if quoted else f" (got {got!r})") + hint
            out.error(entry.value_span, f"layer '{name}': {text}")
        else:
            out.error(section.span, f"layer '{name}': {message}")


def _item(value: str, loc: tuple) -> str:
    """The offending item of a list value (``loc`` ends in its index), or the whole value."""
    if len(loc) > 1 and isinstance(loc[1], int):
        items = split_list(value)
        if loc[1] < len(items):
            return items[loc[1]]
    return value


def _phrase(err: dict) -> str:
    """pydantic's error as the language states it: 'must be ...'."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    phrases = {
        "greater_than": lambda: f"must be > {ctx.get('gt')}",
        "greater_than_equal": lambda: f"must be >= {ctx.get('ge')}",
        "less_than_equal": lambda: f"must be <= {ctx.get('le')}",
        "less_than": lambda: f"must be < {ctx.get('lt')}",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}",
        "union_tag_invalid": lambda: "is not a known schedule",
    }
    if kind in phrases:
        return phrases[kind]()
    return err["msg"][0].lower() + err["msg"][1:]
