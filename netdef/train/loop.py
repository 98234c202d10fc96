"""The training loop (docs/design.md §4): epochs over the training set, a test every ``test-freq``
epochs, checkpoints after each test and at the end, a clean stop on Ctrl-C / SIGTERM.

The update itself is :meth:`netdef.train.step.TrainStep.update`; the random streams are
:class:`netdef.train.streams.Streams`. A step's numbers stay on the device and are read back
every ``log-freq`` batches (one host sync per report, not per batch); a NaN or inf among them
stops the run naming the step, and a cost far above where it should be and growing is said
at once (:mod:`.watch`). Under torchrun a stop request also travels with that report's
all_reduce, so the ranks stop at the same batch.
"""

from __future__ import annotations

import math
import shutil
import time
from contextlib import nullcontext

import torch

from ..checkpoint import write_checkpoint
from ..data.options import resolve_workers
from ..errors import NetdefError
from ..host import cpus_per_process
from .distributed import any_rank, average_grads, close, from_env, sum_across
from .events import (
    BatchDone,
    Checkpointed,
    EpochStarted,
    Finished,
    Health,
    Message,
    OnEvent,
    Progress,
    Started,
    StopRequested,
    Tested,
    ignore,
)
from .metrics import Averages, StepResult, scored_cost, validate
from .session import Session, TrainOptions, open_session
from .signals import StopFlag, catch_interrupts
from .state import make_checkpoint
from .step import make_train_step
from .streams import rank_offset
from .watch import CAUSES, DivergenceWatch, fmt, stuck_warning


class TrainingDiverged(NetdefError):
    """A NaN or inf cost: the run stopped; checkpoints already written are untouched."""


def train(options: TrainOptions, on_event: OnEvent = ignore, stop: StopFlag | None = None,
          handle_signals: bool = True) -> Finished:
    """Run (or resume) the experiment; returns how it ended. Bad input raises NetdefError.

    Under torchrun every rank trains its slice of each global batch (docs/design.md §8); only
    rank 0 reports events and writes the run folder."""
    dist = from_env()
    if not dist.main:
        on_event = ignore
    finished = False
    try:
        session = open_session(options, on_event, dist)
        stop = stop or StopFlag()
        stop.listeners.append(said := lambda signum: on_event(StopRequested(signum)))
        guard = catch_interrupts(stop) if handle_signals else nullcontext()
        try:
            with guard:
                trainer = Trainer(session, on_event, stop)
                try:
                    result = trainer.run()
                finally:
                    trainer.close_loaders()
        finally:
            stop.listeners.remove(said)
        finished = True
        return result
    finally:
        close(dist, finished=finished)


