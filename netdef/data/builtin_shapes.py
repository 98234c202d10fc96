"""``builtin:shapes``: a generated, deterministic image set (docs/design.md §3).

Each class is a shape × colour × texture; the first ten are chosen so that neither colour nor
shape alone separates them (red disc / blue disc / red cross / blue cross, green triangle /
green ring, yellow star / yellow square, and two texture classes in random colours). Every image
draws its object at a random position, scale and rotation, with jittered colour, over a random
two-colour gradient background, sometimes with a small distractor, plus mild pixel noise.
Image ``i`` of class ``c`` in split ``s`` depends only on ``(seed, s, c, i)``.

The set is written once as an ImageNet-layout folder (JPEG, quality 95, no chroma subsampling)
plus ``labels.txt`` under ``<cache>/builtin/shapes-<size>-<hash>/`` and then read by the same
pipeline as any folder.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import json
import os
import shutil
from dataclasses import dataclass

import numpy as np

VERSION = 3  # 3: larger objects, fewer distractors, more distinct shape pairs (quickstart)
DEFAULTS = {"classes": 10, "train": 500, "val": 100, "seed": 0}
COLOURS = {"red": 0.0, "orange": 0.08, "yellow": 0.16, "green": 0.33, "cyan": 0.5,
           "blue": 0.63, "purple": 0.77, "magenta": 0.88}
SHAPES = ("disc", "square", "triangle", "cross", "star", "ring", "hexagon")
# The first ten classes: pairs that share a colour differ by shape and vice versa.
CURATED = [("disc", "red", "solid"), ("disc", "blue", "solid"), ("cross", "red", "solid"),
           ("cross", "blue", "solid"), ("triangle", "green", "solid"),
           ("ring", "green", "solid"), ("star", "yellow", "solid"), ("square", "yellow", "solid"),
           ("disc", "any", "stripes"), ("square", "any", "checks")]


@dataclass(frozen=True)
class ShapeClass:
    """One class: an outline, a colour (or 'any' for texture classes) and a fill texture."""

    shape: str
    colour: str
    texture: str

    @property
    def name(self) -> str:
        parts = [self.colour] if self.colour != "any" else []
        parts += [self.texture] if self.texture != "solid" else []
        return " ".join(parts + [self.shape])


def known_classes(n: int) -> list[ShapeClass]:
    """The first ``n`` classes: the curated ten, then every other solid shape × colour."""
    combos = [ShapeClass(*c) for c in CURATED]
    combos += [ShapeClass(s, c, "solid") for s in SHAPES for c in COLOURS
               if (s, c, "solid") not in CURATED]
    if not 1 < n <= len(combos):
        from ..errors import NetdefError

        raise NetdefError(f"builtin:shapes: 'classes' must be 2..{len(combos)} (got {n})")
    return combos[:n]


def shapes_folder(cache_dir: str, image_size: int, classes: int = 10, train: int = 500,
                  val: int = 100, seed: int = 0, workers: int | None = None) -> str:
    """The generated folder for these parameters, written on first use; returns its path."""
    params = {"version": VERSION, "size": image_size, "classes": classes, "train": train,
              "val": val, "seed": seed}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    root = os.path.join(cache_dir, "builtin", f"shapes-{image_size}-{digest}")
    if os.path.isfile(os.path.join(root, "done.json")):
        return root
    kinds = known_classes(classes)
    tmp = f"{root}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    folders = [f"{k:02d}-{c.name.replace(' ', '-')}" for k, c in enumerate(kinds)]
    tasks = []
    for split, count in (("train", train), ("val", val)):
        for k, c in enumerate(kinds):
            os.makedirs(os.path.join(tmp, split, folders[k]))
            tasks += [(tmp, split, folders[k], c, k, start, min(count, start + 100), image_size,
                       seed) for start in range(0, count, 100)]
    _map(_write_chunk, tasks, workers)
    with open(os.path.join(tmp, "labels.txt"), "w") as f:
        f.writelines(f"{folder} {c.name}\n" for folder, c in zip(folders, kinds, strict=True))
    with open(os.path.join(tmp, "done.json"), "w") as f:
        json.dump(params, f)
    try:
        os.replace(tmp, root)
    except OSError:                               # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _map(fn, tasks: list, workers: int | None) -> None:
    from .pack_images import default_workers

    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1 or len(tasks) <= 1:
        for t in tasks:
            fn(t)
        return
    import multiprocessing as mp

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(min(workers, len(tasks))) as pool:
        pool.map(fn, tasks, chunksize=1)


def _write_chunk(task) -> None:
    tmp, split, folder, kind, label, start, stop, size, seed = task
    from PIL import Image

    split_id = {"train": 0, "val": 1}[split]
    for i in range(start, stop):
        rng = np.random.default_rng([seed, split_id, label, i])
        img = render(kind, size, rng)                              # uint8 (H, W, 3)
        Image.fromarray(img).save(os.path.join(tmp, split, folder, f"{i:05d}.jpg"),
                                  quality=95, subsampling=0)


def render(kind: ShapeClass, size: int, rng: np.random.Generator) -> np.ndarray:
    """One image of ``kind``: uint8 (size, size, 3)."""
    img = _background(size, rng)                                   # float (S, S, 3)
    if rng.random() < 0.2:                                         # a small distractor blob
        other = ShapeClass(str(rng.choice(["disc", "square", "triangle"])), "any", "solid")
        img = _paint(img, other, size, rng, scale=(0.06, 0.10))
    img = _paint(img, kind, size, rng, scale=(0.22, 0.40))
    img += rng.normal(0.0, 6.0, img.shape)                         # mild sensor-like noise
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A gradient between two muted random colours in a random direction: float (S, S, 3)."""
    c0, c1 = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = _grid(size)
    t = (np.cos(theta) * xx + np.sin(theta) * yy) / max(size - 1, 1)
    t = (t - t.min()) / max(np.ptp(t), 1e-6)
    return c0 + (c1 - c0) * t[..., None]


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates, float64 (S, S) each (cached: every image needs them)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _colour(name: str, rng: np.random.Generator) -> np.ndarray:
    """A jittered RGB (3,) for a colour name; 'any' is a random saturated colour."""
    hue = rng.uniform(0, 1) if name == "any" else (COLOURS[name] + rng.uniform(-0.03, 0.03)) % 1
    rgb = colorsys.hsv_to_rgb(hue, rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0))
    return np.array(rgb) * 255


