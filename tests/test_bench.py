"""bench/gpu.py cannot be measured without a GPU; its --smoke mode runs every step at tiny sizes
on any device, so the script a GPU session runs once is known to work."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_bench_smoke_runs_every_step_on_cpu():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke", "--device", "cpu"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])["gpu_bench"]
    assert [m["model"] for m in out["models"]] == ["cnn", "resnet18"]
    for m in out["models"]:
        assert m["images_per_second"] > 0 and m["bare_images_per_second"] > 0
        assert 0.05 < m["gflop_per_image"] < 10  # forward + backward of one 64×64 image
    assert out["residency"]["checked"] is False and "cpu" in out["residency"]["why"]
    assert out["compare_seconds"] > 0 and set(out["compare_accuracy"]) == {"cnn", "resnet18"}


def test_time_to_target_ratio_is_a_lower_bound_only_when_the_textbook_never_gets_there():
    from bench.recipe import time_to_target_ratio

    assert time_to_target_ratio({"seconds": 188.1, "seconds_run": 188.1}, {"seconds": 62.9}) == (188.1 / 62.9, False)
    assert time_to_target_ratio({"seconds": None, "seconds_run": 300.0}, {"seconds": 60.0}) == (5.0, True)
    assert time_to_target_ratio({"seconds": 10.0, "seconds_run": 10.0}, {"seconds": None}) == (None, False)


def test_recipe_bench_takes_the_median_seed_and_a_run_that_never_got_there_only_as_a_lower_bound():
    from bench.recipe import median_time_to_target, time_to_target_ratio

    def run(seconds, seconds_run=None):
        return {"seconds": seconds, "seconds_run": seconds_run or seconds}

    # one lucky early crossing among three seeds does not set the figure
    assert median_time_to_target([run(20.0), run(60.0), run(70.0)]) == {"seconds": 60.0, "seconds_run": 60.0}
    # one seed never reached the target: the median (middle run) still did
    assert median_time_to_target([run(None, 300.0), run(50.0), run(40.0)])["seconds"] == 50.0
    # most seeds never reached it: no time to target, only the lower bound
    textbook = median_time_to_target([run(None, 300.0), run(None, 280.0), run(100.0)])
    assert textbook == {"seconds": None, "seconds_run": 280.0}
    assert time_to_target_ratio(textbook, median_time_to_target([run(30.0), run(35.0), run(40.0)])) == (8.0, True)


def test_the_recipe_target_is_the_median_reference_seed_not_one_seeds_last_epoch_spike():
    """Chosen before the next measurement (2026-11-30): ResNet18's reference seed 0 jumped from
    0.9267 to 0.955 in its last epoch, and that spike was the whole target."""
    from bench.recipe import target_from_references

    def ref(*accs):
        return {"val_acc": list(accs)}

    assert target_from_references([ref(0.9267, 0.955), ref(0.94, 0.945), ref(0.95, 0.9483)]) == 0.9483
    assert target_from_references([ref(0.9, 0.95)]) == 0.95  # quick mode: one seed, its last epoch
    assert target_from_references([ref(0.96), ref(0.94)]) == 0.94  # even count: a value half the seeds reach
    with pytest.raises(ValueError, match="no reference runs"):
        target_from_references([])


def test_the_bare_loop_does_the_augmentation_work_fit_does_when_asked(monkeypatch):
    """fit ÷ bare measures fit's overhead only if both loops do the same work: with the default
    jitter on, the bare loop flips and jitters every batch too."""
    import torch

    from bench import throughput
    from carcourse import augment, batches
    from carcourse.config import TrainConfig
    from carcourse.models import build

    calls = {"flips": 0, "jitter": 0}
    real_flips, real_jitter = batches.augment_dihedral, augment.photometric

    def flips(*a, **k):
        calls["flips"] += 1
        return real_flips(*a, **k)

    def jitter(*a, **k):
        calls["jitter"] += 1
        return real_jitter(*a, **k)

    monkeypatch.setattr(batches, "augment_dihedral", flips)
    monkeypatch.setattr(augment, "photometric", jitter)
    images = torch.randint(0, 256, (40, 3, 64, 64), dtype=torch.uint8)
    labels = torch.randint(0, 2, (40,))
    args = (images, labels, 16, False, False, torch.device("cpu"))
    assert throughput.bare_loop(build("cnn", width=4), *args) > 0
    assert calls == {"flips": 0, "jitter": 0}
    throughput.bare_loop(build("cnn", width=4), *args, augment=TrainConfig())  # the default: flips + jitter
    assert calls == {"flips": 3, "jitter": 3}  # 40 images in batches of 16: 3 batches
    throughput.bare_loop(build("cnn", width=4), *args, augment=TrainConfig(photometric=False))  # the flips alone
    assert calls == {"flips": 6, "jitter": 3}
    throughput.bare_loop(build("cnn", width=4), *args, augment=TrainConfig(augment=False))  # none, as fit
    assert calls == {"flips": 6, "jitter": 3}


def test_step_variants_time_the_same_network_in_both_layer4_layouts():
    """The layout bench compares like with like: layer4 in NCHW computes what the all-channels_last
    network computes (same weights, same logits), and every variant gets a time."""
    import torch

    from bench.step_variants import measure, resnet18_variant

    x = torch.randn(4, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    today, nchw = resnet18_variant(False).eval(), resnet18_variant(True).eval()
    assert nchw.layer4.stage[0].conv1.weight.is_contiguous()
    assert not today.layer4[0].conv1.weight.is_contiguous()  # channels_last
    with torch.no_grad():
        torch.testing.assert_close(nchw(x), today(x), rtol=1e-4, atol=1e-4)
    r = measure(amp=False, rounds=1, steps=1, batch=2, size=32)
    assert len(r["ms_per_step"]) == 4 and all(v > 0 for v in r["ms_per_step"].values())
    assert r["speedup"]["layer4 channels_last, adam default"] == 1.0


def test_sweep_zero_residual_starts_every_block_as_the_identity_and_refuses_a_plain_cnn():
    import torch

    from bench.recipe_sweep import RECIPES, _zero_residual
    from carcourse.models import build

    model = build("resnet18")
    _zero_residual(model)
    blocks = [m for m in model.modules() if type(m).__name__ == "BasicBlock"]
    assert len(blocks) == 8 and all(torch.count_nonzero(b.bn2.weight) == 0 for b in blocks)
    with pytest.raises(ValueError, match="no residual blocks"):
        _zero_residual(build("cnn", width=4))
    assert all(RECIPES[k].get("zero_residual") for k in RECIPES if "zero-res" in k)


def test_a_recipe_candidate_names_real_trainconfig_fields_with_valid_values():
    """`bench.recipe --candidate` times a change before it is adopted; a typo must fail at once,
    naming the item, not after the reference runs (minutes) or silently as the default."""
    from bench.recipe import parse_candidate

    assert parse_candidate("label_smoothing=0.1, lr=5e-4,schedule=onecycle") == {
        "label_smoothing": 0.1, "lr": 5e-4, "schedule": "onecycle"}
    assert parse_candidate("") == {}
    for bad, named in (("label_smothing=0.1", "label_smothing"), ("seed=3", "seed"), ("lr", "'lr'"),
                       ("label_smoothing=2", "label_smoothing"), ("schedule=step", "schedule")):
        with pytest.raises(ValueError, match=named):
            parse_candidate(bad)



def test_kind_left_out_gives_each_seed_its_own_interval_and_counts_seeds_not_pooled_images():
    from bench.kind_left_out import summarise

    def seed(s, w, o):
        return {"seed": s, "errors": {"with hedge": w, "without hedge": o, "with pole": 1, "without pole": 2}}

    out = summarise([seed(0, 17, 56), seed(1, 18, 98), seed(2, 35, 40)], "hedge", 300)
    assert [r["seed"] for r in out["rates"]["with hedge"]] == [0, 1, 2] and set(out["rates"]) == {
        "with hedge", "without hedge", "with pole", "without pole"}
    assert out["rates"]["without hedge"][0] == {"seed": 0, "errors": 56, "rate": 0.1867, "low": 0.1466, "high": 0.2346}
    # seed 2: more errors without hedges, but 35/300 and 40/300 overlap: counted as more, not as separate
    assert out["seeds_without_errs_more"] == 3 and out["seeds_without_clearly_higher"] == 2
    assert summarise([seed(0, 20, 20)], "hedge", 300)["seeds_without_errs_more"] == 0
    # the other direction (fewer errors without the kind) is not counted as "clearly higher"
    assert summarise([seed(0, 90, 10)], "hedge", 300)["seeds_without_clearly_higher"] == 0
    with pytest.raises(ValueError, match="no seeds"):
        summarise([], "hedge", 300)


def test_kind_left_out_trains_without_the_kind_and_prints_its_json_line(capsys, monkeypatch):
    import carcourse.data
    from bench.kind_left_out import main

    real = carcourse.data.make_synthetic  # tiny splits: the mechanics, in about a second
    monkeypatch.setattr(carcourse.data, "make_synthetic", lambda **kw: real(
        n_train=64, n_val=32, n_test_notcar=20, n_test_car=10, **kw))
    line = main(["--quick", "--seeds", "1", "--n", "8", "--kind", "pole"])
    assert line["kind"] == "pole" and line["quick"] is True and line["seeds"] == 1 and line["epochs"] == 3
    assert set(line["rates"]) == {f"{arm} {k}" for arm in ("with", "without") for k in ("pole", "bare_tree", "round_structure")}
    assert all(r["errors"] <= 8 for rows in line["rates"].values() for r in rows)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == line
    with pytest.raises(SystemExit, match="'ufo': not a not-car kind"):
        main(["--quick", "--seeds", "1", "--kind", "ufo"])
