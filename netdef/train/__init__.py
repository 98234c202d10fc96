"""Training (docs/design.md §4): the loop, the step, the random streams, run folders,
checkpoints, resume.

    from netdef.train import TrainOptions, train
    result = train(TrainOptions("examples/quickstart.cfg"), on_event=print)

The library reports through ``on_event`` (see :mod:`netdef.train.events`); it never prints.
"""

from ..checkpoint import read_checkpoint, write_checkpoint
from .events import Checkpointed, EpochStarted, Finished, Health, Message, Progress, Started, Tested
from .loop import TrainingDiverged, train
from .metrics import StepResult
from .session import TrainOptions
from .signals import StopFlag
from .step import make_train_step
from .streams import Streams

__all__ = ["train", "TrainOptions", "TrainingDiverged", "StopFlag", "read_checkpoint",
           "write_checkpoint", "Checkpointed", "EpochStarted", "Finished", "Health",
           "Message", "Progress", "Started", "Tested", "make_train_step", "StepResult",
           "Streams"]
