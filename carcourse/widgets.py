"""Interactive explorers for JupyterLab (ipywidgets): softmax temperature (lesson 03), loss
shapes (lesson 04) and the overfitting explorer (lesson 05). The maths and data they show live
in `losses` and `overfitting`; figures are drawn in the course style and sent as sharp PNGs.

Widgets live in the kernel. `make lab` turns on JupyterLab's widget-state saving, so a saved
and reopened notebook shows each widget's last state (inert until its cell runs again)."""
from __future__ import annotations

import html
import io
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import torch

from . import style

if TYPE_CHECKING:
    from .data import Splits
    from .overfitting import OverfitRun, OverfitSetting


def png(fig, scale: float = 2.0) -> bytes:
    """The Figure as PNG at `scale` × the course DPI (sharp on high-density screens)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=style.DPI * scale)
    return buf.getvalue()


def _image(fig, cls: str):
    """An Image widget shown at the figure's size in CSS pixels (never stretched)."""
    import ipywidgets as w

    width = int(fig.get_figwidth() * style.DPI)
    img = w.Image(format="png", layout=w.Layout(width=f"{width}px", max_width="100%", height="auto"))
    img.add_class(cls)
    return img


# A reopened notebook shows a widget from its saved state, inert (no kernel object behind it) and
# marked by ipywidgets' "disconnected" class: then a note says how to bring it back, and the
# broken-link icon shows once, on the whole widget, not on every control.
_REOPEN_CSS = """<style>
.carcourse-widget .carcourse-reopen-note { display: none; }
.carcourse-widget.jupyter-widgets-disconnected .carcourse-reopen-note {
  display: block; color: #b00020; font-weight: bold; }
.carcourse-widget .jupyter-widgets-disconnected::before { display: none; }
</style>"""


def _reopen_note(what: str):
    """A line shown only when the widget is a saved picture: 'run this cell to start …'."""
    import ipywidgets as w

    return w.HTML(f"{_REOPEN_CSS}<div class='carcourse-reopen-note'>Saved picture: run this cell to "
                  f"start {what} again.</div>")


def _new_figure(width: float, height: float, cols: int):
    from matplotlib.figure import Figure

    with style.context():
        fig = Figure(figsize=(width, height), dpi=style.DPI)
        fig.subplots(1, cols)
    return fig


# ----------------------------------------------------------------------------------------------
# softmax temperature (lesson 03)
# ----------------------------------------------------------------------------------------------
def softmax_temperature(logits: Sequence[float] | torch.Tensor, labels: Sequence[str] | None = None,
                        t_min: float = 0.1, t_max: float = 10.0):
    """A temperature slider over a bar chart of softmax(logits / T); returns the VBox
    (slider, picture, note shown only in a reopened notebook)."""
    import ipywidgets as w

    z = torch.as_tensor(logits, dtype=torch.float32)
    names = list(labels) if labels is not None else [f"class {i}" for i in range(len(z))]
    slider = w.FloatLogSlider(value=1.0, base=10, min=torch.log10(torch.tensor(t_min)).item(),
                              max=torch.log10(torch.tensor(t_max)).item(), step=0.02,
                              description="T", continuous_update=True, readout_format=".2f")
    fig = _new_figure(5.5, 2.6, 1)
    picture = _image(fig, "carcourse-softmax-plot")

    def draw(change=None) -> None:
        p = torch.softmax(z / slider.value, dim=0)
        ax = fig.axes[0]
        ax.cla()
        with style.context():
            top = int(p.argmax())
            ax.bar(names, p.numpy(), color=[style.VALIDATION if i == top else style.TRAIN for i in range(len(p))])
            ax.set(ylim=(0, 1), ylabel="probability",
                   title=f"softmax(z / {slider.value:.2f}); largest p = {float(p.max()):.2f}")
            fig.tight_layout()
            picture.value = png(fig)

    slider.observe(draw, names="value")
    draw()
    box = w.VBox([slider, picture, _reopen_note("the slider")])
    box.add_class("carcourse-widget")
    return box


