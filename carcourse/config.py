"""How a run is configured: the switches read from the environment (quick mode, the device),
the device and precision policy every module follows, and TrainConfig.

A TrainConfig is plain data: building one checks its values but never probes the hardware;
whether its device exists is checked when fit() starts (pick_device).
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from .augment import PhotometricConfig

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


def quick_mode(quick: bool | None = None) -> bool:
    """True when the course should run small (CI, 2 CPU cores): `quick` if given, else env
    CARCOURSE_QUICK (1/true/yes/on)."""
    if quick is not None:
        return bool(quick)
    value = os.environ.get("CARCOURSE_QUICK", "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"CARCOURSE_QUICK={value!r}: use 1 or 0")


def _available(name: str) -> bool:
    if name == "cpu":
        return True
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            return False
        index = int(name.split(":")[1]) if ":" in name else 0
        return index < torch.cuda.device_count()
    if name == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return False


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: `prefer` if given, else env CARCOURSE_DEVICE, else the first of
    cuda, mps, cpu that is available. Asking for an unavailable device is a ValueError."""
    choice = prefer if prefer is not None else os.environ.get("CARCOURSE_DEVICE") or None
    if choice is None:
        for name in ("cuda", "mps", "cpu"):
            if _available(name):
                return torch.device(name)
    name = str(choice).strip().lower()
    try:
        torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"device={choice!r} is not a device name (use cpu, cuda, cuda:N or mps)") from exc
    if not _available(name):
        raise ValueError(f"device={choice!r} is not available on this machine "
                         f"(cuda available: {torch.cuda.is_available()})")
    return torch.device(name)


def hardware(device: str | torch.device | None = None) -> dict[str, object]:
    """What a run ran on, for reports: CPU model, core and thread counts, and the GPU's name."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, object] = {"cpu": cpu, "cpu_cores": os.cpu_count(),
                               "torch_threads": torch.get_num_threads(),
                               "device": str(device) if device is not None else None}
    if device is not None and torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def versions() -> dict[str, str]:
    """Library versions recorded in checkpoints and reports."""
    import platform

    import torchvision

    from . import __version__

    return {"carcourse": __version__, "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__), "python": platform.python_version()}


# ----------------------------------------------------------------------------------------------
# precision policy: what fit, predict, doctor and the benchmarks run in
# ----------------------------------------------------------------------------------------------
# oneDNN ISA names (ONEDNN_MAX_CPU_ISA) at or above which bf16 is native; anything lower, or
# ATEN_CPU_CAPABILITY below avx512, makes this process behave as an fp32-only CPU (how the course
# measures the path of students' laptops on a bf16 machine: see bench/RESULTS.md).
_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
              "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512",
              "AVX10_2_512_AMX_2", "ALL", "DEFAULT")


def isa_limited() -> str | None:
    """The environment variable that caps this process's CPU instruction set below native bf16
    (ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA below AVX512_CORE_BF16, ATEN_CPU_CAPABILITY below
    avx512), as "NAME=value", or None when nothing caps it."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        value = os.environ.get(name, "").strip().upper()
        if value and value not in _BF16_ISAS:
            return f"{name}={value}"
    value = os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if value in ("default", "avx2", "zvector", "vsx"):
        return f"ATEN_CPU_CAPABILITY={value}"
    return None


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays,
    and no environment variable caps the instruction set below it (isa_limited)."""
    if isa_limited():
        return False
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe and probe()) or (amx and amx()))


def default_amp(device: torch.device) -> bool:
    """bf16 autocast by default on CUDA and on CPUs with native bf16 (where it pays 1.5-2.5×);
    off elsewhere: without native bf16 a CPU emulates it and runs ~10× slower."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def default_channels_last(device: torch.device) -> bool:
    """channels_last (NHWC) by default on CUDA and on every CPU: oneDNN's convolutions are faster
    in it, in fp32 too (SmallCNN 1.27× on an AVX2 path, ResNet18 1.0×: bench/RESULTS.md); off on
    MPS."""
    return device.type in ("cuda", "cpu")


