"""The whole course as a student meets it: every notebook opened in JupyterLab (headless
Chromium), Run → Run All Cells, then

- no error output (no traceback, no "Error displaying widget");
- every figure rendered (every image loaded, and a picture in every cell that calls plt.show());
- every widget rendered as controls;
- every cell that ran longer than 10 s showed something (a progress bar, a line) within 5 s of
  starting, so slow never looks like stuck;
- saved, kernel shut down, reopened: no widget error (the course's JupyterLab saves widget state).

Screenshots of each notebook after the run and after reopening go to $CARCOURSE_ARTIFACTS/browser.
Nothing here names a cell: the checks read each cell's source and outputs, so the test keeps
working as the notebooks change. CARCOURSE_BROWSER_NOTEBOOKS=02,05 runs a subset (name prefixes).

`make test` runs one notebook here (04: figures, a widget, a progress bar, saved widget state);
the other five are marked `slow` (about 3 of the suite's minutes): `make test-slow` and the
weekly CI job run them. nbval already runs all six in `make test` (tests/test_notebook_sandbox.py)."""
from __future__ import annotations

import json
import os
import time
import urllib.error
from pathlib import Path

import pytest

from labdriver import ARTIFACTS, REPO, launch, wait_for_kernel

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ONLY = [s.strip() for s in os.environ.get("CARCOURSE_BROWSER_NOTEBOOKS", "").split(",") if s.strip()]
if ONLY:
    NOTEBOOKS = [n for n in NOTEBOOKS if any(n.startswith(prefix) for prefix in ONLY)]
IN_MAKE_TEST = "04_"  # the notebook make test runs in JupyterLab; the others are slow
PARAMS = [n if ONLY or n.startswith(IN_MAKE_TEST) else pytest.param(n, marks=pytest.mark.slow)
          for n in NOTEBOOKS]
RUN_ALL_TIMEOUT_S = 45 * 60  # the slowest notebook on a busy 2-core machine, with room
LONG_CELL_S, FEEDBACK_S = 10.0, 5.0
WIDGET_ERRORS = ("Error displaying widget", "model not found")

# Records, every 250 ms, when each code cell started (the first [*] in document order is the one
# the kernel runs: cells execute in order), when it first showed an output and when it ended.
RECORDER = """() => {
  const t0 = performance.now();
  const rec = window.__carcourse = {cells: []};
  const tick = () => {
    const now = (performance.now() - t0) / 1000;
    let running = false;
    document.querySelectorAll('.jp-Notebook .jp-CodeCell').forEach((cell, i) => {
      const r = rec.cells[i] || (rec.cells[i] = {start: null, firstOutput: null, end: null});
      const prompt = cell.querySelector('.jp-InputPrompt')?.textContent || '';
      const outputs = cell.querySelectorAll('.jp-OutputArea-child').length;
      if (prompt.includes('[*]') && !running) {
        running = true;
        if (r.start === null) r.start = now;
        if (outputs > 0 && r.firstOutput === null) r.firstOutput = now;
      }
      if (r.start !== null && r.end === null && /\\[\\d+\\]/.test(prompt)) r.end = now;
    });
  };
  rec.timer = setInterval(tick, 250);
}"""

