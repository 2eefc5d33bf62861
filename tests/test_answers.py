"""answers/README.md: eight questions answered, and every number quoted in Q8 is in the results
file written by the full-mode `python -m carcourse compare` run."""
import json
import re
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ROOT / "answers" / "README.md"
RESULTS = ROOT / "answers" / "results" / "report.json"
ABLATION = ROOT / "answers" / "results" / "ablation.json"
# bench/augment_shift's stored runs: each model with the flips alone and with the default jitter, 5 seeds
AUGMENT = {name: ROOT / "answers" / "results" / f"augment_{name}.json" for name in ("cnn", "resnet18")}
# Integers that are facts of the exercise or words of the prose, not results: the test split
# (945, 400, 1345), training set and patch sizes (4200, 64, 16), ResNet18's name and stem (18, 7, 2)
# and ImageNet's photo size (224),
# "95 %" intervals, "5 %" level, "70 %" not-car share, seeds 0/1 and "3 seeds" by name.
ALLOWED = {0, 1, 2, 3, 5, 7, 16, 18, 64, 70, 95, 224, 400, 945, 1345, 4200}
NUMBER = re.compile(r"(?<![\w.])([−-]?)(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w])")


def q8_text(text: str) -> str:
    match = re.search(r"^## Q8\b.*?(?=^## |^---\s*$|\Z)", text, flags=re.S | re.M)
    assert match, "answers/README.md has no '## Q8' section"
    return match.group(0)


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def unmatched_numbers(section: str, report: dict) -> list[str]:
    """Numbers in `section` that are neither in `report` (at the precision quoted) nor allowed.
    A decimal must equal a value of the file rounded to as many places as it shows."""
    values = list(_leaves(report))
    # integers: exact counts, or rates such as images/s quoted without decimals
    integers = {v for v in values if float(v).is_integer()} | {round(v) for v in values if abs(v) >= 10}
    bad = []
    section = re.sub(r"\bnotebooks? \d\d\b|\bnotebooks/\d\d_\w+", "", section, flags=re.I)  # "Notebook 06" names a lesson
    section = section.replace("the 0.5 threshold", "the threshold")  # the decision rule, not a result
    for sign, digits in NUMBER.findall(section):
        quoted = float(digits.replace(",", "")) * (-1 if sign else 1)
        if "." in digits:
            places = len(digits.split(".")[1])
            if not any(round(v, places) == quoted for v in values):
                bad.append(f"{sign}{digits}")
        elif abs(quoted) not in ALLOWED and quoted not in integers:
            bad.append(f"{sign}{digits}")
    return bad


@pytest.fixture(scope="module")
def answers():
    return ANSWERS.read_text()


@pytest.fixture(scope="module")
def report():
    return json.loads(RESULTS.read_text())


@pytest.fixture(scope="module")
def ablation():
    return json.loads(ABLATION.read_text())


@pytest.fixture(scope="module")
def augment():
    return {name: json.loads(path.read_text()) for name, path in AUGMENT.items()}


def test_every_question_has_a_section_that_points_to_a_notebook(answers):
    for q in range(1, 9):
        match = re.search(rf"^## Q{q} .*?(?=^## |^---\s*$|\Z)", answers, flags=re.S | re.M)
        assert match, f"no section headed Q{q}"
        notebooks = re.findall(r"notebooks/(\d\d_\w+)\.ipynb", match.group(0))
        assert notebooks, f"Q{q} points to no notebook"
        for nb in notebooks:
            assert (ROOT / "notebooks" / f"{nb}.ipynb").exists(), nb


def test_every_section_and_every_conclusion_appears_once(answers):
    """An edit that pasted a section's new text above the old one left two contradicting Q8
    answers, the second outside the part the number check read (its end was taken at a table's
    '---|' row); a section ends only at a heading or a rule line."""
    headings = re.findall(r"^## .*$", answers, flags=re.M)
    assert len(headings) == len(set(headings)), headings
    for marker in ("**The measurements**", "**Is the difference real?**", "**The answer.**"):
        assert answers.count(marker) == 1, marker
    assert "## Common mistakes" in answers.split(q8_text(answers))[1]  # Q8 runs up to the next section


