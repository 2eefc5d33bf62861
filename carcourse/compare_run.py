"""The exercise's experiment end to end: train both models on one split, evaluate, compare,
and write report.json plus figures. Used by `python -m carcourse compare` and notebook 06."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed as ddp
from .config import hardware, pick_device, versions
from .data import Splits, load_folder, make_synthetic
from .evaluate import Comparison, Predictions, Report, compare, positive_index, predict, report, roc_auc
from .history import History
from .models import count_parameters
from .presets import preset
from .progress import RunTable
from .shifts import robustness_entries, robustness_sets
from .side_by_side import RunOutput, RunSpec, auto_workers, check_workers, train_side_by_side, usable_cores

MODELS = ("cnn", "resnet18")


@dataclass
class CompareResult:
    """What run_compare measured. `to_json()` is the report.json document; the rest are the
    objects behind it: per-model Reports, Histories and trained models of the first seed, every
    seed's Reports (`per_seed()` tabulates them), the Comparison, the split used."""

    comparison: Comparison
    reports: dict[str, Report]
    all_reports: dict[str, list[Report]]
    histories: dict[str, History]
    models: dict[str, nn.Module]
    splits: Splits
    document: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The report.json document (plain JSON types, NaN written as null)."""
        return self.document

    @property
    def table(self):
        """Side-by-side pandas table (Comparison.table)."""
        return self.comparison.table()

    @property
    def verdict(self) -> str:
        return self.comparison.verdict()

    def per_seed(self):
        """pandas DataFrame with one row per (model, seed): the metrics of each training run."""
        import pandas as pd

        rows = [{"model": name, **run} for name, m in self.document["models"].items() for run in m["per_seed"]]
        return pd.DataFrame(rows).set_index(["model", "seed"])

    def __getitem__(self, key: str) -> Any:
        """Read-only dict-style access kept for notebooks written against the old dict result
        (`result["json"]` is `result.to_json()`, the other keys are the attributes)."""
        if key == "json":
            return self.to_json()
        if key in ("comparison", "reports", "all_reports", "histories", "models", "splits",
                   "table", "verdict"):
            return getattr(self, key)
        raise KeyError(key)


def _finite(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def predict_gathered(model: Any, data: Any) -> Predictions | None:
    """predict() on this rank's slice of `data`, gathered on rank 0 (None on other ranks);
    plain predict() in a single process."""
    if not ddp.active():
        return predict(model, data)
    idx = torch.arange(len(data))[ddp.rank()::ddp.world_size()]
    local = predict(model, data.take(idx))
    logits = ddp.gather_rows(local.logits, idx, len(data))
    if logits is None:
        return None
    return Predictions.from_logits(logits, data.labels, data.classes)


def run_compare(data: Any = "synthetic", epochs: int | None = None, seeds: int = 1,
                quick: bool | None = None, out: str | Path | None = None,
                device: str | None = None, progress: bool = True, seed: int = 0,
                models: tuple[str, ...] = MODELS, model_options: dict[str, dict] | None = None,
                command: str | None = None, workers: int | None = 1) -> CompareResult | None:
    """Train each model `seeds` times on the same split and compare them on the test set.

    `data` is "synthetic", a folder path, or a Splits object; `quick` (None: CARCOURSE_QUICK)
    picks the preset that sizes the synthetic data and the default epochs. Returns a
    CompareResult (its to_json() is report.json); writes `out/report.json` and figures when
    `out` is given.
    `workers`: training runs side by side, one process each (carcourse.side_by_side); None picks
    2 on a multi-core CPU and 1 elsewhere. The default 1 trains one run at a time, as the stored
    answers/results were made; side by side gives the same numbers on every rerun, but not
    digit for digit the one-at-a-time numbers.
    Under torchrun (see carcourse.distributed) the ranks share the training and rank 0 alone
    evaluates, writes and returns the result; the other ranks return None."""
    size = preset(quick)
    quick = size.quick
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    workers = check_workers(workers)
    epochs = epochs if epochs is not None else size.compare_epochs
    t0 = time.perf_counter()
    if isinstance(data, Splits):
        splits = data
    elif str(data) == "synthetic":
        splits = make_synthetic(seed=seed, quick=quick)
    else:
        splits = load_folder(data, seed=seed)
    data_seconds = time.perf_counter() - t0
    dev = pick_device(device)
    lead = ddp.rank() == 0
    progress = progress and lead
    specs = [RunSpec(name, seed + k, epochs, str(dev), len(splits.classes), (model_options or {}).get(name, {}))
             for name in models for k in range(seeds)]
    workers = auto_workers(dev, len(specs)) if workers is None else (1 if ddp.world_size() > 1 else workers)
    reports, histories, trained, extra, model_json = {n: [] for n in models}, {n: [] for n in models}, {}, {}, {}
    finished, sets, shift_predictions = {}, {}, {}
    with RunTable(len(specs), desc="models × seeds", enabled=progress) as table:
        def record(spec: RunSpec, model: nn.Module | None, history: History, predictions: Predictions | None) -> None:
            """Keep a finished run (the model of the first seed only) and add its table row."""
            rep = report(predictions) if predictions is not None else None  # None on ranks other than 0
            finished[spec.model, spec.seed] = (model if spec.seed == seed else None, history, rep)
            if rep is not None:
                table.add({"model": spec.model, "seed": spec.seed, "test accuracy": rep.accuracy,
                           "seconds": history.seconds})

        if workers == 1:
            for spec in specs:
                model = spec.build()
                if progress:
                    print(f"{spec.model} seed {spec.seed}: {count_parameters(model):,} parameters, {epochs} epochs on {dev}")
                history = spec.fit(model, splits.train, splits.val, progress=progress)
                record(spec, model, history, predict_gathered(model, splits.test))
        else:
            # the kept (first-seed) models predict the shifted test sets in the workers, each as
            # soon as a core is free, instead of here after the last run
            sets = robustness_sets(splits, seed=seed)

            def done(out: RunOutput) -> None:
                if out.extra:
                    shift_predictions[out.spec.model] = {
                        name: Predictions.from_logits(logits, sets[name].labels, sets[name].classes)
                        for name, logits in out.extra.items()}
                kept = out.model(dev) if out.spec.seed == seed else None  # record keeps the first seed's only
                record(out.spec, kept, out.history,
                       Predictions.from_logits(out.logits, splits.test.labels, splits.test.classes))

            _train_side_by_side(specs, splits, workers, progress, done, extra_sets=sets,
                                predict_extra=lambda spec: spec.seed == seed)
    for spec in specs:  # in the order of `specs`, whichever finished first
        model, history, rep = finished[spec.model, spec.seed]
        histories[spec.model].append(history)
        if rep is not None:
            reports[spec.model].append(rep)
        if model is not None:
            trained[spec.model] = model
    if not lead:
        return None
    for name in models:
        extra[name], model_json[name] = _model_summary(reports[name], histories[name], trained[name], seed)
    # --- per-kind error tables and shifted test sets (carcourse.shifts owns this) ---
    robustness = robustness_entries(model_json, trained, reports, splits, seed=seed, sets=sets or None,
                                    predictions=shift_predictions or None)
    # --- end per-kind / shifts ---
    comparison = compare(reports, extra=extra, seed=seed)
    doc = {
        "device": str(dev),
        "dataset": {"source": splits.source, **splits.summary()},
        "models": model_json,
        "comparison": {**comparison.to_dict(), "verdict": comparison.verdict()},
        **robustness,
        "run": {"command": command, "quick": quick, "epochs": epochs, "seeds": seeds, "seed": seed,
                "data_seconds": data_seconds, "total_seconds": time.perf_counter() - t0,
                "versions": versions(), "hardware": hardware(dev),
                "world_size": ddp.world_size(), "amp": histories[models[0]][0].amp,
                "channels_last": histories[models[0]][0].channels_last,
                # what every run trained with (its seed is the first run's), jitter strengths included
                "recipe": specs[0].config().to_dict()},
    }
    result = CompareResult(comparison=comparison, reports={k: v[0] for k, v in reports.items()},
                           all_reports=reports, histories={k: v[0] for k, v in histories.items()},
                           models=trained, splits=splits, document=_finite(doc))
    if out is not None:
        write_outputs(result, Path(out))
    return result


def _train_side_by_side(specs: list[RunSpec], splits: Splits, workers: int, progress: bool,
                        on_done: Any = None, **extra: Any) -> list[RunOutput]:
    """train_side_by_side (`extra`: its extra_sets and predict_extra) with a progress bar over
    every epoch of every run."""
    from .progress import bar

    epochs_total = sum(s.epochs for s in specs)
    if progress:
        print(f"{len(specs)} training runs, {workers} side by side (one process and "
              f"{max(1, usable_cores() // workers)} thread(s) each)", flush=True)
    with bar(total=epochs_total, desc="epochs", unit="epoch", disable=not progress) as pbar:
        def on_epoch(model: str, seed: int, epoch: int, epochs: int) -> None:
            pbar.update(1)
            pbar.set_postfix_str(f"{model} seed {seed}: epoch {epoch}/{epochs}")
        return train_side_by_side(specs, splits, workers, on_epoch=on_epoch, on_done=on_done, **extra)


def _model_summary(reports: list[Report], histories: list[History], model: nn.Module,
                   seed: int) -> tuple[dict[str, str], dict[str, Any]]:
    """One model's extra table rows and its report.json entry (first seed in full, every seed
    in per_seed)."""
    seeds, h0, binary = len(histories), histories[0], len(reports[0].classes) == 2
    extra = {"parameters": f"{count_parameters(model):,}",
             "train_seconds": f"{sum(h.seconds for h in histories) / seeds:.1f}",
             "images_per_second": f"{sum(h.images_per_second for h in histories) / seeds:.0f}"}
    entry = {
        **reports[0].to_dict(),
        "epochs": h0.epochs,
        "train_seconds": h0.seconds,
        "images_per_second": h0.images_per_second,
        "parameters": count_parameters(model),
        "best_epoch": h0.best_epoch,
        "seeds": [seed + k for k in range(seeds)],
        "roc_auc_from_hard_labels": hard_label_auc(reports[0]) if binary else None,
        "per_seed": [{"seed": seed + k, "accuracy": r.accuracy,
                      "balanced_accuracy": r.balanced_accuracy, "roc_auc": r.roc_auc,
                      "car_f1": r.positive_f1 if binary else None,
                      "train_seconds": h.seconds, "best_epoch": h.best_epoch}
                     for k, (r, h) in enumerate(zip(reports, histories))],
        "options": {k: str(v) for k, v in getattr(model, "options", {}).items()},
    }
    return extra, entry


def hard_label_auc(rep: Report) -> float:
    """The common mistake: "ROC AUC" computed from argmax decisions instead of probabilities.
    With a 0/1 score the ROC curve has one corner, and its area is the balanced accuracy."""
    p = rep.predictions
    positive = positive_index(p.classes)
    return roc_auc((p.labels == positive).numpy(), (p.predicted == positive).double().numpy())


def write_outputs(result: CompareResult, out: Path) -> None:
    """report.json plus learning_curves.png, confusion_matrices.png and roc_pr.png in `out`."""
    import matplotlib.pyplot as plt

    from . import plots

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    figures = {"learning_curves.png": plots.learning_curves(result.histories),
               "confusion_matrices.png": plots.confusion_matrices(result.reports),
               "roc_pr.png": plots.roc_pr(result.reports)}
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
