"""`python -m carcourse compare --quick` writes a report.json that follows DESIGN.md, in one
process and under torchrun with 2 CPU processes (gloo); bad input is a clear error."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

METRIC_KEYS = {"accuracy", "balanced_accuracy", "roc_auc", "average_precision", "per_class",
               "confusion_matrix", "epochs", "train_seconds", "images_per_second"}


# One epoch (the quick preset's default is 3, so the report's epochs show the flag was read), one
# thread per process as each torchrun rank has.
COMPARE_ARGS = ["compare", "--quick", "--epochs", "1", "--no-progress"]
ENV = {**os.environ, "CARCOURSE_QUICK": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The one-process quick compare, run once for both tests below (about 20 s on 2 cores)."""
    folder = tmp_path_factory.mktemp("one")
    run = subprocess.run([sys.executable, "-m", "carcourse", *COMPARE_ARGS, "--out", str(folder)],
                         capture_output=True, text=True, env=ENV, timeout=600)
    return run, folder


def test_compare_quick_writes_a_schema_valid_report(single):
    out, tmp_path = single
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
        assert 0 <= m["roc_auc"] <= 1 and m["epochs"] == 1
    assert 0 <= doc["comparison"]["mcnemar_p"] <= 1
    assert doc["run"]["versions"]["torch"]
    for fig in ("learning_curves.png", "confusion_matrices.png", "roc_pr.png"):
        assert (tmp_path / fig).stat().st_size > 1000


def _shape(value):
    """The report's structure: keys and types, not values. Numbers and null are one type: a
    statistic can be undefined in one run and not in the other (e.g. McNemar's p with no
    disagreements, an interval at an error rate of 0)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("command",)}
    if isinstance(value, list):
        return ["list"]
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number or null"
    return type(value).__name__


def test_torchrun_two_cpu_processes_match_the_single_process_report(single, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun comes with torch; it must be installed next to python"
    multi = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "carcourse",
                            *COMPARE_ARGS, "--out", str(tmp_path / "ddp")], capture_output=True, text=True,
                           env=ENV, timeout=600)
    assert multi.returncode == 0, multi.stdout[-2000:] + multi.stderr[-4000:]
    assert multi.stdout.count("wrote ") == 1  # only rank 0 reports
    run, one_folder = single
    assert run.returncode == 0, run.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "report.json").read_text())
    one = json.loads((one_folder / "report.json").read_text())
    assert ddp["run"]["world_size"] == 2 and one["run"]["world_size"] == 1
    assert ddp["run"]["command"].startswith("torchrun --nproc_per_node=2")
    assert _shape(ddp) == _shape(one)
    for name, m in ddp["models"].items():
        cm = m["confusion_matrix"]
        assert [sum(r) for r in cm] == [sum(r) for r in one["models"][name]["confusion_matrix"]]
        assert m["epochs"] == 1
    assert {p.name for p in (tmp_path / "ddp").iterdir()} == {p.name for p in one_folder.iterdir()}


def test_bad_data_path_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "carcourse", "compare", "--data", str(tmp_path / "x"),
                          "--no-progress"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert f"{tmp_path / 'x'}: folder does not exist" in out.stderr
    assert "Traceback" not in out.stderr
