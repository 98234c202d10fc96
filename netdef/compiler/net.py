"""The :class:`Net` module that :func:`~netdef.compiler.compile_net` returns."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import NetdefError
from .graph import Forward, ForwardStep, RunPlan, make_run_plan, weight_tensor
from .noise import member_keys


def _nhwc(x: torch.Tensor) -> bool:
    """A 4-D tensor stored channels-last (and not also NCHW, as one channel is)."""
    return (x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def _fold(x: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """(N, k·C, H, W) channels-last -> (N·k, C, H, W) channels-last: one copy."""
    h, w = x.shape[2:]
    c = x.shape[1] // k
    out = torch.empty((n * k, c, h, w), dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last)
    src = x.permute(0, 2, 3, 1).view(n, h, w, k, c).permute(0, 3, 1, 2, 4)  # (N, k, H, W, C)
    out.permute(0, 2, 3, 1).view(n, k, h, w, c).copy_(src)
    return out


def _unfold(y: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """(N·k, C, H, W) channels-last -> (N, k·C, H, W) channels-last: one copy."""
    c, h, w = y.shape[1:]
    out = torch.empty((n, k * c, h, w), dtype=y.dtype, device=y.device,
                      memory_format=torch.channels_last)
    src = y.permute(0, 2, 3, 1).view(n, k, h, w, c).permute(0, 2, 3, 1, 4)  # (N, H, W, k, C)
    out.permute(0, 2, 3, 1).view(n, h, w, k, c).copy_(src)
    return out


class _Towers(torch.autograd.Function):
    """Logically a reshape between (N, k·C, H, W) and (N·k, C, H, W), copied so as to stay
    channels-last; its gradient is the inverse move (autograd through the strided views
    would scatter through ``as_strided``, many times slower than the copy)."""

    @staticmethod
    def forward(ctx, x, n: int, k: int, fold: bool):
        ctx.conf = (n, k, fold, x.shape)
        return _fold(x, n, k) if fold else _unfold(x, n, k)

    @staticmethod
    def backward(ctx, g):
        n, k, fold, shape = ctx.conf
        return _move(g, n, k, not fold).view(shape), None, None, None


def _move(x: torch.Tensor, n: int, k: int, fold: bool) -> torch.Tensor:
    """:func:`fold_towers` (``fold``) or :func:`unfold_towers` of x."""
    if _nhwc(x):
        return _Towers.apply(x, n, k, fold)
    return x.reshape(n * k, -1) if fold else x.reshape(n, k * x.shape[1], *x.shape[2:])


def fold_towers(x: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """(N, k·C, …) -> (N·k, C·…) rows, towers as extra images; a channels-last image batch
    gives (N·k, C, H, W) channels-last (one copy, where NCHW needs none): a reshape would turn
    it, and every later layer, into NCHW, in which the CPU's pooling runs several times
    slower."""
    return _move(x, n, k, fold=True)


def unfold_towers(y: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """(N·k, C, H, W) -> (N, k·C, H, W), the inverse of :func:`fold_towers`."""
    return _move(y, n, k, fold=False)


def run_towers(op: nn.Module, xs: list[torch.Tensor], ws, n: int, k: int,
               unfolded: str | None) -> torch.Tensor:
    """A "batch" fold's ``k`` towers in one call of ``op``: (N, k·C, H, W) in, the same out.
    ``unfolded`` (the layer type's ``towers_unfolded``): "channels", the op takes the towers'
    channels as they are; "pixels", a channels-last input becomes (N·H·W·k, C, 1, 1) rows of
    pixels, a view. Otherwise towers become extra images (:func:`fold_towers`), which copies a
    channels-last batch each way, forward and backward (70 ms of AlexNet's CPU step before
    pools and cmrnorm went without: docs/performance.md "Towers without copies")."""
    if unfolded == "channels" and all(x.dim() == 4 for x in xs):
        return op(xs, ws)
    if unfolded == "pixels" and len(xs) == 1 and _nhwc(xs[0]):
        x = xs[0]
        b, kc, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(b * h * w * k, kc // k, 1, 1)  # a view
        return op([rows], ws).reshape(b, h, w, kc).permute(0, 3, 1, 2)     # channels-last
    y = op([fold_towers(x, n, k) for x in xs], ws)  # (N·k, C, H, W)
    return unfold_towers(y, n, k)


class InputShapeError(NetdefError, ValueError):
    """Images of another shape than the one the net was checked and compiled for."""


class Net(nn.Module):
    """A compiled cuda-convnet net spread over devices.

    Parameters are held by the net itself under the file's layer names (``conv1a.weight``,
    ``conv3a.weight.1``, ``conv1a.bias``; randSparse subsets ``local32.perm``), identical
    whether towers are folded or not; ops hold none. A shared weight (weightSource) appears
    once, under its owner's name.
    """

    def __init__(self, *, checked, ops: list[nn.Module], steps: list[ForwardStep], where: dict,
                 data_ops: dict, tensors: dict[str, torch.Tensor], output: str,
                 cost_inputs: dict[str, tuple[str, str]]):
        super().__init__()
        self.checked = checked
        self.ops = nn.ModuleList(ops)
        self.data_ops = dict(data_ops)  # stateless: images/labels -> a data layer's value
        self.steps, self.where, self.output = steps, where, output
        self.cost_inputs = cost_inputs  # logreg cost -> (labels layer, scores layer)
        self.cost_names = [s.members[0] for s in steps if s.is_cost]
        self.last_transfers = 0
        self._plans: dict[tuple[str, ...], RunPlan] = {}
        # The state-dict keys are the layer's name and suffix ("fc2.weight.1"), as checkpoints
        # store them. nn.Module has no public way to register a dotted name (register_*
        # refuses "."), and a module tree cannot hold both "fc2.weight" and "fc2.weight.1":
        # so they go into nn.Module's own tables, which state_dict, parameters() and .to() read.
        for name, t in tensors.items():
            if isinstance(t, nn.Parameter):
                self._parameters[name] = t
            else:
                self._buffers[name] = t

    def named_layer_parameters(self) -> dict[str, nn.Parameter]:
        """``{"conv1a.weight": p, …}``: every parameter once, under its owner's layer name."""
        return dict(self._parameters)

    def set_noise(self, key: int, first_image: int = 0) -> None:
        """Key the dropout masks of the forward passes that follow (:mod:`.noise`): ``key``
        any integer (the training step derives it from the seed and the step),
        ``first_image`` the index of this process's first image in the global batch (a
        torchrun rank's offset; 0 in one process)."""
        for step in self.steps:
            op = self.ops[step.op_index].op
            if hasattr(op, "set_noise"):
                op.set_noise(member_keys(key, step.members, first_image))

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {**self._parameters, **self._buffers}

    def run_layers(self, images, labels, targets: list[str]) -> dict[str, torch.Tensor]:
        """The outputs of the named layers (costs included) in one forward pass, each on its
        layer's device; ``labels`` may be None when no target needs them."""
        if images is not None:
            self.check_input(images)
        key = tuple(targets)
        if key not in self._plans:
            self._plans[key] = make_run_plan(self.steps, self.where, targets)
        plan = self._plans[key]
        run = Forward(self, images, labels)
        tensors = self._tensors()
        n = images.shape[0] if images is not None else labels.shape[0]
        for s in plan.order:
            step = self.steps[s]
            xs = [run.gather(group, step.device) for group in step.inputs]
            ws = [weight_tensor(p, tensors, step.device) for p in step.weights]
            if step.batch_fold > 1:
                y = run_towers(self.ops[step.op_index], xs, ws, n, step.batch_fold,
                               step.towers_unfolded)
            else:
                y = self.ops[step.op_index](xs, ws)
            run.outs[s] = y
            for done in plan.release.get(s, ()):
                run.drop(done)
        self.last_transfers = run.transfers
        return {t: run.local(t) for t in targets}

    def check_input(self, images: torch.Tensor) -> None:
        """Refuse images that are not (N, C, S, S) with the checked C and S, naming both
        shapes (the layers' fixed sizes would otherwise fail deep inside with a bare reshape
        error). Raises InputShapeError."""
        c, s = self.checked.input_channels, self.checked.input_size
        if images.dim() == 4 and tuple(images.shape[1:]) == (c, s, s):
            return
        raise InputShapeError(
            f"images of shape {tuple(images.shape)}: this net reads (N, {c}, {s}, {s}), the "
            f"input side it was checked for; to use another side S, load it with "
            f"netdef.load(path, input_size=S) (an experiment file gives its inner-size)")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) mean-subtracted images -> (N, outputs) scores, on the output's device."""
        return self.run_layers(images, None, [self.output])[self.output].flatten(1)

    def costs(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{cost layer: coeff × batch-mean cost}``; the training loss is their sum."""
        return self.run_layers(images, labels, self.cost_names)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
        ours = {prefix + k for k in self._tensors()}
        unexpected_keys[:] = [k for k in unexpected_keys if k not in ours]
