"""Learning-rate schedules in ``epsW``/``epsB``: cuda-convnet2's grammar and netdef's own
(docs/language-guide.md "Schedules").

An ``epsW``/``epsB`` item is a bare number (a constant) or ``name[param=value;...]``.
Names and parameter names are case-insensitive and parameters may come in any order
(cuda-convnet2 wanted a fixed order; a deliberate difference).  ``warmup[...;then=<schedule>]``
nests a schedule, so ``;`` splits parameters only outside brackets.  The 2012 code's separate
``schedW``/``schedB`` multipliers have their own grammar (:mod:`netdef.schedules.a12`).

Every schedule is a pure function of training progress p in [0, 1]; ``plateau`` also
reads the history of validation errors, and an A12 multiplier's noise is a standard-normal
sample handed in by the caller, so :func:`lr_at` keeps no state and draws no numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import Diagnostic, NetdefError, Span, did_you_mean
from . import a12
from .steps import INT_MAX, NUMBER, dexp_index, dexp_rate, number_text

__all__ = ["Const", "Linear", "Exp", "Dexp", "Plateau", "Cosine", "Warmup", "Schedule",
           "SCHEDULE_KINDS", "parse_schedule", "format_schedule", "lr_at", "plateau_drops",
           "schedule_base"]

_F = dict(allow_inf_nan=False)  # every float field must be finite


class _Sched(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Based(_Sched):
    """A schedule of the rate from ``base`` (fields in the order they are written)."""
    base: float = Field(ge=0, **_F)


class _Targeted(_Based):
    tgt_factor: float = Field(gt=0, **_F)


class Const(_Based):
    """``const[base=b]`` or a bare number: b at every p."""
    kind: Literal["const"] = "const"


class Linear(_Targeted):
    """``linear[base=b;tgtFactor=t]``: b·(1−p) + (b/t)·p (cuda-convnet2 LinearParameterSchedule)"""
    kind: Literal["linear"] = "linear"


class Exp(_Targeted):
    """``exp[base=b;tgtFactor=t]``: b·t^(−p) (cuda-convnet2 ExpParameterSchedule)."""
    kind: Literal["exp"] = "exp"


class Dexp(_Targeted):
    """``dexp[base=b;tgtFactor=t;numSteps=n]``: exp sampled at n steps, last step b/t."""
    kind: Literal["dexp"] = "dexp"
    num_steps: int = Field(ge=1, le=INT_MAX)


class Plateau(_Based):
    """``plateau[base=b;factor=f;patience=k;min=m]``: the paper's rule, × f when the
    validation error has not improved for k tests.  The default patience of 1 is the
    paper's literal rule (drop as soon as a test fails to improve); raise it when tests
    are frequent and noisy."""
    kind: Literal["plateau"] = "plateau"
    factor: float = Field(0.1, gt=0, le=1, **_F)
    patience: int = Field(1, ge=1)
    min: float = Field(0.0, ge=0, **_F)


class Cosine(_Based):
    """``cosine[base=b;final=f]``: f + (b−f)·(1+cos(πp))/2."""
    kind: Literal["cosine"] = "cosine"
    final: float = Field(0.0, ge=0, **_F)


class Warmup(_Sched):
    """``warmup[length=l;start=s;then=<schedule>]``: over p in [0, l] the inner value times a
    factor rising linearly from s to 1; from p = l on, the inner schedule itself."""
    kind: Literal["warmup"] = "warmup"
    length: float = Field(gt=0, le=1, **_F)
    start: float = Field(0.0, ge=0, **_F)
    then: Schedule


_SCHEDULES = (Const, Linear, Exp, Dexp, Plateau, Cosine, Warmup)
# Union over a tuple of models: the one spelling `X | Y` has no form for
Schedule = Annotated[Union[_SCHEDULES], Field(discriminator="kind")]  # noqa: UP007
Warmup.model_rebuild()

_MODELS: dict[str, type[_Sched]] = {m.model_fields["kind"].default: m for m in _SCHEDULES}
SCHEDULE_KINDS: tuple[str, ...] = tuple(_MODELS)
# The written (canonical) parameter name of each model field: tgt_factor -> tgtFactor.
_WRITTEN = {f: re.sub(r"_(\w)", lambda m: m[1].upper(), f)
            for m in _MODELS.values() for f in m.model_fields}
_MAX_DEPTH = 16  # nested then= levels; keeps hostile input from recursing without end


class _Bad(Exception):
    """One parse problem; :func:`parse_schedule` turns it into a located NetdefError."""


def _fields(model: type[_Sched]) -> list[str]:
    return [f for f in model.model_fields if f != "kind"]


def _rule(model: type[_Sched], field: str) -> str:
    """'a number > 0', 'an integer >= 1', ... read off the field's own constraints."""
    info = model.model_fields[field]
    parts = [f"{op} {number_text(getattr(m, attr))}" for m in info.metadata
             for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
             if getattr(m, attr, None) is not None]
    noun = "an integer" if info.annotation in (int, "int") else "a number"
    return " ".join([noun, " and ".join(parts)]).strip()


