"""Definition + params documents to a :class:`NetSpec` of validated layer models.

Per layer: find its type, map each key (case-insensitive, via ALIASES) to a field, split lists,
broadcast per-input values, overlay the params section (the params file wins, LANGUAGE.md §3),
then let pydantic validate. Every problem becomes a located diagnostic; all are raised at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from ..errors import Collector, Diagnostic, Span, did_you_mean
from ..syntax import Document, Entry, Section, split_list
from .layers import (COST_TYPES, DROPOUT_TYPES, LAYER_TYPES, NORM_TYPES, REJECTED,
                     WEIGHT_TYPES, LayerBase, alias_of, field_extra)

REQUIRED_PARAMS = {
    **{t: ("eps_w", "eps_b", "mom_w", "mom_b", "wc") for t in WEIGHT_TYPES},
    **{t: ("scale", "pow") for t in NORM_TYPES},
}
NEEDS_PARAMS = WEIGHT_TYPES | NORM_TYPES | COST_TYPES | DROPOUT_TYPES
LIST_FIELDS = {"inputs", "gpu"}
_IGNORED_DEFAULTS = {"update_period": 1}


@dataclass
class NetSpec:
    """A validated (not yet whole-net-checked) network: layers in file order, with positions."""

    path: str
    params_path: str | None
    layers: dict[str, LayerBase]
    spans: dict[str, dict[str, Span]]  # layer -> field (or "__section__", "type") -> Span
    params_mode: str  # "file", "inline" or "none"
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings and notes
    texts: dict[str, str] = field(default_factory=dict)  # "def"/"params" -> file text

    def span(self, layer: str, key: str = "__section__") -> Span | None:
        spans = self.spans.get(layer, {})
        return spans.get(key) or spans.get("__section__")


def _key_table(model: type[LayerBase]) -> dict[str, str]:
    """lower-cased key as written -> field name, for one layer model."""
    table = {}
    for name in model.model_fields:
        if name in ("name", "type"):
            continue
        table[alias_of(name).lower()] = name
    return table


ALL_KEYS = {k: f for m in LAYER_TYPES.values() for k, f in _key_table(m).items()}


def build_spec(definition: Document, params: Document | None = None,
               strict: bool = False) -> NetSpec:
    """Validate every layer of ``definition`` joined with ``params``; raise all problems once."""
    out = Collector(strict=strict)
    sections = _unique_sections(definition, out)
    psections = _merged_params(params, out) if params is not None else {}
    has_inline = any(_has_param_keys(s) for s in sections.values())
    mode = "file" if params is not None else ("inline" if has_inline else "none")
    layers: dict[str, LayerBase] = {}
    spans: dict[str, dict[str, Span]] = {}
    for name, section in sections.items():
        built = _build_layer(section, psections.get(name), mode, out)
        if built is not None:
            layers[name], spans[name] = built
    for name, section in psections.items():
        if name not in sections:
            out.warning(section.span, f"params section '{name}' matches no layer of "
                                      f"{definition.path} (ignored){did_you_mean(name, sections)}")
    out.raise_if_errors()
    return NetSpec(definition.path, params.path if params else None, layers, spans, mode,
                   out.sorted(), {"def": "\n".join(definition.lines),
                                  "params": "\n".join(params.lines) if params else ""})


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
                                f"{first.span.line} and {s.span.line}); merged, later keys win")
            merged[s.name] = Section(s.name, first.span, {**first.entries, **s.entries})
        else:
            merged[s.name] = s
    return merged


def _has_param_keys(section: Section) -> bool:
    typ = section.get("type")
    model = LAYER_TYPES.get(typ.value.lower()) if typ else None
    if model is None or model.type_name() not in NEEDS_PARAMS:
        return False
    table = _key_table(model)
    return any(field_extra(model, table[k]).get("params") for k in section.entries if k in table)


def _build_layer(section: Section, psection: Section | None, mode: str,
                 out: Collector) -> tuple[LayerBase, dict[str, Span]] | None:
    model = _layer_model(section, out)
    if model is None:
        return None
    name = section.name
    spans: dict[str, Span] = {"__section__": section.span, "type": section.get("type").span}
    raw: dict[str, tuple[Entry, str]] = {}  # field -> (entry, origin)
    ok = _collect_keys(model, section, "def", raw, out)
    if psection is not None:
        ok = _collect_keys(model, psection, "params", raw, out) and ok
        spans["__params__"] = psection.span
    if not ok or not _check_pool_kind(model, name, raw, out):
        return None
    data = _field_values(model, name, raw, out)
    if data is None:
        return None
    for fname, (entry, _) in raw.items():
        spans[fname] = entry.value_span
    _report_ignored(model, name, raw, out)
    if not _check_required_params(model, section, psection, raw, mode, out):
        return None
    try:
        layer = model.model_validate({"name": name, "type": model.type_name(), **data})
    except ValidationError as exc:
        _report_validation(exc, model, name, raw, section, out)
        return None
    return layer, spans


def _check_pool_kind(model: type[LayerBase], name: str, raw: dict, out: Collector) -> bool:
    """``pool=rand`` (stochastic pooling) is refused by name (LANGUAGE.md §2)."""
    entry = raw.get("pool", (None, ""))[0] if model.type_name() == "pool" else None
    if entry is not None and entry.value.lower() == "rand":
        out.error(entry.value_span, f"layer '{name}': 'pool=rand' (stochastic pooling) is not "
                                    "supported by netdef")
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
                  raw: dict[str, tuple[Entry, str]], out: Collector) -> bool:
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
                out.error(entry.span, f"layer '{section.name}': '{entry.key}' does not apply to "
                                      f"{layer_kind(kind)} (it is a key of {shown} layers)"
                                      f"{_close_spelling(key, table)}")
            else:
                out.error(entry.span, f"layer '{section.name}': unknown key '{entry.key}'"
                                      f"{did_you_mean(key, _spelled(table))}")
            continue
        if origin == "params" and not field_extra(model, fname).get("params"):
            out.error(entry.span, f"layer '{section.name}': '{entry.key}' belongs in the "
                                  "definition file, not the params file")
            ok = False
            continue
        raw[fname] = (entry, origin)  # params entries come second, so the params file wins
    return ok


def layer_kind(kind: str) -> str:
    """'a conv layer', 'an fc layer' (the article follows how the name is said)."""
    an = kind[0] in "aeiou" or kind.split(".")[0] in ("fc", "sfc", "rnorm", "href", "hs",
                                                      "rgb2yuv", "rgb2lab", "eltsum", "eltmax")
    return f"{'an' if an else 'a'} {kind} layer"


def _close_spelling(key: str, table: dict[str, str]) -> str:
    """A did-you-mean only for near-misspellings (sizeX -> size), not for unrelated keys."""
    import difflib

    spelled = _spelled(table)
    close = difflib.get_close_matches(key, [s.lower() for s in spelled], n=1, cutoff=0.75)
    return did_you_mean(close[0], spelled) if close else ""


def _spelled(table: dict[str, str]) -> list[str]:
    return [alias_of(f) for f in table.values()]


def _field_values(model: type[LayerBase], name: str, raw: dict[str, tuple[Entry, str]],
                  out: Collector) -> dict | None:
    data: dict = {}
    inputs_entry = raw.get("inputs")
    n_inputs = len(split_list(inputs_entry[0].value)) if inputs_entry else 0
    ok = True
    for fname, (entry, _) in raw.items():
        extra = field_extra(model, fname)
        if fname in LIST_FIELDS:
            data[fname] = tuple(split_list(entry.value))
        elif extra.get("per_input"):
            values = split_list(entry.value)
            if n_inputs and len(values) not in (1, n_inputs):
                out.error(entry.value_span, f"layer '{name}': '{entry.key}' has {len(values)} "
                                            f"values but the layer has {n_inputs} inputs "
                                            "(give one value, or one per input)")
                ok = False
                continue
            data[fname] = tuple(values * n_inputs if len(values) == 1 and n_inputs else values)
        else:
            data[fname] = entry.value
    if ok and n_inputs:
        data.update(_broadcast_defaults(model, data, n_inputs))
    return data if ok else None


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
        elif extra.get("ignored"):
            default = _IGNORED_DEFAULTS.get(fname, 0)
            values = [v.strip() for v in split_list(entry.value)]
            if all(_is_number(v, default) for v in values):
                out.note(entry.span, f"layer '{name}': '{entry.key}={entry.value}' is the "
                                     "default behaviour; accepted")
            else:
                out.warning(entry.span, f"layer '{name}': '{entry.key}' is not implemented by "
                                        "netdef and is ignored")


def _is_number(text: str, value: float) -> bool:
    try:
        return float(text) == value
    except ValueError:
        return False


def _check_required_params(model: type[LayerBase], section: Section, psection: Section | None,
                           raw: dict, mode: str, out: Collector) -> bool:
    kind = model.type_name()
    if mode == "none" or kind not in NEEDS_PARAMS:
        return True
    if mode == "file" and psection is None and not any(o == "def" and
                                                       field_extra(model, f).get("params")
                                                       for f, (_, o) in raw.items()):
        out.error(section.span, f"layer '{section.name}': no section [{section.name}] in the "
                                f"params file ({layer_kind(kind)} needs its parameters there)")
        return False
    missing = [alias_of(f) for f in REQUIRED_PARAMS.get(kind, ()) if f not in raw]
    if missing:
        where = psection.span if psection is not None else section.span
        out.error(where, f"layer '{section.name}': missing params key(s) "
                         f"{', '.join(repr(m) for m in missing)} ({layer_kind(kind)} needs them)")
        return False
    return True


def _report_validation(exc: ValidationError, model: type[LayerBase], name: str, raw: dict,
                       section: Section, out: Collector) -> None:
    for err in exc.errors():
        loc = err["loc"]
        fname = loc[0] if loc else None
        if isinstance(fname, str) and fname in ("function-after[_schedule()]",):
            fname = None
        entry = raw.get(fname, (None, ""))[0] if isinstance(fname, str) else None
        key = alias_of(fname) if isinstance(fname, str) else "?"
        message = _phrase(err)
        if err["type"] == "missing":
            out.error(section.span, f"layer '{name}': missing required key '{key}'")
        elif entry is not None:
            got = _item(entry.value, loc)
            if message.startswith("must "):
                text = f"'{entry.key}' {message} (got {got!r})"
            else:  # a schedule's or neuron's own sentence, which may quote the value already
                quoted = "(got " in message or got in message
                text = f"'{entry.key}': {message}" + ("" if quoted else f" (got {got!r})")
            out.error(entry.value_span, f"layer '{name}': {text}")
        else:
            out.error(section.span, f"layer '{name}': {message}")


def _item(value: str, loc: tuple) -> str:
    """The offending item of a list value (``loc`` ends in its index), or the whole value."""
    if len(loc) > 1 and isinstance(loc[1], int):
        items = split_list(value)
        if loc[1] < len(items):
            return items[loc[1]]
    return value


def _phrase(err: dict) -> str:
    """pydantic's error as the language states it: 'must be ...'."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    phrases = {
        "greater_than": lambda: f"must be > {ctx.get('gt')}",
        "greater_than_equal": lambda: f"must be >= {ctx.get('ge')}",
        "less_than_equal": lambda: f"must be <= {ctx.get('le')}",
        "less_than": lambda: f"must be < {ctx.get('lt')}",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}",
        "union_tag_invalid": lambda: "is not a known schedule",
    }
    if kind in phrases:
        return phrases[kind]()
    return err["msg"][0].lower() + err["msg"][1:]