def test_results_file_is_from_a_full_mode_run_of_todays_default_recipe(report, answers):
    from carcourse.config import TrainConfig
    from carcourse.presets import FULL

    run = report["run"]
    assert run["quick"] is False and run["epochs"] == FULL.compare_epochs and run["seeds"] == 3
    assert report["dataset"]["test"] == {"notcar": 945, "car": 400}
    assert report["dataset"]["train"]["notcar"] + report["dataset"]["train"]["car"] == 4200
    assert "--out answers/results" in run["command"] and run["command"].split("--out")[0] in answers
    assert f"{run['total_seconds'] / 60:.1f} minutes" in answers
    assert run["versions"]["torch"].split("+")[0] in answers
    # trained with today's default recipe (rerun `compare` when it changes), jitter strengths included
    assert run["recipe"] == TrainConfig(epochs=FULL.compare_epochs, device=report["device"], progress=False).to_dict()


def test_every_number_quoted_in_q8_is_in_the_results_files(answers, report, ablation, augment):
    section = q8_text(answers)
    assert len(NUMBER.findall(section)) > 40  # the answer does quote the results
    assert unmatched_numbers(section, {"compare": report, "ablation": ablation, "augment": augment}) == []


def test_the_stored_augmentation_runs_measure_todays_default_jitter_seed_by_seed(augment):
    """The default jitter rests on these runs: each model's worst shift higher on every seed, and
    the unshifted accuracy moved by less than one seed's spread (the issue's "no drop")."""
    from carcourse.augment import PhotometricConfig
    from carcourse.config import TrainConfig

    for name, run in augment.items():
        assert run["model"] == name and run["quick"] is False and run["epochs"] == TrainConfig().epochs
        assert run["photometric"] == PhotometricConfig().to_dict() == TrainConfig().to_dict()["photometric"]
        paired = run["summary"]["paired"]
        assert paired["seeds"] == [0, 1, 2, 3, 4]
        assert min(paired["baseline_worst_shift_balanced_accuracy"]) > 0.02, name
        for key, sample in (("unshifted_accuracy", "unshifted"), ("unshifted_large_accuracy", "unshifted_large")):
            spread = statistics.stdev(r["sets"][sample]["accuracy"] for r in run["runs"]["baseline"])
            assert abs(statistics.mean(paired[key])) < spread, (name, key)


def test_the_readme_quotes_the_stored_augmentation_runs(augment):
    readme = (ROOT / "README.md").read_text()
    bullet = readme[readme.index("- Augmentation:"):]
    bullet = bullet[:bullet.index("\n- ")]
    for name, run in augment.items():
        worst = run["summary"]["paired"]["baseline_worst_shift"]
        before, after = (run["summary"][arm]["mean"][worst]["balanced_accuracy"] for arm in ("baseline", "photometric"))
        assert f"{before:.3f} → {after:.3f}" in " ".join(bullet.split()), name
        test, large = (100 * statistics.mean(run["summary"]["paired"][k])
                       for k in ("unshifted_accuracy", "unshifted_large_accuracy"))
        assert f"{test:+.1f}".replace("-", "−") in bullet and f"{large:+.1f}".replace("-", "−") in bullet, name


def test_the_ablation_is_a_full_mode_run_of_every_ablation_with_3_seeds_and_the_default_recipe(ablation, answers):
    from carcourse.ablate import ABLATIONS
    from carcourse.config import TrainConfig
    from carcourse.presets import FULL

    cfg = ablation["config"]
    assert cfg["quick"] is False and cfg["seeds"] == 3 and cfg["epochs"] == FULL.compare_epochs
    assert list(ablation["ablations"]) == list(ABLATIONS)
    # rerun the ablation when the default recipe changes
    assert ablation["recipe"] == TrainConfig().to_dict()
    assert ablation["dataset"]["test"] == {"notcar": 945, "car": 400}
    for name, rows in ablation["ablations"].items():
        for row in rows:
            assert row["skipped"] or [s["seed"] for s in row["per_seed"]] == [0, 1, 2], (name, row["setting"])
    assert all(row["skipped"] for row in ablation["ablations"]["pretrained"])  # no weights file on the course machine
    # the answers name where the ablation ran and which pixels it trained on
    assert ablation["hardware"].get("gpu", ablation["hardware"]["cpu"]) in answers
    assert ablation["dataset"]["sha1"] in answers


