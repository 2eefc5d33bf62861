"""Training: TrainConfig, fit() and its History, checkpoints.

fit() moves the uint8 images to the device once and slices batches there by index; conversion to
float, normalisation and augmentation run batched on the device. Per-step losses stay on the
device and are read once per epoch, so a GPU is never stalled by the Python loop.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed as ddp
from .config import pick_device
from .data import ImageSet

OPTIMIZERS = ("sgd", "adam", "adamw")
LOSSES = ("cross_entropy", "mse", "double_softmax")
# ImageNet channel statistics: the usual choice, and what pretrained ResNet weights expect.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CHECKPOINT_FORMAT = "carcourse-checkpoint-1"

__all__ = ["TrainConfig", "History", "fit", "Callback", "StopTraining", "TrainingDiverged",
           "save_checkpoint", "load_checkpoint", "Checkpoint", "CheckpointError", "pick_device",
           "normalise", "augment_dihedral", "iterations_per_epoch", "cpu_has_bf16", "versions"]


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe and probe()) or (amx and amx()))


def versions() -> dict[str, str]:
    """Library versions recorded in checkpoints and reports."""
    import torchvision

    from . import __version__

    return {"carcourse": __version__, "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__), "python": platform.python_version()}


# ----------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """How to train. Every field is checked on creation: a bad value raises ValueError naming it.

    amp / channels_last None means "choose for the device": bf16 autocast and channels_last on
    CUDA and on CPUs with native bf16, off elsewhere (bench/ measures the choice).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = True  # random flips and 90° rotations (the 8 symmetries of a square patch)
    drop_last: bool = False
    seed: int = 0
    device: str | None = None
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    loss: str = "cross_entropy"  # "mse": L2 on softmax outputs; "double_softmax": the bug (lesson 04)
    checkpoint: str | None = None  # path: the best epoch's weights are written there
    restore_best: bool = False  # load the best epoch's weights (by validation loss) at the end
    patience: int | None = None  # early stopping: epochs without improvement before stopping
    eval_batch_size: int = 512
    progress: bool = True

    def __post_init__(self) -> None:
        def whole(name: str, minimum: int, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"TrainConfig.{name} must be an integer >= {minimum}, got {value!r}")

        def number(name: str, low: float, high: float = math.inf, low_open: bool = False,
                   high_open: bool = True) -> None:
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (value > low if low_open else value >= low)
            ok = ok and (value < high if high_open else value <= high)
            if not ok:
                lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
                raise ValueError(f"TrainConfig.{name} must be a finite number in {lo}{low}, {high}{hi}, "
                                 f"got {value!r}")

        def flag(name: str, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if not (isinstance(value, bool) or (allow_none and value is None)):
                raise ValueError(f"TrainConfig.{name} must be True or False"
                                 f"{' or None (auto)' if allow_none else ''}, got {value!r}")

        def choice(name: str, options: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if value not in options:
                raise ValueError(f"TrainConfig.{name}={value!r} is unknown: choose one of {list(options)}")

        whole("epochs", 1)
        whole("batch_size", 1)
        whole("seed", 0)
        whole("eval_batch_size", 1)
        whole("patience", 1, allow_none=True)
        number("lr", 0, low_open=True)
        number("momentum", 0, 1)
        number("weight_decay", 0)
        number("label_smoothing", 0, 1)
        choice("optimizer", OPTIMIZERS)
        choice("loss", LOSSES)
        for name in ("augment", "drop_last", "compile", "restore_best", "progress"):
            flag(name)
        for name in ("amp", "channels_last"):
            flag(name, allow_none=True)
        if self.device is not None:
            pick_device(self.device)  # raises ValueError naming the device when unavailable
            self.device = str(self.device)
        if self.checkpoint is not None:
            self.checkpoint = os.fspath(self.checkpoint)
            parent = Path(self.checkpoint).resolve().parent
            if parent.exists() and not parent.is_dir():
                raise ValueError(f"TrainConfig.checkpoint={self.checkpoint!r}: {parent} is not a folder")

    def resolved(self, device: torch.device) -> tuple[bool, bool]:
        """(amp, channels_last) as they apply on `device`."""
        fast = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
        amp = fast if self.amp is None else self.amp
        channels_last = fast if self.channels_last is None else self.channels_last
        return amp, channels_last

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def iterations_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimizer steps per epoch: ceil(n / batch) or, with drop_last, floor(n / batch)."""
    return n // batch_size if drop_last else -(-n // batch_size)


# ----------------------------------------------------------------------------------------------
# history and callbacks
# ----------------------------------------------------------------------------------------------
@dataclass
class History:
    """What fit() measured. Per-epoch lists have one entry per finished epoch; epochs count
    from 1 in `best_epoch`. `train_acc` is measured on the (augmented) training batches as they
    were trained on; `val_*` on the untouched validation set after each epoch."""

    iteration_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    iterations_per_epoch: int = 0
    iterations: int = 0
    images_seen: int = 0
    images_per_second: float = 0.0
    seconds: float = 0.0
    best_epoch: int | None = None
    interrupted: bool = False
    stopped_early: bool = False
    device: str = ""
    amp: bool = False
    channels_last: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def __repr__(self) -> str:
        last = (f", train_loss={self.train_loss[-1]:.4f}, train_acc={self.train_acc[-1]:.4f}"
                if self.train_loss else "")
        val = f", val_loss={self.val_loss[-1]:.4f}, val_acc={self.val_acc[-1]:.4f}" if self.val_loss else ""
        return (f"History(epochs={self.epochs}, iterations={self.iterations} "
                f"({self.iterations_per_epoch}/epoch){last}{val}, best_epoch={self.best_epoch}, "
                f"{self.images_per_second:.0f} img/s on {self.device}"
                f"{', interrupted' if self.interrupted else ''})")


class StopTraining(Exception):
    """Raise from a callback to end training cleanly after the current step (e.g. a Stop button)."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. `.history` holds what was measured; the model holds the
    best weights seen before."""

    def __init__(self, message: str, history: History, iteration: int):
        super().__init__(message)
        self.history = history
        self.iteration = iteration


class Callback:
    """Hooks into fit(); override what you need. `loss` in on_iteration is a device tensor:
    calling .item() on it synchronises, so only do it when you need the number."""

    def on_train_start(self, history: History, model: nn.Module) -> None: ...

    def on_iteration(self, iteration: int, loss: torch.Tensor, history: History) -> None: ...

    def on_epoch_end(self, epoch: int, history: History, model: nn.Module) -> None: ...

    def on_train_end(self, history: History, model: nn.Module) -> None: ...


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[History], Any]):
        self.fn = fn

    def on_epoch_end(self, epoch: int, history: History, model: nn.Module) -> None:
        self.fn(history)


# ----------------------------------------------------------------------------------------------
# batch preparation (runs on the device)
# ----------------------------------------------------------------------------------------------
def normalise(images: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 N×3×H×W → float32, scaled to [0, 1] and standardised with MEAN/STD."""
    scale = torch.tensor([1 / (255 * s) for s in STD], device=images.device).view(1, 3, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(MEAN, STD)], device=images.device).view(1, 3, 1, 1)
    x = torch.addcmul(shift, images.float(), scale)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _dihedral_where(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """The 8 symmetries by definition: transpose, then flip left-right, then flip up-down, each
    where its bit is set."""
    b = bits.view(-1, 3, 1, 1, 1)
    x = torch.where(b[:, 0], x.transpose(-1, -2), x)
    x = torch.where(b[:, 1], x.flip(-1), x)
    return torch.where(b[:, 2], x.flip(-2), x)


@functools.lru_cache(maxsize=8)
def _dihedral_index(side: int, device: str) -> torch.Tensor:
    """(8, side²) source pixel of every output pixel for each symmetry (code = 4·t + 2·lr + ud),
    computed by applying _dihedral_where to a grid of pixel numbers."""
    grid = torch.arange(side * side).view(1, 1, side, side).expand(8, 1, side, side)
    codes = torch.arange(8)
    bits = torch.stack([codes // 4 % 2, codes // 2 % 2, codes % 2], dim=1).bool()
    return _dihedral_where(grid, bits).reshape(8, side * side).to(device)


def augment_dihedral(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Apply one of the 8 symmetries of the square to each image: bits (N×3, bool) say
    transpose, flip left-right, flip up-down. Top-down aerial patches have no 'up', so all 8
    are valid views of the same scene. Square images take one gather through a precomputed
    pixel index (one pass over the batch, any dtype; fit() applies it to the uint8 batch)."""
    n, c, h, w = x.shape
    if h != w:
        bits = bits.clone()
        bits[:, 0] = False  # transposing needs square images
        return _dihedral_where(x, bits)
    code = bits[:, 0].long() * 4 + bits[:, 1].long() * 2 + bits[:, 2].long()
    index = _dihedral_index(h, str(x.device))[code]  # (n, h·w)
    out = x.reshape(n, c, h * w).gather(2, index[:, None, :].expand(n, c, h * w))
    return out.view(n, c, h, w)


def _loss_fn(config: TrainConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
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
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def _autocast(device: torch.device, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.inference_mode()
def evaluate_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  loss_fn: Callable, batch_size: int, amp: bool, channels_last: bool
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, accuracy) as device tensors, for images/labels already on the model's device."""
    was_training = model.training
    model.eval()
    device = images.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for start in range(0, len(labels), batch_size):
        xb = normalise(images[start:start + batch_size], channels_last)
        yb = labels[start:start + batch_size]
        with _autocast(device, amp):
            logits = model(xb)
        loss_sum += loss_fn(logits, yb) * len(yb)
        correct += (logits.argmax(1) == yb).sum()
    model.train(was_training)
    n = max(len(labels), 1)
    return loss_sum / n, correct.float() / n


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------
def _progress_bar(config: TrainConfig, total: int):
    if not config.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", desc="training", leave=True, dynamic_ncols=True)


def fit(model: nn.Module, train: ImageSet, val: ImageSet | None = None,
        config: TrainConfig | None = None,
        callbacks: Iterable[Callback | Callable[[History], Any]] = ()) -> History:
    """Train `model` on `train` (uint8 ImageSet) and return its History.

    Ctrl-C, a kernel interrupt or StopTraining from a callback ends training early and returns the
    History so far (`interrupted=True`), with the best epoch's weights loaded. A NaN/inf loss
    raises TrainingDiverged naming the iteration; the best weights are loaded and the History rides
    on the exception. With `config.checkpoint` set, each new best epoch is written there atomically.
    """
    config = config or TrainConfig()
    callbacks = [c if isinstance(c, Callback) else _FunctionCallback(c) for c in callbacks]
    if len(train) == 0:
        raise ValueError("the training set is empty")
    device = pick_device(config.device)
    amp, channels_last = config.resolved(device)
    n, bs = len(train), config.batch_size
    world, rank = ddp.world_size(), ddp.rank()
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
    history = History(iterations_per_epoch=steps, device=str(device), amp=amp, channels_last=channels_last)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    step_model = ddp.wrap(model, device)  # DistributedDataParallel under torchrun
    step_model = torch.compile(step_model) if config.compile else step_model
    x_all = train.images.to(device)
    y_all = train.labels.to(device)
    if val is not None and len(val):
        x_val, y_val = val.images.to(device), val.labels.to(device)
    else:
        x_val = y_val = None
    loss_fn = _loss_fn(config)
    optimizer = _optimizer(model, config)
    order_gen = torch.Generator().manual_seed(config.seed)
    aug_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    best_score, best_state, since_best = math.inf, None, 0
    bar = _progress_bar(config, config.epochs * steps) if rank == 0 else None
    train_seconds = 0.0
    t_start = time.perf_counter()
    fork_devices = [device.index or 0] if device.type == "cuda" else []

    def restore_best() -> None:
        if best_state is not None:
            model.load_state_dict(best_state)

    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)  # dropout masks; the caller's global RNG is restored after
        for cb in callbacks:
            cb.on_train_start(history, model)
        try:
            for epoch in range(1, config.epochs + 1):
                model.train()
                t0 = time.perf_counter()
                perm = torch.randperm(n, generator=order_gen).to(device)
                if config.augment:
                    bits = torch.rand(steps * bs, 3, device=device, generator=aug_gen) < 0.5
                losses = torch.zeros(steps, device=device)
                loss_sum = torch.zeros((), device=device)
                correct = torch.zeros((), device=device, dtype=torch.long)
                seen = 0
                for i in range(steps):
                    idx = perm[i * bs:(i + 1) * bs]
                    if config.augment:
                        batch_bits = bits[i * bs:i * bs + len(idx)]
                    if world > 1:  # this rank's share of the global batch
                        idx = idx[rank::world]
                        if config.augment:
                            batch_bits = batch_bits[rank::world]
                    xb = x_all[idx]
                    if config.augment:  # on the uint8 batch: a quarter of the bytes of float
                        xb = augment_dihedral(xb, batch_bits)
                    xb = normalise(xb, channels_last=False)
                    if channels_last:
                        xb = xb.contiguous(memory_format=torch.channels_last)
                    yb = y_all[idx]
                    with _autocast(device, amp):
                        logits = step_model(xb)
                    loss = loss_fn(logits, yb)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss = loss.detach()
                    losses[i] = loss
                    loss_sum += loss * len(idx)
                    correct += (logits.detach().argmax(1) == yb).sum()
                    seen += len(idx)
                    history.iterations += 1
                    if bar is not None:
                        bar.update(1)
                    for cb in callbacks:
                        cb.on_iteration(history.iterations, loss, history)
                    if (i + 1) % 50 == 0 or i + 1 == steps:
                        checked = losses[:i + 1]
                        if world > 1:  # every rank sees a NaN anywhere, so all stop together
                            checked = ddp.all_reduce_sum(checked.clone()) / world
                        _check_finite(checked, history, epoch, i, steps, restore_best, config)
                if world > 1:  # one reduction per epoch: mean batch losses, global sums
                    losses = ddp.all_reduce_sum(losses) / world
                    totals = ddp.all_reduce_sum(torch.stack([loss_sum.float(), correct.float(),
                                                             torch.tensor(float(seen), device=device)]))
                    loss_sum, correct, seen = totals[0], totals[1], int(totals[2])
                epoch_losses = losses.tolist()  # one device read per epoch
                history.iteration_loss.extend(epoch_losses)
                history.train_loss.append(float(loss_sum) / seen)
                history.train_acc.append(float(correct) / seen)
                history.images_seen += seen
                epoch_train_seconds = time.perf_counter() - t0
                train_seconds += epoch_train_seconds
                if x_val is not None:
                    vl, va = evaluate_loss(model, x_val, y_val, loss_fn, config.eval_batch_size, amp,
                                           channels_last)
                    history.val_loss.append(float(vl))
                    history.val_acc.append(float(va))
                history.epoch_seconds.append(time.perf_counter() - t0)
                history.images_per_second = history.images_seen / max(train_seconds, 1e-9)
                history.seconds = time.perf_counter() - t_start
                score = history.val_loss[-1] if x_val is not None else history.train_loss[-1]
                if score < best_score:
                    best_score, history.best_epoch, since_best = score, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    if config.checkpoint and rank == 0:
                        save_checkpoint(config.checkpoint, model, config, history, train.classes)
                else:
                    since_best += 1
                if bar is not None:
                    post = dict(epoch=f"{epoch}/{config.epochs}", loss=f"{history.train_loss[-1]:.3f}",
                                acc=f"{history.train_acc[-1]:.3f}", img_s=f"{history.images_per_second:.0f}")
                    if history.val_loss:
                        post.update(val_loss=f"{history.val_loss[-1]:.3f}", val_acc=f"{history.val_acc[-1]:.3f}")
                    bar.set_postfix(post, refresh=True)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, history, model)
                if config.patience is not None and since_best >= config.patience:
                    history.stopped_early = True
                    break
        except (KeyboardInterrupt, StopTraining):
            history.interrupted = True
            done = history.iterations - len(history.iteration_loss)
            if done > 0:  # keep the losses of the unfinished epoch
                history.iteration_loss.extend(losses[:done].tolist())
            restore_best()
        finally:
            if bar is not None:
                bar.close()
        history.seconds = time.perf_counter() - t_start
        if history.stopped_early or config.restore_best:
            restore_best()
        for cb in callbacks:
            cb.on_train_end(history, model)
    return history


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


# ----------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------
class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded or does not fit; the message names the path."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the state dict, what model it belongs to, and how it was trained."""

    path: str
    model_name: str | None
    model_options: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    config: TrainConfig | None
    classes: tuple[str, ...]
    history: History
    versions: dict[str, str]

    def build_model(self) -> nn.Module:
        """A new model of the stored architecture with the stored weights."""
        from .models import build

        if self.model_name is None:
            raise CheckpointError(f"{self.path}: does not record its model name; build the model "
                                  f"yourself and call load_into(model)")
        options = {k: v for k, v in self.model_options.items() if k not in ("num_classes", "weights")}
        model = build(self.model_name, num_classes=len(self.classes), **options)
        return self.load_into(model)

    def load_into(self, model: nn.Module) -> nn.Module:
        """Load the weights into `model`, or raise CheckpointError describing the mismatch."""
        from .models import describe_mismatch

        detail = describe_mismatch(model.state_dict(), self.state_dict, source="checkpoint")
        if detail:
            stored = f"{self.model_name or 'unknown model'} with {len(self.classes)} classes {list(self.classes)}"
            target = f"{getattr(model, 'name', type(model).__name__)}"
            raise CheckpointError(f"{self.path}: checkpoint holds a {stored}; it does not fit this "
                                  f"{target}: {detail}")
        model.load_state_dict(self.state_dict)
        return model


def _plain(value: Any) -> Any:
    """Values safe for weights_only loading: paths become strings, tuples lists."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: TrainConfig | None,
                    history: History | None, classes: Iterable[str]) -> Path:
    """Write weights, config, classes, history and versions to `path` atomically: a temporary
    file in the same folder is written, flushed to disk, then renamed over `path`, so an
    interrupted or failed write leaves any previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_name": getattr(model, "name", None),
        "model_options": _plain(getattr(model, "options", {})),
        "model": {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()},
        "config": _plain(config.to_dict()) if config is not None else None,
        "classes": list(classes),
        "history": _plain(history.to_dict()) if history is not None else None,
        "versions": versions(),
        "seed": config.seed if config is not None else None,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint with weights_only=True: tensors and plain data only, so a file that
    would run code when unpickled is refused (CheckpointError) and runs nothing."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "Unsupported global" in ln or "GLOBAL" in ln), lines[0] if lines else "")
        raise CheckpointError(f"{path}: refused or unreadable: not a plain-data checkpoint, so it was "
                              f"not unpickled (it may contain code). {type(exc).__name__}: {why[:300]}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a carcourse checkpoint (no format {CHECKPOINT_FORMAT!r}); "
                              f"for a bare state dict use carcourse.models.load_weights")
    return Checkpoint(
        path=str(path),
        model_name=payload.get("model_name"),
        model_options=payload.get("model_options") or {},
        state_dict=payload["model"],
        config=TrainConfig.from_dict({**payload["config"], "device": None}) if payload.get("config") else None,
        classes=tuple(payload.get("classes") or ()),
        history=History.from_dict(payload["history"]) if payload.get("history") else History(),
        versions=payload.get("versions") or {},
    )
