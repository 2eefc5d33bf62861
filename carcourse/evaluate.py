"""Evaluation: predictions, the exercise's metrics, and an honest comparison of two models.

ROC AUC and average precision are computed from the car *probability* (a ranking of the test
images), never from hard 0/1 predictions: from hard labels the "AUC" collapses to balanced
accuracy, which is a different, threshold-dependent number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .batches import batched_logits
from .config import pick_device
from .data import ImageSet

POSITIVE_CLASS = "car"


def positive_index(classes: Sequence[str]) -> int:
    """Index of the positive class for the binary metrics (ROC AUC, average precision, car F1):
    "car" when present, else the second class (label 1, as in the exercise). With more than two
    classes a binary metric has no single positive class, and this says so (ValueError)."""
    classes = tuple(classes)
    if len(classes) != 2:
        raise ValueError(f"a binary metric needs two classes with {POSITIVE_CLASS!r} as the positive "
                         f"one; these predictions have {len(classes)} classes {list(classes)}")
    return classes.index(POSITIVE_CLASS) if POSITIVE_CLASS in classes else 1


@dataclass
class Predictions:
    """Model outputs for a data set: logits (N×C), softmax probabilities, argmax decisions and
    the true labels, all on the CPU."""

    logits: torch.Tensor
    probabilities: torch.Tensor
    predicted: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.numel())

    @property
    def correct(self) -> torch.Tensor:
        return self.predicted == self.labels

    @classmethod
    def from_logits(cls, logits: torch.Tensor, labels: torch.Tensor,
                    classes: Sequence[str]) -> "Predictions":
        """Predictions from raw logits: softmax probabilities and argmax decisions (in fp32)."""
        logits = logits.float()
        return cls(logits=logits, probabilities=torch.softmax(logits, dim=1),
                   predicted=logits.argmax(dim=1), labels=labels.clone(), classes=tuple(classes))


@torch.inference_mode()
def predict(model: nn.Module, data: ImageSet, batch_size: int = 512,
            device: str | torch.device | None = None, amp: bool = False) -> Predictions:
    """Run `model` over `data` in eval mode and return its Predictions.

    The decision is `logits.argmax(dim=1)`; the softmax probabilities are returned as well, for
    ROC/PR curves and calibration (softmax keeps the order of the logits, so it never changes
    the argmax). Logits are computed in fp32 unless amp=True."""
    if device is None:
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = pick_device()
    device = torch.device(device)
    model = model.to(device)
    channels_last = next(model.parameters()).is_contiguous(memory_format=torch.channels_last) \
        if any(p.dim() == 4 for p in model.parameters()) else False
    chunks = [logits.float().cpu() for _, logits in
              batched_logits(model, data.images, batch_size, device, amp, channels_last)]
    logits = torch.cat(chunks) if chunks else torch.empty(0, len(data.classes))
    return Predictions.from_logits(logits, data.labels, data.classes)


# ----------------------------------------------------------------------------------------------
# metrics (written out so students can read them; tests check them against scikit-learn)
# ----------------------------------------------------------------------------------------------
def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """C[i, j] = number of images of true class i predicted as j. For two classes with car as
    positive this is [[tn, fp], [fn, tp]]."""
    return np.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def roc_auc(labels: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve = probability that a random positive scores above a random
    negative (ties count one half). `weights` (bootstrap counts) repeat images. NaN if one class
    is absent."""
    labels = np.asarray(labels).astype(bool)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(score, kind="mergesort")
    s, y, w = np.asarray(score)[order], labels[order], w[order]
    pos_w, neg_w = np.where(y, w, 0.0), np.where(y, 0.0, w)
    total_pos, total_neg = pos_w.sum(), neg_w.sum()
    if total_pos == 0 or total_neg == 0:
        return float("nan")
    # group tied scores: negatives strictly below a positive count 1, tied negatives 1/2
    _, start = np.unique(s, return_index=True)
    group = np.searchsorted(start, np.arange(len(s)), side="right") - 1
    neg_in_group = np.bincount(group, weights=neg_w)
    pos_in_group = np.bincount(group, weights=pos_w)
    neg_below = np.concatenate([[0.0], np.cumsum(neg_in_group)[:-1]])
    wins = (pos_in_group * (neg_below + 0.5 * neg_in_group)).sum()
    return float(wins / (total_pos * total_neg))


