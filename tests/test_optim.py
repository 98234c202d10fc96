"""The paper's update rule and its schedules (docs/language-guide.md), step by step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import netdef
from netdef.optim import build_optimizer, progress_at, schedule_noise
from netdef.schedules import lr_at, parse_schedule

from trainnets import TINY_PARAMS_RULES, write_net


def _setup(tmp_path, params=TINY_PARAMS_RULES, seed=0):
    path = write_net(tmp_path, params=params)
    checked = netdef.load(path, input_size=16)
    net = netdef.compile_net(checked, "cpu", seed=seed)
    return net, build_optimizer(net, seed=seed)


def _batch(step: int):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(6, 3, 16, 16, generator=g), torch.randint(0, 4, (6,), generator=g)


def _expected_rate(rule, step, total, val_errors=()):
    """eps from the schedule formulas directly, with the A12 noise (1 + |z|·noiseStdev)."""
    p = (step - 1) / total
    eps = lr_at(rule.eps, p, val_errors)
    if rule.mult is not None:
        z = schedule_noise(0, step, rule.name)
        eps *= lr_at(rule.mult, p) * (1 + abs(z) * rule.mult.noise_stdev)
    return eps


def test_update_matches_the_formula_step_by_step(tmp_path):
    net, opt = _setup(tmp_path)
    params = net.named_layer_parameters()
    w = {n: p.detach().clone() for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    total = 6  # fc1's dexp steps down after batch 3, fc2's jdexp twice: rates change mid-run
    for step in range(1, total + 1):
        opt.zero_grad(set_to_none=True)
        loss = sum(net.costs(*_batch(step)).values())
        loss.backward()
        grads = {n: (p.grad.clone() if p.grad is not None else None) for n, p in params.items()}
        opt.set_rates(step, total)
        opt.step()
        for rule in opt.rules:
            n = rule.name
            if rule.frozen:
                assert grads[n] is None, f"{n} is frozen: no gradient should be computed"
                continue
            eps = _expected_rate(rule, step, total)
            assert opt.rates()[n] == pytest.approx(eps, rel=1e-12)
            v[n] = rule.mom * v[n] - eps * (grads[n] + rule.wc * w[n])
            w[n] = w[n] + v[n]
            if rule.wball > 0:  # fc: every output unit (row) to norm exactly wball
                w[n] = w[n] * (rule.wball / w[n].norm(dim=1, keepdim=True))
            torch.testing.assert_close(params[n].detach(), w[n], rtol=1e-5, atol=1e-7,
                                       msg=f"{n} at step {step}")


def test_frozen_layers_do_not_move_and_get_no_gradient(tmp_path):
    net, opt = _setup(tmp_path)
    params = net.named_layer_parameters()
    before = params["conv1.weight"].detach().clone()
    assert not params["conv1.weight"].requires_grad and not params["conv1.bias"].requires_grad
    for step in (1, 2):
        opt.zero_grad()
        sum(net.costs(*_batch(step)).values()).backward()
        opt.set_rates(step, 2)
        opt.step()
    assert params["conv1.weight"].grad is None
    assert torch.equal(params["conv1.weight"], before)


def test_wball_rescales_every_fc_row_to_exactly_wball(tmp_path):
    net, opt = _setup(tmp_path)
    sum(net.costs(*_batch(1)).values()).backward()
    opt.set_rates(1, 4)
    opt.step()
    norms = net.named_layer_parameters()["fc1.weight"].detach().norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, 0.5))


def test_differs_from_torch_sgd_across_a_rate_step():
    """v ← mom·v − eps·g puts eps inside the momentum sum; torch's SGD multiplies the whole
    buffer by the current lr, so the two part ways at the first rate change."""
    from netdef.optim import NetdefSGD, Rule

    sched = parse_schedule("dexp[base=0.1;tgtFactor=10;numSteps=2]")
    rule = Rule(name="fc.weight", layer="fc", layer_type="fc", kind="weight", index=0, eps=sched,
                mult=None, mom=0.9, wc=0.0, wball=0.0)
    ours = torch.nn.Parameter(torch.ones(3, 2))
    theirs = torch.nn.Parameter(torch.ones(3, 2))
    opt = NetdefSGD({"fc.weight": ours}, [rule])
    sgd = torch.optim.SGD([theirs], lr=0.1, momentum=0.9)
    w, v, total, trace = torch.ones(3, 2), torch.zeros(3, 2), 6, []
    for step in range(1, total + 1):
        g = torch.full((3, 2), float(step))
        ours.grad, theirs.grad = g.clone(), g.clone()
        opt.set_rates(step, total)
        eps = lr_at(sched, progress_at(step, total))
        for group in sgd.param_groups:
            group["lr"] = eps
        opt.step()
        sgd.step()
        v = 0.9 * v - eps * g
        w = w + v
        torch.testing.assert_close(ours.detach(), w)
        trace.append(torch.allclose(ours, theirs))
    assert trace[:4] == [True] * 4  # eps 0.1 while p <= 1/2 (batches 1-4 of 6)
    assert trace[4:] == [False] * 2  # eps 0.01 from batch 5 on: SGD differs


def test_schedules_change_at_the_right_batches():
    """dexp with 4 steps over 8 batches: p = (batch − 1)/8 switches after 25 %, 50 %, 75 %."""
    from netdef.optim import NetdefSGD, Rule

    sched = parse_schedule("dexp[base=0.01;tgtFactor=250;numSteps=4]")
    rule = Rule(name="fc.weight", layer="fc", layer_type="fc", kind="weight", index=0, eps=sched,
                mult=None, mom=0.9, wc=0.0, wball=0.0)
    opt = NetdefSGD({"fc.weight": torch.nn.Parameter(torch.ones(2, 2))}, [rule])
    rates = []
    for step in range(1, 9):
        opt.set_rates(step, 8)
        rates.append(opt.rates()["fc.weight"])
    r = [0.01, 0.01 * 250 ** (-1 / 3), 0.01 * 250 ** (-2 / 3), 0.01 / 250]
    assert rates == pytest.approx([r[0], r[0], r[0], r[1], r[1], r[2], r[2], r[3]])


def test_plateau_follows_the_validation_errors():
    from netdef.optim import NetdefSGD, Rule

    sched = parse_schedule("plateau[base=0.1;factor=0.1;patience=2]")
    rule = Rule(name="fc.bias", layer="fc", layer_type="fc", kind="bias", index=0, eps=sched,
                mult=None, mom=0.9, wc=0.0, wball=0.0)
    opt = NetdefSGD({"fc.bias": torch.nn.Parameter(torch.ones(2))}, [rule])
    for errors, want in [((), 0.1), ((0.5, 0.4), 0.1), ((0.5, 0.4, 0.45, 0.41), 0.01),
                         ((0.5, 0.4, 0.45, 0.41, 0.5, 0.6), 0.001)]:
        opt.set_rates(5, 10, errors)
        assert opt.rates()["fc.bias"] == pytest.approx(want)


def test_shared_weights_update_once(tmp_path):
    """weightSource: the tensor is one parameter, its gradient the sum over both uses, and it
    takes one update with the owner's rule."""
    text = (tmp_path / "x").parent
    path = write_net(text, name="shared")
    body = path.read_text().replace(
        "[fc2]", "[fc1b]\ntype=fc\ninputs=fc1\noutputs=16\ninitW=0.1\n\n"
                 "[fc1c]\ntype=fc\ninputs=fc1b\noutputs=16\nweightSource=fc1b\n\n[fc2]"
    ).replace("inputs=pool1,fc1\n", "inputs=pool1,fc1c\n")
    path.write_text(body)
    params = path.with_name("shared-params.cfg")
    extra = "".join(
        f"\n[{n}]\nepsW=0.1\nepsB=0.1\nmomW=0.5\nmomB=0.9\nwc=0\n" for n in ("fc1b", "fc1c")
    )
    params.write_text(params.read_text() + extra)
    checked = netdef.load(path, input_size=16)
    net = netdef.compile_net(checked, "cpu")
    opt = build_optimizer(net)
    names = [r.name for r in opt.rules]
    assert "fc1b.weight" in names and "fc1c.weight" not in names
    p = net.named_layer_parameters()["fc1b.weight"]
    before = p.detach().clone()
    sum(net.costs(*_batch(1)).values()).backward()
    g = p.grad.clone()
    opt.set_rates(1, 2)
    opt.step()
    torch.testing.assert_close(p.detach(), before - 0.1 * g)


