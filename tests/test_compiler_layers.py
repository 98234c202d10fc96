"""Every registered layer type against an independent reference (loops or other torch ops),
plus float64 gradchecks of every type with weights or custom math."""

import math

import pytest
import torch
import torch.nn.functional as F

import netdef
from netdef.check import check_net, numel
from netdef.check.net import LayerInfo
from netdef.compiler import builder_for, known_builders, register
from netdef.compiler.neurons import NeuronOp
from netdef.errors import NetdefError
from netdef.schema import (
    BATCH_TYPES,
    COST_TYPES,
    LAYER_TYPES,
    NEEDS_PARAMS,
    SCORED_COSTS,
    SPATIAL_TYPES,
    WEIGHT_TYPES,
    parse_neuron,
)
from netdef.schema.layers import LAYER_MODELS, Data, field_extra

from conftest import DATA


def make(layer_type, in_shapes, **keys):
    """Build one layer's op from its model and inferred shapes; returns (built, info)."""
    names = tuple(f"in{i}" for i in range(len(in_shapes)))
    model = LAYER_TYPES[layer_type]
    layer = model(name="l", inputs=names, **keys)
    wide = {f: v * len(names) for f, v in layer.model_dump().items()  # build_spec broadcasts
            if field_extra(model, f).get("per_input") and isinstance(v, tuple) and len(v) == 1}
    layer = model(name="l", inputs=names, **{**keys, **wide})
    inferred = layer.infer(list(in_shapes), lambda k, m: pytest.fail(m))
    info = LayerInfo(name="l", type=layer_type, device=0, replicas=1, shape=inferred.shape,
                     inputs=names, in_shapes=tuple(in_shapes), views=inferred.views,
                     weights=inferred.weights)
    return builder_for(layer_type)(layer, info), info


