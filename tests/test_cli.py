"""`python -m carcourse compare --quick` writes a report.json that follows DESIGN.md."""
import json
import subprocess
import sys

import pytest

METRIC_KEYS = {"accuracy", "balanced_accuracy", "roc_auc", "average_precision", "per_class",
               "confusion_matrix", "epochs", "train_seconds", "images_per_second"}


def test_compare_quick_writes_a_schema_valid_report(tmp_path):
    out = subprocess.run([sys.executable, "-m", "carcourse", "compare", "--quick", "--epochs", "2",
                          "--no-progress", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "balanced_accuracy" in out.stdout and "McNemar" in out.stdout
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["device"] == "cpu"
    assert doc["dataset"]["train"] == {"notcar": 448, "car": 192}
    assert doc["dataset"]["test"] == {"notcar": 189, "car": 80}
    assert set(doc["models"]) == {"cnn", "resnet18"}
    for name, m in doc["models"].items():
        assert METRIC_KEYS <= set(m), name
        assert set(m["per_class"]) == {"notcar", "car"}
        for cls in m["per_class"].values():
            assert set(cls) == {"precision", "recall", "f1", "support"}
        (tn, fp), (fn, tp) = m["confusion_matrix"]
        assert tn + fp == 189 and fn + tp == 80
        assert m["accuracy"] == pytest.approx((tn + tp) / 269)
        assert 0 <= m["roc_auc"] <= 1 and m["epochs"] == 2
    assert 0 <= doc["comparison"]["mcnemar_p"] <= 1
    assert doc["run"]["versions"]["torch"]
    for fig in ("learning_curves.png", "confusion_matrices.png", "roc_pr.png"):
        assert (tmp_path / fig).stat().st_size > 1000


def test_bad_data_path_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "carcourse", "compare", "--data", str(tmp_path / "x"),
                          "--no-progress"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert f"{tmp_path / 'x'}: folder does not exist" in out.stderr
    assert "Traceback" not in out.stderr
