"""Decoding one image the paper's way: upright, shorter side to S, centre S×S crop, uint8
(C, S, S) with C = 3 (RGB) or 1 (grey).

AlexNet (Krizhevsky et al. 2012, §2): "we down-sampled the images to a fixed resolution of
256 × 256 … we first rescaled the image such that the shorter side was of length 256, and then
cropped out the central 256×256 patch". Smaller images are upscaled by the same rule.

What photo collections hold, and what becomes of it: a camera's EXIF orientation is applied
(a phone photo stored sideways is used upright); transparent pixels (RGBA and LA PNGs, palette
images with a transparent colour, GIFs) are composited over white, as a viewer shows them on a
page; CMYK, palette, 1-bit, 16-bit and floating-point images are converted; an animated GIF or
a multi-page TIFF gives its first frame; progressive JPEGs decode like any other. Truncated
files, images past Pillow's decompression-bomb limit (about 179 megapixels), formats Pillow
cannot decode here (HEIC, raw camera files…) and images under 8 pixels a side are refused, each
with its reason.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np

MIN_SIDE = 8  # shorter sides below this are refused as not a usable image (e.g. 1×1 pixels)
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
_WHITE = (255, 255, 255, 255)
# Image formats people's folders hold that Pillow may have no decoder for, by extension.
_FORMATS = {".heic": "HEIC", ".heif": "HEIF", ".avif": "AVIF", ".jxl": "JPEG XL",
            ".svg": "SVG", ".svgz": "SVG", ".cr2": "Canon raw", ".cr3": "Canon raw",
            ".nef": "Nikon raw", ".arw": "Sony raw", ".orf": "Olympus raw",
            ".rw2": "Panasonic raw", ".raf": "Fujifilm raw", ".dng": "DNG raw",
            ".raw": "camera raw"}


class BadImage(Exception):
    """An image that cannot be used; the message says why (without the path)."""


def undecodable_extensions() -> frozenset[str]:
    """Extensions of image formats (above) for which this Pillow has no decoder."""
    from PIL import Image

    Image.init()
    known = {ext.lower() for ext, fmt in Image.registered_extensions().items()
             if fmt in Image.OPEN}
    return frozenset(ext for ext in _FORMATS if ext not in known)


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


def load_image(path: str, size: int, draft: bool = True, channels: int = 3) -> np.ndarray:
    """Decode ``path`` to uint8 (channels, size, size): upright, shorter side to ``size``,
    centre square crop; ``channels`` 3 gives RGB, 1 grey (ITU-R 601-2 luma). Raises BadImage
    saying why an image cannot be used."""
    from PIL import Image, UnidentifiedImageError

    data = read_bytes(path)
    try:
        with warnings.catch_warnings():
            # Pillow warns past MAX_IMAGE_PIXELS (about 89 megapixels) and refuses past twice
            # that; a 108-megapixel phone photo is a photo, so only the refusal counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if min(w, h) < MIN_SIDE:
                raise BadImage(f"too small ({w}×{h} pixels; the shorter side must be "
                               f">= {MIN_SIDE})")
            if draft and img.format in ("JPEG", "MPO"):
                # JPEG DCT scaling (Pillow's draft mode) decodes at 1/2, 1/4 or 1/8 while
                # staying >= the target size; the antialiased resize below then lands within a
                # pixel value or so of the full decode (tests/test_data_pack.py checks).
                img.draft("L" if channels == 1 else "RGB", _target(w, h, size))
            img.load()
            return resize_crop(flatten(upright(img), channels), size)
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage(_unidentified(path)) from None
    except Image.DecompressionBombError as exc:
        raise BadImage(f"refused as a possible decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise BadImage(f"not a readable image ({type(exc).__name__}: {exc})") from None


def _unidentified(path: str) -> str:
    fmt = _FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is not None:
        return (f"a {fmt} image, which Pillow cannot decode here; convert it to JPEG or PNG")
    return "not a readable image: Pillow cannot identify it (not an image file, or damaged)"


def _target(w: int, h: int, size: int) -> tuple[int, int]:
    """(width, height) after scaling the shorter side to ``size``."""
    if w <= h:
        return size, max(size, round(h * size / w))
    return max(size, round(w * size / h)), size


def upright(img):
    """The image as its camera meant it to be seen: the EXIF orientation applied (Pillow's
    ``ImageOps.exif_transpose``); a damaged EXIF block leaves the pixels as stored."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError):
        return img


def flatten(img, channels: int = 3):
    """Any Pillow mode as "RGB" (``channels`` 3) or "L" (1): alpha composited over white,
    16-bit and float scaled to 8 bits, CMYK, palette, 1-bit and YCbCr converted."""
    from PIL import Image

    want = "L" if channels == 1 else "RGB"
    if img.mode == want:
        return img
    if img.mode in _SIXTEEN_BIT:
        # Pillow's own I;16 -> L conversion clips at 255; scale the 16-bit range instead.
        a = np.asarray(img, dtype=np.float64)
        a = np.clip(a / 257.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert(want)
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        scale = 255.0 if a.size and np.nanmax(a) <= 1.0 else 1.0
        a = np.clip(np.nan_to_num(a) * scale + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert(want)
    if img.mode in _ALPHA or (img.mode in ("P", "L", "RGB") and "transparency" in img.info):
        page = Image.new("RGBA", img.size, _WHITE)
        page.alpha_composite(img.convert("RGBA"))
        img = page
    return img.convert(want)


def to_rgb(img):
    """Any Pillow mode as RGB (see :func:`flatten`)."""
    return flatten(img, 3)


def is_gray(image: np.ndarray) -> bool:
    """True when a uint8 (3, S, S) image has equal red, green and blue everywhere."""
    return bool(np.array_equal(image[0], image[1]) and np.array_equal(image[1], image[2]))


def resize_crop(img, size: int) -> np.ndarray:
    """uint8 (C, size, size) of an "RGB" or "L" image: its centre square resized in one
    antialiased step, the same pixels as 'shorter side to size, then centre crop' without the
    intermediate."""
    from PIL import Image

    w, h = img.size
    side = min(w, h)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    out = img.resize((size, size), Image.Resampling.BILINEAR,
                     box=(left, top, left + side, top + side))
    hwc = np.asarray(out, dtype=np.uint8)         # (H, W, 3) or (H, W)
    if hwc.ndim == 2:
        return np.ascontiguousarray(hwc[None])    # (1, H, W)
    return np.ascontiguousarray(hwc.transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)
