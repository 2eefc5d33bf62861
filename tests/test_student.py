"""`python -m carcourse student`: the student edition has no solutions, no outputs, no answers."""
import json
import os
from pathlib import Path

import nbformat
import pytest

from carcourse.student import BEGIN, END, make_student_edition, strip_notebook

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


def test_student_edition_has_no_answers_and_keeps_the_library(edition):
    out, manifest = edition
    assert not (out / "answers").exists() and not (out / "tests").exists()
    assert (out / "carcourse" / "train.py").exists() and (out / "environment.yml").exists()
    assert "answers" in manifest.left_out
    saved = json.loads((out / "STUDENT_EDITION.json").read_text())
    assert saved["stubs"] == manifest.stubs == len(list(_solution_cells())) > 0


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
            if cell.cell_type == "code":
                assert "YOUR CODE HERE" in cell.source and "raise NotImplementedError" in cell.source
                assert "raises-exception" in cell.metadata["tags"]
                with pytest.raises(NotImplementedError):
                    exec(compile(cell.source, rel, "exec"), {})
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
            if i not in stubbed:
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
