"""Everything a run needs before its first batch: the experiment, the checked net, the data,
the compiled net and its optimizer, the run folder, and (on resume) the restored state."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..check import CheckedNet, check_net, params_candidates
from ..check.load import declared_channels, experiment_files
from ..check.rules import OUTPUTS_BEYOND_CLASSES
from ..compiler.compile import device_names
from ..errors import Diagnostic, NetdefError, Span
from ..schema import Experiment, NetSpec, build_spec, read_experiment
from ..schema.build import NEEDS_PARAMS
from .distributed import SINGLE, Dist, broadcast_params, init, rank_devices
from .events import Message, OnEvent
from .resume import check_definition, init_from, open_run, restore, with_recorded
from .rundir import RunDir
from .state import TrainState
from .streams import Streams

if TYPE_CHECKING:  # the data stage (and numpy) load when a session opens its data
    from ..compiler import Net
    from ..data import PackedData
    from ..optim import NetdefSGD


@dataclass
class TrainOptions:
    """What ``netdef train`` was asked to do. With ``resume``, ``experiment`` may be None: the
    run's recorded one is taken, with its recorded overrides (those given here win)."""

    experiment: str | None
    _: KW_ONLY
    overrides: dict[str, str] = field(default_factory=dict)
    resume: str | None = None
    force: bool = False
    init_from: str | None = None
    allow_init_funcs: bool = False


@dataclass(kw_only=True)
class Session:
    """A run ready to train."""

    exp: Experiment
    exp_path: str
    run: RunDir
    checked: CheckedNet
    net: Net
    opt: NetdefSGD
    dataset: PackedData
    devices: list[str]
    state: TrainState
    batches_per_epoch: int
    resumed: bool
    paths: dict[str, str | None]
    dist: Dist = SINGLE
    streams: Streams = Streams(seed=0)  # every random stream of the run (streams.py)
    overrides: dict[str, str] = field(default_factory=dict)  # the command line's, for run.yaml

    @property
    def texts(self) -> dict[str, str]:
        return self.checked.spec.texts

    @property
    def data_device(self) -> str:
        return self.devices[0]

    @property
    def total_steps(self) -> int:
        return self.exp.epochs * self.batches_per_epoch

    def experiment_record(self) -> dict:
        """The resolved experiment (defaults filled, paths made absolute) for run.yaml."""
        record = self.exp.model_dump(by_alias=True)
        record["save"] = str(self.run.path.resolve())
        record["data"] = data_source(self.exp, self.exp_path)
        record["devices-used"] = list(self.devices)
        return record


def data_source(exp: Experiment, exp_path: str) -> str:
    """``data`` resolved: builtin names as written, paths relative to the experiment file."""
    if exp.data.startswith("builtin:"):
        return exp.data
    return str((Path(exp_path).parent / Path(exp.data).expanduser()).resolve())


def save_folder(exp: Experiment, exp_path: str) -> Path:
    """``save`` relative to the experiment file; default ``runs/<stem>`` in the working folder."""
    if exp.save:
        return Path(exp_path).parent / Path(exp.save).expanduser()
    return Path("runs") / Path(exp_path).stem


def _spec(options: TrainOptions, exp: Experiment, inline, classes: int | None,
          channels: int | None = None) -> tuple[NetSpec, CheckedNet]:
    """The spec and the checked net; ``channels`` is the data's (before the data is open: the
    experiment's ``channels``, else the count the net's first layers declare). The schema's
    errors and the check's are raised together, as ``netdef check`` reports them."""
    definition, params_doc = experiment_files(options.experiment, exp, inline, None)
    spec = build_spec(definition, params_doc, defer_errors=True)
    if spec.params_mode == "none" and any(
        layer.type in NEEDS_PARAMS for layer in spec.layers.values()
    ):
        looked = ", ".join(map(str, params_candidates(spec.path)))
        raise NetdefError(spec.diagnostics + [Diagnostic(
            Span(options.experiment), f"[train]: the net has no learning parameters: no "
            f"'params' key, and no params file beside the definition (looked for {looked})")])
    if channels is None:
        channels = exp.channels if exp.channels != "auto" else declared_channels(spec)
    return spec, check_net(spec, exp.inner_size, channels, classes, options.allow_init_funcs)


def _open_data(exp: Experiment, options: TrainOptions, on_event: OnEvent):
    from ..data import open_dataset

    source = data_source(exp, options.experiment)
    if not source.startswith("builtin:") and not Path(source).exists():
        span = exp.span_of("data")
        raise NetdefError([Diagnostic(span, (
            f"[train]: data folder not found: {source}. Expected an image folder in ImageNet "
            f"layout: ROOT/train/<class>/*.JPEG and ROOT/val/<class>/* (or ROOT/val/ with "
            f"ROOT/val.txt), one folder per class, MNIST-format (IDX) files, CIFAR python "
            f"batches, or a packed cache made by 'netdef prep'. To try the pipeline "
            f"without data, pass --data builtin:shapes"))])
    from ..data import DataOptions

    return open_dataset(source, options=DataOptions.from_experiment(exp), on_event=on_event)


