"""`python -m carcourse student`: the student edition has no solutions, no outputs, no answers."""
import json
import os
from pathlib import Path

import nbformat
import pytest

from carcourse.notebook_cells import cell_info
from carcourse.student import ANSWER_MARK, BEGIN, END, make_student_edition, strip_notebook

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "course"
    return out, make_student_edition(out, root=REPO)


def _solution_cells():
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if "solution" in cell.metadata.get("tags", []):
                yield path.name, i, cell


def _marked_cells():
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if "solution" not in cell.metadata.get("tags", []) and (BEGIN in cell.source or ANSWER_MARK in cell.source):
                yield path.name, i, cell


def test_student_edition_has_no_answers_and_keeps_the_library(edition):
    out, manifest = edition
    assert not (out / "answers").exists() and not (out / "tests").exists()
    assert (out / "carcourse" / "train.py").exists() and (out / "environment.yml").exists()
    assert (out / "carcourse" / "checks.py").exists()  # students run the checks
    assert "answers" in manifest.left_out
    saved = json.loads((out / "STUDENT_EDITION.json").read_text())
    assert saved["stubs"] == manifest.stubs == len(list(_solution_cells())) + len(list(_marked_cells())) > 0


def test_instructor_tools_and_the_full_run_results_are_left_out(edition):
    out, manifest = edition
    for module in ("student.py", "mistakes.py", "grading.py"):  # the catalogue's edits quote solutions
        assert not (out / "carcourse" / module).exists() and f"carcourse/{module}" in manifest.left_out
    readme = (out / "README.md").read_text()
    assert "### One full run" not in readme and "McNemar b = 25" not in readme
    assert "## For instructors" in readme and "### ResNet18 weights" in readme  # only that section went
    import subprocess  # the commands that need them say so (run against the edition's own package)
    import sys

    # The edition's own package only: drop the editable install's finder, which would otherwise
    # fetch a missing submodule from the instructor checkout.
    run = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'Editable' not in repr(f)]; "
           "from carcourse.cli import main; sys.exit(main(sys.argv[1:]))")
    for command in (["checks"], ["student", "--out", str(out.parent / "again")]):
        r = subprocess.run([sys.executable, "-c", run, *command], cwd=out, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(out)})
        assert r.returncode == 2 and "instructor tool" in r.stderr and "Traceback" not in r.stderr