def test_momentum_buffers_round_trip(tmp_path):
    net, opt = _setup(tmp_path)
    sum(net.costs(*_batch(1)).values()).backward()
    opt.set_rates(1, 4)
    opt.step()
    bufs = {k: b.clone() for k, b in opt.momentum_buffers().items()}
    assert "conv1.weight" not in bufs  # frozen: never updated, no buffer
    net2, opt2 = _setup(tmp_path / "b")
    assert opt2.load_momentum_buffers(bufs) == ["conv1.weight", "conv1.bias"]
    for k, b in opt2.momentum_buffers().items():
        assert torch.equal(b, bufs[k])


def test_a12_noise_is_keyed_by_seed_step_and_rule_so_a_resume_draws_the_same(tmp_path):
    """schedW jdexp[...,noiseStdev=0.1,...]: each update's rate × (1 + |z|·0.1), z drawn from
    (seed, step, parameter) alone: a fresh optimizer (a resumed run) set at steps 4..6 gets the
    rates an uninterrupted one got there, whatever the global generators did meanwhile."""
    net, opt = _setup(tmp_path)
    noisy = [r.name for r in opt.rules if r.noisy]
    assert noisy == ["fc2.weight", "fc2.weight.1"]
    straight = {}
    for step in range(1, 7):
        opt.set_rates(step, 6)
        straight[step] = opt.rates()
    torch.manual_seed(123)
    np.random.seed(7)
    np.random.standard_normal(5)
    _, resumed = _setup(tmp_path)
    for step in range(4, 7):
        resumed.set_rates(step, 6)
        assert resumed.rates() == straight[step]
    zs = [schedule_noise(0, step, name) for step in range(1, 7) for name in noisy]
    assert len(set(zs)) == len(zs)  # fresh per update and per parameter
    assert schedule_noise(1, 1, noisy[0]) != schedule_noise(0, 1, noisy[0])  # keyed by the seed


