"""The schema stage: layer models, keys, per-input lists, params overlay, messages."""

import pytest

from netdef.errors import NetdefError
from netdef.schema import LAYER_TYPES, build_spec
from netdef.schema.layers import LAYER_MODELS
from netdef.schema.values import parse_neuron
from netdef.syntax import parse

from conftest import valid_text

NET = valid_text("schema-net.cfg")
PARAMS = valid_text("schema-net.params")


def spec(net=NET, params=PARAMS):
    return build_spec(parse(net, "net.cfg"), parse(params, "net-params.cfg") if params else None)


def test_models_are_tagged_frozen_and_forbid_unknown_keys():
    for model in LAYER_MODELS:
        assert model.model_config["extra"] == "forbid" and model.model_config["frozen"]
    assert len(LAYER_TYPES) == len(LAYER_MODELS) == 30


def test_values_are_typed_and_broadcast_per_input():
    s = spec()
    conv2 = s.layers["conv2"]
    assert conv2.filters == (16, 16) and conv2.filter_size == (3, 5) and conv2.stride == (1, 1)
    assert conv2.init_w == (0.01, 0.01)
    assert [e.base for e in conv2.eps_w] == [0.001, 0.002]
    assert s.layers["conv1"].eps_b.kind == "dexp"
    assert str(s.layers["conv1"].neuron) == "tanh[1.7,0.66]"
    assert s.params_mode == "file"


def test_kernel_tuning_keys_are_notes():
    notes = [d for d in spec().diagnostics if d.severity == "note"]
    assert any("partialSum" in d.message for d in notes)


def test_params_file_wins_over_the_definition():
    net = NET.replace("[conv1]\ntype=conv", "[conv1]\nepsW=0.5\ntype=conv")
    assert spec(net).layers["conv1"].eps_w[0].base == 0.001


def test_one_file_form():
    net = NET.replace("initW=0.01\n", "initW=0.01\nepsW=0.1\nepsB=0.1\nmomW=0.9\nmomB=0.9\nwc=0\n")
    with pytest.raises(NetdefError) as exc:
        spec(net, params=None)
    assert "missing params key(s)" in str(exc.value)  # conv2 and fc have none inline


def test_no_params_checks_the_definition_alone():
    assert spec(params=None).params_mode == "none"


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "filterSize=5\npadding=2",
            "filterSize=5x\npadding=2",
            "layer 'conv1': 'filterSize' must be an integer (got '5x')",
        ),
        (
            "filterSize=5\npadding=2",
            "filterSize=0\npadding=2",
            "layer 'conv1': 'filterSize' must be > 0 (got '0')",
        ),
        (
            "filterSize=5\npadding=2",
            "filterSiz=5\npadding=2",
            "layer 'conv1': unknown key 'filterSiz'; did you mean 'filterSize'?",
        ),
        (
            "outputs=10",
            "outputs=10\nsizeX=3",
            "layer 'fc': 'sizeX' does not apply to an fc layer (it is a key of pool, crop layers)",
        ),
        ("type=softmax", "type=sofmax", "unknown type 'sofmax'; did you mean 'softmax'?"),
        ("type=softmax", "type=treefc", "type 'treefc' is not supported by netdef"),
        ("neuron=tanh[1.7,0.66]", "neuron=tanh[1.7]", "neuron 'tanh' takes 2 parameter(s)"),
        (
            "neuron=tanh[1.7,0.66]",
            "neuron=relux",
            "unknown neuron 'relux'; did you mean 'relu'? (expected one of ident, relu",
        ),
        ("neuron=tanh[1.7,0.66]", "neuron=rleu", "unknown neuron 'rleu'; did you mean 'relu'?"),
        (
            "filterSize=3,5",
            "filterSize=3,5,7",
            "'filterSize' has 3 values but the layer has 2 inputs",
        ),
        ("[conv2]", "[conv1]", "layer 'conv1' is defined twice (lines 8 and 18)"),
    ],
)
def test_bad_definitions_give_located_messages(old, new, message):
    with pytest.raises(NetdefError) as exc:
        spec(NET.replace(old, new, 1))
    text = str(exc.value)
    assert message in text
    assert all(d.span is not None and d.span.line > 0 for d in exc.value.diagnostics)


