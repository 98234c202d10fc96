"""The experiment file (docs/language-guide.md "The experiment file"): a ``[train]`` section,
INI or YAML, every key overridable.

Keys mirror cuda-convnet's ``convnet.py`` options with readable, dashed names. Paths are relative
to the experiment file (``builtin:`` names aside); ``save`` defaults to ``runs/<file stem>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from ..errors import Collector, NetdefError, Span, did_you_mean
from ..syntax import Document, Section
from .data_keys import canonical_bad_limit, canonical_class_names, parse_channels
from .values import Bool, Float, Int, parse_int

PosInt = Annotated[Int, Field(gt=0)]
Channels = Annotated[Literal["auto", 1, 3], BeforeValidator(parse_channels)]
MaxBad = Annotated[str, BeforeValidator(canonical_bad_limit)]
ClassNames = Annotated[str | None, BeforeValidator(canonical_class_names)]


def _workers(value: object) -> object:
    """``workers``: "auto" or a count of 0 or more, one message when it is neither."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        count = parse_int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError("must be 'auto' or a number of processes, 0 or more")
    return count


def _layout(value: object) -> object:
    """``channels-last`` also takes the boolean spellings: yes/true/1 = on, no/false/0 = off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value).strip().lower()
    return {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}.get(
        text, text)


class Experiment(BaseModel):
    """The ``[train]`` section: what to train, on what, for how long, where to save."""

    model_config = ConfigDict(frozen=True, extra="forbid",
                              alias_generator=lambda f: f.replace("_", "-"), populate_by_name=True)
    layers: str | None = Field(None, description="definition file (or layer sections inline)")
    params: str | None = Field(None, description="params file; found beside 'layers' if omitted")
    data: str = Field("builtin:shapes", description="an image folder, a packed cache, IDX or "
                                                    "CIFAR files, or builtin:shapes")
    image_size: PosInt = Field(256, description="packed size: shorter side, then centre square")
    channels: Channels = Field("auto", description="image channels: auto (1 when every image "
                                                   "is grayscale, else 3), 1 or 3")
    max_bad: MaxBad = Field("1%", description="undecodable images a pack may skip: a count "
                                              "(5) or a percentage of the images (1%)")
    val_fraction: Annotated[Float, Field(gt=0, lt=1)] = Field(
        0.1, description="share of each class held out for validation when the data has no "
                         "validation split of its own (class folders, IDX, CIFAR)")
    class_names: ClassNames = Field(None, description="readable class names in label order, "
                                                      "comma-separated (else labels.txt)")
    label_set: Literal["fine", "coarse"] = Field(
        "fine", description="CIFAR-100: the 100 fine or the 20 coarse classes")
    inner_size: PosInt = Field(224, description="training crop side = the net's input side")
    batch_size: PosInt = Field(128, description="global minibatch (convnet.py --mini)")
    epochs: PosInt = 90
    test_freq: PosInt = Field(1, description="validate every N epochs")
    color_noise: Annotated[Float, Field(ge=0)] = Field(0.1, description="PCA lighting alpha std")
    random_crops: Bool = Field(True, description="training crops at random positions (off: "
                                                 "the centre crop, as at test)")
    mirrors: Bool = Field(True, description="mirror half the training images at random")
    devices: str = Field("auto", description="auto, one device, or one per logical device")
    save: str | None = Field(None, description="run directory; default runs/<file stem>")
    seed: Int = 0
    workers: Annotated[Literal["auto"] | int, BeforeValidator(_workers)] = Field(
        "auto", description="data loader worker processes (0: load in the training process); "
                            "auto: 0 for a run on the CPU with at most 2 CPUs per process, "
                            "else 2")
    log_freq: PosInt = Field(10, description="report progress and log metrics every N batches")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="fp32, or autocast to bf16 (CPU and GPU) or fp16 (CUDA only)")
    compile: Bool = Field(False, description="torch.compile the net (off/on); falls back to "
                                             "eager with a message if compiling fails")
    channels_last: Annotated[Literal["auto", "on", "off"], BeforeValidator(_layout)] = Field(
        "auto", description="channels-last (NHWC) activations: auto = on on the CPU and for "
                            "bf16/fp16 on CUDA, off for fp32 on CUDA; on; off")
    # Where each key was set, as the reader found it (not a key: kept out of model_dump).
    _spans: dict[str, Span] = PrivateAttr(default_factory=dict)
    _path: str = PrivateAttr(default="<experiment>")

    def span_of(self, key: str) -> Span:
        """Where ``key`` (dashed) was set: its line in the file, ``<command line>`` for an
        override, else the file itself (a default)."""
        return self._spans.get(key.replace("_", "-"), Span(self._path))


EXPERIMENT_KEYS = [f.replace("_", "-") for f in Experiment.model_fields]


def is_experiment_file(path: str | Path) -> bool:
    """YAML files, and INI files with a ``[train]`` section, are experiments."""
    p = Path(path)
    if p.suffix.lower() in (".yaml", ".yml"):
        return True
    try:
        head = p.read_bytes()[: 1 << 20]
    except OSError:
        return False
    return any(line.strip().lower() == b"[train]" for line in head.splitlines())


def read_experiment(path: str | Path, overrides: dict[str, str] | None = None
                    ) -> tuple[Experiment, Document | None]:
    """The experiment and, for the one-file form, the document holding its layer sections."""
    path = str(path)
    raw, spans, keys, doc = (_read_yaml(path) if Path(path).suffix.lower() in (".yaml", ".yml")
                             else _read_ini(path))
    for name, value in (overrides or {}).items():
        key = name.lower().replace("_", "-")
        raw[key], spans[key], keys[key] = value, Span("<command line>"), Span("<command line>")
    exp = validate_experiment(raw, spans, path, keys)
    exp._spans, exp._path = dict(spans), path
    layers_doc = doc if doc is not None and doc.sections else None
    return exp, layers_doc


def validate_experiment(raw: dict[str, object], spans: dict[str, Span], path: str,
                        keys: dict[str, Span] | None = None) -> Experiment:
    """The [train] values ``raw`` as an :class:`Experiment`; every problem located (``spans``
    where each value is, ``keys`` where each key is) and raised at once as NetdefError."""
    out = Collector()
    for key in raw:
        if key not in EXPERIMENT_KEYS:
            out.error((keys or spans).get(key, Span(path)), f"[train]: unknown key '{key}'"
                      f"{did_you_mean(key, EXPERIMENT_KEYS) or f' (expected one of {_known()})'}")
    out.raise_if_errors()
    try:
        return Experiment.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "?"
            key = key.replace("_", "-")
            ctx = err.get("ctx") or {}
            msg = str(ctx["error"]) if err["type"] == "value_error" else err["msg"].lower()
            out.error(spans.get(key, Span(path)),
                      f"[train]: '{key}' {msg} (got {raw.get(key)!r})")
        raise NetdefError(out.items) from None


def _known() -> str:
    return ", ".join(EXPERIMENT_KEYS)


def _read_ini(path: str) -> tuple[dict, dict, dict, Document]:
    """Values, their spans, the keys' spans and the other sections of an INI experiment."""
    from ..syntax import read

    doc = read(path)
    trains = [s for s in doc.sections if s.name.lower() == "train"]
    if not trains:
        raise NetdefError.at(Span(path), "an experiment file needs a [train] section")
    train: Section = trains[0]
    raw = {k: e.value for k, e in train.entries.items()}
    spans = {k: e.value_span for k, e in train.entries.items()}
    keys = {k: e.span for k, e in train.entries.items()}
    rest = [s for s in doc.sections if s is not train]
    return raw, spans, keys, Document(doc.path, rest, doc.lines, doc.diagnostics)


def _read_yaml(path: str) -> tuple[dict, dict, dict, None]:
    import yaml

    from ..syntax import read_text

    text = read_text(path)
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        span = Span(path, mark.line + 1, mark.column + 1) if mark else Span(path)
        raise NetdefError.at(span, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    node = _train_node(node, path)
    raw, spans, keys = {}, {}, {}
    for knode, vnode in node.value:
        key = str(knode.value).lower()
        keys[key] = Span(path, knode.start_mark.line + 1, knode.start_mark.column + 1)
        spans[key] = Span(path, vnode.start_mark.line + 1, vnode.start_mark.column + 1)
        if not isinstance(vnode, yaml.ScalarNode):
            raise NetdefError.at(spans[key], f"[train]: '{key}' must be a single value")
        raw[key] = vnode.value
    return raw, spans, keys, None


def _train_node(node, path: str):
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise NetdefError.at(Span(path), "a YAML experiment must be a mapping of keys")
    for knode, vnode in node.value:
        if str(knode.value).lower() == "train" and isinstance(vnode, yaml.MappingNode):
            return vnode
    return node

