"""Grade a folder of submitted notebooks into a CSV: student file, notebook, exercise, passed, message.

For each submission the grader

1. finds which course notebook it is from the notebook's ``carcourse`` metadata (else its
   exercise cells, else a file name ``NN_*``), so a renamed file still grades;
2. finds each exercise's answer cell by its cell metadata (`carcourse.notebook_cells`), never by
   position; drops the student's own check cells and puts its own check cell after each answer
   and one more for every exercise at the end of the notebook, so an answer that relies on a
   cell the student moved below it still grades (an exercise passes when either check passes; an
   exercise whose answer cell is gone is checked at the end only, and the message says so);
3. executes the result in a fresh Jupyter kernel (a separate process) in a temporary folder, with
   a per-cell timeout, quick mode and errors allowed, so one broken cell does not hide the rest;
4. reads the results the grader's cells wrote, and reports every exercise the notebook should
   have, including those whose check never ran (with the reason: timeout, kernel died, …).

Isolation, honestly: the kernel is a separate process with a timeout and its own working folder,
so a hanging or crashing submission cannot stop the grading run. It is *not* a sandbox: the code
runs as the grading user, can read and write that user's files and reach the network, has no
memory limit beyond the machine's, and could forge its results (e.g. by writing to the results
file or replacing `carcourse.checks`). For high-stakes grading run the command inside a container
or VM with no network and a throw-away home directory.

This is an instructor tool (left out of the student edition).
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any, Iterator

import nbformat

from .checks import EXERCISES, GRADE_LOG_ENV, exercises_of
from .notebook_cells import CHECK, KEY, cell_info, find_cells


@dataclass(frozen=True)
class GradeRow:
    """One line of the grades CSV."""

    student_file: str
    notebook: str
    exercise: str
    passed: bool
    message: str


def _grader_cell(exercise_ids: list[str], where: str) -> Any:
    lines = ["import carcourse.checks as _carcourse_checks"]
    for ex in exercise_ids:
        names = EXERCISES[ex].answers
        lines.append(f'_carcourse_checks.record("{ex}", lambda: ({", ".join(names)},), "{where}")')
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata[KEY] = {"role": "grader", "where": where}
    return cell


def prepare(nb: Any, filename: str, exercises_only: bool = False) -> tuple[Any, str | None, dict[str, str]]:
    """The notebook the grader executes: student check cells replaced by the grader's own.
    Returns (notebook, course notebook id, notes per exercise)."""
    cells = find_cells(nb, filename)
    notes: dict[str, str] = {}
    if cells.notebook is None:
        return nb, None, notes
    expected = [e.id for e in exercises_of(cells.notebook)]
    answer_at = {i: ex for ex, i in cells.answers.items() if ex in EXERCISES}
    keep_roles = {"setup", "answer"}
    out = []
    for i, cell in enumerate(nb.cells):
        role = cell_info(cell).get("role")
        if role == CHECK:
            continue
        if exercises_only and (cell.cell_type != "code" or role not in keep_roles):
            continue
        if cell.cell_type == "code":  # a stale output or count must not look like a result
            cell.outputs, cell.execution_count = [], None
        out.append(cell)
        if i in answer_at:
            out.append(_grader_cell([answer_at[i]], "after answer"))
    for ex in expected:
        if ex not in cells.answers:
            notes[ex] = (f"answer cell for {ex} not found (deleted, or its cell metadata removed); "
                         "checked against what the rest of the notebook defines")
    out.append(_grader_cell(expected, "end"))
    nb.cells = out
    return nb, cells.notebook, notes


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(nb: Any, workdir: Path, log: Path, timeout: int) -> str:
    """Run the notebook in a fresh kernel; returns "" or why execution stopped early."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            startup_timeout=120, resources={"metadata": {"path": str(workdir)}})
    with _environment(**{GRADE_LOG_ENV: str(log), "CARCOURSE_QUICK": "1", "MPLBACKEND": "Agg"}):
        try:
            client.execute()
        except CellTimeoutError:
            return f"a cell ran longer than {timeout} s and the kernel was stopped"
        except DeadKernelError:
            return "the kernel died (out of memory, or the code exited Python)"
        except Exception as exc:  # a kernel that never started, a broken notebook format, …
            return f"execution failed: {type(exc).__name__}: {exc}"
    return ""


def grade_notebook(path: str | Path, timeout: int = 300, exercises_only: bool = False,
                   name: str | None = None) -> list[GradeRow]:
    """Grade one submitted notebook: one row per exercise of its course notebook."""
    path = Path(path)
    name = name or path.name
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        return [GradeRow(name, "", "", False, f"not a readable notebook: {type(exc).__name__}: {exc}")]
    nb, notebook, notes = prepare(nb, path.name, exercises_only)
    if notebook is None:
        return [GradeRow(name, "", "", False, "cannot tell which course notebook this is: no carcourse "
                         "metadata, no exercise cells and the file name does not start with NN_")]
    expected = [e.id for e in exercises_of(notebook)]
    if not expected:
        return [GradeRow(name, notebook, "", False, f"the course has no checked exercises for notebook {notebook}")]
    with tempfile.TemporaryDirectory(prefix="carcourse-grade-") as tmp:
        log = Path(tmp) / "results.jsonl"
        work = Path(tmp) / "work"
        work.mkdir()
        stopped = _execute(nb, work, log, timeout)
        results: dict[str, dict[str, Any]] = {}
        if log.exists():
            for line in log.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    ex = str(entry["exercise"])
                except (ValueError, KeyError, TypeError):
                    continue
                if ex not in results or results[ex].get("status") != "passed":  # a pass stands
                    results[ex] = entry
    rows = []
    for ex in expected:
        note = notes.get(ex, "")
        entry = results.get(ex)
        if entry is None:
            why = stopped or "its check cell did not run"
            rows.append(GradeRow(name, notebook, ex, False, "; ".join(filter(None, [note, f"not graded: {why}"]))))
            continue
        status = entry.get("status")
        message = {"passed": "passed", "not attempted": f"not attempted: {entry.get('message', '')}"}.get(
            status, f"wrong: {entry.get('message', '')}")
        rows.append(GradeRow(name, notebook, ex, status == "passed", "; ".join(filter(None, [note, message]))))
    return rows


def grade_folder(folder: str | Path, timeout: int = 300, exercises_only: bool = False) -> list[GradeRow]:
    """Grade every notebook under `folder` (recursively, checkpoints skipped), in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise ValueError(f"{folder} holds no .ipynb files")
    rows: list[GradeRow] = []
    for p in paths:
        rows += grade_notebook(p, timeout, exercises_only, name=str(p.relative_to(folder)))
    return rows


def write_csv(rows: list[GradeRow], out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([f.name for f in fields(GradeRow)])
        writer.writerows(astuple(r) for r in rows)
    shutil.move(tmp, out)
    return out
