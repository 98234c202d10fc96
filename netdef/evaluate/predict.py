"""Top-5 guesses for single images, and a layer's activations for a whole split.

Images are prepared exactly as the packer and the validation loader prepare them: shorter side
to the training ``image-size``, centre square, then the centre crop (or the ten views) at the
net's input side, minus the checkpoint's own mean image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.events import OnEvent, ignore
from ..errors import Collector, NetdefError, Span
from .evaluation import EvalProgress, average_views, view_probabilities
from .model import LoadedModel, check_classifier
from .scores import topk_names


@dataclass
class Prediction:
    """One image's best classes, best first: (class name, probability), from ``crops`` views
    (1: the centre crop; 10: the softmax averaged over the ten views). With 10 views,
    ``centre`` holds the centre crop's own best classes, for comparison."""

    source: str
    top: list[tuple[str, float]]
    crops: int = 1
    centre: list[tuple[str, float]] | None = None

    def to_dict(self) -> dict:
        out = {"image": self.source, "crops": self.crops, "top5": _listed(self.top)}
        if self.centre is not None:
            out["centre_crop_top5"] = _listed(self.centre)
        return out


def _listed(top: list[tuple[str, float]]) -> list[dict]:
    return [{"class": c, "probability": p} for c, p in top]


def decode_image(model: LoadedModel, image) -> np.ndarray:
    """A path or a PIL image -> uint8 (C, S, S) at the training image size and the net's
    channel count, upright by its EXIF orientation, decoded as the packer decodes; a file
    that is not an image raises NetdefError located at it."""
    from ..data.decode import BadImage, flatten, load_image, resize_crop, upright

    size = model.image_size
    try:
        if isinstance(image, (str, Path)):
            return load_image(str(image), size, draft=False, channels=model.channels)
        return resize_crop(flatten(upright(image), model.channels), size)
    except BadImage as exc:
        raise NetdefError.at(Span(str(image)), str(exc)) from None


def decode_images(model: LoadedModel, images: Sequence) -> np.ndarray:
    """:func:`decode_image` of each: uint8 (N, C, S, S); every file that is not an image is
    named, all in one NetdefError."""
    out, bad = [], Collector()
    for image in images:
        try:
            out.append(decode_image(model, image))
        except NetdefError as exc:
            bad.extend(exc.errors)
    bad.raise_if_errors()
    return np.stack(out)


def input_views(model: LoadedModel, images: np.ndarray | torch.Tensor, crops: int = 1
            ) -> torch.Tensor:
    """uint8 (N, C, S, S) -> float32 network input (N, C, s, s) or (N, 10, C, s, s)."""
    from ..data import augment

    x = torch.as_tensor(np.asarray(images))
    mean_c = augment.mean_crop(model.mean_image(), model.input_size)      # (C, s, s)
    if crops == 10:
        views = augment.ten_views(x, model.input_size)                    # (N, 10, C, s, s)
    else:
        views = augment.center_crop(x, model.input_size)                  # (N, C, s, s)
    return augment.normalize(views, mean_c).to(model.input_device)


def class_name(model: LoadedModel, index: int) -> str:
    """The class of an output (outputs past the data's classes have no name)."""
    return model.classes[index] if index < len(model.classes) else f"output {index}"


def predict(model: LoadedModel, images: Sequence, crops: int = 1, k: int = 5,
            batch_size: int = 64) -> list[Prediction]:
    """The top-``k`` classes and probabilities of each image (paths or PIL images); a net
    without a classifier raises NetdefError."""
    check_classifier(model, "predict")
    if crops not in (1, 10):
        raise NetdefError(f"crops must be 1 or 10 (got {crops})")
    decoded = decode_images(model, images)                                       # (N, C, S, S)
    probs = view_probabilities(model, input_views(model, decoded, crops), batch_size)
    centres = [None] * len(images)
    if crops > 1:
        centres = _named_top(model, probs[:, CENTRE_VIEW], k)  # (N, 10, K) -> (N, K)
        probs = average_views(probs)                                       # (N, 10, K) -> (N, K)
    return [Prediction(_source(im), top, crops=crops, centre=centre)
            for im, top, centre in zip(images, _named_top(model, probs, k), centres,
                                       strict=True)]


CENTRE_VIEW = 4  # in augment.ten_views: four corners, the centre, then their mirrors


def _named_top(model: LoadedModel, probs: torch.Tensor, k: int) -> list[list[tuple[str, float]]]:
    """(N, K) probabilities -> per image, its best ``k`` (class name, probability)."""
    values, order = topk_names(probs, k)
    return [[(class_name(model, int(i)), float(v)) for v, i in zip(vs, ix, strict=True)]
            for vs, ix in zip(values, order, strict=True)]


def _source(image) -> str:
    return (
        str(image)
        if isinstance(image, (str, Path))
        else getattr(image, "filename", "") or "<image>"
    )


def feature_layers(model: LoadedModel) -> list[str]:
    """Layers whose activations can be written: every layer but data and cost layers."""
    return [n for n, info in model.checked.layers.items()
            if info.type != "data" and not info.type.startswith("cost.")]


def check_layer(model: LoadedModel, layer: str) -> None:
    """A layer the net has and that produces activations; else a NetdefError listing them."""
    names = feature_layers(model)
    if layer not in names:
        raise NetdefError.at(model.path, f"the net has no layer '{layer}' with activations; "
                             f"its layers: {', '.join(names)}")


@torch.no_grad()
def features(model: LoadedModel, layer: str, dataset, split: str = "val",
             batch_size: int = 128, on_event: OnEvent = ignore,
             workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 (N, …) activations of ``layer`` for every centre-cropped image of ``split``
    (cuda-convnet's --write-features), and the int64 (N,) labels beside them."""
    from ..data import val_loader

    check_layer(model, layer)
    batches = val_loader(dataset, batch_size, model.input_size, workers=workers,
                         device=model.input_device, split=split)
    total, outs, labels = dataset.count(split), [], []
    for x, y in batches:
        outs.append(model.net.run_layers(x, None, [layer])[layer].float().cpu().numpy())
        labels.append(y.cpu().numpy())
        on_event(EvalProgress(sum(len(v) for v in labels), total))
    if not outs:
        raise NetdefError.at(dataset.path, f"the {split} split holds no images")
    return np.concatenate(outs), np.concatenate(labels).astype(np.int64)
