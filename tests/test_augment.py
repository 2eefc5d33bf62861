"""Photometric augmentation: same shape, dtype and range; deterministic per seed; it changes
images, and each building block does what its name says."""
import pytest
import torch

from carcourse.augment import (HAZE_AIRLIGHT, PhotometricConfig, add_haze, add_noise,
                               adjust_brightness, adjust_colour,
                               adjust_contrast, adjust_saturation, gaussian_blur, grey, photometric,
                               rescale)


@pytest.fixture(scope="module")
def batch(quick_splits):
    return quick_splits.train.images[:64]


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_photometric_keeps_shape_dtype_and_range(batch, dtype):
    x = batch if dtype == torch.uint8 else batch.to(dtype) / 255
    y = photometric(x, gen(0))
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    top = 255 if dtype == torch.uint8 else 1.0
    assert float(y.min()) >= 0 and float(y.max()) <= top
    assert y.data_ptr() != x.data_ptr()


def test_photometric_is_deterministic_per_seed(batch):
    assert torch.equal(photometric(batch, gen(3)), photometric(batch, gen(3)))
    assert not torch.equal(photometric(batch, gen(3)), photometric(batch, gen(4)))


def test_photometric_changes_most_images_and_leaves_the_rest(batch):
    y = photometric(batch, gen(0), PhotometricConfig(p=0.8))
    diff = (y.float() - batch.float()).abs().mean(dim=(1, 2, 3))
    changed = diff > 0.5  # mean change of half a grey level
    assert 0.6 <= float(changed.float().mean()) < 1.0  # p = 0.8 of 64 images
    assert torch.equal(y[~changed], batch[~changed])  # the others pass through bit for bit
    assert float(diff[changed].mean()) > 5


def test_uint8_and_float_batches_get_the_same_augmentation(batch):
    a = photometric(batch, gen(1)).float()
    b = photometric(batch.float() / 255, gen(1)) * 255
    assert float((a - b).abs().max()) <= 1.0  # rounding only


def test_zero_strength_or_zero_share_changes_nothing(batch):
    off = PhotometricConfig(brightness=0, contrast=0, saturation=0, colour=0, haze=0, blur=0, noise=0,
                            scale=0)
    assert torch.equal(photometric(batch, gen(0), off), batch)
    assert torch.equal(photometric(batch, gen(0), PhotometricConfig(p=0)), batch)


def test_each_strength_alone_changes_the_batch(batch):
    zero = dict(brightness=0, contrast=0, saturation=0, colour=0, haze=0, blur=0, noise=0, scale=0, p=1)
    some = dict(brightness=0.25, contrast=0.2, saturation=0.3, colour=0.05, scale=0.15)  # off by default
    for name in zero:
        if name == "p":
            continue
        cfg = PhotometricConfig(**{**zero, name: getattr(PhotometricConfig(), name) or some[name]})
        y = photometric(batch, gen(0), cfg)
        assert (y.float() - batch.float()).abs().mean() > 0.3, name


@pytest.mark.parametrize("kwargs, message", [
    (dict(brightness=-0.1), "PhotometricConfig.brightness must be a number in [0, 1.0], got -0.1"),
    (dict(blur=float("nan")), "PhotometricConfig.blur must be a number in [0, 5.0], got nan"),
    (dict(p=True), "PhotometricConfig.p must be a number in [0, 1.0], got True"),
    (dict(scale=0.9), "PhotometricConfig.scale must be a number in [0, 0.5], got 0.9"),
])
def test_bad_strengths_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError) as info:
        PhotometricConfig(**kwargs)
    assert message in str(info.value)


def test_bad_batches_are_refused(batch):
    with pytest.raises(ValueError, match=r"N×3×H×W batch, got shape \(3, 64, 64\)"):
        photometric(batch[0], gen(0))
    with pytest.raises(ValueError, match="uint8 or float batch, got torch.int32"):
        photometric(batch.int(), gen(0))


# ---- building blocks -------------------------------------------------------------------------
def test_brightness_contrast_saturation_and_colour_do_what_they_say(batch):
    x = batch[:8].float() / 255
    assert torch.allclose(adjust_brightness(x, 0.5), x * 0.5)
    flat = adjust_contrast(x, 0.0)
    assert torch.allclose(flat.std(dim=(1, 2, 3)), torch.zeros(8), atol=1e-6)
    assert torch.allclose(flat.mean(dim=(1, 2, 3)), grey(x).mean(dim=(1, 2, 3)), atol=1e-6)
    g = adjust_saturation(x, 0.0)
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])
    per_image = torch.linspace(0.5, 1.5, 8)
    assert torch.allclose(adjust_brightness(x, per_image)[3], x[3] * per_image[3])
    assert torch.allclose(adjust_colour(x, torch.tensor([1.0, 0.5, 2.0]))[:, 1], x[:, 1] * 0.5)
    assert torch.allclose(add_haze(x, 0.0), x) and torch.allclose(add_haze(x, 1.0), torch.full_like(x, HAZE_AIRLIGHT))
    veiled = add_haze(x, 0.5)
    assert (veiled.std(dim=(1, 2, 3)) < x.std(dim=(1, 2, 3))).all()  # haze lowers contrast


