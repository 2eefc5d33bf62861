"""carcourse.progress: where progress goes, and that a finished notebook bar leaves text, not a widget."""
import pytest

from carcourse import progress


def test_mode_follows_the_environment_and_names_a_bad_value(monkeypatch):
    monkeypatch.setenv("CARCOURSE_PROGRESS", "text")
    assert progress.mode() == "text"
    monkeypatch.setenv("CARCOURSE_PROGRESS", "loud")
    with pytest.raises(ValueError, match="CARCOURSE_PROGRESS='loud'"):
        progress.mode()
    monkeypatch.delenv("CARCOURSE_PROGRESS")
    assert progress.mode() == "text"  # no Jupyter kernel in a test process


def test_text_bar_writes_to_stderr_only_with_time_left(monkeypatch, capsys):
    monkeypatch.setenv("CARCOURSE_PROGRESS", "text")
    with progress.bar(total=3, desc="training", unit="step") as bar:
        for _ in range(3):
            bar.update(1)
    out, err = capsys.readouterr()
    assert out == "" and "training" in err and "3/3" in err and "<" in err  # elapsed<remaining


def test_off_shows_nothing_but_a_run_table_still_collects_rows(monkeypatch, capsys):
    monkeypatch.setenv("CARCOURSE_PROGRESS", "off")
    with progress.RunTable(2, desc="sweep") as log:
        log.add({"seed": 0, "accuracy": 0.5})
        log.add({"seed": 1, "accuracy": 0.75})
    assert capsys.readouterr() == ("", "")
    assert log.table["accuracy"].tolist() == [0.5, 0.75]


def test_a_finished_widget_bar_is_replaced_by_one_line_and_its_model_closed(monkeypatch):
    import IPython.display

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def fake_display(obj, display_id=None):
        shown.append(("display", obj))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setenv("CARCOURSE_PROGRESS", "widget")
    bar = progress.bar(total=4, desc="training", unit="step")
    bar.update(4)
    bar.close()
    kinds = [k for k, _ in shown]
    assert kinds == ["display", "update"]
    line = shown[1][1].data
    assert line.startswith("training: 4 steps in 0:0") and "step/s" in line
    assert bar.container.comm is None  # closed: not saved with the notebook's widget state


def test_a_stopped_bar_says_where_it_stopped():
    from tqdm.std import tqdm

    bar = tqdm(total=10, desc="training", unit="step", disable=False, file=open("/dev/null", "w"))
    bar.update(4)
    assert progress.summary(bar).startswith("training: stopped at 4/10 steps after 0:0")
    bar.close()
