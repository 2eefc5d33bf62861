"""Data: the in-memory image sets the course trains on, the synthetic default, and folder trees.

Images are kept as one uint8 tensor (N×3×H×W) per split so that training can move them to the
device once and slice batches there. Class index 0 is "notcar" and 1 is "car", as in the exercise.
"""
from __future__ import annotations

import hashlib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import synthetic
from .presets import preset

CLASSES = ("notcar", "car")

# Folder names recognised as the two classes of the car lesson, whatever their sort order.
NOTCAR_NAMES = {"notcar", "not_car", "not-car", "non-car", "noncar", "non_car", "non-vehicles",
                "non_vehicles", "nonvehicles", "non-vehicle", "negative", "negatives", "neg",
                "background", "other", "0"}
CAR_NAMES = {"car", "cars", "vehicle", "vehicles", "positive", "positives", "pos", "1"}

SPLIT_NAMES = ("train", "val", "test")
CAR_FRACTION = 0.3  # share of cars in the synthetic train/val splits (the test split has 400/1345)


class DataError(ValueError):
    """A data set or folder tree that cannot be used; the message names the path and the problem."""


META_FILE = "meta.csv"  # per-image metadata beside a saved folder tree


@dataclass
class ImageSet:
    """Images (uint8, N×3×H×W), labels (int64, N) and class names (index = label).

    `meta`: what each image shows (a pandas DataFrame with one row per image, in image order:
    column `kind` always, see carcourse.synthetic), or None when unknown (e.g. photographs)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...] = CLASSES
    meta: "pd.DataFrame | None" = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise DataError(f"images must be a uint8 tensor N×3×H×W, got {self.images.dtype} "
                            f"{tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(f"labels must have shape ({self.images.shape[0]},), "
                            f"got {tuple(self.labels.shape)}")
        self.labels = self.labels.to(torch.int64)
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DataError(f"labels must lie in 0..{len(self.classes) - 1} for classes "
                            f"{self.classes}, got {self.labels.min()}..{self.labels.max()}")
        if self.meta is not None and len(self.meta) != len(self.labels):
            raise DataError(f"meta has {len(self.meta)} rows for {len(self.labels)} images")

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.class_counts().items())
        return f"ImageSet({len(self)} images {tuple(self.images.shape[1:])}, {counts})"

    def class_counts(self) -> dict[str, int]:
        """Number of images per class name, in class order."""
        counts = torch.bincount(self.labels, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts)}

    def subset(self, n: int, seed: int = 0, stratified: bool = True) -> "ImageSet":
        """n images drawn without replacement (class shares kept when stratified)."""
        if not 0 < n <= len(self):
            raise ValueError(f"subset size n={n} must be in 1..{len(self)}")
        g = torch.Generator().manual_seed(seed)
        if not stratified:
            idx = torch.randperm(len(self), generator=g)[:n]
        else:
            idx = _stratified_take(self.labels, n / len(self), g)
            if len(idx) != n:  # rounding: top up or trim at random
                rest = torch.tensor(sorted(set(range(len(self))) - set(idx.tolist())), dtype=torch.long)
                extra = rest[torch.randperm(len(rest), generator=g)]
                idx = torch.cat([idx, extra])[:n]
        return self.take(idx.sort().values)

    def as_dataset(self) -> torch.utils.data.Dataset:
        """This set as a torch Dataset of (normalised float image 3×H×W, label) pairs, normalised
        as fit() does: for the plain DataLoader loop of lesson 01."""
        from .batches import NormalisedImages

        return NormalisedImages(self.images, self.labels)

    def take(self, index: torch.Tensor) -> "ImageSet":
        """The images at the given indices (a view of this set's storage where possible),
        with their metadata rows."""
        return ImageSet(self.images[index], self.labels[index], self.classes, _meta_rows(self.meta, index))


def _meta_rows(meta: "pd.DataFrame | None", index: torch.Tensor) -> "pd.DataFrame | None":
    """The metadata rows at `index` (positions or a boolean mask), renumbered from 0."""
    if meta is None:
        return None
    index = torch.as_tensor(index)
    if index.dtype == torch.bool:
        index = index.nonzero().squeeze(1)
    return meta.iloc[index.reshape(-1).numpy()].reset_index(drop=True)


@dataclass
class Splits:
    """Train, validation (optional) and test sets sharing one class list."""

    train: ImageSet
    val: ImageSet | None
    test: ImageSet
    source: str = "synthetic"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    def items(self):
        """(name, ImageSet) for the splits that exist."""
        return [(k, s) for k, s in (("train", self.train), ("val", self.val), ("test", self.test))
                if s is not None]

    def summary(self) -> dict[str, dict[str, int]]:
        """Per-split class counts, e.g. {"train": {"notcar": 2940, "car": 1260}, ...}."""
        return {name: s.class_counts() for name, s in self.items()}

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={s!r}" for name, s in self.items())
        return f"Splits(source={self.source!r}, {parts})"


def _stratified_take(labels: torch.Tensor, fraction: float, g: torch.Generator) -> torch.Tensor:
    """Indices of round(fraction × count) random images from each class."""
    picks = []
    for c in torch.unique(labels).tolist():
        members = (labels == c).nonzero().squeeze(1)
        k = int(round(fraction * len(members)))
        picks.append(members[torch.randperm(len(members), generator=g)[:k]])
    return torch.cat(picks) if picks else torch.empty(0, dtype=torch.long)


# ----------------------------------------------------------------------------------------------
# synthetic data
# ----------------------------------------------------------------------------------------------
def synthetic_set(n_notcar: int, n_car: int, seed: int, size: int = 64,
                  options: synthetic.Options | None = None) -> ImageSet:
    """n_notcar + n_car rendered patches in a seeded random order, with their metadata."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.zeros(n_notcar, dtype=torch.long), torch.ones(n_car, dtype=torch.long)])
    labels = labels[torch.randperm(len(labels), generator=g)]
    images, columns = synthetic.render_with_meta(labels, seed=seed, size=size, options=options)
    meta = pd.DataFrame({"label": [CLASSES[i] for i in labels.tolist()], **columns})
    return ImageSet(images, labels, CLASSES, meta)


def make_synthetic(n_train: int | None = None, n_test_notcar: int | None = None,
                   n_test_car: int | None = None, size: int = 64, seed: int = 0,
                   quick: bool = False, n_val: int | None = None,
                   options: synthetic.Options | None = None) -> Splits:
    """The course's default data: procedurally rendered aerial car / not-car patches.

    Sizes default to the exercise's (4200 training images, a test split of exactly 945 not-car
    and 400 car) plus an independent validation split of 600; `quick=True` takes the quick
    preset's sizes (carcourse.presets.QUICK). The environment is not read here: pass
    `quick=carcourse.preset().quick` to follow CARCOURSE_QUICK. Train and validation hold
    30 % cars. Each split is rendered from its own seed derived from `seed`, so the same seed gives
    the same bytes and no image is shared between splits. `options` (carcourse.synthetic.Options)
    switches the generator's realism groups and shifts; every ImageSet carries `meta`.
    """
    sizes = preset(bool(quick)).data_sizes
    for key, value in (("n_train", n_train), ("n_val", n_val), ("n_test_notcar", n_test_notcar),
                       ("n_test_car", n_test_car)):
        if value is not None:
            if int(value) < 0:
                raise ValueError(f"{key} must be >= 0, got {value}")
            sizes[key] = int(value)
    if sizes["n_train"] < 2 or sizes["n_test_notcar"] + sizes["n_test_car"] < 1:
        raise ValueError(f"need at least 2 training and 1 test image, got {sizes}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    base = int(seed) * 1000 + 17

    def car_split(n: int) -> tuple[int, int]:
        car = int(round(CAR_FRACTION * n))
        return n - car, car

    train = synthetic_set(*car_split(sizes["n_train"]), seed=base, size=size, options=options)
    val = (synthetic_set(*car_split(sizes["n_val"]), seed=base + 1, size=size, options=options)
           if sizes["n_val"] else None)
    test = synthetic_set(sizes["n_test_notcar"], sizes["n_test_car"], seed=base + 2, size=size,
                         options=options)
    return Splits(train, val, test, source=f"synthetic(seed={seed})")


# ----------------------------------------------------------------------------------------------
# folder trees
# ----------------------------------------------------------------------------------------------
def save_folder(splits: Splits, root: str | os.PathLike) -> Path:
    """Write splits as PNG files: root/{train,val,test}/{class}/{index:05d}.png, and the
    per-image metadata (when the splits carry it) as root/meta.csv with a `file` column."""
    from PIL import Image

    root = Path(root)
    tables = []
    for name, s in splits.items():
        for cls in s.classes:
            (root / name / cls).mkdir(parents=True, exist_ok=True)
        arr = s.images.permute(0, 2, 3, 1).contiguous().numpy()
        files = []
        for i, (img, label) in enumerate(zip(arr, s.labels.tolist())):
            files.append(f"{name}/{s.classes[label]}/{i:05d}.png")
            Image.fromarray(img).save(root / files[-1])
        if s.meta is not None:
            tables.append(s.meta.assign(file=files))
    if tables:
        table = pd.concat(tables, ignore_index=True)
        table[["file"] + [c for c in table.columns if c != "file"]].to_csv(root / META_FILE, index=False)
    return root


def _read_meta(root: Path) -> "pd.DataFrame | None":
    """root/meta.csv indexed by file path (relative, with /), or None when absent."""
    path = root / META_FILE
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read the metadata table ({type(exc).__name__}: {exc})") from exc
    if "file" not in table.columns or table["file"].duplicated().any():
        raise DataError(f"{path}: needs a `file` column naming each image once")
    return table.set_index("file")


def _attach_meta(s: ImageSet, files: list[str], table: "pd.DataFrame | None", where: Path) -> ImageSet:
    """s with the metadata rows of its files, when the table has all of them (else a warning)."""
    if table is None:
        return s
    missing = [f for f in files if f not in table.index]
    if missing:
        warnings.warn(f"{where / META_FILE}: no row for {len(missing)} image(s) (e.g. {missing[0]}); "
                      f"metadata ignored for {where}", stacklevel=3)
        return s
    return ImageSet(s.images, s.labels, s.classes, table.loc[files].reset_index(drop=True))


def image_extensions() -> set[str]:
    """File extensions (lower case, with dot) that Pillow can open."""
    from PIL import Image

    return {ext.lower() for ext in Image.registered_extensions()}


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _order_classes(names: list[str], classes: tuple[str, ...] | None, where: Path) -> list[str]:
    """Folder names in label order: the given `classes`, the car lesson's two classes
    (not-car first) when recognised, else sorted."""
    if classes is not None:
        missing = [c for c in classes if c not in names]
        extra = [n for n in names if n not in classes]
        if missing or extra:
            raise DataError(f"{where}: class folders {names} do not match classes={list(classes)}"
                            + (f"; missing {missing}" if missing else "")
                            + (f"; unexpected {extra}" if extra else ""))
        return list(classes)
    if len(names) == 2:
        lower = [n.lower() for n in names]
        neg = [n for n, low in zip(names, lower) if low in NOTCAR_NAMES]
        pos = [n for n, low in zip(names, lower) if low in CAR_NAMES]
        if len(neg) == 1 and len(pos) == 1:
            return [neg[0], pos[0]]
    return sorted(names)


def _read_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 size×size×3 RGB, from any mode Pillow reads (16-bit scaled, alpha
    dropped, CMYK and palette converted); large images are reduced while decoding."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img.draft("RGB", (size * 2, size * 2))  # JPEG: decode at reduced scale
            if img.getexif().get(0x0112, 1) != 1:  # EXIF orientation: rotate only when needed
                img = ImageOps.exif_transpose(img)
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float64)
                top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
                img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
            elif img.mode == "F":
                arr = np.asarray(img, dtype=np.float64)
                img = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1 else 1), 0, 255).astype(np.uint8))
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                img = img.convert("RGBA")
                background = Image.new("RGBA", img.size, (0, 0, 0, 255))
                img = Image.alpha_composite(background, img)
            if img.mode != "RGB":
                img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR, reducing_gap=3.0)
            return np.asarray(img, dtype=np.uint8)
    except Exception as exc:  # Pillow raises many types: name the file, keep the cause
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc


