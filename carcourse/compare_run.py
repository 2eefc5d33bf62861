"""The exercise's experiment end to end: train both models on one split, evaluate, compare,
and write report.json plus figures. Used by `python -m carcourse compare` and notebook 06."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from . import distributed as ddp
from .config import hardware, pick_device, quick_mode
from .evaluate import Predictions, compare, predict, report, roc_auc
from .models import build, count_parameters
from .train import TrainConfig, fit, versions

MODELS = ("cnn", "resnet18")
FULL_EPOCHS, QUICK_EPOCHS = 12, 3


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
    return Predictions(logits, torch.softmax(logits.float(), dim=1), logits.argmax(dim=1),
                       data.labels.clone(), tuple(data.classes))


def run_compare(data: Any = "synthetic", epochs: int | None = None, seeds: int = 1,
                quick: bool | None = None, out: str | Path | None = None,
                device: str | None = None, progress: bool = True, seed: int = 0,
                models: tuple[str, ...] = MODELS, model_options: dict[str, dict] | None = None,
                command: str | None = None) -> dict[str, Any] | None:
    """Train each model `seeds` times on the same split and compare them on the test set.

    `data` is "synthetic", a folder path, or a Splits object. Returns a dict with the JSON
    report, the Comparison, Reports, Histories and models (of the first seed), the pandas table
    and a verdict sentence; writes `out/report.json` and figures when `out` is given.
    Under torchrun (see carcourse.distributed) the ranks share the training and rank 0 alone
    evaluates, writes and returns the result; the other ranks return None."""
    from .data import Splits, load_folder, make_synthetic

    quick = quick_mode(quick)
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else FULL_EPOCHS)
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
    reports, histories, trained, extra, model_json = {}, {}, {}, {}, {}
    for name in models:
        reports[name], histories[name] = [], []
        for k in range(seeds):
            run_seed = seed + k
            model = build(name, num_classes=len(splits.classes), seed=run_seed,
                          **(model_options or {}).get(name, {}))
            config = TrainConfig(epochs=epochs, seed=run_seed, device=str(dev), progress=progress)
            if progress:
                print(f"{name} seed {run_seed}: {count_parameters(model):,} parameters, {epochs} epochs on {dev}")
            history = fit(model, splits.train, splits.val, config)
            histories[name].append(history)
            if k == 0:
                trained[name] = model
            predictions = predict_gathered(model, splits.test)
            if predictions is not None:
                reports[name].append(report(predictions))
        if not lead:
            continue
        h0 = histories[name][0]
        extra[name] = {"parameters": f"{count_parameters(trained[name]):,}",
                       "train_seconds": f"{sum(h.seconds for h in histories[name]) / seeds:.1f}",
                       "images_per_second": f"{sum(h.images_per_second for h in histories[name]) / seeds:.0f}"}
        model_json[name] = {
            **reports[name][0].to_dict(),
            "epochs": h0.epochs,
            "train_seconds": h0.seconds,
            "images_per_second": h0.images_per_second,
            "parameters": count_parameters(trained[name]),
            "best_epoch": h0.best_epoch,
            "seeds": [seed + k for k in range(seeds)],
            "roc_auc_from_hard_labels": hard_label_auc(reports[name][0]),
            "per_seed": [{"seed": seed + k, "accuracy": r.accuracy,
                          "balanced_accuracy": r.balanced_accuracy, "roc_auc": r.roc_auc,
                          "car_f1": r.per_class[r.classes[-1]]["f1"],
                          "train_seconds": h.seconds, "best_epoch": h.best_epoch}
                         for k, (r, h) in enumerate(zip(reports[name], histories[name]))],
            "options": {k: str(v) for k, v in getattr(trained[name], "options", {}).items()},
        }
    if not lead:
        return None
    # --- per-kind error tables and shifted test sets (carcourse.shifts owns this) ---
    from .shifts import robustness_entries
    robustness = robustness_entries(model_json, trained, reports, splits, seed=seed)
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
                "channels_last": histories[models[0]][0].channels_last},
    }
    doc = _finite(doc)
    result = {"json": doc, "comparison": comparison, "reports": {k: v[0] for k, v in reports.items()},
              "all_reports": reports, "histories": {k: v[0] for k, v in histories.items()},
              "models": trained, "splits": splits, "table": comparison.table(),
              "verdict": comparison.verdict()}
    if out is not None:
        write_outputs(result, Path(out))
    return result


def hard_label_auc(rep) -> float:
    """The common mistake: "ROC AUC" computed from argmax decisions instead of probabilities.
    With a 0/1 score the ROC curve has one corner, and its area is the balanced accuracy."""
    p = rep.predictions
    positive = len(p.classes) - 1
    return roc_auc((p.labels == positive).numpy(), (p.predicted == positive).double().numpy())


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """report.json plus learning_curves.png, confusion_matrices.png and roc_pr.png in `out`."""
    import matplotlib.pyplot as plt

    from . import plots

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result["json"], indent=2) + "\n")
    figures = {"learning_curves.png": plots.learning_curves(result["histories"]),
               "confusion_matrices.png": plots.confusion_matrices(result["reports"]),
               "roc_pr.png": plots.roc_pr(result["reports"])}
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
