"""Named test-set shifts: the same task rendered under conditions training never saw, with the
test split's class counts, so a robustness table compares like with like.

Training renders with `synthetic.Options()`; each shift changes one thing:
- `smaller_cars` / `larger_cars`: ground resolution, objects 20-30 % smaller or larger;
- `atmosphere`: haze, blur and sensor noise twice as strong;
- `low_sun`: shadows 2.2-3.5 × the object's height and warm evening light, another car colour mix;
- `roofs_grass`: the scene mix moves to roofs and grass (cars parked on verges and fields).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
import torch

from . import synthetic


@dataclass(frozen=True)
class Shift:
    """A named shift: what it changes (one sentence) and the generator options that render it;
    `scale` is drawn per image in `scale_range` (e.g. 1.2-1.3 for 20-30 % larger cars)."""

    name: str
    description: str
    options: synthetic.Options
    scale_range: tuple[float, float] | None = None


SHIFTS: dict[str, Shift] = {s.name: s for s in (
    Shift("smaller_cars", "coarser ground resolution: everything 20-30 % smaller", synthetic.Options(),
          (1 / 1.3, 1 / 1.2)),
    Shift("larger_cars", "finer ground resolution: everything 20-30 % larger", synthetic.Options(), (1.2, 1.3)),
    Shift("atmosphere", "haze, blur and sensor noise twice as strong", synthetic.Options(atmosphere=2.0)),
    Shift("low_sun", "low evening sun: long dark shadows, warm light, a more colourful car mix",
          synthetic.Options(low_sun=True, car_colours="vivid")),
    Shift("roofs_grass", "scene mix: far more roofs and grass, cars parked on verges",
          synthetic.Options(scene_mix="roofs_grass")),
)}
SCALE_STEPS = 4  # a scale range is rendered as this many equal parts, each at its mid scale


def shifted_set(name: str, n_notcar: int, n_car: int, seed: int = 0, size: int = 64,
                base: synthetic.Options | None = None):
    """The test set under shift `name`: n_notcar + n_car images (an ImageSet with metadata;
    column `shift` names the shift). `base` holds the training options the shift departs from."""
    from .data import synthetic_set

    if name not in SHIFTS:
        raise ValueError(f"unknown shift {name!r}; known: {sorted(SHIFTS)}")
    shift = SHIFTS[name]
    opts = _on_base(shift.options, base)
    index = sorted(SHIFTS).index(name)
    seed = int(seed) * 1000 + 500 + index  # never one of make_synthetic's split seeds
    if shift.scale_range is None:
        data = synthetic_set(n_notcar, n_car, seed=seed, size=size, options=opts)
    else:  # the scale is an Options constant: render equal parts at evenly spread scales
        data = _scaled(shift.scale_range, n_notcar, n_car, seed, size, opts)
    data.meta["shift"] = name
    return data


def _on_base(shift: synthetic.Options, base: synthetic.Options | None) -> synthetic.Options:
    """The shift's non-default fields applied on top of the training options `base`."""
    if base is None:
        return shift
    default = synthetic.Options()
    changed = {f: getattr(shift, f) for f in ("scale", "atmosphere", "low_sun", "car_colours", "scene_mix")
               if getattr(shift, f) != getattr(default, f)}
    return replace(base, **changed)


def _scaled(scale_range, n_notcar, n_car, seed, size, opts):
    from .data import ImageSet, synthetic_set

    import pandas as pd

    lo, hi = scale_range
    cuts_nc = np.linspace(0, n_notcar, SCALE_STEPS + 1).round().astype(int)
    cuts_c = np.linspace(0, n_car, SCALE_STEPS + 1).round().astype(int)
    parts = []
    for k in range(SCALE_STEPS):
        scale = lo + (hi - lo) * (k + 0.5) / SCALE_STEPS
        parts.append(synthetic_set(int(cuts_nc[k + 1] - cuts_nc[k]), int(cuts_c[k + 1] - cuts_c[k]),
                                   seed=seed * 10 + k, size=size, options=replace(opts, scale=scale)))
    parts = [p for p in parts if len(p)]
    images = torch.cat([p.images for p in parts])
    labels = torch.cat([p.labels for p in parts])
    meta = pd.concat([p.meta for p in parts], ignore_index=True)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    return ImageSet(images, labels, parts[0].classes, meta).take(order)