def _read_class_tree(folder: Path, size: int, classes: tuple[str, ...] | None,
                     skip_bad: bool, root: Path | None = None) -> ImageSet:
    """Read folder/{class}/* into an ImageSet (with the rows of root/meta.csv when present)."""
    if not folder.exists():
        raise DataError(f"{folder}: folder does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder}: is not a folder")
    dirs = _class_dirs(folder)
    if not dirs:
        raise DataError(f"{folder}: no class folders (expected {folder}/<class>/<image files>, "
                        f"e.g. {folder}/car and {folder}/notcar)")
    names = _order_classes([d.name for d in dirs], classes, folder)
    if len(names) < 2:
        raise DataError(f"{folder}: only one class folder ({names[0]!r}); a classifier needs at "
                        f"least two, e.g. {folder}/car and {folder}/notcar")
    exts = image_extensions()
    images, labels, bad, read = [], [], [], []
    for label, name in enumerate(names):
        files = sorted(p for p in (folder / name).rglob("*")
                       if p.is_file() and p.suffix.lower() in exts and not p.name.startswith("."))
        if not files:
            raise DataError(f"{folder / name}: class folder {name!r} holds no image files")
        for f in files:
            try:
                images.append(_read_image(f, size))
                labels.append(label)
                read.append(f)
            except DataError:
                if not skip_bad:
                    raise
                bad.append(str(f))
    if bad:
        shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        warnings.warn(f"{folder}: skipped {len(bad)} unreadable image(s): {shown}", stacklevel=3)
    arr = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    data = ImageSet(arr, torch.tensor(labels, dtype=torch.long), tuple(names))
    root = root or folder
    return _attach_meta(data, [f.relative_to(root).as_posix() for f in read], _read_meta(root), root)


