"""cuda-convnet2's image layers as models: crop, href, blur, nailbed, resize, rgb2yuv, rgb2lab
(cuda-convnet2 ``layer.py``; their builders are :mod:`netdef.compiler.ops_image`). Each declares
its facts as the other models do (:mod:`.layers`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from . import shapes as rules
from .base import NonNegInt, PerImage, PosInt
from .values import Bool, Float, Int


class ImageLayer(PerImage):
    """An image-to-image layer of cuda-convnet2 that states its images' ``channels``."""

    channels: PosInt = 3


class Crop(ImageLayer):
    type: Literal["crop"] = "crop"
    infer = rules.infer_crop
    channels: PosInt
    start_x: NonNegInt = 0
    start_y: NonNegInt | None = Field(None, description="defaults to startX (cuda-convnet2)")
    size_x: PosInt


class Href(ImageLayer):
    """Horizontal reflection of the image."""

    type: Literal["href"] = "href"
    infer = rules.infer_channels_same


def _odd_blur_size(value: int) -> int:
    if value not in (3, 5, 7, 9):
        raise ValueError("must be one of 3, 5, 7, 9")
    return value


class Blur(ImageLayer):
    """Separable Gaussian blur with zero padding, one filter for all channels (cuda-convnet2)."""

    type: Literal["blur"] = "blur"
    infer = rules.infer_channels_same
    filter_size: Annotated[Int, AfterValidator(_odd_blur_size)] = 5
    stdev: Annotated[Float, Field(gt=0)]


class Nailbed(ImageLayer):
    """Keeps every ``stride``-th pixel, centred (cuda-convnet2 NailbedLayer)."""

    type: Literal["nailbed"] = "nailbed"
    infer = rules.infer_nailbed
    stride: Annotated[Int, Field(gt=1)]


class Resize(ImageLayer):
    """Bilinear resize to floor(side / scale) (cuda-convnet2 ResizeLayer)."""

    type: Literal["resize"] = "resize"
    infer = rules.infer_resize
    scale: Annotated[Float, Field(gt=0)]


class Rgb2Yuv(ImageLayer):
    type: Literal["rgb2yuv"] = "rgb2yuv"
    infer = rules.infer_channels_same


class Rgb2Lab(ImageLayer):
    type: Literal["rgb2lab"] = "rgb2lab"
    infer = rules.infer_channels_same
    center: Bool = False
