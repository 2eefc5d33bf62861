"""The course's notebooks, as a student receives them, run in a sandbox: networking blocked at the
socket level (tests/sandbox/sitecustomize.py), HOME pointed at an empty folder, and every file
in the course folder watched. Executed once (module fixture) for three checks: every non-exercise
cell runs and every exercise stub raises NotImplementedError (or, for the checked exercises, each
check cell says "not attempted yet" without a traceback); nothing tried to reach the network;
nothing was written outside a `runs/` folder (and, in HOME, only the usual tool caches).

The student edition's non-exercise cells are byte-for-byte those of notebooks/
(test_student.py::test_non_exercise_cells_are_unchanged); the solution cells are executed by
nbval in `make notebooks`."""
import os
import sys
from pathlib import Path

import nbformat
import pytest

from carcourse.student import make_student_edition

REPO = Path(__file__).resolve().parents[1]
SANDBOX = Path(__file__).resolve().parent / "sandbox"
# What Jupyter, IPython and matplotlib keep in HOME on their own (caches, runtime files).
HOME_CACHES = (".cache/matplotlib", ".config/matplotlib", ".cache/fontconfig", ".ipython",
               ".local/share/jupyter", ".jupyter")


def _files(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and "__pycache__" not in p.parts:
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _execute(path: Path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


@pytest.fixture(scope="module")
def sandbox_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandbox")
    course, home, log = tmp / "course", tmp / "home", tmp / "network.log"
    make_student_edition(course, root=REPO)
    home.mkdir()
    before = _files(course)
    probe = nbformat.v4.new_notebook()
    probe.cells = [nbformat.v4.new_code_cell(
        "import os, urllib.request\nprint('sandbox', os.environ.get('CARCOURSE_SANDBOX'))\n"
        "try:\n    urllib.request.urlopen('http://download.pytorch.org/', timeout=5)\n"
        "except OSError as e:\n    print('refused:', e)")]
    nbformat.write(probe, tmp / "probe.ipynb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(SANDBOX), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        mp.setenv("CARCOURSE_NET_LOG", str(log))
        mp.setenv("HOME", str(home))
        for name in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR"):
            mp.delenv(name, raising=False)
        mp.setenv("CARCOURSE_QUICK", "1")
        mp.setenv("MPLBACKEND", "Agg")
        probe_out = _execute(tmp / "probe.ipynb").cells[0].outputs
        probe_log = log.read_text() if log.exists() else ""
        log.unlink(missing_ok=True)
        executed = {p.name: _execute(p) for p in sorted((course / "notebooks").glob("*.ipynb"))}
    return dict(course=course, home=home, log=log, before=before, executed=executed,
                probe="".join(o.get("text", "") for o in probe_out), probe_log=probe_log)


def test_the_sandbox_blocks_the_network(sandbox_run):
    assert "sandbox 1" in sandbox_run["probe"]
    assert "refused:" in sandbox_run["probe"] and "blocked" in sandbox_run["probe"]
    assert "download.pytorch.org" in sandbox_run["probe_log"]


def test_every_notebook_ran_and_only_exercise_stubs_raised(sandbox_run):
    executed = sandbox_run["executed"]
    assert len(executed) == len(list((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))) >= 6
    for name, nb in executed.items():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if "raises-exception" in cell.metadata.get("tags", []):
                assert errors and errors[0].ename == "NotImplementedError", f"{name} cell {i}"
            else:
                assert not errors, f"{name} cell {i}: {errors[0].ename}: {errors[0].evalue}"


def test_every_exercise_check_reports_not_attempted_on_the_stubs(sandbox_run):
    from carcourse.checks import EXERCISES
    from carcourse.notebook_cells import cell_info

    seen = []
    for name, nb in sandbox_run["executed"].items():
        for i, cell in enumerate(nb.cells):
            info = cell_info(cell)
            if cell.cell_type != "code" or info.get("role") != "check":
                continue
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert not [o for o in cell.outputs if o.output_type == "error"], f"{name} cell {i}"
            assert text == f"Exercise {info['exercise']}: not attempted yet" + text.split("not attempted yet", 1)[1]
            assert text.count("\n") == 1 and "Traceback" not in text, f"{name} cell {i}: {text!r}"
            seen.append(info["exercise"])
    assert sorted(seen) == sorted(EXERCISES)  # every exercise is followed by its check call


def test_notebooks_never_reach_the_network(sandbox_run):
    log = sandbox_run["log"]
    assert not log.exists(), "network attempts:\n" + log.read_text()


def test_notebooks_write_nothing_outside_a_run_folder(sandbox_run):
    after = _files(sandbox_run["course"])
    changed = sorted(k for k, v in after.items() if sandbox_run["before"].get(k) != v
                     and "runs" not in Path(k).parts)
    assert changed == [], f"written outside runs/: {changed}"
    home_files = sorted(str(p.relative_to(sandbox_run["home"])) for p in sandbox_run["home"].rglob("*")
                        if p.is_file())
    stray = [f for f in home_files if not f.startswith(HOME_CACHES)]
    assert stray == [], f"written in HOME: {stray}"
