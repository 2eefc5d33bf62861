"""Training runs side by side (carcourse.side_by_side): same numbers on every rerun, the same
report as one run at a time, errors and bad settings named."""
import pytest
import torch

from carcourse.compare_run import run_compare
from carcourse.data import Splits
from carcourse.side_by_side import auto_workers, check_workers


@pytest.fixture(scope="module")
def small(quick_splits):
    return Splits(quick_splits.train.subset(64, seed=0), quick_splits.val.subset(32, seed=0),
                  quick_splits.test.subset(48, seed=0), source="small")


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
