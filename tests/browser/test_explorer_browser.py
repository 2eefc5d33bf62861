"""Lesson 05's overfitting explorer in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on a free loopback port with a random token in a temporary copy of the
notebooks, opens 05_overfitting.ipynb, runs the cells up to the explorer, changes two controls,
clicks Train and checks that the plot changes while training and the metrics table appears.
Any JavaScript console error fails the test. Screenshots go to $CARCOURSE_ARTIFACTS/browser
(default: artifacts/browser in the repository). The server is always shut down."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("CARCOURSE_ARTIFACTS", REPO / "artifacts")) / "browser"
TIMEOUT_MS = 180_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a temporary copy of notebooks/; yields (base URL, token)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    root = tmp_path / "course"
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path / "lab-settings"  # no "official Jupyter news?" toast over the page
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}')
    env = {**os.environ, "CARCOURSE_QUICK": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"), "MPLBACKEND": "Agg",
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root / 'notebooks'}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",            "--LabServerApp.extension_manager=readonly"]
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 90 s")
            time.sleep(0.5)
        yield base, token
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def _run_cell(page, cell, attempts: int = 3) -> None:
    """Shift+Enter on `cell` and wait for its execution count. A key press that arrives while
    JupyterLab is still wiring up the kernel is dropped (the cell advances without running; seen
    once in CI), so a press that does not start the cell within 20 s is repeated."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    prompt = cell.locator(".jp-InputPrompt")
    for attempt in range(attempts):
        prompt.click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function("el => /\\[(\\*|\\d+)\\]/.test(el.textContent)",
                                   arg=prompt.element_handle(), timeout=20_000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
    page.wait_for_function("el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle())


def test_overfitting_explorer_trains_live_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(f"{base}/lab/tree/05_overfitting.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            # the kernel must be connected, not just shown as idle while it starts
            page.wait_for_function(
                "() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')")
            code_cells = page.locator(".jp-Notebook .jp-CodeCell")
            for k in (0, 1):  # imports + data, then the explorer
                _run_cell(page, code_cells.nth(k))
            explorer = page.locator(".carcourse-explorer")
            explorer.wait_for()
            plot = page.locator("img.carcourse-explorer-plot")
            plot.wait_for()
            first_src = plot.get_attribute("src")

            # change two controls: epochs through the slider's editable readout, and augmentation
            epochs = explorer.locator(".widget-slider", has_text="epochs").locator(".widget-readout")
            epochs.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("8")
            page.keyboard.press("Enter")
            explorer.get_by_text("augmentation").click()
            explorer.locator("button", has_text="Train").click()

            # the plot must change while training: several distinct frames before the table shows
            frames = {first_src}
            table = page.locator(".carcourse-explorer-metrics table")
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while table.count() == 0 and time.monotonic() < deadline:
                frames.add(plot.get_attribute("src"))
                page.wait_for_timeout(100)
            table.wait_for(timeout=5_000)
            train_button = explorer.locator("button", has_text="Train")
            page.wait_for_function("el => !el.disabled", arg=train_button.element_handle())
            status = page.locator(".carcourse-explorer-status").inner_text()
            page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
            assert len(frames) >= 3, f"the plot changed only {len(frames) - 1} time(s) while training"
            assert "done: 8 epochs" in status, status  # the changed epochs control reached the kernel
            assert "ROC AUC" in table.inner_text() and "best (epoch" in table.inner_text()
            assert explorer.locator("input[type=checkbox]").is_checked()
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "explorer-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - t0:.1f} s, {len(frames)} plot frames; screenshot "
          f"{ARTIFACTS / 'explorer.png'}")
    assert not errors, "JavaScript errors:\n" + "\n".join(errors)
