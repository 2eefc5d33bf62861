"""The exercises' self-checks: each passes the instructor's solution, says "not attempted yet" on
the student's stub, catches every classic mistake of the catalogue with that mistake's own
diagnosis, and never shows the solution."""
from pathlib import Path

import pytest
import torch

from carcourse.checks import EXERCISES, check, run_check
from carcourse.mistakes import CATALOGUE, format_mutants, load_solutions, run_catalogue, verify_exercises
from carcourse.student import drop_sections, stub_source

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def code():
    return load_solutions(REPO)


@pytest.fixture(scope="module")
def verdicts(code):
    return {v.exercise: v for v in verify_exercises(code)}


@pytest.fixture(scope="module")
def mutants(code):
    return {r.mistake.name: r for r in run_catalogue(code)}


def test_every_registered_exercise_has_an_answer_cell_and_a_check_cell_in_its_notebook(code):
    import nbformat
    from carcourse.notebook_cells import find_cells

    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = find_cells(nb, path.name)
        ids = [e for e in EXERCISES if e.startswith(cells.notebook + ".")]
        assert ids and sorted(cells.answers) == ids == sorted(cells.checks), path.name
        for ex in ids:  # the check cell follows its answer and calls the check with the right names
            assert cells.checks[ex] == cells.answers[ex] + 1
            assert EXERCISES[ex].call_source() in nb.cells[cells.checks[ex]].source


@pytest.mark.parametrize("exercise", list(EXERCISES))
def test_check_passes_the_solution_and_reports_the_stub_as_not_attempted(verdicts, exercise):
    v = verdicts[exercise]
    assert v.solution.status == "passed", v.solution.message
    assert v.stub.status == "not attempted", v.stub.message


@pytest.mark.parametrize("name", [m.name for m in CATALOGUE])
def test_each_classic_mistake_is_caught_with_its_own_diagnosis(mutants, name):
    r = mutants[name]
    assert r.caught, r.message
    assert r.result.line().startswith(f"Exercise {r.mistake.exercise}: not yet right: ")


def test_the_catalogue_has_at_least_twelve_mistakes_with_distinct_diagnoses_per_exercise():
    assert len(CATALOGUE) >= 12
    pairs = [(m.exercise, m.diagnosis) for m in CATALOGUE]
    assert len(pairs) == len(set(pairs))


def test_messages_never_show_the_solution(code, mutants):
    for r in mutants.values():
        solution = code.answers[r.mistake.exercise]
        for line in solution.splitlines():
            line = line.strip()
            if len(line) > 12 and not line.startswith(("#", "def ")):
                assert line not in r.message, f"{r.mistake.name}: message quotes {line!r}"


def test_check_prints_one_line(capsys):
    check("01.3", 2, 8)
    assert capsys.readouterr().out == "Exercise 01.3: passed.\n"
    check("01.3", ..., ...)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "not attempted yet" in out


def test_a_right_answer_written_differently_passes():
    assert run_check("01.1", lambda n, b, drop_last=False: n // b if drop_last else -(-n // b),
                     lambda n, b: n % b or b).passed
    assert run_check("02.1", lambda model, x: torch.max(model.eval()(x), 1)[1]).passed
    assert run_check("04.1", lambda z, y: torch.nn.functional.nll_loss(torch.log_softmax(z, 1), y)).passed
    assert run_check("03.3", lambda z: torch.softmax(z, -1)).passed


def test_a_crashing_answer_is_named_without_a_traceback():
    def steps(n, b, drop_last=False):
        raise ValueError("oops")

    r = run_check("01.1", steps, None)
    assert r.status == "wrong" and "raised ValueError: oops" in r.message and "Traceback" not in r.message


def test_unknown_exercise_and_wrong_call_are_reported_not_raised():
    assert "no exercise '9.9'" in run_check("9.9", 1).message
    assert "takes 2 answer(s)" in run_check("01.3", 2).message


def test_checks_leave_the_students_random_state_alone():
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    run_check("01.4", lambda *args: 0.0)
    assert torch.equal(torch.rand(3), a)


def test_answer_lines_become_ellipsis_stubs_and_function_stubs_do_not_raise_at_top_level():
    src = "# Exercise 2\nx = 132  ### ANSWER\na, b = 1, 2  ### ANSWER\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    stub, n, raises = stub_source(src)
    assert n == 3 and not raises
    assert "x = ...  # YOUR ANSWER HERE" in stub and "a, b = ..., ...  # YOUR ANSWER HERE" in stub and "132" not in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"]()
    with pytest.raises(ValueError, match="must end a line"):
        stub_source("print(1)  ### ANSWER")


def test_readme_sections_are_dropped_up_to_the_next_heading_of_the_same_level():
    text = "# T\n## A\nkeep\n### One full run\nresults\n#### detail\nmore\n### Next\nkeep too\n"
    out, dropped = drop_sections(text, ("One full run",))
    assert out == "# T\n## A\nkeep\n### Next\nkeep too\n" and dropped == ["One full run"]


def test_cli_checks_mutants_ends_with_caught_n_of_n(capsys):
    from carcourse.cli import main

    assert main(["checks", "--mutants"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    n = len(CATALOGUE)
    assert last == f"caught {n} of {n} mistakes" and n >= 12


def test_a_missed_mistake_fails_the_table(code):
    from carcourse.mistakes import Mistake

    harmless = Mistake("mean written as sum / len", "04.1", ((".mean()", ".sum() / len(labels)"),), "probabilities fed")
    stale = Mistake("edit that no longer applies", "04.1", (("no such text", "x"),), "sum not mean")
    results = run_catalogue(code, (harmless, stale))
    assert [r.caught for r in results] == [False, False]
    assert "said 'passed'" in results[0].message and "matches 0 times" in results[1].message
    assert format_mutants(results).splitlines()[-1] == "caught 0 of 2 mistakes"
