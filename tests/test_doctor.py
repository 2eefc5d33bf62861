"""`python -m carcourse doctor` reports on this machine and fails clearly when a package is missing."""
import json
import os
import subprocess
import sys


def _doctor(*args, env=None):
    return subprocess.run([sys.executable, "-m", "carcourse", "doctor", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_doctor_passes_here_and_names_the_device():
    r = _doctor()
    assert r.returncode == 0, r.stdout + r.stderr
    for words in ("torch", "ipywidgets", "jupyterlab", "device", "cpu", "quick mode", "widgets front end", "disk"):
        assert words in r.stdout
    assert "ready" in r.stdout.splitlines()[-1]


def test_doctor_json_lists_every_check():
    r = _doctor("--json", env={"CARCOURSE_QUICK": "1"})
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    assert checks["torch"]["status"] == "ok"
    assert checks["quick mode"]["found"].startswith("on")
    assert checks["device"]["found"].startswith("cpu")


def test_doctor_fails_with_the_fix_when_a_package_is_missing(tmp_path):
    fake = tmp_path / "ipywidgets"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('simulated: ipywidgets is not installed')\n")
    r = _doctor(env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 1
    assert "[FAIL] ipywidgets" in r.stdout and "simulated" in r.stdout
    assert "fix: pip install ipywidgets" in r.stdout
    assert "cannot run" in r.stdout.splitlines()[-1]


def test_doctor_reports_an_unavailable_device_as_a_failure():
    r = _doctor(env={"CARCOURSE_DEVICE": "cuda:3"})
    assert r.returncode == 1 and "[FAIL] device" in r.stdout and "cuda:3" in r.stdout


def test_doctor_names_a_bad_quick_setting_and_shows_the_preset_sizes():
    bad = _doctor(env={"CARCOURSE_QUICK": "maybe"})
    assert bad.returncode == 1 and "[FAIL] quick mode" in bad.stdout and "CARCOURSE_QUICK='maybe'" in bad.stdout
    quick = _doctor("--json", env={"CARCOURSE_QUICK": "1"})
    found = next(c["found"] for c in json.loads(quick.stdout) if c["name"] == "quick mode")
    assert "640 training images" in found and "3 epochs per model" in found
