"""carcourse.checkpoints: round trips, atomic writes that survive a full disk or a killed
process, clear mismatches, and files that would run code refused without running it."""
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from carcourse.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from carcourse.models import build
from carcourse.train import TrainConfig, fit

FAST = dict(progress=False, amp=False, channels_last=False)


def test_checkpoint_round_trip_and_mismatch(tmp_path, tiny_set):
    model = build("cnn", width=4)
    config = TrainConfig(epochs=1, **FAST)
    h = fit(model, tiny_set, config=config)
    path = save_checkpoint(tmp_path / "ck" / "cnn.pt", model, config, h, tiny_set.classes)
    ck = load_checkpoint(path)
    assert ck.classes == ("notcar", "car") and ck.history.iteration_loss == h.iteration_loss
    assert ck.config.epochs == 1 and ck.versions["torch"] == torch.__version__
    again = ck.build_model()
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))
    with pytest.raises(CheckpointError, match=r"holds a cnn with 2 classes.*does not fit"):
        ck.load_into(build("cnn", width=8))
    with pytest.raises(CheckpointError, match="does not fit"):
        ck.load_into(build("cnn", width=4, num_classes=3))


def test_best_checkpoint_is_written_during_fit(tmp_path, tiny_set):
    path = tmp_path / "best.pt"
    h = fit(build("cnn", width=4), tiny_set, tiny_set,
            TrainConfig(epochs=3, batch_size=16, checkpoint=str(path), **FAST))
    ck = load_checkpoint(path)
    assert ck.history.best_epoch == h.best_epoch
    assert not list(tmp_path.glob(".*.tmp"))


def test_disk_full_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, tiny_set, monkeypatch):
    model = build("cnn", width=4)
    path = save_checkpoint(tmp_path / "best.pt", model, TrainConfig(**FAST), None, tiny_set.classes)
    before = path.read_bytes()

    def full_disk(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, build("cnn", width=4, seed=1), TrainConfig(**FAST), None, tiny_set.classes)
    monkeypatch.undo()
    assert path.read_bytes() == before and load_checkpoint(path).classes == ("notcar", "car")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # no temporary file left


@pytest.mark.parametrize("when", ["mid-write", "before-rename"])
def test_a_process_killed_while_checkpointing_leaves_the_previous_checkpoint(tmp_path, when):
    code = textwrap.dedent(f"""
        import os, torch
        from carcourse.models import build
        from carcourse.checkpoints import save_checkpoint
        from carcourse.config import TrainConfig
        path = {str(tmp_path / 'best.pt')!r}
        save_checkpoint(path, build("cnn", width=4), TrainConfig(), None, ("notcar", "car"))
        print("first written", flush=True)
        if {when!r} == "mid-write":
            real = torch.save
            def dying(obj, f, *a, **k):
                f.write(b"half a checkpoint"); f.flush(); os.kill(os.getpid(), 9)
            torch.save = dying
        else:
            os.replace = lambda *a: os.kill(os.getpid(), 9)
        save_checkpoint(path, build("cnn", width=8), TrainConfig(), None, ("notcar", "car"))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == -9 and "first written" in r.stdout
    ck = load_checkpoint(tmp_path / "best.pt")
    assert ck.model_options.get("width") in (4, "4")  # the first checkpoint, intact


def test_checkpoint_of_another_architecture_is_a_clear_mismatch(tmp_path, tiny_set):
    path = save_checkpoint(tmp_path / "cnn.pt", build("cnn", width=4), TrainConfig(**FAST), None, tiny_set.classes)
    with pytest.raises(CheckpointError, match=r"cnn\.pt.*does not fit"):
        load_checkpoint(path).load_into(build("resnet18"))
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(tmp_path / "garbage.pt")


class _RunsCode:
    """Unpickling this would create `marker` (i.e. run code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("writer", ["pickle.dump", "torch.save"])
def test_a_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path, writer):
    marker = tmp_path / "created-by-payload"
    payload = {"format": "carcourse-checkpoint-1", "model": _RunsCode(marker)}
    path = tmp_path / "evil.pt"
    if writer == "pickle.dump":
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_checkpoints_record_versions_device_and_seed(tmp_path, tiny_set):
    model = build("cnn", width=4)
    config = TrainConfig(epochs=1, seed=7, **FAST)
    h = fit(model, tiny_set, config=config)
    ck = load_checkpoint(save_checkpoint(tmp_path / "c.pt", model, config, h, tiny_set.classes))
    assert ck.versions["torch"] == torch.__version__ and "carcourse" in ck.versions
    assert ck.config.seed == 7 and ck.history.device == "cpu"


def test_a_checkpoint_from_a_gpu_machine_loads_on_any_machine_with_its_device_kept(tmp_path, tiny_set):
    config = TrainConfig(device="cuda:3", **FAST)  # a config is data: no GPU needed to hold it
    ck = load_checkpoint(save_checkpoint(tmp_path / "gpu.pt", build("cnn", width=4), config, None,
                                         tiny_set.classes))
    assert ck.config.device == "cuda:3" and ck.config == config
    assert "seed" not in torch.load(tmp_path / "gpu.pt", weights_only=True)  # the seed lives in config
