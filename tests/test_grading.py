"""`python -m carcourse grade`: a folder of three made-up submissions of notebook 04's exercises
(one right, one with two classic mistakes, one renamed with a deleted answer cell, two answers
swapped and the setup cell moved to the end) grades into the expected CSV. Exercises are found by cell metadata, not position or name."""
import csv
from pathlib import Path

import nbformat
import pytest

from carcourse.grading import grade_notebook, prepare
from carcourse.mistakes import CATALOGUE, apply
from carcourse.notebook_cells import cell_info

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "04_cross_entropy_vs_l2.ipynb"


def _exercise_section():
    """Notebook 04 from its '## Exercises' cell on, as a submission would hold it (solutions)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Exercises"))
    nb.cells = nb.cells[start:]
    return nb


def _answer(nb, exercise):
    return next(c for c in nb.cells if cell_info(c) == {"exercise": exercise, "role": "answer"})


def _mistake(name):
    return next(m for m in CATALOGUE if m.name == name)


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    nbformat.write(_exercise_section(), folder / "alice_04.ipynb")
    wrong = _exercise_section()
    for name in ("cross-entropy fed probabilities instead of logits", "L2 on logits without softmax"):
        m = _mistake(name)
        cell = _answer(wrong, m.exercise)
        cell.source = apply(m, cell.source)
    nbformat.write(wrong, folder / "bob_04.ipynb")
    renamed = _exercise_section()
    renamed.cells.remove(_answer(renamed, "04.2"))
    i3, i4 = renamed.cells.index(_answer(renamed, "04.3")), renamed.cells.index(_answer(renamed, "04.4"))
    renamed.cells[i3], renamed.cells[i4] = renamed.cells[i4], renamed.cells[i3]
    setup = next(c for c in renamed.cells if cell_info(c).get("role") == "setup")
    renamed.cells.remove(setup)
    renamed.cells.append(setup)  # imports moved below the answers: only the end-of-notebook check sees them
    nbformat.write(renamed, folder / "my homework (1).ipynb")
    from carcourse.cli import main

    out = folder.parent / "grades.csv"
    assert main(["grade", str(folder), "--out", str(out), "--timeout", "120"]) == 0
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def _by_file(rows, name):
    return {r["exercise"]: r for r in rows if r["student_file"] == name}


def test_csv_has_one_row_per_file_and_exercise(grades):
    assert list(grades[0]) == ["student_file", "notebook", "exercise", "passed", "message"]
    assert sorted({r["student_file"] for r in grades}) == ["alice_04.ipynb", "bob_04.ipynb", "my homework (1).ipynb"]
    for name in ("alice_04.ipynb", "bob_04.ipynb", "my homework (1).ipynb"):
        assert sorted(_by_file(grades, name)) == ["04.1", "04.2", "04.3", "04.4"]
    assert {r["notebook"] for r in grades} == {"04"}


def test_the_right_submission_passes_everything(grades):
    assert {ex: r["passed"] for ex, r in _by_file(grades, "alice_04.ipynb").items()} == dict.fromkeys(
        ["04.1", "04.2", "04.3", "04.4"], "True")


def test_two_classic_mistakes_are_named(grades):
    rows = _by_file(grades, "bob_04.ipynb")
    assert {ex: r["passed"] for ex, r in rows.items()} == {"04.1": "False", "04.2": "True", "04.3": "False", "04.4": "True"}
    assert "cross-entropy of probabilities" in rows["04.1"]["message"]
    assert "raw logits" in rows["04.3"]["message"]


def test_renamed_notebook_with_a_deleted_cell_still_grades(grades):
    rows = _by_file(grades, "my homework (1).ipynb")
    assert {ex: r["passed"] for ex, r in rows.items()} == {"04.1": "True", "04.2": "False", "04.3": "True", "04.4": "True"}
    assert "answer cell for 04.2 not found" in rows["04.2"]["message"]
    assert "cross_entropy_grad" in rows["04.2"]["message"] and "Traceback" not in rows["04.2"]["message"]


def test_student_check_cells_are_replaced_by_the_graders(tmp_path):
    nb = _exercise_section()
    for cell in nb.cells:
        if cell_info(cell).get("role") == "check":
            cell.source = "pass  # the student emptied the check"
    prepared, notebook, notes = prepare(nb, "x.ipynb")
    roles = [cell_info(c).get("role") for c in prepared.cells]
    assert notebook == "04" and notes == {} and "check" not in roles and roles.count("grader") == 5
    after = [i for i, c in enumerate(prepared.cells) if cell_info(c).get("where") == "after answer"]
    assert len(after) == 4 and all(roles[i - 1] == "answer" for i in after)
    assert cell_info(prepared.cells[-1])["where"] == "end" and prepared.cells[-1].source.count("record(") == 4


def test_unknown_and_broken_files_get_a_clear_row(tmp_path):
    (tmp_path / "broken.ipynb").write_text("{ not json")
    assert "not a readable notebook" in grade_notebook(tmp_path / "broken.ipynb")[0].message
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "essay.ipynb")
    assert "cannot tell which course notebook" in grade_notebook(tmp_path / "essay.ipynb")[0].message