def shifted_test_sets(test, seed: int = 0, names: tuple[str, ...] | None = None,
                      base: synthetic.Options | None = None) -> dict[str, Any]:
    """Every named shift (or `names`) rendered with the class counts of the ImageSet `test`."""
    counts = test.class_counts()
    return {name: shifted_set(name, counts["notcar"], counts["car"], seed=seed,
                              size=test.images.shape[-1], base=base)
            for name in (names or tuple(SHIFTS))}


def predict_shifts(models: Mapping[str, torch.nn.Module], sets: Mapping[str, Any],
                   predict_fn=None) -> dict[str, dict[str, Any]]:
    """{model: {shift: Predictions}}: every model on every shifted set, predicted once."""
    from .evaluate import predict

    predict_fn = predict_fn or predict
    return {model_name: {shift_name: predict_fn(model, data) for shift_name, data in sets.items()}
            for model_name, model in models.items()}


def shift_metrics(predictions: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {shift: {accuracy, balanced_accuracy, roc_auc, notcar_recall, car_recall, n}}}."""
    from .evaluate import report

    out: dict[str, dict[str, dict[str, float]]] = {}
    for model_name, per_shift in predictions.items():
        out[model_name] = {}
        for shift_name, p in per_shift.items():
            r = report(p)
            out[model_name][shift_name] = {
                "accuracy": r.accuracy, "balanced_accuracy": r.balanced_accuracy, "roc_auc": r.roc_auc,
                "notcar_recall": r.per_class["notcar"]["recall"], "car_recall": r.per_class["car"]["recall"],
                "n": r.n}
    return out


def evaluate_shifts(models: Mapping[str, torch.nn.Module], sets: Mapping[str, Any],
                    predict_fn=None) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {shift: {accuracy, balanced_accuracy, roc_auc, car_recall, notcar_recall}}}."""
    return shift_metrics(predict_shifts(models, sets, predict_fn))


def shift_mcnemar(predictions: Mapping[str, Mapping[str, Any]], a: str, b: str) -> dict[str, dict[str, Any]]:
    """McNemar's exact test of models `a` and `b` on each shifted set (the same images for both):
    {shift: {a, b, a_only_correct, b_only_correct, p_value}}."""
    from .evaluate import mcnemar_exact

    out = {}
    for shift_name, pa in predictions[a].items():
        pb = predictions[b][shift_name]
        if not torch.equal(pa.labels, pb.labels):
            raise ValueError(f"shift {shift_name!r}: models {a!r} and {b!r} were not predicted on the same images")
        out[shift_name] = {"a": a, "b": b, **mcnemar_exact(pa.correct.numpy(), pb.correct.numpy())}
    return out