class Trainer:
    """The loop over one prepared session."""

    def __init__(self, session: Session, on_event: OnEvent, stop: StopFlag):
        self.s, self.emit, self.stop = session, on_event, stop
        self.halt = False  # under torchrun: the ranks' agreed stop, updated at each report
        self.state = session.state
        self.t0 = time.perf_counter()
        self.step0 = self.state.step
        self._train_batches = self._val_loader = None  # made at first use (train_batches)
        self.workers = resolve_workers(
            session.exp.workers, cpu_only=all(torch.device(d).type == "cpu"
                                              for d in session.devices),
            cpus=cpus_per_process())
        self.saved_step = self.state.step if session.resumed else -1
        self.trainable = [r for r in session.opt.rules if not r.frozen]
        self.dist, self.main = session.dist, session.dist.main
        self.params = [p for g in session.opt.param_groups for p in g["params"]]
        self.param_of = {r.name: g["params"][0]
                         for r, g in zip(session.opt.rules, session.opt.param_groups, strict=True)}
        classifier = scored_cost(session.net) is not None
        self.watch = DivergenceWatch(len(session.dataset.classes) if classifier else None)
        self.step_fn = make_train_step(
            session.net, session.opt, session.exp.precision, session.exp.compile,
            on_event=lambda e: self.emit(Message(e.text, e.severity)),
            after_backward=lambda: average_grads(self.dist, self.params),
            channels_last=session.exp.channels_last, streams=session.streams,
            first_image=rank_offset(session.exp.batch_size, self.dist.rank, self.dist.world))
        if self.step_fn.scaler.is_enabled() and self.state.scaler:  # fp16 resumed: same scale
            self.step_fn.scaler.load_state_dict(self.state.scaler)

    def run(self) -> Finished:
        s, state = self.s, self.state
        if self.main:
            s.run.create()
            if s.resumed:
                s.run.truncate_metrics(state.step)
            s.run.write_files(s.experiment_record(), s.paths, s.texts, s.overrides)
        classifier = scored_cost(s.net) is not None
        self.emit(Started(run_dir=str(s.run.path), epochs=s.exp.epochs,
                          batches_per_epoch=s.batches_per_epoch, batch_size=s.exp.batch_size,
                          step=state.step, total_steps=s.total_steps, devices=tuple(s.devices),
                          resumed=s.resumed, num_train=s.dataset.num_train,
                          num_val=s.dataset.num_val,
                          classes=len(s.dataset.classes) if classifier else None,
                          outputs=_outputs(s.net), params=s.checked.params,
                          rate_of=_rate_label(self.trainable[0]) if self.trainable else ""))
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
        s, state, exp = self.s, self.state, self.s.exp
        self.emit(EpochStarted(state.epoch + 1, state.batch, s.batches_per_epoch))
        pending, window, reports = [], (time.perf_counter(), 0), []
        batches = self.train_batches()
        while not self.stopping() and state.batch < s.batches_per_epoch:
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            except RuntimeError:  # a loader worker hit by the same Ctrl-C
                if self.stop.requested:
                    break
                raise
            pending.append(self.train_step(images, labels))
            self.emit(BatchDone(epoch=state.epoch + 1, batch=state.batch,  # no sync: the
                                batches=s.batches_per_epoch, step=state.step,  # values stay
                                total_steps=s.total_steps))                    # on the device
            window = (window[0], window[1] + images.shape[0] * self.dist.world)  # global
            # rows on global steps (and each epoch's last batch), so a resumed run logs at
            # the same steps as an uninterrupted one
            if state.step % exp.log_freq == 0 or state.batch == s.batches_per_epoch:
                reports.append(self.report(pending, window))
                pending, window = [], (time.perf_counter(), 0)
        if pending:
            # stopped mid-window: counted in the epoch's sums (saved in the checkpoint) and
            # shown, but not logged, so the resumed run's rows land on the uninterrupted
            # run's steps (its first row then covers the batches after the checkpoint only)
            reports.append(self.report(pending, window, log=not self.stopping()))
        if self.stopping():
            return False
        stuck = stuck_warning(reports, len(s.dataset.classes), state.epoch + 1,
                              steps=state.step)
        if stuck:
            self.emit(Message(stuck, "warning"))
        return True

    def train_batches(self):
        """The run's training batches from the current epoch and batch to the last epoch,
        one iterator over one loader whose workers start once (not at every epoch); an
        epoch takes ``batches_per_epoch`` of them."""
        from ..data import train_loader

        if self._train_batches is None:
            s, state, exp = self.s, self.state, self.s.exp
            loader = train_loader(s.dataset, exp.batch_size, exp.inner_size, exp.color_noise,
                                  exp.seed, state.epoch, start_batch=state.batch,
                                  rank=self.dist.rank, world=self.dist.world,
                                  workers=self.workers, device=s.data_device,
                                  generator=s.streams.loader(state.epoch),
                                  random_crops=exp.random_crops, mirrors=exp.mirrors,
                                  epochs=exp.epochs - state.epoch)
            self._train_batches = iter(loader)
        return self._train_batches

    def val_batches(self):
        """The validation loader, made once: its workers stay between tests."""
        from ..data import val_loader

        if self._val_loader is None:
            s = self.s
            self._val_loader = val_loader(s.dataset, s.exp.batch_size, s.exp.inner_size,
                                          workers=self.workers, device=s.data_device,
                                          rank=self.dist.rank, world=self.dist.world,
                                          persistent=True)
        return self._val_loader

    def close_loaders(self) -> None:
        """End the loaders' worker processes now: closing the training generator drops its
        DataLoader iterator, and dropping the validation DataLoader its persistent one (an
        iterator ends its workers when it goes)."""
        if self._train_batches is not None:
            self._train_batches.close()
        self._train_batches = self._val_loader = None

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        """One update; returns the step's numbers (detached, on the device)."""
        s, state = self.s, self.state
        step = state.step + 1
        s.opt.set_rates(step, s.total_steps, state.val_errors)  # schedules; A12 noise (seed, step)
        # dropout keyed by (seed, step); zero_grad, forward under the experiment's precision,
        # backward (the mean over this rank's slice), gradients averaged across ranks (the
        # global-batch mean), the update: TrainStep.update in netdef/train/step.py
        result = self.step_fn(images, labels, step)
        state.step, state.batch = step, state.batch + 1
        return result

    def stopping(self) -> bool:
        """One process stops after the batch in flight. Under torchrun a rank stops only when
        the ranks agreed to (at the next report), so that none is left waiting in a collective
        for one that already left (docs/design.md §8)."""
        return self.halt if self.dist.active else self.stop.requested

    def reduce_with_stop(self, values: torch.Tensor) -> torch.Tensor:
        """The ranks' mean of the pending values, with each rank's stop request riding along
        in the same all_reduce: (batches, columns) -> (batches, columns); sets ``halt`` if
        any asked."""
        flag = torch.full((1, values.shape[1]), float(self.stop.requested),
                          dtype=values.dtype, device=values.device)
        summed = sum_across(self.dist, torch.cat([values, flag]))
        self.halt = self.halt or bool(summed[-1, 0] > 0)
        return summed[:-1] / self.dist.world

    def report(self, pending: list[StepResult], window: tuple[float, int],
               log: bool = True) -> Averages:
        """Read the pending steps' numbers (one sync), stop on NaN/inf, watch for divergence,
        log (unless ``log`` is False) and emit Progress; returns the window's averages."""
        s, state = self.s, self.state
        names = list(pending[0].columns())
        values = torch.stack([torch.stack(list(r.columns().values())) for r in pending])
        if self.dist.active:  # the ranks' slices are equal (or nearly): the mean of their means
            values = self.reduce_with_stop(values)
        values = values.cpu().double()  # (batches, columns), the columns named by `names`
        first_step = state.step - len(pending) + 1
        loss = values[:, names.index("loss")]
        bad = (~torch.isfinite(loss)).nonzero()
        if len(bad):
            self.diverged(first_step + int(bad[0]), float(loss[int(bad[0])]))
        avg = Averages.from_columns(dict(zip(names, values.mean(0).tolist(), strict=True)),
                                    images=len(pending) * s.exp.batch_size)
        state.train_sums = avg.add_to(state.train_sums)
        self.watch_divergence(avg, first_step)
        now = time.perf_counter()
        speed = window[1] / max(now - window[0], 1e-9)
        eta = (now - self.t0) / max(state.step - self.step0, 1) * (s.total_steps - state.step)
        rate = s.opt.rates()[self.trainable[0].name] if self.trainable else 0.0
        if self.main and log:
            record = {"kind": "train", "epoch": state.epoch + 1, "batch": state.batch,
                      "batches": s.batches_per_epoch, "step": state.step, "loss": avg.loss,
                      "costs": avg.costs, "rate": rate, "images_per_s": speed,
                      "time": time.time()}
            if self.trainable:  # whose rate it is, for show-cost's axis ("conv1 epsW")
                record["rate_of"] = _rate_label(self.trainable[0])
            if avg.nll is not None:
                record.update(nll=avg.nll, top1_err=avg.top1_err)
            s.run.append_metrics(record)
        self.emit(Progress(epoch=state.epoch + 1, batch=state.batch,
                           batches=s.batches_per_epoch, step=state.step,
                           total_steps=s.total_steps, nll=avg.nll, top1_err=avg.top1_err,
                           rate=rate, images_per_s=speed, eta_s=eta, costs=avg.costs,
                           loss=avg.loss))
        return avg

    def watch_divergence(self, avg: Averages, first_step: int) -> None:
        """Warn as soon as the cost is far above where it should be and growing; from then
        until it recovers no checkpoint is recommended (``state.diverging_since``)."""
        state = self.state
        diverging, text = self.watch.check(avg, first_step, state.diverging_since is not None)
        if diverging and state.diverging_since is None:
            state.diverging_since = first_step
            text += f". {_sentence(self.safe_checkpoint_text())}"
        elif not diverging:
            state.diverging_since = None
        if text:
            self.emit(Message(text, "warning" if diverging else "note"))

    def safe_checkpoint_text(self) -> str:
        """Which checkpoint to go back to: the last one written before the divergence
        warning began (kept under its own name once a later one replaced ckpt.pt)."""
        safe, since = self.state.safe_checkpoint, self.state.diverging_since
        began = f" (step {since})" if since is not None else ""
        if safe is None:
            return (f"no checkpoint is safe: none was written before the cost began to "
                    f"grow{began}")
        return (f"the last checkpoint written before the cost began to grow{began} is "
                f"{self.s.run.path / safe['file']} (step {safe['step']})")

    def diverged(self, step: int, value: float) -> None:
        s, state = self.s, self.state
        per = s.batches_per_epoch
        epoch, batch = (step - 1) // per + 1, (step - 1) % per + 1
        bad = sorted({r.layer for r in s.opt.rules
                      if not torch.isfinite(self.param_of[r.name]).all()})
        where = (f"the weights of layer(s) {', '.join(repr(b) for b in bad)} are no longer finite"
                 if bad else "every weight is still finite (the cost itself overflowed)")
        if state.diverging_since is None:
            state.diverging_since = step
        safe, how = state.safe_checkpoint, ""
        if safe is not None and safe["file"] == s.run.ckpt.name:
            how = f"; with lower rates, continue it with --resume {s.run.path}"
        elif safe is not None:
            how = (f"; with lower rates, start a new run from it: --init-from "
                   f"{s.run.path / safe['file']}")
        raise TrainingDiverged(f"step {step} (epoch {epoch}, batch {batch}): the cost is "
                               f"{fmt(value)}; {where}. Training stopped. "
                               f"{_sentence(self.safe_checkpoint_text())}{how}. {CAUSES}.")

    def test(self) -> bool:
        """Test on the whole validation set, log, checkpoint; False when stopped."""
        s, state = self.s, self.state
        t = time.perf_counter()
        batches = self.val_batches()
        reduce = (lambda totals: sum_across(self.dist, totals)) if self.dist.active else None
        # under torchrun every rank scores its whole share (the totals are reduced at the end),
        # then the ranks agree whether any of them was asked to stop
        result = validate(s.net, batches, StopFlag() if self.dist.active else self.stop, reduce)
        if self.dist.active:
            self.halt = self.halt or any_rank(self.dist, self.stop.requested)
        if self.stopping():
            return False
        train = Averages.from_sums(state.train_sums)
        top1 = result.top1_err
        best = top1 is not None and top1 < state.best_top1
        # plateau schedules follow the validation error (without a classifier: the cost)
        state.val_errors.append(top1 if top1 is not None else sum(result.costs.values()))
        state.best_top1 = min(state.best_top1, top1) if top1 is not None else state.best_top1
        health = self.health()
        record = {"kind": "test", "epoch": state.epoch, "step": state.step,
                  "val_costs": result.costs, "train_costs": train.costs,
                  "health": {h.name: [h.mean_abs_w, h.mean_abs_dw] for h in health},
                  "time": time.time()}
        if top1 is not None:
            record.update(val_nll=result.nll, val_top1_err=top1, val_top5_err=result.top5_err,
                          train_nll=train.nll, train_top1_err=train.top1_err)
        state.history.append(record)
        state.train_sums, state.pending_test = {}, False
        if self.main:
            s.run.append_metrics(record)
        self.emit(Tested(epoch=state.epoch, step=state.step, val_nll=result.nll, val_top1=top1,
                         val_top5=result.top5_err, train_nll=train.nll,
                         train_top1=train.top1_err, best=best,
                         seconds=time.perf_counter() - t, health=health,
                         val_costs=result.costs, train_costs=train.costs))
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
        s, state = self.s, self.state
        self.saved_step = state.step
        if not self.main:  # every rank holds the same weights; rank 0 writes them
            return
        if state.diverging_since is None:
            state.safe_checkpoint = {"file": s.run.ckpt.name, "step": state.step}
        elif state.safe_checkpoint and state.safe_checkpoint["file"] == s.run.ckpt.name:
            self.keep_safe_checkpoint()
        scaler = self.step_fn.scaler
        state.scaler = scaler.state_dict() if scaler.is_enabled() else None
        checkpoint = make_checkpoint(s.net, s.opt, state, texts=s.texts, paths=s.paths,
                                     experiment=s.experiment_record(), dataset=s.dataset)
        write_checkpoint(s.run.ckpt, checkpoint)
        self.emit(Checkpointed(str(s.run.ckpt), state.step, reason))
        if best:
            write_checkpoint(s.run.best, checkpoint)

    def keep_safe_checkpoint(self) -> None:
        """ckpt.pt is about to be replaced by one written after the divergence warning: keep
        the last trusted one under its step's name, so that it can still be gone back to."""
        s, safe = self.s, self.state.safe_checkpoint
        kept = s.run.path / f"ckpt-step{safe['step']}.pt"
        try:
            shutil.copyfile(s.run.ckpt, kept)
        except OSError as exc:
            raise NetdefError.at(kept, f"cannot keep the last checkpoint written before the "
                                 f"divergence warning ({exc.strerror})") from None
        self.state.safe_checkpoint = {"file": kept.name, "step": safe["step"]}
        self.emit(Message(f"kept {kept} (step {safe['step']}), the last checkpoint written "
                          f"before the divergence warning", "note"))

    def interrupted(self) -> Finished:
        self.save("interrupt")
        return self.finished(True)

    def finished(self, interrupted: bool) -> Finished:
        history = self.state.history
        best = None if math.isinf(self.state.best_top1) else self.state.best_top1
        last = history[-1].get("val_top1_err") if history else None
        event = Finished(run_dir=str(self.s.run.path), step=self.state.step,
                         interrupted=interrupted, best_val_top1=best, last_val_top1=last,
                         seconds=time.perf_counter() - self.t0)
        self.emit(event)
        return event


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rate_label(rule) -> str:
    """cuda-convnet's name for a rule's rate: ``conv1 epsW``, ``conv3a epsW[1]``, ``fc epsB``."""
    key = "epsW" if rule.kind == "weight" else "epsB"
    return f"{rule.layer} {key}" + (f"[{rule.index}]" if rule.index else "")


def _outputs(net) -> int:
    cost = scored_cost(net)
    if cost is None:
        return 0
    return int(torch.Size(net.checked.layers[net.cost_inputs[cost][1]].shape).numel())