# What each code cell shows after the run: its source and a summary of its outputs.
INSPECT = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map((cell, i) => {
  const outs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  const mime = outs.map(o => o.getAttribute('data-mime-type') || '');
  // every rendermime renderer tags its output with data-mime-type; the ipywidgets renderer does not
  const widgets = outs.filter(o => !o.hasAttribute('data-mime-type') || o.querySelector('.jupyter-widgets'));
  return {
    index: i,
    prompt: cell.querySelector('.jp-InputPrompt')?.textContent || '',
    source: cell.querySelector('.jp-InputArea-editor .cm-content')?.innerText || '',
    mime,
    errors: outs.filter(o => (o.getAttribute('data-mime-type') || '').includes('error')
                             || /Traceback \\(most recent call last\\)/.test(o.textContent))
                .map(o => o.textContent.slice(0, 400)),
    images: [...cell.querySelectorAll('.jp-OutputArea-output img')].map(
        img => ({ok: img.complete && img.naturalWidth > 0, w: img.naturalWidth})),
    widgets: widgets.map(o => ({
        text: o.textContent.slice(0, 200),
        controls: o.querySelectorAll('.widget-slider, .widget-button, .widget-toggle-button, '
            + '.widget-checkbox, .widget-image, img, .widget-html, .widget-box, .progress, .widget-inline-hbox').length,
        height: o.getBoundingClientRect().height})),
  };
})"""


def _screenshot(page, path: Path) -> None:
    """The whole notebook: the viewport is stretched to the notebook's height for the shot."""
    height = page.evaluate("""() => {
        const outer = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
        if (!outer) return 1000;
        outer.scrollTop = 0;
        return outer.scrollHeight + 150; }""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(int(height), 16000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def _session_ids(lab, name: str) -> list[str]:
    return [s["id"] for s in lab.api("sessions") if s.get("path", "").endswith(name)]


def _open(page, lab, name: str) -> None:
    page.goto(lab.url(name))
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    wait_for_kernel(page)


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def _save(page, lab, name: str):
    """Save through the File menu (Ctrl+S as a second try) until the file on disk holds the
    run's outputs; returns the saved notebook, or None."""
    def stored():
        try:
            nb = lab.api(f"contents/{name}?content=1")["content"]
        except urllib.error.HTTPError:  # 400/404 while the server is still writing it: ask again
            return None
        ran = [c for c in nb["cells"] if c["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" not in c["source"]]
        views = any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                    for c in ran for o in c.get("outputs", []))
        complete = any(c.get("outputs") for c in ran) and (not views or "widgets" in nb["metadata"])
        return nb if complete else None

    for attempt in range(2):
        page.keyboard.press("Escape")
        if attempt == 0:
            page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
            page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                         has_text="Save Notebook").first.click()
        else:
            page.locator(".jp-NotebookPanel .jp-Cell .jp-InputPrompt").first.click()
            page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            nb = stored()
            if nb is not None:
                return nb
            page.wait_for_timeout(1000)
    return None


