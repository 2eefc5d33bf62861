"""torchrun with 2 CPU processes (gloo) trains the exercise's comparison and writes a report of
the same shape as the single-process run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _shape(value):
    """The report's structure: keys and types, not values. Numbers and null are one type: a
    statistic can be undefined in one run and not in the other (e.g. McNemar's p with no
    disagreements, an interval at an error rate of 0)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("command",)}
    if isinstance(value, list):
        return ["list"]
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number or null"
    return type(value).__name__


def test_torchrun_two_cpu_processes_match_the_single_process_report(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun comes with torch; it must be installed next to python"
    env = {**os.environ, "CARCOURSE_QUICK": "1", "OMP_NUM_THREADS": "1"}
    args = ["compare", "--quick", "--epochs", "1", "--no-progress"]
    multi = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "carcourse", *args,
                            "--out", str(tmp_path / "ddp")], capture_output=True, text=True, env=env,
                           timeout=600)
    assert multi.returncode == 0, multi.stdout[-2000:] + multi.stderr[-4000:]
    assert multi.stdout.count("wrote ") == 1  # only rank 0 reports
    single = subprocess.run([sys.executable, "-m", "carcourse", *args, "--out", str(tmp_path / "one")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "report.json").read_text())
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    assert ddp["run"]["world_size"] == 2 and one["run"]["world_size"] == 1
    assert ddp["run"]["command"].startswith("torchrun --nproc_per_node=2")
    assert _shape(ddp) == _shape(one)
    for name, m in ddp["models"].items():
        cm = m["confusion_matrix"]
        assert [sum(r) for r in cm] == [sum(r) for r in one["models"][name]["confusion_matrix"]]
        assert m["epochs"] == 1
    assert {p.name for p in (tmp_path / "ddp").iterdir()} == {p.name for p in (tmp_path / "one").iterdir()}
