"""carcourse.config and carcourse.presets: TrainConfig is checked data (no hardware probe), the
precision policy, and the one quick/full preset."""
import dataclasses

import pytest
import torch

from carcourse import Preset, preset
from carcourse.config import TrainConfig, cpu_has_bf16, isa_limited, resolve_precision
from carcourse.data import make_synthetic
from carcourse.models import build
from carcourse.presets import FULL, QUICK
from carcourse.train import fit


@pytest.mark.parametrize("field,value,words", [
    ("epochs", 0, "epochs must be an integer >= 1"),
    ("epochs", -3, "epochs"), ("epochs", 2.5, "epochs"), ("epochs", True, "epochs"),
    ("batch_size", -4, "batch_size"), ("batch_size", 3.5, "batch_size"), ("batch_size", 0, "batch_size"),
    ("lr", float("nan"), "lr must be a finite number"), ("lr", -0.1, "lr"), ("lr", float("inf"), "lr"),
    ("lr", 0.0, "lr"), ("lr", "0.001", "lr"),
    ("weight_decay", -1e-4, "weight_decay"), ("weight_decay", float("inf"), "weight_decay"),
    ("momentum", 1.5, "momentum"), ("label_smoothing", 1.0, "label_smoothing"),
    ("label_smoothing", -0.1, "label_smoothing"), ("seed", -1, "seed"), ("eval_batch_size", 0, "eval_batch_size"),
    ("optimizer", "adagrad", "optimizer='adagrad' is unknown: choose one of \\['sgd', 'adam', 'adamw'\\]"),
    ("optimizer", "Adam", "optimizer"), ("loss", "hinge", "loss='hinge' is unknown"), ("loss", "l2", "loss"),
    ("augment", "yes", "augment must be True or False"), ("amp", "yes", "amp"), ("channels_last", 1, "channels_last"),
    ("compile", None, "compile"), ("restore_best", "no", "restore_best"), ("progress", 0, "progress"),
    ("patience", 0, "patience"), ("device", "tpu", "device='tpu'"),
])
def test_bad_settings_are_refused_with_the_field_named(field, value, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**{field: value})


def test_checkpoint_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="TrainConfig.checkpoint=.*is not a folder"):
        TrainConfig(checkpoint=str(tmp_path / "afile" / "best.pt"))


@pytest.mark.parametrize("device", ["cuda:7", "mps"])
def test_a_config_is_data_and_fit_checks_the_device_when_it_starts(device, tiny_set):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    config = TrainConfig(device=device, progress=False)  # building probes no hardware
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=f"device='{device}' is not available"):
        fit(build("cnn", width=4), tiny_set, config=config)


def test_plain_config_is_the_textbook_loop_and_keeps_overrides():
    c = TrainConfig.plain(seed=3, epochs=2)
    assert (c.augment, c.amp, c.channels_last, c.compile) == (False, False, False, False)
    assert (c.seed, c.epochs, c.lr, c.optimizer, c.loss) == (3, 2, 1e-3, "adam", "cross_entropy")
    assert TrainConfig.plain(augment=True).augment


def test_precision_follows_the_device_unless_set():
    cpu = torch.device("cpu")
    assert resolve_precision(cpu) == (cpu_has_bf16(), True)  # channels_last pays in fp32 too
    assert resolve_precision(torch.device("mps")) == (False, False)
    assert resolve_precision(cpu, amp=True, channels_last=False) == (True, False)
    assert resolve_precision(torch.device("cuda")) == (True, True)
    assert TrainConfig(amp=False).resolved(torch.device("cuda")) == (False, True)


def test_an_instruction_set_cap_makes_the_cpu_count_as_fp32_only(monkeypatch):
    for name, value in (("ONEDNN_MAX_CPU_ISA", "AVX2"), ("DNNL_MAX_CPU_ISA", "avx512_core"),
                        ("ATEN_CPU_CAPABILITY", "avx2")):
        monkeypatch.setenv(name, value)
        assert isa_limited() == f"{name}={value.upper() if 'ISA' in name else value}"
        assert not cpu_has_bf16()
        assert resolve_precision(torch.device("cpu")) == (False, True)
        monkeypatch.delenv(name)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert isa_limited() is None