def _problems(cells: list[dict], timing: list[dict]) -> list[str]:
    problems = []
    for c in cells:
        where = f"code cell {c['index'] + 1} ({c['source'].strip().splitlines()[0][:60] if c['source'].strip() else ''})"
        for e in c["errors"]:
            problems.append(f"{where}: error output: {e}")
        if not any(ch.isdigit() for ch in c["prompt"]):
            problems.append(f"{where}: did not run (prompt {c['prompt']!r})")
        if any(not im["ok"] for im in c["images"]):
            problems.append(f"{where}: an image did not load")
        if "plt.show()" in c["source"] and not c["images"] and not c["source"].lstrip().startswith("# Exercise"):
            problems.append(f"{where}: calls plt.show() but shows no figure")
        for w in c["widgets"]:
            if any(s in w["text"] for s in WIDGET_ERRORS) or "Loading widget" in w["text"]:
                problems.append(f"{where}: widget not rendered: {w['text'][:120]!r}")
            elif w["controls"] == 0 or w["height"] < 10:
                problems.append(f"{where}: widget output without controls")
    for i, t in enumerate(timing):
        if t["start"] is None or t["end"] is None:
            continue
        seconds = t["end"] - t["start"]
        if seconds > LONG_CELL_S:
            first = None if t["firstOutput"] is None else t["firstOutput"] - t["start"]
            if first is None or first > FEEDBACK_S:
                shown = "nothing until it ended" if first is None else f"its first output after {first:.1f} s"
                problems.append(f"code cell {i + 1}: ran {seconds:.0f} s and showed {shown} "
                                f"(wanted progress within {FEEDBACK_S:.0f} s)")
    return problems


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.mark.parametrize("name", PARAMS)
def test_notebook_runs_clean_in_jupyterlab(name, course_lab, browser):
    lab = course_lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = Path(name).stem
    page_errors: list[str] = []
    t0 = time.monotonic()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.set_default_timeout(180_000)
    try:
        _open(page, lab, name)
        page.evaluate(RECORDER)
        _run_all(page)
        page.wait_for_function(  # started: the first cell is queued or done
            "() => /\\[(\\*|\\d+)\\]/.test(document.querySelector('.jp-Notebook .jp-CodeCell .jp-InputPrompt')?.textContent || '')")
        page.wait_for_function(
            "() => ![...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]"
            ".some(p => p.textContent.includes('[*]'))", timeout=RUN_ALL_TIMEOUT_S * 1000, polling=1000)
        run_seconds = time.monotonic() - t0
        page.wait_for_timeout(1500)  # last redraws
        timing = page.evaluate("() => { clearInterval(window.__carcourse.timer); return window.__carcourse.cells }")
        cells = page.evaluate(INSPECT)
        _screenshot(page, ARTIFACTS / f"{stem}.png")
        problems = _problems(cells, timing)

        # save, shut the kernel down, reopen: what a student sees the next day
        saved = _save(page, lab, name)
        if saved is None:
            problems.append("saving the notebook (File → Save, Ctrl+S) did not store its outputs within 60 s")
            saved = lab.api(f"contents/{name}?content=1")["content"]
        has_widget_views = any(c["widgets"] for c in cells)
        if has_widget_views and "widgets" not in saved["metadata"]:
            problems.append("widget views saved without widget state (is saveState on?)")
        for sid in _session_ids(lab, name):
            lab.api(f"sessions/{sid}", method="DELETE")
        page.close()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.set_default_timeout(180_000)
        _open(page, lab, name)
        page.wait_for_timeout(4000)  # the widget manager restores saved state
        text = page.locator(".jp-Notebook").inner_text()
        for s in WIDGET_ERRORS:
            if s in text:
                problems.append(f"reopened notebook shows {s!r}")
        reopened = page.evaluate(INSPECT)
        for c in reopened:
            for w in c["widgets"]:
                if w["controls"] == 0:
                    problems.append(f"reopened: code cell {c['index'] + 1} has a widget output without controls")
        # the course's widgets say how to bring them back (the note shows only when inert)
        for note in page.locator(".carcourse-widget .carcourse-reopen-note").all():
            if not note.is_visible():
                problems.append("reopened: a course widget does not say 'run this cell to start it again'")
        _screenshot(page, ARTIFACTS / f"{stem}-reopened.png")
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / f"{stem}-failure.png"), full_page=True)
        raise
    finally:
        for sid in _session_ids(lab, name):
            lab.api(f"sessions/{sid}", method="DELETE")
        page.close()

    long_cells = [(i + 1, t["end"] - t["start"], None if t["firstOutput"] is None else t["firstOutput"] - t["start"])
                  for i, t in enumerate(timing) if t["start"] is not None and t["end"] is not None
                  and t["end"] - t["start"] > LONG_CELL_S]
    summary = {"notebook": name, "run_all_s": round(run_seconds, 1), "total_s": round(time.monotonic() - t0, 1),
               "code_cells": len(cells), "figures": sum(len(c["images"]) for c in cells),
               "widgets": sum(len(c["widgets"]) for c in cells),
               "long_cells": [{"cell": i, "seconds": round(s, 1), "first_output_s": None if f is None else round(f, 1)}
                              for i, s, f in long_cells]}
    print("\n" + json.dumps(summary))
    with open(ARTIFACTS / "course-timings.jsonl", "a") as f:
        f.write(json.dumps(summary) + "\n")
    # JupyterLab reports "No such file or directory: <notebook>" when its server answers 404 for
    # the notebook while saving it (seen in 2 of ~20 runs, on different notebooks); whether the
    # save worked is checked above on the stored file, so only other page errors count here.
    transient = f"No such file or directory: {name}"
    problems += [f"page error: {e}" for e in page_errors if e.strip() != transient]
    assert not problems, f"{name}:\n" + "\n".join(problems)
