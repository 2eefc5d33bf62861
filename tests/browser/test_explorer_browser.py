"""Lesson 05's overfitting explorer in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on a free loopback port with a random token in a temporary copy of the
notebooks, opens 05_overfitting.ipynb, runs the cells up to the explorer, changes two controls,
clicks Train and checks that the plot changes while training and the metrics table appears; that
the explorer with its metrics fits a 900 px screen and its plot is not stretched; and that a
Train click while another cell keeps the kernel busy shows as queued at once, in the browser, and
runs when that cell ends. Any JavaScript console error fails the test. Screenshots go to $CARCOURSE_ARTIFACTS/browser
(default: artifacts/browser in the repository). The server is always shut down."""
from __future__ import annotations

import time

from labdriver import ARTIFACTS, launch, open_page, run_cell, wait_for_kernel

TIMEOUT_MS = 180_000


def test_overfitting_explorer_trains_live_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = launch(pw)
        page = open_page(browser, errors, TIMEOUT_MS)
        try:
            page.goto(f"{base}/lab/tree/05_overfitting.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            wait_for_kernel(page)
            code_cells = page.locator(".jp-Notebook .jp-CodeCell")
            # the imports + data cell, then the explorer's cell (found by its code, not its position:
            # lesson cells such as the data grid may come between)
            explorer_cell = code_cells.filter(has_text="overfitting_explorer(").first
            run_cell(page, code_cells.nth(0))
            run_cell(page, explorer_cell)
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
            height = explorer.bounding_box()["height"]
            assert height <= 700, f"explorer is {height:.0f} px tall: with JupyterLab's bars it overflows 900 px"
            shown, drawn = plot.evaluate("el => [el.getBoundingClientRect().width, el.naturalWidth]")
            assert drawn >= 1.4 * shown, f"plot drawn {drawn} px wide, shown {shown} px: stretched"

            # a click while other cells run or wait (as during Run All): the toggle is pressed and
            # reads "queued" in the browser at once, whether or not the kernel has seen the click
            explorer_cell.locator(".jp-InputPrompt").click()
            page.keyboard.press("b")  # two new cells below (command mode), run one after the other
            page.keyboard.press("Enter")
            page.keyboard.type("import time; time.sleep(10)")
            page.keyboard.press("Shift+Enter")  # runs it and opens the next cell
            page.keyboard.press("Escape")
            page.keyboard.press("b")
            page.keyboard.press("Enter")
            page.keyboard.type("time.sleep(5)")
            page.keyboard.press("Shift+Enter")
            page.wait_for_function(
                "() => /\\|\\s*Busy/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')")
            clicked = time.monotonic()
            train_button.click()
            page.wait_for_function("el => el.classList.contains('mod-active')", arg=train_button.element_handle(),
                                   timeout=1_000)
            queued_after = time.monotonic() - clicked
            note = train_button.evaluate("el => getComputedStyle(el, '::after').content")
            status_now = page.locator(".carcourse-explorer-status").inner_text()
            page.screenshot(path=str(ARTIFACTS / "explorer-queued.png"))
            kernel_saw_it = status_now.startswith(("training", "epoch", "first run"))
            assert "queued" in note or kernel_saw_it, f"no sign of the click: {note!r}, status {status_now!r}"
            page.wait_for_function("el => !el.disabled && !el.classList.contains('mod-active')",
                                   arg=train_button.element_handle())
            assert "done: 8 epochs" in page.locator(".carcourse-explorer-status").inner_text()
            assert len(page.locator(".carcourse-explorer-metrics table").all()) == 1
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "explorer-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - t0:.1f} s, {len(frames)} plot frames, queued click shown after "
          f"{queued_after:.2f} s (kernel {'handled it at once' if kernel_saw_it else 'busy: queued'}); screenshots {ARTIFACTS / 'explorer.png'}, explorer-queued.png")
    assert not errors, "JavaScript errors:\n" + "\n".join(errors)
