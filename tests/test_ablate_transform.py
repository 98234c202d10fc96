"""Each claim's transformation on small nets: what changes, what does not, and that the variant
still checks (its files go through the normal read → schema → check)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netdef.ablate import AblateOptions, make_plan
from netdef.errors import NetdefError

from ablatenets import ONE_TOWER, ONE_TOWER_PARAMS, TWO_TOWER, TWO_TOWER_PARAMS, write_experiment
from conftest import LAYERS, ROOT


def plan_for(tmp_path, *claims, net=ONE_TOWER, params=ONE_TOWER_PARAMS, **keys):
    exp = write_experiment(tmp_path / "src", net, params, **keys)
    return make_plan(AblateOptions(experiment=str(exp), claims=claims, out=str(tmp_path / "out")))


def variant(plan, name):
    return next(v for _, vs in plan.claims for v in vs if v.name == name)


def layers(planned):
    return planned.checked.spec.layers


def shapes(planned):
    return {n: i.shape for n, i in planned.checked.layers.items()}


def same_except(base, other, changed: set[str], fields: set[str] = frozenset()):
    """Every layer of ``base`` equal in ``other`` but for ``fields`` of ``changed`` layers."""
    for name, layer in layers(base).items():
        if name not in layers(other):
            continue
        mine = layer.model_dump(exclude=fields if name in changed else set())
        theirs = layers(other)[name].model_dump(exclude=fields if name in changed else set())
        assert mine == theirs, name


def test_relu_becomes_tanh_and_nothing_else(tmp_path):
    plan = plan_for(tmp_path, "relu")
    tanh = variant(plan, "tanh")
    kinds = {n: layer.neuron.kind for n, layer in layers(tanh).items()
             if layer.neuron is not None}
    assert kinds == {"conv1": "tanh", "fc1": "tanh"}
    same_except(plan.base, tanh, {"conv1", "fc1"}, {"neuron"})
    assert shapes(tanh) == shapes(plan.base) and tanh.params == plan.base.params
    assert "-neuron=relu" in tanh.diff and "+neuron=tanh" in tanh.diff
    added = [line for line in tanh.diff.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    assert added == ["+neuron=tanh"] * 2  # two lines changed; comments and order kept


def test_lrn_removed_and_readers_rewired(tmp_path):
    plan = plan_for(tmp_path, "lrn")
    v = variant(plan, "no-lrn")
    assert "rnorm1" not in layers(v) and layers(v)["pool1"].inputs == ("conv1",)
    same_except(plan.base, v, {"pool1"}, {"inputs"})
    assert {n: s for n, s in shapes(plan.base).items() if n != "rnorm1"} == shapes(v)
    params = (v.experiment.parent / "net-params.cfg").read_text()
    assert "[rnorm1]" not in params and "[conv1]" in params  # no orphan params section
    assert "# eight 3x3 kernels" in (v.experiment.parent / "net.cfg").read_text()


def test_dropout_removed(tmp_path):
    plan = plan_for(tmp_path, "dropout")
    v = variant(plan, "no-dropout")
    assert not any(layer.type == "dropout" for layer in layers(v).values())
    assert layers(v)["fc2"].inputs == ("fc1",) and v.params == plan.base.params
    assert "[drop1]" not in (v.experiment.parent / "net-params.cfg").read_text()


def test_overlapping_pool_becomes_two_by_two_with_the_same_output(tmp_path):
    plan = plan_for(tmp_path, "overlap-pool", **{"inner-size": 15})
    v = variant(plan, "no-overlap")
    pool = layers(v)["pool1"]
    assert (pool.size_x, pool.stride) == (2, 2)
    assert shapes(v) == shapes(plan.base)  # 15 -> 7 both ways; 2/2 alone would give 8
    assert pool.outputs_x == 7 and "+outputsX=7" in v.diff
    same_except(plan.base, v, {"pool1"}, {"size_x", "outputs_x"})


def test_overlap_pool_needs_no_outputs_x_when_the_sizes_agree(tmp_path):
    plan = plan_for(tmp_path, "overlap-pool")  # 16 -> 8 with 3/2 and with 2/2
    v = variant(plan, "no-overlap")
    assert layers(v)["pool1"].outputs_x == 0 and shapes(v) == shapes(plan.base)
    assert "outputsX" not in v.diff


def test_augment_variants_change_the_experiment_only(tmp_path):
    plan = plan_for(tmp_path, "augment")
    crops, light = variant(plan, "no-crops-mirrors"), variant(plan, "no-lighting")
    for v in (crops, light):
        assert v.variant.definition == plan.base.variant.definition
    text = crops.experiment.read_text()
    assert "random-crops = off" in text and "mirrors = off" in text
    assert "color-noise = 0\n" in light.experiment.read_text()
    assert "+random-crops = off" in crops.diff


def test_augment_without_lighting_to_remove_has_one_variant(tmp_path):
    plan = plan_for(tmp_path, "augment", **{"color-noise": 0})
    assert [v.name for v in plan.claims[0][1]] == ["no-crops-mirrors"]


def test_ten_view_trains_nothing(tmp_path):
    plan = plan_for(tmp_path, "ten-view")
    assert not variant(plan, "one-view").variant.trains
    assert [v.name for v in plan.trained()] == ["base"]


def test_towers_keeps_device_0_and_widens_as_the_paper(tmp_path):
    plan = plan_for(tmp_path, "towers", net=TWO_TOWER, params=TWO_TOWER_PARAMS)
    v = variant(plan, "one-tower")
    assert plan.base.checked.num_devices == 2 and v.checked.num_devices == 1
    assert not [n for n in layers(v) if n[-2:-1].isdigit() and n.endswith("b")]
    conv2, fc3 = layers(v)["conv2a"], layers(v)["fc3a"]
    assert conv2.inputs == ("pool1a",) and conv2.filters == (12,)  # the last conv: 6 + 6
    assert fc3.inputs == ("pool2a",) and fc3.outputs == 16  # fc after it: 8 + 8
    assert layers(v)["pool2a"].channels == 12  # follows the widened conv
    assert layers(v)["conv1a"].filters == (4,)  # earlier layers: one tower's half
    assert layers(v)["fc4"].inputs == ("drop3a",) and layers(v)["fc4"].init_w == (0.05,)
    assert conv2.eps_w[0].base == 0.01 and conv2.wc == (0.0005,)  # input 1's per-input params


def test_towers_on_alexnet(tmp_path):
    exp = tmp_path / "alexnet.cfg"
    exp.write_text(f"[train]\nlayers = {LAYERS / 'alexnet-2gpu.cfg'}\nimage-size = 256\n"
                   f"inner-size = 224\n")
    plan = make_plan(AblateOptions(experiment=str(exp), claims=("towers",),
                                   out=str(tmp_path / "out")))
    v = variant(plan, "one-tower")
    assert plan.base.params == 60_965_224
    assert v.params == 59_798_312  # within 2 %, as the paper's footnote intended
    assert layers(v)["conv5a"].filters == (256,) and layers(v)["fc6a"].outputs == 4096
    assert layers(v)["conv4a"].filters == (192,) and layers(v)["pool3a"].channels == 256


@pytest.mark.parametrize("claim, message", [
    ("lrn", "claim 'lrn': the net has no response normalisation to remove"),
    ("dropout", "claim 'dropout': the net has no dropout to remove"),
    ("relu", "claim 'relu': the net has no relu neuron to replace"),
    ("towers", "claim 'towers': the net has one tower (every layer on device 0)"),
    ("overlap-pool", "claim 'overlap-pool': the net has no overlapping pool"),
])
def test_claims_that_cannot_apply(tmp_path, claim, message):
    net = (ONE_TOWER.replace("neuron=relu", "neuron=tanh").replace("sizeX=3", "sizeX=2")
           .replace("[rnorm1]\ntype=cmrnorm\ninputs=conv1\nchannels=8\nsize=3\n\n", "")
           .replace("inputs=rnorm1", "inputs=conv1")
           .replace("[drop1]\ntype=dropout\ninputs=fc1\n\n", "")
           .replace("inputs=drop1", "inputs=fc1"))
    params = ONE_TOWER_PARAMS.replace("[rnorm1]\nscale=0.0001\npow=0.75\n\n", "").replace(
        "[drop1]\nkeep=0.5\n\n", "")
    with pytest.raises(NetdefError) as err:
        plan_for(tmp_path, claim, net=net, params=params)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()  # nothing written for a request that cannot run


def test_every_problem_at_once(tmp_path):
    net = ONE_TOWER.replace("stride=2", "stride=1")
    with pytest.raises(NetdefError) as err:
        plan_for(tmp_path, "towers", "overlap-pool", "tenview", "bogus", net=net,
                 **{"inner-size": 20})
    text = str(err.value)
    assert "unknown claim 'tenview'; did you mean 'ten-view'?" in text
    assert "unknown claim 'bogus' (expected one of relu, lrn" in text
    assert "claim 'towers'" in text
    assert "net.cfg:33:8: error: layer 'pool1': claim 'overlap-pool': the pool has stride 1" in text


def test_ten_view_needs_crops_smaller_than_the_image(tmp_path):
    with pytest.raises(NetdefError) as err:
        plan_for(tmp_path, "ten-view", **{"inner-size": 20})
    expected = "exp.cfg:5:14: error: claim 'ten-view': inner-size 20 equals image-size 20"
    assert expected in str(err.value)


def test_a_net_without_a_classifier_is_refused(tmp_path):
    net = ONE_TOWER.replace("type=cost.logreg\ninputs=labels,probs", "type=cost.sum2\ninputs=probs")
    net = net.replace("[labels]\ntype=data\ndataIdx=1\n", "")  # nothing reads it: unused
    with pytest.raises(NetdefError, match="no classifier"):
        plan_for(tmp_path, "lrn", net=net)


def test_one_file_experiment(tmp_path):
    """Layers and params inside the experiment file: the variant is a file of its own."""
    inline = ONE_TOWER.replace("initW=0.05\n", "initW=0.05\nepsW=0.01\nepsB=0.01\nmomW=0.9\n"
                                               "momB=0.9\nwc=0\n")
    inline = inline.replace("size=3\n", "size=3\nscale=0.0001\npow=0.75\n")
    exp = tmp_path / "one.cfg"
    exp.write_text("[train]\ndata = builtin:shapes\nimage-size = 20\ninner-size = 16\n\n" + inline)
    plan = make_plan(AblateOptions(experiment=str(exp), claims=("lrn",), out=str(tmp_path / "o")))
    v = variant(plan, "no-lrn")
    assert v.variant.params is None and "rnorm1" not in layers(v)
    written = (v.experiment.parent / "one-layers.cfg").read_text()
    assert "[train]" not in written and "[conv1]" in written


def test_quick_shrinks_builtin_data_and_epochs(tmp_path):
    exp = write_experiment(tmp_path / "src", data="builtin:shapes?classes=3", epochs=9)
    plan = make_plan(AblateOptions(experiment=str(exp), claims=("lrn",), quick=True,
                                   out=str(tmp_path / "o")))
    assert plan.epochs == 1 and plan.seeds == [0]
    assert plan.data == "builtin:shapes?classes=3&train=24&val=8"


def test_the_language_side_of_ablate_imports_no_torch():
    code = ("import sys, netdef.ablate, netdef.ablate.plan, netdef.ablate.towers;"
            "print(','.join(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_a_bad_definition_and_an_unknown_claim_together(tmp_path):
    with pytest.raises(NetdefError) as err:
        plan_for(tmp_path, "lrn", "bogus", net=ONE_TOWER.replace("filters=8", "filters=8x"))
    text = str(err.value)
    assert "unknown claim 'bogus'" in text and "'filters' must be an integer" in text


def test_a_net_without_params_is_refused_at_the_users_file(tmp_path):
    exp = write_experiment(tmp_path / "src")
    (tmp_path / "src" / "net-params.cfg").unlink()
    with pytest.raises(NetdefError, match="exp.cfg: error: \\[train\\]: the net has no learning"):
        make_plan(AblateOptions(experiment=str(exp), claims=("lrn",), out=str(tmp_path / "o")))


INPUT_SIDES = {"18pct": 32, "19pct": 32, "80sec": 32, "11pct": 24, "13pct": 24, ".gc": 8}


def test_real_cuda_convnet_files_transform_or_say_why(compat, tmp_path):
    """Every claim on every real file: a variant that checks, or a NetdefError — nothing else."""
    outcomes = {}
    for definition in sorted(compat.glob("v*/layers*.cfg")):
        if definition.name == "layers-example.cfg":  # stale against the final parser
            continue
        side = next((s for k, s in INPUT_SIDES.items() if k in definition.name), 224)
        params = definition.with_name(definition.name.replace("layers", "layer-params", 1))
        exp = tmp_path / f"{definition.parent.name}-{definition.stem}.cfg"
        exp.write_text(f"[train]\nlayers = {definition}\nparams = {params}\n"
                       f"image-size = {side + 8}\ninner-size = {side}\n")
        for claim in ("relu", "lrn", "overlap-pool", "dropout", "augment", "ten-view", "towers"):
            try:
                plan = make_plan(AblateOptions(experiment=str(exp), claims=(claim,),
                                               out=str(tmp_path / exp.stem)))
                outcomes[exp.stem, claim] = [v.params for v in plan.claims[0][1]]
            except NetdefError as exc:
                assert f"claim '{claim}'" in str(exc)
                outcomes[exp.stem, claim] = None
    assert outcomes["v2-layers-imagenet-2gpu-model", "towers"] == [59_798_312]
    assert outcomes["v2-layers-imagenet-2gpu-data", "towers"] is None  # replicas, not towers
    assert outcomes["v1-layers-18pct", "lrn"] is not None


def test_grey_images_have_no_lighting_variant(tmp_path):
    net = ONE_TOWER.replace("channels=3", "channels=1")
    plan = plan_for(tmp_path, "augment", net=net)
    assert [v.name for v in plan.claims[0][1]] == ["no-crops-mirrors"]
    assert plan.base.checked.input_channels == 1
    assert any("PCA lighting applies to RGB only" in n for n in plan.notes)
