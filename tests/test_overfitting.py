"""carcourse.overfitting and the lesson-05 explorer, driven without a browser."""
import io
import threading
import time

import pytest
import torch

from carcourse.data import Splits, make_synthetic
from carcourse.overfitting import OverfitSetting, flip_labels, grid, run

SMALL = OverfitSetting(train_size=48, width=4, epochs=3)


@pytest.fixture(scope="module")
def small_data():
    return make_synthetic(n_train=96, n_val=48, n_test_notcar=1, n_test_car=1, seed=3)


def test_flip_labels_changes_exactly_the_requested_fraction(tiny_set):
    noisy, mask = flip_labels(tiny_set, 0.25, seed=1)
    assert int(mask.sum()) == 12
    assert torch.equal(noisy.labels != tiny_set.labels, mask)
    again, mask2 = flip_labels(tiny_set, 0.25, seed=1)
    assert torch.equal(again.labels, noisy.labels) and torch.equal(mask, mask2)
    assert torch.equal(tiny_set.labels, torch.arange(48) % 2)  # the input is not modified


@pytest.mark.parametrize("field,value", [("train_size", 1), ("width", 0), ("label_noise", 1.5),
                                         ("dropout", 1.0), ("epochs", 0), ("lr", -1.0)])
def test_bad_overfit_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        OverfitSetting(**{field: value})


def test_run_reports_best_and_last_epoch_on_validation(small_data):
    r = run(SMALL, small_data)
    h = r.history
    assert h.epochs == 3 and len(h.val_loss) == 3
    assert r.best.n == r.last.n == len(small_data.val)
    table = r.metrics_table()
    assert list(table.columns) == [f"best (epoch {h.best_epoch})", "last (epoch 3)"]
    assert table.loc["val loss"].iloc[1] == pytest.approx(h.val_loss[-1])
    assert r.gap == pytest.approx(r.train_accuracy - r.last.accuracy)


def test_the_gap_measures_training_and_validation_alike_in_eval_mode(small_data):
    """fit's running training accuracy is taken in train mode, where dropout and augmentation
    lower it; the gap uses the final model on its own training subset in eval mode instead."""
    from dataclasses import replace

    from carcourse.evaluate import predict
    from carcourse.history import Callback

    class Keep(Callback):
        def on_train_end(self, history, model):
            self.model = model

    keep = Keep()
    setting = replace(SMALL, dropout=0.5, augment=True)
    r = run(setting, small_data, callbacks=[keep])
    subset = small_data.train.subset(setting.train_size, seed=setting.seed)
    assert r.train_accuracy == pytest.approx(float(predict(keep.model, subset).correct.float().mean()))
    assert r.gap == pytest.approx(r.train_accuracy - r.last.accuracy)


def test_run_refuses_more_images_than_there_are(small_data):
    with pytest.raises(ValueError, match="train_size=500 is more than the 96"):
        run(OverfitSetting(train_size=500), small_data)


def test_grid_has_one_row_per_combination(small_data):
    table, runs = grid(small_data, [16, 48], [4], base=SMALL.__class__(epochs=1, width=4), dropout=[0.0, 0.5])
    assert len(table) == 4 and set(runs) == {(16, 4, 0.0), (48, 4, 0.0), (16, 4, 0.5), (48, 4, 0.5)}
    assert set(table.columns) >= {"train_size", "width", "dropout", "gap", "train_acc", "val_acc"}


# ---- the explorer ---------------------------------------------------------------------------
def _explorer(data, **controls):
    from carcourse.widgets import overfitting_explorer

    ex = overfitting_explorer(data)
    for k, v in {"train_size": 64, "width": 4, "epochs": 3, **controls}.items():
        ex.controls[k].value = v
    return ex


def test_explorer_controls_cover_the_issue(small_data):
    ex = _explorer(small_data)
    assert set(ex.controls) == {"train_size", "width", "epochs", "dropout", "weight_decay", "augment",
                                "label_noise"}
    assert max(ex.controls["train_size"].options) <= len(small_data.train)
    assert ex.setting() == OverfitSetting(train_size=64, width=4, epochs=3)


def test_explorer_train_produces_history_figure_and_metrics(small_data):
    ex = _explorer(small_data, dropout=0.2, augment=True)
    frames = ex.frames
    ex.train(wait=True)
    assert ex.last_error is None, ex.error.value
    run_ = ex.runs[-1]
    h = run_.history
    assert h.epochs == 3 and run_.setting.dropout == 0.2 and run_.setting.augment
    assert ex.frames >= frames + 3  # redrawn at least once per epoch
    ax_loss, ax_acc = ex.figure.axes[:2]
    train_line = [l for l in ax_loss.lines if l.get_label() == "train"][0]
    val_line = [l for l in ax_loss.lines if l.get_label() == "validation"][0]
    assert list(train_line.get_ydata()) == pytest.approx(h.train_loss)
    assert list(val_line.get_ydata()) == pytest.approx(h.val_loss)
    assert ex.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table" in ex.table.value and f"best (epoch {h.best_epoch})" in ex.table.value
    assert "ROC AUC" in ex.table.value and "car precision" in ex.table.value
    assert not any(c.disabled for c in ex.controls.values()) and ex.stop_button.disabled


