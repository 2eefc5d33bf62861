"""Interactive explorers for JupyterLab (ipywidgets). Each returns a widget container; in a
non-interactive run (nbval, a script) the notebooks show a static figure beside it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

if TYPE_CHECKING:
    from .data import Splits


def softmax_temperature(logits: Sequence[float] | torch.Tensor, labels: Sequence[str] | None = None,
                        t_min: float = 0.1, t_max: float = 10.0):
    """A temperature slider over a bar chart of softmax(logits / T)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    z = torch.as_tensor(logits, dtype=torch.float32)
    names = list(labels) if labels is not None else [f"class {i}" for i in range(len(z))]
    slider = w.FloatLogSlider(value=1.0, base=10, min=torch.log10(torch.tensor(t_min)).item(),
                              max=torch.log10(torch.tensor(t_max)).item(), step=0.02,
                              description="T", continuous_update=True, readout_format=".2f")
    out = w.Output()

    def draw(change=None) -> None:
        p = torch.softmax(z / slider.value, dim=0)
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 2.6))
            ax.bar(names, p.numpy(), color=["C1" if i == int(p.argmax()) else "C0" for i in range(len(p))])
            ax.set(ylim=(0, 1), ylabel="probability",
                   title=f"softmax(z / {slider.value:.2f}); largest p = {float(p.max()):.3f}")
            plt.show()

    slider.observe(draw, names="value")
    draw()
    return w.VBox([slider, out])


# ----------------------------------------------------------------------------------------------
# overfitting explorer (lesson 05)
# ----------------------------------------------------------------------------------------------
def explorer_data(seed: int = 0) -> "Splits":
    """The explorer's default data: 1024 training and 256 validation synthetic patches (enough
    for every training-set size the slider offers, small enough to render in about a second)."""
    from .data import make_synthetic

    return make_synthetic(n_train=1024, n_val=256, n_test_notcar=1, n_test_car=1, seed=seed)


