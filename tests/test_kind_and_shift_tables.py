"""The small tables notebook 06 shows: kinds side by side, kinds harder than average, the
one-kind probe, the robustness table, paired tests on shifted sets, threshold-vs-ranking."""
import numpy as np
import pandas as pd
import pytest
import torch

from carcourse.data import synthetic_set
from carcourse.evaluate import Predictions, mcnemar_exact, predict
from carcourse.kinds import harder_than_average, kind_errors, kind_mcnemar, kind_probe, side_by_side
from carcourse.shifts import predict_shifts, robustness_table, shift_mcnemar, threshold_failures


class Brightness(torch.nn.Module):
    """A 'model' that calls bright patches car (sign flips it): deterministic, no training."""

    def __init__(self, sign=1.0):
        super().__init__()
        self.sign = sign

    def forward(self, x):
        score = self.sign * (x.float().mean(dim=(1, 2, 3)) - 0.45) * 20
        return torch.stack([-score, score], dim=1)


@pytest.fixture(scope="module")
def data():
    return synthetic_set(150, 60, seed=3)


def _table(kinds, counts, errors):
    meta = pd.DataFrame({"kind": np.repeat(kinds, counts)})
    labels = torch.zeros(sum(counts), dtype=torch.long)
    predicted = torch.cat([torch.cat([torch.ones(e), torch.zeros(c - e)]) for c, e in zip(counts, errors)]).long()
    p = Predictions(logits=None, probabilities=None, predicted=predicted, labels=labels, classes=("notcar", "car"))
    return kind_errors(p, meta)


def test_side_by_side_keeps_every_model_and_sorts_by_the_first(data):
    tables = {"a": kind_errors(predict(Brightness(), data), data.meta),
              "b": kind_errors(predict(Brightness(-1.0), data), data.meta)}
    both = side_by_side(tables)
    assert set(both.columns.get_level_values(0)) == {"a", "b"}
    assert len(both) == len(tables["a"])
    assert both[("a", "error_rate")].is_monotonic_decreasing
    assert int(both[("b", "count")].sum()) == len(data)


def _pair(kinds, right_a, right_b):
    """Two models' predictions on not-car images of the given kinds, right where right_* is 1."""
    labels = torch.zeros(len(kinds), dtype=torch.long)
    make = lambda right: Predictions(logits=None, probabilities=None, labels=labels, classes=("notcar", "car"),  # noqa: E731
                                     predicted=(1 - torch.tensor(right)).long())
    return {"cnn": make(right_a), "resnet18": make(right_b)}, pd.DataFrame({"kind": kinds})


def test_kind_mcnemar_pairs_the_images_of_each_kind_and_holm_adjusts_over_the_kinds():
    # "lopsided": 12 images only the CNN gets right, none the other way round (p = 2 / 2**12);
    # "even": 5 disagreements each way (p = 1); "same": both models right and wrong together
    kinds = ["lopsided"] * 30 + ["even"] * 20 + ["same"] * 10
    right_a = [1] * 12 + [1] * 18 + [1] * 5 + [0] * 5 + [1] * 10 + [1] * 6 + [0] * 4
    right_b = [0] * 12 + [1] * 18 + [0] * 5 + [1] * 5 + [1] * 10 + [1] * 6 + [0] * 4
    preds, meta = _pair(kinds, right_a, right_b)
    t = kind_mcnemar(preds, meta).set_index("kind")
    assert list(t.index) == ["lopsided", "even", "same"]  # smallest p first
    assert t.loc["lopsided", ["only cnn right", "only resnet18 right", "cnn errors", "resnet18 errors"]].tolist() == [12, 0, 0, 12]
    assert t.loc["lopsided", "p"] == pytest.approx(2 / 2 ** 12)
    assert t.loc["lopsided", "Holm p"] == pytest.approx(3 * 2 / 2 ** 12)  # three kinds tested
    assert t.loc["even", ["only cnn right", "only resnet18 right"]].tolist() == [5, 5] and t.loc["even", "p"] == 1.0
    assert t.loc["same", ["only cnn right", "only resnet18 right", "p"]].tolist() == [0, 0, 1.0]
    assert t["differ (Holm p < 0.05)"].tolist() == [True, False, False]
    # the difference in errors per kind is exactly the difference in one-sided disagreements
    assert ((t["resnet18 errors"] - t["cnn errors"]) == (t["only cnn right"] - t["only resnet18 right"])).all()
    # the same counts as kind_errors, kind by kind
    assert t["cnn errors"].to_dict() == kind_errors(preds["cnn"], meta).set_index("kind")["errors"].to_dict()


def test_kind_mcnemar_needs_two_models_on_the_same_images():
    preds, meta = _pair(["x"] * 4, [1, 1, 0, 0], [1, 0, 1, 0])
    with pytest.raises(ValueError, match="exactly two models, got 1"):
        kind_mcnemar({"cnn": preds["cnn"]}, meta)
    other = Predictions(logits=None, probabilities=None, predicted=torch.zeros(4, dtype=torch.long),
                        labels=torch.tensor([0, 1, 0, 1]), classes=("notcar", "car"))
    with pytest.raises(ValueError, match="'cnn' and 'resnet18' were not scored on the same images"):
        kind_mcnemar({"cnn": preds["cnn"], "resnet18": other}, meta)
    with pytest.raises(ValueError, match="needs the images' metadata"):
        kind_mcnemar(preds, None)