def test_earlier_runs_stay_as_faint_curves_until_cleared(small_data):
    ex = _explorer(small_data, epochs=1)
    ex.train(wait=True)
    ex.controls["width"].value = 8
    ex.train(wait=True)
    ax_loss = ex.figure.axes[0]
    faint = [l for l in ax_loss.lines if l.get_alpha() is not None and l.get_alpha() < 1]
    assert len(ex.runs) == 2 and len(faint) == 2  # train + validation of the first run
    ex.clear()
    assert ex.runs == [] and not ex.figure.axes[0].lines


def test_controls_are_disabled_while_training_and_stop_keeps_the_history(small_data):
    ex = _explorer(small_data, epochs=200)
    seen_disabled = []
    ex.train()
    deadline = time.monotonic() + 60
    while (ex.history is None or ex.history.epochs < 1) and time.monotonic() < deadline:
        time.sleep(0.02)
    seen_disabled.append(all(c.disabled for c in ex.controls.values()) and ex.train_button.disabled)
    assert ex.running and not ex.stop_button.disabled
    ex.stop()
    ex.wait(60)
    assert not ex.running
    assert seen_disabled == [True]
    h = ex.runs[-1].history
    assert h.interrupted and 1 <= h.epochs < 200
    assert "stopped" in ex.status.value
    assert not ex.train_button.disabled


def test_an_error_in_a_run_shows_in_the_widget(small_data):
    no_val = Splits(small_data.train, None, small_data.test, source="no validation")
    ex = _explorer(no_val)
    ex.train(wait=True)
    assert isinstance(ex.last_error, ValueError)
    assert "validation split" in ex.error.value and "failed" in ex.status.value
    assert not ex.train_button.disabled  # the widget is usable again


def test_explorer_default_data_fits_every_slider_value():
    from carcourse.overfitting import explorer_data
    from carcourse.widgets import OverfittingExplorer

    data = explorer_data()
    assert len(data.train) == 1024 and len(data.val) == 256
    assert max(OverfittingExplorer.SIZES) <= len(data.train)


def test_grid_can_give_every_size_the_same_number_of_steps(small_data):
    from carcourse.overfitting import epochs_for_steps

    assert epochs_for_steps(64, 120) == 60 and epochs_for_steps(192, 120) == 20 and epochs_for_steps(4200, 10) == 1
    table, _ = grid(small_data, [32, 96], [2], base=OverfitSetting(width=2), steps=6)
    assert table.set_index("train_size")["epochs"].to_dict() == {32: 6, 96: 2}


def test_building_the_explorer_trains_nothing_and_displays_its_widget(small_data, monkeypatch):
    import carcourse.overfitting
    import carcourse.train

    def no_training(*args, **kwargs):
        raise AssertionError("the explorer trained while being built")

    monkeypatch.setattr(carcourse.train, "fit", no_training)
    monkeypatch.setattr(carcourse.overfitting, "run", no_training)
    ex = _explorer(small_data)
    assert not ex.warmed_up and ex.runs == [] and ex.frames == 1
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert not hasattr(ex.widget, "explorer")  # nothing patched onto the ipywidgets container


def test_a_train_click_starts_a_run_and_the_button_springs_back(small_data):
    ex = _explorer(small_data, epochs=1)
    ex.train_button.value = True  # what a click on the toggle does (in the browser first)
    ex.wait(120)
    assert ex.warmed_up and len(ex.runs) == 1 and ex.last_error is None
    assert ex.train_button.value is False and not ex.train_button.disabled
    assert "done: 1 epochs" in ex.status.value


def test_explorer_plot_is_sharp_and_shown_at_its_css_size(small_data):
    from PIL import Image

    from carcourse import style

    ex = _explorer(small_data)
    width, height = Image.open(io.BytesIO(ex.plot.value)).size
    css = int(ex.plot.layout.width.rstrip("px"))
    assert css == int(style.WIDTH * style.DPI) and width >= 1.5 * css  # drawn at 1.5x, not stretched
    assert height / 1.5 <= 340  # controls + plot + metrics fit a 900 px screen
    assert ex.figure.legends and not any(ax.get_legend() for ax in ex.figure.axes)  # legend above the data


def test_grid_shows_one_line_per_run_on_stderr_and_nothing_on_stdout(small_data, monkeypatch, capsys):
    monkeypatch.setenv("CARCOURSE_PROGRESS", "text")
    table, _ = grid(small_data, [16, 48], [4], base=OverfitSetting(epochs=1, width=4))
    out, err = capsys.readouterr()
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("grid ")]
    assert [line.split(":")[0] for line in lines] == ["grid 1/2", "grid 2/2"]
    assert "left" in lines[0] and "val_acc" in lines[0]
    assert len(table) == 2


def test_run_many_reuses_a_finished_run_with_the_same_setting(small_data, monkeypatch):
    from carcourse.overfitting import run_many

    monkeypatch.setenv("CARCOURSE_PROGRESS", "off")
    first = run(SMALL, small_data, progress=False)
    runs = run_many({"baseline": SMALL, "wider": OverfitSetting(train_size=48, width=8, epochs=1)},
                    small_data, done={"baseline": first})
    assert runs["baseline"] is first and list(runs) == ["baseline", "wider"]
    assert runs["wider"].setting.width == 8 and runs["wider"].history.epochs == 1
