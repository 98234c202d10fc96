"""Finite-difference gradient check of a compiled net (cuda-convnet's ``--check-grads``)."""

from __future__ import annotations

import torch

from ..check import CheckedNet
from .compile import compile_net


def _labels(net, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Random class indices below the width of the net's first logreg softmax (or 2)."""
    classes = 2
    for _, scores in net.cost_inputs.values():
        classes = net.checked.layers[scores].shape[0]
        break
    return torch.randint(0, classes, (batch,), generator=generator)


def check_grads(checked: CheckedNet, seed: int = 0, batch: int = 2, entries: int = 40,
                step: float = 1e-6) -> list[tuple[str, float]]:
    """Compare autograd with central differences of the summed costs, in float64 on the CPU,
    dropout off (eval mode). For each parameter, up to ``entries`` entries drawn from ``seed``
    are perturbed; returns ``[(name, ‖g_fd − g‖ / max(‖g_fd‖ + ‖g‖, 1e-12))]``."""
    net = compile_net(checked, devices="cpu", fold=False, seed=seed).double().eval()
    g = torch.Generator().manual_seed(seed)
    size, channels = checked.input_size, checked.input_channels
    images = torch.randn(batch, channels, size, size, generator=g, dtype=torch.float64)
    labels = _labels(net, batch, g)

    def loss() -> torch.Tensor:
        return sum(net.costs(images, labels).values())

    net.zero_grad()
    loss().backward()
    report = []
    with torch.no_grad():
        for name, p in net.named_layer_parameters().items():
            flat, grad = p.view(-1), p.grad.reshape(-1)
            pick = torch.randperm(flat.numel(), generator=g)[:entries]
            numeric = torch.empty(len(pick), dtype=torch.float64)
            for j, idx in enumerate(pick.tolist()):
                keep = flat[idx].item()
                flat[idx] = keep + step
                up = loss().item()
                flat[idx] = keep - step
                down = loss().item()
                flat[idx] = keep
                numeric[j] = (up - down) / (2 * step)
            analytic = grad[pick]
            err = (numeric - analytic).norm() / max(
                (numeric.norm() + analytic.norm()).item(), 1e-12
            )
            report.append((name, float(err)))
    return report
