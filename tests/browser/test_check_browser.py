"""A self-check's message as a student sees it in JupyterLab (headless Chromium).

Builds the student edition into a temporary folder, puts a classic wrong answer into exercise
04.1's answer cell (cross-entropy of softmax outputs: probabilities fed where logits belong) by
editing the notebook file, opens notebook 04 in JupyterLab and runs only the exercises' setup cell,
that answer and its check, then the untouched 04.2 stub and its check (not Run All: the lesson
cells above take minutes). The check cell must show "Exercise 04.1: not yet right" with that
mistake's own diagnosis, and 04.2's check "not attempted yet", with no traceback anywhere. The
expected lines come from carcourse.checks run on the same code in this process, so the test pins
what the notebook shows to what the check says, not to a paraphrase. Screenshot:
$CARCOURSE_ARTIFACTS/browser/check-wrong-answer.png."""
from __future__ import annotations

import time
from pathlib import Path

import nbformat

from carcourse.checks import NOT_ATTEMPTED, WRONG, CheckResult, run_check
from carcourse.mistakes import CATALOGUE
from carcourse.notebook_cells import ExerciseCells, find_cells
from carcourse.student import make_student_edition
from labdriver import ARTIFACTS, launch, open_page, run_cell, start_lab, wait_for_kernel

TIMEOUT_MS = 90_000
WRONG_BODY = "    return F.cross_entropy(torch.softmax(logits, 1), labels)\n"

# Every output of one cell: its MIME type (errors and stderr say so) and its text.
OUTPUTS = """cell => [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
  mime: o.getAttribute('data-mime-type') || '',
  text: o.innerText,
}))"""


def with_wrong_body(stub: str, function: str) -> str:
    """The answer cell `stub` with the body of `function` replaced by WRONG_BODY."""
    lines = stub.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(f"def {function}(")]
    if not starts:
        raise AssertionError(f"the student edition's answer cell has no `def {function}(`:\n{stub}")
    return "".join(lines[: starts[0] + 1]) + WRONG_BODY


def expected(setup: str, answer: str, exercise: str, function: str) -> CheckResult:
    """What the check says about `answer`, run here on the same code the notebook runs."""
    namespace: dict = {}
    exec(compile(setup + "\n" + answer, f"<{exercise} answer>", "exec"), namespace)
    return run_check(exercise, namespace[function])


def student_notebook_04(out: Path) -> tuple[Path, nbformat.NotebookNode, ExerciseCells]:
    make_student_edition(out)
    paths = sorted((out / "notebooks").glob("04_*.ipynb"))
    if len(paths) != 1:
        raise AssertionError(f"the student edition in {out} has {len(paths)} notebooks 04_*.ipynb")
    nb = nbformat.read(paths[0], as_version=4)
    cells = find_cells(nb, paths[0].name)
    for ex in ("04.1", "04.2"):
        if ex not in cells.answers or ex not in cells.checks:
            raise AssertionError(f"{paths[0].name} has no answer/check cell for exercise {ex}: {cells}")
    if not cells.setup:
        raise AssertionError(f"{paths[0].name} has no exercise setup cell")
    return paths[0], nb, cells


def test_check_cell_shows_the_mistakes_diagnosis_for_a_wrong_answer_in_jupyterlab(tmp_path):
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    path, nb, cells = student_notebook_04(tmp_path / "student")
    setup = "\n".join(nb.cells[i].source for i in cells.setup)
    stub_41, stub_42 = nb.cells[cells.answers["04.1"]].source, nb.cells[cells.answers["04.2"]].source
    wrong = with_wrong_body(stub_41, "cross_entropy")
    nb.cells[cells.answers["04.1"]].source = wrong
    nbformat.write(nb, path)

    want_wrong = expected(setup, wrong, "04.1", "cross_entropy")
    want_stub = expected(setup, stub_42, "04.2", "cross_entropy_grad")
    assert want_wrong.status == WRONG, want_wrong
    catalogued = {m.diagnosis: m.name for m in CATALOGUE if m.exercise == "04.1"}
    assert want_wrong.diagnosis in catalogued, (
        f"the check did not recognise a catalogued 04.1 mistake: {want_wrong}")
    assert want_stub.status == NOT_ATTEMPTED, want_stub

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "check-wrong-answer.png"
    errors: list[str] = []
    with start_lab(tmp_path / "lab", notebooks=path.parent) as lab, sync_playwright() as pw:
        browser = launch(pw)
        page = open_page(browser, errors, TIMEOUT_MS)
        try:
            page.goto(lab.url(path.name))
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            wait_for_kernel(page)
            dom_cells = page.locator(".jp-Notebook .jp-Cell")
            assert dom_cells.count() == len(nb.cells), "the page shows a different number of cells than the file"
            ran = [*cells.setup, cells.answers["04.1"], cells.checks["04.1"],
                   cells.answers["04.2"], cells.checks["04.2"]]
            for i in ran:
                run_cell(page, dom_cells.nth(i))
            outputs = {i: dom_cells.nth(i).evaluate(OUTPUTS) for i in ran}
            # the exercise's text, answer and check at the top of the screen for the screenshot
            dom_cells.nth(cells.answers["04.1"] - 1).evaluate("el => el.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot))
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "check-wrong-answer-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    check_41 = "\n".join(o["text"] for o in outputs[cells.checks["04.1"]])
    check_42 = "\n".join(o["text"] for o in outputs[cells.checks["04.2"]])
    for i, outs in outputs.items():
        bad = [o for o in outs if "error" in o["mime"] or "stderr" in o["mime"] or "Traceback" in o["text"]]
        assert not bad, f"cell {i} of {path.name} shows an error or a traceback: {bad}"
    assert "Exercise 04.1: not yet right" in check_41, check_41
    assert want_wrong.line() in check_41, f"the check cell shows {check_41!r}, the check says {want_wrong.line()!r}"
    assert want_wrong.message in check_41
    assert "Exercise 04.2: not attempted yet" in check_42, check_42
    assert want_stub.line() in check_42, f"the check cell shows {check_42!r}, the check says {want_stub.line()!r}"
    assert not errors, "JavaScript errors:\n" + "\n".join(errors)
    print(f"check browser test: {time.monotonic() - t0:.1f} s; 04.1 diagnosis {want_wrong.diagnosis!r} "
          f"({catalogued[want_wrong.diagnosis]}); screenshot {shot}")
