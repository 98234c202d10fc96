"""Training (DESIGN.md §4): the loop, run folders, checkpoints, resume.

    from netdef.train import TrainOptions, train
    result = train(TrainOptions("examples/quickstart.cfg"), on_event=print)

The library reports through ``on_event`` (see :mod:`netdef.train.events`); it never prints.
"""

from ..checkpoint import load_checkpoint, save_checkpoint
from .events import (Checkpointed, EpochStarted, Finished, Health, Message, Progress,
                     Started, Tested)
from .loop import TrainingDiverged, train
from .session import TrainOptions
from .signals import StopFlag

__all__ = ["train", "TrainOptions", "TrainingDiverged", "StopFlag", "load_checkpoint",
           "save_checkpoint", "Checkpointed", "EpochStarted", "Finished", "Health",
           "Message", "Progress", "Started", "Tested"]
