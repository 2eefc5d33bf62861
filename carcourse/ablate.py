"""Ablations for Q8: change one thing at a time and measure what it does to test accuracy.

`run_ablation(AblationConfig(...))` trains every setting of every ablation with the library's
default training recipe (`TrainConfig()` defaults) except the one field the ablation varies:

- width:      SmallCNN first-block width 16 / 32 / 64
- stem:       ResNet18 with the ImageNet stem (7×7 stride 2 + max-pool) vs the small stem (3×3 stride 1)
- budget:     a fixed number of epochs vs training until the validation loss stops improving
              (patience, best weights restored), for both models
- optimizer:  Adam vs SGD with Nesterov momentum, each at the learning rate that gave the lowest
              validation loss on a small grid (grid and choice recorded), for both models
- pretrained: ResNet18 initialised from a local weights file (`--weights`), else skipped with the reason

Identical runs (same model, options, training overrides and seed) are trained once and shared
between ablations. `python -m carcourse ablate` writes `ablation.json` and `ablation.png`; with
`--out DIR` it also notes every finished run in `DIR/ablation_runs.jsonl` as it goes, so an
interrupted ablation (hours on a CPU) rerun with the same command trains only what is missing.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import hardware, pick_device, quick_mode, versions
from .presets import FULL

ABLATIONS = ("width", "stem", "budget", "optimizer", "pretrained")
JOURNAL = "ablation_runs.jsonl"  # one line per finished run, beside ablation.json
WIDTHS = (16, 32, 64)
STEMS = ("imagenet", "small")
FULL_EPOCHS, QUICK_EPOCHS = FULL.compare_epochs, 1  # the fixed budget: the comparison's epochs
# Learning-rate grids tuned on the validation split (lowest validation loss wins).
FULL_LR_GRID = {"adam": (3e-4, 1e-3, 3e-3), "sgd": (0.01, 0.03, 0.1)}
QUICK_LR_GRID = {"adam": (1e-3, 3e-3), "sgd": (0.01, 0.1)}
# Quick mode: tiny 32-pixel split so that every ablation (the 16×-compute small ResNet stem
# included) runs in about two minutes on 2 CPU cores. Figures from it only show the mechanics.
QUICK_DATA = dict(n_train=96, n_val=64, n_test_notcar=45, n_test_car=19, size=32)


@dataclass
class AblationConfig:
    """What to run. Checked on creation: a bad value raises ValueError naming it.

    `epochs` is the fixed budget (default FULL.compare_epochs, quick 1); the convergence run trains up to
    `max_epochs` and stops after `patience` epochs without a lower validation loss."""

    quick: bool | None = None
    seeds: int | None = None  # default 3, quick 1
    seed: int = 0
    epochs: int | None = None
    max_epochs: int | None = None
    patience: int | None = None
    weights: str | None = None
    device: str | None = None
    only: tuple[str, ...] = ABLATIONS
    lr_grid: dict[str, tuple[float, ...]] | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        self.quick = quick_mode(self.quick)
        self.seeds = self.seeds if self.seeds is not None else (1 if self.quick else 3)
        for name, minimum in (("seeds", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"AblationConfig.{name} must be an integer >= {minimum}, got {value!r}")
        self.epochs = self.epochs if self.epochs is not None else (QUICK_EPOCHS if self.quick else FULL_EPOCHS)
        self.max_epochs = self.max_epochs if self.max_epochs is not None else (3 if self.quick else 60)
        self.patience = self.patience if self.patience is not None else (1 if self.quick else 5)
        for name in ("epochs", "max_epochs", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AblationConfig.{name} must be an integer >= 1, got {value!r}")
        if self.only is None or isinstance(self.only, str):
            self.only = tuple(s.strip() for s in (self.only or "").split(",") if s.strip())
        self.only = tuple(self.only)
        unknown = [a for a in self.only if a not in ABLATIONS]
        if unknown or not self.only:
            raise ValueError(f"ablations {list(unknown) or '(none)'}: choose from {list(ABLATIONS)}")
        grid = self.lr_grid if self.lr_grid is not None else (QUICK_LR_GRID if self.quick else FULL_LR_GRID)
        self.lr_grid = {k: tuple(float(v) for v in vs) for k, vs in grid.items()}
        if set(self.lr_grid) != {"adam", "sgd"} or not all(self.lr_grid.values()):
            raise ValueError(f"lr_grid needs non-empty 'adam' and 'sgd' lists, got {self.lr_grid}")
        bad = [v for vs in self.lr_grid.values() for v in vs if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"lr_grid learning rates must be positive and finite, got {bad}")
        if self.weights is not None:
            self.weights = os.fspath(self.weights)
            if not Path(self.weights).is_file():
                raise ValueError(f"--weights {self.weights}: file not found (a state dict of "
                                 f"torchvision's resnet18 is expected; nothing is downloaded)")
        if self.device is not None:
            self.device = str(pick_device(self.device))

    @property
    def run_seeds(self) -> list[int]:
        return [self.seed + k for k in range(self.seeds)]


@dataclass
class SeedResult:
    """One training run, evaluated on the test split."""

    seed: int
    accuracy: float
    balanced_accuracy: float
    roc_auc: float
    epochs_trained: int
    best_epoch: int | None
    seconds: float
    diverged: bool = False  # the loss became NaN/inf: metrics are those of the best epoch before


SUMMARY_FIELDS = ("accuracy", "balanced_accuracy", "roc_auc", "epochs_trained", "best_epoch", "seconds")


@dataclass
class AblationRow:
    """One setting of one ablation: its runs (one per seed) and their mean ± sd, or why it was
    skipped."""

    ablation: str
    model: str
    setting: str
    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    runs: list[SeedResult] = field(default_factory=list)
    skipped: str | None = None

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    def mean(self, name: str) -> float:
        values = [getattr(r, name) for r in self.runs if getattr(r, name) is not None]
        return float(np.mean(values)) if values else float("nan")

    def sd(self, name: str) -> float:
        """Sample standard deviation over seeds (0 for one run)."""
        values = [getattr(r, name) for r in self.runs if getattr(r, name) is not None]
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"ablation": self.ablation, "model": self.model, "setting": self.setting,
                "options": self.options, "train": self.train, "seeds": self.seeds,
                "skipped": self.skipped,
                "per_seed": [asdict(r) for r in self.runs],
                "mean": {k: self.mean(k) for k in SUMMARY_FIELDS} if self.runs else None,
                "sd": {k: self.sd(k) for k in SUMMARY_FIELDS} if self.runs else None}


@dataclass
class LrTuning:
    """The learning-rate grid tried for one optimizer and model (one seed, validation split)
    and the rate chosen: the one with the lowest best-epoch validation loss."""

    model: str
    optimizer: str
    grid: list[dict[str, float]]
    chosen_lr: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AblationResult:
    """Every row, the tuning record, and how the run was made."""

    rows: list[AblationRow]
    tuning: list[LrTuning]
    config: AblationConfig
    recipe: dict[str, Any]
    dataset: dict[str, Any]
    hardware: dict[str, Any]
    command: str | None
    seconds: float
    runs_trained: int
    parts: list[dict[str, Any]] = field(default_factory=list)  # filled by merge(): one per run
    versions: dict[str, str] = field(default_factory=dict)  # of the run (not of whoever writes the file)

    def ablation(self, name: str) -> list[AblationRow]:
        return [r for r in self.rows if r.ablation == name]

    def part(self) -> dict[str, Any]:
        """What this run (not a merged file) did: its ablations, command, time and machine."""
        return {"only": list(self.config.only), "command": self.command, "seconds": self.seconds,
                "runs_trained": self.runs_trained, "hardware": self.hardware, "versions": self.versions}

    def to_json(self) -> dict[str, Any]:
        cfg = asdict(self.config)
        cfg["only"] = list(cfg["only"])
        cfg["lr_grid"] = {k: list(v) for k, v in cfg["lr_grid"].items()}
        doc = {"command": self.command, "hardware": self.hardware, "versions": self.versions, "config": cfg,
               "recipe": self.recipe, "dataset": self.dataset,
               "ablations": {a: [r.to_json() for r in self.ablation(a)] for a in self.config.only},
               "lr_tuning": [t.to_json() for t in self.tuning],
               "runs_trained": self.runs_trained, "seconds": self.seconds,
               "parts": self.parts or [self.part()]}
        return _finite(doc)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "AblationResult":
        """Rebuild a result from its ablation.json (for merging and plotting)."""
        cfg = dict(doc["config"])
        weights = cfg.pop("weights", None)
        config = AblationConfig(**{**cfg, "only": tuple(cfg["only"]),
                                   "lr_grid": {k: tuple(v) for k, v in cfg["lr_grid"].items()}})
        config.weights = weights  # the file may be gone; the record stays
        nan = float("nan")
        rows = [AblationRow(r["ablation"], r["model"], r["setting"], r["options"], r["train"],
                            [SeedResult(**{k: (nan if v is None and k in ("accuracy", "balanced_accuracy",
                                                                           "roc_auc") else v)
                                           for k, v in s.items()}) for s in r["per_seed"]],
                            r["skipped"])
                for name in config.only for r in doc["ablations"][name]]
        tuning = [LrTuning(t["model"], t["optimizer"], t["grid"], t["chosen_lr"]) for t in doc["lr_tuning"]]
        parts = [{**p, "versions": p.get("versions", doc.get("versions", {}))} for p in doc.get("parts", [])]
        return cls(rows, tuning, config, doc["recipe"], doc["dataset"], doc["hardware"], doc["command"],
                   doc["seconds"], doc["runs_trained"], parts, dict(doc.get("versions", {})))

    def merge(self, older: "AblationResult") -> "AblationResult":
        """This run's ablations plus those of `older` that this run did not redo, so that an
        expensive ablation run on another day is not lost. Both must come from the same recipe,
        data and run settings (`merge_problem`); a difference raises ValueError naming it."""
        problem = merge_problem(self.config, self.recipe, older, self.dataset)
        if problem:
            raise ValueError(problem)
        kept = [a for a in older.config.only if a not in self.config.only]
        only = tuple(a for a in ABLATIONS if a in self.config.only or a in kept)
        rows = [r for a in only for r in (self.ablation(a) if a in self.config.only else older.ablation(a))]
        tuning = self.tuning + (older.tuning if "optimizer" in kept else [])
        config = AblationConfig(**{**asdict(self.config), "weights": None, "only": only})
        config.weights = self.config.weights or (older.config.weights if "pretrained" in kept else None)
        return AblationResult(rows, tuning, config, self.recipe, self.dataset, self.hardware, self.command,
                              older.seconds + self.seconds, older.runs_trained + self.runs_trained,
                              (older.parts or [older.part()]) + [self.part()], self.versions)


    def table(self) -> str:
        """A plain-text table: one line per row, mean ± sd over seeds."""
        lines = [f"{'ablation':10s} {'model':8s} {'setting':44s} {'accuracy':>15s} {'bal. acc.':>15s} "
                 f"{'ROC AUC':>15s} {'epochs':>6s} {'best':>5s} {'seconds':>8s}"]
        for r in self.rows:
            head = f"{r.ablation:10s} {r.model:8s} {r.setting[:44]:44s}"
            if r.skipped:
                lines.append(f"{head} skipped: {r.skipped}")
                continue
            cells = [f"{r.mean(k):.4f}±{r.sd(k):.4f}" for k in ("accuracy", "balanced_accuracy", "roc_auc")]
            lines.append(f"{head} {cells[0]:>15s} {cells[1]:>15s} {cells[2]:>15s} "
                         f"{r.mean('epochs_trained'):6.1f} {r.mean('best_epoch'):5.1f} {r.mean('seconds'):8.1f}")
        return "\n".join(lines)


MERGE_SETTINGS = ("quick", "seeds", "seed", "epochs", "max_epochs", "patience", "lr_grid")


def merge_problem(config: AblationConfig, recipe: dict[str, Any], older: AblationResult,
                  dataset: dict[str, Any] | None = None) -> str | None:
    """Why a run with `config` (and `recipe`, `dataset`) cannot be merged with `older`, or None.
    Checked before training (without the dataset) and again after it."""
    for key in MERGE_SETTINGS:
        mine, theirs = getattr(config, key), getattr(older.config, key)
        if mine != theirs:
            return f"cannot merge: the stored ablation has {key}={theirs!r}, this run {mine!r}"
    for key, mine, theirs in (("recipe", recipe, older.recipe), ("dataset", dataset, older.dataset)):
        if mine is not None and mine != theirs:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            return f"cannot merge: the stored ablation has another {key} ({', '.join(diff)})"
    return None

def _finite(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------
_MISSING = object()


def _model_defaults(model: str) -> dict[str, Any]:
    """The option defaults of build(model): width 32 is the same run as no width at all."""
    import inspect

    from .models import SmallCNN, resnet18

    fn = SmallCNN.__init__ if model == "cnn" else resnet18
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def departures(model: str, options: dict[str, Any], train: dict[str, Any]) -> tuple[dict, dict]:
    """(model options, training settings) in which a run differs from `build(model)`'s defaults and
    `TrainConfig()`: width 32 or Adam at 1e-3 are no change. Two runs with the same departures and
    seed are the same run; a row with none is the run `compare` trains for that model."""
    from .train import TrainConfig

    recipe, own = TrainConfig(), _model_defaults(model)
    return ({k: v for k, v in options.items() if own.get(k, _MISSING) != v},
            {k: v for k, v in train.items() if getattr(recipe, k) != v})


def changes_nothing(row: AblationRow) -> bool:
    """A trained row with the model's own defaults and the default recipe (at the ablation's fixed
    budget): the SmallCNN at width 32, ResNet18 with the ImageNet stem, the fixed budget, Adam at
    its default rate."""
    return not row.skipped and departures(row.model, row.options, row.train) == ({}, {})


def reference_mismatches(result: AblationResult, compared: dict[str, Any]) -> list[tuple[str, str]]:
    """(ablation, model) of every row that changes nothing whose per-seed test accuracies differ
    (to 6 digits) from those of the comparison's report.json `models` (`compared`). Empty means
    those rows are the comparison's own runs, seed by seed, so the two may be read side by side;
    a model the comparison lacks counts as a mismatch."""
    def rounded(values) -> list[float]:
        return [round(float(v), 6) for v in values]

    return [(r.ablation, r.model) for r in result.rows if changes_nothing(r)
            if r.model not in compared or rounded(s.accuracy for s in r.runs)
            != rounded(s["accuracy"] for s in compared[r.model]["per_seed"])]


@dataclass(frozen=True)
class _RunKey:
    model: str
    options: tuple
    train: tuple
    seed: int


@dataclass
class _Curve:
    """What tune_lr reads of a run's History, as a journal keeps it."""

    val_loss: list[float]
    val_acc: list[float]
    best_epoch: int | None


