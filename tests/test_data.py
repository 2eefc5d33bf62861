"""carcourse.data: the synthetic set, the folder round trip and every DataError."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from carcourse.data import (DataError, ImageSet, Splits, load_folder, make_synthetic, save_folder)


def _hashes(s: ImageSet) -> set[str]:
    return {hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in s.images}


def test_default_split_has_the_exercise_sizes(full_splits):
    s = full_splits
    assert len(s.train) == 4200
    assert s.test.class_counts() == {"notcar": 945, "car": 400}
    assert s.train.class_counts() == {"notcar": 2940, "car": 1260}
    assert s.classes == ("notcar", "car")
    assert s.train.images.dtype == torch.uint8 and s.train.images.shape[1:] == (3, 64, 64)
    assert s.test.images.shape == (1345, 3, 64, 64)


def test_no_image_is_in_both_train_and_test(full_splits):
    assert not _hashes(full_splits.train) & _hashes(full_splits.test)
    assert not _hashes(full_splits.val) & _hashes(full_splits.test)


def test_same_seed_gives_same_bytes_and_other_seeds_other_images(quick_splits):
    again = make_synthetic(quick=True, seed=0)
    assert torch.equal(again.train.images, quick_splits.train.images)
    assert torch.equal(again.test.labels, quick_splits.test.labels)
    other = make_synthetic(quick=True, seed=1)
    assert not torch.equal(other.train.images, quick_splits.train.images)


def test_images_are_not_blank_and_classes_differ(quick_splits):
    x = quick_splits.train.images.float()
    assert x.std(dim=(1, 2, 3)).min() > 2  # every patch has texture
    per_class = [x[quick_splits.train.labels == c].mean() for c in (0, 1)]
    assert abs(per_class[0] - per_class[1]) < 30  # not separable by brightness alone


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="n_train"):
        make_synthetic(n_train=-1)
    with pytest.raises(ValueError, match="size"):
        make_synthetic(quick=True, size=8)


def test_subset_keeps_class_shares_and_is_seeded(quick_splits):
    sub = quick_splits.train.subset(100, seed=3)
    assert len(sub) == 100 and sub.class_counts() == {"notcar": 70, "car": 30}
    assert torch.equal(sub.images, quick_splits.train.subset(100, seed=3).images)


def test_save_folder_then_load_folder_preserves_pixels_and_labels(tmp_path, quick_splits):
    small = Splits(quick_splits.train.subset(40), quick_splits.val.subset(20), quick_splits.test.subset(30))
    save_folder(small, tmp_path)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["car", "notcar"]
    back = load_folder(tmp_path)
    assert back.classes == ("notcar", "car")
    for name in ("train", "val", "test"):
        a, b = getattr(small, name), getattr(back, name)
        pairs_a = sorted((hashlib.sha1(i.numpy().tobytes()).hexdigest(), int(l)) for i, l in zip(a.images, a.labels))
        pairs_b = sorted((hashlib.sha1(i.numpy().tobytes()).hexdigest(), int(l)) for i, l in zip(b.images, b.labels))
        assert pairs_a == pairs_b, name


def _write(path, size=(64, 64), mode="RGB", colour=None, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(str(path))) % 2**32)
    if colour is None:
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        img = Image.fromarray(arr).convert(mode) if mode != "RGB" else Image.fromarray(arr)
    else:
        img = Image.new(mode, size, colour)
    img.save(path, format=fmt)
    return path


def _tree(root, classes=("car", "notcar"), n=6, split=None):
    for c in classes:
        for i in range(n):
            base = root / split / c if split else root / c
            _write(base / f"{i}.png")
    return root


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        load_folder(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


def test_folder_without_class_folders_names_the_path(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no class folders") as e:
        load_folder(tmp_path)
    assert str(tmp_path / "train") in str(e.value)


def test_single_class_names_the_path(tmp_path):
    _tree(tmp_path, classes=("car",), split="train")
    with pytest.raises(DataError, match="only one class") as e:
        load_folder(tmp_path)
    assert str(tmp_path / "train") in str(e.value)


def test_empty_class_names_the_class_folder(tmp_path):
    _tree(tmp_path, classes=("notcar",), split="train")
    (tmp_path / "train" / "car").mkdir()
    (tmp_path / "train" / "car" / ".DS_Store").write_bytes(b"\0\1")
    with pytest.raises(DataError, match="holds no image files") as e:
        load_folder(tmp_path)
    assert str(tmp_path / "train" / "car") in str(e.value)


def test_corrupt_image_names_the_file_or_is_skipped_with_a_count(tmp_path):
    _tree(tmp_path, split="train", n=10)
    bad = tmp_path / "train" / "car" / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="cannot read image") as e:
        load_folder(tmp_path)
    assert str(bad) in str(e.value)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): .*broken.jpg"):
        s = load_folder(tmp_path, skip_bad=True)
    assert len(s.train) + len(s.val) + len(s.test) == 20


def test_non_image_files_are_ignored(tmp_path):
    _tree(tmp_path, split="train", n=10)
    (tmp_path / "train" / "car" / "notes.txt").write_text("labels checked by hand")
    (tmp_path / "train" / "car" / ".DS_Store").write_bytes(b"\0")
    s = load_folder(tmp_path)
    assert sum(len(x) for _, x in s.items()) == 20


def test_any_mode_and_size_is_converted_and_resized(tmp_path):
    base = tmp_path / "train"
    _write(base / "car" / "gray.png", mode="L")
    _write(base / "car" / "rgba.png", mode="RGBA")
    _write(base / "car" / "palette.png", mode="P")
    _write(base / "car" / "cmyk.jpg", mode="CMYK", colour=(0, 255, 255, 0), fmt="JPEG")
    _write(base / "car" / "tiny.png", size=(3, 5))
    img16 = Image.fromarray(np.full((20, 30), 40000, dtype=np.uint16))
    img16.save(base / "car" / "sixteen.png")
    for i in range(6):
        _write(base / "notcar" / f"{i}.jpg", size=(100, 80), fmt="JPEG")
    s = load_folder(tmp_path, val_fraction=0, test_fraction=0.2)
    total = len(s.train) + len(s.test)
    assert total == 12
    assert s.train.images.shape[1:] == (3, 64, 64)
    everything = torch.cat([s.train.images, s.test.images])
    labels = torch.cat([s.train.labels, s.test.labels])
    cars = everything[labels == 1].reshape(6, 3, -1).float().mean(2)
    assert ((cars > 150) & (cars < 160)).all(dim=1).any(), "16-bit 40000 should map to about 156"
    assert ((cars[:, 0] > 200) & (cars[:, 1] < 60)).any(), "CMYK (0,255,255,0) is red"


@pytest.mark.parametrize("names", [("non-vehicles", "vehicles"), ("not_car", "car"),
                                   ("car", "background")])
def test_two_class_trees_map_to_notcar_0_and_car_1(tmp_path, names):
    _tree(tmp_path, classes=names, split="train", n=10)
    s = load_folder(tmp_path)
    neg = [n for n in names if n not in ("vehicles", "car")][0]
    assert s.classes[0] == neg


def test_classes_argument_fixes_the_order_and_is_checked(tmp_path):
    _tree(tmp_path, classes=("a", "b"), split="train", n=10)
    assert load_folder(tmp_path, classes=["b", "a"]).classes == ("b", "a")
    with pytest.raises(DataError, match="do not match"):
        load_folder(tmp_path, classes=["a", "c"])


def test_flat_tree_is_split_by_seed(tmp_path):
    _tree(tmp_path, classes=("car", "notcar"), n=20)
    a = load_folder(tmp_path, seed=1)
    b = load_folder(tmp_path, seed=1)
    assert torch.equal(a.test.images, b.test.images)
    assert len(a.test) == 8 and a.test.class_counts() == {"notcar": 4, "car": 4}


def test_duplicates_across_train_and_test_are_counted(tmp_path):
    import shutil

    _tree(tmp_path, split="train", n=6)
    for c in ("car", "notcar"):
        (tmp_path / "test" / c).mkdir(parents=True)
        for i in range(3):  # copies of training images
            shutil.copy(tmp_path / "train" / c / f"{i}.png", tmp_path / "test" / c / f"copy{i}.png")
    with pytest.warns(UserWarning, match=r"6 image\(s\) appear in both train and test"):
        load_folder(tmp_path, val_fraction=0)


def test_cli_data_writes_the_tree_and_prints_counts(tmp_path):
    out = subprocess.run([sys.executable, "-m", "carcourse", "data", "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    assert "test  notcar=189  car=80" in out.stdout
    assert len(list((tmp_path / "test" / "car").glob("*.png"))) == 80
