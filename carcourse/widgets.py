"""Interactive explorers for JupyterLab (ipywidgets). Each returns a widget container; in a
non-interactive run (nbval, a script) the notebooks show a static figure beside it."""
from __future__ import annotations

from typing import Sequence

import torch


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
