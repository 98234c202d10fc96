"""Value types of the experiment file's data keys: ``channels``, ``max-bad``, ``class-names``.

They live in the schema stage so that the experiment file is validated, with located messages,
before any data is read; the data stage parses the same text with the same functions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_COUNT = re.compile(r"\d+")
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*%")


@dataclass(frozen=True)
class BadLimit:
    """How many undecodable images a pack may leave out before it stops: a count of images
    (``max-bad = 5``) or a percentage of the images listed (``max-bad = 1%``)."""

    count: int | None = None
    percent: float | None = None

    def allows(self, bad: int, total: int) -> bool:
        """True when ``bad`` unreadable images among ``total`` are within the limit."""
        if self.count is not None:
            return bad <= self.count
        return bad <= math.floor(self.percent / 100.0 * total + 1e-9)

    def describe(self) -> str:
        """E.g. ``at most 1% of the images`` or ``at most 5 images``."""
        if self.count is not None:
            return f"at most {self.count} image{'s' if self.count != 1 else ''}"
        return f"at most {self.text()} of the images"

    def text(self) -> str:
        """The canonical spelling: ``5`` or ``1%``."""
        if self.count is not None:
            return str(self.count)
        return f"{self.percent:g}%"


def parse_bad_limit(value: object) -> BadLimit:
    """``max-bad``'s value: a whole number of images (``0``, ``5``) or a percentage
    (``1%``, ``0.5%``, up to ``100%``); anything else raises ValueError saying so."""
    if isinstance(value, BadLimit):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a count of images (e.g. 5) or a percentage (e.g. 1%)")
    if isinstance(value, int) and value >= 0:
        return BadLimit(count=value)
    text = str(value).strip()
    if _COUNT.fullmatch(text):
        return BadLimit(count=int(text))
    match = _PERCENT.fullmatch(text)
    if match and float(match.group(1)) <= 100:
        return BadLimit(percent=float(match.group(1)))
    hint = ("; a fraction is written as a percentage, e.g. 1%" if re.fullmatch(r"0?\.\d+", text)
            else "")
    raise ValueError(f"must be a count of images (e.g. 5) or a percentage of at most 100% "
                     f"(e.g. 1%){hint}")


def canonical_bad_limit(value: object) -> str:
    """The experiment key's stored form (``5`` or ``1%``)."""
    return parse_bad_limit(value).text()


def parse_channels(value: object) -> object:
    """``channels``: ``auto`` (from the data), ``1`` or ``3``."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("1", "3"):
        return int(text)
    raise ValueError("must be auto, 1 (grayscale) or 3 (RGB)")


def parse_class_names(value: object) -> tuple[str, ...]:
    """``class-names``: readable names in label order, separated by commas
    (``T-shirt/top, Trouser, …``); empty names and repeated names raise ValueError."""
    if isinstance(value, (list, tuple)):
        names = [str(v).strip() for v in value]
    else:
        names = [part.strip() for part in str(value).split(",")]
    if any(not n for n in names):
        raise ValueError("must be names separated by commas, none of them empty")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"names a class twice ({', '.join(repeated)})")
    return tuple(names)


def canonical_class_names(value: object) -> str | None:
    """The experiment key's stored form: the names joined by ``", "``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return ", ".join(parse_class_names(value))
