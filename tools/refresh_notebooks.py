"""Execute the notebooks in quick mode and keep only what nbval compares.

Outputs (and an execution count, without which nbval treats a cell as never run) stay in cells
marked `# NBVAL_CHECK_OUTPUT`, the only ones nbval --nbval-lax compares (their stdout and plain-text
results; progress goes to stderr and is dropped); every other output and execution count is
removed, so the committed notebooks stay small and diffs stay readable, and no widget view is
stored: a widget cell of a committed notebook is empty until it runs, never "model not found".
Widget state saved by JupyterLab is dropped too. Run after changing a notebook:

    CARCOURSE_QUICK=1 .venv/bin/python tools/refresh_notebooks.py [notebooks/01_*.ipynb ...]
"""
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECK = "# NBVAL_CHECK_OUTPUT"
WIDGET = "application/vnd.jupyter.widget-view+json"  # a view of a kernel object: never stored
ROOT = Path(__file__).resolve().parents[1]


def strip(nb) -> None:
    nb.metadata.pop("widgets", None)  # widget state saved by nbclient: large, and stale once reopened
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        if CHECK in cell.source:
            count += 1
            cell.execution_count = count  # nbval skips comparing cells it thinks were never run
            kept = []
            for out in cell.outputs:
                if out.output_type == "stream" and out.get("name") == "stdout":
                    kept.append(out)
                elif out.output_type == "execute_result" and WIDGET not in out.data:
                    out.execution_count = count
                    out.data = {k: v for k, v in out.data.items() if k == "text/plain"}
                    kept.append(out)
            cell.outputs = kept
        else:
            cell.outputs = []
        cell.metadata.pop("execution", None)


def refresh(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - t0
    strip(nb)
    nb.metadata["kernelspec"] = {"name": "carcourse", "display_name": "Python (carcourse)", "language": "python"}
    nbformat.write(nb, path)
    return seconds


if __name__ == "__main__":
    os.environ.setdefault("CARCOURSE_QUICK", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("CARCOURSE_PROGRESS", "text")  # bars as text on stderr, which strip() drops
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for p in paths:
        print(f"{p.name}: {refresh(p):.1f} s", flush=True)
