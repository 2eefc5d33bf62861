"""Where the exercises sit in a notebook: cell and notebook metadata, not positions or file names.

Each exercise cell carries ``metadata["carcourse"] = {"exercise": "01.1", "role": "answer"}`` (the
student's answer) or ``{"exercise": "01.1", "role": "check"}`` (the check call after it); the cell
that imports what the exercises need carries ``{"role": "setup"}``; the notebook itself carries
``metadata["carcourse"] = {"notebook": "01"}``. JupyterLab keeps cell metadata when cells are moved,
copied or the notebook is renamed, so the grader finds exercises by these keys.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEY = "carcourse"
ANSWER, CHECK, SETUP = "answer", "check", "setup"


def cell_info(cell: Any) -> dict[str, str]:
    info = cell.get("metadata", {}).get(KEY, {})
    return info if isinstance(info, dict) else {}


@dataclass
class ExerciseCells:
    """The cells of one notebook that belong to the exercises, by exercise id."""

    notebook: str | None
    setup: list[int] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)


def notebook_id(nb: Any, filename: str | Path = "") -> str | None:
    """The course notebook this is ("01" …): its metadata, else its exercise cells, else its file name."""
    info = nb.get("metadata", {}).get(KEY, {})
    if isinstance(info, dict) and info.get("notebook"):
        return str(info["notebook"])
    for cell in nb.get("cells", []):
        ex = cell_info(cell).get("exercise")
        if ex:
            return str(ex).split(".")[0]
    m = re.match(r"(\d\d)_", Path(str(filename)).name)
    return m.group(1) if m else None


def find_cells(nb: Any, filename: str | Path = "") -> ExerciseCells:
    found = ExerciseCells(notebook_id(nb, filename))
    for i, cell in enumerate(nb.get("cells", [])):
        info = cell_info(cell)
        role, ex = info.get("role"), info.get("exercise")
        if role == SETUP:
            found.setup.append(i)
        elif role == ANSWER and ex:
            found.answers.setdefault(str(ex), i)
        elif role == CHECK and ex:
            found.checks.setdefault(str(ex), i)
    return found
