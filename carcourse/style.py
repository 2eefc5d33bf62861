"""The course's figure style in one place: size, resolution, fonts, colours and the small rules
every figure follows (integer epoch ticks, legends outside the data, epoch boundaries that do
not look like grid lines, readable image-grid titles).

`plots`, `widgets` and `overfitting` draw inside `style.context()`; a notebook calls
`style.use()` once so that figures drawn in its own cells look the same."""
from __future__ import annotations

import contextlib
from typing import Iterator, Mapping, Sequence

# -- sizes -------------------------------------------------------------------------------------
WIDTH = 9.0  # inches: a JupyterLab page's output width at DPI (900 px)
DPI = 100  # one inch = 100 CSS pixels on screen; the inline backend doubles it for retina
PANEL_HEIGHT = 3.0  # inches per row of line plots
IMAGE_CELL = 1.125  # inches per patch in an image grid (8 per row at WIDTH)

RC: dict[str, object] = {
    "figure.figsize": (WIDTH, PANEL_HEIGHT + 0.4),
    "figure.dpi": DPI,
    "savefig.dpi": 2 * DPI,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.titlesize": 12,
    "axes.grid": True,
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.6,
    "grid.alpha": 1.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.interpolation": "nearest",
}

# -- colours: one per role, model and loss, the same in every figure and widget -----------------
TRAIN = "#1f77b4"  # blue
VALIDATION = "#d62728"  # red
GAP = "#d62728"  # the shaded train/validation gap uses the validation colour, faint
BEST = "#222222"
RIGHT = "#2a7f3a"  # green: a correct decision
WRONG = "#c0392b"  # red: a wrong decision
EPOCH_BAND = "#f1f1f4"  # alternate epochs shaded, so their boundaries read as bands, not grid
COLOURS: dict[str, str] = {
    "cnn": "#1f77b4", "resnet18": "#ff7f0e",
    "cross_entropy": "#1f77b4", "mse": "#9467bd", "l2": "#9467bd", "double_softmax": "#8c564b",
    "train": TRAIN, "validation": VALIDATION,
}
CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")

# words for the code keys that reach a legend
LABELS: dict[str, str] = {
    "cnn": "SmallCNN", "resnet18": "ResNet18",
    "cross_entropy": "cross-entropy", "ce": "cross-entropy", "mse": "L2 (squared error on softmax)",
    "l2": "L2 (squared error on softmax)", "double_softmax": "cross-entropy on softmax (double softmax)",
}


def colour(name: str, index: int = 0) -> str:
    """The colour of a model, loss or role by name (case-insensitive); otherwise the index-th
    colour of the course's cycle, so unnamed runs still differ."""
    return COLOURS.get(str(name).lower(), CYCLE[index % len(CYCLE)])


def label(name: str) -> str:
    """Words for a code key (`mse` → 'L2 (squared error on softmax)'); other names unchanged."""
    return LABELS.get(str(name).lower(), str(name))


def colours_for(names: Sequence[str]) -> dict[str, str]:
    """A colour per name: the named colour where there is one, else the cycle, never the same
    colour twice in one figure."""
    out: dict[str, str] = {}
    free = [c for c in CYCLE]
    for name in names:
        c = COLOURS.get(str(name).lower())
        if c is None or c in out.values():
            c = next((f for f in free if f not in out.values()), CYCLE[len(out) % len(CYCLE)])
        out[name] = c
    return out


@contextlib.contextmanager
def context() -> Iterator[None]:
    """Matplotlib settings of the course for the figures drawn inside the block."""
    import matplotlib as mpl

    with mpl.rc_context(RC):
        yield


def use() -> None:
    """Apply the course style to every later figure in this process (call once per notebook).
    In a notebook also asks the inline backend for sharp (retina) PNGs."""
    import matplotlib as mpl

    mpl.rcParams.update(RC)
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None and "IPKernelApp" in ip.config:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("retina")
    except ImportError:  # no IPython: scripts and tests
        pass


# -- rules -------------------------------------------------------------------------------------
def integer_ticks(ax, axis: str = "x", nbins: int = 8) -> None:
    """Whole-number ticks (epochs, counts): never 1.2, 1.4, …"""
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(nbins=nbins, integer=True))


def legend_outside(ax_or_fig, handles=None, labels=None, where: str = "right", ncol: int | None = None,
                   inside_figure: bool = False, **kw):
    """A legend beside the data, never on it: to the right of an Axes, or above a Figure's
    panels (one row; `inside_figure` puts it in the figure's top strip, for pictures saved
    without a tight bounding box, as the widgets' are)."""
    from matplotlib.figure import Figure

    if handles is None:
        target = ax_or_fig.axes[0] if isinstance(ax_or_fig, Figure) else ax_or_fig
        handles, labels = target.get_legend_handles_labels()
    if not handles:
        return None
    if isinstance(ax_or_fig, Figure) or where == "top":
        return ax_or_fig.legend(handles, labels, loc="upper center" if inside_figure else "lower center",
                                bbox_to_anchor=(0.5, 1.0), ncol=ncol or len(handles), **kw)
    return ax_or_fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                            borderaxespad=0.0, ncol=ncol or 1, **kw)


def epoch_bands(ax, iterations_per_epoch: int, epochs: int, max_labelled: int = 12) -> None:
    """Shade every second epoch on an iteration axis: the boundaries read as bands, distinct
    from the grid. With up to `max_labelled` epochs each band is numbered along the top."""
    ipe = max(int(iterations_per_epoch), 1)
    for e in range(1, epochs, 2):
        ax.axvspan(e * ipe + 0.5, (e + 1) * ipe + 0.5, color=EPOCH_BAND, lw=0, zorder=0)
    if epochs <= max_labelled:
        from matplotlib.transforms import blended_transform_factory

        t = blended_transform_factory(ax.transData, ax.transAxes)
        for e in range(epochs):
            ax.text((e + 0.5) * ipe + 0.5, 0.98, f"epoch {e + 1}" if epochs <= 6 else f"{e + 1}", transform=t,
                    ha="center", va="top", fontsize=8, color="#666666")


def titled_rows(axes_rows: Sequence, names: Sequence[str], colours: Mapping[str, str] | None = None) -> None:
    """Label each row of an image grid at its left edge (e.g. 'right' / 'wrong')."""
    for row, name in zip(axes_rows, names):
        ax = row[0]
        ax.text(-0.08, 0.5, name, transform=ax.transAxes, rotation=90, ha="right", va="center",
                fontsize=12, fontweight="bold", color=(colours or {}).get(name, "black"))


def quick_note(fig, quick: bool) -> None:
    """Mark a figure drawn from quick-mode (small, short) runs: a grey line under its bottom
    right corner (outside the data; the notebooks' tight bounding box keeps it)."""
    if quick:
        fig.text(1.0, -0.01, "quick mode: small data, few epochs", ha="right", va="top",
                 fontsize=8, color="#888888")
