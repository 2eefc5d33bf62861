"""Training: fit() and the pieces of its loop (one epoch, per-epoch bookkeeping).

fit() moves the uint8 images to the device once and slices batches there by index; conversion to
float, normalisation and augmentation run batched on the device (carcourse.batches). Per-step
losses stay on the device and are read once per epoch, so a GPU is never stalled by the Python
loop. The configuration (TrainConfig, device and precision policy) lives in carcourse.config,
History and callbacks in carcourse.history, checkpoints in carcourse.checkpoints; the names are
re-exported here so `from carcourse.train import ...` keeps working.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed as ddp
from .augment import photometric
from .batches import MEAN, STD, augment_dihedral, batched_logits, epoch_orders, normalise
from .checkpoints import Checkpoint, CheckpointError, SaveBest, load_checkpoint, save_checkpoint
from .config import LOSSES, OPTIMIZERS, TrainConfig, autocast, pick_device
from .data import ImageSet
from .history import Callback, FunctionCallback, History, StopTraining, TrainingDiverged

__all__ = ["TrainConfig", "History", "fit", "Callback", "StopTraining", "TrainingDiverged",
           "save_checkpoint", "load_checkpoint", "Checkpoint", "CheckpointError", "normalise",
           "augment_dihedral", "iterations_per_epoch", "evaluate_loss", "MEAN", "STD", "OPTIMIZERS",
           "LOSSES"]


def iterations_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimizer steps per epoch: ceil(n / batch) or, with drop_last, floor(n / batch)."""
    return n // batch_size if drop_last else -(-n // batch_size)


def _loss_fn(config: TrainConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(logits, labels) for config.loss, computed in fp32 whatever the autocast dtype."""
    if config.loss == "cross_entropy":
        return lambda logits, y: F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)

    def mse(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """L2 between softmax probabilities and the one-hot target, summed over classes."""
        p = torch.softmax(logits.float(), dim=1)
        target = F.one_hot(y, p.shape[1]).float()
        if config.label_smoothing:
            target = target * (1 - config.label_smoothing) + config.label_smoothing / p.shape[1]
        return ((p - target) ** 2).sum(1).mean()

    def double_softmax(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The classic bug, kept for lesson 04: softmax before nn.CrossEntropyLoss, which applies
        log-softmax again. The loss can then never fall below log(1 + (C-1)/e) and its gradients
        shrink."""
        return F.cross_entropy(torch.softmax(logits.float(), dim=1), y)

    return mse if config.loss == "mse" else double_softmax


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """config.optimizer over the trainable parameters (SGD with Nesterov momentum when momentum > 0).

    On a GPU the update is one fused kernel per step (`fused=True`) instead of a dozen
    multi-tensor launches: a SmallCNN step is launch-bound there. On a CPU the default
    implementation stays, so CPU runs keep their numbers."""
    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if params and all(p.is_cuda for p in params) else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.momentum > 0, **fused)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **fused)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **fused)


def lr_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig,
                total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule of config.schedule over `total_steps` optimizer steps (None for
    a constant rate). Stepped once per iteration, after optimizer.step()."""
    if config.schedule == "constant":
        return None
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps,
                                                   pct_start=max(config.warmup, 1 / total_steps))
    warm = max(1, round(config.warmup * total_steps))

    def factor(step: int) -> float:  # linear warm-up, then cosine decay to 0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.inference_mode()
def evaluate_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  loss_fn: Callable, batch_size: int, amp: bool, channels_last: bool
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, accuracy) as device tensors, for images/labels already on the model's device."""
    device = images.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for rows, logits in batched_logits(model, images, batch_size, device, amp, channels_last):
        yb = labels[rows]
        loss_sum += loss_fn(logits, yb) * len(yb)
        correct += (logits.argmax(1) == yb).sum()
    n = max(len(labels), 1)
    return loss_sum / n, correct.float() / n


def _steps_per_epoch(n: int, config: TrainConfig, world: int) -> int:
    """Optimizer steps per epoch, refusing settings that leave a step (or a rank) without images."""
    bs = config.batch_size
    steps = iterations_per_epoch(n, bs, config.drop_last)
    if world > 1:
        if bs < world:
            raise ValueError(f"TrainConfig.batch_size={bs} is smaller than the {world} processes: "
                             "each needs at least one image of every batch")
        if n % bs and n % bs < world:  # a last batch too small to give every rank an image
            steps = n // bs
    if steps == 0:
        raise ValueError(f"TrainConfig.batch_size={bs} with drop_last=True leaves no full batch "
                         f"of the {n} training images")
    return steps


