"""How big is this run: one preset for quick mode (CI, 2 CPU cores) and one for the full course.

`preset()` reads CARCOURSE_QUICK once, where the caller can see it, and returns a frozen Preset
whose fields answer every size question the notebooks and the library ask (data sizes, lesson
epochs and widths, the batch sweep, the overfitting grid, the comparison's epochs and seeds).
`print(preset())` shows the table, so a notebook's first output says which sizes it runs with.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .config import quick_mode


def _doc(text: str) -> Any:
    return field(metadata={"doc": text})


@dataclass(frozen=True)
class Preset:
    """Sizes of one kind of run. Fields are grouped by who asks: data, lessons 01-05, lesson 06."""

    quick: bool = _doc("True: the small CI-sized run (CARCOURSE_QUICK=1)")
    # data (make_synthetic)
    n_train: int = _doc("synthetic training images")
    n_val: int = _doc("synthetic validation images")
    n_test_notcar: int = _doc("synthetic test images without a car")
    n_test_car: int = _doc("synthetic test images with a car")
    # lessons 02-04: the SmallCNN trained in each lesson
    lesson_width: int = _doc("SmallCNN width in lessons 02-04")
    lesson_epochs: int = _doc("training epochs in lessons 02-04")
    progress: bool = _doc("show progress bars")
    sgd_epochs: int = _doc("epochs of lesson 04's plain-SGD pair (L2 vs CE without Adam)")
    # lesson 01: epochs and iterations
    loop_image_size: int = _doc("image side in lesson 01's timing runs")
    loop_width: int = _doc("SmallCNN width in lesson 01")
    loop_epochs: int = _doc("epochs in lesson 01's runs")
    batch_sweep_images: int | None = _doc("training images in lesson 01's batch-size sweep (None: all)")
    # lesson 05: overfitting
    overfit_train_size: int = _doc("training images of lesson 05's remedies run")
    overfit_sizes: tuple[int, ...] = _doc("training-set sizes of lesson 05's grid")
    overfit_widths: tuple[int, ...] = _doc("SmallCNN widths of lesson 05's grid")
    overfit_steps: int = _doc("optimizer steps per run of lesson 05's grid")
    # lesson 06 and `python -m carcourse compare`
    compare_epochs: int = _doc("epochs per model in the CNN vs ResNet18 comparison")
    compare_seeds: int = _doc("training runs per model in notebook 06")

    @property
    def data_sizes(self) -> dict[str, int]:
        """make_synthetic's size arguments: `make_synthetic(**P.data_sizes)`."""
        return dict(n_train=self.n_train, n_val=self.n_val, n_test_notcar=self.n_test_notcar,
                    n_test_car=self.n_test_car)

    def __str__(self) -> str:
        rows = [(f.name, repr(getattr(self, f.name)), f.metadata.get("doc", "")) for f in fields(self)]
        w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
        head = f"{'quick' if self.quick else 'full'} preset"
        return "\n".join([head] + [f"  {n:<{w0}}  {v:<{w1}}  {d}" for n, v, d in rows])


QUICK = Preset(quick=True, n_train=640, n_val=192, n_test_notcar=189, n_test_car=80,
               lesson_width=16, lesson_epochs=4, progress=True, sgd_epochs=1,
               loop_image_size=32, loop_width=8, loop_epochs=2, batch_sweep_images=1024,
               overfit_train_size=512, overfit_sizes=(64, 512), overfit_widths=(2, 16), overfit_steps=100,
               compare_epochs=3, compare_seeds=2)

FULL = Preset(quick=False, n_train=4200, n_val=600, n_test_notcar=945, n_test_car=400,
              lesson_width=32, lesson_epochs=8, progress=True, sgd_epochs=3,
              loop_image_size=64, loop_width=32, loop_epochs=5, batch_sweep_images=None,
              overfit_train_size=1024, overfit_sizes=(64, 192, 512, 1024), overfit_widths=(2, 4, 8, 16, 32),
              overfit_steps=300, compare_epochs=8, compare_seeds=3)


def preset(quick: bool | None = None) -> Preset:
    """QUICK or FULL: `quick` if given, else the environment's CARCOURSE_QUICK (1/true/yes/on).
    Call it once at the top of a notebook or script and pass its fields on."""
    return QUICK if quick_mode(quick) else FULL