def test_blur_keeps_the_mean_smooths_and_is_identity_at_sigma_zero(batch):
    x = batch[:8].float() / 255
    assert torch.allclose(gaussian_blur(x, 0.0), x)
    y = gaussian_blur(x, torch.tensor([0.0, 2.0] * 4))
    assert torch.allclose(y[0], x[0], atol=1e-6)
    assert torch.allclose(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=2e-3)
    step = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()
    assert (y[1::2, :, :, 1:] - y[1::2, :, :, :-1]).abs().mean() < 0.6 * step


def test_blur_is_the_gaussian_convolution_with_reflected_borders_per_image():
    import math

    import torch.nn.functional as F

    x, sigma = torch.rand(6, 3, 20, 20, generator=torch.Generator().manual_seed(0)), torch.tensor([0.3, 0.8, 1.0, 1.5, 0.0, 1.2])
    radius = math.ceil(3 * 1.5)
    d = torch.arange(-radius, radius + 1, dtype=torch.float32)
    expected = []
    for img, s in zip(x, sigma):  # the textbook way: pad by reflection, convolve each channel, rows then columns
        k = torch.exp(-0.5 * (d / max(float(s), 1e-3)) ** 2)
        k = (k / k.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
        y = F.conv2d(F.pad(img[None], (radius, radius, 0, 0), mode="reflect"), k, groups=3)
        y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k.transpose(2, 3), groups=3)
        expected.append(y[0])
    assert torch.allclose(gaussian_blur(x, sigma, max_sigma=1.5), torch.stack(expected), atol=1e-6)


def test_rescale_grows_a_centred_square_and_is_identity_at_zoom_one():
    x = torch.zeros(2, 3, 64, 64)
    x[:, :, 24:40, 24:40] = 1.0  # 16-pixel square
    assert torch.allclose(rescale(x, 1.0), x, atol=1e-5)
    y = rescale(x, torch.tensor([2.0, 0.5]))
    width = (y[:, 0, 32, 8:56] > 0.5).sum(dim=1)  # (zooming out also shows reflected copies near the edges)
    assert width.tolist() == [32, 8]


