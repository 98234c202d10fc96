"""Definition + params documents to a :class:`NetSpec` of validated layer models.

Per layer: find its type, map each key (case-insensitive, via ALIASES) to a field, split lists,
broadcast per-input values, overlay the params section (the params file wins; docs/
language-guide.md "The params file"), then let pydantic validate. Every problem becomes a
located diagnostic; a layer with one problem is still read to the end, so the definition's and
the params file's problems come out together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from ..errors import Collector, Diagnostic, Span, did_you_mean
from ..syntax import Document, Entry, Section, split_list
from .base import alias_of, field_extra
from .layers import LAYER_TYPES, NEEDS_PARAMS, REJECTED, LayerBase
from .messages import close_spelling, decimal_comma, report_validation
from .shapes import layer_kind

__all__ = ["NetSpec", "build_spec", "layer_kind", "ALL_KEYS", "NEEDS_PARAMS"]

LIST_FIELDS = {"inputs", "gpu"}
_IGNORED_DEFAULTS = {"update_period": 1}


@dataclass(kw_only=True)
class NetSpec:
    """A validated (not yet whole-net-checked) network: layers in file order, with positions.

    With ``build_spec(..., defer_errors=True)`` the errors sit in ``diagnostics`` and the
    layers that failed are in ``broken`` (name -> its inputs as written), for the check stage
    to report its own problems alongside them."""

    path: str
    params_path: str | None
    layers: dict[str, LayerBase]
    spans: dict[str, dict[str, Span]]  # layer -> field (or "__section__", "type") -> Span
    params_mode: str  # "file", "inline" or "none"
    diagnostics: list[Diagnostic] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # "def"/"params" -> file text
    broken: dict[str, tuple[str, ...]] = field(default_factory=dict)
    order: tuple[str, ...] = ()  # every layer name (broken ones too), in file order

    def span(self, layer: str, key: str = "__section__") -> Span | None:
        spans = self.spans.get(layer, {})
        return spans.get(key) or spans.get("__section__")


def _key_table(model: type[LayerBase]) -> dict[str, str]:
    """lower-cased key as written -> field name, for one layer model."""
    return {alias_of(name).lower(): name for name in model.model_fields
            if name not in ("name", "type")}


ALL_KEYS = {k: f for m in LAYER_TYPES.values() for k, f in _key_table(m).items()}


def build_spec(definition: Document, params: Document | None = None,
               strict: bool = False, *, defer_errors: bool = False) -> NetSpec:
    """Validate every layer of ``definition`` joined with ``params``; raise all problems once
    (or, with ``defer_errors``, return them in the spec for :func:`netdef.check.check_net`)."""
    out = Collector(strict=strict)
    out.extend(definition.diagnostics)
    sections = _unique_sections(definition, out)
    psections = {}
    if params is not None:
        out.extend(params.diagnostics)
        psections = _merged_params(params, out)
    has_inline = any(_has_param_keys(s) for s in sections.values())
    mode = "file" if params is not None else ("inline" if has_inline else "none")
    layers: dict[str, LayerBase] = {}
    spans: dict[str, dict[str, Span]] = {}
    broken: dict[str, tuple[str, ...]] = {}
    for name, section in sections.items():
        built = _build_layer(section, psections.get(name), mode, out)
        if built is not None:
            layers[name], spans[name] = built
        else:
            entry = section.get("inputs")
            broken[name] = tuple(split_list(entry.value)) if entry and entry.value else ()
            spans[name] = {"__section__": section.span,
                           **({"inputs": entry.value_span} if entry else {})}
    for name, section in psections.items():
        if name not in sections:
            out.warning(section.span, f"params section '{name}' matches no layer of "
                                      f"{definition.path} (ignored){did_you_mean(name, sections)}",
                        outcome="(ignored)")
    if not defer_errors:
        out.raise_if_errors()
    texts = {"def": "\n".join(definition.lines),
             "params": "\n".join(params.lines) if params else ""}
    return NetSpec(path=definition.path, params_path=params.path if params else None,
                   layers=layers, spans=spans, params_mode=mode, diagnostics=out.sorted(),
                   texts=texts, broken=broken, order=tuple(sections))


def _unique_sections(doc: Document, out: Collector) -> dict[str, Section]:
    seen: dict[str, Section] = {}
    for s in doc.sections:
        if s.name in seen:
            out.error(s.span, f"layer '{s.name}' is defined twice "
                              f"(lines {seen[s.name].span.line} and {s.span.line})")
            continue
        seen[s.name] = s
    return seen


def _merged_params(doc: Document, out: Collector) -> dict[str, Section]:
    """Duplicate params sections merge, later keys winning, with a warning (real A12 files)."""
    merged: dict[str, Section] = {}
    for s in doc.sections:
        if s.name in merged:
            first = merged[s.name]
            out.warning(s.span, f"params section '{s.name}' appears twice (lines "
                                f"{first.span.line} and {s.span.line}); merged, later keys win",
                        outcome="merged, later keys win")
            merged[s.name] = Section(s.name, first.span, {**first.entries, **s.entries})
        else:
            merged[s.name] = s
    return merged


def _has_param_keys(section: Section) -> bool:
    typ = section.get("type")
    model = LAYER_TYPES.get(typ.value.lower()) if typ else None
    if model is None or not model.needs_params:
        return False
    table = _key_table(model)
    return any(field_extra(model, table[k]).get("params") for k in section.entries if k in table)


def _build_layer(section: Section, psection: Section | None, mode: str,
                 out: Collector) -> tuple[LayerBase, dict[str, Span]] | None:
    """The layer's model and key positions, or None after reporting every problem found."""
    model = _layer_model(section, out)
    if model is None:
        return None
    name = section.name
    spans: dict[str, Span] = {"__section__": section.span, "type": section.get("type").span}
    raw: dict[str, tuple[Entry, str]] = {}  # field -> (entry, origin)
    dropped: set[str] = set()  # fields whose value was refused before validation
    ok = _collect_keys(model, section, "def", raw, dropped, out)
    if psection is not None:
        ok = _collect_keys(model, psection, "params", raw, dropped, out) and ok
        spans["__params__"] = psection.span
    ok = _check_pool_kind(model, name, raw, dropped, out) and ok
    data = _field_values(model, name, raw, dropped, out)
    ok = ok and not dropped
    for fname, (entry, _) in raw.items():
        spans[fname] = entry.value_span
    _report_ignored(model, name, raw, out)
    ok = _check_required_params(model, section, psection, raw, dropped, mode, out) and ok
    try:
        layer = model.model_validate({"name": name, "type": model.type_name(), **data})
    except ValidationError as exc:
        report_validation(exc, name, raw, section, dropped, out)
        return None
    return (layer, spans) if ok else None