def tensors_for(built, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for spec in built.tensors:
        if spec.kind == "perm":
            ch, n = int(spec.const), spec.shape[0]
            out.append(torch.cat([torch.randperm(ch, generator=g) for _ in range(-(-n // ch))])[:n])
        else:
            out.append(torch.randn(spec.shape, generator=g, dtype=dtype).requires_grad_())
    return out


def rand(*shape, dtype=torch.float32, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def close(a, b, tol=1e-4):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.allclose(a, b, atol=tol, rtol=tol), (a - b).abs().max()


# --- registry --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, size, fold", [("every-type", 16, False), ("every-type", 16, True),
                                               ("a12-two-towers", 24, True)])
def test_models_shape_rules_and_builders_agree(name, size, fold):
    """The one place the three are tied: every type declares its facts and its shape rule on its
    model and has a builder; the type lists are the models' facts; and, compiled from a net that
    uses every type, each layer's op gives exactly the shape its rule inferred and holds weights
    of exactly the shapes the check stage computed."""
    assert set(known_builders()) == set(LAYER_TYPES) == {m.type_name() for m in LAYER_MODELS}
    for model in LAYER_MODELS:
        lo, hi = model.arity
        assert 0 <= lo and (hi is None or hi >= lo), model
        assert model is Data or callable(model.infer), f"{model.type_name()} has no shape rule"
        assert set(model.required_params) <= set(model.model_fields)
        assert not model.required_params or model.needs_params
        assert not model.scored or model.cost
        assert "stacked" not in model.folds or model.weighted
        assert model.towers_unfolded in (None, "channels", "pixels")
        assert model.towers_unfolded is None or "batch" in model.folds  # a way of that fold
    facts = {"weighted": WEIGHT_TYPES, "cost": COST_TYPES, "scored": SCORED_COSTS,
             "needs_params": NEEDS_PARAMS, "spatial": SPATIAL_TYPES}
    for fact, derived in facts.items():
        assert derived == {m.type_name() for m in LAYER_MODELS if getattr(m, fact)}, fact
    assert BATCH_TYPES == {m.type_name() for m in LAYER_MODELS if "batch" in m.folds}

    params = DATA / "valid" / f"{name}.params"
    checked = netdef.load(DATA / "valid" / f"{name}.cfg", params if params.is_file() else None,
                          size)
    checked = check_net(checked.spec, size, 3, 10)
    net = netdef.compile_net(checked, "cpu", fold=fold, seed=0)
    images, labels = rand(3, 3, size, size), torch.tensor([0, 4, 9])
    names = [n for n, i in checked.layers.items() if i.type != "data"]
    outs = net.run_layers(images, labels, names)
    for n in names:
        info, out = checked.layers[n], outs[n]
        if info.type.startswith("cost."):
            assert out.dim() == 0, n
        elif out.dim() == 4:
            assert tuple(out.shape[1:]) == info.shape, (n, out.shape, info.shape)
        else:
            assert out.shape[0] == 3 and out[0].numel() == numel(info.shape), (n, out.shape)
    tensors = net.named_layer_parameters()
    for n, info in checked.layers.items():
        for i, w in enumerate(info.weights):
            key = f"{n}.weight" if i == 0 else f"{n}.weight.{i}"
            owner = (
                key
                if w.source is None
                else (
                    f"{w.source[0]}.weight"
                    if w.source[1] == 0
                    else f"{w.source[0]}.weight.{w.source[1]}"
                )
            )
            assert tuple(tensors[owner].shape) == w.shape, (key, w)


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        register("conv")(lambda layer, info: None)


def test_unknown_type_lists_known():
    with pytest.raises(NetdefError, match=r"known: .*\bconv\b.*\bpool\b"):
        builder_for("treefc")


# --- references ------------------------------------------------------------------------------

def ref_conv(x, w, pad, stride, out, groups=1):
    """Explicit windows over a zero canvas: out[n, f, oy, ox] = Σ w · window (+ groups)."""
    n, c, s, _ = x.shape
    f = w.shape[-1]
    m = f + pad + stride * out
    canvas = torch.zeros(n, c, s + 2 * m, s + 2 * m, dtype=x.dtype)
    canvas[:, :, m:m + s, m:m + s] = x
    nf, fc = w.shape[-4], w.shape[-3]  # conv (F, fch, f, f); local (P, F, fch, f, f)
    y = torch.zeros(n, nf, out, out, dtype=x.dtype)
    for k in range(nf):
        g = k // (nf // groups)
        for oy in range(out):
            for ox in range(out):
                r, q = m + oy * stride - pad, m + ox * stride - pad
                win = canvas[:, g * fc:(g + 1) * fc, r:r + f, q:q + f]
                wk = w[k] if w.dim() == 4 else w[oy * out + ox, k]
                y[:, k, oy, ox] = (win * wk).sum((1, 2, 3))
    return y


def test_conv_overhang_two_inputs_groups():
    # side 8, filter 3, stride 2, pad 0: out = 1 + ceil(5/2) = 4, last window overhangs by 1
    built, info = make("conv", [(4, 8, 8), (2, 7, 7)], channels=(4, 2), filters=(3, 6),
                       filter_size=(3, 3), stride=(2, 2), padding=(0, 1), groups=(2, 1),
                       init_w=(0.1, 0.1))
    assert info.shape == (6, 4, 4)
    x0, x1 = rand(2, 4, 8, 8), rand(2, 2, 7, 7, seed=2)
    w0, w1, b = tensors_for(built)
    y = built.op([x0, x1], [w0, w1, b])
    ref = ref_conv(x0, w0, 0, 2, 4, groups=2) + ref_conv(x1, w1, 1, 2, 4) + b.view(1, -1, 1, 1)
    close(y, ref.detach())


def test_conv_reads_fc_output_as_image_unshared_bias():
    built, info = make("conv", [(48, 1, 1)], channels=(3,), filters=(2,), filter_size=(3,),
                       padding=(1,), shared_biases=False)
    x = rand(2, 48)
    w, b = tensors_for(built)
    assert b.shape == (2, 4, 4)
    y = built.op([x], [w, b])
    close(y, (ref_conv(x.view(2, 3, 4, 4), w, 1, 1, 4) + b).detach())


def test_conv_rand_sparse_gathers_channels():
    built, info = make("conv", [(8, 5, 5)], channels=(8,), filters=(2,), filter_size=(3,),
                       groups=(2,), rand_sparse=(True,), filter_channels=(4,))
    x = rand(2, 8, 5, 5)
    w, b, perm = tensors_for(built)
    y = built.op([x], [w, b, perm])
    parts = [ref_conv(x[:, perm[g * 4:(g + 1) * 4]], w[g * 2:(g + 1) * 2], 0, 1, 3)
             for g in range(2)]
    close(y, (torch.cat(parts, 1) + b.view(1, -1, 1, 1)).detach())


def test_local_unshared_weights_and_biases():
    built, info = make("local", [(4, 7, 7)], channels=(4,), filters=(3,), filter_size=(3,),
                       stride=(2,), padding=(1,), groups=(2,))
    x = rand(2, 4, 7, 7)
    w, b = tensors_for(built)
    assert w.shape == (16, 6, 2, 3, 3) and b.shape == (6, 4, 4)
    y = built.op([x], [w, b])
    close(y, (ref_conv(x, w, 1, 2, 4, groups=2) + b).detach())


@pytest.mark.parametrize("layer_type, modules", [("conv", 4), ("conv", 9), ("local", 3),
                                                 ("local", 8)])
def test_modules_x_sets_the_output_side_and_the_padding_follows(layer_type, modules):
    """cuda-convnet2's modulesX: window m starts at m·stride − padding, whether that gives fewer
    windows than the ceil rule (7 here) or more (reading zeros past the image)."""
    built, info = make(layer_type, [(2, 8, 8)], channels=(2,), filters=(3,), filter_size=(4,),
                       padding=(1,), modules_x=modules)
    assert info.shape == (3, modules, modules)
    x = rand(2, 2, 8, 8)
    w, b = tensors_for(built)
    bias = b.view(1, -1, 1, 1) if layer_type == "conv" else b
    close(built.op([x], [w, b]), (ref_conv(x, w, 1, 1, modules) + bias).detach())


def test_fc_two_inputs():
    built, _ = make("fc", [(3, 2, 2), (5, 1, 1)], outputs=4, init_w=(0.1, 0.1))
    x0, x1 = rand(2, 3, 2, 2), rand(2, 5, seed=3)
    w0, w1, b = tensors_for(built)
    y = built.op([x0, x1], [w0, w1, b])
    close(y, (x0.reshape(2, -1) @ w0.T + x1 @ w1.T + b).detach())


def test_sfc_block_diagonal():
    built, info = make("sfc", [(6, 1, 1)], parts=3, outputs=2, init_w=(0.1,))
    x = rand(2, 6)
    w, b = tensors_for(built)
    y = built.op([x], [w, b])
    ref = torch.cat([x[:, 2 * p:2 * p + 2] @ w[p].T for p in range(3)], 1) + b
    close(y, ref.detach())


def ref_pool(x, kind, size, stride, start, out, total=False):
    n, c, s, _ = x.shape
    y = torch.zeros(n, c, out, out, dtype=x.dtype)
    for oy in range(out):
        for ox in range(out):
            r0, q0 = start + oy * stride, start + ox * stride
            win = x[:, :, max(r0, 0):min(r0 + size, s), max(q0, 0):min(q0 + size, s)].flatten(2)
            if kind == "max":
                y[:, :, oy, ox] = win.max(2).values
            elif kind == "avg":
                y[:, :, oy, ox] = win.sum(2) if total else win.mean(2)
            else:
                idx = win.abs().argmax(2, keepdim=True)
                y[:, :, oy, ox] = win.gather(2, idx).squeeze(2)
    return y


@pytest.mark.parametrize("kind", ["max", "avg", "maxabs"])
@pytest.mark.parametrize("start,size,stride", [(0, 3, 2), (-2, 4, 3), (1, 3, 3)])
def test_pool_clipped_windows(kind, start, size, stride):
    built, info = make("pool", [(2, 9, 9)], pool=kind, channels=2, size_x=size, stride=stride,
                       start=start)
    x = rand(2, 2, 9, 9)
    close(built.op([x], []), ref_pool(x, kind, size, stride, start, info.shape[1]))


def test_pool_avg_sum():
    built, info = make("pool", [(2, 6, 6)], pool="avg", channels=2, size_x=4, stride=4,
                       start=-2, sum=True)
    x = rand(2, 2, 6, 6)
    close(built.op([x], []), ref_pool(x, "avg", 4, 4, -2, info.shape[1], total=True))


def test_cmpool():
    built, info = make("cmpool", [(7, 3, 3)], channels=7, size=3, stride=2, start=-1)
    x = rand(2, 7, 3, 3)
    out = info.shape[0]
    ref = torch.stack([x[:, max(-1 + 2 * o, 0):min(-1 + 2 * o + 3, 7)].max(1).values
                       for o in range(out)], 1)
    close(built.op([x], []), ref)


def ref_cmrnorm(x, size, scale, power, k, blocked):
    """cuda-convnet's cross-map norm (kFCNorm, ``cudaconv2/conv_util.cu``) by its formula,
    channel by channel: (N, C, H, W) -> (N, C, H, W)."""
    c = x.shape[1]
    y = torch.empty_like(x)
    for f in range(c):
        lo = (f // size) * size if blocked else f - size // 2
        win = x[:, max(lo, 0):min(lo + size, c)]
        y[:, f] = x[:, f] * (k + scale / size * (win ** 2).sum(1)) ** (-power)
    return y


@pytest.mark.parametrize("size,blocked", [(5, False), (4, False), (3, True), (4, True)])
def test_cmrnorm(size, blocked):
    built, _ = make("cmrnorm", [(10, 3, 3)], channels=10, size=size, scale=0.5, pow=0.75,
                    min_div=2.0, blocked=blocked)
    x = rand(2, 10, 3, 3)
    close(built.op([x], []), ref_cmrnorm(x, size, 0.5, 0.75, 2.0, blocked))


def ref_spatial(x, size, scale, power, k, contrast):
    s = x.shape[-1]
    lo = -(size // 2)

    def window(t, py, px):
        return t[
            :, :, max(py + lo, 0) : min(py + lo + size, s), max(px + lo, 0) : min(px + lo + size, s)
        ]

    mean = torch.zeros_like(x)
    if contrast:
        for py in range(s):
            for px in range(s):
                mean[:, :, py, px] = window(x, py, px).mean((2, 3))
    d = x - mean
    y = torch.empty_like(x)
    for py in range(s):
        for px in range(s):
            acc = (window(d, py, px) ** 2).sum((2, 3))
            y[:, :, py, px] = x[:, :, py, px] * (k + scale / size ** 2 * acc) ** (-power)
    return y


@pytest.mark.parametrize("layer_type", ["rnorm", "cnorm"])
@pytest.mark.parametrize("size", [3, 4])
def test_spatial_norms(layer_type, size):
    built, _ = make(layer_type, [(3, 6, 6)], channels=3, size=size, scale=2.0, pow=0.5, min_div=1.5)
    x = rand(2, 3, 6, 6)
    close(built.op([x], []), ref_spatial(x, size, 2.0, 0.5, 1.5, layer_type == "cnorm"))


NEURON_REFS = {
    "relu": lambda x: x.clamp(min=0),
    "brelu[2]": lambda x: x.clamp(0, 2),
    "softrelu": lambda x: torch.tensor(
        [v if v > 4 else math.log(1 + math.exp(v)) for v in x.tolist()]
    ),
    "logistic": lambda x: 1 / (1 + torch.exp(-x)),
    "tanh[1.7,0.6]": lambda x: 1.7 * torch.tanh(0.6 * x),
    "abs": lambda x: x.abs(),
    "square": lambda x: x**2,
    "sqrt": lambda x: x.abs().sqrt(),
    "linear[3,2.2]": lambda x: 3 * x + 2.2,
    "drelu[2]": lambda x: x - 2 * torch.tanh(x / 2),
    "log[5]": lambda x: torch.log(5 + x),
    "ident": lambda x: x,
}


@pytest.mark.parametrize("text", list(NEURON_REFS))
def test_neurons(text):
    x = torch.linspace(-4.5, 6, 23)
    if text == "sqrt":
        x = x.abs()
    close(NeuronOp(parse_neuron(text))(x), NEURON_REFS[text](x))
    built, _ = make("neuron", [(23, 1, 1)], neuron=text)
    assert torch.equal(built.op([x], []), x)  # the neuron itself runs after the op


def test_eltsum_eltmax_concat_pass():
    a, b = rand(2, 3, 2, 2), rand(2, 3, 2, 2, seed=4)
    built, _ = make("eltsum", [(3, 2, 2)] * 2, coeffs=(2.0, -1.0))
    close(built.op([a, b], []), 2 * a - b)
    built, _ = make("eltmax", [(3, 2, 2)] * 2)
    close(built.op([a, b], []), torch.where(a > b, a, b))
    for t in ("concat", "pass"):
        built, info = make(t, [(3, 2, 2), (1, 2, 2)])
        assert info.shape == (4, 2, 2)
        close(built.op([a, b[:, :1]], []), torch.cat([a, b[:, :1]], 1))


def test_eltmax_ties_get_the_whole_gradient():
    built, _ = make("eltmax", [(3, 1, 1)] * 2)
    a = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    b = torch.tensor([[1.0, 5.0, 0.0]], requires_grad=True)
    built.op([a, b], []).sum().backward()
    assert a.grad.tolist() == [[1, 0, 1]] and b.grad.tolist() == [[1, 1, 0]]


@pytest.mark.parametrize("layer_type,keys,train,expect", [
    ("dropout", {}, False, "x"), ("dropout", {"enable": False}, True, "x"),
    ("dropout2", {}, False, "keep"), ("dropout2", {"enable": False}, True, "keep"),
    ("hs", {}, False, "keep"),
])
def test_dropout_deterministic_paths(layer_type, keys, train, expect):
    built, _ = make(layer_type, [(50, 1, 1)], keep=0.8, **keys)
    built.op.train(train)
    x = rand(4, 50)
    close(built.op([x], []), x if expect == "x" else 0.8 * x)


@pytest.mark.parametrize(
    "layer_type,inverted", [("dropout", True), ("dropout2", False), ("hs", False)]
)
def test_dropout_training_masks(layer_type, inverted):
    built, _ = make(layer_type, [(4000, 1, 1)], keep=0.75)
    built.op.train(True)
    y = built.op([torch.ones(2, 4000)], [])
    values = sorted(y.unique().tolist())
    assert values == pytest.approx([0.0, 1 / 0.75] if inverted else [0.0, 1.0])
    assert abs((y != 0).float().mean().item() - 0.75) < 0.03


def test_crop_href_nailbed():
    x = rand(2, 3, 7, 7)
    built, _ = make("crop", [(3, 7, 7)], channels=3, start_x=1, start_y=2, size_x=4)
    close(built.op([x], []), x[:, :, 2:6, 1:5])
    built, _ = make("href", [(3, 7, 7)], channels=3)
    close(built.op([x], []), x[..., torch.arange(6, -1, -1)])
    built, info = make("nailbed", [(3, 7, 7)], channels=3, stride=3)
    # out = ceil(7/3) = 3, start = (7 − 3·2)//2 = 0: pixels 0, 3, 6
    close(built.op([x], []), x[:, :, [0, 3, 6]][:, :, :, [0, 3, 6]])


def test_blur_is_a_zero_padded_gaussian():
    built, _ = make("blur", [(2, 8, 8)], channels=2, filter_size=5, stdev=1.3)
    x = rand(2, 2, 8, 8)
    g = torch.tensor([math.exp(-(2 - i) ** 2 / (2 * 1.3 ** 2)) for i in range(5)])
    g = g / g.sum()
    k = torch.outer(g, g).expand(2, 1, 5, 5)
    close(built.op([x], []), F.conv2d(x, k, padding=2, groups=2))


def test_resize_bilinear():
    built, info = make("resize", [(1, 8, 8)], channels=1, scale=1.5)
    x = rand(1, 1, 8, 8)
    out = info.shape[1]
    assert out == 5
    ref = torch.zeros(1, 1, out, out)
    pos = [min(max(p * 1.5 + 0.25, 0.0), 8 - 1.01) for p in range(out)]
    for i, sy in enumerate(pos):
        for j, sx in enumerate(pos):
            y0, x0 = int(sy), int(sx)
            fy, fx = sy - y0, sx - x0
            ref[0, 0, i, j] = (
                (1 - fy) * (1 - fx) * x[0, 0, y0, x0]
                + (1 - fy) * fx * x[0, 0, y0, x0 + 1]
                + fy * (1 - fx) * x[0, 0, y0 + 1, x0]
                + fy * fx * x[0, 0, y0 + 1, x0 + 1]
            )
    close(built.op([x], []), ref)


def test_rgb2yuv_and_rgb2lab():
    x = rand(2, 3, 2, 2).abs()
    built, _ = make("rgb2yuv", [(3, 2, 2)])
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    close(built.op([x], []), torch.stack([.2126 * r + .7152 * g + .0722 * b,
                                         -.09991 * r - .33609 * g + .436 * b,
                                         .615 * r - .55861 * g - .05639 * b], 1))
    built, _ = make("rgb2lab", [(3, 2, 2)], center=True)

    def f(t):
        return t ** 0.3333 if t > 0.0088564517 else 7.787037 * t + 0.13793103

    y = built.op([x], [])
    for n in range(2):
        rr, gg, bb = x[n, :, 1, 0].tolist()
        X, Y, Z = (
            0.49 * rr + 0.31 * gg + 0.2 * bb,
            0.17697 * rr + 0.8124 * gg + 0.01063 * bb,
            0.01 * gg + 0.99 * bb,
        )
        want = [116 * f(Y) - 16 - 50, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))]
        close(y[n, :, 1, 0], torch.tensor(want))


def test_softmax_and_costs():
    scores, labels = rand(4, 5), torch.tensor([0, 3, 4, 1])
    built, _ = make("softmax", [(5, 1, 1)])
    probs = built.op([scores], [])
    close(probs, torch.exp(scores) / torch.exp(scores).sum(1, keepdim=True))
    built, _ = make("cost.logreg", [(1, 1, 1), (5, 1, 1)], coeff=2.0)
    nll = -torch.log(probs[torch.arange(4), labels]).mean()
    close(built.op([labels, probs], []), 2 * nll)
    built.op.from_scores = True
    close(built.op([labels, scores], []), 2 * nll)
    built, _ = make("cost.sum2", [(5, 1, 1)], coeff=0.5)
    close(built.op([scores], []), 0.5 * (scores ** 2).sum() / 4)
    onehot = F.one_hot(labels, 5).float()
    built, _ = make("cost.crossent", [(5, 1, 1), (5, 1, 1)])
    close(built.op([onehot, probs], []), nll)
    p = torch.sigmoid(scores)
    built, _ = make("cost.bce", [(5, 1, 1), (5, 1, 1)], pos_weight=3.0)
    want = -(3 * onehot * torch.log(p) + (1 - onehot) * torch.log(1 - p)).sum() / 4
    close(built.op([onehot, p], []), want)


def test_logreg_errors_topk():
    built, _ = make("cost.logreg", [(1, 1, 1), (4, 1, 1)], topk=2)
    scores = torch.tensor([[4.0, 3, 2, 1], [1, 2, 3, 4], [1, 4, 3, 2]])
    built.op.from_scores = True
    e = built.op.errors(torch.tensor([1, 3, 0]), scores)
    assert e["top1_err"].item() == pytest.approx(2 / 3)
    assert e["topk_err"].item() == pytest.approx(1 / 3)


def test_one_tie_rule_for_every_top_k():
    """cuda-convnet2's: with h classes strictly higher and e equal (the label included), the
    credit is min(1, max(0, k − h) / e); the cost layer, the training loop and netdef eval all
    use netdef.compiler.costs.topk_credit, so they cannot disagree on ties."""
    from netdef.compiler.costs import topk_credit
    from netdef.evaluate import scores

    assert scores.topk_credit is topk_credit
    flat = torch.zeros(3, 4)  # every class scores the same: chance, never all or nothing
    labels = torch.tensor([0, 2, 3])
    assert topk_credit(flat, labels, 1).tolist() == [0.25] * 3
    assert topk_credit(flat, labels, 3).tolist() == [0.75] * 3
    tied = torch.tensor([[2.0, 2, 2, 1, 0]])  # label 1 shares first place with two others
    assert [topk_credit(tied, torch.tensor([1]), k).item() for k in (1, 2, 3, 4)] == \
        [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0, 1.0]
    assert topk_credit(tied, torch.tensor([3]), 3).item() == 0.0  # three strictly higher
    built, _ = make("cost.logreg", [(1, 1, 1), (4, 1, 1)], topk=2)
    built.op.from_scores = True
    e = built.op.errors(labels, flat)
    assert e["top1_err"].item() == pytest.approx(0.75) and e["topk_err"].item() == pytest.approx(
        0.5
    )


# --- float64 gradchecks ----------------------------------------------------------------------

GRAD_CASES = [
    (
        "conv",
        [(4, 8, 8), (2, 6, 6)],
        dict(
            channels=(4, 2),
            filters=(2, 4),
            filter_size=(3, 3),
            stride=(2, 2),
            padding=(0, 1),
            groups=(2, 1),
        ),
    ),
    (
        "conv",
        [(4, 5, 5)],
        dict(
            channels=(4,),
            filters=(2,),
            filter_size=(3,),
            groups=(2,),
            rand_sparse=(True,),
            filter_channels=(3,),
            shared_biases=False,
        ),
    ),
    (
        "local",
        [(2, 5, 5)],
        dict(channels=(2,), filters=(2,), filter_size=(3,), stride=(2,), padding=(1,)),
    ),
    ("fc", [(2, 2, 2), (3, 1, 1)], dict(outputs=3, init_w=(0.1, 0.1))),
    ("sfc", [(6, 1, 1)], dict(parts=2, outputs=2)),
    ("pool", [(2, 7, 7)], dict(pool="avg", channels=2, size_x=3, stride=2, start=-1)),
    ("pool", [(2, 7, 7)], dict(pool="max", channels=2, size_x=3, stride=2, start=-1)),
    ("pool", [(2, 7, 7)], dict(pool="maxabs", channels=2, size_x=3, stride=3)),
    ("cmpool", [(5, 2, 2)], dict(channels=5, size=2, stride=2)),
    ("cmrnorm", [(6, 2, 2)], dict(channels=6, size=3, scale=1.0, pow=0.75, min_div=2.0)),
    (
        "cmrnorm",
        [(6, 2, 2)],
        dict(channels=6, size=4, scale=1.0, pow=0.75, min_div=2.0, blocked=True),
    ),
    ("rnorm", [(2, 4, 4)], dict(channels=2, size=3, scale=1.0, pow=0.75, min_div=2.0)),
    ("cnorm", [(2, 4, 4)], dict(channels=2, size=3, scale=1.0, pow=0.75, min_div=2.0)),
    ("eltsum", [(3, 1, 1)] * 2, dict(coeffs=(0.5, 2.0))),
    ("eltmax", [(3, 1, 1)] * 2, {}),
    ("softmax", [(4, 1, 1)], {}),
    ("blur", [(2, 5, 5)], dict(channels=2, filter_size=3, stdev=0.8)),
    ("resize", [(1, 6, 6)], dict(channels=1, scale=1.3)),
    ("rgb2yuv", [(3, 2, 2)], {}),
    ("rgb2lab", [(3, 2, 2)], {}),
]


@pytest.mark.parametrize("layer_type,shapes,keys", GRAD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(GRAD_CASES)])
def test_gradcheck(layer_type, shapes, keys):
    built, _ = make(layer_type, shapes, **keys)
    xs = [
        rand(1, *s, dtype=torch.float64, seed=i + 5).requires_grad_() for i, s in enumerate(shapes)
    ]
    if layer_type == "rgb2lab":
        xs = [(x.detach().abs() + 0.1).requires_grad_() for x in xs]
    ws = tensors_for(built, torch.float64)
    n = len(xs)

    def f(*args):
        return built.op(
            list(args[:n]), list(args[n:]) + [w for w in ws if not w.is_floating_point()]
        )

    floats = [w for w in ws if w.is_floating_point()]
    assert torch.autograd.gradcheck(f, (*xs, *floats), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("text", ["softrelu", "logistic", "tanh[1.7,0.6]", "abs", "sqrt",
                                  "drelu[2]", "log[5]", "brelu[2]"])
def test_neuron_gradcheck(text):
    x = rand(20, dtype=torch.float64).requires_grad_()
    if text in ("sqrt", "log[5]"):
        x = (x.detach().abs() + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(NeuronOp(parse_neuron(text)), (x,))


@pytest.mark.parametrize("layer_type,shapes", [("cost.logreg", [(1, 1, 1), (4, 1, 1)]),
                                              ("cost.sum2", [(4, 1, 1)]),
                                              ("cost.crossent", [(4, 1, 1), (4, 1, 1)]),
                                              ("cost.bce", [(4, 1, 1), (4, 1, 1)])])
def test_cost_gradcheck(layer_type, shapes):
    built, _ = make(layer_type, shapes)
    y = torch.softmax(rand(3, 4, dtype=torch.float64), 1).requires_grad_()
    labels = torch.tensor([0, 2, 3])
    t = F.one_hot(labels, 4).double()
    first = {"cost.logreg": labels, "cost.sum2": None}.get(layer_type, t)
    if first is None:
        assert torch.autograd.gradcheck(lambda p: built.op([p], []), (y,))
    else:
        assert torch.autograd.gradcheck(lambda p: built.op([first, p], []), (y,))


def test_data_layers_deliver_images_label_indices_and_one_hot_labels():
    """net.costs takes labels (N,) int64; each data layer derives what it delivers from them:
    dataIdx=1 the indices, dataIdx=2 the labels one-hot (with start/end: those columns)."""
    text = ("[data]\ntype=data\n[idx]\ntype=data\ndataIdx=1\n[hot]\ntype=data\ndataIdx=2\n"
            "[cols]\ntype=data\ndataIdx=2\nstart=1\nend=3\n[fc]\ntype=fc\ninputs=data\noutputs=4\n"
            "neuron=logistic\n[bce]\ntype=cost.bce\ninputs=hot,fc\n[two]\ntype=fc\ninputs=data\n"
            "outputs=2\n[s2]\ntype=cost.sum2\ninputs=two\n[s3]\ntype=cost.sum2\ninputs=idx\n"
            "[s4]\ntype=cost.sum2\ninputs=cols\n")
    from netdef.schema import build_spec
    from netdef.syntax import parse

    checked = check_net(build_spec(parse(text, "d.cfg")), 4, 3, 4)
    net = netdef.compile_net(checked, "cpu")
    labels = torch.tensor([3, 0, 1])
    outs = net.run_layers(rand(3, 3, 4, 4), labels, ["idx", "hot", "cols"])
    assert torch.equal(outs["idx"], labels[:, None].float())
    assert torch.equal(outs["hot"], F.one_hot(labels, 4).float())
    assert torch.equal(outs["cols"], F.one_hot(labels, 4).float()[:, 1:3])
    costs = net.costs(rand(3, 3, 4, 4), labels)
    assert set(costs) == {"bce", "s2", "s3", "s4"} and costs["s4"].item() == pytest.approx(1 / 3)
    assert costs["s3"].item() == pytest.approx((9 + 0 + 1) / 3)
