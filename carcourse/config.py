"""Run-wide switches read from the environment: quick mode and the device to train on."""
from __future__ import annotations

import os

import torch

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