# ----------------------------------------------------------------------------------------------
# loss shapes (lesson 04)
# ----------------------------------------------------------------------------------------------
def loss_shapes(m_min: float = -10.0, m_max: float = 10.0):
    """A slider over the margin z_true − z_other: both losses and their push drawn as in the
    lesson's static figure (`plots.margin_losses`), the current point marked and its values
    printed. Returns the VBox (slider, values, picture, note shown only in a reopened notebook)."""
    import ipywidgets as w

    from .losses import margin_losses
    from .plots import draw_margin_losses

    slider = w.FloatSlider(value=-4.0, min=m_min, max=m_max, step=0.1, description="margin",
                           continuous_update=False, readout_format=".1f")
    text = w.HTML()
    fig = _new_figure(style.WIDTH, style.PANEL_HEIGHT + 0.4, 2)
    picture = _image(fig, "carcourse-loss-shapes-plot")
    ce, l2 = style.label("cross_entropy"), style.label("mse")

    def draw(change=None) -> None:
        v = margin_losses(slider.value)
        text.value = (f"P(true class) = {v.p_true:.4f} &nbsp; {ce} = {v.cross_entropy:.3f} "
                      f"(push {v.cross_entropy_push:.3f}) &nbsp; {l2} = {v.mse:.3f} (push {v.mse_push:.4f})")
        with style.context():
            for ax in fig.axes:
                ax.cla()
            for legend in fig.legends:
                legend.remove()
            draw_margin_losses(fig.axes, v.margin, m_min, m_max)
            style.legend_outside(fig, inside_figure=True)
            fig.tight_layout(rect=(0, 0, 1, 0.9))
            picture.value = png(fig)

    slider.observe(draw, names="value")
    draw()
    box = w.VBox([slider, text, picture, _reopen_note("the slider")])
    box.add_class("carcourse-widget")
    return box


# ----------------------------------------------------------------------------------------------
# overfitting explorer (lesson 05)
# ----------------------------------------------------------------------------------------------
# Shown while a Train click waits for a busy kernel: the toggle button's pressed state changes in
# the browser at once, before the kernel has seen the click, and this rule words it.
_CSS = """<style>
.carcourse-explorer .carcourse-train.mod-active:not(:disabled)::after {
  content: " · queued: starts when the kernel is free"; font-weight: normal; }
.carcourse-explorer .carcourse-train.mod-active:not(:disabled) { width: auto; }
.carcourse-explorer .widget-html-content { line-height: 1.35; }
.carcourse-explorer .widget-html { margin-top: 2px; margin-bottom: 2px; }
.carcourse-explorer-metrics table { border-collapse: collapse; font-size: 12px; line-height: 1.25; }
.carcourse-explorer-metrics td, .carcourse-explorer-metrics th { padding: 1px 8px; text-align: right; }
</style>"""
HELP = ("Press <b>Train</b> to start a run. While the kernel is busy with another cell (<b>[*]</b>) "
        "the pressed button reads <i>queued</i>: the run starts as soon as the kernel is free.")


