"""The student edition: the course with the solutions taken out.

Convention (works alongside nbgrader habits):

* a cell tagged ``solution`` is replaced whole: a code cell by a stub that keeps its first
  comment line (e.g. ``# Exercise 2``), says what to write and raises NotImplementedError; a
  Markdown cell by "Your answer here";
* inside any code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are
  replaced by the same kind of stub (the rest of the cell stays);
* a line ``name = value  ### ANSWER`` (a structured answer: a number, a choice) becomes
  ``name = ...  # YOUR ANSWER HERE``, which the exercise's check reports as "not attempted yet";
* every output and execution count is cleared; a cell whose stub raises at top level gets the
  ``raises-exception`` tag, so "Run all" in JupyterLab and nbval carry on past an unsolved
  exercise (a stub inside a function body raises only when the function is called, i.e. in
  the check, which reports it without a traceback).

`answers/`, tests, benchmarks, CI files and the instructor-only modules (this one, the mistake
catalogue and the grader) stay out; the rest of the library and any `data/` go in. The README
loses its "One full run" section (measured results and the verdict, which answer Q8) and any text
between ``<!-- instructor -->`` and ``<!-- /instructor -->``. A manifest
(`STUDENT_EDITION.json`) lists what was stripped.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

SOLUTION_TAG = "solution"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
ANSWER_MARK = "### ANSWER"
ANSWER_LINE = re.compile(r"^(?P<lhs>\s*[A-Za-z_][\w, ]*?\s*=)\s*.*?\s*" + re.escape(ANSWER_MARK) + r"\s*$")
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
INCLUDE = ("carcourse", "notebooks", "data", "docs", "environment.yml", "pyproject.toml", "Makefile",
           "README.md", "LICENSE")
LEFT_OUT = ("answers", "tests", "bench", "tools", ".ci", ".github")
# Instructor tools inside the package: the edition generator, the mistake catalogue (its edits
# quote the solutions) and the grader. Students keep carcourse/checks.py, which they run.
INSTRUCTOR_MODULES = ("student.py", "mistakes.py", "grading.py")
README_LEFT_OUT = ("One full run",)  # README sections with measured results and the verdict (Q8)
# Any other README text that answers a question goes between these (inline or over several lines).
INSTRUCTOR_ONLY = re.compile(r"<!-- instructor -->.*?<!-- /instructor -->", re.S)
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
MARKDOWN_STUB = "**Your answer here.** (Replace this text with your answer.)"


@dataclass
class Manifest:
    """What the student edition changed: per notebook, the cells replaced; what was left out."""

    out: str
    notebooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outputs_cleared: int = 0
    left_out: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)

    @property
    def stubs(self) -> int:
        return sum(len(v) for v in self.notebooks.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stubs": self.stubs}


def _title(source: str) -> str:
    first = source.strip().splitlines()[0] if source.strip() else ""
    return first.lstrip("#").strip() if first.startswith("#") else ""


def _code_stub(title: str, indent: str = "") -> str:
    """What replaces solution code: a hint and a NotImplementedError naming the exercise."""
    what = title or "this exercise"
    lines = [f"# YOUR CODE HERE: write your solution to {what} (see the exercise text above).",
             f"raise NotImplementedError({what + ': not solved yet'!r})"]
    return "\n".join(indent + line for line in lines)


def _strip_answers(source: str) -> tuple[str, int]:
    """Replace the value of each ``name = value  ### ANSWER`` line by ``...``."""
    out, count = [], 0
    for line in source.splitlines():
        m = ANSWER_LINE.match(line)
        if m:
            names = m.group("lhs").rstrip("= ").split(",")
            out.append(f"{m.group('lhs')} {', '.join(['...'] * len(names))}  # YOUR ANSWER HERE")
            count += 1
        else:
            out.append(line)
    return "\n".join(out), count


def stub_source(source: str, where: str = "cell") -> tuple[str, int, bool]:
    """A code cell's student version: (source, regions replaced, whether it raises at top level)."""
    new, regions = _strip_regions(source, where)
    new, answers = _strip_answers(new)
    top_level = any(line.strip().startswith(BEGIN) and not line[:1].isspace() for line in source.splitlines())
    return new, regions + answers, top_level


def _strip_regions(source: str, where: str) -> tuple[str, int]:
    """Replace each BEGIN/END SOLUTION region by a stub; returns the new source and the count."""
    lines, out, inside, count = source.splitlines(), [], False, 0
    for no, line in enumerate(lines, 1):
        stripped = line.strip()
        if ANSWER_MARK in line and not inside and ANSWER_LINE.match(line) is None:
            raise ValueError(f"{where}: line {no}: '{ANSWER_MARK}' must end a line 'name = value'")
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"{where}: line {no}: '{BEGIN}' inside another solution region")
            inside, count = True, count + 1
            out.append(_code_stub(_title(source), indent=line[:len(line) - len(line.lstrip())]))
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"{where}: line {no}: '{END}' without a '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out), count


