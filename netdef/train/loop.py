"""The training loop (DESIGN.md §4): epochs over the training set, a test every ``test-freq``
epochs, checkpoints after each test and at the end, a clean stop on Ctrl-C / SIGTERM.

Losses stay on the device and are read back every ``log-freq`` batches (one host sync per
report, not per batch); a NaN or inf among them stops the run naming the step. Under torchrun
a stop request also travels with that report's all_reduce, so the ranks stop at the same batch.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext

import torch

from ..compiler.step import make_train_step
from ..errors import NetdefError
from ..checkpoint import save_checkpoint
from .distributed import any_rank, average_grads, close, from_env, sum_across
from .events import (Checkpointed, EpochStarted, Finished, Health, Message, OnEvent, Progress,
                     Started, Tested, ignore)
from .metrics import evaluate, scored_cost, train_forward
from .session import Session, TrainOptions, prepare
from .signals import StopFlag, catch_interrupts
from .state import checkpoint_payload

STUCK_TOLERANCE = 0.03  # a training nll within 3 % of ln(classes) all epoch: not learning


class TrainingDiverged(NetdefError):
    """A NaN or inf cost: the run stopped; the last good checkpoint is untouched."""


def train(options: TrainOptions, on_event: OnEvent = ignore, stop: StopFlag | None = None,
          handle_signals: bool = True) -> Finished:
    """Run (or resume) the experiment; returns how it ended. Bad input raises NetdefError.

    Under torchrun every rank trains its slice of each global batch (DESIGN.md §7); only rank 0
    reports events and writes the run folder."""
    dist = from_env()
    if not dist.main:
        on_event = ignore
    try:
        session = prepare(options, on_event, dist)
        stop = stop or StopFlag()
        guard = catch_interrupts(stop) if handle_signals else nullcontext()
        with guard:
            return Trainer(session, on_event, stop).run()
    finally:
        close(dist)


class Trainer:
    """The loop over one prepared session."""

    def __init__(self, session: Session, on_event: OnEvent, stop: StopFlag):
        self.s, self.emit, self.stop = session, on_event, stop
        self.halt = False  # under torchrun: the ranks' agreed stop, updated at each report
        self.state = session.state
        self.t0 = time.perf_counter()
        self.step0 = self.state.step
        self.saved_step = self.state.step if session.resumed else -1
        self.trainable = [r for r in session.opt.rules if not r.frozen]
        self.dist, self.main = session.dist, session.dist.main
        self.params = [p for g in session.opt.param_groups for p in g["params"]]
        self.param_of = {r.name: g["params"][0]
                         for r, g in zip(session.opt.rules, session.opt.param_groups)}
        self.step_fn = make_train_step(
            session.net, session.opt, session.exp.precision, session.exp.compile,
            on_event=lambda e: self.emit(Message(e.text, e.severity)), forward=train_forward,
            after_backward=lambda: average_grads(self.dist, self.params),
            channels_last=session.exp.channels_last)
        if self.step_fn.scaler is not None and self.state.scaler:  # fp16 resumed: same scale
            self.step_fn.scaler.load_state_dict(self.state.scaler)

    def run(self) -> Finished:
        s, state = self.s, self.state
        if self.main:
            s.run.create()
            if s.resumed:
                s.run.truncate_metrics(state.step)
            s.run.write_files(s.experiment_record(), s.paths, s.texts)
        self.emit(Started(str(s.run.path), s.exp.epochs, s.batches_per_epoch, s.exp.batch_size,
                          state.step, s.total_steps, tuple(s.devices), s.resumed,
                          s.dataset.num_train, s.dataset.num_val, len(s.dataset.classes),
                          _outputs(s.net), s.checked.params))
        if state.pending_test and not self.test():
            return self.interrupted()
        while state.epoch < s.exp.epochs:
            if not self.train_epoch():
                return self.interrupted()
            state.epoch, state.batch = state.epoch + 1, 0
            if state.epoch % s.exp.test_freq == 0 or state.epoch == s.exp.epochs:
                state.pending_test = True
                if not self.test():
                    return self.interrupted()
        if self.saved_step != state.step:
            self.save("end")
        return self.finished(False)

    def train_epoch(self) -> bool:
        """One epoch from ``state.batch`` on; False when stopped by a signal."""
        from ..data import train_loader

        s, state, exp = self.s, self.state, self.s.exp
        loader = train_loader(s.dataset, exp.batch_size, exp.inner_size, exp.color_noise,
                              exp.seed, state.epoch, start_batch=state.batch,
                              rank=self.dist.rank, world=self.dist.world,
                              workers=exp.workers, device=s.data_device)
        self.emit(EpochStarted(state.epoch + 1, state.batch, s.batches_per_epoch))
        pending, window, nlls = [], (time.perf_counter(), 0), []
        batches = iter(loader)
        while not self.stopping():
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            except RuntimeError:  # a loader worker hit by the same Ctrl-C
                if self.stop.requested:
                    break
                raise
            pending.append(self.train_step(images, labels))
            window = (window[0], window[1] + images.shape[0] * self.dist.world)  # global
            if len(pending) >= exp.log_freq or state.batch == s.batches_per_epoch:
                nlls.append(self.report(pending, window))
                pending, window = [], (time.perf_counter(), 0)
        if pending:
            nlls.append(self.report(pending, window))
        if self.stopping():
            return False
        self.warn_if_stuck(nlls)
        return True

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One update; returns the detached [loss, nll, top-1 error] (on the device)."""
        s, state = self.s, self.state
        step = state.step + 1
        s.opt.set_rates(step, s.total_steps, state.val_errors)
        # zero_grad, forward under the experiment's precision, backward (the mean over this
        # rank's slice of the batch), gradients averaged across ranks (the global-batch mean),
        # the update: netdef.compiler.step
        loss, shown = self.step_fn(images, labels)
        state.step, state.batch = step, state.batch + 1
        return torch.cat([loss.detach().float().reshape(1), shown.to(loss.device)])

    def stopping(self) -> bool:
        """One process stops after the batch in flight. Under torchrun a rank stops only when
        the ranks agreed to (at the next report), so that none is left waiting in a collective
        for one that already left (DESIGN.md §7)."""
        return self.halt if self.dist.active else self.stop.requested

    def reduce_with_stop(self, values: torch.Tensor) -> torch.Tensor:
        """The ranks' mean of the pending values, with each rank's stop request riding along
        in the same all_reduce: (batches, 3) -> (batches, 3); sets ``halt`` if any asked."""
        flag = torch.full((1, values.shape[1]), float(self.stop.requested),
                          dtype=values.dtype, device=values.device)
        summed = sum_across(self.dist, torch.cat([values, flag]))
        self.halt = self.halt or bool(summed[-1, 0] > 0)
        return summed[:-1] / self.dist.world

    def report(self, pending: list[torch.Tensor], window: tuple[float, int]) -> float:
        """Read the pending batch values (one sync), stop on NaN/inf, log and emit Progress."""
        s, state = self.s, self.state
        values = torch.stack(pending)  # (batches, 3): loss, nll, top-1 error
        if self.dist.active:  # the ranks' slices are equal (or nearly): the mean of their means
            values = self.reduce_with_stop(values)
        values = values.cpu().double()
        first_step = state.step - len(pending) + 1
        bad = (~torch.isfinite(values[:, 0])).nonzero()
        if len(bad):
            self.diverged(first_step + int(bad[0]), float(values[int(bad[0]), 0]))
        n = values.shape[0] * s.exp.batch_size
        nll, top1 = values[:, 1].mean().item(), values[:, 2].mean().item()
        sums = state.train_sums
        state.train_sums = [sums[0] + n, sums[1] + n * nll, sums[2] + n * top1]
        now = time.perf_counter()
        speed = window[1] / max(now - window[0], 1e-9)
        done = state.step - self.step0
        eta = (now - self.t0) / max(done, 1) * (s.total_steps - state.step)
        rate = s.opt.rates()[self.trainable[0].name] if self.trainable else 0.0
        if self.main:
            s.run.append_metrics({"kind": "train", "epoch": state.epoch + 1,
                                  "batch": state.batch, "step": state.step, "nll": nll,
                                  "top1_err": top1, "rate": rate, "images_per_s": speed,
                                  "time": time.time()})
        self.emit(Progress(state.epoch + 1, state.batch, s.batches_per_epoch, state.step,
                           s.total_steps, nll, top1, rate, speed, eta))
        return nll

    def diverged(self, step: int, value: float) -> None:
        s = self.s
        per = s.batches_per_epoch
        epoch, batch = (step - 1) // per + 1, (step - 1) % per + 1
        bad = sorted({r.layer for r in s.opt.rules
                      if not torch.isfinite(self.param_of[r.name]).all()})
        where = (f"the weights of layer(s) {', '.join(repr(b) for b in bad)} are no longer finite"
                 if bad else "every weight is still finite (the cost itself overflowed)")
        kept = (f"the last good checkpoint stays: {s.run.ckpt}" if s.run.ckpt.exists()
                else "no checkpoint had been written yet")
        raise TrainingDiverged(f"step {step} (epoch {epoch}, batch {batch}): the cost is "
                               f"{value}; {where}. Training stopped; {kept}. Lower the learning "
                               f"rates (epsW/epsB) or check initW, then --resume.")

    def warn_if_stuck(self, nlls: list[float]) -> None:
        classes = len(self.s.dataset.classes)
        chance = math.log(classes)
        if nlls and all(abs(x - chance) < STUCK_TOLERANCE * chance for x in nlls):
            self.emit(Message(f"epoch {self.state.epoch + 1}: the training nll stayed at "
                              f"ln({classes}) = {chance:.3f} (chance) for the whole epoch: the "
                              f"net is not learning. Check the rates (epsW), initW and the "
                              f"labels", "warning"))

    def test(self) -> bool:
        """Test on the whole validation set, log, checkpoint; False when stopped."""
        from ..data import val_loader

        s, state = self.s, self.state
        t = time.perf_counter()
        batches = val_loader(s.dataset, s.exp.batch_size, s.exp.inner_size,
                             workers=s.exp.workers, device=s.data_device,
                             rank=self.dist.rank, world=self.dist.world)
        reduce = (lambda totals: sum_across(self.dist, totals)) if self.dist.active else None
        # under torchrun every rank scores its whole share (the totals are reduced at the end),
        # then the ranks agree whether any of them was asked to stop
        result = evaluate(s.net, batches, StopFlag() if self.dist.active else self.stop, reduce)
        if self.dist.active:
            self.halt = self.halt or any_rank(self.dist, self.stop.requested)
        if self.stopping():
            return False
        if result is None:  # no logreg cost: nothing to score
            state.pending_test = False
            self.save("test")
            return True
        nll, top1, top5 = result
        images, tn, tt = state.train_sums
        best = top1 < state.best_top1
        state.val_errors.append(top1)
        state.best_top1 = min(state.best_top1, top1)
        health = self.health()
        record = {"kind": "test", "epoch": state.epoch, "step": state.step, "val_nll": nll,
                  "val_top1_err": top1, "val_top5_err": top5,
                  "train_nll": tn / max(images, 1), "train_top1_err": tt / max(images, 1),
                  "health": {h.name: [h.mean_abs_w, h.mean_abs_dw] for h in health},
                  "time": time.time()}
        state.history.append(record)
        state.train_sums = [0, 0.0, 0.0]
        state.pending_test = False
        if self.main:
            s.run.append_metrics(record)
        self.emit(Tested(state.epoch, state.step, nll, top1, top5, record["train_nll"],
                         record["train_top1_err"], best, time.perf_counter() - t, health))
        self.save("test", best=best)
        return True

    def health(self) -> tuple[Health, ...]:
        """cuda-convnet's per-weight mean |w| and mean |Δw| (the last update = the buffer)."""
        opt, out = self.s.opt, []
        buffers = opt.momentum_buffers()
        for rule in opt.rules:
            if rule.kind != "weight" or rule.frozen:
                continue
            w = self.param_of[rule.name]
            dw = buffers.get(rule.name)
            out.append(Health(rule.name, w.detach().abs().mean().item(),
                              dw.abs().mean().item() if dw is not None else 0.0))
        return tuple(out)

    def save(self, reason: str, best: bool = False) -> None:
        s = self.s
        self.saved_step = self.state.step
        if not self.main:  # every rank holds the same weights; rank 0 writes them
            return
        scaler = self.step_fn.scaler
        self.state.scaler = scaler.state_dict() if scaler is not None else None
        payload = checkpoint_payload(s.net, s.opt, self.state, s.texts, s.paths,
                                     s.experiment_record(), s.dataset)
        save_checkpoint(s.run.ckpt, payload)
        self.emit(Checkpointed(str(s.run.ckpt), self.state.step, reason))
        if best:
            save_checkpoint(s.run.best, payload)

    def interrupted(self) -> Finished:
        self.save("interrupt")
        return self.finished(True)

    def finished(self, interrupted: bool) -> Finished:
        history = self.state.history
        best = None if math.isinf(self.state.best_top1) else self.state.best_top1
        last = history[-1]["val_top1_err"] if history else None
        event = Finished(str(self.s.run.path), self.state.step, interrupted, best, last,
                         time.perf_counter() - self.t0)
        self.emit(event)
        return event


def _outputs(net) -> int:
    cost = scored_cost(net)
    if cost is None:
        return 0
    return int(torch.Size(net.checked.layers[net.cost_inputs[cost][1]].shape).numel())
