"""What ``netdef ablate`` will do, worked out and checked before anything trains (torch-free).

The plan reads the user's experiment, builds every claim's variant(s) from the parsed files,
writes each variant as a normal experiment (definition, params, ``[train]`` file) under
``OUT/variants/<variant>/`` and loads it back through the normal read → schema → check. Every
problem of every claim (an unknown claim, a claim that cannot apply, a variant that does not
check) is collected and raised once, so a bad request fails before the first batch.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from ..check import CheckedNet, check_net, load
from ..check.load import declared_channels, experiment_files
from ..errors import Diagnostic, NetdefError
from ..schema import Experiment, build_spec, read_experiment
from ..schema.build import NEEDS_PARAMS
from .claims import Claim, claims_named
from .transform import Sources, Variant, base_variant

DEFAULT_SEEDS = 3
QUICK_SHAPES = {"train": 24, "val": 8}  # per class: --quick's builtin:shapes
EXPERIMENT_FILE = "experiment.cfg"


@dataclass(kw_only=True)
class AblateOptions:
    """What ``netdef ablate`` was asked to do."""

    experiment: str
    claims: tuple[str, ...]
    seeds: int | None = None  # default 3, or 1 with ``quick``
    epochs: int | None = None  # default: the experiment's
    quick: bool = False  # one epoch, one seed, builtin:shapes shrunk
    out: str | None = None  # default runs/ablate-<experiment stem>[-quick]
    threshold: float = 0.25  # training top-1 error the relu claim times (the paper's 25 %)
    devices: str | None = None


@dataclass(kw_only=True)
class PlannedVariant:
    """A variant written to its folder and checked: what trains, and its size."""

    variant: Variant
    experiment: Path  # OUT/variants/<name>/experiment.cfg
    checked: CheckedNet
    diff: str  # unified diff of its files against the base's ('' for the base)

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def params(self) -> int:
        return self.checked.params

    @property
    def macs(self) -> int:
        """Multiply-adds per image (forward pass)."""
        return sum(i.macs for i in self.checked.layers.values())


@dataclass(kw_only=True)
class Plan:
    """Everything the runs need: the base, each claim's variants, seeds, epochs, folder."""

    options: AblateOptions
    exp: Experiment  # the user's experiment with --epochs/--quick/--devices applied
    data: str  # the data source, resolved (a path or a builtin: name)
    out: Path
    seeds: list[int]
    base: PlannedVariant
    claims: list[tuple[Claim, list[PlannedVariant]]]
    notes: list[str] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return self.exp.epochs

    def trained(self) -> list[PlannedVariant]:
        """The base, then every variant that trains, each once."""
        out = [self.base]
        for _, variants in self.claims:
            out += [v for v in variants if v.variant.trains]
        return out

    def claim_names(self) -> list[str]:
        return [c.name for c, _ in self.claims]


def make_plan(options: AblateOptions) -> Plan:
    """Build, write and check every variant; raise every problem at once (NetdefError)."""
    claims, problems = claims_named(options.claims)
    try:
        exp, src, notes = _read(options)
    except NetdefError as exc:
        raise NetdefError(problems + exc.diagnostics) from None
    made = []
    for claim in claims:
        try:
            made.append((claim, claim.variants(src)))
        except NetdefError as exc:
            problems += exc.diagnostics
    if problems:
        raise NetdefError(problems)
    out = Path(options.out) if options.out else Path("runs") / (
        f"ablate-{Path(options.experiment).stem}" + ("-quick" if options.quick else ""))
    data = data_source(exp, options.experiment)
    base = base_variant(src)
    written = {v.name: _write(out, v, exp, data, src)
               for v in [base] + [v for _, vs in made for v in vs]}
    checked = _check_all(written, src.checked.input_channels)
    planned = {name: PlannedVariant(variant=v, experiment=path, checked=checked[name],
                                    diff=_diff(base, v, src, path))
               for name, (v, path) in written.items()}
    n = options.seeds or (1 if options.quick else DEFAULT_SEEDS)
    return Plan(options=options, exp=exp, data=data, out=out,
                seeds=[exp.seed + k for k in range(n)], base=planned["base"],
                claims=[(c, [planned[v.name] for v in vs]) for c, vs in made], notes=notes)


def _read(options: AblateOptions) -> tuple[Experiment, Sources, list[str]]:
    """The user's experiment (with the command's overrides) and its checked net."""
    overrides, notes = {}, []
    if options.epochs:
        overrides["epochs"] = str(options.epochs)
    if options.devices:
        overrides["devices"] = options.devices
    if options.quick:
        overrides.setdefault("epochs", "1")
    exp, inline = read_experiment(options.experiment, overrides)
    if options.quick:
        quick = quick_data(exp.data)
        if quick != exp.data:
            exp = exp.model_copy(update={"data": quick})
        else:
            notes.append(f"--quick: the data ({exp.data}) is used whole; only builtin:shapes "
                         f"is shrunk")
    definition, params = experiment_files(options.experiment, exp, inline, None)
    spec = build_spec(definition, params)
    channels = exp.channels if exp.channels != "auto" else declared_channels(spec)
    checked = check_net(spec, exp.inner_size, channels)
    if not any(layer.type == "cost.logreg" for layer in spec.layers.values()):
        raise NetdefError.at(spec.path, "netdef ablate compares error rates, and the net has "
                             "no classifier (no cost.logreg layer)")
    if spec.params_mode == "none" and any(
        layer.type in NEEDS_PARAMS for layer in spec.layers.values()
    ):
        raise NetdefError.at(options.experiment, f"[train]: the net has no learning parameters: "
                             f"no 'params' key, and no params file beside {spec.path}")
    src = Sources(experiment_path=options.experiment, exp=exp, definition=definition,
                  params=params, checked=checked, inline=exp.layers is None, notes=notes)
    return exp, src, notes