def threshold_counts(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives when every distinct score, from high to low, is used as the
    threshold ("positive if score >= t"): the points of the ROC and precision-recall curves."""
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-np.asarray(score), kind="mergesort")
    s, y = np.asarray(score)[order], labels[order]
    last_of_tie = np.r_[np.diff(s) != 0, True]
    return np.cumsum(y)[last_of_tie], np.cumsum(~y)[last_of_tie]


def average_precision(labels: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve as the sum of precision × recall increments over
    the distinct score thresholds (high to low), as scikit-learn defines it."""
    labels = np.asarray(labels).astype(bool)
    if labels.sum() == 0:
        return float("nan")
    tp, fp = threshold_counts(labels, score)
    precision = tp / (tp + fp)
    recall = tp / labels.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


@dataclass
class Report:
    """Test-set metrics. With two classes, car is the positive class (positive_index): the
    confusion matrix is [[tn, fp], [fn, tp]] and ROC AUC / average precision rank images by
    P(car). With more classes, ROC AUC and AP are one-vs-rest macro averages."""

    accuracy: float
    balanced_accuracy: float
    roc_auc: float
    average_precision: float
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]
    classes: tuple[str, ...]
    n: int
    predictions: Predictions | None = field(default=None, repr=False, compare=False)

    @property
    def positive_f1(self) -> float:
        """F1 of the positive class (car); a ValueError with more than two classes."""
        return self.per_class[self.classes[positive_index(self.classes)]]["f1"]

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                "roc_auc": self.roc_auc, "average_precision": self.average_precision,
                "per_class": self.per_class, "confusion_matrix": self.confusion_matrix}

    def table(self):
        """Per-class precision/recall/F1/support as a pandas DataFrame, one row per class."""
        import pandas as pd

        df = pd.DataFrame(self.per_class).T[["precision", "recall", "f1", "support"]]
        df["support"] = df["support"].astype(int)
        return df

    def summary(self) -> str:
        pc = self.per_class
        lines = [f"accuracy {self.accuracy:.4f}   balanced accuracy {self.balanced_accuracy:.4f}   "
                 f"ROC AUC {self.roc_auc:.4f}   average precision {self.average_precision:.4f}"]
        for name in self.classes:
            m = pc[name]
            lines.append(f"  {name:>8s}: precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
                         f"F1 {m['f1']:.3f}  support {m['support']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def metrics(labels: np.ndarray, predicted: np.ndarray, scores: np.ndarray,
            classes: Sequence[str]) -> dict[str, Any]:
    """All report metrics from arrays: labels, predicted (hard decisions) and scores
    (N×C probabilities)."""
    k = len(classes)
    cm = confusion_matrix(labels, predicted, k)
    per_class = {}
    recalls = []
    for i, name in enumerate(classes):
        tp = cm[i, i]
        precision = _ratio(tp, cm[:, i].sum())
        recall = _ratio(tp, cm[i, :].sum())
        f1 = _ratio(2 * precision * recall, precision + recall)
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(cm[i, :].sum())}
        if cm[i, :].sum():
            recalls.append(recall)
    if k == 2:
        pos = positive_index(classes)
        auc = roc_auc(labels == pos, scores[:, pos])
        ap = average_precision(labels == pos, scores[:, pos])
    else:
        aucs = [roc_auc(labels == i, scores[:, i]) for i in range(k)]
        aps = [average_precision(labels == i, scores[:, i]) for i in range(k)]
        auc = float(np.nanmean(aucs)) if not all(map(math.isnan, aucs)) else float("nan")
        ap = float(np.nanmean(aps)) if not all(map(math.isnan, aps)) else float("nan")
    return dict(accuracy=_ratio(np.trace(cm), cm.sum()),
                balanced_accuracy=float(np.mean(recalls)) if recalls else 0.0,
                roc_auc=auc, average_precision=ap, per_class=per_class,
                confusion_matrix=cm.tolist())