def _expected(kind: str) -> str:
    model = _MODELS[kind]
    req = [_WRITTEN[f] for f in _fields(model) if model.model_fields[f].is_required()]
    return f"{kind}[{';'.join(p + '=..' for p in req)}]"


def _items(rest: str) -> tuple[list[str], int]:
    """Split ``[a;b;...]`` at the ``;`` outside nested brackets: the items, and the index
    of the closing ``]`` (-1 when it is missing)."""
    items, depth, start = [], 0, 1
    for i, ch in enumerate(rest):
        depth += (ch == "[") - (ch == "]")
        if depth == 0:
            return items + [rest[start:i]], i
        if ch == ";" and depth == 1:
            items, start = items + [rest[start:i]], i + 1
    return items, -1


def _value(model: type[_Sched], field: str, raw: str, depth: int):
    if field == "then":
        return _parse(raw, depth + 1)
    bad = _Bad(f"'{_WRITTEN[field]}' must be {_rule(model, field)} (got '{raw}')")
    if model.model_fields[field].annotation in (int, "int"):
        if not re.fullmatch(r"[+-]?\d+", raw):  # a plain integer: '4.0' is refused (cuda-convnet2)
            raise bad
        return int(raw)
    if not NUMBER.fullmatch(raw):
        raise bad
    x = float(raw)
    if not math.isfinite(x):
        raise _Bad(f"'{_WRITTEN[field]}' must be a finite number (got '{raw}')")
    return x


def _parse(text: str, depth: int = 0) -> Schedule:
    text = text.strip()
    if not text:
        raise _Bad("empty schedule (expected a number or name[param=value;...])")
    if depth > _MAX_DEPTH:
        raise _Bad(f"schedules nested more than {_MAX_DEPTH} deep")
    if text.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        raise _Bad(f"a rate must be a finite number (got '{text}')")
    if NUMBER.fullmatch(text):  # a bare number is a constant
        if not math.isfinite(float(text)):
            raise _Bad(f"a rate must be a finite number (got '{text}')")
        return _build(Const, {"base": float(text)}, {"base": text})
    m = re.match(r"[A-Za-z_]\w*", text)
    if not m:
        raise _Bad(f"bad schedule '{text}' (expected a number or name[param=value;...])")
    name, rest = m.group(), text[m.end():].lstrip()
    kind = name.lower()
    if kind == "jdexp":
        raise _Bad(f"'jdexp' is a schedule of the 2012 code: write it in 'schedW'/'schedB', "
                   f"which multiply epsW/epsB ({a12.FORMS['jdexp']})")
    if kind not in _MODELS:
        known = f" (known: {', '.join(sorted(SCHEDULE_KINDS))})"
        hint = did_you_mean(name, SCHEDULE_KINDS) or known
        raise _Bad(f"unknown schedule '{name}'{hint}")
    model = _MODELS[kind]
    items: list[str] = []
    if rest:
        if not rest.startswith("["):
            if "]" in rest and "[" not in rest:
                raise _Bad(f"unbalanced brackets in '{text}': ']' without '['")
            raise _Bad(f"expected '[' after schedule name '{name}' (got '{rest}')")
        items, end = _items(rest)
        if end < 0:
            raise _Bad(f"unbalanced brackets in '{text}': missing ']'")
        if rest[end + 1:].strip():
            raise _Bad(f"unexpected '{rest[end + 1:].strip()}' after ']' in '{text}'")
        if len(items) == 1 and not items[0].strip():
            items = []  # name[] is name with no parameters
    by_lower = {_WRITTEN[f].lower(): f for f in _fields(model)}
    values, raws = {}, {}
    for item in items:
        key, eq, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key:
            raise _Bad(f"bad parameter '{item.strip()}' in schedule '{kind}' (expected name=value)")
        field = by_lower.get(key.lower())
        if field is None:
            written = [_WRITTEN[f] for f in _fields(model)]
            hint = did_you_mean(key, written) or f" (expected {_expected(kind)})"
            raise _Bad(f"schedule '{kind}' has no parameter '{key}'{hint}")
        if field in values:
            raise _Bad(f"duplicate parameter '{_WRITTEN[field]}' in schedule '{kind}'")
        values[field], raws[field] = _value(model, field, raw, depth), raw
    for f in _fields(model):
        if model.model_fields[f].is_required() and f not in values:
            raise _Bad(f"schedule '{kind}' is missing '{_WRITTEN[f]}' (expected {_expected(kind)})")
    return _build(model, values, raws)


