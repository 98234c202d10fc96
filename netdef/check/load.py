"""From paths to a checked net: finding the params file and reading experiments
(docs/language-guide.md "The params file")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import NetdefError, Span
from ..schema import build_spec, is_experiment_file, read_experiment
from ..syntax import Document, read
from .net import CheckedNet, check_net


@dataclass
class ParamsChoice:
    """Which params file was used and how it was found (for the user's log)."""

    path: str | None
    how: str  # "given", "found", "inline", "none"
    looked: tuple[str, ...] = ()


def params_candidates(definition: str | Path) -> list[Path]:
    """cuda-convnet's ``layers-X.cfg`` → ``layer-params-X.cfg``, then ``X-params.cfg``."""
    p = Path(definition)
    out = []
    if p.name.startswith("layers"):
        out.append(p.with_name("layer-params" + p.name[len("layers"):]))
    out.append(p.with_name(f"{p.stem}-params{p.suffix}"))
    return out


def find_params(definition: str | Path, given: str | Path | None = None) -> ParamsChoice:
    """The params file to use: the one given, else one beside the definition, else none."""
    if given is not None:
        return ParamsChoice(str(given), "given")
    candidates = params_candidates(definition)
    for c in candidates:
        if c.is_file():
            return ParamsChoice(str(c), "found", tuple(map(str, candidates)))
    return ParamsChoice(None, "none", tuple(map(str, candidates)))


def declared_channels(spec) -> int:
    """The ``channels`` the layers reading the image data layer (``dataIdx=0``) declare for
    it when it is one netdef's data can have (1: grey, 3: RGB), else 3. cuda-convnet took the
    count from its data provider; without data, the file's own claim is all there is
    (training checks it against the data)."""
    images = {n for n, layer in spec.layers.items()
              if layer.type == "data" and layer.data_idx == 0}
    for layer in spec.layers.values():
        counts = getattr(layer, "channels", None)
        if counts is None:
            continue
        inputs = tuple(getattr(layer, "inputs", ()) or ())
        counts = counts if isinstance(counts, tuple) else (counts,) * len(inputs)
        for src, count in zip(inputs, counts, strict=False):
            if src in images:
                return int(count) if count in (1, 3) else 3
    return 3


def load(path: str | Path, params: str | Path | None = None, input_size: int | None = None,
         *, strict: bool = False, allow_init_funcs: bool = False, classes: int | None = None,
         input_channels: int | None = None) -> CheckedNet:
    """Read, validate and check a definition (or an experiment file); raises NetdefError with
    every problem of the definition and the params file together.

    ``input_size`` is the side S of the square images the net reads, (N, C, S, S): a
    cuda-convnet file never fixes it, so it defaults to 224 (AlexNet's), or to an experiment
    file's ``inner-size``. Shapes, parameter counts and the compiled net all follow from it;
    a compiled net refuses images of another side, naming the one it expects. ``params`` is
    the params file (default: found beside the definition); ``classes``, when given, is
    checked against the classifier's outputs. ``input_channels`` is C: default the
    experiment's ``channels`` key, else what the net declares (:func:`declared_channels`)."""
    path = str(path)
    if is_experiment_file(path):
        exp, inline = read_experiment(path)
        definition, params_doc = experiment_files(path, exp, inline, params)
        default = False
        input_size = input_size or exp.inner_size
        if input_channels is None and exp.channels != "auto":
            input_channels = exp.channels
    else:
        default = input_size is None
        definition = read(path)
        choice = find_params(path, params)
        params_doc = read(choice.path) if choice.path else None
    spec = build_spec(definition, params_doc, strict=strict, defer_errors=True)
    if input_channels is None:
        input_channels = declared_channels(spec)
    net = check_net(spec, input_size, input_channels, classes, allow_init_funcs, strict)
    net.input_size_default = default
    return net


def experiment_files(path: str, exp, inline: Document | None,
                      params: str | Path | None) -> tuple[Document, Document | None]:
    base = Path(path).parent
    if exp.layers is None:
        if inline is None:
            raise NetdefError.at(Span(path), "[train]: no 'layers' key and no layer sections: "
                                             "the experiment names no network")
        return inline, read(params) if params else None
    layers_path = base / exp.layers
    if not layers_path.is_file():
        raise NetdefError.at(Span(path), f"[train]: 'layers' file not found: {layers_path}")
    given = params if params is not None else (base / exp.params if exp.params else None)
    if given is not None and not Path(given).is_file():
        raise NetdefError.at(Span(path), f"[train]: 'params' file not found: {given}")
    choice = find_params(layers_path, given)
    return read(layers_path), read(choice.path) if choice.path else None