def report(predictions: Predictions) -> Report:
    """The exercise's metrics for one model's predictions (see Report)."""
    p = predictions
    m = metrics(p.labels.numpy(), p.predicted.numpy(), p.probabilities.double().numpy(), p.classes)
    return Report(**m, classes=p.classes, n=len(p), predictions=p)


# ----------------------------------------------------------------------------------------------
# comparing two models
# ----------------------------------------------------------------------------------------------
def holm_adjust(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of several p-values tested together (family-wise error).

    With m tests at level α, one of them comes out "significant" by chance far more often than α
    (five independent tests at 5 %: 23 % of the time). Holm sorts the p-values, multiplies the
    smallest by m, the next by m − 1, and so on, keeping the sequence non-decreasing; an adjusted
    p below α then holds for the whole family. Returns the adjusted p-values by the same keys."""
    bad = {k: v for k, v in p_values.items() if not 0 <= float(v) <= 1}  # NaN fails this too
    if bad:
        raise ValueError(f"holm_adjust: not p-values: {bad}")
    order = sorted(p_values, key=lambda k: p_values[k])
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(p_values[key])))
        out[key] = running
    return {k: out[k] for k in p_values}


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float]:
    """McNemar's exact test on paired decisions: only the images where the two models disagree
    count. b = A right & B wrong, c = A wrong & B right; under "equally good", b ~ Binomial(b+c, 1/2).
    Returns b, c and the two-sided p-value."""
    a = np.asarray(correct_a, dtype=bool)
    bb = np.asarray(correct_b, dtype=bool)
    b = int(np.sum(a & ~bb))
    c = int(np.sum(~a & bb))
    n = b + c
    if n == 0:
        p = 1.0
    else:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
        p = min(1.0, 2 * tail)
    return {"a_only_correct": b, "b_only_correct": c, "p_value": p}


BOOT_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "car_f1")
BINARY_METRICS = ("roc_auc", "car_f1")  # need one positive class (positive_index)


def boot_metrics(classes: Sequence[str]) -> tuple[str, ...]:
    """The bootstrapped metrics that apply: all of BOOT_METRICS for two classes, without the
    binary ones (ROC AUC of P(car), car F1) for more."""
    return BOOT_METRICS if len(classes) == 2 else tuple(m for m in BOOT_METRICS if m not in BINARY_METRICS)


def _boot_values(p: Predictions, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Metric values on each bootstrap resample (rows of idx)."""
    y = p.labels.numpy()
    yhat = p.predicted.numpy()
    k = len(p.classes)
    binary = k == 2
    pos = positive_index(p.classes) if binary else None
    score = p.probabilities[:, pos].double().numpy() if binary else None
    out = {name: np.empty(len(idx)) for name in boot_metrics(p.classes)}
    for r, rows in enumerate(idx):
        yy, pp = y[rows], yhat[rows]
        cm = confusion_matrix(yy, pp, k)
        support = cm.sum(1)
        out["accuracy"][r] = np.trace(cm) / cm.sum()
        out["balanced_accuracy"][r] = np.mean(np.diag(cm)[support > 0] / support[support > 0])
        if binary:
            tp, fp, fn = cm[pos, pos], cm[:, pos].sum() - cm[pos, pos], cm[pos, :].sum() - cm[pos, pos]
            out["car_f1"][r] = _ratio(2 * tp, 2 * tp + fp + fn)
            out["roc_auc"][r] = roc_auc(y == pos, score, np.bincount(rows, minlength=len(y)))
    return out


@dataclass
class Comparison:
    """Side-by-side metrics of several models on the same test images, McNemar's test for the
    first two, and bootstrap 95 % intervals (per model and for the difference)."""

    names: list[str]
    reports: dict[str, list[Report]]
    mcnemar: dict[str, float] | None
    intervals: dict[str, dict[str, tuple[float, float]]]
    difference: dict[str, dict[str, float]]
    n_boot: int
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)

    def table(self):
        """pandas DataFrame: one column per model, rows = metrics (mean ± sd over seeds when
        there are several runs per model)."""
        import pandas as pd

        rows: dict[str, dict[str, str]] = {}
        for name in self.names:
            reps = self.reports[name]
            col = {}
            for metric, get in _table_metrics(reps[0].classes).items():
                vals = np.array([get(r) for r in reps], dtype=float)
                col[metric] = (f"{vals.mean():.4f}" if len(vals) == 1
                               else f"{vals.mean():.4f} ± {vals.std(ddof=1):.4f}")
            for key, value in self.extra.get(name, {}).items():
                col[key] = value
            rows[name] = col
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"n_boot": self.n_boot, "bootstrap_ci95": {
            name: {m: list(ci) for m, ci in cis.items()} for name, cis in self.intervals.items()},
            "difference": self.difference}
        classes = self.reports[self.names[0]][0].classes
        if len(classes) != 2:  # say so rather than pick a class
            d["binary_metrics"] = (f"not computed: {' and '.join(BINARY_METRICS)} need two classes; "
                                   f"these reports have {len(classes)} {list(classes)}")
        if self.mcnemar is not None:
            d.update(mcnemar_p=self.mcnemar["p_value"], mcnemar_b=self.mcnemar["a_only_correct"],
                     mcnemar_c=self.mcnemar["b_only_correct"])
        seeds = {name: len(reps) for name, reps in self.reports.items()}
        if any(v > 1 for v in seeds.values()):
            d["seeds"] = {name: {m: {"mean": float(np.mean([get(r) for r in reps])),
                                     "sd": _sd([get(r) for r in reps])}
                                 for m, get in _table_metrics(reps[0].classes).items()}
                          for name, reps in self.reports.items()}
        return d

    def verdict(self, alpha: float = 0.05) -> str:
        """What a careful student can say from these numbers (accuracy_verdict)."""
        if self.mcnemar is None or len(self.names) < 2:
            return "only one model: nothing to compare"
        a, b = self.names[:2]
        seeds = {name: [r.accuracy for r in self.reports[name]] for name in (a, b)}
        return accuracy_verdict(a, b, self.difference["accuracy"], self.mcnemar["p_value"], seeds, alpha)


