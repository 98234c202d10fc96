"""Validation images with their top-5 guesses as bars, the true class marked (cuda-convnet's
``shownet.py --show-preds``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.events import OnEvent, ignore
from ..evaluate import EvalProgress, check_classifier, input_views, topk_names, view_probabilities
from ..evaluate.predict import class_name
from .output import pyplot, save_figure

COUNT = 16     # images in the grid
COLUMNS = 4    # image + bars pairs per row
TOP = 5


@dataclass
class Shown:
    """One validation image and what the net made of it."""

    index: int
    image: np.ndarray  # uint8 (C, S, S), C = 3 or 1
    label: int
    top: list[tuple[int, float]]  # (class, probability), best first


def pick(model, dataset, count: int = COUNT, only_errors: bool = False, batch_size: int = 128,
         on_event: OnEvent = ignore) -> list[Shown]:
    """``count`` validation images spread over the set (every class shows up when the set is
    in class order); with ``only_errors`` the first ``count`` misclassified (top-1) ones,
    scanning in the same spread order. A net without a classifier raises NetdefError."""
    check_classifier(model, "show-preds")
    images, labels = dataset.images("val"), dataset.labels("val")
    n = len(labels)
    order = _spread(n, count)
    wanted = order[:count] if not only_errors else order
    chosen: list[Shown] = []
    for start in range(0, len(wanted), batch_size):
        idx = np.sort(wanted[start:start + batch_size])
        chosen += [s for s in _score(model, images, labels, idx, batch_size)
                   if not only_errors or s.top[0][0] != s.label]
        on_event(EvalProgress(min(start + batch_size, len(wanted)), len(wanted)))
        if len(chosen) >= count:
            break
    rank = {int(i): k for k, i in enumerate(order)}
    return sorted(chosen, key=lambda s: rank[s.index])[:count]


def _spread(n: int, count: int = COUNT) -> np.ndarray:
    """All indices 0..n-1, ordered so that the first ``count`` are spread evenly over the set
    (and every later stretch of ``count`` too)."""
    stride = max(1, n // max(count, 1))
    return np.concatenate([np.arange(offset, n, stride) for offset in range(stride)])


def _score(model, images, labels, idx: np.ndarray, batch_size: int) -> list[Shown]:
    batch = np.asarray(images[idx])                                       # uint8 (B, 3, S, S)
    probs = view_probabilities(model, input_views(model, batch), batch_size)  # (B, K)
    values, order = topk_names(probs, TOP)
    return [Shown(int(i), batch[k], int(labels[i]),
                  [(int(c), float(v)) for v, c in zip(values[k], order[k], strict=True)])
            for k, i in enumerate(idx)]


def render_preds(model, dataset, out: str | Path, only_errors: bool = False,
                 count: int = COUNT, on_event: OnEvent = ignore):
    """Write the grid of images and top-5 bars to ``out`` (PNG); returns (path, images
    shown), the count smaller than asked when the net makes fewer errors. With
    ``only_errors`` and no error at all nothing is written: (None, 0)."""
    shown = pick(model, dataset, count, only_errors, on_event=on_event)
    if not shown:
        return None, 0
    plt = pyplot()
    rows = max(1, -(-len(shown) // COLUMNS))
    fig, axes = plt.subplots(rows, 2 * COLUMNS, figsize=(4.2 * COLUMNS, 1.9 * rows + 0.4),
                             gridspec_kw={"width_ratios": [1, 1.3] * COLUMNS}, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, s in enumerate(shown):
        r, c = divmod(k, COLUMNS)
        _draw(model, s, axes[r][2 * c], axes[r][2 * c + 1])
    title = "misclassified validation images" if only_errors else "validation images"
    fig.suptitle(f"{Path(model.path).name}: {title}; above each its true class; bars: the "
                 f"top-{TOP} guesses, the true class green, a wrong top guess red", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out), len(shown)


def _draw(model, s: Shown, ax_img, ax_bar) -> None:
    if s.image.shape[0] == 1:                                  # grey data: (1, S, S)
        ax_img.imshow(s.image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax_img.imshow(s.image.transpose(1, 2, 0), interpolation="nearest")
    ax_img.set_title(f"true: {class_name(model, s.label)}", fontsize=7)  # not red: not "wrong"
    ax_bar.axis("on")
    names = [class_name(model, c) for c, _ in s.top]
    colours = ["tab:green" if c == s.label else "tab:red" if k == 0 else "tab:grey"
               for k, (c, _) in enumerate(s.top)]
    ax_bar.barh(range(len(s.top)), [p for _, p in s.top], color=colours)
    ax_bar.set_yticks(range(len(s.top)), [n[:18] for n in names], fontsize=6)
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1)
    ax_bar.tick_params(axis="x", labelsize=5)
    for side in ("top", "right"):
        ax_bar.spines[side].set_visible(False)