class OverfittingExplorer:
    """Controls → a SmallCNN run on a background thread → live train/validation curves.

    `widget` is the ipywidgets container to display. The training runs on a thread so that the
    kernel stays free to receive the Stop click; `train(wait=True)` runs it to the end (tests and
    scripts). Finished runs are kept in `runs` and drawn faintly until Clear; the live History
    is `history`, the figure `figure` (a matplotlib Figure, drawn to PNG for the browser)."""

    SIZES = (32, 64, 128, 192, 256, 512, 1024)
    WIDTHS = (4, 8, 16, 32, 64)
    DECAYS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 0.5)

    def __init__(self, data=None, setting=None, device: str | None = None, max_faint: int = 6):
        import threading
        from dataclasses import replace

        import ipywidgets as w
        from matplotlib.figure import Figure

        from .overfitting import OverfitSetting

        self.data = data if data is not None else explorer_data()
        self.device = device
        self.max_faint = max_faint
        s = setting or OverfitSetting()
        if s.train_size > len(self.data.train):
            s = replace(s, train_size=len(self.data.train))
        sizes = sorted({n for n in self.SIZES if n <= len(self.data.train)} | {s.train_size})
        style = {"description_width": "9em"}
        layout = w.Layout(width="25em")
        self.controls = {
            "train_size": w.SelectionSlider(options=sizes, value=s.train_size, description="training images",
                                            style=style, layout=layout),
            "width": w.SelectionSlider(options=sorted(set(self.WIDTHS) | {s.width}), value=s.width,
                                       description="capacity (width)", style=style, layout=layout),
            "epochs": w.IntSlider(value=s.epochs, min=1, max=80, description="epochs", style=style,
                                  layout=layout),
            "dropout": w.FloatSlider(value=s.dropout, min=0.0, max=0.7, step=0.05, description="dropout",
                                     style=style, layout=layout),
            "weight_decay": w.SelectionSlider(options=sorted(set(self.DECAYS) | {s.weight_decay}),
                                              value=s.weight_decay, description="weight decay",
                                              style=style, layout=layout),
            "label_noise": w.FloatSlider(value=s.label_noise, min=0.0, max=0.5, step=0.05,
                                         description="label noise", style=style, layout=layout),
            "augment": w.Checkbox(value=s.augment, description="augmentation (flips, 90° turns)",
                                  indent=False),
        }
        self._base = s
        self.train_button = w.Button(description="Train", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.clear_button = w.Button(description="Clear runs", icon="trash")
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        self.status = w.HTML("Set the controls and press <b>Train</b>.")
        self.error = w.HTML("")
        self.table = w.HTML("")
        self.plot = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.plot.add_class("carcourse-explorer-plot")
        self.table.add_class("carcourse-explorer-metrics")
        self.status.add_class("carcourse-explorer-status")
        left = w.VBox(list(self.controls.values())
                      + [w.HBox([self.train_button, self.stop_button, self.clear_button])])
        self.widget = w.VBox([w.HBox([left, self.status]), self.plot, self.table, self.error])
        self.widget.add_class("carcourse-explorer")
        # a fixed layout (no constrained/tight layout pass) keeps a redraw around 100 ms instead
        # of 180, so the curves can follow every epoch without slowing the training thread much
        self.figure = Figure(figsize=(9, 3.2), dpi=72)
        self.figure.subplots(1, 2)
        self.figure.subplots_adjust(left=0.07, right=0.99, bottom=0.15, top=0.9, wspace=0.2)
        self.runs: list = []
        self.history = None
        self.last_run = None
        self.last_error: BaseException | None = None
        self.frames = 0  # how many times the plot was redrawn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._draw()
        self._warm_up()

    def _warm_up(self) -> None:
        """One tiny step now, so the first click does not pay PyTorch's first-call costs
        (about a second on a 2-core CPU)."""
        from .models import build
        from .train import TrainConfig, fit

        tiny = self.data.train.take(torch.arange(min(8, len(self.data.train))))
        fit(build("cnn", num_classes=len(self.data.classes), width=self._base.width), tiny, tiny,
            TrainConfig(epochs=1, batch_size=8, device=self.device, progress=False))

    # -- state ---------------------------------------------------------------------------------
    def setting(self):
        """The OverfitSetting the controls describe."""
        from dataclasses import replace

        values = {k: c.value for k, c in self.controls.items()}
        return replace(self._base, **values)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ipython_display_(self):  # display(explorer) shows the container
        from IPython.display import display

        display(self.widget)

    # -- actions -------------------------------------------------------------------------------
    def train(self, wait: bool = False) -> None:
        """Start a run with the current controls (ignored while one is running)."""
        import threading

        if self.running:
            return
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
        if not self.running:
            self.runs.clear()
            self.last_run = None
            self.table.value = ""
            self._draw()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the run (background thread) ----------------------------------------------------------
    def _run(self) -> None:
        import html

        from .overfitting import run
        from .train import Callback, StopTraining

        explorer = self

        class Live(Callback):
            def on_train_start(self, history, model):
                explorer.history = history

            def on_iteration(self, iteration, loss, history):
                if explorer._stop.is_set():
                    raise StopTraining

            def on_epoch_end(self, epoch, history, model):
                explorer.status.value = (f"epoch {epoch}/{setting.epochs}: train acc "
                                         f"{history.train_acc[-1]:.3f}, val acc {history.val_acc[-1]:.3f}, "
                                         f"val loss {history.val_loss[-1]:.3f}")
                explorer._draw()

        try:
            setting = self.setting()
            self.status.value = f"training {setting.train_size} images, width {setting.width}…"
            result = run(setting, self.data, device=self.device, callbacks=[Live()])
            self.last_run = result
            if result.history.epochs:
                self.runs.append(result)
                del self.runs[:-(self.max_faint + 1)]
            h = result.history
            stopped = " (stopped)" if h.interrupted else ""
            self.status.value = (f"done{stopped}: {h.epochs} epochs in {result.seconds:.1f} s; best epoch "
                                 f"by validation loss {h.best_epoch}; final gap train − val accuracy "
                                 f"{result.gap:+.3f}")
            if result.best is not None:
                self.table.value = ("<b>Validation metrics (car = positive), best vs last epoch</b>"
                                    + result.metrics_table().round(3).to_html(
                                        classes="carcourse-metrics", border=0))
        except BaseException as exc:  # shown in the widget, not lost in the server log
            self.last_error = exc
            self.error.value = (f"<pre style='color:#b00020'>{html.escape(type(exc).__name__)}: "
                                f"{html.escape(str(exc))}</pre>")
            self.status.value = "the run failed (see below)"
        finally:
            self.history = None
            self._draw()
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        for c in self.controls.values():
            c.disabled = busy
        self.train_button.disabled = busy
        self.clear_button.disabled = busy
        self.stop_button.disabled = not busy

    # -- drawing -------------------------------------------------------------------------------
    def _draw(self) -> None:
        """Redraw both panels (loss, accuracy) and push the PNG to the Image widget."""
        import io

        with self._lock:
            fig = self.figure
            ax_loss, ax_acc = fig.axes
            ax_loss.cla()
            ax_acc.cla()
            live = self.history
            for r in self.runs[:-1] if live is None else self.runs:
                self._curves(ax_loss, ax_acc, r.history, alpha=0.25, label=False)
            current = live if live is not None else (self.runs[-1].history if self.runs else None)
            if current is not None and current.epochs:
                self._curves(ax_loss, ax_acc, current, alpha=1.0, label=True)
            ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
            for ax in (ax_loss, ax_acc):  # few ticks: text is most of a frame's cost
                ax.xaxis.set_major_locator(self._ticks(integer=True))
                ax.yaxis.set_major_locator(self._ticks())
            ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.4, 1.01))
            if ax_loss.lines:
                ax_loss.legend(loc="upper right", fontsize=8)
            for ax in (ax_loss, ax_acc):
                ax.grid(alpha=0.3)
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            self.plot.value = buf.getvalue()
            self.frames += 1

    @staticmethod
    def _ticks(integer: bool = False):
        from matplotlib.ticker import MaxNLocator

        return MaxNLocator(nbins=5, integer=integer)

    @staticmethod
    def _curves(ax_loss, ax_acc, h, alpha: float, label: bool) -> None:
        epochs = list(range(1, h.epochs + 1))
        n = min(len(h.val_loss), h.epochs)
        kw = lambda name: {"label": name} if label else {}  # noqa: E731
        ax_loss.plot(epochs, h.train_loss, color="C0", alpha=alpha, **kw("train"))
        ax_acc.plot(epochs, h.train_acc, color="C0", alpha=alpha, **kw("train"))
        if n:
            ax_loss.plot(epochs[:n], h.val_loss[:n], color="C3", alpha=alpha, **kw("validation"))
            ax_acc.plot(epochs[:n], h.val_acc[:n], color="C3", alpha=alpha, **kw("validation"))
            if label:  # shade the generalisation gap of the current run
                ax_loss.fill_between(epochs[:n], h.train_loss[:n], h.val_loss[:n], color="C3", alpha=0.12,
                                     label="gap")
                ax_acc.fill_between(epochs[:n], h.train_acc[:n], h.val_acc[:n], color="C3", alpha=0.12,
                                    label="gap")
                if h.best_epoch:
                    ax_loss.axvline(h.best_epoch, color="k", ls=":", lw=1, label=f"best epoch {h.best_epoch}")