class RunJournal:
    """Finished runs of an ablation, one JSON line each, after a header line saying what they were
    trained with (recipe, data, device, torch, fixed budget). Reopening a journal with another
    header raises ValueError naming the file and what differs: its runs are kept, not mixed in."""

    def __init__(self, path: str | os.PathLike, header: dict[str, Any]):
        self.path, self.header = Path(path), json.loads(json.dumps(header, default=str))
        self.runs: dict[str, tuple[SeedResult, _Curve]] = {}
        if not self.path.is_file() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"header": self.header}) + "\n")
            return
        lines = self.path.read_text().splitlines()
        try:
            stored = json.loads(lines[0])["header"]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"{self.path}: not an ablation journal ({exc}); delete it or choose "
                             f"another --out") from exc
        if stored != self.header:
            diff = sorted(k for k in set(stored) | set(self.header) if stored.get(k) != self.header.get(k))
            raise ValueError(f"{self.path}: its runs were trained with another {', '.join(diff)}; "
                             f"delete it (or choose another --out) to start afresh")
        for number, line in enumerate(lines[1:], start=2):
            try:
                entry = json.loads(line)
                self.runs[entry["key"]] = (SeedResult(**entry["result"]), _Curve(**entry["curve"]))
            except (ValueError, KeyError, TypeError) as exc:
                if number == len(lines):  # the line an interrupt cut short: that run is trained again
                    break
                raise ValueError(f"{self.path}, line {number}: unreadable ({exc}); delete it or "
                                 f"choose another --out") from exc

    def add(self, key: str, result: SeedResult, history: Any) -> None:
        curve = _Curve(list(history.val_loss), list(history.val_acc), history.best_epoch)
        self.runs[key] = (result, curve)
        with self.path.open("a") as f:  # NaN stays NaN: json writes and reads it back
            f.write(json.dumps({"key": key, "result": asdict(result), "curve": asdict(curve)}) + "\n")