def accuracy_verdict(a: str, b: str, difference: Mapping[str, Any], mcnemar_p: float,
                     seed_accuracies: Mapping[str, Sequence[float]] | None = None, alpha: float = 0.05) -> str:
    """The comparison of models a and b in words, claiming no more than the tests show.

    McNemar's test and the bootstrap interval of the accuracy difference (`difference`:
    {"mean", "ci95"}) judge the first seed's two trained networks on these test images; a
    difference counts only when both reject. They resample test images, not the training, so
    with several seeds per model (`seed_accuracies`) the sentence adds on how many seeds each
    model is ahead and whether the seeds agree on the order."""
    lo, hi = difference["ci95"]
    point = difference["mean"]
    numbers = f"{a} − {b} = {point:+.4f} (95 % CI {lo:+.4f} to {hi:+.4f}), McNemar p = {mcnemar_p:.3g}"
    if seed_accuracies and len(seed_accuracies[a]) != len(seed_accuracies[b]):
        raise ValueError(f"seed k of {a} is compared with seed k of {b}: got {len(seed_accuracies[a])} and "
                         f"{len(seed_accuracies[b])} seeds")
    runs = list(zip(seed_accuracies[a], seed_accuracies[b])) if seed_accuracies else []
    where = "On the first seed's networks" if len(runs) > 1 else "On these test images"
    if mcnemar_p < alpha and not lo <= 0 <= hi:
        lead = a if point > 0 else b
        text = f"{where}, {lead} is more accurate: {numbers}."
    elif mcnemar_p >= alpha and lo <= 0 <= hi:
        text = f"{where}, no significant difference in accuracy: {numbers}."
    else:
        text = f"{where}, a borderline difference in accuracy (McNemar and the bootstrap disagree): {numbers}."
    if len(runs) > 1:
        ahead, behind = sum(x > y for x, y in runs), sum(x < y for x, y in runs)
        level = len(runs) - ahead - behind
        text += (f" Over {len(runs)} seeds {a} is ahead on {ahead} and behind on {behind}"
                 + (f" (level on {level})" if level else "") + ": ")
        if ahead == len(runs) or behind == len(runs):
            p_sign = 2 * 0.5 ** len(runs)
            text += (f"the seeds agree on the order, which chance alone gives {p_sign:.2g} of the time "
                     f"(a two-sided sign test), so more seeds are needed before calling it settled."
                     if p_sign >= alpha else f"the seeds agree on the order (two-sided sign test p = {p_sign:.2g}).")
        elif ahead and behind:
            text += "the seeds do not agree on the order, so which model is better is not settled."
        else:
            text += "no seed puts the other model ahead, but ties leave too few seeds to settle it."
    return text