def _split_off(data: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """(rest, part) with a stratified random `fraction` of each class in part."""
    g = torch.Generator().manual_seed(seed)
    part = _stratified_take(data.labels, fraction, g)
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[part] = False
    return data.take(keep.nonzero().squeeze(1)), data.take(part.sort().values)


def _hashes(s: ImageSet) -> list[str]:
    flat = s.images.reshape(len(s), -1).numpy()
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in flat]


def load_folder(root: str | os.PathLike, size: int = 64, val_fraction: float = 0.1,
                test_fraction: float = 0.2, seed: int = 0,
                classes: tuple[str, ...] | list[str] | None = None,
                skip_bad: bool = False) -> Splits:
    """Read root/{train,val,test}/{class}/* (or root/{class}/*) into Splits.

    Any file Pillow opens is converted to RGB and resized to size×size; files with other
    extensions (.DS_Store, notes) are ignored. Missing `val/` is split off train by `val_fraction`,
    missing `test/` by `test_fraction` (stratified, seeded). Two classes map to 0 = not-car and
    1 = car when their names are recognised (car/notcar, vehicles/non-vehicles, ...); pass
    `classes=` to fix the order. A corrupt image raises DataError naming it, or with
    `skip_bad=True` is skipped with one warning that counts and names the files. Images found in
    both train and test are counted in a warning.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: is not a folder")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not (0 <= value < 1) or math.isnan(value):
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    classes = tuple(classes) if classes is not None else None
    present = {n for n in SPLIT_NAMES if (root / n).is_dir()}
    if "train" not in present and present:
        raise DataError(f"{root}: has {sorted(present)} but no train/ folder")
    if "train" in present:
        train = _read_class_tree(root / "train", size, classes, skip_bad, root)
        classes = train.classes
        val = _read_class_tree(root / "val", size, classes, skip_bad, root) if "val" in present else None
        test = _read_class_tree(root / "test", size, classes, skip_bad, root) if "test" in present else None
    else:
        train, val, test = _read_class_tree(root, size, classes, skip_bad), None, None
    if test is None:
        if test_fraction <= 0:
            raise DataError(f"{root}: no test/ folder and test_fraction=0: nothing to test on")
        train, test = _split_off(train, test_fraction, seed)
    if val is None and val_fraction > 0:
        train, val = _split_off(train, val_fraction, seed + 1)
    for name, s in (("train", train), ("test", test)):
        empty = [c for c, k in s.class_counts().items() if k == 0]
        if empty:
            raise DataError(f"{root}: the {name} split has no images of class(es) {empty} "
                            f"(too few images to split; add images or a {name}/ folder)")
    overlap = set(_hashes(train)) & set(_hashes(test))
    if overlap:
        warnings.warn(f"{root}: {len(overlap)} image(s) appear in both train and test; "
                      f"test accuracy will be optimistic", stacklevel=2)
    return Splits(train, val, test, source=str(root))