def resolve_precision(device: torch.device, amp: bool | None = None,
                      channels_last: bool | None = None) -> tuple[bool, bool]:
    """(amp, channels_last) as they apply on `device`: None means the device default."""
    return (default_amp(device) if amp is None else amp,
            default_channels_last(device) if channels_last is None else channels_last)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when enabled, else a context that does nothing."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# ----------------------------------------------------------------------------------------------
# TrainConfig
# ----------------------------------------------------------------------------------------------
OPTIMIZERS = ("sgd", "adam", "adamw")
LOSSES = ("cross_entropy", "mse", "double_softmax")
SCHEDULES = ("constant", "onecycle", "cosine")


def _check_whole(config: Any, name: str, minimum: int, allow_none: bool = False) -> None:
    value = getattr(config, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"TrainConfig.{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(config: Any, name: str, low: float, high: float = math.inf,
                  low_open: bool = False) -> None:
    value = getattr(config, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value < high
    if not ok:
        raise ValueError(f"TrainConfig.{name} must be a finite number in {'(' if low_open else '['}"
                         f"{low}, {high}), got {value!r}")


def _check_flag(config: Any, name: str, allow_none: bool = False) -> None:
    value = getattr(config, name)
    if not (isinstance(value, bool) or (allow_none and value is None)):
        raise ValueError(f"TrainConfig.{name} must be True or False"
                         f"{' or None (auto)' if allow_none else ''}, got {value!r}")


def _photometric_setting(value: Any) -> bool | PhotometricConfig:
    """TrainConfig.photometric as fit uses it: False, or the strengths (True: the defaults; a dict:
    what to_dict wrote), so that a saved config names the strengths its run used."""
    if value is False or isinstance(value, PhotometricConfig):
        return value
    if value is True:
        return PhotometricConfig()
    if isinstance(value, dict):
        try:
            return PhotometricConfig(**value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"TrainConfig.photometric={value!r}: {exc}") from None
    raise ValueError("TrainConfig.photometric must be True, False or a carcourse.augment.PhotometricConfig, "
                     f"got {value!r}")


def _check_choice(config: Any, name: str, options: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in options:
        raise ValueError(f"TrainConfig.{name}={value!r} is unknown: choose one of {list(options)}")


def check_device_name(device: str | torch.device) -> str:
    """`device` as a string if it names a device (cpu, cuda, cuda:N, mps); whether it is present
    is pick_device's question. A ValueError names the value otherwise."""
    name = str(device).strip().lower()
    try:
        parsed = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a device name (use cpu, cuda, cuda:N or mps)") from exc
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r} is not available on this machine "
                         f"(the course trains on cpu, cuda, cuda:N or mps)")
    return str(device)


