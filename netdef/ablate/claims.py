"""The paper's claims about its ingredients, and the variant(s) that test each one.

Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012. Every claim says an ingredient helps, so removing it should raise the
measured number: the variant minus the base should be positive ("the paper's sign").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Diagnostic, did_you_mean
from . import transform as T
from .towers import one_tower

VAL_TOP1 = "val_top1"  # the last test's validation top-1 error
STEPS = "steps_to_threshold"  # the first step whose logged training error is at the threshold
GAP = "gap"  # validation minus training top-1 error: how much a run overfits


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim: what the paper reports, what is measured, and how the variants are made."""

    name: str
    paper: str
    where: str  # the paper's section or figure
    metric: str  # VAL_TOP1 or STEPS: the number the verdict is about
    variants: Callable[[T.Sources], list[T.Variant]]
    # Numbers reported beside it (the paper's other statements), each with the sign of
    # variant − base the paper predicts: dropout "roughly doubles the iterations required to
    # converge", so without it the steps should fall (−1).
    also: tuple[tuple[str, int], ...] = ()


def _one(make: Callable[[T.Sources], T.Variant]) -> Callable[[T.Sources], list[T.Variant]]:
    return lambda src: [make(src)]


CLAIMS: dict[str, Claim] = {c.name: c for c in (
    Claim(name="relu", where="§3.1, Figure 1", metric=STEPS,
          paper="a net of ReLUs reaches 25% training error six times faster than the same net "
                "of tanh units (a four-layer conv net on CIFAR-10)",
          variants=_one(T.relu_to_tanh), also=((VAL_TOP1, 1),)),
    Claim(name="lrn", where="§3.3", metric=VAL_TOP1,
          paper="response normalisation reduces top-1 and top-5 error by 1.4% and 1.2% "
                "(ImageNet), and test error from 13% to 11% on CIFAR-10 with a four-layer net",
          variants=_one(T.without_lrn)),
    Claim(name="overlap-pool", where="§3.4", metric=VAL_TOP1,
          paper="overlapping pooling (z=3, s=2) reduces top-1 and top-5 error by 0.4% and 0.3% "
                "against z=2, s=2 of the same output size, and overfits slightly less",
          variants=_one(T.non_overlapping_pools), also=((GAP, 1),)),
    Claim(name="dropout", where="§4.2", metric=VAL_TOP1,
          paper="without dropout the network overfits substantially; dropout roughly doubles "
                "the iterations needed to converge",
          variants=_one(T.without_dropout), also=((GAP, 1), (STEPS, -1))),
    Claim(name="augment", where="§4.1", metric=VAL_TOP1,
          paper="without random crops and their mirrors the network overfits substantially; "
                "PCA lighting noise reduces top-1 error by over 1%",
          variants=T.augment_variants, also=((GAP, 1),)),
    Claim(name="ten-view", where="§4.1", metric=VAL_TOP1,
          paper="at test time the softmax is averaged over ten patches (four corners, the "
                "centre, and their mirrors)",
          variants=_one(T.one_view)),
    Claim(name="towers", where="§3.2", metric=VAL_TOP1,
          paper="two towers on two GPUs reduce top-1 and top-5 error by 1.7% and 1.2% against "
                "one tower with half the kernels per convolutional layer",
          variants=_one(one_tower)),
)}


def known_claims() -> list[str]:
    return list(CLAIMS)


def claims_named(names: list[str] | tuple[str, ...]) -> tuple[list[Claim], list[Diagnostic]]:
    """The known claims in the order given (each once), and one diagnostic per unknown name."""
    unknown = [_unknown(n) for n in dict.fromkeys(names) if n not in CLAIMS]
    return [CLAIMS[n] for n in dict.fromkeys(names) if n in CLAIMS], unknown


def _unknown(name: str) -> Diagnostic:
    hint = did_you_mean(name, CLAIMS) or f" (expected one of {', '.join(CLAIMS)})"
    return Diagnostic(None, f"unknown claim '{name}'{hint}")
