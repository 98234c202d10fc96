"""Decoding one image the paper's way: shorter side to S, centre S×S crop, RGB uint8 (3, S, S).

AlexNet (Krizhevsky et al. 2012, §2): "we down-sampled the images to a fixed resolution of
256 × 256 … we first rescaled the image such that the shorter side was of length 256, and then
cropped out the central 256×256 patch". Smaller images are upscaled by the same rule.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

MIN_SIDE = 8  # shorter sides below this are refused as not a usable image (e.g. 1×1 pixels)
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class BadImage(Exception):
    """An image that cannot be used; the message says why (without the path)."""


def read_bytes(path: str) -> bytes:
    """The file's bytes; OSError (missing, unreadable, a symlink loop) becomes BadImage."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BadImage(f"cannot read ({exc.strerror or exc})") from None
    if not data:
        raise BadImage("empty file (0 bytes)")
    return data


def load_image(path: str, size: int, draft: bool = True) -> np.ndarray:
    """Decode ``path`` to uint8 (3, size, size): shorter side to ``size``, centre square crop."""
    from PIL import Image, UnidentifiedImageError

    data = read_bytes(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if min(w, h) < MIN_SIDE:
                raise BadImage(f"too small ({w}×{h} pixels; the shorter side must be "
                               f">= {MIN_SIDE})")
            if draft and img.format == "JPEG":
                # JPEG DCT scaling (Pillow's draft mode) decodes at 1/2, 1/4 or 1/8 while
                # staying >= the target size; the antialiased resize below then lands within a
                # pixel value or so of the full decode (tests/test_data_pack.py checks).
                img.draft("RGB", _target(w, h, size))
            img.load()
            rgb = to_rgb(img)
            return resize_crop(rgb, size)
    except BadImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise BadImage(f"not a readable image ({type(exc).__name__}: {exc})") from None


def _target(w: int, h: int, size: int) -> tuple[int, int]:
    """(width, height) after scaling the shorter side to ``size``."""
    if w <= h:
        return size, max(size, round(h * size / w))
    return max(size, round(w * size / h)), size


def to_rgb(img):
    """Any Pillow mode as RGB: grayscale, palette (with transparency), RGBA, CMYK, 16-bit."""
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT:
        # Pillow's own I;16 -> L conversion clips at 255; scale the 16-bit range instead.
        a = np.asarray(img, dtype=np.float64)
        a = np.clip(a / 257.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        scale = 255.0 if a.size and np.nanmax(a) <= 1.0 else 1.0
        a = np.clip(np.nan_to_num(a) * scale + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def resize_crop(img, size: int) -> np.ndarray:
    """uint8 (3, size, size): the centre square of ``img`` resized in one antialiased step,
    the same pixels as 'shorter side to size, then centre crop' without the intermediate."""
    from PIL import Image

    w, h = img.size
    side = min(w, h)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    out = img.resize((size, size), Image.Resampling.BILINEAR,
                     box=(left, top, left + side, top + side))
    hwc = np.asarray(out, dtype=np.uint8)         # (H, W, 3)
    return np.ascontiguousarray(hwc.transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)
