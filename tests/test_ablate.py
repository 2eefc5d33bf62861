"""`python -m carcourse ablate`: every ablation listed, pretrained weights used only from a file,
learning rates chosen on validation data, bad arguments refused with clear errors."""
import json
import subprocess
import sys

import pytest
import torch

from carcourse import ablate, models
from carcourse.ablate import ABLATIONS, AblationConfig, run_ablation
from carcourse.data import make_synthetic


@pytest.fixture(scope="module")
def tiny_splits():
    """32-pixel split small enough for a ResNet18 epoch in about a second."""
    return make_synthetic(n_train=64, n_val=32, n_test_notcar=22, n_test_car=10, size=32, seed=0)


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "carcourse", "ablate", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_quick_ablate_writes_every_ablation_with_pretrained_skipped(tmp_path):
    out = _cli("--quick", "--no-progress", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((tmp_path / "ablation.json").read_text())
    assert (tmp_path / "ablation.png").stat().st_size > 5000
    assert list(doc["ablations"]) == list(ABLATIONS)
    settings = {a: [(r["model"], r["setting"]) for r in rows] for a, rows in doc["ablations"].items()}
    assert settings["width"] == [("cnn", "width 16"), ("cnn", "width 32"), ("cnn", "width 64")]
    assert settings["stem"] == [("resnet18", "imagenet stem"), ("resnet18", "small stem")]
    assert [m for m, _ in settings["budget"]] == ["cnn", "cnn", "resnet18", "resnet18"]
    assert [m for m, _ in settings["optimizer"]] == ["cnn", "cnn", "resnet18", "resnet18"]
    (pre,) = doc["ablations"]["pretrained"]
    assert pre["skipped"] and "--weights" in pre["skipped"] and pre["per_seed"] == []
    for rows in list(doc["ablations"].values())[:4]:
        for r in rows:
            assert r["skipped"] is None and r["seeds"] == [0]
            (run,) = r["per_seed"]
            assert set(run) == {"seed", "accuracy", "balanced_accuracy", "roc_auc", "epochs_trained",
                                "best_epoch", "seconds", "diverged"}
            assert 0 <= run["accuracy"] <= 1 and 0 <= run["balanced_accuracy"] <= 1
            assert r["mean"]["accuracy"] == run["accuracy"] and r["sd"]["accuracy"] == 0
            assert 1 <= run["best_epoch"] <= run["epochs_trained"]
    fixed, until = doc["ablations"]["budget"][:2]
    assert fixed["per_seed"][0]["epochs_trained"] == 1
    assert until["train"] == {"epochs": 3, "patience": 1, "restore_best": True}
    # each optimizer's rate is the grid's lowest validation loss, and the row trains at it
    assert [(t["model"], t["optimizer"]) for t in doc["lr_tuning"]] == [
        ("cnn", "adam"), ("cnn", "sgd"), ("resnet18", "adam"), ("resnet18", "sgd")]
    for t, row in zip(doc["lr_tuning"], doc["ablations"]["optimizer"]):
        assert [g["lr"] for g in t["grid"]] == list(ablate.QUICK_LR_GRID[t["optimizer"]])
        assert t["chosen_lr"] == min(t["grid"], key=lambda g: g["best_val_loss"])["lr"]
        assert row["train"] == {"optimizer": t["optimizer"], "lr": t["chosen_lr"]}
    # shared runs are trained once: width 32, the cnn's fixed budget and its default-rate Adam row
    # (cnn: 3 widths, convergence, 3 other grid rates; resnet18: 2 stems, convergence, 3 rates)
    assert doc["runs_trained"] == 13
    assert doc["ablations"]["width"][1]["per_seed"] == fixed["per_seed"]
    assert doc["command"] == f"python -m carcourse ablate --quick --no-progress --out {tmp_path}"
    assert doc["hardware"]["device"] == "cpu" and doc["hardware"]["cpu_cores"] >= 1
    assert doc["recipe"]["batch_size"] == 32 and doc["config"]["quick"] is True
    assert "width 16" in out.stdout and "skipped" in out.stdout
    # every finished run was noted as it finished, so an interrupted run could resume
    assert len((tmp_path / ablate.JOURNAL).read_text().splitlines()) == 1 + doc["runs_trained"]


def test_pretrained_ablation_loads_the_given_weights_file(tmp_path, tiny_splits, monkeypatch):
    from torchvision.models import resnet18

    path = tmp_path / "resnet18_state.pt"
    torch.save(resnet18(weights=None, num_classes=1000).state_dict(), path)  # ImageNet-shaped head
    loaded = []
    original = models.load_weights
    monkeypatch.setattr(models, "load_weights",
                        lambda model, p, **kw: loaded.append(str(p)) or original(model, p, **kw))
    result = run_ablation(AblationConfig(quick=True, only=("pretrained",), weights=path),
                          splits=tiny_splits)
    scratch, pretrained = result.ablation("pretrained")
    assert scratch.setting == "from scratch" and scratch.options == {}
    assert pretrained.options == {"weights": "resnet18_state.pt"} and pretrained.skipped is None
    assert len(pretrained.runs) == 1 and 0 <= pretrained.runs[0].roc_auc <= 1
    assert loaded and set(loaded) == {str(path)}
    assert result.to_json()["config"]["weights"] == str(path)


def test_pretrained_ablation_without_a_file_is_skipped_with_the_reason(tiny_splits):
    result = run_ablation(AblationConfig(quick=True, only=("pretrained",)), splits=tiny_splits)
    (row,) = result.rows
    assert row.skipped.startswith("no weights file given") and row.runs == []
    assert result.runs_trained == 0
    assert result.to_json()["ablations"]["pretrained"][0]["mean"] is None


def test_weights_that_do_not_fit_fail_before_any_training(tmp_path):
    bad = tmp_path / "cnn.pt"
    torch.save(models.build("cnn").state_dict(), bad)
    with pytest.raises(models.WeightsError, match="cnn.pt: weights do not fit"):
        run_ablation(AblationConfig(quick=True, only=("pretrained",), weights=bad), splits="never used")


@pytest.mark.parametrize("kwargs, message", [
    (dict(seeds=0), "AblationConfig.seeds must be an integer >= 1, got 0"),
    (dict(epochs=0), "AblationConfig.epochs must be an integer >= 1, got 0"),
    (dict(patience=-1), "AblationConfig.patience must be an integer >= 1, got -1"),
    (dict(only=("width", "depth")), "ablations ['depth']: choose from"),
    (dict(only=""), "ablations (none): choose from"),
    (dict(lr_grid={"adam": (1e-3,)}), "lr_grid needs non-empty 'adam' and 'sgd'"),
    (dict(lr_grid={"adam": (1e-3,), "sgd": (0.0,)}), "must be positive and finite, got [0.0]"),
    (dict(weights="/no/such/file.pt"), "--weights /no/such/file.pt: file not found"),
])
def test_bad_ablation_settings_are_refused_naming_the_value(kwargs, message):
    with pytest.raises(ValueError) as info:
        AblationConfig(quick=True, **kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize("args, message", [
    (("--seeds", "0"), "AblationConfig.seeds must be an integer >= 1, got 0"),
    (("--only", "width,depth"), "ablations ['depth']"),
    (("--weights", "/no/such/file.pt"), "--weights /no/such/file.pt: file not found"),
])
def test_bad_cli_arguments_exit_2_with_a_message(args, message, capsys):
    from carcourse.cli import main

    assert main(["ablate", "--quick", "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    from carcourse.cli import main

    f = tmp_path / "taken"
    f.write_text("x")
    assert main(["ablate", "--quick", "--no-progress", "--out", str(f)]) == 2
    assert f"--out {f}: exists and is not a folder" in capsys.readouterr().err


def test_a_learning_rate_that_diverges_is_recorded_and_never_chosen(tiny_splits):
    runner = ablate._Runner(tiny_splits, AblationConfig(quick=True, epochs=3), "cpu")
    tuning = ablate.tune_lr(runner, "cnn", "sgd", (1e3, 0.01))
    blown, fine = tuning.grid
    assert blown["diverged"] is True and blown["best_val_loss"] == float("inf")
    assert fine["diverged"] is False and tuning.chosen_lr == 0.01
    assert "Infinity" not in json.dumps(ablate._finite(tuning.to_json()))
    (blown_run, _), = [v for k, v in runner.cache.items() if ("lr", 1e3) in k.train]
    assert blown_run.diverged and blown_run.best_epoch is None and blown_run.accuracy != blown_run.accuracy


def test_a_stored_ablation_reads_back_as_the_same_json(tiny_splits):
    result = run_ablation(AblationConfig(quick=True, only=("width", "pretrained")), splits=tiny_splits)
    doc = json.loads(json.dumps(result.to_json()))
    assert ablate.AblationResult.from_json(doc).to_json() == doc
    assert len(doc["dataset"]["sha1"]) == 12 and doc["parts"][0]["only"] == ["width", "pretrained"]


def test_merge_keeps_the_stored_ablations_this_run_does_not_redo(tiny_splits):
    width = run_ablation(AblationConfig(quick=True, only=("width",)), splits=tiny_splits, command="first")
    pre = run_ablation(AblationConfig(quick=True, only=("pretrained",)), splits=tiny_splits, command="second")
    merged = pre.merge(ablate.AblationResult.from_json(json.loads(json.dumps(width.to_json()))))
    doc = merged.to_json()
    assert list(doc["ablations"]) == ["width", "pretrained"]
    assert doc["ablations"]["width"] == width.to_json()["ablations"]["width"]
    assert doc["runs_trained"] == width.runs_trained + 0 == 3
    assert [p["command"] for p in doc["parts"]] == ["first", "second"]
    assert doc["seconds"] == pytest.approx(width.seconds + pre.seconds)
    redo = run_ablation(AblationConfig(quick=True, only=("width",), epochs=2), splits=tiny_splits)
    with pytest.raises(ValueError, match="stored ablation has epochs=1, this run 2"):
        redo.merge(width)
    other = make_synthetic(n_train=64, n_val=32, n_test_notcar=22, n_test_car=10, size=32, seed=1)
    with pytest.raises(ValueError, match=r"another dataset \(sha1, source\)"):
        run_ablation(AblationConfig(quick=True, only=("pretrained",)), splits=other).merge(width)


def test_merge_with_other_settings_is_refused_before_any_training(tmp_path, capsys, monkeypatch):
    from carcourse.cli import main

    assert main(["ablate", "--quick", "--no-progress", "--merge", "--out", str(tmp_path)]) == 2
    assert f"--merge: no {tmp_path / 'ablation.json'} to merge into" in capsys.readouterr().err
    assert main(["ablate", "--quick", "--no-progress", "--only", "pretrained", "--out", str(tmp_path)]) == 0
    monkeypatch.setattr(ablate, "run_ablation", lambda *a, **k: pytest.fail("trained before refusing"))
    assert main(["ablate", "--quick", "--no-progress", "--seeds", "2", "--only", "width", "--merge",
                 "--out", str(tmp_path)]) == 2
    assert "stored ablation has seeds=1, this run 2" in capsys.readouterr().err
    (tmp_path / "ablation.json").write_text("{}")
    assert main(["ablate", "--quick", "--no-progress", "--merge", "--out", str(tmp_path)]) == 2
    assert "is not an ablation.json this version can read" in capsys.readouterr().err


def test_merge_onto_other_pixels_keeps_this_run_in_unmerged(tmp_path, capsys):
    from carcourse.cli import main

    assert main(["ablate", "--quick", "--no-progress", "--only", "pretrained", "--out", str(tmp_path)]) == 0
    stored = tmp_path / "ablation.json"
    doc = json.loads(stored.read_text())
    doc["dataset"]["sha1"] = "000000000000"  # as if another generator had drawn the stored run
    stored.write_text(json.dumps(doc))
    assert main(["ablate", "--quick", "--no-progress", "--only", "pretrained", "--merge",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "another dataset (sha1)" in err and "this run was written to" in err
    assert json.loads((tmp_path / "unmerged" / "ablation.json").read_text())["dataset"]["sha1"] != "000000000000"
    assert json.loads(stored.read_text())["dataset"]["sha1"] == "000000000000"  # the stored file untouched


def test_ablations_run_side_by_side_merge_into_one_file_in_ablation_order(tiny_splits, tmp_path):
    from bench.merge_ablations import main as merge_main, merge_files

    for name in ("pretrained", "width"):  # written out of order, as parallel processes finish
        r = run_ablation(AblationConfig(quick=True, only=(name,)), splits=tiny_splits, command=name)
        r.versions = {**r.versions, "torch": "2.11.0"}  # as if run on another machine
        ablate.write_outputs(r, tmp_path / name)
    merged = merge_files([tmp_path / "pretrained" / "ablation.json", tmp_path / "width" / "ablation.json"])
    assert merged.config.only == ("width", "pretrained")
    # the versions are the runs', not those of the machine that merges
    assert merged.to_json()["versions"]["torch"] == "2.11.0"
    assert [p["versions"]["torch"] for p in merged.to_json()["parts"]] == ["2.11.0", "2.11.0"]
    assert [p["command"] for p in merged.to_json()["parts"]] == ["width", "pretrained"]
    assert merge_main([str(tmp_path / "width"), str(tmp_path / "pretrained"), "--out", str(tmp_path / "all")]) == 0
    doc = json.loads((tmp_path / "all" / "ablation.json").read_text())
    assert list(doc["ablations"]) == ["width", "pretrained"] and (tmp_path / "all" / "ablation.png").is_file()
    with pytest.raises(ValueError, match="'width' is in both"):
        merge_files([tmp_path / "width" / "ablation.json", tmp_path / "all" / "ablation.json"])
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not an ablation.json"):
        merge_files([tmp_path / "bad.json"])


def test_effects_pair_each_setting_with_its_reference_seed_by_seed():
    from carcourse.ablate import AblationResult, AblationRow, SeedResult, effects

    def row(ablation, model, setting, accs):
        return AblationRow(ablation, model, setting, runs=[SeedResult(seed, a, a, a, 8, 8, 1.0)
                                                          for seed, a in enumerate(accs)])

    rows = [row("width", "cnn", "width 16", [0.90, 0.91, 0.92]), row("width", "cnn", "width 32", [0.95, 0.93, 0.94]),
            row("width", "cnn", "width 64", [0.96, 0.92, 0.95]),
            row("stem", "resnet18", "imagenet stem", [0.94, 0.94, 0.94]),
            row("stem", "resnet18", "small stem", [0.96, 0.97, 0.95]),
            AblationRow("pretrained", "resnet18", "pretrained weights file", skipped="no file")]
    result = AblationResult(rows, [], AblationConfig(quick=True, only=("width", "stem", "pretrained")), {}, {}, {},
                            None, 0.0, 0)
    e = effects(result).set_index("setting")
    assert list(e.index) == ["width 16", "width 64", "small stem"]  # references and skipped rows are not rows
    assert e.loc["width 16", "reference"] == "width 32"
    assert e.loc["width 16", "per_seed"] == [-0.05, -0.02, -0.02] and e.loc["width 16", "same_sign"]
    assert not e.loc["width 64", "same_sign"]  # +0.01, -0.01, +0.01: no consistent effect
    assert e.loc["small stem", "difference"] == pytest.approx(0.02) and e.loc["small stem", "same_sign"]


def test_an_interrupted_ablation_rerun_with_its_journal_trains_only_the_missing_runs(tiny_splits, tmp_path,
                                                                                      monkeypatch):
    from carcourse import train

    cfg = dict(quick=True, only=("width", "optimizer"))
    straight = run_ablation(AblationConfig(**cfg), splits=tiny_splits)
    real_fit, real_add, trained = train.fit, ablate.RunJournal.add, []

    def fit(*args, **kwargs):
        if len(trained) == 4:
            raise KeyboardInterrupt  # Ctrl-C during the fifth run
        return real_fit(*args, **kwargs)

    def add(journal, *args):  # the journal notes a run as soon as it is finished
        real_add(journal, *args)
        trained.append(args[0])

    monkeypatch.setattr(train, "fit", fit)
    monkeypatch.setattr(ablate.RunJournal, "add", add)
    journal = tmp_path / ablate.JOURNAL
    with pytest.raises(KeyboardInterrupt):
        run_ablation(AblationConfig(**cfg), splits=tiny_splits, journal=journal)
    assert len(journal.read_text().splitlines()) == 1 + 4  # header + the four finished runs
    trained.clear()
    monkeypatch.setattr(train, "fit", real_fit)
    resumed = run_ablation(AblationConfig(**cfg), splits=tiny_splits, journal=journal)
    assert len(trained) == straight.runs_trained - 4  # only the missing runs were trained
    assert resumed.runs_trained == straight.runs_trained

    def without_seconds(result):
        doc = result.to_json()
        return [{**row, "per_seed": [{k: v for k, v in s.items() if k != "seconds"} for s in row["per_seed"]],
                 "mean": None, "sd": None} for rows in doc["ablations"].values() for row in rows], doc["lr_tuning"]

    assert without_seconds(resumed) == without_seconds(straight)  # the numbers of one uninterrupted run


def test_a_journal_of_other_runs_is_refused_naming_the_file_and_a_cut_last_line_is_retrained(tmp_path):
    from carcourse.ablate import RunJournal, SeedResult

    path = tmp_path / ablate.JOURNAL
    header = {"recipe": {"epochs": 8, "lr": 0.001}, "dataset_sha1": "abc", "device": "cpu", "epochs": 8,
              "torch": "2.14.1"}
    notes = RunJournal(path, header)
    curve = type("H", (), {"val_loss": [0.5, float("nan")], "val_acc": [0.8, 0.5], "best_epoch": 1})()
    notes.add("run a", SeedResult(0, 0.9, 0.88, 0.95, 2, 1, 3.0, diverged=True), curve)
    notes.add("run b", SeedResult(1, 0.91, 0.89, 0.96, 2, 2, 3.1), curve)
    with path.open("a") as f:
        f.write('{"key": "run c", "result": {"seed"')  # the process was killed while writing
    reopened = RunJournal(path, header)
    assert sorted(reopened.runs) == ["run a", "run b"]  # run c is trained again
    result, kept = reopened.runs["run a"]
    assert result.diverged and result.accuracy == 0.9 and kept.best_epoch == 1 and kept.val_loss[0] == 0.5
    with pytest.raises(ValueError, match=rf"{path.name}: its runs were trained with another dataset_sha1, recipe"):
        RunJournal(path, {**header, "recipe": {"epochs": 8, "lr": 0.003}, "dataset_sha1": "def"})
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "not json", lines[1]]) + "\n")
    with pytest.raises(ValueError, match=rf"{path.name}, line 2: unreadable"):
        RunJournal(path, header)
    (tmp_path / "other.jsonl").write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="other.jsonl: not an ablation journal"):
        RunJournal(tmp_path / "other.jsonl", header)


def test_reference_mismatches_names_a_reference_row_that_is_not_the_comparisons_run():
    from carcourse.ablate import AblationResult, AblationRow, SeedResult, reference_mismatches

    def row(ablation, model, options, accs):
        return AblationRow(ablation, model, str(options), options=options,
                           runs=[SeedResult(seed, a, a, a, 8, 8, 1.0) for seed, a in enumerate(accs)])

    rows = [row("width", "cnn", {"width": 16}, [0.90, 0.91, 0.92]), row("width", "cnn", {"width": 32}, [0.95, 0.93, 0.94]),
            row("stem", "resnet18", {"stem": "imagenet"}, [0.94, 0.945, 0.9466667]),
            row("stem", "resnet18", {"stem": "small"}, [0.96, 0.97, 0.95])]
    result = AblationResult(rows, [], AblationConfig(quick=True, only=("width", "stem")), {}, {}, {}, None, 0.0, 0)
    report = {"cnn": {"per_seed": [{"accuracy": a} for a in (0.95, 0.93, 0.94)]},
              "resnet18": {"per_seed": [{"accuracy": a} for a in (0.94, 0.945, 0.94666671)]}}  # equal to 6 digits
    assert reference_mismatches(result, report) == []  # width 16 and the small stem change something: not compared
    report["resnet18"]["per_seed"][2]["accuracy"] = 0.9474  # one seed off by one image in 1345
    assert reference_mismatches(result, report) == [("stem", "resnet18")]
    report["cnn"]["per_seed"] = report["cnn"]["per_seed"][::-1]  # the right values in the wrong seed order
    assert reference_mismatches(result, report) == [("width", "cnn"), ("stem", "resnet18")]
    assert reference_mismatches(result, {"cnn": report["cnn"]}) == [("width", "cnn"), ("stem", "resnet18")]
