"""The course figure style as applied by carcourse.plots: integer epoch ticks, legends beside the
data, readable image grids with row labels, page-width small multiples."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from carcourse import plots, style  # noqa: E402
from carcourse.train import History  # noqa: E402


def _history(epochs=5, per_epoch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = History()
    h.iterations_per_epoch = per_epoch
    h.iteration_loss = (torch.rand(epochs * per_epoch, generator=g) + 0.1).tolist()
    h.train_loss = [1 / (e + 1) for e in range(epochs)]
    h.val_loss = [1 / (e + 1) + 0.05 * e for e in range(epochs)]
    h.train_acc = [0.5 + 0.1 * e for e in range(epochs)]
    h.val_acc = [0.5 + 0.05 * e for e in range(epochs)]
    return h


def test_learning_curves_have_integer_ticks_and_the_legend_outside_the_axes():
    fig = plots.learning_curves({"cnn": _history(), "resnet18": _history(seed=1)}, quick=False)
    fig.canvas.draw()
    ax_loss, ax_acc = fig.axes
    for ax in (ax_loss, ax_acc):
        assert all(float(t).is_integer() for t in ax.get_xticks())
        assert ax.get_legend() is None
    assert fig.legends, "the legend sits above the panels"
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "SmallCNN" in texts and "ResNet18" in texts  # words, not code keys
    colours = {l.get_color() for l in ax_acc.lines}
    assert colours == {style.colour("cnn"), style.colour("resnet18")}


def test_epoch_boundaries_are_shaded_bands_not_lines():
    fig = plots.learning_curves(_history(epochs=6), quick=False)
    ax = fig.axes[0]
    assert not [l for l in ax.lines if len(set(l.get_xdata())) == 1]  # no vertical rules
    assert len(ax.patches) == 3  # epochs 2, 4, 6 shaded


def test_decision_grid_labels_its_rows_and_titles_are_readable(quick_splits):
    from carcourse.evaluate import Predictions

    test = quick_splits.test
    n = len(test)
    logits = torch.zeros(n, 2)
    logits[:, 1] = torch.linspace(-3, 3, n)
    p = Predictions(logits=logits, probabilities=torch.softmax(logits, 1), predicted=logits.argmax(1),
                    labels=test.labels, classes=test.classes)
    right = p.correct.nonzero().squeeze(1)[:8].tolist()
    wrong = (~p.correct).nonzero().squeeze(1)[:8].tolist()
    fig = plots.decision_grid(test, p, right, wrong, quick=True)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert "right" in texts and "wrong" in texts and any("quick mode" in t for t in texts)
    titles = [ax.title for ax in fig.axes if ax.get_title()]
    assert len(titles) == len(right) + len(wrong)
    assert min(t.get_fontsize() for t in titles) >= 8
    assert fig.get_figwidth() <= style.WIDTH + 0.01
    fig.canvas.draw()  # titles of the second row stay below the first row's images
    renderer = fig.canvas.get_renderer()
    first_row_bottom = min(ax.get_window_extent().y0 for ax in fig.axes[:8])
    second_row_title_top = max(ax.title.get_window_extent(renderer).y1 for ax in fig.axes[8:16] if ax.get_title())
    assert second_row_title_top < first_row_bottom


def test_run_panels_fit_the_page_width():
    fig = plots.run_panels({f"run {i}": _history(seed=i) for i in range(5)}, quick=False)
    assert fig.get_figwidth() == pytest.approx(style.WIDTH) and fig.get_figheight() < 7
    assert len([ax for ax in fig.axes if ax.get_visible() and ax.lines]) == 5


def test_colours_never_repeat_within_a_figure():
    colours = style.colours_for(["cnn", "cnn2", "mse", "l2", "x"])
    assert len(set(colours.values())) == 5