def _check_pool_kind(model: type[LayerBase], name: str, raw: dict, dropped: set[str],
                     out: Collector) -> bool:
    """``pool=rand`` (stochastic pooling) is refused by name (a deliberate difference)."""
    entry = raw.get("pool", (None, ""))[0] if model.type_name() == "pool" else None
    if entry is not None and entry.value.lower() == "rand":
        out.error(entry.value_span, f"layer '{name}': 'pool=rand' (stochastic pooling) is not "
                                    "supported by netdef")
        del raw["pool"]
        dropped.add("pool")
        return False
    return True


def _layer_model(section: Section, out: Collector) -> type[LayerBase] | None:
    typ = section.get("type")
    known = ", ".join(LAYER_TYPES)
    if typ is None:
        out.error(section.span, f"layer '{section.name}': missing 'type' (expected one of {known})")
        return None
    value = typ.value.lower()
    if value in REJECTED:
        out.error(typ.value_span, f"layer '{section.name}': type '{typ.value}' is not supported "
                                  f"by netdef ({REJECTED[value]})")
        return None
    if value not in LAYER_TYPES:
        hint = did_you_mean(value, LAYER_TYPES) or f" (expected one of {known})"
        out.error(typ.value_span, f"layer '{section.name}': unknown type '{typ.value}'{hint}")
        return None
    return LAYER_TYPES[value]


def _collect_keys(model: type[LayerBase], section: Section, origin: str,
                  raw: dict[str, tuple[Entry, str]], dropped: set[str], out: Collector) -> bool:
    table = _key_table(model)
    ok = True
    kind = model.type_name()
    for key, entry in section.entries.items():
        if key == "type":
            if origin == "params":
                out.error(entry.span, f"layer '{section.name}': 'type' belongs in the "
                                      "definition file, not the params file")
                ok = False
            continue
        fname = table.get(key)
        if fname is None:
            ok = False
            if key in ALL_KEYS:
                owners = [t for t, m in LAYER_TYPES.items() if key in _key_table(m)]
                shown = ", ".join(owners[:4]) + (", …" if len(owners) > 4 else "")
                hint = close_spelling(key, _spelled(table))
                out.error(entry.span, f"layer '{section.name}': '{entry.key}' does not apply to "
                                      f"{layer_kind(kind)} (it is a key of {shown} layers){hint}")
            else:
                hint = did_you_mean(key, _spelled(table))
                out.error(entry.span, f"layer '{section.name}': unknown key '{entry.key}'{hint}")
            if hint:  # the key it names is then not also "missing": one problem, one message
                dropped.add(table[hint.split("'")[1].lower()])
            continue
        if origin == "params" and not field_extra(model, fname).get("params"):
            out.error(entry.span, f"layer '{section.name}': '{entry.key}' belongs in the "
                                  "definition file, not the params file")
            dropped.add(fname)
            continue
        raw[fname] = (entry, origin)  # params entries come second, so the params file wins
    return ok