def test_marked_answers_are_gone_and_stubs_report_not_attempted(edition):
    out, _ = edition
    from carcourse.checks import EXERCISES, run_check

    for path in sorted((out / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        namespace = {}
        for cell in nb.cells:
            info = cell_info(cell)
            assert BEGIN not in cell.source and ANSWER_MARK not in cell.source
            if info.get("role") in ("setup", "answer"):
                exec(compile(cell.source, path.name, "exec"), namespace)  # stubs define names, raise only when called
            if info.get("role") == "check":
                assert "NBVAL_CHECK_OUTPUT" not in cell.source
                ex = EXERCISES[info["exercise"]]
                assert run_check(ex.id, *(namespace[n] for n in ex.answers)).status == "not attempted"
    for name, i, cell in _marked_cells():
        student = nbformat.read(out / "notebooks" / name, as_version=4).cells[i].source
        inside = False
        for line in cell.source.splitlines():
            inside = (inside or line.strip().startswith(BEGIN)) and not line.strip().startswith(END)
            if inside and len(line.strip()) > 12 and BEGIN not in line:
                assert line not in student, f"{name} cell {i} leaks {line!r}"
            if ANSWER_MARK in line:  # `x = 2  ### ANSWER` became `x = ...`
                assert line.split(ANSWER_MARK)[0].strip() not in student.splitlines(), f"{name} cell {i}: {line!r}"


def test_student_notebooks_have_no_solution_text_and_no_outputs(edition):
    out, _ = edition
    student_text = {}
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student_text[path.name] = "\n".join(c.source for c in nb.cells)
        for cell in nb.cells:
            assert "solution" not in cell.metadata.get("tags", [])
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
    for name, i, cell in _solution_cells():
        body = [line for line in cell.source.splitlines()[1:] if len(line.strip()) > 12]
        for line in body:  # every substantial line of every solution is gone
            assert line not in student_text[name], f"{name} cell {i} leaks: {line!r}"


def test_stubs_say_what_to_write_and_raise(edition):
    out, manifest = edition
    for rel, cells in manifest.notebooks.items():
        nb = nbformat.read(out / rel, as_version=4)
        for entry in cells:
            cell = nb.cells[entry["cell"]]
            if cell.cell_type == "code" and "raises-exception" in cell.metadata.get("tags", []):
                assert "YOUR CODE HERE" in cell.source and "raise NotImplementedError" in cell.source
                with pytest.raises(NotImplementedError):
                    exec(compile(cell.source, rel, "exec"), {})
            elif cell.cell_type == "code":  # exercise stubs: raise inside functions, or `name = ...`
                assert "YOUR CODE HERE" in cell.source or "YOUR ANSWER HERE" in cell.source
            else:
                assert "Your answer here" in cell.source


def test_non_exercise_cells_are_unchanged(edition):
    out, manifest = edition
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        original = nbformat.read(path, as_version=4)
        student = nbformat.read(out / "notebooks" / path.name, as_version=4)
        stubbed = {e["cell"] for e in manifest.notebooks[f"notebooks/{path.name}"]}
        assert len(original.cells) == len(student.cells)
        for i, (a, b) in enumerate(zip(original.cells, student.cells)):
            if cell_info(a).get("role") == "check":  # only the nbval marker line goes
                assert b.source == a.source.replace("# NBVAL_CHECK_OUTPUT\n", "")
            elif i not in stubbed:
                assert a.source == b.source, f"{path.name} cell {i} changed"


# Running the student edition's notebooks (non-exercise cells run, stubs raise) is in
# test_notebook_sandbox.py, which executes them once with the network blocked.


def test_stub_titles_with_quotes_still_compile():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('# Exercise 2: move "both wrong" images\nx = 1')]
    nb.cells[0].metadata["tags"] = ["solution"]
    nb, _, _ = strip_notebook(nb, "demo.ipynb")
    with pytest.raises(NotImplementedError, match='move "both wrong" images'):
        exec(compile(nb.cells[0].source, "demo", "exec"), {})


def test_nbgrader_markers_replace_only_the_marked_lines():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"# Exercise 4\nx = 1\n{BEGIN}\ny = secret_formula(x)\n{END}\nprint(y)"),
                nbformat.v4.new_markdown_cell(f"Why?\n\n{BEGIN}\nBecause of the secret.\n{END}")]
    nb, stripped, _ = strip_notebook(nb, "demo.ipynb")
    code, md = nb.cells
    assert "secret_formula" not in code.source and "x = 1" in code.source and "print(y)" in code.source
    assert "raise NotImplementedError" in code.source and "raises-exception" in code.metadata["tags"]
    assert "secret" not in md.source and md.source.startswith("Why?")
    assert [s["how"] for s in stripped] == ["markers", "markers"]


@pytest.mark.parametrize("source,words", [(f"{BEGIN}\nx = 1", "never closed"),
                                          (f"x = 1\n{END}", "without a"),
                                          (f"{BEGIN}\n{BEGIN}\n{END}", "inside another")])
def test_broken_markers_name_the_notebook_and_cell(source, words):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("intro"), nbformat.v4.new_code_cell(source)]
    with pytest.raises(ValueError, match=f"demo.ipynb cell 1.*{words}"):
        strip_notebook(nb, "demo.ipynb")


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        make_student_edition(tmp_path / "full", root=REPO)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="overwrite the course"):
        make_student_edition(REPO / "notebooks", root=REPO, force=True)


def test_cli_writes_the_edition(tmp_path, capsys):
    from carcourse.cli import main

    assert main(["student", "--out", str(tmp_path / "s")]) == 0
    assert "solution cells replaced" in capsys.readouterr().out
    assert main(["student", "--out", str(tmp_path / "s")]) == 2  # not empty: a clear error
    assert "--force" in capsys.readouterr().err


def test_student_readme_says_which_edition_it_is(edition):
    out, _ = edition
    first = (out / "README.md").read_text().splitlines()[0]
    assert "Student edition" in first and "`answers/`" in first and "make lab" in first


def test_instructor_only_readme_passages_are_removed(tmp_path):
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    (root / "carcourse").mkdir()
    (root / "README.md").write_text("| 01 | count steps<!-- instructor -->: 132 per epoch<!-- /instructor --> |\n"
                                    "## Training\n### One full run\nverdict\n## Next\n")
    m = make_student_edition(tmp_path / "out", root=root)
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| 01 | count steps |" in text and "132" not in text and "verdict" not in text and "## Next" in text
    assert "README.md: 1 instructor-only passage(s)" in m.left_out
