"""Figures for the notebooks and the `compare` command, all in the course style
(`carcourse.style`). Each function returns its Figure; quick-mode figures say so in a corner."""
from __future__ import annotations

import functools
import textwrap
from typing import Mapping, Sequence

import numpy as np
import torch

from . import style
from .data import ImageSet
from .evaluate import Predictions, Report, threshold_counts
from .train import History


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _styled(draw):
    """Draw inside the course style; `quick` (default: carcourse.quick_mode()) marks the figure."""
    @functools.wraps(draw)
    def wrapper(*args, quick: bool | None = None, **kwargs):
        from .config import quick_mode

        with style.context():
            fig = draw(*args, **kwargs)
            style.quick_note(fig, quick_mode() if quick is None else quick)
        return fig

    return wrapper


# -- training curves ---------------------------------------------------------------------------
@_styled
def learning_curves(history: History | Mapping[str, History], title: str | None = None):
    """Left: training loss per iteration (faint), its epoch means (dots) and the validation loss
    (dashed) on an iteration axis, every second epoch shaded. Right: accuracy per epoch. Several
    histories (a dict name → History) share the axes, one colour each; the legend sits above."""
    from matplotlib.lines import Line2D

    plt = _plt()
    runs = history if isinstance(history, Mapping) else {"": history}
    colours = style.colours_for(list(runs))
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(style.WIDTH, style.PANEL_HEIGHT + 0.3),
                                          gridspec_kw={"width_ratios": [3, 2]})
    longest = max((h.epochs for h in runs.values()), default=0)
    ms = 3.5 if longest <= 20 else 0  # markers only where they can be told apart
    for name, h in runs.items():
        c = colours[name]
        steps = np.arange(1, len(h.iteration_loss) + 1)
        ax_loss.plot(steps, h.iteration_loss, color=c, alpha=0.3, lw=0.8)
        ends = np.arange(1, h.epochs + 1) * h.iterations_per_epoch
        ax_loss.plot(ends, h.train_loss, "o-", color=c, ms=ms)
        if h.val_loss:
            ax_loss.plot(ends[:len(h.val_loss)], h.val_loss, "s--", color=c, ms=ms)
        epochs = np.arange(1, h.epochs + 1)
        ax_acc.plot(epochs, h.train_acc, "o-", color=c, ms=ms)
        if h.val_acc:
            ax_acc.plot(epochs[:len(h.val_acc)], h.val_acc, "s--", color=c, ms=ms)
    per_epoch = {h.iterations_per_epoch for h in runs.values()}
    if len(per_epoch) == 1 and 1 < longest <= 20:
        style.epoch_bands(ax_loss, per_epoch.pop(), longest)
        xlabel = "iteration (optimizer step); shading = every second epoch"
    else:
        xlabel = "iteration (optimizer step)"
    ax_loss.set(xlabel=xlabel, ylabel="loss (log scale)", yscale="log", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    style.integer_ticks(ax_loss)
    style.integer_ticks(ax_acc)
    grey = "#555555"
    handles = [Line2D([], [], color=grey, alpha=0.4, lw=0.8, label="train, per iteration"),
               Line2D([], [], color=grey, marker="o", ms=ms, label="train, epoch mean"),
               Line2D([], [], color=grey, ls="--", marker="s", ms=ms, label="validation")]
    if len(runs) > 1 or "" not in runs:
        handles += [Line2D([], [], color=colours[n], lw=3, label=style.label(n)) for n in runs]
    fig.tight_layout()  # before the legend and title, which sit above the panels
    ncol = 3 if len(handles) > 4 else len(handles)
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol)
    if title:
        fig.suptitle(title, y=1.0 + 0.075 * -(-len(handles) // ncol), va="bottom")
    return fig


@_styled
def run_panels(histories: Mapping[str, History], cols: int = 3, metric: str = "loss"):
    """Small multiples, one panel per run (e.g. lesson 05's causes of overfitting): training
    and validation `metric` ("loss" or "acc") per epoch with the gap shaded; shared y axis."""
    if metric not in ("loss", "acc"):
        raise ValueError(f"metric must be 'loss' or 'acc', got {metric!r}")
    plt = _plt()
    n = len(histories)
    if n == 0:
        raise ValueError("run_panels needs at least one history")
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(style.WIDTH, 2.5 * rows + 0.4), sharey=True, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, h) in zip(axes.flat, histories.items()):
        train, val = (h.train_loss, h.val_loss) if metric == "loss" else (h.train_acc, h.val_acc)
        e = np.arange(1, h.epochs + 1)
        ax.plot(e, train, color=style.TRAIN, label="train")
        if val:
            k = len(val)
            ax.plot(e[:k], val, color=style.VALIDATION, ls="--", label="validation")
            ax.fill_between(e[:k], train[:k], val, color=style.GAP, alpha=0.12, lw=0, label="gap")
        ax.set_title(textwrap.fill(name, width=int(36 * 3 / cols)), fontsize=10)
        style.integer_ticks(ax, nbins=5)
    for i, ax in enumerate(axes.flat[:n]):
        if i + cols >= n:  # nothing below it
            ax.set_xlabel("epoch")
    for row in axes:
        row[0].set_ylabel("loss" if metric == "loss" else "accuracy")
    style.legend_outside(fig, *axes[0, 0].get_legend_handles_labels())
    fig.tight_layout()
    return fig


@_styled
def gap_heatmaps(table, sizes: Sequence[int], widths: Sequence[int], by: str | None = "dropout",
                 value: str = "gap"):
    """Lesson 05's grid: `value` (train − validation accuracy) over training-set size × width,
    one panel per value of column `by`, numbers written in the cells."""
    plt = _plt()
    groups = sorted(table[by].unique()) if by else [None]
    fig, axes = plt.subplots(1, len(groups), figsize=(style.WIDTH, 0.55 * len(sizes) + 1.6), squeeze=False)
    top = max(0.3, float(table[value].max()))
    for ax, g in zip(axes[0], groups):
        part = table if g is None else table[table[by] == g]
        pivot = part.pivot(index="train_size", columns="width", values=value).reindex(index=sizes, columns=widths)
        im = ax.imshow(pivot.values, cmap="Reds", vmin=0, vmax=top, origin="lower", aspect="auto")
        ax.set(xticks=range(len(widths)), xticklabels=widths, yticks=range(len(sizes)), yticklabels=sizes,
               xlabel="width (capacity)", title=f"{by} {g}" if by else "")
        ax.grid(False)
        for i in range(len(sizes)):
            for j in range(len(widths)):
                v = pivot.values[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9,
                            color="white" if v > 0.6 * top else "black")
    axes[0, 0].set_ylabel("training images")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.9, label="train − validation accuracy" if value == "gap" else value)
    return fig