class OverfittingExplorer:
    """Controls → a SmallCNN run on a background thread → live train/validation curves.

    Displaying the object shows its widget (`widget`). Training runs on a thread so that the
    kernel stays free to receive the Stop click; `train(wait=True)` runs it to the end (tests
    and scripts). Nothing trains until asked: the first run warms PyTorch up first (or call
    `warm_up()`). Finished runs are kept in `runs` and drawn faintly until Clear; the live
    History is `history`, the figure `figure` (a matplotlib Figure, sent to the browser as PNG)."""

    SIZES = (32, 64, 128, 192, 256, 512, 1024)
    WIDTHS = (4, 8, 16, 32, 64)
    DECAYS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 0.5)

    def __init__(self, data: "Splits | None" = None, setting: "OverfitSetting | None" = None,
                 device: str | None = None, max_faint: int = 6):
        from .overfitting import OverfitSetting, explorer_data

        self.data = data if data is not None else explorer_data()
        self.device = device
        self.max_faint = max_faint
        s = setting or OverfitSetting()
        if s.train_size > len(self.data.train):
            s = replace(s, train_size=len(self.data.train))
        self._base = s
        self.controls = self._make_controls(s)
        self.figure = _new_figure(style.WIDTH, style.PANEL_HEIGHT + 0.2, 2)
        self._build_widget()
        self.runs: list[OverfitRun] = []
        self.history = None
        self.last_run: OverfitRun | None = None
        self.last_error: BaseException | None = None
        self.frames = 0  # how many times the plot was redrawn
        self.warmed_up = False
        self._busy = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._draw()

    def _make_controls(self, s: "OverfitSetting") -> dict:
        import ipywidgets as w

        sizes = sorted({n for n in self.SIZES if n <= len(self.data.train)} | {s.train_size})
        style_ = {"description_width": "9em"}
        layout = w.Layout(width="24em")
        return {
            "train_size": w.SelectionSlider(options=sizes, value=s.train_size, description="training images",
                                            style=style_, layout=layout),
            "width": w.SelectionSlider(options=sorted(set(self.WIDTHS) | {s.width}), value=s.width,
                                       description="capacity (width)", style=style_, layout=layout),
            "epochs": w.IntSlider(value=s.epochs, min=1, max=80, description="epochs", style=style_,
                                  layout=layout),
            "dropout": w.FloatSlider(value=s.dropout, min=0.0, max=0.7, step=0.05, description="dropout",
                                     style=style_, layout=layout),
            "weight_decay": w.SelectionSlider(options=sorted(set(self.DECAYS) | {s.weight_decay}),
                                              value=s.weight_decay, description="weight decay",
                                              style=style_, layout=layout),
            "label_noise": w.FloatSlider(value=s.label_noise, min=0.0, max=0.5, step=0.05,
                                         description="label noise", style=style_, layout=layout),
            "augment": w.Checkbox(value=s.augment, description="augmentation (flips, turns, haze, blur, noise)",
                                  indent=False),
        }

    def _build_widget(self) -> None:
        import ipywidgets as w

        self.train_button = w.ToggleButton(description="Train", button_style="primary", icon="play",
                                           layout=w.Layout(width="auto"))
        self.train_button.add_class("carcourse-train")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.clear_button = w.Button(description="Clear runs", icon="trash")
        self.train_button.observe(self._on_train_toggle, names="value")
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        self.status = w.HTML("Set the controls and press <b>Train</b>.")
        self.error = w.HTML("")
        self.table = w.HTML("")
        self.plot = _image(self.figure, "carcourse-explorer-plot")
        self.table.add_class("carcourse-explorer-metrics")
        self.status.add_class("carcourse-explorer-status")
        left = w.VBox(list(self.controls.values())
                      + [w.HBox([self.train_button, self.stop_button, self.clear_button])])
        right = w.VBox([_reopen_note("the explorer"), w.HTML(_CSS + f"<small>{HELP}</small>"), self.status,
                        self.table, self.error], layout=w.Layout(width="28em", margin="0 0 0 1em"))
        self.widget = w.VBox([w.HBox([left, right]), self.plot])
        self.widget.add_class("carcourse-explorer")
        self.widget.add_class("carcourse-widget")

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        """Displaying the explorer displays its widget."""
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)

    # -- state ---------------------------------------------------------------------------------
    def setting(self) -> "OverfitSetting":
        """The OverfitSetting the controls describe."""
        values = {k: c.value for k, c in self.controls.items()}
        return replace(self._base, **values)

    @property
    def running(self) -> bool:
        return self._busy

    def warm_up(self) -> None:
        """One tiny training step, so a run's first epoch does not pay PyTorch's first-call costs
        (about a second on a 2-core CPU). Runs once; the first Train calls it."""
        if self.warmed_up:
            return
        from .models import build
        from .train import TrainConfig, fit

        tiny = self.data.train.take(torch.arange(min(8, len(self.data.train))))
        fit(build("cnn", num_classes=len(self.data.classes), width=self._base.width), tiny, tiny,
            TrainConfig(epochs=1, batch_size=8, device=self.device, progress=False))
        self.warmed_up = True

    # -- actions -------------------------------------------------------------------------------
    def _on_train_toggle(self, change) -> None:
        if change["new"] and not self._busy:
            self.train()

    def train(self, wait: bool = False) -> None:
        """Start a run with the current controls (ignored while one is running)."""
        if self._busy:
            return
        self._busy = True
        self._stop.clear()
        self.error.value = ""
        self.table.value = ""
        self._set_busy(True)
        self._thread = threading.Thread(target=self._run, name="carcourse-explorer", daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()

    def stop(self) -> None:
        """Ask the running training to stop at its next step (History and best weights kept)."""
        self._stop.set()

    def clear(self) -> None:
        """Forget earlier runs (the faint curves)."""
        if not self._busy:
            self.runs.clear()
            self.last_run = None
            self.table.value = ""
            self._draw()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the run (background thread) ----------------------------------------------------------
    def _run(self) -> None:
        from .overfitting import run
        from .train import Callback, StopTraining

        explorer = self
        setting = self.setting()

        class Live(Callback):
            def on_train_start(self, history, model):
                explorer.history = history

            def on_iteration(self, iteration, loss, history):
                if explorer._stop.is_set():
                    raise StopTraining

            def on_epoch_end(self, epoch, history, model):
                explorer.status.value = (f"epoch {epoch}/{setting.epochs}: train acc "
                                         f"{history.train_acc[-1]:.2f}, val acc {history.val_acc[-1]:.2f}, "
                                         f"val loss {history.val_loss[-1]:.3f}")
                explorer._draw()

        try:
            if not self.warmed_up:
                self.status.value = "first run: warming PyTorch up (about a second)…"
                self.warm_up()
            self.status.value = f"training {setting.train_size} images, width {setting.width}…"
            result = run(setting, self.data, device=self.device, callbacks=[Live()], progress=False)
            self.last_run = result
            if result.history.epochs:
                self.runs.append(result)
                del self.runs[:-(self.max_faint + 1)]
            h = result.history
            stopped = " (stopped)" if h.interrupted else ""
            self.status.value = (f"done{stopped}: {h.epochs} epochs in {result.seconds:.1f} s; best epoch "
                                 f"by validation loss {h.best_epoch}; final gap train − val accuracy "
                                 f"{result.gap:+.2f} (both in eval mode; the curves show fit's "
                                 "running training accuracy)")
            if result.best is not None:
                self.table.value = ("<b>Validation metrics (car = positive), best vs last epoch</b>"
                                    + result.metrics_table().round(3).to_html(border=0))
        except BaseException as exc:  # shown in the widget, not lost in the server log
            self.last_error = exc
            self.error.value = (f"<pre style='color:#b00020; white-space:pre-wrap'>{html.escape(type(exc).__name__)}: "
                                f"{html.escape(str(exc))}</pre>")
            self.status.value = "the run failed (see below)"
        finally:
            self.history = None
            self._draw()
            self._set_busy(False)
            self._busy = False
            self.train_button.value = False

    def _set_busy(self, busy: bool) -> None:
        for c in self.controls.values():
            c.disabled = busy
        self.train_button.disabled = busy
        self.clear_button.disabled = busy
        self.stop_button.disabled = not busy

    # -- drawing -------------------------------------------------------------------------------
    def _draw(self) -> None:
        """Redraw both panels (loss, accuracy) and push the PNG to the Image widget."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        with self._lock, style.context():
            fig = self.figure
            ax_loss, ax_acc = fig.axes
            ax_loss.cla()
            ax_acc.cla()
            for legend in fig.legends:
                legend.remove()
            live = self.history
            faint = self.runs[:-1] if live is None else self.runs
            for r in faint:
                self._curves(ax_loss, ax_acc, r.history, alpha=0.25, current=False)
            current = live if live is not None else (self.runs[-1].history if self.runs else None)
            if current is not None and current.epochs:
                self._curves(ax_loss, ax_acc, current, alpha=1.0, current=True)
            ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
            ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.4, 1.01))
            for ax in (ax_loss, ax_acc):  # few ticks: text is most of a frame's cost
                style.integer_ticks(ax, nbins=5)
            handles = [Line2D([], [], color=style.TRAIN, label="train"),
                       Line2D([], [], color=style.VALIDATION, ls="--", label="validation"),
                       Patch(color=style.GAP, alpha=0.15, label="gap"),
                       Line2D([], [], color=style.BEST, ls=":", label="best epoch (lowest validation loss)")]
            if faint:
                handles.append(Line2D([], [], color="#999999", alpha=0.5, label="earlier runs"))
            # legend above the panels, never over the rising validation loss; a fixed layout
            # (no tight-layout pass) keeps a redraw fast enough to follow every epoch
            fig.legend(handles=handles, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.0))
            fig.subplots_adjust(left=0.07, right=0.99, bottom=0.16, top=0.8, wspace=0.22)
            self.plot.value = png(fig, scale=1.5)
            self.frames += 1

    @staticmethod
    def _curves(ax_loss, ax_acc, h, alpha: float, current: bool) -> None:
        epochs = list(range(1, h.epochs + 1))
        n = min(len(h.val_loss), h.epochs)
        train, val = ("train", "validation") if current else ("_earlier train", "_earlier validation")
        ax_loss.plot(epochs, h.train_loss, color=style.TRAIN, alpha=alpha, label=train)
        ax_acc.plot(epochs, h.train_acc, color=style.TRAIN, alpha=alpha, label=train)
        if n:
            ax_loss.plot(epochs[:n], h.val_loss[:n], color=style.VALIDATION, ls="--", alpha=alpha, label=val)
            ax_acc.plot(epochs[:n], h.val_acc[:n], color=style.VALIDATION, ls="--", alpha=alpha, label=val)
            if current:  # shade the generalisation gap of the current run
                ax_loss.fill_between(epochs[:n], h.train_loss[:n], h.val_loss[:n], color=style.GAP,
                                     alpha=0.12, lw=0)
                ax_acc.fill_between(epochs[:n], h.train_acc[:n], h.val_acc[:n], color=style.GAP,
                                    alpha=0.12, lw=0)
                if h.best_epoch:
                    ax_loss.axvline(h.best_epoch, color=style.BEST, ls=":", lw=1.2)


def overfitting_explorer(data: "Splits | None" = None, setting: "OverfitSetting | None" = None,
                         device: str | None = None) -> OverfittingExplorer:
    """Lesson 05's interactive explorer. Display the returned object (last line of a cell) to
    show its controls; it trains only when Train is pressed (or `.train()` is called)."""
    return OverfittingExplorer(data=data, setting=setting, device=device)
