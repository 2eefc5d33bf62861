"""What fit() measured (History) and the hooks into a run (Callback, StopTraining), plus the
error a diverged run raises. Kept apart from the trainer so checkpoints and plots can read a
History without importing the training loop."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import torch
from torch import nn


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


class FunctionCallback(Callback):
    """A plain function of the History, called after every epoch."""

    def __init__(self, fn: Callable[[History], Any]):
        self.fn = fn

    def on_epoch_end(self, epoch: int, history: History, model: nn.Module) -> None:
        self.fn(history)