# -- the losses of lesson 04 -------------------------------------------------------------------
def draw_margin_losses(axes, margin: float | None = None, m_min: float = -10.0, m_max: float = 10.0) -> None:
    """Cross-entropy and L2 against the margin (left) and their push (right) on two Axes, in
    the course's loss colours; with `margin`, the point on each curve is marked. The loss-shapes
    widget and the static figure both draw with this."""
    from .losses import margin_curves, margin_losses

    curves = margin_curves(m_min, m_max)
    point = margin_losses(margin) if margin is not None else None
    ax_loss, ax_push = axes
    for key in ("cross_entropy", "mse"):
        c = style.colour(key)
        ax_loss.plot(curves["margin"], curves[key], color=c, label=style.label(key))
        ax_push.plot(curves["margin"], curves[f"{key}_push"], color=c, label=style.label(key))
        if point is not None:
            ax_loss.plot([point.margin], [getattr(point, key)], "o", color=c)
            ax_push.plot([point.margin], [getattr(point, f"{key}_push")], "o", color=c)
    for ax in (ax_loss, ax_push):
        ax.axvspan(m_min, 0, color=style.WRONG, alpha=0.06, lw=0)
        ax.set_xlabel("margin z_true − z_other (negative = wrong)")
        if point is not None:
            ax.axvline(point.margin, color="#888888", ls=":", lw=1)
    ax_loss.set(ylabel="loss", ylim=(0, 6), title="loss")
    ax_push.set(ylabel="−dL/dm", title="push towards the true class")


