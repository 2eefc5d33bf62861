"""bench/gpu.py cannot be measured without a GPU; its --smoke mode runs every step at tiny sizes
on any device, so the script a GPU session runs once is known to work."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_bench_smoke_runs_every_step_on_cpu():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke", "--device", "cpu"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])["gpu_bench"]
    assert [m["model"] for m in out["models"]] == ["cnn", "resnet18"]
    for m in out["models"]:
        assert m["images_per_second"] > 0 and m["bare_images_per_second"] > 0
        assert 0.05 < m["gflop_per_image"] < 10  # forward + backward of one 64×64 image
    assert out["residency"]["checked"] is False and "cpu" in out["residency"]["why"]
    assert out["compare_seconds"] > 0 and set(out["compare_accuracy"]) == {"cnn", "resnet18"}