def test_the_ablations_reference_rows_are_the_comparisons_own_runs(ablation, report, answers):
    """Same recipe, same machine and torch, same split: the rows that change nothing (width 32,
    the ImageNet stem, the fixed budget, Adam at its default rate) must be the very runs of
    report.json, seed by seed, so Q8 may set the ablation beside the comparison's table."""
    assert ablation["versions"]["torch"] == report["run"]["versions"]["torch"]
    assert ablation["hardware"]["cpu"] == report["run"]["hardware"]["cpu"]
    from carcourse.ablate import AblationResult, changes_nothing, reference_mismatches

    result = AblationResult.from_json(ablation)
    assert sorted((r.ablation, r.model) for r in result.rows if changes_nothing(r)) == [  # width 32, ImageNet
        ("budget", "cnn"), ("budget", "resnet18"), ("optimizer", "cnn"), ("optimizer", "resnet18"),  # stem, fixed
        ("stem", "resnet18"), ("width", "cnn")]  # budget, Adam at its default rate
    assert reference_mismatches(result, report["models"]) == []
    assert "the comparison's own runs" in q8_text(answers)


def test_the_check_reads_the_ablation_and_the_augmentation_runs_too(answers, report, ablation, augment):
    section = q8_text(answers)
    files = {"compare": report, "ablation": ablation, "augment": augment}
    assert unmatched_numbers(section.replace("0.9678", "0.9687", 1), files) == ["0.9687"]
    assert unmatched_numbers(section.replace("0.8103", "0.8130", 1), files) == ["0.8130"]


def test_the_check_catches_a_changed_number(answers, report, ablation, augment):
    section = q8_text(answers)
    files = {"compare": report, "ablation": ablation, "augment": augment}
    assert set(unmatched_numbers(section.replace("0.9576", "0.9586"), files)) == {"0.9586"}
    assert unmatched_numbers(section.replace("p = 0.0247", "p = 0.0347", 1), files) == ["0.0347"]
    assert unmatched_numbers(section + " 1313 images", files) == ["1313"]
    assert unmatched_numbers(section.replace("+0.0134", "−0.0134", 1), files) == ["−0.0134"]  # the sign counts


def test_q8_agrees_with_the_confusion_matrices(answers, report):
    section = q8_text(answers)
    for m in report["models"].values():
        assert str(m["confusion_matrix"]) in section
    assert f"{report['comparison']['mcnemar_b']} are right only" in section


def test_the_stored_verdict_is_what_the_library_says_of_the_stored_numbers(report):
    from carcourse.evaluate import accuracy_verdict

    c = report["comparison"]
    a, b = list(report["models"])[:2]
    seeds = {m: [s["accuracy"] for s in report["models"][m]["per_seed"]] for m in (a, b)}
    assert c["verdict"] == accuracy_verdict(a, b, c["difference"]["accuracy"], c["mcnemar_p"], seeds)
    assert "not settled" in c["verdict"]  # the seeds split 2 to 1


def test_the_stored_kind_tests_agree_with_the_stored_kind_errors_and_holm(report):
    """kind_tests were added to the stored report from a rerun of its seed-0 networks (same
    confusion matrices, same errors per kind): they must pair up with the stored per-kind errors."""
    from carcourse.evaluate import holm_adjust

    tests, errors = report["kind_tests"], {m: report["models"][m]["kind_errors"] for m in ("cnn", "resnet18")}
    assert set(tests) == set(errors["cnn"]) == set(errors["resnet18"])
    for kind, t in tests.items():
        assert (t["a"], t["b"], t["count"]) == ("cnn", "resnet18", errors["cnn"][kind]["count"])
        assert errors["resnet18"][kind]["errors"] - errors["cnn"][kind]["errors"] == t["a_only_correct"] - t["b_only_correct"]
    # the kinds partition the test split: their disagreements add up to the whole run's McNemar b and c
    assert sum(t["a_only_correct"] for t in tests.values()) == report["comparison"]["mcnemar_b"]
    assert sum(t["b_only_correct"] for t in tests.values()) == report["comparison"]["mcnemar_c"]
    holm = holm_adjust({k: t["p_value"] for k, t in tests.items()})
    assert all(holm[k] == pytest.approx(t["holm_p"]) for k, t in tests.items())