def _paint(img: np.ndarray, kind: ShapeClass, size: int, rng: np.random.Generator,
           scale: tuple[float, float]) -> np.ndarray:
    """Composite one object over ``img`` (S, S, 3) with an antialiased mask."""
    r = size * rng.uniform(*scale)
    cx, cy = rng.uniform(r, size - r, 2)
    alpha = _mask(kind.shape, size, cx, cy, r, rng.uniform(0, 2 * np.pi))  # (S, S) in [0, 1]
    fill = _texture(kind, size, rng)                               # (S, S, 3) or (3,)
    return img * (1 - alpha[..., None]) + fill * alpha[..., None]


def _mask(shape: str, size: int, cx: float, cy: float, r: float, theta: float) -> np.ndarray:
    """The shape drawn at 2-4× and box-reduced: float (S, S) coverage in [0, 1]."""
    from PIL import Image, ImageDraw

    k = 4 if size < 128 else 2                   # supersampling factor
    m = Image.new("L", (size * k, size * k), 0)
    d = ImageDraw.Draw(m)
    cx, cy, r = cx * k, cy * k, r * k
    if shape in ("disc", "ring"):
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        if shape == "ring":
            q = r * 0.6
            d.ellipse((cx - q, cy - q, cx + q, cy + q), fill=0)
    else:
        d.polygon(_outline(shape, cx, cy, r, theta), fill=255)
    return np.asarray(m.reduce(k), dtype=np.float64) / 255.0


def _outline(shape: str, cx: float, cy: float, r: float, theta: float) -> list[tuple]:
    """Polygon vertices of a rotated shape of circumradius ``r``."""
    if shape == "cross":
        w = 0.3
        pts = [(w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1), (-w, -1), (-w, -w), (-1, -w),
               (-1, w), (-w, w), (-w, 1)]
        radii_angles = [(np.hypot(x, y), np.arctan2(y, x)) for x, y in pts]
    else:
        n, inner = {"square": (4, None), "triangle": (3, None), "hexagon": (6, None),
                    "star": (5, 0.45)}[shape]
        radii_angles = []
        for i in range(n):
            radii_angles.append((1.0, 2 * np.pi * i / n))
            if inner:
                radii_angles.append((inner, 2 * np.pi * (i + 0.5) / n))
    return [(cx + r * rho * np.cos(a + theta), cy + r * rho * np.sin(a + theta))
            for rho, a in radii_angles]


def _texture(kind: ShapeClass, size: int, rng: np.random.Generator) -> np.ndarray:
    """The object's fill: a colour (3,), or stripes / checks of two colours (S, S, 3)."""
    c1 = _colour(kind.colour, rng)
    if kind.texture == "solid":
        return c1
    c2 = _colour("any", rng) * 0.35
    period = size * rng.uniform(0.07, 0.12)
    theta = rng.uniform(0, np.pi)
    yy, xx = _grid(size)
    u = (np.cos(theta) * xx + np.sin(theta) * yy) / period
    on = np.floor(u) % 2 == 0
    if kind.texture == "checks":
        v = (-np.sin(theta) * xx + np.cos(theta) * yy) / period
        on = on ^ (np.floor(v) % 2 == 0)
    return np.where(on[..., None], c1, c2)
