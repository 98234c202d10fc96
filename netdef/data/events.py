"""What the data stage reports while it lists, packs and opens data: plain dataclasses handed to
an ``on_event`` callback (one argument), as the training loop's events are.

The library never prints; the command line renders these. Each event also has a ``text``: one
plain sentence saying what happened, for a caller that renders nothing more specific.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

OnEvent = Callable[[object], None]


def ignore(event: object) -> None:
    """The default callback: drop every event."""


def shown(path: str) -> str:
    """A path as text that any terminal can print: undecodable bytes of a non-UTF-8 file name
    (kept by Python as surrogates) become U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True, kw_only=True)
class PackStarted:
    """Packing begins: ``total`` images from ``source`` into ``dst`` (written under a temporary
    name and renamed when whole)."""

    source: str
    dst: str
    total: int
    image_size: int
    layout: str              # "imagenet", "val.txt", "classes", "idx", "cifar-10", "cifar-100"

    @property
    def text(self) -> str:
        return (f"packing {self.total:,} images of {shown(self.source)} ({self.layout} layout) "
                f"at {self.image_size}×{self.image_size} px into {shown(self.dst)}")


@dataclass(frozen=True, kw_only=True)
class PackProgress:
    """``done`` of ``total`` images decoded (readable and unreadable alike)."""

    done: int
    total: int

    @property
    def text(self) -> str:
        return f"packed {self.done:,} of {self.total:,} images"


@dataclass(frozen=True, kw_only=True)
class PackDone:
    """A pack is whole and in place: its image counts per split and its channel count."""

    dst: str
    train: int
    val: int
    test: int
    skipped: int
    channels: int
    channels_reason: str     # e.g. "every image is grayscale", "set by 'channels = 3'"

    @property
    def text(self) -> str:
        test = f", {self.test:,} test" if self.test else ""
        skipped = f"; {self.skipped:,} unreadable skipped" if self.skipped else ""
        return (f"packed {self.train:,} training, {self.val:,} validation{test} images, "
                f"{self.channels} channel{'s' if self.channels > 1 else ''} "
                f"({self.channels_reason}){skipped}: {shown(self.dst)}")


@dataclass(frozen=True, kw_only=True)
class ImagesSkipped:
    """Images that could not be decoded, left out of the pack because their number is within
    ``limit`` (the ``max-bad`` rule). Sent only when the pack goes on; past the limit the
    data stage raises one error naming them instead."""

    count: int
    total: int
    limit: str                                   # e.g. "at most 1% of the images"
    examples: tuple[tuple[str, str], ...] = field(default_factory=tuple)   # (path, reason)

    @property
    def text(self) -> str:
        head = (f"skipped {self.count} of {self.total:,} images that cannot be decoded "
                f"(allowed: {self.limit}; see max-bad)")
        lines = [f"  {shown(p)}: {why}" for p, why in self.examples]
        more = self.count - len(self.examples)
        return "\n".join([head, *lines] + ([f"  … and {more} more"] if more > 0 else []))


@dataclass(frozen=True, kw_only=True)
class FilesIgnored:
    """Files in the data folder that are not images by their extension (notes, archives…);
    operating-system clutter (``Thumbs.db``, ``desktop.ini``, hidden files) is not counted."""

    count: int
    examples: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        lines = [f"  {shown(p)}" for p in self.examples]
        more = self.count - len(self.examples)
        return "\n".join([f"ignored {self.count} file(s) that are not images:", *lines]
                         + ([f"  … and {more} more"] if more > 0 else []))


@dataclass(frozen=True, kw_only=True)
class CacheRebuilt:
    """A pack exists at ``dst`` but cannot be used as it is; it is packed again."""

    dst: str
    reason: str

    @property
    def text(self) -> str:
        return f"packing {shown(self.dst)} again: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class DataNote:
    """A remark about the data that changes nothing but should be known (e.g. classes with
    no training image)."""

    message: str

    @property
    def text(self) -> str:
        return self.message


DATA_EVENTS = (PackStarted, PackProgress, PackDone, ImagesSkipped, FilesIgnored, CacheRebuilt,
               DataNote)
