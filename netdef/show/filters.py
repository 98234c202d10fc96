"""The paper's Figure 3: the filters a layer learned, one block per layer, towers top to bottom.

Krizhevsky et al. 2012, Fig. 3 shows conv1's 96 kernels of 11×11×3 as two blocks of 48, the
kernels learned on GPU 1 above those learned on GPU 2. Scaling follows cuda-convnet's
``shownet.py --show-filters``: by default one min–max scale for a whole block (so weak filters
look weak); ``norm_filters`` scales each filter to its own range (``--norm-filters``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import NetdefError
from ..schema import SPATIAL_TYPES  # declared on the layer models

MIN_TILE = 72      # an enlarged filter is at least this many pixels wide (11×11 -> 7×)
GAP = 3            # pixels between tiles and around the grid
COLUMNS = 16       # filters per row for 48 filters or more, as in the paper's figure
FEW_COLUMNS = 8    # filters per row for fewer (32 filters: 4 rows of 8, not 2 of 16)
SUBSET = 16        # filters over more than 3 channels: at most 16 filters × 16 channels
CAPTION_H = 24     # caption strip above each block
FONT_SIZE = 14
SEPARATOR = 2      # the line between blocks
BACKGROUND = (24, 24, 24)
LINE = (200, 200, 200)
TEXT = (235, 235, 235)


@dataclass
class FilterBlock:
    """One layer's filters, float (F, C, k, k), and the caption naming layer, tower, device."""

    caption: str
    filters: np.ndarray


def scale_filters(w: np.ndarray, per_filter: bool) -> np.ndarray:
    """(F, C, k, k) -> values in [0, 1]: min–max over the block, or over each filter."""
    w = w.astype(np.float64)
    axes = tuple(range(1, w.ndim)) if per_filter else None
    lo = w.min(axis=axes, keepdims=True)
    span = w.max(axis=axes, keepdims=True) - lo
    return (w - lo) / np.where(span > 0, span, 1.0)


def tiles_of(w: np.ndarray) -> tuple[np.ndarray, int]:
    """Scaled (F, C, k, k) -> uint8 tiles (T, k, k, 3) and the columns of their grid: colour
    tiles for 3 channels, grey for 1, else one grey tile per channel, a filter per row."""
    f, c, k, _ = w.shape
    u8 = np.clip(np.rint(w * 255), 0, 255).astype(np.uint8)
    if c == 3:
        return u8.transpose(0, 2, 3, 1), columns_for(f)                   # (F, k, k, 3)
    grey = u8.reshape(f * c, k, k)[..., None].repeat(3, axis=-1)           # (F·C, k, k, 3)
    if c == 1:
        return grey, columns_for(f)
    return grey, c if c <= 4 * COLUMNS else COLUMNS


def columns_for(filters: int) -> int:
    """Tiles per row for single-tile filters: the paper's 16 for 48 or more, else 8."""
    return min(filters, COLUMNS if filters >= 48 else FEW_COLUMNS)


def grid_size(count: int, columns: int, side: int) -> tuple[int, int, int]:
    """(width, height, enlargement) of a grid of ``count`` tiles of ``side`` pixels."""
    scale = max(1, math.ceil(MIN_TILE / side))
    tile = side * scale
    rows = math.ceil(count / columns)
    return columns * (tile + GAP) + GAP, rows * (tile + GAP) + GAP, scale


def draw_grid(tiles: np.ndarray, columns: int) -> np.ndarray:
    """uint8 (T, k, k, 3) -> uint8 (H, W, 3): tiles enlarged (nearest) in rows of ``columns``."""
    count, side = tiles.shape[0], tiles.shape[1]
    width, height, scale = grid_size(count, columns, side)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BACKGROUND
    big = tiles.repeat(scale, axis=1).repeat(scale, axis=2)               # nearest neighbour
    tile = side * scale
    for i in range(count):
        r, c = divmod(i, columns)
        y, x = GAP + r * (tile + GAP), GAP + c * (tile + GAP)
        canvas[y:y + tile, x:x + tile] = big[i]
    return canvas


