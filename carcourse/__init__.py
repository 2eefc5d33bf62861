"""carcourse: a Jupyter course on image classification with CNNs (car vs not-car).

The library does the work the notebooks explain: data (`carcourse.data`), models
(`carcourse.models`), training (`carcourse.train`), evaluation (`carcourse.evaluate`), plots
and widgets. `carcourse.preset()` says how big this run is (quick or full). Run
`python -m carcourse --help` for the command line.
"""
from .config import pick_device, quick_mode
from .presets import Preset, preset

__version__ = "0.1.0"
__all__ = ["Preset", "pick_device", "preset", "quick_mode", "__version__"]