def overfitting_explorer(data=None, setting=None, device: str | None = None):
    """Lesson 05's interactive explorer: returns the ipywidgets container; the OverfittingExplorer
    behind it is on the container's `.explorer` attribute (for tests and scripts)."""
    ex = OverfittingExplorer(data=data, setting=setting, device=device)
    ex.widget.explorer = ex
    return ex.widget


# ----------------------------------------------------------------------------------------------
# loss shapes (lesson 04)
# ----------------------------------------------------------------------------------------------
def loss_values(margin: float) -> dict[str, float]:
    """Two-class losses and their push on the margin m = z_true − z_other (p_true = σ(m)):
    cross-entropy −log σ(m) and L2 on the softmax output 2(1 − σ(m))², with −d/dm of each."""
    m = torch.tensor(float(margin), dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(m)
    ce = -torch.nn.functional.logsigmoid(m)
    l2 = 2 * (1 - p) ** 2
    ce_grad, = torch.autograd.grad(ce, m)
    l2_grad, = torch.autograd.grad(l2, m)
    return {"margin": float(margin), "p_true": p.item(), "ce": ce.item(), "l2": l2.item(),
            "ce_push": float(-ce_grad), "l2_push": float(-l2_grad)}


def loss_shapes(m_min: float = -10.0, m_max: float = 10.0):
    """A slider over the margin z_true − z_other: both losses and their gradients, with the
    current point marked and its values printed. Shows where L2's push vanishes (confidently
    wrong, m ≪ 0) while cross-entropy's stays near 1."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    grid = torch.linspace(m_min, m_max, 401)
    curves = [loss_values(float(v)) for v in grid]
    slider = w.FloatSlider(value=-4.0, min=m_min, max=m_max, step=0.1, description="margin",
                           continuous_update=False, readout_format=".1f")
    text = w.HTML()
    out = w.Output()

    def draw(change=None) -> None:
        v = loss_values(slider.value)
        text.value = (f"P(true class) = {v['p_true']:.4f} &nbsp; CE = {v['ce']:.3f} (push {v['ce_push']:.3f}) "
                      f"&nbsp; L2 = {v['l2']:.3f} (push {v['l2_push']:.4f})")
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 2, figsize=(9, 3))
            for ax, keys, title in ((axes[0], ("ce", "l2"), "loss"), (axes[1], ("ce_push", "l2_push"),
                                                                        "push on the margin (−dL/dm)")):
                for key, colour in zip(keys, ("C0", "C3")):
                    ax.plot(grid.numpy(), [c[key] for c in curves], color=colour, label=key)
                    ax.plot([v["margin"]], [v[key]], "o", color=colour)
                ax.axvline(v["margin"], color="grey", ls=":")
                ax.set(xlabel="margin z_true − z_other", title=title)
                ax.legend(fontsize=8)
                ax.grid(alpha=0.3)
            plt.show()

    slider.observe(draw, names="value")
    draw()
    return w.VBox([slider, text, out])