def test_harder_than_average_needs_the_whole_interval_above_the_overall_rate():
    table = _table(["easy", "hard", "few"], [200, 200, 3], [4, 80, 2])
    hard = harder_than_average(table)
    assert hard["kind"].tolist() == ["hard"]  # "few" has a high rate but a wide interval
    flat = _table(["x", "y"], [100, 100], [10, 11])
    assert harder_than_average(flat).empty


def test_kind_probe_renders_only_the_asked_kinds_and_counts_errors():
    probe = kind_probe({"bright": Brightness()}, ("pedestrian", "pole"), n=20, seed=1)
    assert probe["kind"].tolist() == ["pedestrian", "pole"] and (probe["count"] == 20).all()
    assert (probe["errors"] <= 20).all() and probe["error_rate"].between(0, 1).all()
    with pytest.raises(ValueError, match="unknown not-car kind"):
        kind_probe({"bright": Brightness()}, ("ufo",), n=5)


def test_shift_tables_pair_models_and_measure_the_drop(data):
    sets = {"as_is": data, "darker": type(data)((data.images // 2), data.labels, data.classes, data.meta)}
    models = {"a": Brightness(), "b": Brightness(-1.0)}
    preds = predict_shifts(models, sets)
    tests = shift_mcnemar(preds, "a", "b")
    want = mcnemar_exact(preds["a"]["darker"].correct.numpy(), preds["b"]["darker"].correct.numpy())
    assert tests["darker"]["p_value"] == want["p_value"] and tests["darker"]["a"] == "a"
    doc = {"a": {"accuracy": 0.9, "balanced_accuracy": 0.88, "roc_auc": 0.95,
                 "per_class": {"notcar": {"recall": 0.9}, "car": {"recall": 0.86}},
                 "shifts": {"darker": {"accuracy": 0.7, "balanced_accuracy": 0.5, "roc_auc": 0.97,
                                       "notcar_recall": 1.0, "car_recall": 0.0}}}}
    table = robustness_table(doc)
    assert table.loc[("a", "test"), "drop"] == 0
    assert table.loc[("a", "darker"), "drop"] == pytest.approx(0.38)
    failures = threshold_failures({"a": doc["a"]["shifts"]})
    assert failures == [{"model": "a", "shift": "darker", "roc_auc": 0.97, "balanced_accuracy": 0.5,
                         "lost_class": "car", "lost_recall": 0.0, "one_side": True}]
    doc["a"]["shifts"]["darker"]["roc_auc"] = 0.6  # the ranking is lost too: not a threshold failure
    assert threshold_failures({"a": doc["a"]["shifts"]}) == []


@pytest.mark.parametrize("count", [1, 3, 7, 60, 189, 945])
def test_wilson_interval_contains_the_rate_even_at_zero_and_all_errors(count):
    from carcourse.kinds import wilson_interval

    for errors in (0, count):
        low, high = wilson_interval(errors, count)
        assert low <= errors / count <= high
    assert wilson_interval(0, count)[0] == 0.0 and wilson_interval(count, count)[1] == 1.0


def test_compare_entries_pair_the_first_two_models_on_every_shift(data):
    from carcourse.data import Splits
    from carcourse.evaluate import report
    from carcourse.shifts import SHIFTS, robustness_entries

    test = data.subset(40, seed=0)
    splits = Splits(data, None, test, source="synthetic(seed=3)")
    models = {"a": Brightness(), "b": Brightness(-1.0)}
    reports = {name: [report(predict(m, test))] for name, m in models.items()}
    model_json = {"a": {}, "b": {}}
    doc = robustness_entries(model_json, models, reports, splits)
    assert set(doc["shift_tests"]) == set(SHIFTS)
    for shift, t in doc["shift_tests"].items():
        assert (t["a"], t["b"]) == ("a", "b") and 0 <= t["p_value"] <= 1
        assert t["a_only_correct"] + t["b_only_correct"] <= 40
    # and within each kind of the test split, on the same images, Holm-adjusted over the kinds
    kinds = doc["kind_tests"]
    assert set(kinds) == set(model_json["a"]["kind_errors"]) == set(test.meta["kind"])
    for kind, t in kinds.items():
        assert (t["a"], t["b"]) == ("a", "b") and t["count"] == model_json["a"]["kind_errors"][kind]["count"]
        errors = {m: model_json[m]["kind_errors"][kind]["errors"] for m in "ab"}
        assert errors["b"] - errors["a"] == t["a_only_correct"] - t["b_only_correct"]
        assert 0 <= t["p_value"] <= t["holm_p"] <= 1
    whole = mcnemar_exact(reports["a"][0].predictions.correct.numpy(), reports["b"][0].predictions.correct.numpy())
    assert sum(t["a_only_correct"] for t in kinds.values()) == whole["a_only_correct"]
    assert sum(t["b_only_correct"] for t in kinds.values()) == whole["b_only_correct"]
    assert list(doc)[:2] == ["shifts", "kind_tests"]  # report.json's order: shifts, kind_tests, shift_tests


def test_compare_entries_pair_the_kinds_even_without_shifted_sets(data):
    from carcourse.data import Splits
    from carcourse.evaluate import report
    from carcourse.shifts import robustness_entries

    test = data.subset(40, seed=0)
    splits = Splits(data, None, test, source="folder with meta.csv")  # not synthetic: no shifted sets
    models = {"a": Brightness(), "b": Brightness(-1.0)}
    reports = {name: [report(predict(m, test))] for name, m in models.items()}
    doc = robustness_entries({"a": {}, "b": {}}, models, reports, splits)
    assert doc["shifts"] == [] and set(doc["kind_tests"]) == set(test.meta["kind"])
