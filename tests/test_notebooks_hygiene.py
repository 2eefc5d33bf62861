"""Notebooks are committed small and clean: outputs only where nbval compares them, no execution
counts, the course kernel, a 'you will learn' opening and solution-tagged exercises."""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"


def _load(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_small_and_stripped(path):
    assert path.stat().st_size < 500 * 1024, f"{path.name} is over 500 KB"
    nb = _load(path)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if CHECK not in source:
            assert cell.get("execution_count") is None, f"{path.name} cell {i}: execution count kept"
            assert not cell.get("outputs"), f"{path.name} cell {i}: output kept but nbval does not check it"
        else:
            assert cell.get("outputs"), f"{path.name} cell {i}: check cell without a stored output"
            kinds = {o["output_type"] for o in cell["outputs"]}
            assert kinds <= {"stream", "execute_result"}, f"{path.name} cell {i}: {kinds}"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "carcourse"
    assert "widgets" not in nb["metadata"], f"{path.name}: saved widget state (PNG frames and all)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_goals_and_ends_with_tagged_solutions(path):
    nb = _load(path)
    first = "".join(nb["cells"][0]["source"]).lower()
    assert nb["cells"][0]["cell_type"] == "markdown" and "you will learn" in first
    tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
    assert "solution" in tags, f"{path.name}: no cell tagged 'solution'"
    assert any(CHECK in "".join(c["source"]) for c in nb["cells"]), f"{path.name}: nothing for nbval to check"
