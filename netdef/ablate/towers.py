"""The ``towers`` claim's variant: one tower derived from a two-tower file (torch-free).

Krizhevsky et al. 2012, §3.2: the two-GPU net beats "a net with half as many kernels in each
convolutional layer trained on one GPU"; footnote 2: that one-GPU net "has the same number of
kernels as the two-GPU net in the final convolutional layer … nor the fully-connected layers which
follow", to keep the two nets' parameter counts close. So the variant keeps device 0's tower,
drops device 1's layers (and the inputs that named them), and gives the last convolutional layer
and the fully-connected layers after it the width of both towers together.
"""

from __future__ import annotations

from ..errors import Diagnostic, NetdefError
from ..schema.layers import CHANNELS_KEPT, CHANNELS_STATED
from ..syntax import split_list
from .transform import Edits, Sources, Variant, not_applicable, per_input_keys

CLAIM = "towers"


def one_tower(src: Sources) -> Variant:
    """Device 0's tower alone, the last conv layer and the fc layers after it at full width."""
    checked = src.checked
    devices = {n: i.device for n, i in checked.layers.items()}
    if checked.num_devices != 2 or not any(d == 1 for d in devices.values()):
        replicated = any(i.replicas > 1 for i in checked.layers.values())
        found = (f"places layers on {checked.num_devices} devices" if checked.num_devices > 2
                 else "replicates its layers (gpu=0,1: data parallelism), which is not towers"
                 if replicated else "has one tower (every layer on device 0)")
        raise not_applicable(src, CLAIM, (
            f"the net {found}: the claim needs a two-tower file (layers placed with gpu=0 and "
            f"gpu=1, as layers/alexnet-2gpu.cfg)"))
    dropped = {n for n, d in devices.items() if d == 1}
    edits = Edits(src)
    _drop_inputs(src, edits, dropped)
    widths = _widen(src, edits, dropped, _twins(src, dropped))
    _follow_channels(src, edits, dropped, widths)
    for name in dropped:
        edits.remove_layer(name)
    edits.changes.append(f"removed device 1's {len(dropped)} layers: {', '.join(sorted(dropped))}")
    return edits.variant(CLAIM, "one-tower", "one tower: device 0's layers, the last conv and "
                                             "the fc layers after it at both towers' width")


def _drop_inputs(src: Sources, edits: Edits, dropped: set[str]) -> None:
    """Kept layers lose the inputs that named tower-1 layers, with their per-input values."""
    spec, problems = src.spec, []
    for name, layer in spec.layers.items():
        if name in dropped or not any(i in dropped for i in layer.inputs):
            continue
        keep = [k for k, i in enumerate(layer.inputs) if i not in dropped]
        if not keep:
            problems.append(Diagnostic(spec.span(name, "inputs"), (
                f"layer '{name}': claim '{CLAIM}': it reads only device-1 layers "
                f"({', '.join(layer.inputs)}), so it has no input in a one-tower net")))
            continue
        for key in per_input_keys(layer.type):
            text = edits.raw(name, key)
            items = split_list(text) if text is not None else []
            if len(items) == len(layer.inputs) > 1:
                edits.set_key(name, key, ",".join(items[k] for k in keep))
        gone = [i for i in layer.inputs if i in dropped]
        edits.changes.append(f"{name}: no longer reads {', '.join(gone)}")
    if problems:
        raise NetdefError(problems)


def _twins(src: Sources, dropped: set[str]) -> dict[str, str]:
    """Each kept layer's counterpart in tower 1: the same type, reading the counterparts of its
    inputs (a cross-tower layer reads the same layers as its twin)."""
    spec, twin, taken = src.spec, {}, set()
    for name, layer in spec.layers.items():
        if name in dropped or layer.type == "data":
            continue
        mirrored = {twin.get(i, i) for i in layer.inputs}
        for other in (n for n in spec.layers if n in dropped and n not in taken):
            o = spec.layers[other]
            if o.type == layer.type and set(o.inputs) in (mirrored, set(layer.inputs)):
                twin[name] = other
                taken.add(other)
                break
    return twin


def _widen(src: Sources, edits: Edits, dropped: set[str], twin: dict[str, str]
           ) -> dict[str, int]:
    """The last conv layer with a twin, and every fc layer with a twin after it, take the sum
    of both widths; returns the new channel counts of the widened layers."""
    spec, checked = src.spec, src.checked
    order = list(spec.layers)
    convs = [n for n in order if n in twin and spec.layers[n].type in ("conv", "local")]
    if not convs:
        return {}
    start = order.index(convs[-1])
    widths: dict[str, int] = {}
    for name in order[start:]:
        layer = spec.layers[name]
        if name not in twin or layer.type not in ("conv", "local", "fc"):
            continue
        own, other = checked.layers[name].shape[0], checked.layers[twin[name]].shape[0]
        width = own + other
        if layer.type == "fc":
            edits.set_key(name, "outputs", str(width))
        else:
            groups = layer.groups[0]
            if width % groups:
                raise NetdefError([Diagnostic(spec.span(name, "filters"), (
                    f"layer '{name}': claim '{CLAIM}': both towers' {width} filters do not "
                    f"divide into its {groups} groups"))])
            edits.set_key(name, "filters", str(width // groups))
        widths[name] = width
        unit = "outputs" if layer.type == "fc" else "filters"
        edits.changes.append(f"{name}: {own} → {width} {unit} (its own and {twin[name]}'s, "
                             f"the paper's footnote)")
    return widths


def _follow_channels(src: Sources, edits: Edits, dropped: set[str],
                     widths: dict[str, int]) -> None:
    """Rewrite the ``channels`` keys of the layers downstream of a widened layer."""
    spec = src.spec
    channels = dict(widths)  # layer -> its new output channel count
    for name, layer in spec.layers.items():
        if name in dropped or name in widths:
            continue
        kept = [i for i in layer.inputs if i not in dropped]
        changed = [(k, i) for k, i in enumerate(kept) if i in channels]
        if not changed:
            continue
        if layer.type in CHANNELS_STATED:
            channels[name] = channels[changed[0][1]]
            edits.set_key(name, "channels", str(channels[name]))
            edits.changes.append(f"{name}: channels → {channels[name]}")
        elif layer.type in CHANNELS_KEPT:
            channels[name] = channels[changed[0][1]]
        elif layer.type in ("concat", "pass"):
            channels[name] = sum(channels.get(i, src.checked.layers[i].shape[0]) for i in kept)
        elif layer.type in ("conv", "local"):
            values = split_list(edits.raw(name, "channels") or "")
            if len(values) == 1 and len(kept) > 1:
                values = values * len(kept)
            for k, i in changed:
                values[k] = str(channels[i])
            edits.set_key(name, "channels", ",".join(values))
            edits.changes.append(f"{name}: channels → {','.join(values)}")
