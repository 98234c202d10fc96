"""Where pictures go: a default path beside the checkpoint or run, checked before any work."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import NetdefError


def default_out(beside: str | Path, name: str) -> Path:
    """``name`` in the folder of a file (a checkpoint), or inside a folder (a run)."""
    beside = Path(beside)
    folder = beside if beside.is_dir() else beside.parent
    return folder / name


def check_writable(path: str | Path) -> Path:
    """Refuse early (before any evaluation) a path that cannot be written: a missing or
    read-only folder, or a folder where the file should be."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise NetdefError.at(path, "cannot write the output there: it is a folder")
    if not parent.is_dir():
        raise NetdefError.at(path, f"cannot write the output: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise NetdefError.at(path, "cannot write the output: permission denied")
    return path


def save_image(image, path: str | Path) -> Path:
    """Write a Pillow image as PNG; an OS error becomes a NetdefError naming the path."""
    path = check_writable(path)
    try:
        image.save(path, format="PNG")
    except OSError as exc:
        raise NetdefError.at(path, f"cannot write the picture ({exc.strerror or exc})") from None
    return path


def save_figure(figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG and close it."""
    import matplotlib.pyplot as plt

    path = check_writable(path)
    try:
        figure.savefig(path, format="png", dpi=dpi)
    except OSError as exc:
        raise NetdefError.at(path, f"cannot write the picture ({exc.strerror or exc})") from None
    finally:
        plt.close(figure)
    return path


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_axes(ax, *, title: str, x: str, y: str, legend_size: int = 8,
               title_size: float | None = None) -> None:
    """Title, axis labels, a light grid and the legend: how netdef's plots are labelled."""
    ax.set_title(title, fontsize=title_size)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