def _build(model: type[_Sched], values: dict, raws: dict) -> Schedule:
    try:
        return model(**values)
    except ValidationError as e:  # a value outside the field's limits
        field = (e.errors()[0]["loc"] or ("",))[0]
        if field not in raws:
            raise _Bad(f"bad schedule: {e.errors()[0]['msg']}") from None
        raise _Bad(f"'{_WRITTEN[field]}' must be {_rule(model, field)} "
                   f"(got '{raws[field]}')") from None


def parse_schedule(text: str, span: Span | None = None, what: str = "") -> Schedule:
    """Parse the written form; on bad input raise NetdefError with one diagnostic at span.

    ``what`` (e.g. ``"layer 'conv1': 'epsW'"``) prefixes the message as ``what: message``.
    """
    try:
        return _parse(text)
    except _Bad as bad:
        msg = f"{what}: {bad}" if what else str(bad)
        raise NetdefError([Diagnostic(span, msg)]) from None


def format_schedule(s: Schedule | a12.A12Schedule) -> str:
    """The canonical written form (a constant as a bare number; an A12 multiplier in its own
    grammar); parse_schedule (or a12.parse_a12) reads it back."""
    if isinstance(s, a12.A12_MODELS):
        return a12.format_a12(s)
    if isinstance(s, Const):
        return number_text(s.base)
    parts = [f"{_WRITTEN[f]}={format_schedule(v) if f == 'then' else number_text(v)}"
             for f in _fields(type(s)) for v in [getattr(s, f)]]
    return f"{s.kind}[{';'.join(parts)}]"


def plateau_drops(schedule: Schedule, val_errors: Sequence[float]) -> int:
    """How many times ``plateau`` has multiplied by its factor after these tests (oldest
    first): count tests since the last strict improvement on the best error so far; each
    time the count reaches patience, drop once and restart the count.  Looks through
    ``warmup``; 0 for every other kind."""
    if isinstance(schedule, Warmup):
        return plateau_drops(schedule.then, val_errors)
    if not isinstance(schedule, Plateau) or not val_errors:
        return 0
    best, since, drops = val_errors[0], 0, 0
    for err in val_errors[1:]:
        if err < best:
            best, since = err, 0
        else:
            since += 1
            if since >= schedule.patience:
                drops, since = drops + 1, 0
    return drops


def lr_at(schedule: Schedule | a12.A12Schedule, progress: float,
          val_errors: Sequence[float] = (), noise: float = 0.0) -> float:
    """The schedule's value at progress (clamped to [0, 1]).

    ``val_errors`` drives ``plateau``; ``noise`` is a standard-normal sample z for an A12
    ``schedW``/``schedB`` multiplier, which is then multiplied by (1 + |z|·noiseStdev).
    """
    if math.isnan(progress):
        raise ValueError("progress is NaN")
    p, s = min(max(float(progress), 0.0), 1.0), schedule
    if isinstance(s, a12.A12_MODELS):
        return a12.multiplier_at(s, p, noise)
    if isinstance(s, Const):
        return s.base
    if isinstance(s, Linear):
        return s.base * (1 - p) + (s.base / s.tgt_factor) * p
    if isinstance(s, Exp):
        return s.base * s.tgt_factor ** (-p)
    if isinstance(s, Dexp):
        return dexp_rate(s.base, s.tgt_factor, s.num_steps, dexp_index(p, s.num_steps))
    if isinstance(s, Plateau):
        return max(s.base * s.factor ** plateau_drops(s, val_errors), s.min)
    if isinstance(s, Cosine):
        return s.final + (s.base - s.final) * (1 + math.cos(math.pi * p)) / 2
    if isinstance(s, Warmup):
        inner = lr_at(s.then, p, val_errors)
        return inner * (s.start + (1 - s.start) * p / s.length) if p < s.length else inner
    raise TypeError(f"not a schedule: {schedule!r}")


def schedule_base(s: Schedule | a12.A12Schedule) -> float:
    """The value at p = 0 with no validation history (and no noise)."""
    return lr_at(s, 0.0)
