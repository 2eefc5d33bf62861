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


def evaluate_shifts(models: Mapping[str, torch.nn.Module], sets: Mapping[str, Any],
                    predict_fn=None) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {shift: {accuracy, balanced_accuracy, roc_auc, car_recall, notcar_recall}}}."""
    from .evaluate import predict, report

    predict_fn = predict_fn or predict
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model_name, model in models.items():
        out[model_name] = {}
        for shift_name, data in sets.items():
            r = report(predict_fn(model, data))
            out[model_name][shift_name] = {
                "accuracy": r.accuracy, "balanced_accuracy": r.balanced_accuracy, "roc_auc": r.roc_auc,
                "notcar_recall": r.per_class["notcar"]["recall"], "car_recall": r.per_class["car"]["recall"],
                "n": r.n}
    return out


def robustness_entries(model_json: dict, models: Mapping[str, torch.nn.Module], reports: Mapping[str, Any],
                       splits, seed: int = 0, predict_fn=None) -> dict[str, Any]:
    """What compare adds to report.json: per model `kind_errors` (when the test set carries
    metadata) and `shifts` (for synthetic data); returns {"shifts": [names]} for the document."""
    from .kinds import kind_errors, kind_errors_json

    if splits.test.meta is not None:
        for name, rep in reports.items():
            predictions = rep[0].predictions if isinstance(rep, (list, tuple)) else rep.predictions
            model_json[name]["kind_errors"] = kind_errors_json(kind_errors(predictions, splits.test.meta))
    if not str(splits.source).startswith("synthetic"):
        return {"shifts": []}
    sets = shifted_test_sets(splits.test, seed=seed)
    results = evaluate_shifts(models, sets, predict_fn)
    for name, per_shift in results.items():
        model_json[name]["shifts"] = per_shift
    return {"shifts": {k: SHIFTS[k].description for k in sets}}
