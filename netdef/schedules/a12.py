"""The 2012 AlexNet code's ``schedW``/``schedB``: multipliers of the layer's own epsW/epsB.

Grammar (the 2012 parser's, docs/language-guide.md "Schedules"): ``default``, or
``linear[tgtFactor=t,noiseStdev=s]``, ``exp[tgtFactor=t,noiseStdev=s]``,
``dexp[tgtFactor=t,noiseStdev=s,numSteps=n]``, ``jdexp[tgtFactor=t,noiseStdev=s,numSteps=n]``:
named parameters separated by commas, in that order, all required, names case-insensitive.
The 2012 parser refused ``;`` here, and so does netdef.

Each is cuda-convnet2's schedule of the same name with base 1; ``jdexp`` is the 2012 code's
"jumpy" dexp.  With noiseStdev s > 0 every update's value is multiplied by (1 + |z|·s),
z ~ N(0, 1) drawn per update (the 2012 LearningRateSchedule::getRate); the caller draws z
from a seeded stream (:mod:`netdef.optim`), so these functions draw nothing.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import Diagnostic, NetdefError, Span, did_you_mean
from .steps import INT_MAX, INTEGER, NUMBER, dexp_index, dexp_rate, number_text

_F = dict(allow_inf_nan=False)


class _A12(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class A12Default(_A12):
    """``default``: the layer's epsW/epsB unchanged (a multiplier of 1, no noise)."""
    kind: Literal["default"] = "default"


class _A12Targeted(_A12):
    """A multiplier falling to 1/t, with noise (fields in the order they are written)."""
    tgt_factor: float = Field(gt=0, **_F)
    noise_stdev: float = Field(ge=0, **_F)


class _A12Stepped(_A12Targeted):
    num_steps: int = Field(ge=1, le=INT_MAX)


class A12Linear(_A12Targeted):
    """``linear[tgtFactor=t,noiseStdev=s]``: (1−p) + p/t."""
    kind: Literal["linear"] = "linear"


class A12Exp(_A12Targeted):
    """``exp[tgtFactor=t,noiseStdev=s]``: t^(−p)."""
    kind: Literal["exp"] = "exp"


class A12Dexp(_A12Stepped):
    """``dexp[tgtFactor=t,noiseStdev=s,numSteps=n]``: t^(−p) in n steps, the last 1/t."""
    kind: Literal["dexp"] = "dexp"


class A12Jdexp(_A12Stepped):
    """``jdexp[tgtFactor=t,noiseStdev=s,numSteps=n]``: dexp, but past a step's midpoint
    (0.2 < p < 0.9) the geometric mean of that step's value and the previous one's."""
    kind: Literal["jdexp"] = "jdexp"


A12Schedule = Annotated[A12Default | A12Linear | A12Exp | A12Dexp | A12Jdexp,
                        Field(discriminator="kind")]
A12_MODELS = (A12Default, A12Linear, A12Exp, A12Dexp, A12Jdexp)
_BY_KIND = {m.model_fields["kind"].default: m for m in A12_MODELS}
A12_KINDS = tuple(_BY_KIND)
_WRITTEN = {"tgt_factor": "tgtFactor", "noise_stdev": "noiseStdev", "num_steps": "numSteps"}
_FIELD = {w.lower(): f for f, w in _WRITTEN.items()}
_OTHER_GRAMMAR = ("const", "plateau", "cosine", "warmup")


def _order(kind: str) -> list[str]:
    return [f for f in _BY_KIND[kind].model_fields if f != "kind"]


def _form(kind: str, values: dict[str, str] | None = None) -> str:
    """``dexp[tgtFactor=..,noiseStdev=..,numSteps=..]``, with the values known filled in."""
    values = values or {}
    fields = _order(kind)
    if not fields:
        return kind
    items = [f"{_WRITTEN[f]}={values.get(f, '0' if f == 'noise_stdev' and values else '..')}"
             for f in fields]
    return f"{kind}[{','.join(items)}]"


FORMS = {k: _form(k) for k in A12_KINDS}


class _Bad(Exception):
    """One problem; :func:`parse_a12` turns it into a NetdefError."""


def _items(kind: str, inner: str) -> list[tuple[str, str, str]]:
    """(field, written name, value) per ``name=value``, in written order."""
    out = []
    for item in re.split(r"[,;]", inner):
        key, eq, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key:
            raise _Bad(f"bad parameter '{item.strip()}' in '{kind}' (expected name=value; "
                       f"{_form(kind)})")
        field = _FIELD.get(key.lower())
        if key.lower() == "base":
            raise _Bad(f"'{kind}' in schedW/schedB has no 'base': it multiplies the layer's "
                       f"epsW/epsB ({_form(kind)})")
        if field is None or field not in _order(kind):
            hint = did_you_mean(key, [_WRITTEN[f] for f in _order(kind)])
            raise _Bad(f"'{kind}' has no parameter '{key}'{hint} ({_form(kind)})")
        out.append((field, key, raw))
    return out


