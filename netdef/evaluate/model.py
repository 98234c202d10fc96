"""A trained net back from its checkpoint alone: :func:`load_model` and :class:`LoadedModel`.

The checkpoint carries the definition and params *text*, the input side, the class names, the
mean image and the PCA (docs/design.md §5), so the net is rebuilt from those, never from files on
disk: a checkpoint copied to another machine works with no other file but the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..check import CheckedNet, check_net
from ..checkpoint import Checkpoint, checkpoint_path, read_checkpoint
from ..errors import NetdefError
from ..schema import build_spec
from ..syntax import parse


@dataclass(kw_only=True)
class LoadedModel:
    """A compiled net in eval mode with its weights, and the checkpoint's metadata."""

    path: str
    checked: CheckedNet
    net: torch.nn.Module
    devices: list[str]
    classes: list[str]
    mean: np.ndarray | None  # float32 (C, S, S): the training mean image
    eigval: np.ndarray | None  # (C,) pixel PCA eigenvalues of training pixels in [0, 1]
    eigvec: np.ndarray | None  # (C, C) eigenvectors as columns
    input_size: int  # the side S of the (N, C, S, S) images the net reads (its inner-size)
    channels: int = 3          # image channels the net reads: 1 (grey) or 3 (RGB)
    experiment: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # CPU copies, as saved

    @property
    def spec(self):
        """The validated NetSpec the net was compiled from."""
        return self.checked.spec

    @property
    def image_size(self) -> int:
        """The side images were packed at for training (the input side when unknown)."""
        return int(self.experiment.get("image-size") or self.input_size)

    @property
    def input_device(self) -> torch.device:
        """Where batches go: the device of logical device 0."""
        return torch.device(self.devices[0])

    @property
    def has_classifier(self) -> bool:
        """Whether the net has a classifier: a cost.logreg (or cost.crossent) layer reading a
        softmax, whose outputs are then classes."""
        from ..compiler.compile import SCORED_COSTS

        return any(self.checked.layers[n].type in SCORED_COSTS for n in self.net.cost_names)

    def mean_image(self) -> np.ndarray:
        """float32 (C, S, S) training mean (zeros when the checkpoint has none)."""
        if self.mean is None:
            return np.zeros((self.channels, self.image_size, self.image_size), np.float32)
        return np.asarray(self.mean, dtype=np.float32)


def check_classifier(model: LoadedModel, command: str) -> None:
    """NetdefError unless the net has a classifier (a cost.logreg or cost.crossent layer):
    ``command`` (eval, predict, show-preds) scores its outputs as classes, which means
    nothing otherwise (the 768 outputs of a reconstruction net are not 768 classes)."""
    if model.has_classifier:
        return
    names = model.net.cost_names
    costs = ", ".join(f"'{n}' ({model.checked.layers[n].type})" for n in names)
    raise NetdefError.at(model.path, f"the net has no classifier (no cost.logreg or "
                         f"cost.crossent layer; its cost{'s are' if len(names) > 1 else ' is'} "
                         f"{costs}), so '{command}' has no classes to score. Its training and "
                         f"validation costs are in the run's metrics.jsonl; 'netdef features' "
                         f"writes any layer's outputs")


def load_model(path: str | Path, devices: str | Sequence[str] = "cpu") -> LoadedModel:
    """Read a netdef checkpoint and rebuild its net on ``devices`` ("auto", one device, or one
    per logical device); ``path`` is a checkpoint file or a run folder (its ckpt.pt, which
    ``model.path`` then names); a missing, foreign or inconsistent file raises NetdefError."""
    from ..compiler.compile import device_names

    path = str(checkpoint_path(path))
    ckpt = read_checkpoint(path)
    checked = rebuild_checked(path, ckpt)
    real = device_names(devices, checked.num_devices)
    net = _compiled(path, checked, real, ckpt.weights)
    return LoadedModel(path=path, checked=checked, net=net, devices=real,
                       classes=list(ckpt.classes), mean=_numpy(ckpt.mean),
                       eigval=_numpy(ckpt.eigval), eigvec=_numpy(ckpt.eigvec),
                       input_size=ckpt.input_size, channels=ckpt.image_channels,
                       experiment=dict(ckpt.experiment), state=dict(ckpt.state),
                       weights=dict(ckpt.weights))


def rebuild_checked(path: str, ckpt: Checkpoint) -> CheckedNet:
    """The checked net from the definition and params text the checkpoint carries."""
    definition = parse(ckpt.definition, ckpt.definition_path or f"{path}[definition]")
    params = parse(ckpt.params, ckpt.params_path or f"{path}[params]") \
        if ckpt.params.strip() else None
    spec = build_spec(definition, params)
    # initWFunc names are never run by the compiler, and the weights are replaced anyway.
    return check_net(spec, ckpt.input_size, ckpt.image_channels, len(ckpt.classes),
                     allow_init_funcs=True)


def _compiled(path: str, checked: CheckedNet, devices: list[str], weights: dict):
    from ..compiler import compile_net
    from ..compiler.layout import to_channels_last

    net = compile_net(checked, devices if len(devices) > 1 else devices[0])
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise NetdefError.at(path, f"the weights do not fit the definition stored with them "
                             f"({first[1].strip() if len(first) > 1 else first[0]})") from None
    if all(torch.device(d).type == "cpu" for d in devices):
        to_channels_last(net)  # NHWC activations: the CPU's pools and norms vectorise over C
    net.eval()
    return net


def _numpy(x) -> np.ndarray | None:
    if x is None:
        return None
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def open_eval_data(model: LoadedModel, data: str | None = None, on_event=None):
    """The dataset to evaluate on: ``data``, else the run's own, packed with the run's data
    options and the net's channel count; its classes must be the checkpoint's. Returns a view
    whose mean image is the checkpoint's (the net's own)."""
    from ..data import DataOptions, open_dataset

    source = data or model.experiment.get("data")
    if not source:
        raise NetdefError.at(model.path, "the checkpoint names no data; pass --data")
    options = DataOptions.from_experiment(model.experiment).with_(image_size=model.image_size)
    ds = open_dataset(str(source), options=options, on_event=on_event)   # the run's own pack
    if ds.channels != model.channels:       # other data: packed for the net's channel count
        ds = open_dataset(str(source), options=options.with_(channels=model.channels),
                          on_event=on_event)
    check_classes(model, ds, str(source))
    return with_mean(ds, model.mean)


def check_classes(model: LoadedModel, ds, source: str) -> None:
    """Refuse data whose class list differs from the one the net was trained on."""
    theirs = list(map(str, ds.class_names))
    if theirs == model.classes:
        return
    raise NetdefError.at(source, f"the data has {len(theirs)} classes ({_few(theirs)}) but "
                         f"{model.path} was trained on {len(model.classes)} "
                         f"({_few(model.classes)}); labels would not mean the same classes")


def _few(names: list[str], n: int = 4) -> str:
    shown = ", ".join(names[:n])
    return shown + (f", … {len(names) - n} more" if len(names) > n else "")


def with_mean(ds, mean: np.ndarray | None):
    """The dataset centred with ``mean`` (the net was trained with its own training mean;
    evaluation data must be centred the same way); ``ds`` itself when there is none."""
    return ds if mean is None else ds.with_mean(mean)