def quick_data(data: str) -> str:
    """``builtin:shapes`` with at most QUICK_SHAPES images per class; other data unchanged."""
    name, _, query = data.partition("?")
    if name != "builtin:shapes":
        return data
    keys = dict(parse_qsl(query, keep_blank_values=True))
    for key, most in QUICK_SHAPES.items():
        try:
            keys[key] = str(min(int(keys.get(key, most)), most))
        except ValueError:
            return data  # a malformed query: the data stage says what is wrong with it
    return f"{name}?{urlencode(keys)}"


def data_source(exp: Experiment, experiment_path: str) -> str:
    """``data`` as an absolute path (relative to the experiment file), or the builtin: name;
    the variants' experiment files live elsewhere, so a relative path would not survive."""
    if exp.data.startswith("builtin:"):
        return exp.data
    return str((Path(experiment_path).parent / Path(exp.data).expanduser()).resolve())


def _write(out: Path, variant: Variant, exp: Experiment, data: str, src: Sources
           ) -> tuple[Variant, Path]:
    """The variant's definition, params and experiment files in OUT/variants/<name>/."""
    folder = out / "variants" / variant.name
    def_name, params_name = file_names(src)
    head = (f"# netdef ablate: claim '{variant.claim}', variant '{variant.name}': "
            f"{variant.description}\n# written by netdef ablate from the user's files; edit "
            f"those, not this\n")
    files = {def_name: variant.definition, EXPERIMENT_FILE: head + experiment_text(
        exp, data, variant, def_name, params_name if variant.params is not None else None)}
    if variant.params is not None:
        files[params_name] = variant.params
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise NetdefError.at(folder, f"cannot write the variant's files "
                             f"({exc.strerror or exc})") from None
    return variant, folder / EXPERIMENT_FILE


def file_names(src: Sources) -> tuple[str, str]:
    """The names the variant's definition and params files take (the user's own names)."""
    if src.inline:
        definition = f"{Path(src.experiment_path).stem}-layers.cfg"
    else:
        definition = Path(src.definition.path).name
    params = Path(src.params.path).name if src.params is not None else "params.cfg"
    if params == definition:
        params = f"params-{params}"
    return tuple(f"net-{n}" if n == EXPERIMENT_FILE else n for n in (definition, params))


def experiment_text(exp: Experiment, data: str, variant: Variant, definition: str,
                    params: str | None) -> str:
    """The variant's ``[train]`` file: the resolved experiment, the variant's files and
    overrides; ``save`` and ``seed`` are given per run."""
    keys = exp.model_dump(by_alias=True)
    keys.pop("save", None)
    keys.update(layers=definition, params=params, data=data)
    keys.update(variant.overrides)
    return "\n".join(["[train]"] + [f"{k} = {_ini(v)}" for k, v in keys.items()
                                    if v is not None]) + "\n"


def _ini(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _check_all(written: dict[str, tuple[Variant, Path]], channels: int
               ) -> dict[str, CheckedNet]:
    """Each variant through the normal load (read, schema, check); all problems at once."""
    checked, problems = {}, []
    for name, (variant, path) in written.items():
        try:
            checked[name] = load(path, input_channels=channels)
        except NetdefError as exc:
            problems.append(Diagnostic(None, f"variant '{name}' of claim '{variant.claim}' "
                                             f"does not check ({path}):"))
            problems += exc.diagnostics
    if problems:
        raise NetdefError(problems)
    return checked


def _diff(base: Variant, variant: Variant, src: Sources, path: Path) -> str:
    """The variant's files against the base's, as one unified diff ('' when the same)."""
    if variant is base:
        return ""
    def_name, params_name = file_names(src)
    folder = path.parent
    pairs = [(base.definition, variant.definition, os.path.normpath(src.spec.path),
              folder / def_name)]
    if variant.params is not None:
        pairs.append((base.params or "", variant.params,
                      os.path.normpath(src.spec.params_path or params_name), folder / params_name))
    pairs.append((experiment_text(src.exp, "", base, def_name, params_name),
                  experiment_text(src.exp, "", variant, def_name, params_name),
                  folder.parent / base.name / EXPERIMENT_FILE, path))
    lines = []
    for old, new, a, b in pairs:
        lines += difflib.unified_diff(old.splitlines(), new.splitlines(), str(a), str(b),
                                      lineterm="", n=2)
    return "\n".join(lines)