@dataclass
class TrainConfig:
    """How to train. Every field is checked on creation (a bad value raises ValueError naming
    it); the hardware is not: fit() checks that `device` is present when it starts.

    amp / channels_last None means "choose for the device" (resolve_precision): bf16 autocast
    on CUDA and on CPUs with native bf16, channels_last on CUDA and every CPU.
    `TrainConfig.plain()` is the textbook loop (see its docstring).
    """

    # The default recipe (bench/recipe_sweep.py chose it on validation and shifted sets; bench/
    # recipe.py times it): Adam, peak lr 1e-3, 10 % linear warm-up, cosine decay, 8 epochs. The
    # SmallCNN reaches the previous recipe's 12-epoch validation accuracy (constant lr 1e-3) in
    # 5-8 epochs on every seed; ResNet18 on all 3 seeds on the fp32 path, with bf16 on 1 of 3 (its
    # 8 epochs end 4-5 validation images short of it on seeds 0 and 1). Higher peaks (2e-3, 3e-3)
    # suit the SmallCNN but cost ResNet18 1-2 points.
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = True  # random flips and 90° rotations (the 8 symmetries of a square patch); False: none at all
    # with augment: photometric jitter on top of the flips. True (the default): carcourse.augment.
    # PhotometricConfig()'s strengths (colour, light, haze, blur and noise on 15 % of the images:
    # each model's worst shifted test set +4 to +7 points, unshifted accuracy within the seed
    # spread; bench/RESULTS.md, 2026-11-30); a PhotometricConfig: those strengths (its dict, as
    # to_dict writes it, is read back); False: the flips alone
    photometric: bool | PhotometricConfig = True
    drop_last: bool = False
    seed: int = 0
    device: str | None = None
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    loss: str = "cross_entropy"  # "mse": L2 on softmax outputs; "double_softmax": the bug (lesson 04)
    checkpoint: str | None = None  # path: the best epoch's weights are written there
    restore_best: bool = False  # load the best epoch's weights (by validation loss) at the end
    patience: int | None = None  # early stopping: epochs without improvement before stopping
    eval_batch_size: int = 512
    progress: bool = True
    # learning rate over the run: "constant" (the textbook), "onecycle" (warm up to `lr` over the
    # first `warmup` fraction of the steps, then anneal to ~0; torch's OneCycleLR) or "cosine"
    # (linear warm-up over `warmup`, then cosine decay to 0), stepped once per iteration.
    schedule: str = "cosine"
    warmup: float = 0.1

    def __post_init__(self) -> None:
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("seed", 0), ("eval_batch_size", 1)):
            _check_whole(self, name, minimum)
        _check_whole(self, "patience", 1, allow_none=True)
        _check_number(self, "lr", 0, low_open=True)
        _check_number(self, "momentum", 0, 1)
        _check_number(self, "weight_decay", 0)
        _check_number(self, "label_smoothing", 0, 1)
        _check_choice(self, "optimizer", OPTIMIZERS)
        _check_choice(self, "loss", LOSSES)
        _check_choice(self, "schedule", SCHEDULES)
        _check_number(self, "warmup", 0, 1)
        self.photometric = _photometric_setting(self.photometric)
        for name in ("augment", "drop_last", "compile", "restore_best", "progress"):
            _check_flag(self, name)
        for name in ("amp", "channels_last"):
            _check_flag(self, name, allow_none=True)
        if self.device is not None:
            self.device = check_device_name(self.device)
        if self.checkpoint is not None:
            self.checkpoint = os.fspath(self.checkpoint)
            parent = Path(self.checkpoint).resolve().parent
            if parent.exists() and not parent.is_dir():
                raise ValueError(f"TrainConfig.checkpoint={self.checkpoint!r}: {parent} is not a folder")

    @classmethod
    def plain(cls, **overrides: Any) -> "TrainConfig":
        """The textbook loop: no augmentation, fp32 (no autocast), NCHW memory layout, constant
        learning rate, no torch.compile; `overrides` set any other field (epochs, seed, lr, ...).

        fit() with this config computes what this plain loop computes, batch for batch::

            torch.manual_seed(seed)            # fit seeds dropout the same way
            loader = DataLoader(train.as_dataset(), batch_size=batch_size, shuffle=True,
                                generator=torch.Generator().manual_seed(seed))
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()

        for a model from `build(name, seed=...)`: the same batches in the same order (fit draws
        its order from that DataLoader's sampler), the same normalisation, the same steps.
        tests/test_train.py and notebook 01 check the per-iteration losses agree."""
        base = dict(augment=False, photometric=False, amp=False, channels_last=False, compile=False,
                    schedule="constant")
        return cls(**{**base, **overrides})

    def resolved(self, device: torch.device) -> tuple[bool, bool]:
        """(amp, channels_last) as they apply on `device` (resolve_precision)."""
        return resolve_precision(device, self.amp, self.channels_last)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