@_styled
def margin_losses(margin: float | None = None):
    """Lesson 04's static figure of both losses and their push (see draw_margin_losses)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(style.WIDTH, style.PANEL_HEIGHT))
    draw_margin_losses(axes, margin)
    style.legend_outside(fig)
    fig.tight_layout()
    return fig


# -- evaluation --------------------------------------------------------------------------------
@_styled
def confusion_matrices(reports: Mapping[str, Report]):
    """Confusion-matrix heatmaps (rows = true class, columns = predicted), one per model."""
    import seaborn as sns

    plt = _plt()
    n = len(reports)
    fig, axes = plt.subplots(1, n, figsize=(min(style.WIDTH, 3.6 * n), 3.2), squeeze=False)
    for ax, (name, r) in zip(axes[0], reports.items()):
        cm = np.array(r.confusion_matrix)
        sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 11},
                    xticklabels=r.classes, yticklabels=r.classes)
        ax.set(title=f"{style.label(name)}: accuracy {r.accuracy:.3f}", xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig


def _roc_points(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp, fp = threshold_counts(labels, score)
    positives = max(int(np.sum(labels)), 1)
    return np.r_[0, fp / max(len(labels) - positives, 1)], np.r_[0, tp / positives]


def _pr_points(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp, fp = threshold_counts(labels, score)
    return tp / max(int(np.sum(labels)), 1), tp / (tp + fp)


@_styled
def roc_pr(reports: Mapping[str, Report]):
    """ROC and precision-recall curves from the car probability, one colour per model; the dot
    on each curve is the argmax decision (threshold 0.5)."""
    plt = _plt()
    colours = style.colours_for(list(reports))
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(style.WIDTH, 3.8))
    base = None
    for name, r in reports.items():
        c = colours[name]
        p = r.predictions
        y = (p.labels == len(p.classes) - 1).numpy()
        s = p.probabilities[:, -1].double().numpy()
        base = float(np.mean(y))
        fpr, tpr = _roc_points(y, s)
        ax_roc.plot(fpr, tpr, color=c, label=f"{style.label(name)} (AUC {r.roc_auc:.3f})")
        rec, prec = _pr_points(y, s)
        ax_pr.plot(rec, prec, color=c, label=f"{style.label(name)} (AP {r.average_precision:.3f})")
        cm = np.array(r.confusion_matrix)
        tn, fp, fn, tp = cm[0, 0], cm[0, 1], cm[1, 0], cm[1, 1]
        ax_roc.plot(fp / max(tn + fp, 1), tp / max(tp + fn, 1), "o", color=c)
        ax_pr.plot(tp / max(tp + fn, 1), tp / max(tp + fp, 1), "o", color=c)
    ax_roc.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax_roc.set(xlabel="false positive rate (1 − not-car recall)", ylabel="true positive rate (car recall)",
               title="ROC from P(car)")
    if base is not None:
        ax_pr.axhline(base, ls=":", color="grey", label=f"chance ({base:.2f})")
    ax_pr.set(xlabel="car recall", ylabel="car precision", title="precision-recall from P(car)")
    ax_roc.legend(loc="lower right")
    ax_pr.legend(loc="lower left")
    fig.tight_layout()
    return fig


@_styled
def reliability_diagram(cal, title: str = ""):
    """Accuracy against confidence per bin (bars) with the diagonal of perfect calibration, and
    how many images fall in each bin."""
    plt = _plt()
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centres = (cal.edges[:-1] + cal.edges[1:]) / 2
    width = cal.edges[1] - cal.edges[0]
    used = cal.counts > 0
    ax.bar(centres[used], cal.accuracy[used], width=width * 0.9, alpha=0.7, color=style.TRAIN,
           label="accuracy in bin")
    ax.plot(cal.confidence[used], cal.confidence[used], "k.", label="mean confidence in bin")
    ax.plot([cal.edges[0], 1], [cal.edges[0], 1], "k:", label="perfect calibration")
    ax.set(ylabel="accuracy", title=title or f"reliability diagram (ECE {cal.ece:.3f})", ylim=(0, 1.02))
    ax.legend(loc="upper left")
    ax_n.bar(centres, cal.counts, width=width * 0.9, color="grey")
    ax_n.set(xlabel="confidence = max softmax probability", ylabel="images", yscale="log")
    fig.tight_layout()
    return fig


# -- image grids -------------------------------------------------------------------------------
def _patch(ax, data: ImageSet, i: int) -> None:
    ax.imshow(data.images[i].permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _decision_title(data: ImageSet, i: int, predictions: Predictions | None) -> tuple[str, str]:
    true = data.classes[int(data.labels[i])]
    if predictions is None:
        return true, "black"
    pred = int(predictions.predicted[i])
    ok = pred == int(data.labels[i])
    return (f"{true} → {data.classes[pred]}\nP(car) {float(predictions.probabilities[i, -1]):.2f}",
            style.RIGHT if ok else style.WRONG)


def _grid_axes(rows: int, cols: int, with_predictions: bool, row_labels: bool):
    plt = _plt()
    cell = min(style.IMAGE_CELL, (style.WIDTH - (0.5 if row_labels else 0)) / cols)
    title_h = 0.4 if with_predictions else 0.05
    margin = 0.5 if row_labels else 0.0
    width, height = cell * cols + margin, (cell + title_h) * rows
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=margin / width, right=1.0, top=1 - title_h / height, bottom=0.0,
                        wspace=0.12, hspace=title_h / cell)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


@_styled
def sample_grid(data: ImageSet, index: Sequence[int] | torch.Tensor | None = None,
                predictions: Predictions | None = None, n: int = 24, cols: int = 8, seed: int = 0,
                title: str | None = None):
    """A grid of patches titled with the true class, and with predictions 'true → predicted'
    and P(car); correct decisions titled in green, wrong ones in red."""
    if index is None:
        g = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(data), generator=g)[:n]
    index = [int(i) for i in index]
    rows = max(1, -(-len(index) // cols))
    fig, axes = _grid_axes(rows, cols, predictions is not None, row_labels=False)
    for ax, i in zip(axes.flat, index):
        _patch(ax, data, i)
        text, colour = _decision_title(data, i, predictions)
        ax.set_title(text, fontsize=8.5, color=colour, pad=3)
    if title:
        fig.suptitle(title, y=1.0, va="bottom")
    return fig


@_styled
def decision_grid(data: ImageSet, predictions: Predictions, right: Sequence[int], wrong: Sequence[int],
                  cols: int = 8, title: str | None = None):
    """Two labelled rows: images the model decided right, then images it decided wrong, each
    titled 'true → predicted' and P(car) (lesson 02's look at the decisions)."""
    right, wrong = [int(i) for i in right][:cols], [int(i) for i in wrong][:cols]
    fig, axes = _grid_axes(2, cols, True, row_labels=True)
    for row, picks, name in ((0, right, "right"), (1, wrong, "wrong")):
        for ax, i in zip(axes[row], picks):
            _patch(ax, data, i)
            text, colour = _decision_title(data, i, predictions)
            ax.set_title(text, fontsize=8.5, color=colour, pad=3)
        if not picks:
            axes[row, 0].text(0.0, 0.5, f"no {name} decisions", transform=axes[row, 0].transAxes)
    style.titled_rows(axes, ["right", "wrong"], {"right": style.RIGHT, "wrong": style.WRONG})
    for row in axes:  # the row label needs its Axes visible (without frame or ticks)
        row[0].axis("on")
        row[0].set_xticks([])
        row[0].set_yticks([])
        for spine in row[0].spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title, y=1.0, va="bottom")
    return fig


@_styled
def class_grid(data: ImageSet, per_class: int = 8, seed: int = 0):
    """One row of random patches per class, labelled at the left, for a first look at a data set."""
    g = torch.Generator().manual_seed(seed)
    k = len(data.classes)
    fig, axes = _grid_axes(k, per_class, False, row_labels=True)
    for c, name in enumerate(data.classes):
        members = (data.labels == c).nonzero().squeeze(1)
        pick = members[torch.randperm(len(members), generator=g)[:per_class]]
        for j in range(min(per_class, len(pick))):
            _patch(axes[c, j], data, int(pick[j]))
        axes[c, 0].axis("on")
    style.titled_rows(axes, list(data.classes))
    return fig