def strip_notebook(nb: Any, name: str = "notebook") -> tuple[Any, list[dict[str, Any]], int]:
    """Stub out solutions and clear outputs in place; returns (nb, stripped cells, outputs cleared)."""
    stripped, cleared = [], 0
    for i, cell in enumerate(nb.cells):
        tags = list(cell.metadata.get("tags", []))
        where = f"{name} cell {i}"
        if cell.cell_type == "code":
            cleared += len(cell.get("outputs", []))
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        if SOLUTION_TAG in tags:
            title = _title(cell.source) if cell.cell_type == "code" else ""
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            stripped.append({"cell": i, "type": cell.cell_type, "how": "tag", "title": title or first})
            tags.remove(SOLUTION_TAG)
            if cell.cell_type == "code":
                cell.source = f"# {title or 'Exercise'}\n" + _code_stub(title)
                tags.append("raises-exception")
            else:
                cell.source = MARKDOWN_STUB
            cell.metadata["tags"] = tags
        elif cell.cell_type == "code" and (BEGIN in cell.source or END in cell.source or ANSWER_MARK in cell.source):
            cell.source, n, raises = stub_source(cell.source, where)
            stripped.append({"cell": i, "type": "code", "how": "markers", "regions": n,
                             "title": _title(cell.source)})
            if raises:
                cell.metadata["tags"] = tags + ["raises-exception"]
        if cell.cell_type == "code" and cell.metadata.get("carcourse", {}).get("role") == "check":
            cell.source = "\n".join(line for line in cell.source.splitlines() if line.strip() != CHECK_MARK)
        elif cell.cell_type == "markdown" and (BEGIN in cell.source or END in cell.source):
            cell.source, n = _strip_markdown_regions(cell.source, where)
            stripped.append({"cell": i, "type": "markdown", "how": "markers", "regions": n, "title": ""})
    return nb, stripped, cleared


def _strip_markdown_regions(source: str, where: str) -> tuple[str, int]:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"{where}: unbalanced '{BEGIN}' / '{END}' markers")
    new, n = pattern.subn(MARKDOWN_STUB, source)
    return new, n


def make_student_edition(out: str | Path, root: str | Path | None = None, force: bool = False) -> Manifest:
    """Write the student edition of the course at `root` (default: this checkout) into `out`."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    out = Path(out)
    if not (root / "notebooks").is_dir() or not (root / "carcourse").is_dir():
        raise ValueError(f"{root} is not a carcourse checkout (needs notebooks/ and carcourse/)")
    root_r, out_r = root.resolve(), out.resolve()
    if out_r == root_r or (root_r in out_r.parents and out_r.relative_to(root_r).parts[0] in INCLUDE):
        raise ValueError(f"--out {out} would overwrite the course itself; choose a folder outside it")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ValueError(f"{out} exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out=str(out))
    for name in INCLUDE:
        src = root / name
        if not src.exists():
            continue
        if src.is_dir():
            ignore = IGNORE if name != "carcourse" else shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", *INSTRUCTOR_MODULES)
            shutil.copytree(src, out / name, ignore=ignore)
        else:
            shutil.copy2(src, out / name)
        manifest.copied.append(name)
    folders = [name for name in LEFT_OUT if (root / name).exists()]
    manifest.left_out = folders + [f"carcourse/{m}" for m in INSTRUCTOR_MODULES if (root / "carcourse" / m).exists()]
    readme = out / "README.md"
    if readme.exists():  # say which edition this is: the README also describes instructor tools
        text, dropped = drop_sections(readme.read_text(), README_LEFT_OUT)
        text, spans = INSTRUCTOR_ONLY.subn("", text)
        manifest.left_out += [f"README.md section '{t}'" for t in dropped]
        manifest.left_out += [f"README.md: {spans} instructor-only passage(s)"] if spans else []
        readme.write_text(f"> **Student edition.** Exercise solutions are replaced by stubs (run each "
                          "exercise's check cell to test your answer); "
                          f"{', '.join(f'`{n}/`' for n in folders)} and the instructor tools are not "
                          "included, so the instructor sections below do not apply to this copy. Start "
                          "with `make lab`.\n\n" + text)
    for path in sorted((out / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        nb, stripped, cleared = strip_notebook(nb, path.name)
        nbformat.write(nb, path)
        manifest.notebooks[str(path.relative_to(out))] = stripped
        manifest.outputs_cleared += cleared
    (out / "STUDENT_EDITION.json").write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    return manifest


def drop_sections(markdown: str, titles: tuple[str, ...]) -> tuple[str, list[str]]:
    """Remove each Markdown section whose heading starts with one of `titles`, up to the next
    heading of the same or a higher level; returns the text and the headings removed."""
    out, dropped, skip_level = [], [], 0
    in_code = False
    for line in markdown.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^(#+)\s+(.*)", line)
        if m and skip_level and len(m.group(1)) <= skip_level:
            skip_level = 0
        if m and not skip_level and m.group(2).strip().startswith(titles):
            skip_level = len(m.group(1))
            dropped.append(m.group(2).strip())
        if not skip_level:
            out.append(line)
    return "".join(out), dropped
