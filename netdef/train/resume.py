"""Continuing a run (``--resume DIR``) and starting from another run's weights (``--init-from``).

docs/design.md §4: resume continues at the next batch with the same data order and random draws,
re-reads the params file (edited rates take effect), and refuses a changed definition unless
forced, printing the diff.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path

import torch

from ..checkpoint import Checkpoint, read_checkpoint
from ..errors import NetdefError
from .events import Message, OnEvent
from .rundir import CKPT, RunDir, read_record
from .state import TrainState

MAX_DIFF_LINES = 60


def open_run(folder: str | Path) -> tuple[RunDir, Checkpoint]:
    """The run folder to resume and its latest checkpoint; refuse one with none."""
    run = RunDir(Path(folder))
    if not run.path.is_dir():
        raise NetdefError.at(run.path, "no such run folder to resume")
    if not run.ckpt.is_file():
        raise NetdefError.at(run.path, f"holds no checkpoint ({CKPT}) to resume from; start a "
                             f"new run with --save {run.path} (without --resume)")
    return run, read_checkpoint(run.ckpt)


def with_recorded(options, on_event: OnEvent):
    """``--resume DIR``: the options completed from the run's run.yaml. The experiment file is
    the recorded one unless given, and the recorded command-line overrides apply again, those
    given now winning; a Message says what was taken. (``options`` is a TrainOptions.)"""
    source, recorded = read_record(options.resume)
    experiment = options.experiment or source
    if not Path(experiment).is_file():
        raise NetdefError.at(Path(options.resume) / "run.yaml",
                             f"the run's experiment file {source} is gone; give it: netdef "
                             f"train EXPERIMENT --resume {options.resume}")
    recorded = {k: v for k, v in recorded.items() if k != "save"}  # the run folder is DIR
    given = dict(options.overrides)
    taken = ([] if options.experiment else [_shown(experiment)]) + [
        f"{k}={v}" for k, v in recorded.items() if k not in given]
    now = ([_shown(experiment)] if options.experiment else []) + [
        f"{k}={v}" for k, v in given.items()]
    was = [f"{k}={recorded[k]}" for k, v in given.items() if recorded.get(k, v) != v]
    given_how = "given" + (", was " + " ".join(was) if was else "")
    said = [f"{' '.join(words)} ({how})" for words, how in ((taken, "recorded"),
                                                             (now, given_how)) if words]
    on_event(Message(f"resuming {options.resume}: " + ", ".join(said)))
    return dataclasses.replace(options, experiment=experiment, overrides={**recorded, **given})


def _shown(path: str) -> str:
    """A path relative to the working folder when it lies inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def definition_diff(old: str, new: str, path: str) -> str:
    """A unified diff of the definition the run used against the file as it is now."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(),
                                      f"{path} (in the checkpoint)", f"{path} (now)", lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return "\n".join(lines)


def check_definition(ckpt: Checkpoint, text: str, path: str, force: bool) -> str | None:
    """None when unchanged; the diff when changed and forced; NetdefError otherwise."""
    old = ckpt.definition
    if old == text:
        return None
    diff = definition_diff(old, text, path)
    if not force:
        raise NetdefError.at(path, f"the definition changed since the run's checkpoint; resuming "
                             f"would train a different net. Pass --force to resume anyway (layers "
                             f"whose weights still fit are kept), or start a new run.\n{diff}")
    return diff


def copy_weights(net, weights: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Copy every tensor whose name and shape match; returns (copied, skipped with reasons)."""
    copied, skipped = [], []
    own = net.state_dict()
    with torch.no_grad():
        for name, target in own.items():
            src = weights.get(name)
            if src is None:
                skipped.append(f"{name} (not in the checkpoint)")
            elif tuple(src.shape) != tuple(target.shape):
                skipped.append(f"{name} (shape {tuple(src.shape)} in the checkpoint, "
                               f"{tuple(target.shape)} here)")
            else:
                target.copy_(src.to(target.device, target.dtype))
                copied.append(name)
    for name in weights:
        if name not in own:
            skipped.append(f"{name} (no such tensor in this net)")
    return copied, skipped


def restore(net, opt, ckpt: Checkpoint, force: bool) -> tuple[TrainState, list[str]]:
    """Put weights, momenta and progress back; returns the state and what was skipped (only
    possible with --force after a definition change). Generator states that older
    checkpoints hold are ignored: every stream is keyed by position (:mod:`.streams`)."""
    try:
        state = TrainState.from_dict(ckpt.state)
    except (KeyError, TypeError, ValueError) as exc:
        raise NetdefError(f"the checkpoint's training state is damaged ({exc})") from None
    _, skipped = copy_weights(net, ckpt.weights)
    if skipped and not force:
        raise NetdefError("the checkpoint's weights do not fit the net: " + "; ".join(skipped))
    opt.load_momentum_buffers(ckpt.momentum)
    return state, skipped


def init_from(net, path: str | Path) -> tuple[list[str], list[str]]:
    """``--init-from CKPT``: another run's weights, by layer name and shape (docs/design.md
    §4)."""
    return copy_weights(net, read_checkpoint(path).weights)