def test_preset_reads_the_environment_when_asked_and_shows_it(monkeypatch):
    monkeypatch.setenv("CARCOURSE_QUICK", "1")
    assert preset() is QUICK and preset().quick and preset(False) is FULL
    monkeypatch.setenv("CARCOURSE_QUICK", "0")
    assert preset() is FULL and preset(True) is QUICK
    monkeypatch.setenv("CARCOURSE_QUICK", "maybe")
    with pytest.raises(ValueError, match="CARCOURSE_QUICK='maybe'"):
        preset()
    table = str(QUICK)
    assert table.startswith("quick preset") and "compare_epochs" in table and "overfit_sizes" in table
    with pytest.raises(dataclasses.FrozenInstanceError):
        QUICK.n_train = 1  # type: ignore[misc]


def test_both_presets_answer_the_same_questions_and_quick_is_smaller():
    assert isinstance(QUICK, Preset) and isinstance(FULL, Preset)
    assert FULL.data_sizes == dict(n_train=4200, n_val=600, n_test_notcar=945, n_test_car=400)
    for f in dataclasses.fields(Preset):
        q, full = getattr(QUICK, f.name), getattr(FULL, f.name)
        if isinstance(q, int) and not isinstance(q, bool):
            assert full is None or q <= full, f.name  # None: the whole set


def test_make_synthetic_does_not_read_the_environment(monkeypatch):
    monkeypatch.setenv("CARCOURSE_QUICK", "1")
    quick = make_synthetic(n_train=8, n_val=0, n_test_notcar=2, n_test_car=1, quick=preset().quick)
    assert len(quick.train) == 8 and quick.val is None  # explicit sizes still win
    small = make_synthetic(quick=True, n_train=4, n_val=0, n_test_notcar=None, n_test_car=None)
    assert small.test.class_counts() == {"notcar": QUICK.n_test_notcar, "car": QUICK.n_test_car}
    default = make_synthetic(n_train=4, n_val=0, size=16)  # quick not given: the exercise's test split
    assert default.test.class_counts() == {"notcar": 945, "car": 400}



@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_learning_rate_schedules_warm_up_then_decay(schedule, tiny_set):
    """onecycle and cosine rise to `lr` over the warm-up fraction, then fall towards 0;
    constant (the default, and plain mode) never moves it."""
    from carcourse import train as T

    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-2, schedule=schedule, warmup=0.25,
                      augment=False, amp=False, channels_last=False, progress=False)
    optimizer = T._optimizer(build("cnn", width=4), cfg)
    scheduler = T.lr_schedule(optimizer, cfg, total_steps=24)
    seen = []
    for _ in range(24):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    if schedule == "constant":
        assert scheduler is None and set(seen) == {1e-2}
    else:
        peak = max(range(24), key=seen.__getitem__)
        assert 4 <= peak <= 7, peak  # the warm-up is a quarter of the 24 steps
        assert abs(max(seen) - 1e-2) < 1e-3 and seen[0] < 0.5e-2 and seen[-1] < 0.1e-2
    h = fit(build("cnn", width=4), tiny_set, config=cfg)  # fit steps it once per iteration
    assert h.iterations == 18


def test_plain_mode_keeps_the_learning_rate_constant():
    assert TrainConfig().schedule == "cosine" and TrainConfig.plain(schedule="cosine").schedule == "cosine"
    assert TrainConfig.plain().schedule == "constant"
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_the_fused_update_is_kept_for_the_gpu_so_cpu_runs_keep_their_numbers(name):
    """fit() asks for the fused optimizer kernel only when every parameter is on a GPU."""
    from carcourse import train as T

    cfg = TrainConfig(optimizer=name, momentum=0.9 if name == "sgd" else 0.0, progress=False)
    optimizer = T._optimizer(build("cnn", width=4), cfg)
    assert not optimizer.defaults.get("fused")
