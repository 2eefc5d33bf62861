"""Where a model's errors are: error counts and rates per kind of image (from the generator's
metadata), each with a Wilson score interval because some kinds hold only a few images."""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Mapping

import numpy as np
import pandas as pd

COLUMNS = ("kind", "label", "count", "errors", "error_rate", "low", "high")


def wilson_interval(errors: int, count: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion errors / count ((nan, nan) for count 0).
    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 errors."""
    if count == 0:
        return math.nan, math.nan
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = errors / count
    centre = (p + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    # the rate itself always lies inside (rounding could put a bound a hair past 0 or 1 errors)
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def _kind_frame(predictions: Any, meta: pd.DataFrame | None, column: str) -> pd.DataFrame:
    """One row per image: its kind (from `meta[column]`), its true class name and whether the
    predictions got it wrong. Refuses missing metadata, a missing column and a length mismatch."""
    if meta is None:
        raise ValueError("kind_errors needs the images' metadata (ImageSet.meta); this data set has "
                         "none (only the synthetic generator and folders saved with meta.csv do)")
    if column not in meta.columns:
        raise ValueError(f"metadata has no column {column!r}; columns: {list(meta.columns)}")
    labels = np.asarray(predictions.labels)
    predicted = np.asarray(predictions.predicted)
    if len(meta) != len(labels):
        raise ValueError(f"metadata has {len(meta)} rows for {len(labels)} predictions")
    return pd.DataFrame({"kind": meta[column].astype(str).to_numpy(),
                         "label": np.asarray(predictions.classes, dtype=object)[labels],
                         "wrong": (labels != predicted).astype(int)})


def kind_errors(predictions: Any, meta: pd.DataFrame | None = None, column: str = "kind",
                confidence: float = 0.95) -> pd.DataFrame:
    """One row per kind (sorted by error rate, worst first): the true class name, how many
    images, how many misclassified, the error rate and its Wilson interval.

    `predictions` is a carcourse.evaluate.Predictions (labels and predicted labels aligned with
    `meta`'s rows); `meta` defaults to the predictions' data when it carries one. The counts
    sum to the number of images and the errors to the off-diagonal of the confusion matrix."""
    rows = []
    for (kind, label), group in _kind_frame(predictions, meta, column).groupby(["kind", "label"], sort=True):
        count, errors = len(group), int(group["wrong"].sum())
        low, high = wilson_interval(errors, count, confidence)
        rows.append((kind, label, count, errors, errors / count, low, high))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table.sort_values(["error_rate", "count"], ascending=[False, False]).reset_index(drop=True)


def kind_errors_json(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The table as report.json carries it: {kind: {label, count, errors, error_rate, low, high}}."""
    return {row["kind"]: {"label": row["label"], "count": int(row["count"]), "errors": int(row["errors"]),
                          "error_rate": float(row["error_rate"]), "low": float(row["low"]),
                          "high": float(row["high"])}
            for row in table.to_dict(orient="records")}


def side_by_side(tables: Mapping[str, pd.DataFrame],
                 columns: tuple[str, ...] = ("count", "errors", "error_rate", "low", "high")) -> pd.DataFrame:
    """Several models' kind_errors tables in one frame: rows (kind, label), columns (model, column),
    sorted by the first model's error rate, worst first."""
    if not tables:
        raise ValueError("side_by_side needs at least one kind_errors table")
    frame = pd.concat({name: t.set_index(["kind", "label"])[list(columns)] for name, t in tables.items()}, axis=1)
    first = next(iter(tables))
    return frame.sort_values((first, "error_rate"), ascending=False)


def kind_mcnemar(predictions: Mapping[str, Any], meta: pd.DataFrame | None = None, column: str = "kind",
                 alpha: float = 0.05) -> pd.DataFrame:
    """Two models compared kind by kind on the same images: McNemar's exact test within each
    kind, with Holm's adjustment over all the kinds tested.

    Separate error rates with separate intervals compare two models unpaired; within a kind both
    models answered the same images, and only the images where they disagree tell them apart:
    `only A right` and `only B right`. B's errors minus A's on a kind equal `only A right` minus
    `only B right`; McNemar asks whether that split of the disagreements is more lopsided than a
    fair coin would make it. Some twenty kinds are twenty tests, so a p below `alpha` is read
    from the `Holm p` column. One row per (kind, label), smallest p first. `predictions` maps
    exactly two model names to carcourse.evaluate.Predictions on the same images, in `meta`'s order."""
    from .evaluate import holm_adjust, mcnemar_exact

    if len(predictions) != 2:
        raise ValueError(f"kind_mcnemar compares exactly two models, got {len(predictions)}: {list(predictions)}")
    (a, pa), (b, pb) = predictions.items()
    if not np.array_equal(np.asarray(pa.labels), np.asarray(pb.labels)):
        raise ValueError(f"{a!r} and {b!r} were not scored on the same images (their labels differ)")
    frame = _kind_frame(pa, meta, column).rename(columns={"wrong": "wrong_a"})
    frame["wrong_b"] = _kind_frame(pb, meta, column)["wrong"]
    rows = []
    for (kind, label), group in frame.groupby(["kind", "label"], sort=True):
        wrong_a, wrong_b = group["wrong_a"].to_numpy(bool), group["wrong_b"].to_numpy(bool)
        m = mcnemar_exact(~wrong_a, ~wrong_b)
        rows.append({"kind": kind, "label": label, "count": len(group),
                     f"{a} errors": int(wrong_a.sum()), f"{b} errors": int(wrong_b.sum()),
                     f"only {a} right": m["a_only_correct"], f"only {b} right": m["b_only_correct"],
                     "p": m["p_value"]})
    table = pd.DataFrame(rows)
    holm = holm_adjust(dict(enumerate(table["p"])))
    table["Holm p"] = [holm[i] for i in range(len(table))]
    table[f"differ (Holm p < {alpha:g})"] = table["Holm p"] < alpha
    # ties (most kinds have p = 1) stay in a fixed order: larger kinds first, then by name
    return table.sort_values(["p", "count"], ascending=[True, False], kind="stable").reset_index(drop=True)


def kind_mcnemar_json(table: pd.DataFrame, a: str, b: str) -> dict[str, dict[str, Any]]:
    """kind_mcnemar's table as report.json carries it (`kind_tests`, beside `shift_tests`):
    {kind: {a, b, label, count, a_only_correct, b_only_correct, p_value, holm_p}}."""
    return {row["kind"]: {"a": a, "b": b, "label": row["label"], "count": int(row["count"]),
                          "a_only_correct": int(row[f"only {a} right"]),
                          "b_only_correct": int(row[f"only {b} right"]),
                          "p_value": float(row["p"]), "holm_p": float(row["Holm p"])}
            for row in table.to_dict(orient="records")}


def harder_than_average(table: pd.DataFrame) -> pd.DataFrame:
    """The kinds of a kind_errors table whose whole interval lies above the model's overall
    error rate (errors / images over all kinds): where its errors are shown to concentrate.
    Empty when no kind is clearly harder (few images per kind make wide intervals)."""
    overall = table["errors"].sum() / max(int(table["count"].sum()), 1)
    return table[table["low"] > overall].reset_index(drop=True)


def kind_probe(models: Mapping[str, Any], kinds: tuple[str, ...], n: int = 100, seed: int = 0,
               size: int = 64) -> pd.DataFrame:
    """Each not-car kind in `kinds` rendered alone (n images each, default generator otherwise)
    and every model's error count, rate and Wilson interval on it: one row per (model, kind).
    A probe, not a test split: it asks how a model treats one kind of image."""
    from .data import synthetic_set
    from .evaluate import predict
    from . import synthetic

    rows = []
    for k, kind in enumerate(kinds):
        if kind not in synthetic.NOTCAR_KINDS:
            raise ValueError(f"unknown not-car kind {kind!r}; known: {synthetic.NOTCAR_KINDS}")
        data = synthetic_set(n, 0, seed=int(seed) * 100 + 7000 + k, size=size,
                             options=synthetic.Options(notcar_mix={kind: 1.0}))
        for name, model in models.items():
            t = kind_errors(predict(model, data), data.meta).set_index("kind")
            rows.append({"model": name, "kind": kind, **t.loc[kind, ["count", "errors", "error_rate", "low", "high"]]})
    table = pd.DataFrame(rows)
    return table.astype({"count": int, "errors": int})