class _Runner:
    """Trains and evaluates one (model, options, training overrides, seed) at a time and
    remembers the result, so a run shared by two ablations is trained once; with a journal, a run
    an earlier (interrupted) process finished is read back instead of trained again."""

    def __init__(self, splits: Any, config: AblationConfig, device: str, journal: RunJournal | None = None):
        self.splits, self.config, self.device, self.journal = splits, config, device, journal
        self.cache: dict[_RunKey, tuple[SeedResult, Any]] = {}
        self.image_size = int(splits.train.images.shape[-1])

    def build(self, model: str, options: dict[str, Any], seed: int):
        from .models import build

        opts = dict(options)
        if model == "cnn" and self.image_size != 64:
            opts.setdefault("image_size", self.image_size)
        return build(model, num_classes=len(self.splits.classes), seed=seed, **opts)

    def run(self, model: str, options: dict[str, Any], train: dict[str, Any], seed: int):
        """(SeedResult on the test split, History)."""
        from .evaluate import predict, report
        from .train import TrainConfig, TrainingDiverged, fit

        train = {"epochs": self.config.epochs, **train}
        own, differs = departures(model, options, train)
        key = _RunKey(model, tuple(sorted(own.items())), tuple(sorted(differs.items())), seed)
        noted = json.dumps([model, key.options, key.train, seed], default=str)
        if key not in self.cache and self.journal is not None and noted in self.journal.runs:
            self.cache[key] = self.journal.runs[noted]
            if self.config.progress:
                r = self.cache[key][0]
                print(f"  {model} {options} {train} seed {seed}: accuracy {r.accuracy:.4f}, "
                      f"{r.epochs_trained} epochs (from {self.journal.path.name})", flush=True)
        if key not in self.cache:
            net = self.build(model, options, seed)
            cfg = TrainConfig(**train, seed=seed, device=self.device, progress=False)
            diverged = False
            try:
                history = fit(net, self.splits.train, self.splits.val, cfg)
            except TrainingDiverged as exc:  # e.g. SGD at the top of the grid: recorded, not fatal
                history, diverged = exc.history, True
            if history.best_epoch is None:  # diverged in the first epoch: no weights worth testing
                acc = bal = auc = float("nan")
            else:
                rep = report(predict(net, self.splits.test))
                acc, bal, auc = rep.accuracy, rep.balanced_accuracy, rep.roc_auc
            result = SeedResult(seed=seed, accuracy=acc, balanced_accuracy=bal, roc_auc=auc,
                                epochs_trained=history.epochs, best_epoch=history.best_epoch,
                                seconds=history.seconds, diverged=diverged)
            self.cache[key] = (result, history)
            if self.journal is not None:
                self.journal.add(noted, result, history)
            if self.config.progress:
                print(f"  {model} {options} {train} seed {seed}: accuracy {acc:.4f}, {history.epochs} "
                      f"epochs, {history.seconds:.1f} s{', DIVERGED' if diverged else ''}", flush=True)
        return self.cache[key]

    def row(self, ablation: str, model: str, setting: str, options: dict[str, Any] | None = None,
            train: dict[str, Any] | None = None) -> AblationRow:
        options, train = dict(options or {}), dict(train or {})
        runs = [self.run(model, options, train, s)[0] for s in self.config.run_seeds]
        shown = {k: (os.path.basename(v) if k == "weights" else v) for k, v in options.items()}
        return AblationRow(ablation, model, setting, shown, train, runs)