@pytest.mark.parametrize("old, new, message", [
    ("epsW=0.001,0.002", "epsW=dexpp[base=1]", "unknown schedule 'dexpp'; did you mean 'dexp'?"),
    ("wc=0.01", "", "layer 'fc': missing params key(s) 'wc'"),
    ("[logprob]\ncoeff=1\ntopk=1", "", "no section [logprob] in the params file"),
    ("[logprob]", "[logprob]\ntype=cost.logreg", "'type' belongs in the definition file"),
    ("wc=0.004", "wc=0.004\nfilters=3", "'filters' belongs in the definition file"),
    ("[fc]", "[fcc]", "params section 'fcc' matches no layer"),
])
def test_bad_params_give_located_messages(old, new, message):
    with pytest.raises(NetdefError) as exc:
        build_spec(parse(NET, "net.cfg"), parse(PARAMS.replace(old, new, 1), "p.cfg"),
                   strict=True)
    assert message in str(exc.value)


def test_duplicate_params_sections_merge_with_a_warning():
    s = spec(params=PARAMS + "\n[fc]\nwc=0.5\n")
    assert s.layers["fc"].wc == (0.5,)
    assert any(d.severity == "warning" and "appears twice" in d.message for d in s.diagnostics)


def test_neuron_forms():
    assert parse_neuron("relu").kind == "relu"
    assert parse_neuron("linear").params == (1.0, 0.0)
    with pytest.raises(ValueError):
        parse_neuron("brelu")


def test_legacy_2012_keys_are_accepted_with_a_note_and_other_unknown_keys_stay_errors():
    params = PARAMS.replace("wc=0.004\n", "wc=0.004\nwcnorm=0.001\nsched=1\n", 1)
    notes = [d.message for d in spec(params=params).diagnostics if d.severity == "note"]
    assert "layer 'conv1': 'wcnorm' ignored (the 2012 parser never read it)" in notes
    assert "layer 'conv1': 'sched' ignored (the 2012 parser never read it)" in notes
    with pytest.raises(NetdefError) as exc:
        spec(params=PARAMS.replace("wc=0.004\n", "wc=0.004\nwcnrm=0.001\n", 1))
    assert "unknown key 'wcnrm'; did you mean 'wcnorm'?" in str(exc.value)


def test_quant_keys_are_accepted_on_any_layer_as_on_weight_layers():
    net = NET.replace("type=softmax\n", "type=softmax\nquantF=0\nquantB=8\n")
    diags = {d.message: d.severity for d in spec(net).diagnostics}
    assert diags["layer 'probs': 'quantF=0' is the default behaviour; accepted"] == "note"
    assert diags["layer 'probs': 'quantB' is not implemented by netdef; it is ignored"] == "warning"


def test_a12_schedules_are_read_in_the_2012_grammar():
    params = PARAMS.replace("wc=0.004\n", "wc=0.004\nschedW=dexp[tgtFactor=10,noiseStdev=0,"
                                          "numSteps=3]\nschedB=default\n", 1)
    conv1 = spec(params=params).layers["conv1"]
    assert (conv1.sched_w.kind, conv1.sched_w.num_steps, conv1.sched_b.kind) == ("dexp", 3,
                                                                                 "default")
    with pytest.raises(NetdefError) as exc:
        spec(params=PARAMS.replace("wc=0.004\n", "wc=0.004\nschedW=default[]\n", 1))
    assert "layer 'conv1': 'schedW': 'default' takes no parameters" in str(exc.value)


def test_repeated_keys_warn_and_strict_makes_them_errors():
    net = NET.replace("padding=2\n", "padding=2\npadding=1\n", 1)
    s = spec(net)
    assert s.layers["conv1"].padding == (1,)
    assert any(d.severity == "warning" and "'padding' is given twice (lines 14 and 15)"
               in d.message for d in s.diagnostics)
    with pytest.raises(NetdefError, match="'padding' is given twice"):
        build_spec(parse(net, "net.cfg"), parse(PARAMS, "p.cfg"), strict=True)


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "filterSize=5\npadding=2",
            "filterSize=5.0\npadding=2",
            "'filterSize' must be an integer (got '5.0')",
        ),
        ("dataIdx=1", "dataIdx=1.0", "'dataIdx' must be an integer (got '1.0')"),
        ("outputs=10", "outputs=1e1", "'outputs' must be an integer (got '1e1')"),
    ],
)
def test_integers_are_plain_everywhere(old, new, message):
    with pytest.raises(NetdefError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec(NET.replace(old, new, 1))


def test_definition_and_params_problems_come_out_together():
    net = NET.replace("type=softmax", "type=softmax\nneuron=rleu")
    params = PARAMS.replace("wc=0.01", "wc=0,01")
    s = build_spec(parse(net, "net.cfg"), parse(params, "p.cfg"), defer_errors=True)
    errors = [d.format() for d in s.diagnostics if d.severity == "error"]
    assert len(errors) == 2 and errors[0].startswith("net.cfg") and errors[1].startswith("p.cfg")
    assert set(s.broken) == {"probs", "fc"} and s.order[0] == "data"
