"""Causing overfitting on purpose (lesson 05): the lesson's data, one run from a small setting,
label noise, named runs side by side and a grid over training-set size × capacity. The widget in
`widgets.overfitting_explorer` and the notebook's static study both call `run`; the sweeps show
a line per finished run while they work (`carcourse.progress`)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from .data import ImageSet, Splits, make_synthetic
from .evaluate import Report, predict, report
from .models import build
from .progress import RunTable
from .train import Callback, History, TrainConfig, fit, iterations_per_epoch


def explorer_data(seed: int = 0) -> Splits:
    """The lesson's data: 1024 training and 256 validation synthetic patches (enough for every
    training-set size the explorer offers, small enough to render in about a second)."""
    return make_synthetic(n_train=1024, n_val=256, n_test_notcar=1, n_test_car=1, seed=seed)


@dataclass(frozen=True)
class OverfitSetting:
    """One overfitting experiment. The defaults overfit clearly in a few seconds on 2 CPU cores:
    few images, no dropout, no augmentation, no weight decay, many epochs."""

    train_size: int = 192
    width: int = 8  # SmallCNN channels in the first block (capacity)
    epochs: int = 16
    dropout: float = 0.0
    weight_decay: float = 0.0
    augment: bool = False
    label_noise: float = 0.0  # fraction of training labels flipped
    lr: float = 2e-3
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.train_size, int) and self.train_size >= 2):
            raise ValueError(f"OverfitSetting.train_size must be an integer >= 2, got {self.train_size!r}")
        if not (isinstance(self.width, int) and self.width >= 1):
            raise ValueError(f"OverfitSetting.width must be an integer >= 1, got {self.width!r}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ValueError(f"OverfitSetting.label_noise must be in [0, 1], got {self.label_noise!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"OverfitSetting.dropout must be in [0, 1), got {self.dropout!r}")
        TrainConfig(**self._train_fields())  # validates epochs, lr, weight decay, batch size, seed

    def _train_fields(self) -> dict[str, Any]:
        return dict(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
                    weight_decay=self.weight_decay, augment=self.augment, seed=self.seed)

    def train_config(self, device: str | None = None, progress: bool = False) -> TrainConfig:
        # AdamW: weight decay as decay of the weights, not mixed into Adam's gradient scaling.
        # A constant learning rate: the lesson varies the epochs, and a schedule stretched over
        # them would change every step's size with the slider.
        return TrainConfig(**self._train_fields(), optimizer="adamw", schedule="constant", device=device,
                           progress=progress)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OverfitRun:
    """What one run produced: the History, validation Reports at the best epoch (lowest
    validation loss) and at the last epoch, the number of flipped labels, and the final model's
    accuracy on its own training images measured like validation (eval mode, after training, on
    the labels it trained on)."""

    setting: OverfitSetting
    history: History
    best: Report | None
    last: Report | None
    flipped: int
    seconds: float
    train_accuracy: float | None = None

    @property
    def gap(self) -> float:
        """Training minus validation accuracy of the final model, both measured the same way
        (eval mode, after the last epoch). fit's running training accuracy (History.train_acc)
        is averaged over an epoch in train mode, which dropout and augmentation lower: a gap
        read from it would flatter exactly the remedies a lesson compares."""
        if self.train_accuracy is None:
            return float("nan")
        return self.train_accuracy - self.val_accuracy

    @property
    def val_accuracy(self) -> float:
        """Validation accuracy of the final model (the last epoch's Report); NaN without one."""
        return self.last.accuracy if self.last is not None else float("nan")

    @property
    def loss_gap(self) -> float:
        """Validation loss minus training loss at the last epoch."""
        h = self.history
        return h.val_loss[-1] - h.train_loss[-1] if h.val_loss else float("nan")

    def metrics_table(self):
        """Validation accuracy, precision/recall/F1 of car and ROC AUC, best vs last epoch."""
        import pandas as pd

        rows = {}
        for label, rep, epoch in (("best", self.best, self.history.best_epoch),
                                  ("last", self.last, self.history.epochs)):
            if rep is None:
                continue
            pos = rep.classes[-1]
            pc = rep.per_class[pos]
            h = self.history
            rows[f"{label} (epoch {epoch})"] = {
                "val loss": h.val_loss[epoch - 1], "val accuracy": rep.accuracy,
                f"{pos} precision": pc["precision"], f"{pos} recall": pc["recall"],
                f"{pos} F1": pc["f1"], "ROC AUC": rep.roc_auc,
                "train accuracy (running)": h.train_acc[epoch - 1]}
        return pd.DataFrame(rows)


def flip_labels(data: ImageSet, fraction: float, seed: int = 0) -> tuple[ImageSet, torch.Tensor]:
    """A copy of `data` with round(fraction · N) labels changed to another class, chosen at
    random; returns it and the boolean mask of flipped images."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"label noise fraction must be in [0, 1], got {fraction!r}")
    n, k = len(data), len(data.classes)
    g = torch.Generator().manual_seed(seed)
    count = round(fraction * n)
    which = torch.randperm(n, generator=g)[:count]
    labels = data.labels.clone()
    shift = torch.randint(1, max(k, 2), (count,), generator=g)
    labels[which] = (labels[which] + shift) % k
    mask = torch.zeros(n, dtype=torch.bool)
    mask[which] = True
    return ImageSet(data.images, labels, data.classes), mask


class _BestAndLast(Callback):
    """Keep the validation Report of the best epoch (fit's best_epoch, by validation loss) and of
    the last one; the last is measured once, at the end, unless it was the best."""

    def __init__(self, val: ImageSet, train: ImageSet | None = None):
        self.val: ImageSet = val
        self.train: ImageSet | None = train
        self.best: Report | None = None
        self.last: Report | None = None
        self.train_accuracy: float | None = None

    def on_epoch_end(self, epoch: int, history: History, model: torch.nn.Module) -> None:
        if history.best_epoch == epoch:
            self.best = report(predict(model, self.val))

    def on_train_end(self, history: History, model: torch.nn.Module) -> None:
        if history.epochs:
            self.last = (self.best if history.best_epoch == history.epochs
                         else report(predict(model, self.val)))
            if self.train is not None:
                self.train_accuracy = float(predict(model, self.train).correct.float().mean())


def run(setting: OverfitSetting, data: Splits, device: str | None = None,
        callbacks: Iterable[Callback | Callable[[History], Any]] = (), progress: bool = True) -> OverfitRun:
    """Train a SmallCNN as `setting` says on a stratified subset of `data.train` (labels flipped
    as asked) and measure it on `data.val`, which is never subsampled or flipped. `progress`
    shows fit's bar (the sweeps below show one line per run instead)."""
    t0 = time.perf_counter()
    if data.val is None or len(data.val) == 0:
        raise ValueError("overfitting runs need a validation split (data.val is empty)")
    if setting.train_size > len(data.train):
        raise ValueError(f"train_size={setting.train_size} is more than the {len(data.train)} "
                         "training images available")
    train = data.train.subset(setting.train_size, seed=setting.seed)
    train, mask = flip_labels(train, setting.label_noise, seed=setting.seed)
    model = build("cnn", num_classes=len(data.classes), seed=setting.seed, width=setting.width,
                  dropout=setting.dropout)
    keeper = _BestAndLast(data.val, train)
    history = fit(model, train, data.val, setting.train_config(device, progress=progress), [keeper, *callbacks])
    return OverfitRun(setting, history, keeper.best, keeper.last, int(mask.sum()), time.perf_counter() - t0,
                      keeper.train_accuracy)


def epochs_for_steps(train_size: int, steps: int, batch_size: int = 32) -> int:
    """Epochs that give about `steps` optimizer steps on `train_size` images. Comparing data
    sizes at equal epochs would give the small sets far fewer updates."""
    return max(1, round(steps / iterations_per_epoch(train_size, batch_size)))


def run_many(settings: Mapping[str, OverfitSetting], data: Splits, device: str | None = None,
             done: Mapping[str, OverfitRun] | None = None, progress: bool = True) -> dict[str, OverfitRun]:
    """Run each named setting (reusing any run already in `done` under the same name and
    setting), showing a line per finished run. Returns the runs by name, in order."""
    done = done or {}
    out: dict[str, OverfitRun] = {}
    with RunTable(len(settings), desc="runs", enabled=progress) as log:
        for name, setting in settings.items():
            earlier = done.get(name)
            r = earlier if earlier is not None and earlier.setting == setting else run(
                setting, data, device=device, progress=False)
            out[name] = r
            h = r.history
            log.add({"run": name, "epochs": h.epochs, "train_acc": r.train_accuracy, "val_acc": r.val_accuracy,
                     "gap": r.gap, "seconds": r.seconds})
    return out


def grid(data: Splits, sizes: Sequence[int], widths: Sequence[int], base: OverfitSetting | None = None,
         steps: int | None = None, progress: bool = True, **axis: Sequence[Any]) -> tuple[Any, dict[tuple, OverfitRun]]:
    """Runs over training-set size × width (× one optional extra axis, e.g. dropout=[0, 0.5]).
    With `steps`, every run gets about that many optimizer steps (epochs_for_steps), else
    `base.epochs`. Returns a long pandas table (one row per run: the setting, final train/val
    accuracy measured alike and their gap, fit's running training accuracy, best epoch) and the
    runs keyed by (size, width[, extra value]). With `progress`, each finished run is shown while
    the grid works (bar with time left + table)."""
    base = base or OverfitSetting()
    if len(axis) > 1:
        raise ValueError(f"grid takes at most one extra axis, got {sorted(axis)}")
    extra_name, extra_values = next(iter(axis.items())) if axis else (None, [None])
    runs = {}
    total = len(extra_values) * len(sizes) * len(widths)
    with RunTable(total, desc="grid", enabled=progress) as log:
        for value in extra_values:
            for size in sizes:
                for width in widths:
                    changes: dict[str, Any] = {"train_size": size, "width": width}
                    if steps is not None:
                        changes["epochs"] = epochs_for_steps(size, steps, base.batch_size)
                    if extra_name:
                        changes[extra_name] = value
                    r = run(replace(base, **changes), data, progress=False)
                    key = (size, width) + ((value,) if extra_name else ())
                    runs[key] = r
                    h = r.history
                    log.add({"train_size": size, "width": width, "epochs": h.epochs,
                             **({extra_name: value} if extra_name else {}),
                             "train_acc": r.train_accuracy, "val_acc": r.val_accuracy,
                             "gap": r.gap, "train_acc_running": h.train_acc[-1],
                             "loss_gap": r.loss_gap, "best_epoch": h.best_epoch, "seconds": r.seconds})
    return log.table, runs
