"""Whole-net checks: shape rules, devices, transfers, costs, diagnostics in one pass."""

import pytest

from netdef.check import check_net, conv_out_side, pool_out_side
from netdef.errors import NetdefError
from netdef.schema import build_spec
from netdef.syntax import parse

from conftest import valid_text

TOWERS = valid_text("check-towers.cfg")


def checked(text=TOWERS, size=None, **kw):
    return check_net(build_spec(parse(text, "t.cfg")), size, **kw)


def test_ceil_rules_give_the_alexnet_shapes():
    assert conv_out_side(224, 11, 0, 4) == 55  # the paper's "224 vs 227" puzzle
    assert pool_out_side(55, 3, 0, 2) == 27 and pool_out_side(27, 3, 0, 2) == 13
    assert pool_out_side(13, 3, 0, 2) == 6
    assert pool_out_side(6, 4, -2, 4) == 2  # negative start (cuda-convnet's gc net)


def test_devices_inherit_and_transfers_are_listed():
    net = checked()
    assert [net.layers[n].device for n in ("data", "c1a", "c1b", "p1b", "c2a", "cost")] == \
        [None, 0, 1, 1, 0, 0]
    assert [(t.src, t.dst, t.bytes_per_image) for t in net.transfers] == [
        ("p1b", "c2a", 8 * 27 * 27 * 4)
    ]
    assert net.num_devices == 2
    assert net.layers["c2a"].shape == (4, 27, 27)  # 55 -> 28 with stride 2 would not match p1b's 27


def test_data_fed_layer_must_state_its_device_in_a_two_device_net():
    with pytest.raises(NetdefError) as exc:
        checked(TOWERS.replace("stride=4\ngpu=0\n", "stride=4\n"))
    assert "layer 'c1a' reads only data layers and must state 'gpu='" in str(exc.value)


def test_shape_errors_say_both_shapes_and_all_are_reported():
    text = TOWERS.replace("channels=3\n", "channels=4\n", 1).replace(
        "channels=8\nsizeX=3", "channels=9\nsizeX=3")
    with pytest.raises(NetdefError) as exc:
        checked(text)
    msgs = [d.message for d in exc.value.errors]
    assert any(
        "layer 'c1a': input 1 has 3 channels (3×224×224), 'channels' says 4" in m for m in msgs
    )
    assert any(
        "layer 'p1b': input 1 has 8 channels (8×55×55), 'channels' says 9" in m for m in msgs
    )


def test_filter_larger_than_input():
    with pytest.raises(NetdefError) as exc:
        checked(size=8)
    assert "'filterSize' 11 is larger than the padded input (8 + 2·0)" in str(exc.value)


def test_softmax_width_against_classes():
    with pytest.raises(NetdefError) as exc:
        checked(classes=20)
    assert "'probs' has 10 outputs but the data has 20 classes" in str(exc.value)
    note = checked(classes=5).diagnostics
    assert any("labels index the first outputs" in d.message for d in note)


def test_forward_reference_and_self_reference():
    text = TOWERS.replace("inputs=c1b\n", "inputs=c2a\n", 1).replace(
        "inputs=fc\n", "inputs=probs\n"
    )
    with pytest.raises(NetdefError) as exc:
        checked(text)
    text = str(exc.value)
    assert "input 'c2a' is defined later" in text and "lists itself as an input" in text


def test_an_unused_layer_is_an_error_naming_it_data_layers_included():
    text = (
        TOWERS + "\n[spare]\ntype=neuron\ninputs=fc\nneuron=relu\n[extra]\ntype=data\ndataIdx=1\n"
    )
    with pytest.raises(NetdefError) as exc:
        checked(text)
    lines = [d.format() for d in exc.value.errors]
    assert len(lines) == 2
    assert "error: layer 'spare' is unused: no layer reads it and it is not a cost" in lines[0]
    assert "error: layer 'extra' is unused" in lines[1]
    assert all(d.span.line > 1 for d in exc.value.errors)


