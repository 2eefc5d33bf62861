"""run_compare returns a CompareResult: values with a report.json view, not a dict of dicts."""
import json

import pytest

from carcourse.compare_run import CompareResult, run_compare
from carcourse.data import Splits

REPORT_KEYS = {"device", "dataset", "models", "comparison", "run", "shifts"}
MODEL_KEYS = {"accuracy", "balanced_accuracy", "roc_auc", "average_precision", "per_class",
              "confusion_matrix", "epochs", "train_seconds", "images_per_second", "parameters",
              "best_epoch", "seeds", "roc_auc_from_hard_labels", "per_seed", "options"}


@pytest.fixture(scope="module")
def result(quick_splits):
    small = Splits(quick_splits.train.subset(64, seed=0), quick_splits.val.subset(32, seed=0),
                   quick_splits.test.subset(48, seed=0), source="small")
    return run_compare(data=small, epochs=1, seeds=2, quick=True, progress=False,
                       models=("cnn",), model_options={"cnn": {"width": 4}})


def test_run_compare_returns_values_whose_json_is_the_report_document(result):
    assert isinstance(result, CompareResult)
    doc = result.to_json()
    assert set(doc) == REPORT_KEYS and MODEL_KEYS <= set(doc["models"]["cnn"])
    assert json.loads(json.dumps(doc)) == doc  # plain JSON, no NaN
    assert doc["models"]["cnn"]["accuracy"] == result.reports["cnn"].accuracy
    assert doc["run"]["quick"] is True and doc["run"]["seeds"] == 2


def test_the_report_names_the_recipe_every_run_trained_with_jitter_strengths_included(result):
    from carcourse.config import TrainConfig

    recipe = result.to_json()["run"]["recipe"]
    assert recipe == TrainConfig(epochs=1, seed=0, device=result.to_json()["device"], progress=False).to_dict()
    assert recipe["photometric"] == TrainConfig().to_dict()["photometric"]  # the strengths, not just "True"


def test_per_seed_table_has_a_row_per_training_run(result):
    table = result.per_seed()
    assert list(table.index) == [("cnn", 0), ("cnn", 1)]
    assert len(result.all_reports["cnn"]) == 2
    assert table.loc[("cnn", 1), "accuracy"] == result.all_reports["cnn"][1].accuracy


def test_old_dict_keys_still_read_for_notebooks_written_against_them(result):
    assert result["json"] is result.to_json() and result["reports"] is result.reports
    assert result["verdict"] == result.verdict
    with pytest.raises(KeyError):
        result["nope"]
