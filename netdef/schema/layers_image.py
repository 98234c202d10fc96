"""cuda-convnet2's image layers as models: crop, href, blur, nailbed, resize, rgb2yuv, rgb2lab
(cuda-convnet2 ``layer.py``; their builders are :mod:`netdef.compiler.ops_image`). Each declares
its facts as the other models do (:mod:`.layers`)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from . import shapes as rules
from .base import LayerBase, NonNegInt, PosInt
from .values import Bool, Float, Int

class Crop(LayerBase):
    type: Literal["crop"] = "crop"
    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    infer = rules.infer_crop
    channels: PosInt
    start_x: NonNegInt = 0
    start_y: NonNegInt | None = Field(None, description="defaults to startX (cuda-convnet2)")
    size_x: PosInt


class Href(LayerBase):
    """Horizontal reflection of the image."""

    type: Literal["href"] = "href"
    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    infer = rules.infer_channels_same
    channels: PosInt = 3


def _odd_blur_size(value: int) -> int:
    if value not in (3, 5, 7, 9):
        raise ValueError("must be one of 3, 5, 7, 9")
    return value


class Blur(LayerBase):
    """Separable Gaussian blur with zero padding, one filter for all channels (cuda-convnet2)."""

    type: Literal["blur"] = "blur"
    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    infer = rules.infer_channels_same
    channels: PosInt = 3
    filter_size: Annotated[Int, AfterValidator(_odd_blur_size)] = 5
    stdev: Annotated[Float, Field(gt=0)]


class Nailbed(LayerBase):
    """Keeps every ``stride``-th pixel, centred (cuda-convnet2 NailbedLayer)."""

    type: Literal["nailbed"] = "nailbed"
    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    infer = rules.infer_nailbed
    channels: PosInt = 3
    stride: Annotated[Int, Field(gt=1)]


class Resize(LayerBase):
    """Bilinear resize to floor(side / scale) (cuda-convnet2 ResizeLayer)."""

    type: Literal["resize"] = "resize"
    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    infer = rules.infer_resize
    channels: PosInt = 3
    scale: Annotated[Float, Field(gt=0)]


class Rgb2Yuv(LayerBase):
    type: Literal["rgb2yuv"] = "rgb2yuv"
    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    infer = rules.infer_channels_same
    channels: PosInt = 3


class Rgb2Lab(LayerBase):
    type: Literal["rgb2lab"] = "rgb2lab"
    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    infer = rules.infer_channels_same
    channels: PosInt = 3
    center: Bool = False