def test_a12_noise_of_one_parameter_does_not_depend_on_the_others():
    draws = [schedule_noise(5, 10, "fc2.weight") for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]
    sample = np.array([schedule_noise(0, s, "conv1.weight") for s in range(1, 2001)])
    assert abs(sample.mean()) < 0.1 and abs(sample.std() - 1) < 0.1  # N(0, 1)


def test_the_optimizer_and_a_training_step_do_not_import_dynamo():
    """torch.optim.Optimizer's add_param_group and zero_grad import torch._dynamo on first
    use (2 s of every run's start here); NetdefSGD's own do not. In a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from netdef.check import load\n"
        "from netdef.compiler import compile_net\n"
        "from netdef.optim import build_optimizer\n"
        "from netdef.train.step import make_train_step\n"
        "net = compile_net(load('layers/quickstart.cfg', None, 56), devices='cpu').train()\n"
        "step = make_train_step(net, build_optimizer(net))\n"
        "step(torch.randn(4, 3, 56, 56), torch.randint(0, 10, (4,)))\n"
        "step.optimizer.zero_grad(set_to_none=False)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_param_groups_take_defaults_and_refuse_a_parameter_twice():
    from netdef.compiler import compile_net

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    net = compile_net(netdef.load(root / "layers" / "quickstart.cfg", None, 56), devices="cpu")
    opt = build_optimizer(net)
    extra = torch.nn.Parameter(torch.zeros(2))
    opt.add_param_group({"params": extra})
    assert opt.param_groups[-1]["params"] == [extra] and opt.param_groups[-1]["lr"] == 0.0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [opt.param_groups[0]["params"][0]]})