def _check_batches(exp: Experiment, dataset, options: TrainOptions) -> int:
    batches = dataset.num_train // exp.batch_size
    if batches == 0:
        span = exp.span_of("batch-size")
        raise NetdefError([Diagnostic(span, f"[train]: 'batch-size' {exp.batch_size} is larger "
                                            f"than the training set ({dataset.num_train} images); "
                                            f"no full batch can be drawn")])
    return batches


def open_session(options: TrainOptions, on_event: OnEvent, dist: Dist = SINGLE) -> Session:
    """Read, check, load data, compile and restore; every bad input raises NetdefError.

    Under torchrun (``dist.active``) every rank prepares the whole net on its own devices and
    joins the process group; rank 0 opens (and, the first time, packs) the data first."""
    run, ckpt = open_run(options.resume) if options.resume else (None, None)
    if options.resume:
        options = with_recorded(options, on_event)
    overrides = dict(options.overrides)
    if options.resume:
        overrides["save"] = str(Path(options.resume).resolve())
    exp, inline = read_experiment(options.experiment, overrides)
    if run is None:
        run = RunDir(save_folder(exp, options.experiment))
        run.refuse_existing()
    spec, first = _spec(options, exp, inline, None)  # definition errors before any data work
    devices = rank_devices(exp.devices, first.num_devices, dist, device_names)
    init(dist, devices)
    if ckpt is not None:
        diff = check_definition(ckpt, spec.texts.get("def", ""), spec.path, options.force)
        if diff:
            on_event(Message(f"resuming with a changed definition (--force):\n{diff}", "warning"))
    dataset = _open_rank_data(exp, options, on_event, dist)
    try:
        spec, checked = _spec(options, exp, inline, len(dataset.classes), dataset.channels)
    except NetdefError as exc:
        raise _with_channels_note(exc, spec, dataset, exp) from None
    if dataset.channels != 3 and exp.color_noise > 0:
        on_event(Message(f"the data has {dataset.channels} channel(s): no PCA colour noise "
                         f"(color-noise {exp.color_noise} applies to RGB data only)", "note"))
    for d in checked.diagnostics:
        if d.code == OUTPUTS_BEYOND_CLASSES:
            on_event(Message(d.message, "note"))
    batches = _check_batches(exp, dataset, options)
    _note_replicas(checked, dist, on_event)
    from ..compiler import compile_net
    from ..optim import build_optimizer

    streams = Streams(exp.seed)
    if any(d.startswith("cuda") for d in devices):
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    net = compile_net(checked, devices if len(devices) > 1 else devices[0],
                      seed=streams.init_seed)
    net.train()
    opt = build_optimizer(net, seed=streams.init_seed)
    state = TrainState()
    if ckpt is not None:
        state, skipped = restore(net, opt, ckpt, options.force)
        _report_skipped("resume", skipped, on_event)
    elif options.init_from:
        copied, skipped = init_from(net, options.init_from)
        on_event(Message(f"--init-from {options.init_from}: copied {len(copied)} tensor(s)"))
        _report_skipped("--init-from", skipped, on_event)
    broadcast_params(dist, net)  # the replicas start equal, whatever each rank drew or read
    paths = {"experiment": options.experiment, "definition": spec.path,
             "params": spec.params_path}
    return Session(exp=exp, exp_path=options.experiment, run=run, checked=checked, net=net,
                   opt=opt, dataset=dataset, devices=devices, state=state,
                   batches_per_epoch=batches, resumed=ckpt is not None, paths=paths, dist=dist,
                   streams=streams, overrides=options.overrides)


def _with_channels_note(exc: NetdefError, spec: NetSpec, dataset: PackedData,
                        exp: Experiment) -> NetdefError:
    """A check error on data whose channel count differs from the net's, with one more error
    saying where the data's count came from and how to change it."""
    wanted = declared_channels(spec)
    if wanted == dataset.channels:
        return exc
    note = Diagnostic(exp.span_of("channels"),
                      f"the data has {dataset.channels} channel(s) "
                      f"({dataset.meta.get('channels_reason', 'as packed')}) but the net reads "
                      f"{wanted}: set 'channels = {wanted}' in [train] to pack the data so")
    return NetdefError(exc.diagnostics + [note])


def _open_rank_data(exp: Experiment, options: TrainOptions, on_event: OnEvent, dist: Dist):
    """Rank 0 opens the data first (packing a missing cache once); the others then read it."""
    if not dist.active:
        return _open_data(exp, options, on_event)
    dataset = _open_data(exp, options, on_event) if dist.main else None
    torch.distributed.barrier()
    return dataset if dataset is not None else _open_data(exp, options, on_event)


def _note_replicas(checked, dist: Dist, on_event: OnEvent) -> None:
    """A V2 replica file (``gpu=0,1``) runs as one replica in a plain process."""
    if dist.active:
        return
    replicated = [name for name, info in checked.layers.items()
                  if getattr(info, "replicas", 1) > 1]
    if replicated:
        on_event(Message(f"replicas declared (layer '{replicated[0]}'); running a single "
                         f"replica — use torchrun for data parallelism", "note"))


def _report_skipped(what: str, skipped: list[str], on_event: OnEvent) -> None:
    if skipped:
        on_event(Message(f"{what}: skipped {len(skipped)} tensor(s): " + "; ".join(skipped),
                         "warning" if what == "resume" else "note"))
