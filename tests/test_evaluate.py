"""carcourse.evaluate: metrics equal scikit-learn's, AUC comes from probabilities, paired tests."""
import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from carcourse.evaluate import (Predictions, average_precision, compare, mcnemar_exact, positive_index,
                                predict, report, roc_auc)
from carcourse.models import build


def _predictions(labels, p_car, classes=("notcar", "car")):
    probs = torch.tensor(np.stack([1 - np.asarray(p_car), p_car], 1), dtype=torch.float64)
    logits = torch.log(probs)
    return Predictions(logits, probs, probs.argmax(1), torch.tensor(labels), classes)


@pytest.fixture
def handmade():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(945, int), np.ones(400, int)]
    p_car = np.clip(0.35 * labels + rng.random(1345) * 0.65, 0, 1).round(2)  # with ties
    return labels, p_car


def test_report_equals_scikit_learn_on_handmade_predictions(handmade):
    labels, p_car = handmade
    r = report(_predictions(labels, p_car))
    pred = (p_car > 0.5).astype(int)
    assert r.accuracy == pytest.approx(skm.accuracy_score(labels, pred))
    assert r.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(labels, pred))
    assert r.roc_auc == pytest.approx(skm.roc_auc_score(labels, p_car))
    assert r.average_precision == pytest.approx(skm.average_precision_score(labels, p_car))
    assert r.confusion_matrix == skm.confusion_matrix(labels, pred).tolist()
    prec, rec, f1, sup = skm.precision_recall_fscore_support(labels, pred)
    for i, name in enumerate(("notcar", "car")):
        assert r.per_class[name]["precision"] == pytest.approx(prec[i])
        assert r.per_class[name]["recall"] == pytest.approx(rec[i])
        assert r.per_class[name]["f1"] == pytest.approx(f1[i])
        assert r.per_class[name]["support"] == sup[i]
    assert list(r.table().index) == ["notcar", "car"]


def test_auc_from_hard_labels_is_just_balanced_accuracy(handmade):
    labels, p_car = handmade
    hard = (p_car > 0.5).astype(float)
    r = report(_predictions(labels, p_car))
    assert roc_auc(labels, hard) == pytest.approx(r.balanced_accuracy)
    assert r.roc_auc != pytest.approx(r.balanced_accuracy, abs=1e-3)


def test_weighted_auc_equals_auc_of_the_repeated_sample(handmade):
    labels, p_car = handmade
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(labels), len(labels))
    w = np.bincount(rows, minlength=len(labels))
    assert roc_auc(labels, p_car, w) == pytest.approx(skm.roc_auc_score(labels[rows], p_car[rows]))


def test_multiclass_metrics_match_scikit_learn():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[labels] * 1.5
    probs = torch.softmax(torch.tensor(logits), 1)
    p = Predictions(torch.tensor(logits), probs, probs.argmax(1), torch.tensor(labels), ("a", "b", "c"))
    r = report(p)
    assert r.accuracy == pytest.approx(skm.accuracy_score(labels, probs.argmax(1).numpy()))
    assert r.roc_auc == pytest.approx(skm.roc_auc_score(labels, probs.numpy(), multi_class="ovr"))
    assert np.array(r.confusion_matrix).shape == (3, 3)


def test_mcnemar_exact_counts_only_disagreements():
    a = np.array([1] * 90 + [1] * 8 + [0] * 2, bool)
    b = np.array([1] * 90 + [0] * 8 + [1] * 2, bool)
    t = mcnemar_exact(a, b)
    assert (t["a_only_correct"], t["b_only_correct"]) == (8, 2)
    assert t["p_value"] == pytest.approx(0.109375)  # 2 * P(X <= 2), X ~ Bin(10, 1/2)
    assert mcnemar_exact(a, a)["p_value"] == 1.0


def test_compare_two_images_apart_is_not_significant(handmade):
    labels, p_car = handmade
    a = _predictions(labels, p_car)
    flipped = p_car.copy()
    wrong = np.nonzero((p_car > 0.5) != labels)[0][:2]
    flipped[wrong] = 1 - flipped[wrong]  # model B gets two more images right
    c = compare({"cnn": report(a), "resnet18": report(_predictions(labels, flipped))}, n_boot=300)
    assert c.mcnemar["b_only_correct"] - c.mcnemar["a_only_correct"] == 2
    assert c.mcnemar["p_value"] > 0.4
    lo, hi = c.difference["accuracy"]["ci95"]
    assert lo <= 0 <= hi
    assert c.verdict().startswith("On these test images, no significant difference")
    assert "mcnemar_p" in c.to_dict()


def test_compare_over_seeds_shows_mean_and_sd(handmade):
    labels, p_car = handmade
    reps = [report(_predictions(labels, np.clip(p_car + d, 0, 1))) for d in (0, 0.05, -0.05)]
    c = compare({"cnn": reps, "other": reps[0]}, n_boot=50)
    assert "±" in c.table().loc["accuracy", "cnn"]
    assert set(c.to_dict()["seeds"]["cnn"]["accuracy"]) == {"mean", "sd"}


def test_predict_decides_by_argmax_and_keeps_train_mode(tiny_set):
    model = build("cnn", width=4)
    model.train()
    p = predict(model, tiny_set, batch_size=10)
    assert model.training
    assert torch.equal(p.predicted, p.logits.argmax(1))
    assert torch.equal(p.logits.argmax(1), p.probabilities.argmax(1))
    assert torch.allclose(p.probabilities.sum(1), torch.ones(len(tiny_set)), atol=1e-6)