@dataclass
class _Run:
    """What one fit() call sets up once and its epochs share."""

    model: nn.Module
    step_model: nn.Module  # the model as stepped: DDP-wrapped and/or compiled
    config: TrainConfig
    device: torch.device
    amp: bool
    channels_last: bool
    steps: int
    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    callbacks: list[Callback]
    orders: Iterator[torch.Tensor]  # each epoch's order of the training images (epoch_orders)
    aug_gen: torch.Generator
    photo_gen: torch.Generator
    bar: Any = None
    world: int = 1
    rank: int = 0
    epoch_losses: torch.Tensor | None = None  # the running epoch's per-step losses (device)
    best_score: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    since_best: int = 0
    train_seconds: float = 0.0

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def _setup(model: nn.Module, train: ImageSet, val: ImageSet | None, config: TrainConfig,
           callbacks: Iterable[Callback | Callable[[History], Any]]) -> _Run:
    """Check the run can start (data, device), move model and data to the device, build the
    optimiser and the random generators of batch order and augmentation."""
    if len(train) == 0:
        raise ValueError("the training set is empty")
    device = pick_device(config.device)  # raises ValueError naming the device when unavailable
    amp, channels_last = config.resolved(device)
    world = ddp.world_size()
    steps = _steps_per_epoch(len(train), config, world)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    step_model = ddp.wrap(model, device)  # DistributedDataParallel under torchrun
    step_model = torch.compile(step_model) if config.compile else step_model
    has_val = val is not None and len(val) > 0
    optimizer = _optimizer(model, config)
    hooks = [SaveBest(config.checkpoint, config, train.classes)] if config.checkpoint else []
    hooks += [c if isinstance(c, Callback) else FunctionCallback(c) for c in callbacks]
    return _Run(model=model, step_model=step_model, config=config, device=device, amp=amp,
                channels_last=channels_last, steps=steps, x=train.images.to(device),
                y=train.labels.to(device), x_val=val.images.to(device) if has_val else None,
                y_val=val.labels.to(device) if has_val else None, loss_fn=_loss_fn(config),
                optimizer=optimizer, scheduler=lr_schedule(optimizer, config, steps * config.epochs),
                callbacks=hooks,
                orders=epoch_orders(len(train), config.seed),
                aug_gen=torch.Generator(device=device).manual_seed(config.seed + 1),
                photo_gen=torch.Generator(device=device).manual_seed(config.seed + 2 + 1000 * ddp.rank()),
                world=world, rank=ddp.rank())


