"""Each notebook's wall time under nbclient (what `make notebooks` costs), and the total against
the goal of 3 minutes on 2 cores in quick mode.

    python -m bench --only notebooks                  # quick mode (the CI setting)
    python -m bench.notebooks --full [--only 05,06]   # full mode: the exercise's sizes

Full mode also lists each notebook's slowest cells, so a long notebook says where its time goes.
Every line names the CPU path (native bf16 or not, an instruction-set cap) it was measured on."""
import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

GOAL_SECONDS = 180
ROOT = Path(__file__).resolve().parents[1]


def _cell_seconds(cell) -> float | None:
    """Seconds between the kernel starting a cell and replying, from nbclient's timing metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def _slowest_cells(nb, k: int = 3) -> list[dict]:
    cells = [(i, _cell_seconds(c), c.source.strip().splitlines()[0][:60] if c.source.strip() else "")
             for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    cells = sorted((c for c in cells if c[1] is not None), key=lambda c: -c[1])[:k]
    return [{"cell": i, "seconds": round(s, 1), "starts": first} for i, s, first in cells]


def _cpu_path() -> dict:
    from carcourse.config import cpu_has_bf16, isa_limited, pick_device
    return {"device": str(pick_device()), "cpu_bf16": cpu_has_bf16(), "isa_limited": isa_limited(),
            "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or os.cpu_count()}


def main(quick: bool = True, full: bool = False, only: str | None = None) -> dict:
    """Execute the notebooks top to bottom, one at a time, in quick mode (default; `quick` is
    accepted for `python -m bench` and ignored: quick mode is the CI setting) or `full` mode."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["CARCOURSE_QUICK"] = "0" if full else "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    wanted = [s.strip() for s in (only or "").split(",") if s.strip()]
    paths = [p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             if not wanted or any(p.name.startswith(w) for w in wanted)]
    if not paths:
        raise SystemExit(f"no notebook matches --only {only!r} in {ROOT / 'notebooks'}")
    mode = "full" if full else "quick"
    times, slowest = {}, {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=3600, kernel_name="python3", record_timing=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        times[path.name] = round(time.perf_counter() - t0, 1)
        slowest[path.name] = _slowest_cells(nb)
        cells = "; ".join(f"cell {c['cell']} {c['seconds']} s" for c in slowest[path.name])
        print(f"{path.name:36s} {times[path.name]:7.1f} s   slowest: {cells}", flush=True)
    total = round(sum(times.values()), 1)
    goal = f" (goal <= {GOAL_SECONDS} s on 2 cores: {'met' if total <= GOAL_SECONDS else 'NOT met'})"
    print(f"{'total':36s} {total:7.1f} s{goal if not full else ''}")
    result = {"mode": mode, **_cpu_path(), "seconds": times, "total_seconds": total,
              "slowest_cells": slowest}
    if not full:
        result["goal_seconds"] = GOAL_SECONDS
    print(json.dumps({"notebooks": result}))
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.notebooks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="the exercise's sizes (CARCOURSE_QUICK=0)")
    p.add_argument("--only", default=None, help="comma-separated notebook prefixes, e.g. 05,06")
    args = p.parse_args()
    main(full=args.full, only=args.only)
    sys.exit(0)