def test_calibration_of_a_calibrated_model_has_small_ece_and_an_overconfident_one_large():
    from carcourse.evaluate import calibration

    rng = np.random.default_rng(3)
    p_car = rng.random(20000)
    labels = (rng.random(20000) < p_car).astype(int)  # labels drawn with exactly these probabilities
    good = calibration(_predictions(labels, p_car))
    assert good.ece < 0.02 and good.counts.sum() == 20000
    sharp = np.where(p_car > 0.5, 0.999, 0.001)  # same decisions, overconfident
    assert calibration(_predictions(labels, sharp)).ece > 0.15


def test_car_is_the_positive_class_whatever_its_index_and_three_classes_say_so():
    assert positive_index(("notcar", "car")) == 1 and positive_index(("car", "notcar")) == 0
    assert positive_index(("background", "vehicle")) == 1  # no "car": label 1, as in the exercise
    with pytest.raises(ValueError, match="binary metric needs two classes.*3 classes"):
        positive_index(("bus", "car", "tree"))
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    p_car = np.clip(0.4 * labels + rng.random(200) * 0.6, 0, 1)
    flipped = report(_predictions(1 - labels, 1 - p_car, classes=("car", "notcar")))
    usual = report(_predictions(labels, p_car))
    assert flipped.roc_auc == pytest.approx(usual.roc_auc) and flipped.positive_f1 == pytest.approx(usual.positive_f1)


def test_three_class_comparison_leaves_out_the_binary_metrics_and_says_why():
    rng = np.random.default_rng(3)
    labels = torch.tensor(rng.integers(0, 3, 120))
    reps = [report(Predictions.from_logits(torch.tensor(rng.normal(size=(120, 3))), labels, ("bus", "car", "tree")))
            for _ in range(2)]
    d = compare({"a": reps[0], "b": reps[1]}, n_boot=20).to_dict()
    assert set(d["bootstrap_ci95"]["a"]) == {"accuracy", "balanced_accuracy"}
    assert "need two classes" in d["binary_metrics"] and "3" in d["binary_metrics"]
    with pytest.raises(ValueError, match="3 classes"):
        reps[0].positive_f1


def test_predictions_from_logits_decide_by_argmax_in_fp32():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.7]], dtype=torch.bfloat16)
    p = Predictions.from_logits(logits, torch.tensor([0, 0]), ("notcar", "car"))
    assert p.logits.dtype == torch.float32 and p.predicted.tolist() == [0, 1]
    assert torch.allclose(p.probabilities.sum(1), torch.ones(2)) and p.correct.tolist() == [True, False]


def test_verdict_claims_a_difference_only_when_both_tests_reject_and_says_what_the_seeds_show():
    from carcourse.evaluate import accuracy_verdict

    real = {"mean": 0.0134, "ci95": [0.0022, 0.0253]}
    assert "cnn is more accurate" in accuracy_verdict("cnn", "resnet18", real, 0.0247)
    # one test rejects, the other does not: borderline, not a win
    assert "borderline" in accuracy_verdict("cnn", "resnet18", real, 0.07)
    assert "borderline" in accuracy_verdict("cnn", "resnet18", {"mean": 0.01, "ci95": [-0.001, 0.02]}, 0.03)
    # the stored full run: significant on seed 0, but the seeds split 2 to 1
    split = accuracy_verdict("cnn", "resnet18", real, 0.0247,
                             {"cnn": [0.9576, 0.9532, 0.9457], "resnet18": [0.9442, 0.9494, 0.9472]})
    assert split.startswith("On the first seed's networks, cnn is more accurate")
    assert "ahead on 2 and behind on 1" in split and "not settled" in split
    # three seeds in one order are still what chance gives a quarter of the time
    agree = accuracy_verdict("cnn", "resnet18", real, 0.0247, {"cnn": [0.96, 0.95, 0.97], "resnet18": [0.94, 0.94, 0.95]})
    assert "ahead on 3 and behind on 0" in agree and "0.25 of the time" in agree and "more seeds" in agree
    six = accuracy_verdict("cnn", "resnet18", real, 0.0247, {"cnn": [0.96] * 6, "resnet18": [0.94] * 6})
    assert "sign test p = 0.031" in six and "more seeds" not in six
    tied = accuracy_verdict("cnn", "resnet18", real, 0.0247, {"cnn": [0.96, 0.95, 0.94], "resnet18": [0.94, 0.94, 0.94]})
    assert "ahead on 2 and behind on 0 (level on 1)" in tied and "too few seeds" in tied
    with pytest.raises(ValueError, match="got 3 and 2 seeds"):
        accuracy_verdict("cnn", "resnet18", real, 0.0247, {"cnn": [0.96, 0.95, 0.94], "resnet18": [0.94, 0.94]})


def test_holm_multiplies_the_sorted_p_values_and_keeps_them_in_order():
    from carcourse.evaluate import holm_adjust

    adjusted = holm_adjust({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02})
    assert list(adjusted) == ["a", "b", "c", "d"]  # the caller's order
    assert holm_adjust({"x": 0.6, "y": 0.9}) == pytest.approx({"x": 1.0, "y": 1.0})  # capped at 1, never below an earlier one
    # the stored full run's shifted sets: roofs and grass (p = 0.027) does not survive five tests
    stored = {"smaller_cars": 1.0, "larger_cars": 0.45, "atmosphere": 0.576, "low_sun": 4.5e-05, "roofs_grass": 0.0273}
    adj = holm_adjust(stored)
    assert adj["low_sun"] < 0.001 and adj["roofs_grass"] == pytest.approx(0.1092)
    with pytest.raises(ValueError, match="not p-values.*'bad'"):
        holm_adjust({"ok": 0.2, "bad": float("nan")})