def _value(kind: str, field: str, raw: str) -> float | int:
    model = _BY_KIND[kind]
    if field == "num_steps":
        if not INTEGER.fullmatch(raw) or not 1 <= int(raw) <= INT_MAX:
            raise _Bad(f"'numSteps' must be an integer >= 1 (got '{raw}')")
        return int(raw)
    x = float(raw) if NUMBER.fullmatch(raw) else math.nan
    low = model.model_fields[field].metadata
    positive = any(getattr(m, "gt", None) == 0 for m in low)
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise _Bad(f"'{_WRITTEN[field]}' must be a number {'> 0' if positive else '>= 0'} "
                   f"(got '{raw}')")
    return x


def _parse(text: str) -> A12Schedule:
    m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*(?:\[(.*)\])?\s*", text)
    if m is None:
        raise _Bad(f"expected one of {', '.join(FORMS.values())} (the 2012 code's schedules)")
    name, inner = m.group(1), m.group(2)
    kind = name.lower()
    if kind in _OTHER_GRAMMAR:
        raise _Bad(f"'{name}' is a schedule for epsW/epsB (cuda-convnet2's grammar); schedW/"
                   f"schedB take the 2012 code's: {', '.join(FORMS.values())}")
    if kind not in _BY_KIND:
        hint = did_you_mean(name, A12_KINDS) or f" (expected one of {', '.join(A12_KINDS)})"
        raise _Bad(f"unknown schedule '{name}'{hint}")
    if kind == "default":
        if inner is not None:
            raise _Bad("'default' takes no parameters (write just 'default')")
        return A12Default()
    if inner is None:
        raise _Bad(f"'{kind}' needs its parameters: {_form(kind)}")
    items = _items(kind, inner)
    given = {f: raw for f, _, raw in items}
    if ";" in inner:
        raise _Bad(f"the 2012 parser separates schedW/schedB parameters with ',' and refused "
                   f"';': write {_form(kind, given)}")
    names = [f for f, _, _ in items]
    missing = [_WRITTEN[f] for f in _order(kind) if f not in given]
    if missing:
        raise _Bad(f"'{kind}' needs every parameter, as the 2012 parser did (missing "
                   f"{', '.join(repr(n) for n in missing)}): write {_form(kind, given)}")
    if len(names) != len(set(names)):
        dup = next(n for n in names if names.count(n) > 1)
        raise _Bad(f"duplicate parameter '{_WRITTEN[dup]}' in '{kind}'")
    if names != _order(kind):
        raise _Bad(f"'{kind}' takes its parameters in the 2012 parser's fixed order "
                   f"{', '.join(_WRITTEN[f] for f in _order(kind))} (got "
                   f"{', '.join(w for _, w, _ in items)}): write {_form(kind, given)}")
    return _BY_KIND[kind](**{f: _value(kind, f, raw) for f, _, raw in items})


def parse_a12(text: str, span: Span | None = None, what: str = "") -> A12Schedule:
    """Parse a ``schedW``/``schedB`` value; bad input raises NetdefError (one diagnostic)."""
    try:
        return _parse(text)
    except _Bad as bad:
        raise NetdefError([Diagnostic(span, f"{what}: {bad}" if what else str(bad))]) from None


def format_a12(s: A12Schedule) -> str:
    """The written form; :func:`parse_a12` reads it back."""
    values = {f: number_text(getattr(s, f)) for f in _order(s.kind)}
    return _form(s.kind, values) if values else s.kind


def multiplier_at(s: A12Schedule, p: float, noise: float = 0.0) -> float:
    """The multiplier at progress p in [0, 1], times (1 + |noise|·noiseStdev)."""
    if isinstance(s, A12Default):
        return 1.0
    t = s.tgt_factor
    if isinstance(s, A12Linear):
        value = (1 - p) + p / t
    elif isinstance(s, A12Exp):
        value = t ** (-p)
    else:
        n, k = s.num_steps, dexp_index(p, s.num_steps)
        value = dexp_rate(1.0, t, n, k)
        # the 2012 JumpyDiscreteExpLRS (AlexNet source src/lr.cu, "variant 2"): past a step's
        # midpoint, for 0.2 < p < 0.9 and any step but the first, the geometric mean of this
        # step's value and the previous step's
        if isinstance(s, A12Jdexp) and k > 0 and 0.2 < p < 0.9 and p > (k + 0.5) / n:
            value = math.sqrt(value * dexp_rate(1.0, t, n, k - 1))
    return value * (1 + abs(noise) * s.noise_stdev)