def filter_image(blocks: list[FilterBlock], norm_filters: bool = False):
    """The picture: per block a caption strip and the filter grid, blocks stacked top to
    bottom with a thin separator; returns a Pillow RGB image."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=FONT_SIZE)  # FreeType, Pillow ≥ 10.1
    except (TypeError, OSError):
        font = ImageFont.load_default()
    grids = [draw_grid(*tiles_of(scale_filters(b.filters, norm_filters))) for b in blocks]
    width = max(max(g.shape[1] for g in grids),
                max(int(font.getlength(b.caption)) + 2 * GAP + 4 for b in blocks))
    height = sum(CAPTION_H + g.shape[0] for g in grids) + SEPARATOR * (len(grids) - 1)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = 0
    for i, (block, grid) in enumerate(zip(blocks, grids, strict=True)):
        if i:
            draw.rectangle([0, y, width - 1, y + SEPARATOR - 1], fill=LINE)
            y += SEPARATOR
        draw.text((GAP + 2, y + 4), block.caption, fill=TEXT, font=font)
        image.paste(Image.fromarray(grid), (0, y + CAPTION_H))
        y += CAPTION_H + grid.shape[0]
    return image


def render_filters(model, layers: list[str] | None = None, norm_filters: bool = False,
                   input_idx: int = 0, channels: int | None = None, full: bool = False):
    """Figure 3 for a loaded checkpoint: by default the conv layers reading the image input
    (``conv1a`` and ``conv1b`` in a two-tower file), in logical-device order. Filters over
    other than 1 or 3 channels show their first 16 filters × 16 channels unless ``full``."""
    names = list(layers) if layers else first_layers(model)
    return filter_image([layer_block(model, n, input_idx, channels, full) for n in names],
                        norm_filters)


def spatial_layers(model) -> list[str]:
    """The conv and local layers of the net, in file order."""
    return [n for n, i in model.checked.layers.items() if i.type in SPATIAL_TYPES]


def first_layers(model) -> list[str]:
    """conv/local layers that read the image data layer, sorted by logical device."""
    checked, images = model.checked, _image_layers(model)
    found = [n for n in spatial_layers(model) if images & set(checked.layers[n].inputs)]
    if not found:
        why = "no conv layer reads the image data; name one with --layer" \
            if spatial_layers(model) else "nothing to draw by default"
        raise NetdefError.at(model.path, f"{why} ({_known(model)})")
    order = {n: i for i, n in enumerate(checked.layers)}
    return sorted(found, key=lambda n: (checked.layers[n].device or 0, order[n]))


def _image_layers(model) -> set[str]:
    checked = model.checked
    return {n for n, i in checked.layers.items()
            if i.type == "data" and checked.layer(n).data_idx == 0}


def _known(model) -> str:
    """What --layer can name: the conv/local layers, or, in a net without any, its fc layers
    (drawn as C×S×S images with --channels), with a command line that works."""
    convs = spatial_layers(model)
    if convs:
        return f"its conv layers: {', '.join(convs)}"
    layers = model.checked.layers
    fcs = [n for n, i in layers.items() if i.type == "fc"]
    if not fcs:
        return "the net has no conv, local or fc layers: it has no filters to draw"
    images = _image_layers(model)
    reading = [(n, i) for n in fcs for i, src in enumerate(layers[n].inputs) if src in images]
    if reading:
        name, idx = reading[0]
        example = (f"--layer {name} --channels {model.channels}"
                   + (f" --input-idx {idx}" if idx else "") + ", as it reads the image")
    else:
        example = f"--layer {fcs[0]} --channels C"
    return (f"the net has no conv or local layers; an fc layer's weights can be drawn as "
            f"C×S×S images: {example} (its fc layers: {', '.join(fcs)})")


def layer_block(model, name: str, input_idx: int = 0, channels: int | None = None,
                full: bool = False) -> FilterBlock:
    """One layer's filters as a block; a layer the net lacks, or one without spatial filters
    and no ``channels``, raises NetdefError. Filters over other than 1 or 3 channels (one grey
    tile per channel, a filter per row) are cut to the first 16 × 16 unless ``full``, and the
    caption says so."""
    info = model.checked.layers.get(name)
    if info is None:
        raise NetdefError.at(model.path, f"the net has no layer '{name}'; {_known(model)}")
    if info.type not in SPATIAL_TYPES | {"fc"}:
        raise NetdefError.at(model.path, f"layer '{name}' is a {info.type} layer and has no "
                             f"filters; {_known(model)}")
    if not 0 <= input_idx < len(info.inputs):
        raise NetdefError.at(model.path, f"layer '{name}' has {len(info.inputs)} input(s); "
                             f"--input-idx must be 0..{len(info.inputs) - 1} (got {input_idx})")
    w = weight_of(model, name, input_idx).float().numpy()
    where = ""
    if info.type == "local":  # (positions, F, C, k, k): the filters at the centre position
        where = " at the centre position"
        w = w[w.shape[0] // 2]
    elif info.type == "fc":
        w = fc_as_images(model, name, w, channels)
    f, c, k, _ = w.shape
    device = info.device or 0
    subset = ""
    if c not in (1, 3) and not full and (f > SUBSET or c > SUBSET):
        w = w[:SUBSET, :SUBSET]
        subset = (f" | shown: {w.shape[0]} of {f} filters (rows) x {w.shape[1]} of {c} input "
                  f"channels (columns); --all for every one")
    # ASCII only: Pillow's fallback bitmap font has no '×' or '·'. Devices as the file numbers
    # them (gpu=0, gpu=1), then the real device they ran on.
    caption = (f"{name} | gpu={device} ({_real(model, device)}) | {f} filters {k}x{k}x{c}"
               f"{where}{subset}")
    return FilterBlock(caption, w)


def _real(model, device: int) -> str:
    devices = model.devices
    return str(devices[device] if device < len(devices) else devices[0])


def weight_of(model, name: str, input_idx: int):
    """The saved weight tensor of input ``input_idx`` of a layer (following weightSource)."""
    suffix = f".{input_idx}" if input_idx else ""
    key = f"{name}.weight{suffix}"
    if key in model.weights:
        return model.weights[key]
    sources = getattr(model.checked.layer(name), "weight_source", None) or ()
    src = sources[input_idx] if input_idx < len(sources) else None
    if src:
        other, _, k = src.partition("[")
        k = int(k.rstrip("]") or 0)
        return weight_of(model, other, k)
    raise NetdefError.at(model.path, f"the checkpoint holds no weights '{key}'")


def fc_as_images(model, name: str, w: np.ndarray, channels: int | None) -> np.ndarray:
    """(outputs, inputs) fc weights -> (outputs, C, S, S) with inputs = C·S·S."""
    outputs, n = w.shape
    if channels is None:
        raise NetdefError.at(model.path, f"layer '{name}' is fully connected and has no spatial "
                             f"filters; pass --channels C to show each of its {outputs} units as a "
                             f"C×S×S image ({n} inputs = C·S·S)")
    side = math.isqrt(n // channels) if channels > 0 and n % channels == 0 else 0
    if side == 0 or channels * side * side != n:
        raise NetdefError.at(model.path, f"layer '{name}': {n} inputs are not {channels}×S×S "
                             f"for any S; give a --channels C with {n} = C·S·S")
    return w.reshape(outputs, channels, side, side)
