"""Scalar value types of the language and the neuron syntax (docs/language-guide.md "File
syntax", "Neurons").

Pydantic's lax mode would take ``5.0`` as an integer and ``t`` as a boolean; the language is
stricter, so each scalar type parses its text itself in a ``BeforeValidator``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from ..errors import did_you_mean

_INT = re.compile(r"[+-]?\d+")
INT_LIMIT = 2**31 - 1
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_int(value: object) -> int:
    """A plain integer (``12``, ``-2``); ``5.0`` or ``5x`` is not one."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("must be an integer")
    if abs(value) > INT_LIMIT:
        raise ValueError(f"must be an integer of at most {INT_LIMIT} (cuda-convnet's C int)")
    return value


def parse_float(value: object) -> float:
    """A finite number (``.75``, ``1e-3``)."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("must be a number") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def parse_bool(value: object) -> bool:
    """``1/0, true/false, yes/no, on/off``, case-insensitive."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be a boolean (1/0, true/false, yes/no, on/off)")


Int = Annotated[int, BeforeValidator(parse_int)]
Float = Annotated[float, BeforeValidator(parse_float)]
Bool = Annotated[bool, BeforeValidator(parse_bool)]

# Each neuron: its parameter names (in written order) and the defaults used when written bare.
NEURONS: dict[str, tuple[tuple[str, ...], tuple[float, ...] | None]] = {
    "ident": ((), ()),
    "relu": ((), ()),
    "brelu": (("a",), None),
    "softrelu": ((), ()),
    "logistic": ((), ()),
    "tanh": (("a", "b"), (1.0, 1.0)),
    "abs": ((), ()),
    "square": ((), ()),
    "sqrt": ((), ()),
    "linear": (("a", "b"), (1.0, 0.0)),
    "drelu": (("a",), None),
    "log": (("a",), None),
}
NeuronKind = Literal["ident", "relu", "brelu", "softrelu", "logistic", "tanh", "abs", "square",
                     "sqrt", "linear", "drelu", "log"]
_NEURON = re.compile(r"\s*([A-Za-z]\w*)\s*(?:\[([^\[\]]*)\])?\s*")
_NEURON_NAME = re.compile(r"\s*([A-Za-z]\w*)")


class Neuron(BaseModel):
    """An elementwise activation: ``relu``, ``tanh[a,b]`` (a·tanh(b·x)), ``linear[a,b]`` …"""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: NeuronKind
    params: tuple[float, ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.kind
        return f"{self.kind}[{','.join(f'{p:g}' for p in self.params)}]"


def known_neurons() -> str:
    """The neuron forms, for messages."""
    forms = []
    for name, (params, _) in NEURONS.items():
        forms.append(f"{name}[{','.join(params)}]" if params else name)
    return ", ".join(forms)


def parse_neuron(value: object) -> Neuron:
    """``relu`` / ``tanh[1.7159,0.6666]`` to a :class:`Neuron`; raises ValueError with the forms."""
    if isinstance(value, Neuron):
        return value
    if isinstance(value, dict):
        return Neuron.model_validate(value)
    text = str(value)
    m = _NEURON.fullmatch(text)
    head = _NEURON_NAME.match(text)
    name = head.group(1).lower() if head else ""
    if name not in NEURONS:
        hint = did_you_mean(name, NEURONS) if name else ""
        raise ValueError(f"unknown neuron{f' {name!r}' if name else ''}{hint} "
                         f"(expected one of {known_neurons()})")
    names, defaults = NEURONS[name]
    if m is None:
        form = f"{name}[{','.join(names)}]" if names else name
        raise ValueError(f"malformed neuron (expected {form})")
    raw = m.group(2)
    if raw is None or not raw.strip():
        if names and defaults is None:
            raise ValueError(f"neuron '{name}' needs {len(names)} parameter(s): "
                             f"{name}[{','.join(names)}]")
        return Neuron(kind=name, params=tuple(defaults or ()))
    items = [s.strip() for s in raw.split(",")]
    if len(items) != len(names):
        form = f"{name}[{','.join(names)}]" if names else name
        raise ValueError(f"neuron '{name}' takes {len(names)} parameter(s): {form}")
    try:
        params = tuple(parse_float(s) for s in items)
    except ValueError:
        raise ValueError(f"neuron '{name}' parameters must be numbers") from None
    return Neuron(kind=name, params=params)


NeuronValue = Annotated[
    Neuron, BeforeValidator(parse_neuron), PlainSerializer(str, return_type=str)
]
