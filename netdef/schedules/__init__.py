"""Learning-rate schedules (docs/language-guide.md "Schedules").

Two grammars: cuda-convnet2's (and netdef's extensions) inside ``epsW``/``epsB``
(:mod:`.rates`), and the 2012 AlexNet code's ``schedW``/``schedB`` multipliers (:mod:`.a12`).
"""

from .a12 import (
    A12_KINDS,
    A12Default,
    A12Dexp,
    A12Exp,
    A12Jdexp,
    A12Linear,
    A12Schedule,
    format_a12,
    multiplier_at,
    parse_a12,
)
from .rates import (
    SCHEDULE_KINDS,
    Const,
    Cosine,
    Dexp,
    Exp,
    Linear,
    Plateau,
    Schedule,
    Warmup,
    format_schedule,
    lr_at,
    parse_schedule,
    plateau_drops,
    schedule_base,
)

__all__ = ["Const", "Linear", "Exp", "Dexp", "Plateau", "Cosine", "Warmup", "Schedule",
           "SCHEDULE_KINDS", "parse_schedule", "format_schedule", "lr_at", "plateau_drops",
           "schedule_base", "A12Default", "A12Linear", "A12Exp", "A12Dexp", "A12Jdexp",
           "A12Schedule", "A12_KINDS", "parse_a12", "format_a12", "multiplier_at"]
