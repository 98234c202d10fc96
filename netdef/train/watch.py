"""Early, honest warnings about a run going wrong: a cost that diverges, a net that does not
learn. The loop feeds each report's averages in; the texts name likely causes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .metrics import Averages

FAR = 3.0             # a classifier's nll over FAR · ln(classes) is far above chance
GROWTH = 10.0         # without a classifier: a cost over GROWTH × its lowest so far
RISE = 2.0            # growing: above the last report and over RISE × the lowest so far
STUCK_TOLERANCE = 0.03  # a training nll within 3 % of ln(classes) all epoch …
STUCK_ERROR = 0.9     # … and an error rate of at least 90 % of chance's (1 − 1/classes)
STUCK_MIN_STEPS = 100  # … after at least this many steps: a shorter run is too short to judge
CAUSES = ("Likely causes: learning rates too high (epsW/epsB); initW too large for the layer's "
          "inputs; or the input scale: netdef feeds raw pixel values 0–255 minus the mean "
          "image (not 0–1), so the first layer's initW and epsW must suit inputs of that size")


def fmt(x: float | None) -> str:
    """A number for a message: fixed point from 0.001 to 10⁵, scientific outside it (so a
    blown-up cost reads 9.000e+33, not thirty-four digits), ``nan``/``inf`` as such."""
    if x is None:
        return "-"
    if x == 0 or (math.isfinite(x) and 1e-3 <= abs(x) < 1e5):
        return f"{x:.4f}"
    return f"{x:.3e}"


@dataclass
class DivergenceWatch:
    """Says when the training cost is far above where it should be and growing.

    With a classifier the yardstick is chance, ln(classes) (a net guessing uniformly); without
    one it is the lowest cost seen so far. Growing means above the previous report and over
    twice the lowest so far, so that a cost that starts high and falls unevenly (a large
    initW) is not taken for one that blows up. ``check`` returns a warning text the first
    time (and again after a recovery), None otherwise."""

    classes: int | None  # None: no classifier, judge the summed cost
    previous: float | None = None
    lowest: float = math.inf

    def value(self, avg: Averages) -> float:
        return avg.nll if self.classes and avg.nll is not None else avg.loss

    def far(self, value: float) -> bool:
        if self.classes:
            return value > FAR * math.log(max(self.classes, 2))
        return self.lowest > 0 and value > GROWTH * self.lowest

    def check(self, avg: Averages, step: int, diverging: bool) -> tuple[bool, str | None]:
        """(diverging now, text to say): a warning when it begins, a note when it ends."""
        value = self.value(avg)
        far = self.far(value)
        growing = self.previous is not None and value > max(self.previous, RISE * self.lowest)
        self.previous, self.lowest = value, min(self.lowest, value)
        if not diverging and far and growing:
            return True, self.warning(value, step)
        if diverging and not far:
            return False, (f"step {step}: the training cost is back to {fmt(value)}; "
                           f"checkpoints written from now on are trusted again")
        return diverging, None

    def warning(self, value: float, step: int) -> str:
        if self.classes:
            chance = math.log(max(self.classes, 2))
            what = (f"the training nll {fmt(value)} is far above ln({self.classes}) = "
                    f"{chance:.3f} (chance)")
        else:
            what = (f"the training cost {fmt(value)} is over {GROWTH:g}× its lowest so far "
                    f"({fmt(self.lowest)})")
        return (f"step {step}: {what} and growing: training is diverging. {CAUSES}. "
                f"Checkpoints written from now on are not recommended")


def stuck_warning(windows: list[Averages], classes: int, epoch: int, *,
                  steps: int) -> str | None:
    """The "not learning" text when every report of the epoch had a classifier nll within 3 %
    of ln(classes) and the epoch's error rate was near chance's; None otherwise (an nll near
    chance with a low error is a net that ranks well with flat probabilities: learning).

    ``steps`` is the run's step count so far: under ``STUCK_MIN_STEPS`` (100) updates a net
    has not had the time to leave chance (``ablate --quick`` runs 3), so nothing is said."""
    nlls = [w.nll for w in windows if w.nll is not None]
    if steps < STUCK_MIN_STEPS or not nlls or len(nlls) != len(windows) or classes < 2:
        return None
    chance = math.log(classes)
    images = sum(w.images for w in windows)
    error = sum(w.top1_err * w.images for w in windows) / max(images, 1)
    chance_error = 1 - 1 / classes
    if all(abs(x - chance) < STUCK_TOLERANCE * chance for x in nlls) \
            and error >= STUCK_ERROR * chance_error:
        return (f"epoch {epoch}: the training nll stayed at ln({classes}) = {chance:.3f} "
                f"(chance) and the error at {100 * error:.1f}% (chance {100 * chance_error:.1f}%)"
                f" for the whole epoch: the net is not learning. Check the rates (epsW), "
                f"initW and the labels")
    return None