def _spelled(table: dict[str, str]) -> list[str]:
    return [alias_of(f) for f in table.values()]


def _field_values(model: type[LayerBase], name: str, raw: dict[str, tuple[Entry, str]],
                  dropped: set[str], out: Collector) -> dict:
    """Field values as pydantic takes them: lists split, per-input values broadcast. A list
    of the wrong length is reported and left out (its field goes into ``dropped``)."""
    data: dict = {}
    inputs_entry = raw.get("inputs")
    n_inputs = len(split_list(inputs_entry[0].value)) if inputs_entry else 0
    for fname, (entry, _) in raw.items():
        if fname in LIST_FIELDS:
            data[fname] = tuple(split_list(entry.value))
        elif field_extra(model, fname).get("per_input"):
            values = split_list(entry.value)
            if n_inputs and len(values) not in (1, n_inputs):
                s = "s" * (n_inputs != 1)
                out.error(entry.value_span, f"layer '{name}': '{entry.key}' has {len(values)} "
                                            f"values but the layer has {n_inputs} input{s} "
                                            f"(give one value, or one per input)"
                                            f"{decimal_comma(entry.value)}")
                dropped.add(fname)
                continue
            _leading_zero(name, entry, values, out)
            data[fname] = tuple(values * n_inputs if len(values) == 1 and n_inputs else values)
        else:
            data[fname] = entry.value
    if n_inputs:
        data.update(_broadcast_defaults(model, data, n_inputs))
    return data


def _leading_zero(name: str, entry: Entry, values: list[str], out: Collector) -> None:
    """``epsW=0,005`` on a two-input layer reads as 0 and 5: say so when an item after the
    first starts with a zero digit, as only a decimal comma would write it."""
    if len(values) > 1 and any(v[:1] == "0" and v[1:2].isdigit() for v in values[1:]):
        out.warning(entry.value_span, f"layer '{name}': '{entry.key}={entry.value}' reads as "
                                      f"{len(values)} values, one per input"
                                      f"{decimal_comma(entry.value)} if one number was meant")


def _broadcast_defaults(model: type[LayerBase], data: dict, n_inputs: int) -> dict:
    """Per-input defaults are written once; repeat them for every input."""
    filled = {}
    for fname, info in model.model_fields.items():
        if fname in data or not field_extra(model, fname).get("per_input"):
            continue
        default = info.default
        if isinstance(default, tuple) and len(default) == 1:
            filled[fname] = default * n_inputs
    return filled


def _report_ignored(model: type[LayerBase], name: str, raw: dict, out: Collector) -> None:
    for fname, (entry, _) in raw.items():
        extra = field_extra(model, fname)
        if "note" in extra:
            out.note(entry.span, f"layer '{name}': '{entry.key}' only tuned cuda-convnet's CUDA "
                                 "kernels; accepted and ignored")
        elif "legacy" in extra:
            out.note(entry.span, f"layer '{name}': '{entry.key}' {extra['legacy']}")
        elif extra.get("ignored"):
            default = _IGNORED_DEFAULTS.get(fname, 0)
            values = [v.strip() for v in split_list(entry.value)]
            if all(_is_number(v, default) for v in values):
                out.note(entry.span, f"layer '{name}': '{entry.key}={entry.value}' is the "
                                     "default behaviour; accepted")
            else:
                out.warning(entry.span, f"layer '{name}': '{entry.key}' is not implemented by "
                                        "netdef; it is ignored", outcome="it is ignored")


def _is_number(text: str, value: float) -> bool:
    try:
        return float(text) == value
    except ValueError:
        return False


def _check_required_params(model: type[LayerBase], section: Section, psection: Section | None,
                           raw: dict, dropped: set[str], mode: str, out: Collector) -> bool:
    kind = model.type_name()
    if mode == "none" or not model.needs_params:
        return True
    if mode == "file" and psection is None and not any(o == "def" and
                                                       field_extra(model, f).get("params")
                                                       for f, (_, o) in raw.items()):
        out.error(section.span, f"layer '{section.name}': no section [{section.name}] in the "
                                f"params file ({layer_kind(kind)} needs its parameters there)")
        return False
    missing = [alias_of(f) for f in model.required_params if f not in raw and f not in dropped]
    if missing:
        where = psection.span if psection is not None else section.span
        out.error(where, f"layer '{section.name}': missing params key(s) "
                         f"{', '.join(repr(m) for m in missing)} ({layer_kind(kind)} needs them)")
        return False
    return True
