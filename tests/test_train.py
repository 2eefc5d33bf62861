"""carcourse.train: the training loop's guarantees (steps, interrupts, divergence, seeds, plain mode)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from carcourse.data import ImageSet
from carcourse.models import build
from carcourse.batches import augment_dihedral
from carcourse.evaluate import predict
from carcourse.train import (Callback, History, StopTraining, TrainConfig, TrainingDiverged, fit,
                             iterations_per_epoch)

FAST = dict(progress=False, amp=False, channels_last=False)


def test_iterations_per_epoch_for_the_exercise():
    assert iterations_per_epoch(4200, 32) == 132
    assert iterations_per_epoch(4200, 32, drop_last=True) == 131
    assert 4200 - 131 * 32 == 8


class CountSteps(Callback):
    def __init__(self, stop_after=None):
        self.steps, self.stop_after = 0, stop_after

    def on_iteration(self, iteration, loss, history):
        self.steps += 1
        if self.stop_after and self.steps >= self.stop_after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("drop_last,steps", [(False, 132), (True, 131)])
def test_history_records_132_steps_per_epoch_for_4200_images_of_batch_32(drop_last, steps):
    data = ImageSet(torch.zeros(4200, 3, 16, 16, dtype=torch.uint8), torch.arange(4200) % 2)
    tiny = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    counter = CountSteps()
    h = fit(tiny, data, config=TrainConfig(epochs=1, batch_size=32, drop_last=drop_last, augment=False,
                                           **FAST), callbacks=[counter])
    assert h.iterations_per_epoch == steps == h.iterations == counter.steps == len(h.iteration_loss)
    assert h.images_seen == (4200 if not drop_last else 4192)


def test_the_cnn_learns_32_images_by_heart(quick_splits):
    data = quick_splits.train.subset(32, seed=0)
    model = build("cnn", width=16, dropout=0.0)
    h = fit(model, data, config=TrainConfig(epochs=40, batch_size=8, augment=False, lr=2e-3, **FAST))
    assert h.train_acc[-1] == 1.0
    assert h.train_loss[-1] < h.train_loss[0] / 5


def test_two_runs_with_one_seed_give_identical_history_and_predictions(quick_splits):
    """The same seed gives the same batches, augmentations, dropout masks and so the same
    predictions, bit for bit (on one machine); another seed does not."""
    data = quick_splits.train.subset(96, seed=1)
    val = quick_splits.val.subset(48, seed=1)

    def once(seed):
        model = build("cnn", width=8, seed=seed)
        h = fit(model, data, val, TrainConfig(epochs=2, seed=seed, **FAST))
        return h, predict(model, quick_splits.test.subset(64, seed=0)).logits

    (h1, logits1), (h2, logits2) = once(4), once(4)
    assert h1.iteration_loss == h2.iteration_loss
    assert h1.val_loss == h2.val_loss and h1.train_acc == h2.train_acc
    assert torch.equal(logits1, logits2)
    other, _ = once(5)
    assert other.iteration_loss != h1.iteration_loss


def test_interrupt_from_a_callback_returns_the_history_and_best_weights(tiny_set):
    model = build("cnn", width=4)
    best = {}

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, history, model):
            if history.best_epoch == epoch:
                best.update({k: v.clone() for k, v in model.state_dict().items()})

    h = fit(model, tiny_set, tiny_set, TrainConfig(epochs=5, batch_size=8, **FAST),
            callbacks=[Snapshot(), CountSteps(stop_after=15)])
    assert h.interrupted and h.iterations == 15 and len(h.iteration_loss) == 15
    assert h.epochs == 2  # 6 steps per epoch: two finished, the third interrupted
    assert all(torch.equal(model.state_dict()[k], v) for k, v in best.items())


def test_stop_training_is_a_clean_stop(tiny_set):
    class Stop(Callback):
        def on_epoch_end(self, epoch, history, model):
            raise StopTraining

    h = fit(build("cnn", width=4), tiny_set, config=TrainConfig(epochs=5, batch_size=16, **FAST),
            callbacks=[Stop()])
    assert h.interrupted and h.epochs == 1


def test_huge_learning_rate_gives_the_clear_divergence_error(tiny_set):
    model = build("cnn", width=4, batchnorm=False, dropout=0.0)
    with pytest.raises(TrainingDiverged, match=r"iteration \d+ .*lower learning rate") as e:
        fit(model, tiny_set, config=TrainConfig(epochs=20, lr=1e12, optimizer="sgd", batch_size=8, **FAST))
    assert isinstance(e.value.history, History) and e.value.iteration >= 1
    assert not math.isfinite(e.value.history.iteration_loss[-1])
    assert all(torch.isfinite(p).all() for p in model.parameters()) or e.value.history.best_epoch is None


def test_mse_loss_trains_too(tiny_set):
    h = fit(build("cnn", width=4), tiny_set, config=TrainConfig(epochs=1, loss="mse", **FAST))
    assert 0 <= h.train_loss[0] <= 2


def test_dihedral_augmentation_keeps_pixels_and_covers_8_views():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(8, 3, 1, 1)
    bits = torch.tensor([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=torch.bool)
    y = augment_dihedral(x, bits)
    assert len({tuple(v[0].flatten().tolist()) for v in y}) == 8
    assert torch.equal(y.sort(dim=-1).values.sum(), x.sort(dim=-1).values.sum())


def test_early_stopping_restores_the_best_epoch(tiny_set):
    snapshots = {}

    class Snap(Callback):
        def on_epoch_end(self, epoch, history, model):
            snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    model = build("cnn", width=4)
    # random images and labels: fresh validation noise stops improving quickly, patience ends the run
    g = torch.Generator().manual_seed(9)
    noise = ImageSet(torch.randint(0, 256, (24, 3, 64, 64), dtype=torch.uint8, generator=g),
                     torch.randint(0, 2, (24,), generator=g))
    h = fit(model, tiny_set, noise,
            TrainConfig(epochs=30, batch_size=8, patience=2, lr=3e-3, **FAST), callbacks=[Snap()])
    assert h.stopped_early and h.epochs == h.best_epoch + 2
    assert all(torch.equal(model.state_dict()[k], v) for k, v in snapshots[h.best_epoch].items())


def _textbook_losses(data, seed, batch_size, n_steps):
    """The plain PyTorch loop of lesson 01, written out: DataLoader, zero_grad, forward,
    cross-entropy, backward, step."""
    model = build("cnn", width=8, seed=seed)
    torch.manual_seed(seed)  # dropout masks, seeded as fit seeds them
    loader = DataLoader(data.as_dataset(), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=TrainConfig().lr)
    model.train()
    losses = []
    while len(losses) < n_steps:
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses[:n_steps]


def test_fit_plain_mode_equals_textbook_loop(quick_splits):
    """200 images in batches of 16: 13 steps per epoch (the last of 8 images), so the first 20
    losses cross an epoch boundary and a short batch. Tolerance 1e-5: the same ops run in the
    same order on the CPU on the same batches; only fused vs unfused kernels (e.g. fit's
    addcmul on a batch vs per-image normalisation) may differ in the last bits."""
    data = quick_splits.train.subset(200, seed=2)
    seed, bs = 7, 16
    plain = fit(build("cnn", width=8, seed=seed), data,
                config=TrainConfig.plain(epochs=2, batch_size=bs, seed=seed, progress=False))
    loop = _textbook_losses(data, seed, bs, 20)
    assert plain.iterations_per_epoch == 13
    assert plain.iteration_loss[:20] == pytest.approx(loop, abs=1e-5, rel=0)
    augmented = fit(build("cnn", width=8, seed=seed), data,
                    config=TrainConfig.plain(epochs=2, batch_size=bs, seed=seed, progress=False, augment=True))
    assert augmented.iteration_loss[:20] != pytest.approx(loop, abs=1e-5, rel=0)


def test_validation_loss_and_predict_share_one_evaluation_loop(quick_splits):
    data, val = quick_splits.train.subset(64, seed=3), quick_splits.val.subset(40, seed=3)
    model = build("cnn", width=4, seed=1)
    h = fit(model, data, val, TrainConfig(epochs=1, eval_batch_size=16, **FAST))
    p = predict(model, val, batch_size=7)  # other batch sizes, same numbers
    assert F.cross_entropy(p.logits, val.labels).item() == pytest.approx(h.val_loss[-1], abs=1e-5)
    assert p.correct.float().mean().item() == pytest.approx(h.val_acc[-1])


def test_as_dataset_yields_images_normalised_as_fit_normalises_batches(tiny_set):
    from carcourse.batches import normalise

    ds = tiny_set.as_dataset()
    x, y = ds[5]
    assert len(ds) == len(tiny_set) and x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert torch.equal(x, normalise(tiny_set.images[:8])[5]) and int(y) == int(tiny_set.labels[5])


def test_no_tensor_is_built_from_python_numbers_per_batch(tiny_set, monkeypatch):
    """A tensor made from a Python list on a GPU is a blocking host-to-device copy; one per batch
    (the normalisation constants, until bench/gpu.py counted 280 copies per 132-batch epoch on an
    H200) stalls the GPU's queue. Counted here on the CPU: what fit builds from Python data must
    not grow with the number of batches."""
    from carcourse.models import build
    from carcourse.train import TrainConfig, fit

    made = []
    for name in ("tensor", "as_tensor"):
        real = getattr(torch, name)

        def counting(data, *args, _real=real, **kwargs):
            if not isinstance(data, torch.Tensor):
                made.append(data)
            return _real(data, *args, **kwargs)

        monkeypatch.setattr(torch, name, counting)

    def built(batch_size, **kw):
        made.clear()
        fit(build("cnn", width=4, seed=0), tiny_set,
            config=TrainConfig(epochs=1, batch_size=batch_size, progress=False, **kw))
        return len(made)

    built(4)  # first use: constants cached per device are made here
    assert built(4) == built(2)  # twice the batches, not one more tensor
    # the default jitter touches 15 % of the images, so some batches skip it: jitter every image too
    from carcourse.augment import PhotometricConfig

    every = PhotometricConfig(p=1.0, scale=0.2)
    built(4, photometric=every)
    assert built(4, photometric=every) == built(2, photometric=every)
