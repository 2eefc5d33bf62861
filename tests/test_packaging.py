"""environment.yml and pyproject.toml must list the same packages, without upper pins."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda package name -> PyPI name


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def pyproject_packages() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = meta["dependencies"] + meta["optional-dependencies"]["dev"]
    return {_name(s): s for s in specs}


def environment_packages() -> dict[str, str]:
    found = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+[^#]*)", line)
        if not m or line.strip().startswith("- pip:"):
            continue
        spec = m.group(1).strip()
        name = _name(spec)
        if name in ("python", "pip", "-e"):
            continue
        found[CONDA_NAMES.get(name, name)] = spec
    return found


def test_environment_yml_and_pyproject_list_the_same_packages():
    py, env = pyproject_packages(), environment_packages()
    assert set(py) == set(env), (f"only in pyproject.toml: {sorted(set(py) - set(env))}; "
                                 f"only in environment.yml: {sorted(set(env) - set(py))}")


def test_no_upper_pins_that_would_fight_the_machines_torch():
    for name, spec in {**pyproject_packages(), **environment_packages()}.items():
        assert "<" not in spec and "==" not in spec, f"{name}: upper or exact pin {spec!r}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert readme.index("make lab") < 1500, "the README should open with the two commands"


def test_instructor_workflow_runs_make_test_and_keeps_artifacts_of_every_run():
    import yaml

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "notebooks.yml").read_text())
    steps = wf["jobs"]["test"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "make test" in runs and "carcourse doctor" in runs
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "artifacts/" in upload["with"]["path"]
    assert wf["jobs"]["test"]["env"]["CARCOURSE_QUICK"] == "1"
    makefile = (ROOT / "Makefile").read_text()
    assert "--junitxml=$(ARTIFACTS)/nbval-report.xml" in makefile  # nbval's report lands in artifacts/
    # the tests left out of make test run weekly (and on a manual run)
    slow = next(s for s in steps if "make test-slow" in s.get("run", ""))
    assert "schedule" in slow["if"] and "schedule" in wf[True] and "test-slow:" in makefile
    assert '-m "not slow"' in makefile
