"""The course's notebooks run once per test session, in a sandbox: networking blocked at the
socket level (tests/sandbox/sitecustomize.py), HOME pointed at an empty folder, and the course's
files watched.

- The instructor notebooks run under nbval (`--nbval-lax`: the `# NBVAL_CHECK_OUTPUT` cells are
  compared with their stored outputs, every cell must run) in a child pytest with the sandbox's
  environment: that one run is both the notebook test and the sandbox test.
- The student edition differs from them only in its exercise sections (its other cells are
  byte-for-byte the same: test_student.py::test_non_exercise_cells_are_unchanged), and the
  exercise sections are self-contained (their own setup cell), so only those sections of the
  student edition run, in seconds: every stub must leave its check saying "not attempted yet".
"""
import os
import subprocess
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


# Two notebooks at a time, each in its own kernel (pytest-xdist is a dev dependency): nbval keeps
# a notebook's cells in order on one worker under --dist loadscope (nbval's README, "Parallel
# execution"). Much of a quick-mode notebook is single-threaded (imports, plotting), so two
# overlap well on two cores.
NBVAL_PARALLEL = ["-n", "2", "--dist", "loadscope"]


SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", "artifacts", "runs", ".ipynb_checkpoints"}


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under root, outside caches, the venv and run folders."""
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and not SKIP_DIRS & set(rel.parts) and not rel.parts[0].endswith(".egg-info"):
            st = p.stat()
            out[str(rel)] = (st.st_size, st.st_mtime_ns)
    return out


def _execute(path: Path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """Environment of the sandbox (a dict for subprocess calls) and its network log and HOME."""
    tmp = tmp_path_factory.mktemp("sandbox")
    home, log = tmp / "home", tmp / "network.log"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR")
           and not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    env.update(PYTHONPATH=os.pathsep.join([str(SANDBOX), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               CARCOURSE_NET_LOG=str(log), HOME=str(home), CARCOURSE_QUICK="1", MPLBACKEND="Agg",
               CARCOURSE_PROGRESS="text")
    return dict(env=env, home=home, log=log, tmp=tmp)


def _in(sandbox):
    mp = pytest.MonkeyPatch()
    for name in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR"):
        mp.delenv(name, raising=False)
    for k, v in sandbox["env"].items():
        mp.setenv(k, v)
    return mp


@pytest.fixture(scope="module")
def probe(sandbox):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, urllib.request\nprint('sandbox', os.environ.get('CARCOURSE_SANDBOX'))\n"
        "try:\n    urllib.request.urlopen('http://download.pytorch.org/', timeout=5)\n"
        "except OSError as e:\n    print('refused:', e)")]
    path = sandbox["tmp"] / "probe.ipynb"
    nbformat.write(nb, path)
    mp = _in(sandbox)
    try:
        out = _execute(path).cells[0].outputs
    finally:
        mp.undo()
    log = sandbox["log"].read_text() if sandbox["log"].exists() else ""
    sandbox["log"].unlink(missing_ok=True)
    return dict(text="".join(o.get("text", "") for o in out), log=log)


@pytest.fixture(scope="module")
def nbval_run(sandbox, probe):
    """nbval over the instructor notebooks, once, inside the sandbox (in place: notebooks may
    write only under a runs/ folder)."""
    artifacts = Path(os.environ.get("CARCOURSE_ARTIFACTS", REPO / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    before = _files(REPO)
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "notebooks", "-p", "no:cacheprovider",
           "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-q",
           f"--junitxml={artifacts / 'nbval-report.xml'}", *NBVAL_PARALLEL]
    r = subprocess.run(cmd, cwd=REPO, env=sandbox["env"], capture_output=True, text=True, timeout=3600)
    return dict(returncode=r.returncode, output=r.stdout + r.stderr, before=before, after=_files(REPO))


@pytest.fixture(scope="module")
def stub_run(sandbox, probe, tmp_path_factory):
    """The exercise sections of the student edition (setup, stubs, checks), executed."""
    course = tmp_path_factory.mktemp("student") / "course"
    make_student_edition(course, root=REPO)
    before = _files(course)
    executed = {}
    mp = _in(sandbox)
    try:
        for path in sorted((course / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            start = next(i for i, c in enumerate(nb.cells)
                         if c.cell_type == "markdown" and c.source.lstrip().startswith("## Exercises"))
            nb.cells = nb.cells[start:]
            part = path.with_name(path.stem + "_exercises.ipynb")
            nbformat.write(nb, part)
            executed[path.name] = _execute(part)
            part.unlink()
    finally:
        mp.undo()
    return dict(course=course, before=before, executed=executed)


def test_the_sandbox_blocks_the_network(probe):
    assert "sandbox 1" in probe["text"]
    assert "refused:" in probe["text"] and "blocked" in probe["text"]
    assert "download.pytorch.org" in probe["log"]


def test_instructor_notebooks_pass_nbval_in_the_sandbox(nbval_run):
    assert nbval_run["returncode"] == 0, nbval_run["output"][-6000:]
    assert " passed" in nbval_run["output"]


def test_only_exercise_stubs_raise_in_the_student_edition(stub_run):
    executed = stub_run["executed"]
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


def test_every_exercise_check_reports_not_attempted_on_the_stubs(stub_run):
    from carcourse.checks import EXERCISES
    from carcourse.notebook_cells import cell_info

    seen = []
    for name, nb in stub_run["executed"].items():
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


def test_notebooks_never_reach_the_network(nbval_run, stub_run, sandbox):
    log = sandbox["log"]
    assert not log.exists(), "network attempts:\n" + log.read_text()


def test_notebooks_write_nothing_outside_a_run_folder(nbval_run, stub_run, sandbox):
    for before, after in ((nbval_run["before"], nbval_run["after"]),
                          (stub_run["before"], _files(stub_run["course"]))):
        changed = sorted(k for k, v in after.items() if before.get(k) != v)
        assert changed == [], f"written outside runs/: {changed}"
    home_files = sorted(str(p.relative_to(sandbox["home"])) for p in sandbox["home"].rglob("*") if p.is_file())
    stray = [f for f in home_files if not f.startswith(HOME_CACHES)]
    assert stray == [], f"written in HOME: {stray}"
