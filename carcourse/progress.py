"""Progress for long cells: a compact bar with the time left for a loop, and for sweeps a line
per finished run (a table that fills in, in JupyterLab).

Where it goes (env CARCOURSE_PROGRESS overrides the choice):
- "widget": an ipywidgets bar in JupyterLab. When the bar closes it is replaced by one line of
  plain text, so a saved and reopened notebook shows that line, never "model not found".
- "text": tqdm text on stderr (terminals, nbval, tools/refresh_notebooks.py), updated at most
  once a second so the captured output stays short. stdout is left to the cells' own prints,
  which the notebook checks compare.
- "off": nothing.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Mapping

MODES = ("widget", "text", "off")


def mode() -> str:
    """'widget', 'text' or 'off': env CARCOURSE_PROGRESS if set, else 'widget' inside a Jupyter
    kernel with ipywidgets, else 'text'."""
    value = os.environ.get("CARCOURSE_PROGRESS", "").strip().lower()
    if value:
        if value not in MODES:
            raise ValueError(f"CARCOURSE_PROGRESS={value!r}: use one of {', '.join(MODES)}")
        return value
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None or "IPKernelApp" not in ip.config:
            return "text"
        import ipywidgets  # noqa: F401
    except ImportError:
        return "text"
    return "widget"


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def _widget_bar_class():
    from IPython.display import Pretty, display
    from tqdm.notebook import tqdm as notebook_tqdm

    class WidgetBar(notebook_tqdm):
        """tqdm's notebook bar, shown under a display id so that closing it can put a line of
        text in its place (the widget model is closed too, so nothing stale is saved)."""

        def __init__(self, *args, **kwargs):
            kwargs["display"] = False
            super().__init__(*args, **kwargs)
            self._handle = None
            if not self.disable:
                self._handle = display(self.container, display_id=True)
                self.displayed = True

        def close(self):
            if self.disable or getattr(self, "_summarised", False):
                return super().close()
            super().close()
            self._summarised = True
            if self._handle is not None:
                self._handle.update(Pretty(summary(self) if self.leave else ""))
            self.container.close()

    return WidgetBar


def summary(bar) -> str:
    """One line for a finished (or stopped) bar: what ran, how far, how long."""
    d = bar.format_dict
    n, total, unit = d["n"], d["total"], d["unit"]
    elapsed = d["elapsed"]
    desc = f"{d['prefix']}: " if d.get("prefix") else ""
    rate = ""
    if elapsed > 0 and n:
        rate = f", {n / elapsed:.1f} {unit}/s" if n >= elapsed else f", {elapsed / n:.1f} s/{unit}"
    if total and n < total:
        return f"{desc}stopped at {n}/{total} {unit}s after {_clock(elapsed)}"
    return f"{desc}{n} {unit}s in {_clock(elapsed)}{rate}"


def bar(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = True,
        disable: bool = False, **kwargs: Any):
    """A tqdm progress bar for the current front end (see `mode`); use like tqdm (`update`,
    `set_postfix_str`, `close`, or as a context manager). Shows elapsed and remaining time."""
    where = mode()
    disable = disable or where == "off"
    if where == "widget" and not disable:
        cls = _widget_bar_class()
        return cls(total=total, desc=desc, unit=unit, leave=leave, **kwargs)
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=disable, file=sys.stderr,
                     mininterval=1.0, ncols=kwargs.pop("ncols", 88), **kwargs)


class RunTable:
    """Progress of a sweep: `add(row)` after each run. In JupyterLab a bar over the runs (with
    the time left) and a table that gains a row per run; in text mode one line per run on
    stderr with the time left. `table` is the pandas DataFrame of the rows so far.

        with RunTable(total=8, desc="size × width") as log:
            for ...:
                log.add({"train_size": n, "val_acc": acc, "seconds": s})
    """

    def __init__(self, total: int, desc: str = "runs", enabled: bool = True, digits: int = 3):
        self.total = int(total)
        self.desc = desc
        self.mode = mode() if enabled else "off"
        self.digits = digits
        self.rows: list[dict[str, Any]] = []
        self._bar = None
        self._handle = None
        self._t0 = time.perf_counter()

    # -- context -----------------------------------------------------------------------------
    def __enter__(self) -> "RunTable":
        self._t0 = time.perf_counter()
        if self.mode == "widget":
            from IPython.display import Pretty, display

            self._bar = bar(total=self.total, desc=self.desc, unit="run")
            self._handle = display(Pretty(f"{self.desc}: the table fills in as runs finish"), display_id=True)
        elif self.mode == "text":
            print(f"{self.desc}: {self.total} runs", file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    # -- rows --------------------------------------------------------------------------------
    def add(self, row: Mapping[str, Any]) -> None:
        """Record one finished run and show it."""
        self.rows.append(dict(row))
        done = len(self.rows)
        elapsed = time.perf_counter() - self._t0
        left = elapsed / done * (self.total - done)
        if self.mode == "widget":
            self._bar.update(1)
            self._handle.update(self._shown())
        elif self.mode == "text":
            print(f"{self.desc} {done}/{self.total}: {self._line(row)} | {_clock(elapsed)} elapsed, "
                  f"about {_clock(left)} left", file=sys.stderr, flush=True)

    def _line(self, row: Mapping[str, Any]) -> str:
        parts = []
        for k, v in row.items():
            if isinstance(v, float):
                v = f"{v:.1f}" if k == "seconds" else f"{v:.{self.digits}f}"
            parts.append(f"{k} {v}")
        return ", ".join(parts)

    def _shown(self):
        """The table as displayed: seconds to 0.1 s, other floats to `digits`."""
        table = self.table.round(self.digits)
        if "seconds" in table:
            table["seconds"] = table["seconds"].round(1)
        return table

    @property
    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows)
