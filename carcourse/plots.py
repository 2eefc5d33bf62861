"""Figures for the notebooks and the `compare` command. Each function returns its Figure."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from .data import ImageSet
from .evaluate import Predictions, Report, threshold_counts
from .train import History


def _plt():
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: History | Mapping[str, History], title: str | None = None):
    """Per-iteration training loss with epoch boundaries, per-epoch train/validation loss, and
    accuracy. Several histories (a dict name → History) share the axes."""
    plt = _plt()
    runs = history if isinstance(history, Mapping) else {"": history}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (name, h) in enumerate(runs.items()):
        colour = f"C{i}"
        label = f"{name} " if name else ""
        steps = np.arange(1, len(h.iteration_loss) + 1)
        axes[0].plot(steps, h.iteration_loss, color=colour, alpha=0.25, lw=0.8,
                     label=f"{label}train loss per iteration")
        ends = np.arange(1, h.epochs + 1) * h.iterations_per_epoch
        axes[0].plot(ends, h.train_loss, "o-", color=colour, label=f"{label}train loss (epoch mean)")
        if h.val_loss:
            axes[0].plot(ends, h.val_loss, "s--", color=colour, label=f"{label}validation loss")
        epochs = np.arange(1, h.epochs + 1)
        axes[1].plot(epochs, h.train_acc, "o-", color=colour, label=f"{label}train")
        if h.val_acc:
            axes[1].plot(epochs, h.val_acc, "s--", color=colour, label=f"{label}validation")
        if i == 0:
            for e in ends[:-1]:
                axes[0].axvline(e, color="grey", lw=0.5, alpha=0.5)
    axes[0].set(xlabel="iteration (optimizer step); grey lines = epoch boundaries", ylabel="loss",
                yscale="log")
    axes[1].set(xlabel="epoch", ylabel="accuracy")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrices(reports: Mapping[str, Report]):
    """Confusion-matrix heatmaps (rows = true class, columns = predicted), one per model."""
    import seaborn as sns

    plt = _plt()
    fig, axes = plt.subplots(1, len(reports), figsize=(4.2 * len(reports), 3.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], reports.items()):
        cm = np.array(r.confusion_matrix)
        sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                    xticklabels=r.classes, yticklabels=r.classes)
        ax.set(title=f"{name}: accuracy {r.accuracy:.3f}", xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig


def _roc_points(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp, fp = threshold_counts(labels, score)
    positives = max(int(np.sum(labels)), 1)
    return np.r_[0, fp / max(len(labels) - positives, 1)], np.r_[0, tp / positives]


def _pr_points(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp, fp = threshold_counts(labels, score)
    return tp / max(int(np.sum(labels)), 1), tp / (tp + fp)


def roc_pr(reports: Mapping[str, Report]):
    """ROC and precision-recall curves from the car probability, one line per model; the dot on
    each curve is the argmax decision (threshold 0.5)."""
    plt = _plt()
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (name, r) in enumerate(reports.items()):
        p = r.predictions
        y = (p.labels == len(p.classes) - 1).numpy()
        s = p.probabilities[:, -1].double().numpy()
        fpr, tpr = _roc_points(y, s)
        ax_roc.plot(fpr, tpr, color=f"C{i}", label=f"{name} (AUC {r.roc_auc:.3f})")
        rec, prec = _pr_points(y, s)
        ax_pr.plot(rec, prec, color=f"C{i}", label=f"{name} (AP {r.average_precision:.3f})")
        cm = np.array(r.confusion_matrix)
        tn, fp, fn, tp = cm[0, 0], cm[0, 1], cm[1, 0], cm[1, 1]
        ax_roc.plot(fp / max(tn + fp, 1), tp / max(tp + fn, 1), "o", color=f"C{i}")
        ax_pr.plot(tp / max(tp + fn, 1), tp / max(tp + fp, 1), "o", color=f"C{i}")
    ax_roc.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax_roc.set(xlabel="false positive rate (1 − not-car recall)", ylabel="true positive rate (car recall)",
               title="ROC from P(car)")
    base = float(np.mean(y)) if reports else 0
    ax_pr.axhline(base, ls=":", color="grey", label=f"chance ({base:.2f})")
    ax_pr.set(xlabel="car recall", ylabel="car precision", title="precision-recall from P(car)")
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower left" if ax is ax_pr else "lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def sample_grid(data: ImageSet, index: Sequence[int] | torch.Tensor | None = None,
                predictions: Predictions | None = None, n: int = 24, cols: int = 8, seed: int = 0,
                title: str | None = None):
    """A grid of patches titled with the true class, and with predictions the predicted class
    and P(car); wrong predictions are titled in red."""
    plt = _plt()
    if index is None:
        g = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(data), generator=g)[:n]
    index = [int(i) for i in index]
    rows = max(1, -(-len(index) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, index):
        ax.imshow(data.images[i].permute(1, 2, 0).numpy())
        text = data.classes[int(data.labels[i])]
        colour = "black"
        if predictions is not None:
            pred = int(predictions.predicted[i])
            text += f"\n→{data.classes[pred]} p(car)={float(predictions.probabilities[i, -1]):.2f}"
            colour = "black" if pred == int(data.labels[i]) else "red"
        ax.set_title(text, fontsize=7, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def class_grid(data: ImageSet, per_class: int = 8, seed: int = 0):
    """One row of random patches per class, for a first look at a data set."""
    plt = _plt()
    g = torch.Generator().manual_seed(seed)
    k = len(data.classes)
    fig, axes = plt.subplots(k, per_class, figsize=(1.3 * per_class, 1.45 * k), squeeze=False)
    for c, name in enumerate(data.classes):
        members = (data.labels == c).nonzero().squeeze(1)
        pick = members[torch.randperm(len(members), generator=g)[:per_class]]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(pick):
                ax.imshow(data.images[pick[j]].permute(1, 2, 0).numpy())
        axes[c, 0].set_title(name, fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def reliability_diagram(cal, title: str = ""):
    """Accuracy against confidence per bin (bars) with the diagonal of perfect calibration, and
    how many images fall in each bin."""
    plt = _plt()
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centres = (cal.edges[:-1] + cal.edges[1:]) / 2
    width = cal.edges[1] - cal.edges[0]
    used = cal.counts > 0
    ax.bar(centres[used], cal.accuracy[used], width=width * 0.9, alpha=0.7, label="accuracy in bin")
    ax.plot(cal.confidence[used], cal.confidence[used], "k.", label="mean confidence in bin")
    ax.plot([cal.edges[0], 1], [cal.edges[0], 1], "k:", label="perfect calibration")
    ax.set(ylabel="accuracy", title=title or f"reliability diagram (ECE {cal.ece:.3f})", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    ax_n.bar(centres, cal.counts, width=width * 0.9, color="grey")
    ax_n.set(xlabel="confidence = max softmax probability", ylabel="images", yscale="log")
    fig.tight_layout()
    return fig