def _sd(values: Sequence[float]) -> float:
    """Sample standard deviation; 0 for a single run."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _table_metrics(classes: Sequence[str]) -> dict[str, Any]:
    out = {"accuracy": lambda r: r.accuracy, "balanced_accuracy": lambda r: r.balanced_accuracy,
           "roc_auc": lambda r: r.roc_auc, "average_precision": lambda r: r.average_precision}
    for c in classes:
        for m in ("precision", "recall", "f1"):
            out[f"{c}_{m}"] = (lambda r, c=c, m=m: r.per_class[c][m])
    return out


def compare(reports: Mapping[str, Report | Sequence[Report]], n_boot: int = 1000, seed: int = 0,
            extra: Mapping[str, Mapping[str, Any]] | None = None) -> Comparison:
    """Compare models evaluated on the same test images.

    `reports` maps a model name to its Report, or to a list of Reports from several seeds. The
    paired statistics (McNemar's exact test, bootstrap intervals of each metric and of the
    difference first − second) use the first Report of each; the table shows mean ± sd over
    seeds. `extra` adds rows such as parameters or training time."""
    names = list(reports)
    runs = {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in reports.items()}
    firsts = {k: v[0] for k, v in runs.items()}
    for k, r in firsts.items():
        if r.predictions is None:
            raise ValueError(f"report {k!r} carries no predictions: build it with report(predict(...))")
    n = {k: len(r.predictions) for k, r in firsts.items()}
    if len(set(n.values())) > 1 or any(
            not torch.equal(firsts[names[0]].predictions.labels, r.predictions.labels) for r in firsts.values()):
        raise ValueError(f"models were not evaluated on the same test images: sizes {n}")
    rng = np.random.default_rng(seed)
    size = n[names[0]]
    idx = rng.integers(0, size, size=(n_boot, size))
    boots = {k: _boot_values(r.predictions, idx) for k, r in firsts.items()}

    def ci(values: np.ndarray) -> tuple[float, float]:
        v = values[~np.isnan(values)]
        if not len(v):
            return (float("nan"), float("nan"))
        lo, hi = np.percentile(v, [2.5, 97.5])
        return (float(lo), float(hi))

    intervals = {k: {m: ci(values) for m, values in b.items()} for k, b in boots.items()}
    difference: dict[str, dict[str, float]] = {}
    test = None
    if len(names) >= 2:
        a, b = names[:2]
        test = mcnemar_exact(firsts[a].predictions.correct.numpy(), firsts[b].predictions.correct.numpy())
        for m in boot_metrics(firsts[a].classes):
            diff = boots[a][m] - boots[b][m]
            point = _point(firsts[a], m) - _point(firsts[b], m)
            lo, hi = ci(diff)
            difference[m] = {"mean": float(point), "ci95": [lo, hi]}
    return Comparison(names, runs, test, intervals, difference, n_boot,
                      {k: dict(v) for k, v in (extra or {}).items()})


def _point(r: Report, metric: str) -> float:
    if metric == "car_f1":
        return r.positive_f1
    return getattr(r, metric)


@dataclass
class Calibration:
    """Reliability of the predicted class's probability (the model's confidence): in each
    confidence bin, how often the prediction was right. ECE is the mean |accuracy − confidence|
    weighted by the share of images in the bin."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float


def calibration(predictions: Predictions, bins: int = 10) -> Calibration:
    """Bin the images by confidence (max softmax probability) and compare with accuracy."""
    conf = predictions.probabilities.max(1).values.double().numpy()
    right = predictions.correct.numpy()
    k = len(predictions.classes)
    edges = np.linspace(1.0 / k, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=bins) / counts
        acc = np.bincount(which, weights=right.astype(float), minlength=bins) / counts
    used = counts > 0
    ece = float(np.sum(counts[used] / counts.sum() * np.abs(acc[used] - mean_conf[used])))
    return Calibration(edges, mean_conf, acc, counts, ece)