def test_noise_has_the_asked_standard_deviation():
    x = torch.full((4, 3, 64, 64), 0.5)
    y = add_noise(x, torch.tensor([0.0, 0.01, 0.05, 0.1]), gen(0))
    sd = (y - x).std(dim=(1, 2, 3))
    assert torch.allclose(sd, torch.tensor([0.0, 0.01, 0.05, 0.1]), rtol=0.05, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_photometric_runs_on_the_gpu_with_a_gpu_generator(batch):
    x = batch.cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    y = photometric(x, g)
    assert y.device == x.device and y.dtype == torch.uint8
    assert torch.equal(y, photometric(x, torch.Generator(device="cuda").manual_seed(0)))


# ---- bench/augment_shift.py's pieces -----------------------------------------------------------
def test_augment_bench_scores_the_generators_shifts_with_the_test_splits_class_counts(quick_splits):
    from bench import augment_shift
    from carcourse.shifts import SHIFTS

    test = quick_splits.test
    sets = augment_shift.shifted_test_sets(test)  # what the bench scores
    assert list(sets) == list(SHIFTS)
    for name, s in sets.items():
        assert s.class_counts() == test.class_counts(), name
        assert s.images.shape == test.images.shape, name


def test_fit_jitters_by_default_reproducibly_only_with_augment_and_not_when_switched_off(tiny_set):
    from carcourse.config import TrainConfig
    from carcourse.models import build
    from carcourse.train import fit

    def losses(**kw):
        cfg = TrainConfig(epochs=1, batch_size=16, progress=False, amp=False, channels_last=False, **kw)
        return fit(build("cnn", width=4, seed=0), tiny_set, config=cfg).iteration_loss

    plain, jittered = losses(photometric=False), losses(photometric=True)
    assert jittered != plain
    assert losses() == jittered == losses(photometric=True)  # the default is PhotometricConfig()'s jitter
    assert losses(augment=False, photometric=True) == losses(augment=False, photometric=False)  # augment=False: none
    assert TrainConfig().photometric == PhotometricConfig() and TrainConfig.plain().photometric is False
    # the strengths given reach fit: p=0 draws nobody, so the run is the flips-only run
    assert losses(photometric=PhotometricConfig(p=0)) == plain
    assert losses(photometric=PhotometricConfig(colour=0.2, haze=0, blur=0, noise=0)) not in (plain, jittered)


def test_train_config_names_the_strengths_its_run_used_and_reads_them_back():
    """True means PhotometricConfig()'s strengths, and a saved config (report.json, checkpoints)
    writes them out, so a run can be repeated after the defaults change."""
    from carcourse.config import TrainConfig

    on = TrainConfig(photometric=True)
    assert on.photometric == PhotometricConfig()
    assert on.to_dict()["photometric"] == PhotometricConfig().to_dict()
    assert TrainConfig.from_dict(on.to_dict()) == on
    colour = TrainConfig(photometric={"colour": 0.15, "noise": 0})
    assert colour.photometric == PhotometricConfig(colour=0.15, noise=0)
    assert TrainConfig.from_dict(TrainConfig().to_dict()).photometric == PhotometricConfig()
    assert TrainConfig.from_dict(TrainConfig(photometric=False).to_dict()).photometric is False


def test_the_named_jitters_are_the_measured_settings():
    """bench/RESULTS.md and the stored ablation name these strengths; changing them silently would
    make those measurements describe something else."""
    from carcourse.augment import HAZE_BLUR_NOISE, LIGHT_AND_COLOUR

    light = dict(brightness=0.2, contrast=0.2, saturation=0.3, colour=0.15)
    atmosphere = dict(haze=0.3, blur=1.5, noise=0.05)
    assert PhotometricConfig() == PhotometricConfig(**light, **atmosphere, scale=0.0, p=0.15)
    assert LIGHT_AND_COLOUR == PhotometricConfig(**light, haze=0, blur=0, noise=0, scale=0, p=0.5)
    assert HAZE_BLUR_NOISE == PhotometricConfig(brightness=0, contrast=0, saturation=0, colour=0, **atmosphere,
                                                scale=0, p=0.3)


@pytest.mark.parametrize("value, words", [("yes", "True, False or"), (1, "True, False or"),
                                          ({"hazee": 0.1}, "hazee"), ({"haze": 7}, "PhotometricConfig.haze")])
def test_bad_photometric_settings_are_refused_naming_the_field(value, words):
    from carcourse.config import TrainConfig

    with pytest.raises(ValueError, match="TrainConfig.photometric") as info:
        TrainConfig(photometric=value)
    assert words in str(info.value)


def _fake_augment_shift_result(seeds, photometric=None):
    """A bench.augment_shift result without training: metrics made up from the seed and arm."""
    def metrics(seed, arm):
        lift = 0.05 if arm == "photometric" else 0.0
        one = lambda acc: {"accuracy": acc, "balanced_accuracy": acc - 0.01, "roc_auc": 0.98, "share_called_car": 0.3}
        return {"unshifted": one(0.95 - 0.001 * seed), "unshifted_large": one(0.94 + 0.001 * seed),
                "atmosphere": one(0.80 + lift + 0.01 * seed), "low_sun": one(0.85)}
    runs = {arm: [{"seed": s, "seconds": 1.0, "best_epoch": 8, "sets": metrics(s, arm),
                   "val_sets": {"unshifted": metrics(s, arm)["unshifted"], "atmosphere": metrics(s, arm)["atmosphere"]}}
                  for s in seeds] for arm in ("baseline", "photometric")}
    from bench.augment_shift import summarise
    return {"bench": "augment_shift", "model": "cnn", "quick": False, "epochs": 8, "seeds": len(seeds),
            "first_seed": seeds[0], "photometric": photometric or PhotometricConfig().to_dict(),
            "summary": summarise(runs), "runs": runs}


def test_augment_bench_pairs_seeds_and_merges_later_seeds_as_if_run_at_once():
    from bench.augment_shift import merge, table

    at_once = _fake_augment_shift_result([0, 1, 2, 3, 4])
    merged = merge([_fake_augment_shift_result([3, 4]), _fake_augment_shift_result([0, 1, 2])])
    assert merged["runs"] == at_once["runs"] and merged["summary"] == at_once["summary"]
    assert (merged["seeds"], merged["first_seed"]) == (5, 0)
    paired = merged["summary"]["paired"]
    assert paired["seeds"] == [0, 1, 2, 3, 4] and paired["baseline_worst_shift"] == "atmosphere"
    assert paired["baseline_worst_shift_balanced_accuracy"] == pytest.approx([0.05] * 5)
    assert paired["unshifted_accuracy"] == pytest.approx([0.0] * 5)
    assert "large sample +0.00 +0.00 +0.00 +0.00 +0.00" in table(merged)


def test_augment_bench_refuses_to_merge_other_settings_or_the_same_seed_twice():
    from bench.augment_shift import merge

    with pytest.raises(ValueError, match="different photometric"):
        merge([_fake_augment_shift_result([0]), _fake_augment_shift_result([1], PhotometricConfig(p=0.5).to_dict())])
    recorded = {**_fake_augment_shift_result([1]), "hardware": {"cpu": "another CPU"}}  # one saved without it
    with pytest.raises(ValueError, match="different hardware: None and"):
        merge([_fake_augment_shift_result([0]), recorded])
    with pytest.raises(ValueError, match=r"seed\(s\) \[1\] appear twice"):
        merge([_fake_augment_shift_result([0, 1]), _fake_augment_shift_result([1, 2])])