def tune_lr(runner: _Runner, model: str, optimizer: str, grid: tuple[float, ...]) -> LrTuning:
    """Train `model` once per learning rate (first seed, fixed budget) and pick the rate with the
    lowest validation loss at its best epoch; the test split is never looked at."""
    if runner.splits.val is None or len(runner.splits.val) == 0:
        raise ValueError("learning-rate tuning needs a validation split; the data has none")
    tried = []
    for lr in grid:
        result, history = runner.run(model, {}, {"optimizer": optimizer, "lr": lr}, runner.config.seed)
        losses = [v for v in history.val_loss if math.isfinite(v)]
        best = min(losses) if losses and not result.diverged else math.inf  # a rate that diverges loses
        tried.append({"lr": lr, "best_val_loss": best,
                      "val_acc_at_best": history.val_acc[history.val_loss.index(best)] if best < math.inf else None,
                      "best_epoch": history.best_epoch, "diverged": result.diverged})
    chosen = min(tried, key=lambda t: t["best_val_loss"])["lr"]
    return LrTuning(model, optimizer, tried, chosen)


def fingerprint(splits: Any) -> str:
    """First 12 hex digits of the SHA-1 of every split's images and labels: two runs merge only
    when they trained and tested on the very same pixels (a changed generator changes it)."""
    import hashlib

    h = hashlib.sha1()
    for _, s in splits.items():
        h.update(s.images.contiguous().numpy().tobytes())
        h.update(s.labels.contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def ablation_data(config: AblationConfig):
    """The split the ablations train on: the exercise-sized synthetic set, or in quick mode a
    tiny 32-pixel one."""
    from .data import make_synthetic

    if config.quick:
        return make_synthetic(seed=config.seed, quick=True, **QUICK_DATA)
    return make_synthetic(seed=config.seed, quick=False)


def run_ablation(config: AblationConfig | None = None, splits: Any = None, command: str | None = None,
                 log: Callable[[str], None] = lambda s: None,
                 journal: str | os.PathLike | None = None) -> AblationResult:
    """Run the ablations named in `config.only` on `splits` (default: `ablation_data(config)`).
    With `journal` (a file path) every finished run is noted there, and runs already noted by an
    earlier process with the same recipe, data, device and budget are read back, not retrained."""
    from .models import build
    from .train import TrainConfig

    config = config or AblationConfig()
    t0 = time.perf_counter()
    if config.weights is not None and "pretrained" in config.only:
        build("resnet18", weights=config.weights)  # a WeightsError now, not after hours of training
    splits = splits if splits is not None else ablation_data(config)
    device = str(pick_device(config.device))
    recipe, sha1 = TrainConfig().to_dict(), fingerprint(splits)
    notes = None if journal is None else RunJournal(journal, {
        "recipe": recipe, "dataset_sha1": sha1, "device": device, "epochs": config.epochs,
        "torch": versions()["torch"]})
    runner = _Runner(splits, config, device, notes)
    if notes is not None and notes.runs:
        log(f"{len(notes.runs)} finished runs noted in {notes.path}: those are read back, not retrained")
    rows: list[AblationRow] = []
    tuning: list[LrTuning] = []
    fixed = f"fixed {config.epochs} epoch{'s' if config.epochs != 1 else ''}"
    for name in config.only:
        log(f"ablation: {name}")
        if name == "width":
            rows += [runner.row("width", "cnn", f"width {w}", {"width": w}) for w in WIDTHS]
        elif name == "stem":
            rows += [runner.row("stem", "resnet18", f"{s} stem", {"stem": s}) for s in STEMS]
        elif name == "budget":
            until = (f"until val loss stops improving (patience {config.patience}, "
                     f"max {config.max_epochs}, best weights)")
            for model in ("cnn", "resnet18"):
                rows.append(runner.row("budget", model, fixed))
                rows.append(runner.row("budget", model, until,
                                       train={"epochs": config.max_epochs, "patience": config.patience,
                                              "restore_best": True}))
        elif name == "optimizer":
            for model in ("cnn", "resnet18"):
                for opt, label in (("adam", "Adam"), ("sgd", "SGD, Nesterov momentum 0.9")):
                    t = tune_lr(runner, model, opt, config.lr_grid[opt])
                    tuning.append(t)
                    rows.append(runner.row("optimizer", model, f"{label}, tuned lr {t.chosen_lr:g}",
                                           train={"optimizer": opt, "lr": t.chosen_lr}))
        elif name == "pretrained":
            if config.weights is None:
                rows.append(AblationRow("pretrained", "resnet18", "pretrained weights file",
                                        skipped="no weights file given (use --weights PATH with a "
                                                "state dict of torchvision's resnet18; nothing is "
                                                "downloaded)"))
            else:
                rows.append(runner.row("pretrained", "resnet18", "from scratch"))
                rows.append(runner.row("pretrained", "resnet18",
                                       f"pretrained from {os.path.basename(config.weights)}",
                                       {"weights": config.weights}))
    return AblationResult(
        rows=rows, tuning=tuning, config=config, recipe=recipe,
        dataset={"source": splits.source, "image_size": runner.image_size, **splits.summary(), "sha1": sha1},
        hardware=hardware(device), command=command, seconds=time.perf_counter() - t0,
        runs_trained=len(runner.cache), versions=versions())


# ----------------------------------------------------------------------------------------------
# what each change does
# ----------------------------------------------------------------------------------------------
REFERENCE_SETTING = {"width": "width 32"}  # the SmallCNN's own width; elsewhere the first row


def effects(result: AblationResult, metric: str = "accuracy"):
    """pandas DataFrame, one row per changed setting: the change in `metric` against the
    reference setting of its ablation and model (width 32; else the first row: ImageNet stem,
    the fixed budget, Adam, from scratch), paired by seed (the same seed gives both runs the same
    data order and initial weights where the architecture allows). `same_sign` is True when every
    seed's difference points the same way: with 3 seeds that is the most the runs can say, and a
    mean difference smaller than the seed spread (`sd_reference`) is no effect shown."""
    import pandas as pd

    out = []
    for name in result.config.only:
        rows = [r for r in result.ablation(name) if not r.skipped]
        for model in dict.fromkeys(r.model for r in rows):
            group = [r for r in rows if r.model == model]
            ref = next((r for r in group if r.setting == REFERENCE_SETTING.get(name)), group[0])
            by_seed = {s.seed: getattr(s, metric) for s in ref.runs}
            for r in group:
                if r is ref:
                    continue
                diffs = [getattr(s, metric) - by_seed[s.seed] for s in r.runs if s.seed in by_seed]
                if not diffs:
                    continue
                out.append({"ablation": name, "model": model, "reference": ref.setting, "setting": r.setting,
                            "reference_mean": ref.mean(metric), "setting_mean": r.mean(metric),
                            "difference": float(np.mean(diffs)), "per_seed": [round(d, 4) for d in diffs],
                            "same_sign": all(d > 0 for d in diffs) or all(d < 0 for d in diffs),
                            "sd_reference": ref.sd(metric),
                            "epochs_reference": ref.mean("epochs_trained"), "epochs": r.mean("epochs_trained")})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------------------------
def plot_ablation(result: AblationResult):
    """One panel per ablation: mean test balanced accuracy per setting (bar, ± sd) with each
    seed as a dot; skipped settings are named in the panel."""
    import matplotlib.pyplot as plt

    names = list(result.config.only)
    bars = [max(2, sum(not r.skipped for r in result.ablation(n))) for n in names]
    fig, axes = plt.subplots(1, len(names), figsize=(0.9 * sum(bars) + 1.2, 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": bars})
    for ax, name in zip(axes[0], names):
        rows = result.ablation(name)
        done = [r for r in rows if not r.skipped]
        labels = [f"{r.model}\n{_short(r.setting)}" for r in done]
        means = [r.mean("balanced_accuracy") for r in done]
        sds = [r.sd("balanced_accuracy") for r in done]
        ax.bar(range(len(done)), means, yerr=sds, color="#9ecae1", capsize=3)
        for i, r in enumerate(done):
            ax.plot([i] * len(r.runs), [s.balanced_accuracy for s in r.runs], "k.", ms=4)
        ax.set_xticks(range(len(done)), labels, fontsize=7)
        for j, r in enumerate(r for r in rows if r.skipped):
            ax.text(0.5, 0.5 - 0.1 * j, f"{r.setting}:\nskipped", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
        ax.set_title(name)
        if not done:
            ax.set_yticks([])
        else:
            low = min(min(s.balanced_accuracy for s in r.runs) for r in done)
            ax.set_ylim(max(0.0, low - 0.05), 1.0)
    axes[0][0].set_ylabel("test balanced accuracy")
    fig.tight_layout()
    return fig


def _short(setting: str) -> str:
    """A two-line axis label for a setting."""
    if setting.startswith("until"):
        return "to\nconvergence"
    if setting.startswith("fixed"):
        return setting.replace("fixed ", "fixed\n")
    if ", tuned lr " in setting:
        name, lr = setting.split(", tuned lr ")
        return f"{name.split(',')[0]}\nlr {lr}"
    return setting.replace(" ", "\n", 1)


def write_outputs(result: AblationResult, out: str | os.PathLike) -> Path:
    """Write out/ablation.json and out/ablation.png; return the folder."""
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    fig = plot_ablation(result)
    fig.savefig(out / "ablation.png", dpi=90)
    plt.close(fig)
    return out


# ----------------------------------------------------------------------------------------------
# command line: `python -m carcourse ablate`
# ----------------------------------------------------------------------------------------------
def add_subcommand(sub: Any) -> None:
    """Register `ablate` on the CLI's subparsers."""
    p = sub.add_parser("ablate", help="ablations: SmallCNN width, ResNet18 stem, training budget, "
                       "optimizer, pretrained weights; writes ablation.json and ablation.png")
    p.add_argument("--quick", action="store_true", help="tiny 32-px data, 1 epoch, 1 seed (CI)")
    p.add_argument("--seeds", type=int, default=None, help="training runs per setting (default 3, quick 1)")
    p.add_argument("--seed", type=int, default=0, help="data seed and first training seed")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"fixed budget (default {FULL_EPOCHS}, quick {QUICK_EPOCHS})")
    p.add_argument("--weights", default=None, help="state dict of torchvision's resnet18 for the "
                   "pretrained ablation (skipped without it)")
    p.add_argument("--only", default=",".join(ABLATIONS), help="comma-separated subset of "
                   + ",".join(ABLATIONS))
    p.add_argument("--out", default=None, help="folder for ablation.json and ablation.png")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--merge", action="store_true", help="keep the ablations already in "
                   "OUT/ablation.json that this run does not redo (same recipe, data and settings)")
    p.add_argument("--no-progress", action="store_true", help="print only the final table")
    p.set_defaults(func=main)


def _read_stored(path: Path) -> AblationResult:
    try:
        return AblationResult.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--merge: {path} is not an ablation.json this version can read ({exc})") from exc


def main(args: Any) -> int:
    """Run `ablate` from parsed arguments; print the table; write the outputs when --out is given."""
    import matplotlib

    matplotlib.use("Agg")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out}: exists and is not a folder")
    stored = Path(args.out or ".") / "ablation.json"
    if args.merge and not (args.out and stored.is_file()):
        raise ValueError(f"--merge: no {stored} to merge into" if args.out else "--merge needs --out DIR")
    older = _read_stored(stored) if args.merge else None
    config = AblationConfig(quick=True if args.quick else None, seeds=args.seeds, seed=args.seed,
                            epochs=args.epochs, weights=args.weights, device=args.device,
                            only=args.only, progress=not args.no_progress)
    if older is not None:  # refuse now, not after hours of training
        from .train import TrainConfig

        problem = merge_problem(config, TrainConfig().to_dict(), older)
        if problem:
            raise ValueError(f"--merge {stored}: {problem}")
    result = run_ablation(config, command="python -m carcourse " + " ".join(getattr(args, "argv", [])),
                          log=print if config.progress else (lambda s: None),
                          journal=Path(args.out) / JOURNAL if args.out else None)
    print(result.table())
    print(f"{result.runs_trained} training runs in {result.seconds:.0f} s on {result.hardware['device']}")
    if older is not None:
        try:
            result = result.merge(older)
        except ValueError as exc:  # the data differ (another generator): keep this run beside the old
            kept = write_outputs(result, Path(args.out) / "unmerged")
            raise ValueError(f"--merge {stored}: {exc}; this run was written to {kept}/") from exc
        print(f"merged with {stored}: {', '.join(result.config.only)}")
    if args.out:
        write_outputs(result, args.out)
        print(f"wrote {args.out}/ablation.json and {args.out}/ablation.png")
    return 0
