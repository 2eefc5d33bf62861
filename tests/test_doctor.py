"""`python -m carcourse doctor` reports on this machine and fails clearly when a package is missing.

Two runs go through the command line as a student types it; the failures are provoked in this
process (an environment variable, a package hidden from import), where they cost no interpreter
start."""
import json
import os
import subprocess
import sys

import pytest

from carcourse import doctor


def _doctor(*args, env=None):
    return subprocess.run([sys.executable, "-m", "carcourse", "doctor", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_doctor_passes_here_and_names_the_device():
    r = _doctor()
    assert r.returncode == 0, r.stdout + r.stderr
    for words in ("torch", "ipywidgets", "jupyterlab", "device", "cpu", "quick mode", "widgets front end", "disk"):
        assert words in r.stdout
    assert "ready" in r.stdout.splitlines()[-1]


def test_doctor_json_lists_every_check_and_shows_the_preset_sizes():
    r = _doctor("--json", env={"CARCOURSE_QUICK": "1"})
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    assert checks["torch"]["status"] == "ok"
    assert checks["quick mode"]["found"].startswith("on")
    assert "640 training images" in checks["quick mode"]["found"] and "3 epochs per model" in checks["quick mode"]["found"]
    assert checks["device"]["found"].startswith("cpu")


def _doctor_here(capsys) -> tuple[int, str]:
    code = doctor.main()
    return code, capsys.readouterr().out


def test_doctor_fails_with_the_fix_when_a_package_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now raises ModuleNotFoundError
    code, out = _doctor_here(capsys)
    assert code == 1
    assert "[FAIL] ipywidgets" in out and "cannot import: ModuleNotFoundError" in out
    assert "fix: pip install ipywidgets" in out
    assert "cannot run" in out.splitlines()[-1]


def test_doctor_reports_an_unavailable_device_as_a_failure(monkeypatch, capsys):
    monkeypatch.setenv("CARCOURSE_DEVICE", "cuda:3")
    code, out = _doctor_here(capsys)
    assert code == 1 and "[FAIL] device" in out and "cuda:3" in out


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_doctor_names_a_bad_quick_setting(monkeypatch, capsys, value):
    monkeypatch.setenv("CARCOURSE_QUICK", value)
    code, out = _doctor_here(capsys)
    assert code == 1 and "[FAIL] quick mode" in out and f"CARCOURSE_QUICK={value!r}" in out
