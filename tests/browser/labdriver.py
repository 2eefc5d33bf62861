"""Driving a real JupyterLab for the browser tests: started on a free loopback port with a random token
over a temporary copy of notebooks/, with the course's JupyterLab settings (read from the
Makefile's LAB_SETTINGS_JSON, the line `make lab` installs) plus a quiet page (no news toast).
The server is always shut down. Chromium is the system one (`make browser-deps` installs it)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("CARCOURSE_ARTIFACTS", REPO / "artifacts")) / "browser"


@dataclass
class Lab:
    base: str
    token: str
    root: Path  # the notebooks folder the server shows (a copy)
    log: Path

    def url(self, notebook: str) -> str:
        """The notebook alone in a fresh workspace (`reset`: no tabs restored from earlier pages)."""
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET", attempts: int = 5):
        """A REST call to the server; retried a few times (a notebook read while JupyterLab
        is writing it answers 400)."""
        req = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    body = r.read()
                return json.loads(body) if body else None
            except urllib.error.HTTPError:
                if attempt == attempts - 1:
                    raise
                time.sleep(1)


def course_lab_settings() -> dict[str, dict]:
    """The JupyterLab settings `make lab` installs, by plugin id (from the Makefile)."""
    match = re.search(r"^LAB_SETTINGS_JSON := (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    if not match:
        raise AssertionError("Makefile has no LAB_SETTINGS_JSON line")
    return json.loads(match.group(1))


def _write_settings(folder: Path, settings: dict[str, dict]) -> None:
    for plugin, values in settings.items():
        package, name = plugin.rsplit(":", 1)
        path = folder / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**old, **values}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def start_lab(tmp: Path, notebooks: Path | None = None):
    """Start JupyterLab over a copy of `notebooks` (default: the repository's notebooks/) in `tmp`;
    yields a Lab. Besides the course's settings: no news toast, and every cell kept in the page
    (no windowing), so the tests can read every output and screenshot whole notebooks."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    root = tmp / "course"
    shutil.copytree(notebooks or REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp / "lab-settings"
    _write_settings(settings, {**course_lab_settings(),
                               "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
                               "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}})
    env = {**os.environ, "CARCOURSE_QUICK": "1", "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"), "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    # what a student's kernel gets: the inline matplotlib backend (`make test` exports
    # MPLBACKEND=Agg, under which plt.show() shows nothing) and widget progress bars
    env.pop("MPLBACKEND", None)
    env.pop("CARCOURSE_PROGRESS", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root / 'notebooks'}",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}", "--LabServerApp.extension_manager=readonly"]
    log_path = tmp / "jupyterlab.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 90 s")
            time.sleep(0.5)
        yield Lab(base, token, root / "notebooks", log_path)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def launch(pw):
    """Headless Chromium from /usr/bin/chromium with the flags this machine needs."""
    return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def open_page(browser, errors: list[str], timeout_ms: int):
    """A 1400×1000 page whose console errors and page errors are appended to `errors`."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.set_default_timeout(timeout_ms)
    return page


def wait_for_kernel(page) -> None:
    """Until the status bar says the kernel is connected and idle (not just shown as idle while
    it starts)."""
    page.wait_for_function(
        "() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')")


def run_cell(page, cell, attempts: int = 3) -> None:
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
