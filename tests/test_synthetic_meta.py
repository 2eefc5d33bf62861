"""The generator's per-image metadata, its switches, per-kind error tables and shifted test sets."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from carcourse import synthetic
from carcourse.data import Splits, load_folder, make_synthetic, save_folder, synthetic_set
from carcourse.evaluate import Predictions, confusion_matrix
from carcourse.kinds import kind_errors, kind_errors_json, wilson_interval
from carcourse.shifts import SHIFTS, shifted_set, shifted_test_sets

NEW_KINDS = {"pedestrian", "cyclist", "hedge", "pole", "bare_tree", "manhole", "round_structure",
             "sidewalk", "large_vehicle"}


@pytest.fixture(scope="module")
def small():
    """600 not-car and 200 car patches (every kind several times)."""
    return synthetic_set(600, 200, seed=5)


def test_metadata_is_aligned_and_has_every_kind(small, quick_splits):
    meta = small.meta
    assert len(meta) == len(small)
    assert list(meta["label"]) == [small.classes[i] for i in small.labels.tolist()]
    kinds = set(meta["kind"])
    assert NEW_KINDS <= kinds
    assert {"empty", "box", "marking", "cut_car", "motorbike", "car", "car_glass_roof"} <= kinds
    for split in (quick_splits.train, quick_splits.val, quick_splits.test):
        assert split.meta is not None and len(split.meta) == len(split)
        assert split.meta["kind"].nunique() >= 5
    cars = meta[meta["label"] == "car"]
    assert cars["kind"].str.startswith("car").all()
    assert (cars["visible_fraction"] > 0.9).all()  # a car patch shows (nearly) all of its car
    cut = meta[meta["kind"] == "cut_car"]
    assert (cut["visible_fraction"] <= 0.55).all()  # centre outside: at most about half visible
    assert meta["tree_cover"].between(0, 1).all()
    assert set(meta.loc[meta["label"] == "notcar", "body"]) <= {"none", *synthetic.BODY_TYPES}


def test_same_seed_gives_the_same_metadata(small):
    again = synthetic_set(600, 200, seed=5)
    assert torch.equal(again.images, small.images)
    pd.testing.assert_frame_equal(again.meta, small.meta)
    other = synthetic_set(600, 200, seed=6)
    assert not other.meta["kind"].equals(small.meta["kind"])


def test_metadata_survives_subset_and_take(small):
    sub = small.subset(100, seed=2)
    assert len(sub.meta) == 100
    assert list(sub.meta["label"]) == [sub.classes[i] for i in sub.labels.tolist()]
    idx = torch.tensor([5, 1, 7])
    taken = small.take(idx)
    pd.testing.assert_frame_equal(taken.meta, small.meta.iloc[[5, 1, 7]].reset_index(drop=True))


def test_metadata_survives_save_folder_and_load_folder(tmp_path, small):
    splits = Splits(*(small.take(torch.arange(lo, hi)) for lo, hi in ((0, 60), (60, 90), (90, 130))))
    save_folder(splits, tmp_path)
    assert (tmp_path / "meta.csv").is_file()
    back = load_folder(tmp_path)
    for name in ("train", "val", "test"):
        a, b = getattr(splits, name), getattr(back, name)
        key = lambda s: [s.images[i].numpy().tobytes() for i in range(len(s))]  # noqa: E731
        order_a, order_b = np.argsort(key(a)), np.argsort(key(b))
        left = a.meta.iloc[order_a].reset_index(drop=True)
        right = b.meta.iloc[order_b].reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False, atol=1e-6)


def test_folders_without_meta_csv_have_no_metadata(tmp_path, small):
    save_folder(Splits(small.take(torch.arange(20)), None, small.take(torch.arange(20, 40))), tmp_path)
    (tmp_path / "meta.csv").unlink()
    assert load_folder(tmp_path).train.meta is None


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_kind_table_sums_to_the_confusion_matrix(small):
    g = torch.Generator().manual_seed(0)
    predicted = torch.where(torch.rand(len(small), generator=g) < 0.2, 1 - small.labels, small.labels)
    probs = torch.nn.functional.one_hot(predicted, 2).float()
    p = Predictions(probs, probs, predicted, small.labels.clone(), small.classes)
    table = kind_errors(p, small.meta)
    cm = confusion_matrix(small.labels.numpy(), predicted.numpy(), 2)
    assert table["count"].sum() == len(small)
    assert table["errors"].sum() == cm[0, 1] + cm[1, 0]
    by_label = table.groupby("label")["errors"].sum()
    assert by_label["notcar"] == cm[0, 1] and by_label["car"] == cm[1, 0]
    assert (table["low"] <= table["error_rate"]).all() and (table["error_rate"] <= table["high"]).all()
    assert set(kind_errors_json(table)) == set(small.meta["kind"])
    with pytest.raises(ValueError, match="metadata"):
        kind_errors(p, None)


def test_shifts_keep_class_counts_and_differ_from_the_test_set(quick_splits):
    sets = shifted_test_sets(quick_splits.test)
    assert set(sets) == set(SHIFTS) and len(sets) >= 4
    test_bytes = {img.numpy().tobytes() for img in quick_splits.test.images}
    for name, data in sets.items():
        assert data.class_counts() == quick_splits.test.class_counts(), name
        assert not test_bytes & {img.numpy().tobytes() for img in data.images}, name
        assert (data.meta["shift"] == name).all()
    gsd = quick_splits.test.meta["gsd_m"].mean()
    assert sets["larger_cars"].meta["gsd_m"].mean() < gsd / 1.15
    assert sets["smaller_cars"].meta["gsd_m"].mean() > gsd * 1.15
    assert sets["low_sun"].meta["shadow_ratio"].min() >= 2.2
    with pytest.raises(ValueError, match="unknown shift"):
        shifted_set("fog", 3, 3)


@pytest.mark.parametrize("switch", synthetic.SWITCHES)
def test_each_switch_changes_the_images(switch):
    labels = torch.tensor([0, 1] * 16)
    on = synthetic.render(labels, seed=3)
    off = synthetic.render(labels, seed=3, options=replace(synthetic.Options(), **{switch: False}))
    assert on.shape == off.shape == (32, 3, 64, 64)
    assert not torch.equal(on, off)


def test_switches_do_what_they_say():
    labels = torch.tensor([0] * 300 + [1] * 100)
    _, on = synthetic.render_with_meta(labels, seed=4)
    _, plain = synthetic.render_with_meta(labels, seed=4, options=synthetic.ORIGINAL)
    assert NEW_KINDS & set(on["kind"]) and not NEW_KINDS & set(plain["kind"])
    assert set(plain["kind"][300:]) <= {"car", "car_under_tree"} and set(plain["roof_glass"]) == {"none"}
    assert on["shadow_ratio"].max() > 1.2 and plain["shadow_ratio"].max() <= 0.93


def test_jpeg_and_motion_blur_act_as_described():
    ramp = torch.linspace(0, 1, 64)
    smooth = (ramp.view(1, 1, 64, 1) * ramp.view(1, 1, 1, 64)).expand(2, 3, 64, 64).contiguous()
    assert (synthetic._jpeg(smooth, torch.tensor([95.0, 95.0])) - smooth).abs().max() < 0.01
    noisy = smooth + 0.1 * torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert (synthetic._jpeg(noisy, torch.tensor([30.0, 30.0])) - noisy).abs().mean() > 0.02
    dot = torch.zeros(1, 1, 15, 15)
    dot[0, 0, 7, 7] = 1
    streaked = synthetic._blur(dot, torch.tensor([0.5]), torch.tensor([6.0]), torch.tensor([0.0]))[0, 0]
    assert streaked[7, 9] > 5 * streaked[9, 7]  # smeared along x (angle 0), not along y


def test_options_validate_and_without_removes_a_kind():
    with pytest.raises(ValueError, match="scale"):
        synthetic.Options(scale=10)
    with pytest.raises(ValueError, match="notcar_mix"):
        synthetic.Options(notcar_mix={"ufo": 1.0})
    opts = synthetic.Options().without("pedestrian")
    shares = dict(zip(synthetic.NOTCAR_KINDS, opts.kind_shares()))
    assert shares["pedestrian"] == 0 and sum(shares.values()) == pytest.approx(1)
    _, meta = synthetic.render_with_meta(torch.zeros(400, dtype=torch.long), seed=1, options=opts)
    assert "pedestrian" not in set(meta["kind"])


def test_full_split_keeps_the_exercise_sizes_with_metadata(full_splits):
    for name, s in full_splits.items():
        assert len(s.meta) == len(s), name
    assert full_splits.test.class_counts() == {"notcar": 945, "car": 400}
    meta = full_splits.train.meta
    shares = meta.loc[meta["label"] == "notcar", "kind"].value_counts(normalize=True)
    assert shares[list(NEW_KINDS)].sum() == pytest.approx(0.44, abs=0.03)  # street kinds among not-cars


def test_compare_entries_add_kind_tables_and_shift_results(quick_splits):
    from carcourse.shifts import robustness_entries

    class Brightness(torch.nn.Module):
        """A 'model' that calls bright patches car: enough to exercise the plumbing."""

        def forward(self, x):
            score = x.float().mean(dim=(1, 2, 3))
            return torch.stack([-score, score], dim=1)

    from carcourse.evaluate import predict, report

    test = quick_splits.test.subset(60, seed=0)
    splits = Splits(quick_splits.train, None, test, source="synthetic(seed=0)")
    model = Brightness()
    reports = {"cnn": [report(predict(model, test))]}
    model_json = {"cnn": {}}
    doc = robustness_entries(model_json, {"cnn": model}, reports, splits)
    kinds = model_json["cnn"]["kind_errors"]
    assert len(kinds) >= 5 and sum(k["count"] for k in kinds.values()) == 60
    assert set(model_json["cnn"]["shifts"]) == set(SHIFTS) == set(doc["shifts"])
    for result in model_json["cnn"]["shifts"].values():
        assert {"accuracy", "balanced_accuracy", "roc_auc"} <= set(result) and result["n"] == 60