def robustness_table(models_json: Mapping[str, Mapping[str, Any]]):
    """pandas DataFrame, one row per (model, test set): the unshifted test split, then each shift
    in report.json's `models[name]["shifts"]`; accuracy, balanced accuracy, ROC AUC, both class
    recalls, and `drop`: the balanced accuracy lost against the model's own unshifted test."""
    import pandas as pd

    rows = {}
    for model_name, m in models_json.items():
        pc = m.get("per_class", {})
        base = {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"], "roc_auc": m["roc_auc"],
                "notcar_recall": pc.get("notcar", {}).get("recall"), "car_recall": pc.get("car", {}).get("recall")}
        rows[(model_name, "test")] = {**base, "drop": 0.0}
        for shift_name, r in (m.get("shifts") or {}).items():
            rows[(model_name, shift_name)] = {k: r.get(k) for k in base} | {
                "drop": base["balanced_accuracy"] - r["balanced_accuracy"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "test set"]
    return table


def threshold_failures(shift_results: Mapping[str, Mapping[str, Mapping[str, float]]],
                       min_auc: float = 0.9, max_recall: float = 0.5) -> list[dict[str, Any]]:
    """(model, shift) pairs whose ranking survived (ROC AUC >= min_auc) while the 0.5 threshold
    did not: one class's recall fell below max_recall, i.e. most of that class landed on the wrong
    side of 0.5. `one_side` is True when that recall is at most 5 %: (nearly) every image on one
    side. Input: {model: {shift: metrics}} as in report.json."""
    out = []
    for model_name, per_shift in shift_results.items():
        for shift_name, r in per_shift.items():
            auc, recalls = r.get("roc_auc"), {c: r.get(f"{c}_recall") for c in ("car", "notcar")}
            if auc is None or None in recalls.values() or auc < min_auc:
                continue
            worst = min(recalls, key=recalls.get)
            if recalls[worst] < max_recall:
                out.append({"model": model_name, "shift": shift_name, "roc_auc": auc,
                            "balanced_accuracy": r["balanced_accuracy"], "lost_class": worst,
                            "lost_recall": recalls[worst], "one_side": recalls[worst] <= 0.05})
    return out


def robustness_sets(splits, seed: int = 0) -> dict[str, Any]:
    """The shifted test sets compare scores every model on: each shift of the synthetic test split
    (shifted_test_sets), none for data from a folder (the generator cannot shift real photos)."""
    if not str(splits.source).startswith("synthetic"):
        return {}
    return shifted_test_sets(splits.test, seed=seed)


def robustness_entries(model_json: dict, models: Mapping[str, torch.nn.Module], reports: Mapping[str, Any],
                       splits, seed: int = 0, predict_fn=None, sets: Mapping[str, Any] | None = None,
                       predictions: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """What compare adds to report.json: per model `kind_errors` (when the test set carries
    metadata) and `shifts` (for synthetic data); returns {"shifts": {name: description}} for the
    document, plus `kind_tests` (McNemar of the first two models' first runs within each kind,
    Holm-adjusted over the kinds) and `shift_tests` (McNemar of the first two models on each
    shifted set).
    `sets` (default: robustness_sets) and `predictions` ({model: {shift: Predictions}}, default:
    predict_shifts here) let a caller hand in what it has already made elsewhere."""
    from .kinds import kind_errors, kind_errors_json, kind_mcnemar, kind_mcnemar_json

    doc: dict[str, Any] = {}
    if splits.test.meta is not None:
        on_test = {name: (rep[0] if isinstance(rep, (list, tuple)) else rep).predictions
                   for name, rep in reports.items()}
        for name, p in on_test.items():
            model_json[name]["kind_errors"] = kind_errors_json(kind_errors(p, splits.test.meta))
        if len(on_test) >= 2:  # the first two models paired within each kind
            a, b = list(on_test)[:2]
            doc["kind_tests"] = kind_mcnemar_json(kind_mcnemar({a: on_test[a], b: on_test[b]}, splits.test.meta), a, b)
    sets = robustness_sets(splits, seed) if sets is None else sets
    if not sets:
        return {"shifts": [], **doc}
    if predictions is None:
        predictions = predict_shifts(models, sets, predict_fn)
    for name, per_shift in shift_metrics(predictions).items():
        model_json[name]["shifts"] = per_shift
    doc = {"shifts": {k: SHIFTS[k].description for k in sets}, **doc}
    if len(models) >= 2:  # the first two models paired on each shifted set
        a, b = list(models)[:2]
        doc["shift_tests"] = shift_mcnemar(predictions, a, b)
    return doc
