"""carcourse: a Jupyter course on image classification with CNNs (car vs not-car).

The library does the work the notebooks explain: data (`carcourse.data`), models
(`carcourse.models`), training (`carcourse.train`), evaluation (`carcourse.evaluate`), plots
and widgets. Run `python -m carcourse --help` for the command line.
"""
from .config import pick_device, quick_mode

__version__ = "0.1.0"
__all__ = ["pick_device", "quick_mode", "__version__"]
