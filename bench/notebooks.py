"""Each notebook's quick-mode wall time under nbclient (what `make notebooks` costs), and the
total against the goal of 3 minutes on 2 cores. Run: python -m bench --only notebooks"""
import json
import os
import time
from pathlib import Path

GOAL_SECONDS = 180
ROOT = Path(__file__).resolve().parents[1]


def main(quick: bool = True) -> dict:
    import nbformat
    from nbclient import NotebookClient

    os.environ["CARCOURSE_QUICK"] = "1"  # the CI setting, whatever --quick says
    os.environ.setdefault("MPLBACKEND", "Agg")
    times = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        times[path.name] = round(time.perf_counter() - t0, 1)
        print(f"{path.name:36s} {times[path.name]:6.1f} s", flush=True)
    total = round(sum(times.values()), 1)
    print(f"{'total':36s} {total:6.1f} s (goal <= {GOAL_SECONDS} s on 2 cores: "
          f"{'met' if total <= GOAL_SECONDS else 'NOT met'})")
    result = {"seconds": times, "total_seconds": total, "goal_seconds": GOAL_SECONDS}
    print(json.dumps({"notebooks": result}))
    return result


if __name__ == "__main__":
    main()