def _train_epoch(run: _Run, epoch: int, history: History) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One pass over the training images in this epoch's order; returns (sum of batch loss ×
    batch size, correct decisions, images seen) as seen by this rank. The per-step losses are
    left in run.epoch_losses."""
    cfg, device, bs = run.config, run.device, run.config.batch_size
    perm = next(run.orders).to(device)
    if cfg.augment:
        bits = torch.rand(run.steps * bs, 3, device=device, generator=run.aug_gen) < 0.5
    run.epoch_losses = losses = torch.zeros(run.steps, device=device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for i in range(run.steps):
        idx = perm[i * bs:(i + 1) * bs]
        if cfg.augment:
            batch_bits = bits[i * bs:i * bs + len(idx)]
        if run.world > 1:  # this rank's share of the global batch
            idx = idx[run.rank::run.world]
            if cfg.augment:
                batch_bits = batch_bits[run.rank::run.world]
        xb = run.x[idx]
        if cfg.augment:  # on the uint8 batch: a quarter of the bytes of float
            xb = augment_dihedral(xb, batch_bits)
        if cfg.augment and cfg.photometric:  # augment=False: no augmentation at all
            xb = photometric(xb, run.photo_gen, cfg.photometric)
        xb = normalise(xb, channels_last=False)
        if run.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yb = run.y[idx]
        with autocast(device, run.amp):
            logits = run.step_model(xb)
        loss = run.loss_fn(logits, yb)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if run.scheduler is not None:
            run.scheduler.step()
        loss = loss.detach()
        losses[i] = loss
        loss_sum += loss * len(idx)
        correct += (logits.detach().argmax(1) == yb).sum()
        seen += len(idx)
        history.iterations += 1
        if run.bar is not None:
            run.bar.update(1)
        for cb in run.callbacks:
            cb.on_iteration(history.iterations, loss, history)
        if (i + 1) % 50 == 0 or i + 1 == run.steps:
            checked = losses[:i + 1]
            if run.world > 1:  # every rank sees a NaN anywhere, so all stop together
                checked = ddp.all_reduce_sum(checked.clone()) / run.world
            _check_finite(checked, history, epoch, i, run.steps, run.restore_best, cfg)
    return loss_sum, correct, seen


def _end_epoch(run: _Run, epoch: int, history: History, totals: tuple[torch.Tensor, torch.Tensor, int],
               t0: float, t_start: float) -> bool:
    """Per-epoch bookkeeping: global sums, validation, best weights, progress bar, callbacks.
    Returns True when early stopping ends the run."""
    loss_sum, correct, seen = totals
    losses = run.epoch_losses
    if run.world > 1:  # one reduction per epoch: mean batch losses, global sums
        losses = ddp.all_reduce_sum(losses) / run.world
        summed = ddp.all_reduce_sum(torch.stack([loss_sum.float(), correct.float(),
                                                 torch.tensor(float(seen), device=run.device)]))
        loss_sum, correct, seen = summed[0], summed[1], int(summed[2])
    history.iteration_loss.extend(losses.tolist())  # one device read per epoch
    history.train_loss.append(float(loss_sum) / seen)
    history.train_acc.append(float(correct) / seen)
    history.images_seen += seen
    run.train_seconds += time.perf_counter() - t0
    if run.x_val is not None:
        vl, va = evaluate_loss(run.model, run.x_val, run.y_val, run.loss_fn, run.config.eval_batch_size,
                               run.amp, run.channels_last)
        history.val_loss.append(float(vl))
        history.val_acc.append(float(va))
    history.epoch_seconds.append(time.perf_counter() - t0)
    history.images_per_second = history.images_seen / max(run.train_seconds, 1e-9)
    history.seconds = time.perf_counter() - t_start
    score = history.val_loss[-1] if run.x_val is not None else history.train_loss[-1]
    if score < run.best_score:
        run.best_score, history.best_epoch, run.since_best = score, epoch, 0
        run.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    else:
        run.since_best += 1
    if run.bar is not None:
        _show_progress(run.bar, epoch, run.config.epochs, history)
    for cb in run.callbacks:
        cb.on_epoch_end(epoch, history, run.model)
    return run.config.patience is not None and run.since_best >= run.config.patience


def _show_progress(bar: Any, epoch: int, epochs: int, history: History) -> None:
    post = dict(epoch=f"{epoch}/{epochs}", loss=f"{history.train_loss[-1]:.3f}",
                acc=f"{history.train_acc[-1]:.3f}", img_s=f"{history.images_per_second:.0f}")
    if history.val_loss:
        post.update(val_loss=f"{history.val_loss[-1]:.3f}", val_acc=f"{history.val_acc[-1]:.3f}")
    bar.set_postfix(post, refresh=True)


def fit(model: nn.Module, train: ImageSet, val: ImageSet | None = None,
        config: TrainConfig | None = None,
        callbacks: Iterable[Callback | Callable[[History], Any]] = ()) -> History:
    """Train `model` on `train` (uint8 ImageSet) and return its History.

    Ctrl-C, a kernel interrupt or StopTraining from a callback ends training early and returns the
    History so far (`interrupted=True`), with the best epoch's weights loaded. A NaN/inf loss
    raises TrainingDiverged naming the iteration; the best weights are loaded and the History rides
    on the exception. With `config.checkpoint` set, each new best epoch is written there atomically.
    `TrainConfig.plain()` makes this exactly the textbook loop (see its docstring).
    """
    config = config or TrainConfig()
    run = _setup(model, train, val, config, callbacks)
    history = History(iterations_per_epoch=run.steps, device=str(run.device), amp=run.amp,
                      channels_last=run.channels_last)
    run.bar = _progress_bar(config, config.epochs * run.steps) if run.rank == 0 else None
    t_start = time.perf_counter()
    fork_devices = [run.device.index or 0] if run.device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)  # dropout masks; the caller's global RNG is restored after
        for cb in run.callbacks:
            cb.on_train_start(history, model)
        try:
            for epoch in range(1, config.epochs + 1):
                model.train()
                t0 = time.perf_counter()
                totals = _train_epoch(run, epoch, history)
                if _end_epoch(run, epoch, history, totals, t0, t_start):
                    history.stopped_early = True
                    break
        except (KeyboardInterrupt, StopTraining):
            history.interrupted = True
            done = history.iterations - len(history.iteration_loss)
            if done > 0 and run.epoch_losses is not None:  # keep the losses of the unfinished epoch
                history.iteration_loss.extend(run.epoch_losses[:done].tolist())
            run.restore_best()
        finally:
            if run.bar is not None:
                run.bar.close()
        history.seconds = time.perf_counter() - t_start
        if history.stopped_early or config.restore_best:
            run.restore_best()
        for cb in run.callbacks:
            cb.on_train_end(history, model)
    return history


def _progress_bar(config: TrainConfig, total: int):
    """A bar over every optimizer step of the run (carcourse.progress: a widget in JupyterLab that
    leaves a line of text when it closes, text on stderr elsewhere), or None when switched off."""
    if not config.progress:
        return None
    from .progress import bar

    return bar(total=total, unit="step", desc="training")


def _check_finite(losses: torch.Tensor, history: History, epoch: int, i: int, steps: int,
                  restore_best: Callable[[], None], config: TrainConfig) -> None:
    finite = torch.isfinite(losses)
    if bool(finite.all()):
        return
    first = int((~finite).nonzero()[0])
    iteration = history.iterations - (i + 1) + first + 1
    history.iteration_loss.extend(losses[:first + 1].tolist())
    restore_best()
    raise TrainingDiverged(
        f"training diverged: the loss became {float(losses[first])} at iteration {iteration} "
        f"(epoch {epoch}, step {first + 1} of {steps}) with lr={config.lr}. Try a lower learning "
        f"rate (e.g. lr={config.lr / 10:g}). The model holds the best weights so far "
        f"(epoch {history.best_epoch}); the history is on this exception's .history.",
        history, iteration)