def test_init_funcs_are_refused_unless_allowed():
    text = TOWERS.replace("outputs=10", "outputs=10\ninitWFunc=mymod.init")
    with pytest.raises(NetdefError) as exc:
        checked(text)
    assert "--allow-init-funcs" in str(exc.value)
    assert checked(text, allow_init_funcs=True).layers["fc"]


ONE_HOT = """
[data]
type=data
[onehot]
type=data
dataIdx=2
[fc]
type=fc
inputs=data
outputs=6
neuron=logistic
[bce]
type=cost.bce
inputs=onehot,fc
"""


def test_one_hot_labels_are_as_wide_as_the_classes():
    assert checked(ONE_HOT).layers["onehot"].shape == (6, 1, 1)  # read off the predictions
    assert checked(ONE_HOT, classes=6).layers["onehot"].shape == (6, 1, 1)
    with pytest.raises(NetdefError) as exc:
        checked(ONE_HOT, classes=4)  # the data decides: 4 columns beside 6 predictions
    assert ("layer 'bce': input 1 ('onehot') has 4 value(s) per image and 'fc' has 6; "
            "a cost.bce layer reads as wide as 'fc' (the data has 4 classes)") in str(exc.value)
    sliced = ONE_HOT.replace("dataIdx=2", "dataIdx=2\nstart=2\nend=8")
    assert checked(sliced, classes=10).layers["onehot"].shape == (6, 1, 1)
    with pytest.raises(NetdefError, match="'end' 8 is beyond the 7 classes of the data"):
        checked(sliced, classes=7)


def test_one_hot_labels_with_no_cost_to_say_how_many_classes_are_refused():
    text = ONE_HOT.replace("inputs=onehot,fc", "inputs=fc").replace("cost.bce", "cost.sum2")
    text += "[mix]\ntype=eltsum\ninputs=onehot\n[s2]\ntype=cost.sum2\ninputs=mix\n"
    with pytest.raises(NetdefError) as exc:
        checked(text)
    assert "layer 'onehot': dataIdx=2 delivers the labels one-hot" in str(exc.value)
    assert checked(text, classes=3).layers["mix"].shape == (3, 1, 1)


def test_schema_and_check_problems_come_out_in_one_pass():
    text = TOWERS.replace("filterSize=11\nstride=4\ngpu=1", "filterSize=11\nstride=4\ngpu=1\n"
                          "neuron=rleu", 1).replace("inputs=fc\n", "inputs=fcc\n", 1)
    spec = build_spec(parse(text, "t.cfg"), defer_errors=True)
    with pytest.raises(NetdefError) as exc:
        check_net(spec, 224)
    messages = [d.message for d in exc.value.errors]
    assert any("unknown neuron 'rleu'" in m for m in messages)
    assert any("unknown input 'fcc'" in m for m in messages)
    assert len(messages) == 2  # nothing echoed from the layers that read the broken ones


def test_did_you_mean_names_only_a_layer_that_may_be_read():
    """'pool9' in rnorm1 of the quickstart net: pool2 is close but defined later, so the hint
    names pool1 (defined earlier), never a later layer."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "layers" / "quickstart.cfg").read_text()
    bad = text.replace("inputs=pool1", "inputs=pool9", 1)
    with pytest.raises(NetdefError) as exc:
        check_net(build_spec(parse(bad, "q.cfg"), defer_errors=True), None)
    message = next(d.message for d in exc.value.errors if "unknown input" in d.message)
    assert "unknown input 'pool9'" in message and "'pool2'" not in message
    assert message.endswith("did you mean 'pool1'?")
    late = text.replace("inputs=conv1", "inputs=fc12", 1)  # pool1 reading a misspelt fc128
    with pytest.raises(NetdefError) as exc:
        check_net(build_spec(parse(late, "q.cfg"), defer_errors=True), None)
    assert not any("did you mean" in d.message for d in exc.value.errors)
