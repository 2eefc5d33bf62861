"""Training runs side by side (carcourse.side_by_side): same numbers on every rerun, the same
report as one run at a time, errors and bad settings named."""
import pytest
import torch

from carcourse.compare_run import run_compare
from carcourse.data import Splits
from carcourse.side_by_side import auto_workers, check_workers


@pytest.fixture(scope="module")
def small(quick_splits):
    """A few quick synthetic images, still marked synthetic so that compare scores the shifted sets."""
    return Splits(quick_splits.train.subset(64, seed=0), quick_splits.val.subset(32, seed=0),
                  quick_splits.test.subset(48, seed=0), source=quick_splits.source)


def _compare(small, workers, **options):
    return run_compare(data=small, epochs=2, seeds=2, quick=True, progress=False, workers=workers,
                       models=("cnn",), model_options={"cnn": {"width": 4, **options}})


def test_side_by_side_runs_give_the_same_numbers_on_every_rerun_and_the_same_report(small):
    first, again, alone = _compare(small, 2), _compare(small, 2), _compare(small, 1)
    per_seed = lambda r: [(s["seed"], s["accuracy"], s["roc_auc"], s["best_epoch"])  # noqa: E731
                          for s in r.to_json()["models"]["cnn"]["per_seed"]]
    assert per_seed(first) == per_seed(again)
    assert [s[0] for s in per_seed(first)] == [0, 1] == [s[0] for s in per_seed(alone)]
    assert set(first.to_json()["models"]["cnn"]) == set(alone.to_json()["models"]["cnn"])
    assert first.histories["cnn"].epochs == 2 and len(first.all_reports["cnn"]) == 2
    # the model handed back is the trained one: its predictions are the report's
    from carcourse.evaluate import predict

    assert torch.equal(predict(first.models["cnn"], small.test).predicted,
                       first.reports["cnn"].predictions.predicted)
    # the kept model scored the shifted test sets in a worker: the report's rows are what it scores here
    # (one thread there, two here: equal to the last digits)
    from carcourse.shifts import evaluate_shifts, robustness_sets

    shifted, here = first.to_json()["models"]["cnn"]["shifts"], evaluate_shifts(first.models, robustness_sets(small))["cnn"]
    assert set(shifted) == set(here) == set(alone.to_json()["models"]["cnn"]["shifts"]) and len(shifted) >= 5
    for shift, row in shifted.items():
        assert row["n"] == 48 and row["accuracy"] == here[shift]["accuracy"], shift
        assert row["roc_auc"] == pytest.approx(here[shift]["roc_auc"], abs=1e-6), shift


def test_extra_sets_are_predicted_only_for_the_runs_asked_and_match_the_returned_model(small):
    from carcourse.evaluate import predict
    from carcourse.side_by_side import RunSpec, train_side_by_side

    specs = [RunSpec("cnn", seed, 1, "cpu", 2, {"width": 4}) for seed in (0, 1)]
    extra_sets = {"val": small.val, "test again": small.test}
    finished = []
    outputs = train_side_by_side(specs, small, workers=2, extra_sets=extra_sets,
                                 predict_extra=lambda spec: spec.seed == 0, on_done=finished.append)
    assert [o.spec.seed for o in outputs] == [0, 1] and sorted(o.spec.seed for o in finished) == [0, 1]
    assert set(outputs[0].extra) == {"val", "test again"} and outputs[1].extra == {}
    model = outputs[0].model()
    for name, data in extra_sets.items():
        assert torch.allclose(outputs[0].extra[name], predict(model, data).logits, atol=1e-5)
    assert torch.allclose(outputs[0].extra["test again"], outputs[0].logits, atol=1e-5)


def test_an_error_in_a_worker_is_raised_here_with_its_message(small):
    with pytest.raises(ValueError, match="width must be >= 1, got 0"):
        _compare(small, 2, width=0)


def test_workers_are_chosen_for_the_device_and_checked():
    assert auto_workers("cpu", runs=6, cores=2) == 2
    assert auto_workers("cpu", runs=6, cores=1) == 1
    assert auto_workers("cpu", runs=1, cores=8) == 1
    assert auto_workers("cuda", runs=6, cores=16) == 1
    assert check_workers(None) is None and check_workers("auto") is None and check_workers(3) == 3
    for bad in (0, -1, 1.5, True, "two"):
        with pytest.raises(ValueError, match="workers must be an integer >= 1"):
            check_workers(bad)


def test_cli_workers_that_are_not_a_number_exit_2_naming_the_option(capsys):
    from carcourse.cli import main

    assert main(["compare", "--quick", "--no-progress", "--workers", "x"]) == 2
    assert "--workers must be a whole number or 'auto', got 'x'" in capsys.readouterr().err
